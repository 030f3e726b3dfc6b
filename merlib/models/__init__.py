"""Recognition models, one module per paper, and the backbones they share.

* :mod:`merlib.models.backbones` — ``load(name, pretrained=..., freeze=...)``: VGGFace2 ResNet-50 (user
  weights), torchvision ResNet-18/50, and offline defaults (ImageNet MobileNetV2, FER2013 mini-Xception).
* :mod:`merlib.models.bai2021` — Bai, Goecke & Herath, ICIP 2021: backbone + Bi-LSTM over N-frame segments.
* :mod:`merlib.models.bai2021_pipeline` — its preprocessing: onset-relative magnification, sliding-window
  segments, cached per-frame backbone inputs (the LOSO driver is :mod:`merlib.eval.experiments_bai2021`).
* :mod:`merlib.models.gradcam` — Grad-CAM (Selvaraju et al., ICCV 2017) through any of these models.
"""
from merlib.models import backbones
from merlib.models.bai2021 import Bai2021, aggregate_segments
from merlib.models.gradcam import grad_cam

__all__ = ["backbones", "Bai2021", "aggregate_segments", "grad_cam"]
