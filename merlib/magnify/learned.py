"""Learned motion magnifiers: Oh et al. 2018's network, and the common entry points.

Oh, Jaroensri, Kim, Elgharib, Durand, Freeman, Matusik, "Learning-based video motion
magnification", ECCV 2018 (official TensorFlow code: github.com/12dmodel/deep_motion_mag).
The network, exactly as in the paper's Fig. 2 and the official configuration
``o3f_hmhm2_bg_qnoise_mix4_nl_n_t_ds3``:

* **encoder** (shared by both frames): 7×7 conv → 16, 3×3 stride-2 conv → 32, 3 residual blocks;
  **texture branch** 3×3 stride-2 conv → 32 + 2 residual blocks (texture at 1/4 resolution);
  **shape branch** 2 residual blocks (shape at 1/2 resolution);
* **manipulator**: ``g`` = 7×7 conv + ReLU, multiplication by the factor, ``h`` = 3×3 conv +
  1 residual block;
* **decoder**: texture nearest-upsampled ×2 + 3×3 conv + ReLU, concatenated with the shape
  (64 channels), 9 residual blocks, nearest upsample ×2, 3×3 conv → 32 + ReLU, 7×7 conv → 3.

All convolutions are bias-free and padded by reflection, except the stride-2 (and shape) convs
which use TensorFlow's zero ``SAME`` padding, as in the official code, so official weights load
and compute the same function. Images enter in [0, 1] and are mapped to the official [-1, 1].

The factor convention (read :mod:`merlib.magnify.convention`)
---------------------------------------------------------------
The paper writes the manipulator as ``G_m(M_a, M_b, α) = M_a + h(α·g(M_b − M_a))``; the official
code writes it ``M_b + h((α_oh − 1)·g(M_b − M_a))``, so that ``α_oh = 1`` is exactly the
identity. With merlib's ``alpha = α_oh − 1`` (:func:`~merlib.magnify.convention.to_oh_factor`)
the manipulator here computes ``M_b + h(alpha·g(M_b − M_a))``: ``alpha = 0`` gives the decoder
the shape of frame B unchanged (the output is B up to the network's reconstruction error) and the
output shows ``f(x + (1 + alpha)·δ)``. Every public function in this module takes merlib's alpha.

Modes (:func:`magnify_learned`): *static* (every frame against a reference frame), *dynamic*
(every frame against its predecessor: magnifies velocity) and *temporal* (band-pass filter the
encoded shape representation over time, then ``M_t + h(alpha·g(filtered_t))``, as the official
``run_temporal``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from merlib.configs import check_known_keys

__all__ = [
    "OhConfig", "OhMagnifier", "OhEncoder", "OhManipulator", "OhDecoder",
    "load_magnifier", "save_magnifier", "magnify_learned", "map_official_state_dict",
    "map_port_state_dict", "WEIGHTS_DIR", "ARCHITECTURES",
]

#: Folder of the checkpoints merlib ships (trained by ``python -m merlib train-magnifier``).
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
ARCHITECTURES = ("oh2018", "stmemm")
CHECKPOINT_FORMAT = "merlib-magnifier/1"


# ------------------------------------------------------------------------------ building blocks
def _tf_same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero padding exactly as TensorFlow's ``padding='SAME'`` (extra pixel at bottom/right)."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class _Conv(nn.Module):
    """Bias-free conv with reflection (``pad="reflect"``, (k-1)/2 on every side) or TensorFlow-SAME
    zero padding (``pad="same"``); weights drawn as in the official code (truncated normal, std 0.02)."""

    def __init__(self, c_in, c_out, kernel, stride=1, pad="reflect", relu=False):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, bias=False)
        nn.init.trunc_normal_(self.conv.weight, std=0.02, a=-0.04, b=0.04)
        if pad not in ("reflect", "same"):
            raise ValueError(f"_Conv: `pad` must be 'reflect' or 'same', got {pad!r}")
        self.pad, self.kernel, self.stride, self.relu = pad, kernel, stride, relu

    def forward(self, x):
        if self.pad == "same":
            x = _tf_same_pad(x, self.kernel, self.stride)
        else:
            p = (self.kernel - 1) // 2
            x = F.pad(x, (p, p, p, p), mode="reflect") if p else x
        x = self.conv(x)
        return F.relu(x) if self.relu else x


class ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))``, 3×3, reflection padding, no bias (Oh et al.'s residual block)."""

    def __init__(self, dims: int, hidden: int | None = None):
        super().__init__()
        self.c1 = _Conv(dims, hidden or dims, 3, relu=True)
        self.c2 = _Conv(hidden or dims, dims, 3)

    def forward(self, x):
        return x + self.c2(self.c1(x))


@dataclass(frozen=True)
class OhConfig:
    """Sizes of Oh et al.'s network; the defaults are the paper's (official config)."""

    channels: int = 3
    enc_dims: int = 32
    texture_dims: int = 32
    shape_dims: int = 32
    n_enc_resblk: int = 3
    n_texture_resblk: int = 2
    n_shape_resblk: int = 2
    use_shape_conv: bool = False      # the PyTorch port has one; the official config does not
    man_g_kernel: int = 7             # official 7×7; the PyTorch port uses 3×3
    n_man_conv: int = 1
    n_man_aft_conv: int = 1
    n_man_resblk: int = 1
    n_dec_resblk: int = 9
    texture_upsample_conv: bool = True
    stride_padding: str = "same"      # stride-2 convs: "same" (official TF zero SAME) or "reflect" (PyTorch port)

    def __post_init__(self):
        if self.stride_padding not in ("same", "reflect"):
            raise ValueError(f"OhConfig.stride_padding must be 'same' or 'reflect', got {self.stride_padding!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"OhConfig.channels must be 1 or 3, got {self.channels}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "OhConfig":
        check_known_keys(cls, d)
        return cls(**d)


class OhEncoder(nn.Module):
    """Shared encoder. ``forward(x)`` with x (B, C, H, W) in [0, 1], H and W multiples of 4.

    Returns ``(texture, shape)``: texture (B, texture_dims, H/4, W/4), shape (B, shape_dims, H/2, W/2).
    """

    def __init__(self, cfg: OhConfig):
        super().__init__()
        sp = cfg.stride_padding
        self.conv1 = _Conv(cfg.channels, cfg.enc_dims // 2, 7, relu=True)
        self.conv2 = _Conv(cfg.enc_dims // 2, cfg.enc_dims, 3, 2, pad=sp, relu=True)
        self.blocks = nn.Sequential(*[ResBlock(cfg.enc_dims) for _ in range(cfg.n_enc_resblk)])
        self.texture_conv = _Conv(cfg.enc_dims, cfg.texture_dims, 3, 2, pad=sp, relu=True)
        self.texture_blocks = nn.Sequential(*[ResBlock(cfg.texture_dims) for _ in range(cfg.n_texture_resblk)])
        self.shape_conv = (_Conv(cfg.enc_dims, cfg.shape_dims, 3, 1, pad=sp, relu=True)
                           if cfg.use_shape_conv else None)
        if not cfg.use_shape_conv and cfg.shape_dims != cfg.enc_dims:
            raise ValueError(f"OhConfig: shape_dims ({cfg.shape_dims}) must equal enc_dims ({cfg.enc_dims}) "
                             "unless use_shape_conv=True")
        self.shape_blocks = nn.Sequential(*[ResBlock(cfg.shape_dims) for _ in range(cfg.n_shape_resblk)])

    def forward(self, x):
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"OhEncoder: height and width must be multiples of 4, got {tuple(x.shape[-2:])} "
                             "(magnify_learned pads for you)")
        enc = self.blocks(self.conv2(self.conv1(x * 2.0 - 1.0)))
        texture = self.texture_blocks(self.texture_conv(enc))
        shape = enc if self.shape_conv is None else self.shape_conv(enc)
        return texture, self.shape_blocks(shape)


class OhManipulator(nn.Module):
    """``M_b + h(alpha·g(M_b − M_a))`` with merlib's ``alpha`` (= Oh's ``amp − 1``).

    ``forward(shape_a, shape_b, alpha)``: shapes (B, D, h, w); ``alpha`` a float or a (B,) tensor.
    :meth:`delta` gives ``h(alpha·g(diff))`` alone (the temporal mode feeds it a filtered signal).
    """

    def __init__(self, cfg: OhConfig):
        super().__init__()
        d = cfg.shape_dims
        self.g = nn.Sequential(*[_Conv(d, d, cfg.man_g_kernel, relu=True) for _ in range(cfg.n_man_conv)])
        self.after = nn.Sequential(*[_Conv(d, d, 3) for _ in range(cfg.n_man_aft_conv)])
        self.blocks = nn.Sequential(*[ResBlock(d) for _ in range(cfg.n_man_resblk)])

    def delta(self, diff, alpha):
        alpha = _alpha_tensor(alpha, diff)
        return self.blocks(self.after(self.g(diff) * alpha))

    def forward(self, shape_a, shape_b, alpha):
        return shape_b + self.delta(shape_b - shape_a, alpha)


class OhDecoder(nn.Module):
    """``forward(texture, shape)`` -> image (B, C, H, W), ~[0, 1] (not clamped)."""

    def __init__(self, cfg: OhConfig):
        super().__init__()
        dims = cfg.texture_dims + cfg.shape_dims
        self.texture_upsample = (_Conv(cfg.texture_dims, cfg.texture_dims, 3, relu=True)
                                 if cfg.texture_upsample_conv else None)
        self.blocks = nn.Sequential(*[ResBlock(dims) for _ in range(cfg.n_dec_resblk)])
        self.up_conv = _Conv(dims, dims // 2, 3, relu=True)
        self.out_conv = _Conv(dims // 2, cfg.channels, 7)

    def forward(self, texture, shape):
        texture = F.interpolate(texture, scale_factor=2, mode="nearest")
        if self.texture_upsample is not None:
            texture = self.texture_upsample(texture)
        if texture.shape[-2:] != shape.shape[-2:]:
            texture = F.interpolate(texture, size=shape.shape[-2:], mode="nearest")
        r = self.blocks(torch.cat([texture, shape], 1))
        r = F.interpolate(r, scale_factor=2, mode="nearest")
        return (self.out_conv(self.up_conv(r)) + 1.0) / 2.0


class OhMagnifier(nn.Module):
    """Oh et al. 2018's magnification network (encoder, manipulator, decoder).

    ``forward(frame_a, frame_b, alpha)``: frames (B, C, H, W) float in [0, 1], H and W multiples
    of 4; ``alpha`` float or (B,) tensor in merlib's convention (output shows
    f(x + (1 + alpha)·δ) where δ is the motion from ``frame_a`` to ``frame_b``; Oh's amp = 1 + alpha).
    Returns (B, C, H, W), not clamped. The parts are usable alone: ``encoder(x) -> (texture,
    shape)``, ``manipulator(shape_a, shape_b, alpha)``, ``decoder(texture, shape)`` — e.g. MMFRN
    magnifies in feature space with the encoder's shape branch and the manipulator, no decoder.
    """

    arch = "oh2018"

    def __init__(self, config: OhConfig | None = None, **overrides):
        super().__init__()
        cfg = config or OhConfig()
        if overrides:
            cfg = OhConfig.from_dict({**cfg.to_dict(), **overrides})
        self.config = cfg
        self.encoder = OhEncoder(cfg)
        self.manipulator = OhManipulator(cfg)
        self.decoder = OhDecoder(cfg)

    def magnify_features(self, frame_a, frame_b, alpha):
        """Shape representation of B magnified against A: (B, shape_dims, H/2, W/2). No decoder."""
        _, shape_a = self.encoder(frame_a)
        _, shape_b = self.encoder(frame_b)
        return self.manipulator(shape_a, shape_b, alpha)

    def forward(self, frame_a, frame_b, alpha):
        _, shape_a = self.encoder(frame_a)
        texture_b, shape_b = self.encoder(frame_b)
        return self.decoder(texture_b, self.manipulator(shape_a, shape_b, alpha))


def _alpha_tensor(alpha, like: torch.Tensor) -> torch.Tensor:
    if isinstance(alpha, torch.Tensor):
        a = alpha.to(device=like.device, dtype=like.dtype)
        if a.ndim == 0:
            return a
        if a.ndim == 1 and a.shape[0] in (1, like.shape[0]):
            return a.view(-1, *([1] * (like.ndim - 1)))
        raise ValueError(f"`alpha` must be a float or a (B,) tensor with B={like.shape[0]}, got shape "
                         f"{tuple(a.shape)}")
    return torch.as_tensor(float(alpha), device=like.device, dtype=like.dtype)


# ------------------------------------------------------------------- checkpoints and key maps
def _build(arch: str, config: dict | None):
    if arch == "oh2018":
        return OhMagnifier(OhConfig.from_dict(config or {}))
    if arch == "stmemm":
        from merlib.magnify.swin import STMEMM, STMEMMConfig
        return STMEMM(STMEMMConfig.from_dict(config or {}))
    raise ValueError(f"unknown magnifier architecture {arch!r}; expected one of {ARCHITECTURES}")


def save_magnifier(model: nn.Module, path, *, extra: dict | None = None, half: bool = False) -> Path:
    """Write ``model`` as a merlib checkpoint (loadable with ``torch.load(weights_only=True)``).

    ``half=True`` stores the weights as float16 (half the size; they load back as float32).
    ``extra`` (plain JSON-like data, e.g. the training curves) is stored under ``"extra"``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
          for k, v in model.state_dict().items()}
    payload = {"format": CHECKPOINT_FORMAT, "arch": model.arch, "config": model.config.to_dict(),
               "state_dict": sd, "extra": extra or {}}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def _tf_name(ours: str) -> str | None:
    """Official TF variable scope (without ``/Conv/weights``) for one of our conv weight keys."""
    parts = ours.split(".")
    if parts[-1] != "weight" or parts[-2] != "conv":
        return None
    p = parts[:-2]  # e.g. ["encoder", "blocks", "0", "c1"]
    root = "ynet_3frames"
    if p[0] == "encoder":
        if p[1] in ("conv1", "conv2"):
            return f"{root}/encoder/enc_{p[1]}_c"
        if p[1] == "texture_conv":
            return f"{root}/encoder/enc_texture_conv"
        if p[1] == "shape_conv":
            return f"{root}/encoder/enc_shape_conv"
        i = int(p[2])
        if p[1] == "blocks":
            return f"{root}/encoder/encoder_resblk{i}_{p[3]}"
        if p[1] in ("texture_blocks", "shape_blocks"):
            base = "texture_enc" if p[1] == "texture_blocks" else "shape_enc"
            return f"{root}/encoder/{base if i == 0 else f'{base}_{i}'}_{p[3]}"
    if p[0] == "manipulator":
        i = int(p[2])
        if p[1] == "g":
            return f"{root}/manipulator/mani_conv{i}c"
        if p[1] == "after":
            return f"{root}/manipulator/mani_aft_conv{i}c"
        if p[1] == "blocks":
            return f"{root}/manipulator/mani_resblk{i}_{p[3]}"
    if p[0] == "decoder":
        if p[1] == "texture_upsample":
            return f"{root}/decoder/texture_upsample"
        if p[1] == "up_conv":
            return f"{root}/decoder/dec_conv2_c"
        if p[1] == "out_conv":
            return f"{root}/decoder/pred_conv"
        if p[1] == "blocks":
            return f"{root}/decoder/decoder_resblk{int(p[2])}_{p[3]}"
    return None


def map_official_state_dict(tf_vars: dict, config: OhConfig | None = None) -> dict:
    """Map the official deep_motion_mag TensorFlow variables onto :class:`OhMagnifier` keys.

    ``tf_vars``: ``{name: array}`` with the official names, e.g.
    ``"ynet_3frames/encoder/enc_conv1_c/Conv/weights"`` (HWIO arrays, as
    ``tf.train.load_checkpoint(path).get_tensor(name)`` returns them; a ``":0"`` suffix and a
    missing ``"/Conv"`` are accepted). Returns our state dict (OIHW float32 tensors). Raises
    ``ValueError`` naming every missing variable or shape mismatch; optimizer slots
    (``.../Adam``, ``.../Adam_1``) and unrelated variables are ignored.
    """
    model = OhMagnifier(config or OhConfig())
    norm = {}
    for k, v in tf_vars.items():
        key = k[:-2] if k.endswith(":0") else k
        if key.endswith("/Adam") or key.endswith("/Adam_1"):
            continue
        key = key.replace("/Conv/weights", "/weights")
        norm[key] = v
    out, problems = {}, []
    for ours, param in model.state_dict().items():
        scope = _tf_name(ours)
        if scope is None:
            problems.append(f"no official name for {ours}")
            continue
        arr = norm.get(scope + "/weights")
        if arr is None:
            problems.append(f"missing {scope}/Conv/weights")
            continue
        t = torch.as_tensor(np.asarray(arr), dtype=torch.float32).permute(3, 2, 0, 1).contiguous()
        if t.shape != param.shape:
            problems.append(f"{scope}/Conv/weights has shape {tuple(np.asarray(arr).shape)} (HWIO), expected "
                            f"{tuple(param.permute(2, 3, 1, 0).shape)}")
            continue
        out[ours] = t
    if problems:
        raise ValueError("official deep_motion_mag weights do not match OhMagnifier: " + "; ".join(problems))
    return out


#: PyTorch port (ZhengPeng7/motion_magnification_learning-based, ``magnet.py``) -> our names.
_PORT_RULES = (
    ("encoder.cba_1.conv2d.", "encoder.conv1.conv."),
    ("encoder.cba_2.conv2d.", "encoder.conv2.conv."),
    ("encoder.resblks.", "encoder.blocks."),
    ("encoder.texture_cba.conv2d.", "encoder.texture_conv.conv."),
    ("encoder.texture_resblks.", "encoder.texture_blocks."),
    ("encoder.motion_cba.conv2d.", "encoder.shape_conv.conv."),
    ("encoder.motion_resblks.", "encoder.shape_blocks."),
    ("manipulator.g.conv2d.", "manipulator.g.0.conv."),
    ("manipulator.h_conv.conv2d.", "manipulator.after.0.conv."),
    ("manipulator.h_resblk.", "manipulator.blocks.0."),
    ("decoder.resblks.", "decoder.blocks."),
    ("decoder.cba_1.conv2d.", "decoder.up_conv.conv."),
    ("decoder.cba_2.conv2d.", "decoder.out_conv.conv."),
)


def map_port_state_dict(port_sd: dict) -> tuple[dict, OhConfig]:
    """Map a PyTorch port's state dict (ZhengPeng7/motion_magnification_learning-based naming:
    ``encoder.cba_1.conv2d.weight``, ``...resblks.0.cba_1.conv2d.weight``, ``manipulator.h_resblk...``;
    a ``module.`` prefix from DataParallel is stripped) onto ours.

    Returns ``(state_dict, config)``: the port differs from the official configuration (a shape
    conv, a 3×3 ``g``, no texture-upsample conv, reflection padding), and the returned
    :class:`OhConfig` describes it (reflection padding for its stride-2 convs too). The port is assumed to multiply by Oh's ``amp − 1`` like the
    official code (merlib's alpha); check your port's training code.
    """
    sd = {(k[7:] if k.startswith("module.") else k): v for k, v in port_sd.items()}
    out = {}
    for k, v in sd.items():
        new = None
        for src, dst in _PORT_RULES:
            if k.startswith(src):
                new = dst + k[len(src):]
                break
        if new is None:
            raise ValueError(f"PyTorch-port state dict: unexpected key {k!r}")
        new = new.replace(".cba_1.conv2d.", ".c1.conv.").replace(".cba_2.conv2d.", ".c2.conv.")
        out[new] = torch.as_tensor(v).float()

    def count(prefix):
        idx = {int(k[len(prefix):].split(".")[0]) for k in out if k.startswith(prefix)}
        return len(idx)

    g = out.get("manipulator.g.0.conv.weight")
    if g is None or "encoder.conv2.conv.weight" not in out:
        raise ValueError("PyTorch-port state dict: missing encoder.cba_2 or manipulator.g weights")
    enc = out["encoder.conv2.conv.weight"].shape[0]
    shape_dims = out["encoder.shape_blocks.0.c1.conv.weight"].shape[0] if count("encoder.shape_blocks.") else enc
    cfg = OhConfig(
        channels=out["encoder.conv1.conv.weight"].shape[1], enc_dims=enc,
        texture_dims=out["encoder.texture_conv.conv.weight"].shape[0], shape_dims=shape_dims,
        n_enc_resblk=count("encoder.blocks."), n_texture_resblk=count("encoder.texture_blocks."),
        n_shape_resblk=count("encoder.shape_blocks."),
        use_shape_conv="encoder.shape_conv.conv.weight" in out, man_g_kernel=g.shape[-1],
        n_man_conv=1, n_man_aft_conv=1 if "manipulator.after.0.conv.weight" in out else 0,
        n_man_resblk=count("manipulator.blocks."), n_dec_resblk=count("decoder.blocks."),
        texture_upsample_conv=False, stride_padding="reflect")
    expected = OhMagnifier(cfg).state_dict()
    bad = [f"{k}: {tuple(out[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
           if k in out and out[k].shape != v.shape]
    missing = sorted(set(expected) - set(out))
    if bad or missing:
        raise ValueError(f"PyTorch-port state dict does not fit: missing {missing}, shape mismatches {bad}")
    return out, cfg


def _read_weights_file(path: Path):
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    return torch.load(path, map_location="cpu", weights_only=True)


def load_magnifier(name: str | None = "oh2018", path=None, device="auto") -> nn.Module:
    """Load a learned magnifier in eval mode on ``device``.

    ``load_magnifier("oh2018")`` / ``load_magnifier("stmemm")`` load the checkpoint merlib ships
    (``merlib/weights/{name}.pt``, trained by ``python -m merlib train-magnifier``). With ``path``:

    * a merlib checkpoint (``save_magnifier`` / ``train-magnifier --out``);
    * the official deep_motion_mag weights as ``{tf_variable_name: array}`` in an ``.npz`` or a
      ``torch.save``'d dict (export them with ``tf.train.load_checkpoint``; see
      :func:`map_official_state_dict`);
    * a PyTorch port's state dict (:func:`map_port_state_dict`).

    Files are read with ``torch.load(weights_only=True)``. ``name`` must match a merlib
    checkpoint's architecture when both are given (``None`` accepts any).
    """
    from merlib.env import device as resolve_device

    if path is None:
        if name not in ARCHITECTURES:
            raise ValueError(f"load_magnifier: `name` must be one of {ARCHITECTURES}, got {name!r}")
        path = WEIGHTS_DIR / f"{name}.pt"
        if not path.exists():
            raise FileNotFoundError(f"load_magnifier: shipped checkpoint {path} is missing; train one with "
                                    f"`python -m merlib train-magnifier {name} --out {path}`")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_magnifier: `path` {path} does not exist")
    obj = _read_weights_file(path)
    if not isinstance(obj, dict):
        raise ValueError(f"load_magnifier: {path} holds a {type(obj).__name__}, expected a dict of weights")
    if obj.get("format") == CHECKPOINT_FORMAT:
        arch = obj["arch"]
        if name is not None and name != arch:
            raise ValueError(f"load_magnifier: {path} holds a {arch!r} checkpoint, but name={name!r}")
        model = _build(arch, obj["config"])
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in obj["state_dict"].items()})
        model.training_record = obj.get("extra", {})
    elif any(k.startswith("ynet_3frames/") for k in obj):
        if name not in (None, "oh2018"):
            raise ValueError(f"load_magnifier: {path} holds official Oh et al. weights, but name={name!r}")
        model = OhMagnifier()
        model.load_state_dict(map_official_state_dict(obj))
    elif any(".cba_1.conv2d." in k for k in obj):
        if name not in (None, "oh2018"):
            raise ValueError(f"load_magnifier: {path} holds a PyTorch port of Oh et al., but name={name!r}")
        sd, cfg = map_port_state_dict(obj)
        model = OhMagnifier(cfg)
        model.load_state_dict(sd)
    else:
        raise ValueError(f"load_magnifier: {path} is neither a merlib checkpoint ('format': "
                         f"{CHECKPOINT_FORMAT!r}), official deep_motion_mag variables ('ynet_3frames/...') "
                         "nor a PyTorch-port state dict ('encoder.cba_1.conv2d.weight', ...)")
    return model.to(resolve_device(device)).eval()


# ------------------------------------------------------------------------------ magnify_learned
@lru_cache(maxsize=4)
def _shipped(name: str, device: str) -> nn.Module:
    """Shipped checkpoints, loaded once per (name, device) for repeated magnify calls."""
    return load_magnifier(name, device=device)


def _resolve_model(model, device):
    if isinstance(model, str):
        return _shipped(model, str(device))
    if isinstance(model, nn.Module):
        return model
    raise ValueError(f"magnify_learned: `model` must be 'oh2018', 'stmemm' or an nn.Module, got {model!r}")


@torch.no_grad()
def magnify_learned(frames: torch.Tensor, alpha: float, model="oh2018", mode: str = "static", *,
                    reference: int = 0, freq_lo: float | None = None, freq_hi: float | None = None,
                    fps: float | None = None, temporal_filter: str = "butterworth", order: int = 2,
                    device=None, chunk_size: int = 8, clamp: bool = True, progress: bool = False,
                    **unknown) -> torch.Tensor:
    """Magnify a batch of clips with a learned magnifier.

    ``frames`` (B, T, C, H, W) float in [0, 1] (C = 1 or 3; grey clips are replicated to RGB for an
    RGB network and averaged back). ``alpha`` in merlib's convention: the output shows
    ``f(x + (1 + alpha)·δ)``, Oh et al.'s amp = 1 + alpha (``convention.to_oh_factor``).
    ``model``: ``"oh2018"``, ``"stmemm"`` (shipped checkpoints) or a loaded ``nn.Module`` (used on
    its own device). ``device``: where a named model is loaded (None: the frames' device).

    Modes: ``"static"`` (frame t against frame ``reference``), ``"dynamic"`` (frame t against frame
    t−1; frame 0 is reconstructed), ``"temporal"`` (Oh et al. only, as the official
    ``run_temporal``: band-pass the encoded shape representation over time with
    :class:`merlib.magnify.temporal.TemporalBandpass` (``freq_lo``, ``freq_hi`` Hz at ``fps``;
    ``temporal_filter`` ``"butterworth"`` | ``"ideal"`` | ``"iir"``, Butterworth ``order``), then
    decode ``M_t + h(alpha·g(filtered_t))`` with frame t's texture).
    Frames go through the network ``chunk_size`` pairs at a time, reflect-padded to a multiple of 8
    and cropped back. Returns (B, T, C, H, W), clamped to [0, 1] when ``clamp``.
    """
    from merlib.env import device as resolve_device
    from merlib.magnify.convention import check_alpha

    alpha = check_alpha(alpha)
    unknown.pop("batch_size", None)
    if unknown:
        raise ValueError(f"magnify_learned: unknown option(s) {sorted(unknown)}; learned magnifiers take "
                         "model, reference, freq_lo, freq_hi, fps, temporal_filter, order, device, "
                         "chunk_size, clamp, progress")
    if not isinstance(frames, torch.Tensor) or frames.ndim != 5:
        raise ValueError(f"magnify_learned: `frames` must be a (B, T, C, H, W) tensor, got "
                         f"{getattr(frames, 'shape', type(frames))}")
    if mode not in ("static", "dynamic", "temporal"):
        raise ValueError(f"magnify_learned: `mode` must be 'static', 'dynamic' or 'temporal', got {mode!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"magnify_learned: `chunk_size` must be a positive int, got {chunk_size!r}")
    B, T, C, H, W = frames.shape
    if not -T <= reference < T:
        raise ValueError(f"magnify_learned: `reference` must index one of the T={T} frames, got {reference}")
    if C not in (1, 3):
        raise ValueError(f"magnify_learned: frames must have C = 1 or 3 channels, got {C}")
    dev = frames.device if device is None else resolve_device(device)
    net = _resolve_model(model, dev)
    dev = next(net.parameters()).device
    net_c = net.config.channels
    x = frames.to(dev, torch.float32).reshape(B * T, C, H, W)
    if C != net_c:
        x = x.repeat(1, 3, 1, 1) if C == 1 else x.mean(1, keepdim=True)
    ph, pw = (-H) % 8, (-W) % 8
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if (H > ph and W > pw) else "replicate")
    x = x.reshape(B, T, net_c, H + ph, W + pw)

    out = torch.empty_like(x)
    if mode in ("static", "dynamic"):
        pairs = [(b, reference % T if mode == "static" else max(t - 1, 0), t) for b in range(B) for t in range(T)]
        it = range(0, len(pairs), chunk_size)
        if progress:
            from tqdm.auto import tqdm
            it = tqdm(it, desc=f"magnify ({mode})")
        for s in it:
            chunk = pairs[s:s + chunk_size]
            fa = torch.stack([x[b, r] for b, r, _ in chunk])
            fb = torch.stack([x[b, t] for b, _, t in chunk])
            y = net(fa, fb, alpha)
            for (b, _, t), yi in zip(chunk, y):
                out[b, t] = yi
    else:
        if not isinstance(net, OhMagnifier):
            raise ValueError("magnify_learned: mode='temporal' needs Oh et al.'s network (separate shape "
                             "and texture representations); ST-MEMM supports 'static' and 'dynamic'")
        if fps is None or freq_lo is None or freq_hi is None:
            raise ValueError("magnify_learned(mode='temporal') needs `freq_lo`, `freq_hi` (Hz) and `fps`")
        from merlib.magnify.temporal import TemporalBandpass

        band = TemporalBandpass(freq_lo, freq_hi, fps, kind=temporal_filter, order=order)
        for b in range(B):
            textures, shapes = [], []
            for s in range(0, T, chunk_size):
                tex, shp = net.encoder(x[b, s:s + chunk_size])
                textures.append(tex)
                shapes.append(shp)
            tex, shp = torch.cat(textures), torch.cat(shapes)
            filt = band(shp.unsqueeze(0).double())[0].to(shp.dtype)
            for s in range(0, T, chunk_size):
                mag = shp[s:s + chunk_size] + net.manipulator.delta(filt[s:s + chunk_size], alpha)
                out[b, s:s + chunk_size] = net.decoder(tex[s:s + chunk_size], mag)
    out = out[..., :H, :W]
    if C != net_c:
        out = out.mean(2, keepdim=True) if C == 1 else out.repeat(1, 1, 3, 1, 1)
    if clamp:
        out = out.clamp(0, 1)
    return out.to(frames.device, frames.dtype)
