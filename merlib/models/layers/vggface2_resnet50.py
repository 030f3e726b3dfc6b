"""VGGFace2 ResNet-50: the Caffe layout on torchvision's ``resnet50``, and the weight-file key mapping.

Cao, Shen, Xie, Parkhi & Zisserman, "VGGFace2: A dataset for recognising faces across pose and age",
FG 2018 (https://www.robots.ox.ac.uk/~vgg/data/vgg_face2/). Bai et al. (ICIP 2021) use its ResNet-50.
merlib ships no VGGFace2 weights (the model is trained on a licensed dataset); the user supplies a file.

Known public sources of the weights (none of them is downloaded by merlib):

* the VGGFace2 authors' Caffe models ``resnet50_ft`` (MS-Celeb-1M pre-trained, fine-tuned on VGGFace2)
  and ``resnet50_scratch``, 8631 identities, linked from the page above and
  https://github.com/ox-vgg/vgg_face2;
* cydonia999/VGGFace2-pytorch (https://github.com/cydonia999/VGGFace2-pytorch): the Caffe weights as a
  pickle of NumPy arrays (``resnet50_ft_weight.pkl``, ``resnet50_scratch_weight.pkl``) whose keys are
  already torchvision's names (``conv1.weight``, ``layer1.0.conv1.weight``, ``layer1.0.downsample.0.weight``,
  ``fc.weight`` ...); its data loader feeds **BGR** images in 0..255 minus the mean below;
* S. Albanie's MatConvNet → PyTorch conversions (https://www.robots.ox.ac.uk/~albanie/pytorch-models.html):
  ``resnet50_ft_dag.pth`` / ``resnet50_scratch_dag.pth``, a plain ``state_dict`` with Caffe layer names
  (``conv1_7x7_s2``, ``conv2_1_1x1_reduce``, ``..._bn``, ``classifier``) and ``meta`` mean
  ``[131.0912, 103.8827, 91.4953]`` in **RGB** order, std 1;
* not ResNet-50 and therefore not accepted here: facenet-pytorch's ``InceptionResnetV1(pretrained=
  "vggface2")`` (Inception-ResNet-v1, a different architecture), keras-vggface's SE-ResNet/VGG16 models.

The Caffe ResNet-50 differs from torchvision's in two places, both reproduced by :func:`caffe_resnet50`
(same tensor shapes, so the key mapping is one-to-one):

1. the stride-2 of the first block of stages 3-5 sits in the first 1×1 convolution (``1x1_reduce``),
   not in the 3×3 (torchvision's "ResNet v1.5");
2. the stem max-pool is 3×3/2 with no padding and ``ceil_mode=True`` (Caffe rounding), not padding 1.

Key mapping, Caffe name → torchvision name (stage s = 2..5 → ``layer{s-1}``, block b → index b-1):

======================================  =======================================
``conv1_7x7_s2`` / ``conv1_7x7_s2_bn``   ``conv1`` / ``bn1``
``conv{s}_{b}_1x1_reduce[_bn]``          ``layer{s-1}.{b-1}.conv1`` / ``.bn1``
``conv{s}_{b}_3x3[_bn]``                 ``layer{s-1}.{b-1}.conv2`` / ``.bn2``
``conv{s}_{b}_1x1_increase[_bn]``        ``layer{s-1}.{b-1}.conv3`` / ``.bn3``
``conv{s}_1_1x1_proj[_bn]``              ``layer{s-1}.0.downsample.0`` / ``.downsample.1``
``classifier`` (1×1 conv, 8631 ids)      ``fc`` (weight reshaped to ``(8631, 2048)``)
======================================  =======================================

The batch-norm tensors keep their suffixes (``weight``, ``bias``, ``running_mean``, ``running_var``).
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

__all__ = [
    "VGGFACE2_MEAN_BGR",
    "caffe_resnet50",
    "caffe_to_torchvision_key",
    "convert_vggface2_state_dict",
    "read_weights_file",
]

#: Per-channel mean (0..255) subtracted by the VGGFace2 Caffe models, in B, G, R order (std 1).
VGGFACE2_MEAN_BGR = (91.4953, 103.8827, 131.0912)

_STAGE_BLOCKS = {2: 3, 3: 4, 4: 6, 5: 3}  # Caffe stage → number of bottleneck blocks (ResNet-50)
_CONV_SUFFIX = {"1x1_reduce": ("conv1", "bn1"), "3x3": ("conv2", "bn2"), "1x1_increase": ("conv3", "bn3"),
                "1x1_proj": ("downsample.0", "downsample.1")}
_CAFFE_KEY = re.compile(r"^conv(\d)_(\d+)_(1x1_reduce|3x3|1x1_increase|1x1_proj)(_bn)?\.(\w+)$")


def caffe_resnet50(num_classes: int = 8631) -> torchvision.models.ResNet:
    """torchvision ``resnet50`` rearranged to the Caffe layout of the VGGFace2 models (see module doc).

    Parameter names and shapes are torchvision's; only strides and the stem pool change.
    """
    model = torchvision.models.resnet50(weights=None, num_classes=num_classes)
    model.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=0, ceil_mode=True)
    for stage in (model.layer2, model.layer3, model.layer4):
        first = stage[0]
        first.conv1.stride = (2, 2)
        first.conv2.stride = (1, 1)
    return model


def caffe_to_torchvision_key(key: str) -> str | None:
    """Map one Caffe-named key (Albanie's conversion) to torchvision's ``resnet50`` name.

    Returns ``None`` for keys that have no torchvision counterpart (``num_batches_tracked`` is kept).
    """
    if key.startswith("conv1_7x7_s2_bn."):
        return "bn1." + key.split(".", 1)[1]
    if key.startswith("conv1_7x7_s2."):
        return "conv1." + key.split(".", 1)[1]
    if key.startswith("classifier."):
        return "fc." + key.split(".", 1)[1]
    m = _CAFFE_KEY.match(key)
    if m is None:
        return None
    stage, block, kind, bn, tensor = int(m[1]), int(m[2]), m[3], m[4], m[5]
    if stage not in _STAGE_BLOCKS or not 1 <= block <= _STAGE_BLOCKS[stage]:
        return None
    if kind == "1x1_proj" and block != 1:
        return None
    conv_name, bn_name = _CONV_SUFFIX[kind]
    return f"layer{stage - 1}.{block - 1}.{bn_name if bn else conv_name}.{tensor}"


def convert_vggface2_state_dict(state: dict, source: str = "") -> tuple[dict[str, torch.Tensor], str]:
    """Convert a VGGFace2 ResNet-50 ``state`` (either public layout) to torchvision names.

    Args:
        state: ``{name: tensor or ndarray}`` as read by :func:`read_weights_file`.
        source: the file it came from (for error messages).

    Returns:
        ``(state_dict, channel_order)``: torch tensors under torchvision ``resnet50`` names (``fc.*``
        included when present), and ``"bgr"`` for the torchvision-named (cydonia999, Caffe order)
        layout or ``"rgb"`` for the Caffe-named (Albanie, MatConvNet order) layout.

    Raises:
        ValueError: the keys match neither layout, or some key cannot be mapped.
    """
    where = f" in {source!r}" if source else ""
    keys = list(state)
    if any(k.startswith("conv1_7x7_s2") for k in keys):
        layout, mapped = "rgb", {}
        for k in keys:
            new = caffe_to_torchvision_key(k)
            if new is None:
                raise ValueError(f"convert_vggface2_state_dict: key {k!r}{where} is not a ResNet-50 Caffe name")
            mapped[new] = state[k]
    elif "conv1.weight" in state and "layer1.0.conv1.weight" in state:
        layout, mapped = "bgr", dict(state)
    else:
        raise ValueError(
            f"convert_vggface2_state_dict: the weights{where} are neither Caffe-named (conv1_7x7_s2.*, "
            f"Albanie) nor torchvision-named (conv1.weight, layer1.0.conv1.weight, cydonia999); first keys: "
            f"{keys[:5]}"
        )
    out = {}
    for k, v in mapped.items():
        t = torch.as_tensor(np.asarray(v)) if not isinstance(v, torch.Tensor) else v
        if k == "fc.weight" and t.ndim == 4:  # Caffe classifier is a 1x1 convolution
            t = t.reshape(t.shape[0], t.shape[1])
        out[k] = t.float() if t.is_floating_point() else t
    return out, layout


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that builds only dicts of NumPy arrays (cydonia999's ``*_weight.pkl``): no code runs."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
        ("_codecs", "encode"),  # protocol-2 pickles store raw bytes as codecs.encode(str, "latin1")
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a VGGFace2 weight pickle holds only NumPy arrays"
            )
        if module.startswith("numpy.core") and hasattr(np, "_core"):
            module = module.replace("numpy.core", "numpy._core", 1)
        return super().find_class(module, name)


def read_weights_file(path: str | Path) -> dict:
    """Read a weight file safely: ``.pth/.pt`` with ``torch.load(weights_only=True)``, ``.pkl`` with an
    unpickler that accepts NumPy arrays only. A ``{"state_dict": ...}`` wrapper is unwrapped and a
    ``module.`` prefix (``nn.DataParallel``) removed.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"read_weights_file: weights file {str(path)!r} does not exist")
    if path.suffix.lower() in (".pkl", ".pickle"):
        with open(path, "rb") as f:
            state = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise ValueError(f"read_weights_file: {str(path)!r} does not hold a non-empty dict of tensors")
    if all(str(k).startswith("module.") for k in state):  # saved from nn.DataParallel
        state = {str(k)[len("module."):]: v for k, v in state.items()}
    return dict(state)
