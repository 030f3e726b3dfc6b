"""MMFRN's network (paper 000, Fig. 1, Fig. 4, Eq. 7-11): feature-space magnification + ResNet-50 + two relation modules.

Three parts, as the paper's Fig. 1:

* **spatial feature amplification network** (Fig. 4) — Oh et al. 2018's encoder, shape branch only
  (:class:`ShapeEncoder`): ``Conv16_k7_s1 → Conv32_k3_s2 → 3 Res.Blk`` (Oh's shared trunk) and the shape
  branch with "the convolutional layer before the two residual layers ... modified to a step size of 2, and
  the convolutional kernel ... set to 64" (``Conv64_k3_s2 → 2 Res.Blk(64)``); the manipulator at 64 channels
  (:class:`FeatureManipulator`), where "the motion is no longer superimposed on the original"; the
  redesigned decoder (:class:`FeatureDecoder`: two 3×3 stride-2 convs, 128 and 256 channels, flatten);
* **global features** — a ResNet-50 per frame (2048-d, torchvision; see :mod:`.pipeline`);
* **multi-feature relation module** — one :class:`merlib.models.relation.RelationModule` over the four
  magnified (local) features, one over the four global ones; flattened, concatenated, one linear layer to
  the classes, softmax (the paper's "flatten, concat, softmax" needs a layer from the concatenation to the K
  class scores: merlib's choice, one ``nn.Linear``).

The α convention (:mod:`merlib.magnify.convention`): MMFRN quotes Oh et al.'s factor ``α_oh`` (``α_oh = 1``:
"not amplified"); every class here takes **merlib's** ``alpha = α_oh − 1`` (convert once with
:func:`~merlib.magnify.convention.from_oh_factor`). Oh's manipulator computes ``M_b + h(c·g(M_b − M_a))``
with ``c = alpha`` (the official ``amp − 1``), i.e. ``M_a + ΔM + h(c·g(ΔM))``: the reference frame's shape
``M_a`` plus the magnified motion. Without the original (the paper's change) merlib keeps the magnified
motion ``ΔM + h(alpha·g(ΔM))`` — at ``α_oh = 1`` exactly the unmagnified feature difference ``ΔM``, as Eq. 2
with α = 1 is the unmagnified frame. (``keep_difference=False`` drops ``ΔM`` too: the output is then
``h(alpha·g(ΔM))``, identically 0 at ``α_oh = 1`` — a reading under which the paper's baseline would have
no local branch at all; kept as an option, merlib's default is the first.) Each key frame is compared with the
onset frame (merlib's choice: the onset is the neutral face, the reference Oh et al.'s network magnifies
against), so the onset's own local feature is the decoder of a zero motion.

"Relative geometry" of frames (Eq. 8) is not defined by the paper (Hu et al. use boxes). merlib's choice,
:func:`frame_relative_geometry`: each key frame's normalised time ``τ = (frame − onset) / (offset − onset)``
and its slot ``k/3`` (onset 0, mid 1/3, apex 2/3, offset 1); for frames ``m, n`` the four coordinates
``(τ_m − τ_n, log max(|τ_m − τ_n|, ε), k_m − k_n, log max(|k_m − k_n|, ε))`` — Hu et al.'s log-distance form
plus the signed order that time has and boxes do not. ``geometry="slot"`` uses the slots for τ too (the
same geometry for every clip), ``geometry="none"`` drops Eq. 8 (appearance only); notebook 11 ablates them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from merlib.magnify.conv_blocks import Conv, ResBlock, alpha_tensor
from merlib.magnify.convention import check_alpha, from_oh_factor, manipulator_multiplier
from merlib.models.relation import RelationModule

__all__ = ["ShapeEncoder", "FeatureManipulator", "FeatureDecoder", "MMFRN", "MMFRNFactory", "frame_relative_geometry",
           "GEOMETRIES", "OH_TRUNK_LAYERS", "load_oh_trunk", "N_KEY_FRAMES", "PAPER_RELATION"]

N_KEY_FRAMES = 4
GEOMETRIES = ("temporal", "slot", "none")
#: The layers of Oh et al.'s encoder whose shapes MMFRN keeps (the shared trunk): loaded from an Oh checkpoint.
OH_TRUNK_LAYERS = ("conv1", "conv2", "blocks")
#: Hu et al.'s relation-module sizes (N_r = 16 heads, d_k = 64, d_g = 64); MMFRN gives none of its own.
PAPER_RELATION = {"num_heads": 16, "key_dim": 64, "geo_dim": 64}


class ShapeEncoder(nn.Module):
    """Fig. 4b: Oh et al.'s encoder, shape branch only, the branch's conv at stride 2 and 64 channels.

    ``forward(x)``: ``(B, C, H, W)`` in [0, 1] (H, W multiples of 4) → shape ``(B, 64, H/4, W/4)``.
    :meth:`trunk` gives the shared part alone (``(B, 32, H/2, W/2)``) and :meth:`shape_branch` the rest.
    Padding and initialisation are Oh et al.'s (:class:`merlib.magnify.conv_blocks.Conv`: reflection,
    TF ``SAME`` zero padding on the stride-2 convs, no bias).
    """

    def __init__(self, channels: int = 3, enc_dims: int = 32, shape_dims: int = 64, n_enc_resblk: int = 3,
                 n_shape_resblk: int = 2):
        super().__init__()
        self.channels, self.shape_dims = channels, shape_dims
        self.conv1 = Conv(channels, enc_dims // 2, 7, relu=True)
        self.conv2 = Conv(enc_dims // 2, enc_dims, 3, 2, pad="same", relu=True)
        self.blocks = nn.Sequential(*[ResBlock(enc_dims) for _ in range(n_enc_resblk)])
        self.shape_conv = Conv(enc_dims, shape_dims, 3, 2, pad="same", relu=True)
        self.shape_blocks = nn.Sequential(*[ResBlock(shape_dims) for _ in range(n_shape_resblk)])

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"ShapeEncoder: `x` must be (B, {self.channels}, H, W) with H, W multiples of 4, "
                             f"got {tuple(x.shape)}")
        return self.blocks(self.conv2(self.conv1(x * 2.0 - 1.0)))

    def shape_branch(self, t: torch.Tensor) -> torch.Tensor:
        return self.shape_blocks(self.shape_conv(t))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shape_branch(self.trunk(x))


def load_oh_trunk(encoder: ShapeEncoder, magnifier: nn.Module) -> list[str]:
    """Copy Oh et al.'s shared encoder trunk (``conv1``, ``conv2``, the residual ``blocks``) into ``encoder``.

    ``magnifier``: an :class:`merlib.magnify.oh2018.OhMagnifier` (merlib's shipped checkpoint, or the
    official / AMAN / postech-ami weights through :func:`merlib.magnify.load_magnifier`). The shape branch,
    manipulator and decoder of MMFRN have other shapes (64 channels, stride 2) and keep their own
    initialisation. Returns the names of the state-dict entries copied; raises ``ValueError`` when a trunk
    tensor does not fit (e.g. a 1-channel encoder and a 3-channel checkpoint, or a biased postech-ami conv).
    """
    src = magnifier.encoder.state_dict()
    dst = encoder.state_dict()
    copied = []
    for name, value in src.items():
        if not name.split(".")[0] in OH_TRUNK_LAYERS:
            continue
        if name not in dst:
            raise ValueError(f"load_oh_trunk: checkpoint entry {name!r} has no place in MMFRN's encoder "
                             "(a biased conv? MMFRN's trunk is Oh et al.'s official, bias-free one)")
        if dst[name].shape != value.shape:
            raise ValueError(f"load_oh_trunk: {name!r} is {tuple(value.shape)} in the checkpoint but "
                             f"{tuple(dst[name].shape)} in MMFRN's encoder")
        dst[name] = value.detach().clone().to(dst[name].dtype)
        copied.append(name)
    missing = [n for n in dst if n.split(".")[0] in OH_TRUNK_LAYERS and n not in copied]
    if missing:
        raise ValueError(f"load_oh_trunk: the checkpoint lacks {missing[:4]}")
    encoder.load_state_dict(dst)
    return copied


class FeatureManipulator(nn.Module):
    """Fig. 4d at 64 channels, the motion not superimposed on the original.

    ``forward(shape_a, shape_b, alpha)`` → ``ΔM + h(c·g(ΔM))`` with ``ΔM = shape_b − shape_a``, ``g`` = 7×7
    conv + ReLU, ``h`` = 3×3 conv + one residual block (Oh et al.'s), ``c =
    manipulator_multiplier(alpha)`` = merlib's ``alpha = α_oh − 1`` (``float`` or ``(B,)`` tensor). With
    ``keep_difference=False``: ``h(c·g(ΔM))`` alone. Shapes ``(B, D, h, w)``.
    """

    def __init__(self, dims: int = 64, g_kernel: int = 7, n_resblk: int = 1, keep_difference: bool = True):
        super().__init__()
        self.g = Conv(dims, dims, g_kernel, relu=True)
        self.after = Conv(dims, dims, 3)
        self.blocks = nn.Sequential(*[ResBlock(dims) for _ in range(n_resblk)])
        self.keep_difference = bool(keep_difference)

    def delta(self, diff: torch.Tensor, alpha) -> torch.Tensor:
        """``h(c·g(ΔM))``."""
        c = manipulator_multiplier(alpha_tensor(alpha, diff))
        return self.blocks(self.after(self.g(diff) * c))

    def forward(self, shape_a: torch.Tensor, shape_b: torch.Tensor, alpha) -> torch.Tensor:
        diff = shape_b - shape_a
        out = self.delta(diff, alpha)
        return diff + out if self.keep_difference else out


class FeatureDecoder(nn.Module):
    """Fig. 4e: ``Conv128_k3_s2 + ReLU → Conv256_k3_s2 + ReLU → flatten``: ``(B, D, h, w) → (B, 256·⌈h/4⌉·⌈w/4⌉)``.

    Zero ``SAME`` padding (TensorFlow's, the paper's framework) and biases (Keras' default) — merlib's choice,
    the paper gives neither.
    """

    def __init__(self, dims: int = 64, widths=(128, 256)):
        super().__init__()
        layers, c = [], dims
        for w in widths:
            layers.append(Conv(c, w, 3, 2, pad="same", relu=True, bias=True))
            c = w
        self.convs = nn.Sequential(*layers)
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x).flatten(1)


def frame_relative_geometry(tau: torch.Tensor, mode: str = "temporal", eps: float = 1e-3) -> torch.Tensor:
    """The relative geometry of Eq. 8 for frames (merlib's definition, see the module docstring).

    Args:
        tau: ``(B, N)`` normalised times of the N key frames (0 = onset, 1 = offset).
        mode: ``"temporal"`` (τ and slot), ``"slot"`` (slot only: τ replaced by ``k / (N − 1)``).
    Returns:
        ``(B, N, N, 4)``: ``rel[:, m, n] = (τ_m − τ_n, log max(|τ_m − τ_n|, eps), k_m − k_n, log max(|k_m − k_n|, eps))``.
    """
    if mode not in ("temporal", "slot"):
        raise ValueError(f"frame_relative_geometry: `mode` must be 'temporal' or 'slot', got {mode!r}")
    if tau.ndim != 2:
        raise ValueError(f"frame_relative_geometry: `tau` must be (B, N), got {tuple(tau.shape)}")
    b, n = tau.shape
    k = torch.arange(n, dtype=tau.dtype, device=tau.device) / max(n - 1, 1)
    k = k.expand(b, n)
    t = k if mode == "slot" else tau
    dt = t[:, :, None] - t[:, None, :]
    dk = k[:, :, None] - k[:, None, :]
    return torch.stack([dt, torch.log(dt.abs().clamp_min(eps)), dk, torch.log(dk.abs().clamp_min(eps))], dim=-1)


class MMFRN(nn.Module):
    """The trainable part of MMFRN on cached encoder features: manipulator → decoder → relation modules → classes.

    ``forward(local, global_, tau)``:

    * ``local`` ``(B, N, D, h, w)``: :class:`ShapeEncoder` outputs of the N = 4 key frames (onset first);
    * ``global_`` ``(B, N, G)``: the ResNet-50 features of the same frames;
    * ``tau`` ``(B, N)``: the frames' normalised times (:func:`frame_relative_geometry`);

    returns logits ``(B, K)`` (softmax of them is the paper's prediction vector). ``alpha`` is merlib's
    (``α_oh − 1``; :meth:`from_oh` converts). ``relation`` overrides the relation-module sizes
    (:data:`PAPER_RELATION` by default).
    """

    def __init__(self, num_classes: int, local_shape: tuple, global_dim: int, alpha: float = 0.0,
                 n_frames: int = N_KEY_FRAMES, geometry: str = "temporal", relation: dict | None = None,
                 g_kernel: int = 7, keep_difference: bool = True, dropout: float = 0.0, feature_norm: bool = True):
        super().__init__()
        if geometry not in GEOMETRIES:
            raise ValueError(f"MMFRN: `geometry` must be one of {GEOMETRIES}, got {geometry!r}")
        d, h, w = (int(v) for v in local_shape)
        self.alpha = check_alpha(alpha)
        self.n_frames, self.geometry, self.num_classes = int(n_frames), geometry, int(num_classes)
        rel = {**PAPER_RELATION, **(relation or {})}
        self.manipulator = FeatureManipulator(d, g_kernel=g_kernel, keep_difference=keep_difference)
        self.decoder = FeatureDecoder(d)
        self.local_dim = self.decoder.out_channels * math.ceil(h / 4) * math.ceil(w / 4)
        self.global_dim = int(global_dim)
        geo = geometry != "none"
        self.local_relation = RelationModule(self.local_dim, geometry=geo, **rel)
        self.global_relation = RelationModule(self.global_dim, geometry=geo, **rel)
        # merlib's choice (the paper has none): each frame's decoded local and ResNet-50 global vector is
        # layer-normalised (no affine) before its relation module -- the offline stand-in's random ResNet-50 gives
        # features of arbitrary scale (|f| ~ 10^2), with which Adam diverges; ImageNet features would need no fix.
        self.feature_norm = bool(feature_norm)
        self.local_norm = nn.LayerNorm(self.local_dim, elementwise_affine=False) if feature_norm else nn.Identity()
        self.global_norm = nn.LayerNorm(self.global_dim, elementwise_affine=False) if feature_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.n_frames * (self.local_dim + self.global_dim), self.num_classes)

    @classmethod
    def from_oh(cls, num_classes: int, local_shape: tuple, global_dim: int, alpha_oh: float, **kw) -> "MMFRN":
        """Build with Oh et al.'s factor ``alpha_oh`` (the paper's α; merlib ``alpha = alpha_oh − 1``)."""
        return cls(num_classes, local_shape, global_dim, alpha=from_oh_factor(alpha_oh), **kw)

    @property
    def alpha_oh(self) -> float:
        return self.alpha + 1.0

    def local_features(self, local: torch.Tensor, skip_onset: bool = True) -> torch.Tensor:
        """Magnified (against the onset) and decoded local features ``(B, N, local_dim)``.

        The onset compared with itself has ``ΔM = 0`` and the bias-free manipulator maps 0 to 0, so its slot is
        the decoder of a zero map for every clip: computed once (``skip_onset=True``, exact) instead of per clip.
        """
        b, n = local.shape[:2]
        first = 1 if skip_onset else 0
        ref = local[:, :1].expand(b, n - first, *local.shape[2:])
        cur = local[:, first:]
        mag = self.manipulator(ref.reshape(-1, *local.shape[2:]), cur.reshape(-1, *local.shape[2:]), self.alpha)
        z = self.decoder(mag).view(b, n - first, -1)
        if skip_onset:
            zero = self.decoder(torch.zeros_like(local[:1, 0])).view(1, 1, -1).expand(b, 1, -1)
            z = torch.cat([zero, z], dim=1)
        return z

    def relation_geometry(self, tau: torch.Tensor):
        return None if self.geometry == "none" else frame_relative_geometry(tau, self.geometry)

    def forward(self, local: torch.Tensor, global_: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        if local.ndim != 5 or local.shape[1] != self.n_frames:
            raise ValueError(f"MMFRN: `local` must be (B, {self.n_frames}, D, h, w), got {tuple(local.shape)}")
        if global_.ndim != 3 or global_.shape[1:] != (self.n_frames, self.global_dim):
            raise ValueError(f"MMFRN: `global_` must be (B, {self.n_frames}, {self.global_dim}), got {tuple(global_.shape)}")
        rel = self.relation_geometry(tau.to(local.dtype))
        z_l = self.local_relation(self.local_norm(self.local_features(local)), rel)
        z_g = self.global_relation(self.global_norm(global_), rel)
        z = torch.cat([z_l.flatten(1), z_g.flatten(1)], dim=1)
        return self.classifier(self.dropout(z))

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g} (Oh's factor {self.alpha_oh:g}), geometry={self.geometry!r}"


@dataclass(frozen=True)
class MMFRNFactory:
    """``model_fn`` for :func:`merlib.eval.run`: ``(num_classes, (local, global, tau) shapes) -> MMFRN``.

    ``alpha_oh`` is the paper's factor (Oh et al.'s; converted once, here, with
    :func:`merlib.magnify.convention.from_oh_factor`). ``num_heads`` / ``key_dim`` / ``geo_dim``:
    Hu et al.'s 16 / 64 / 64 unless set (smaller in quick runs).
    """

    alpha_oh: float = 1.0
    geometry: str = "temporal"
    num_heads: int = 16
    key_dim: int = 64
    geo_dim: int = 64
    g_kernel: int = 7
    keep_difference: bool = True
    dropout: float = 0.0
    feature_norm: bool = True
    version: str = "1"

    def __call__(self, num_classes: int, input_shape) -> MMFRN:
        local_shape, global_shape, tau_shape = input_shape
        return MMFRN(num_classes, tuple(local_shape[1:]), int(global_shape[-1]), alpha=from_oh_factor(self.alpha_oh),
                     n_frames=int(local_shape[0]), geometry=self.geometry,
                     relation={"num_heads": self.num_heads, "key_dim": self.key_dim, "geo_dim": self.geo_dim},
                     g_kernel=self.g_kernel, keep_difference=self.keep_difference, dropout=self.dropout,
                     feature_norm=self.feature_norm)
