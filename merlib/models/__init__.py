"""What two papers or more share: backbones and their weight loaders, layers, Grad-CAM.

A paper's own model lives in its room, ``merlib/papers/<paper>/model.py`` (e.g.
:mod:`merlib.papers.bai2021.model`); this package imports no paper.

* :mod:`merlib.models.backbones` — ``load(name, pretrained=..., freeze=...)``: VGGFace2 ResNet-50 (user
  weights), torchvision ResNet-18/50, and offline defaults (ImageNet MobileNetV2, FER2013 mini-Xception).
* :mod:`merlib.models.layers` — the networks behind the backbones (mini-Xception, VGGFace2 ResNet-50).
* :mod:`merlib.models.gradcam` — Grad-CAM (Selvaraju et al., ICCV 2017) through any of these models.
"""
from merlib.models import backbones
from merlib.models.gradcam import grad_cam

__all__ = ["backbones", "grad_cam"]
