"""The object relation module of Hu et al. 2018, for any set of N items (boxes, frames, regions).

Hu, Gu, Zhang, Dai, Wei, "Relation Networks for Object Detection", CVPR 2018 (official MXNet code:
github.com/msracver/Relation-Networks-for-Object-Detection, ``resnet_v1_101_rcnn_attention_1024_pairwise_position_multi_head_16_learn_nms.py``).
MMFRN (paper 000, Eq. 7-11) uses it over the four key frames of a clip. With appearance features ``f_A^n``
(``(B, N, d_f)``) and a relative geometry ``r_mn`` between items m and n (``(B, N, N, g)``), each of the
``N_r`` heads computes

* Eq. 7 (appearance weight): ``ω_A^mn = dot(W_K f_A^m, W_Q f_A^n) / sqrt(d_k)``;
* Eq. 8 (geometry weight): ``ω_G^mn = max(0, W_G · ε_G(r_mn))``, ``ε_G`` the sinusoidal embedding of
  :func:`position_embedding` (``d_g`` dimensions);
* Eq. 9 (relation weight): ``ω^mn = ω_G^mn exp(ω_A^mn) / Σ_k ω_G^kn exp(ω_A^kn)``;
* Eq. 10 (relation feature): ``f_R(n) = Σ_m ω^mn (W_V f_A^m)``, ``W_V`` mapping ``d_f`` to ``d_f / N_r``;

and Eq. 11 adds the concatenated heads back: ``f_A^n ← f_A^n + Concat[f_R^1(n), …, f_R^{N_r}(n)]``.

Eq. 9 is computed as ``softmax_m(log(max(ω_G, ε)) + ω_A)`` — the official code's form (``log(max(ω_G,
1e-6))``), equal to Eq. 9 wherever some ``ω_G^kn > 0`` and defined where all are 0. No biases in Eq. 7, 8
and 10 (the equations have none; the official code's FC layers have them — merlib follows the equations).
With ``geometry=False`` the weight is ``softmax_m(ω_A)`` (scaled dot-product attention; Hu et al.'s
"appearance only" ablation).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RelationModule", "position_embedding", "box_relative_geometry", "GEOMETRY_EPS"]

#: ``ω_G`` is clamped to this before the log of Eq. 9 (the official code's 1e-6).
GEOMETRY_EPS = 1e-6


def position_embedding(rel: torch.Tensor, dim: int = 64, wave_length: float = 1000.0, scale: float = 100.0
                       ) -> torch.Tensor:
    """``ε_G``: Hu et al.'s sinusoidal embedding of a ``g``-dimensional relative geometry.

    Each of the ``g`` coordinates ``r`` gets ``dim / (2g)`` frequencies ``w_j = wave_length^(2g j / dim)``
    and contributes ``[sin(scale·r / w_j)]_j`` followed by ``[cos(scale·r / w_j)]_j`` (the official
    ``extract_position_embedding``: ``g = 4``, ``dim = 64``, ``wave_length = 1000``, ``scale = 100``).

    Args:
        rel: ``(..., g)``.
    Returns:
        ``(..., dim)``: per coordinate ``dim / g`` values (sines, then cosines), coordinates in order.
    """
    g = rel.shape[-1]
    if dim % (2 * g):
        raise ValueError(f"position_embedding: `dim` ({dim}) must be a multiple of 2 * g = {2 * g}")
    n_freq = dim // (2 * g)
    j = torch.arange(n_freq, dtype=rel.dtype, device=rel.device)
    freq = wave_length ** (2.0 * g * j / dim)                            # (n_freq,)
    x = (scale * rel).unsqueeze(-1) / freq                               # (..., g, n_freq)
    return torch.cat([torch.sin(x), torch.cos(x)], dim=-1).flatten(-2)   # (..., g * 2 n_freq)


def box_relative_geometry(boxes: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Hu et al.'s 4-d relative geometry of boxes ``(x, y, w, h)`` (centre, size): ``(..., N, 4) -> (..., N, N, 4)``.

    ``r_mn = (log(max(|x_m − x_n| / w_m, eps)), log(max(|y_m − y_n| / h_m, eps)), log(w_n / w_m), log(h_n / h_m))``
    (the official ``extract_position_matrix``; ``m`` indexes rows, ``n`` columns).
    """
    x, y, w, h = boxes.unbind(-1)
    dx = torch.log(((x[..., :, None] - x[..., None, :]).abs() / w[..., :, None]).clamp_min(eps))
    dy = torch.log(((y[..., :, None] - y[..., None, :]).abs() / h[..., :, None]).clamp_min(eps))
    dw = torch.log(w[..., None, :] / w[..., :, None])
    dh = torch.log(h[..., None, :] / h[..., :, None])
    return torch.stack([dx, dy, dw, dh], dim=-1)


class RelationModule(nn.Module):
    """Hu et al.'s relation module (Eq. 7-11 of MMFRN): ``forward(f_a, rel=None) -> f_a + Concat_r f_R^r``.

    Args:
        feature_dim: ``d_f`` (a multiple of ``num_heads``).
        num_heads: ``N_r`` (Hu et al.: 16).
        key_dim: ``d_k`` per head (Hu et al.: 64).
        geo_dim: ``d_g``, the size of ``ε_G`` (Hu et al.: 64).
        geometry: use Eq. 8's geometry weight (``False``: appearance only).
        geo_coords: ``g``, the number of relative-geometry coordinates (Hu et al.: 4).

    Shapes: ``f_a`` ``(B, N, d_f)``; ``rel`` ``(B, N, N, g)`` with ``rel[:, m, n]`` = geometry of ``m``
    relative to ``n``; output ``(B, N, d_f)``. ``weights(f_a, rel)`` returns Eq. 9's ``ω`` as ``(B, N_r, N_m, N_n)``.
    """

    def __init__(self, feature_dim: int, num_heads: int = 16, key_dim: int = 64, geo_dim: int = 64,
                 geometry: bool = True, geo_coords: int = 4, wave_length: float = 1000.0):
        super().__init__()
        for name, v in (("feature_dim", feature_dim), ("num_heads", num_heads), ("key_dim", key_dim),
                        ("geo_dim", geo_dim), ("geo_coords", geo_coords)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"RelationModule: `{name}` must be a positive int, got {v!r}")
        if feature_dim % num_heads:
            raise ValueError(f"RelationModule: `feature_dim` ({feature_dim}) must be a multiple of `num_heads` ({num_heads})")
        self.feature_dim, self.num_heads, self.key_dim = feature_dim, num_heads, key_dim
        self.geo_dim, self.geo_coords, self.geometry, self.wave_length = geo_dim, geo_coords, bool(geometry), wave_length
        self.w_k = nn.Linear(feature_dim, num_heads * key_dim, bias=False)
        self.w_q = nn.Linear(feature_dim, num_heads * key_dim, bias=False)
        self.w_v = nn.Linear(feature_dim, feature_dim, bias=False)       # N_r blocks of d_f / N_r outputs
        self.w_g = nn.Linear(geo_dim, num_heads, bias=False) if self.geometry else None

    def appearance_logits(self, f_a: torch.Tensor) -> torch.Tensor:
        """Eq. 7: ``ω_A`` ``(B, N_r, N_m, N_n)``."""
        b, n, _ = f_a.shape
        k = self.w_k(f_a).view(b, n, self.num_heads, self.key_dim).transpose(1, 2)   # (B, Nr, N, dk)
        q = self.w_q(f_a).view(b, n, self.num_heads, self.key_dim).transpose(1, 2)
        return k @ q.transpose(-1, -2) / math.sqrt(self.key_dim)                      # [m, n] = K_m · Q_n

    def geometry_weights(self, rel: torch.Tensor) -> torch.Tensor:
        """Eq. 8: ``ω_G = max(0, W_G ε_G(r))`` ``(B, N_r, N_m, N_n)``."""
        emb = position_embedding(rel, self.geo_dim, self.wave_length)                # (B, N, N, dg)
        return F.relu(self.w_g(emb)).permute(0, 3, 1, 2)

    def weights(self, f_a: torch.Tensor, rel: torch.Tensor | None = None) -> torch.Tensor:
        """Eq. 9: ``ω^mn``, normalised over ``m`` for every ``n``: ``(B, N_r, N_m, N_n)``."""
        logits = self.appearance_logits(f_a)
        if self.geometry:
            if rel is None:
                raise ValueError("RelationModule: `rel` (B, N, N, g) is required when geometry=True")
            if rel.shape[:3] != (f_a.shape[0], f_a.shape[1], f_a.shape[1]) or rel.shape[-1] != self.geo_coords:
                raise ValueError(f"RelationModule: `rel` must be (B, N, N, {self.geo_coords}) = "
                                 f"({f_a.shape[0]}, {f_a.shape[1]}, {f_a.shape[1]}, {self.geo_coords}), got {tuple(rel.shape)}")
            logits = logits + torch.log(self.geometry_weights(rel.to(f_a.dtype)).clamp_min(GEOMETRY_EPS))
        return torch.softmax(logits, dim=-2)

    def relation_features(self, f_a: torch.Tensor, rel: torch.Tensor | None = None) -> torch.Tensor:
        """Eq. 10 for every head, concatenated: ``(B, N, d_f)`` = ``Concat[f_R^1(n), …, f_R^{N_r}(n)]``."""
        b, n, d = f_a.shape
        w = self.weights(f_a, rel)                                                     # (B, Nr, M, N)
        v = self.w_v(f_a).view(b, n, self.num_heads, d // self.num_heads).transpose(1, 2)  # (B, Nr, M, d/Nr)
        fr = w.transpose(-1, -2) @ v                                                   # (B, Nr, N, d/Nr)
        return fr.transpose(1, 2).reshape(b, n, d)

    def forward(self, f_a: torch.Tensor, rel: torch.Tensor | None = None) -> torch.Tensor:
        """Eq. 11: ``f_A^n + Concat[f_R^1(n), …, f_R^{N_r}(n)]``."""
        if f_a.ndim != 3 or f_a.shape[-1] != self.feature_dim:
            raise ValueError(f"RelationModule: `f_a` must be (B, N, {self.feature_dim}), got {tuple(f_a.shape)}")
        return f_a + self.relation_features(f_a, rel)

    def extra_repr(self) -> str:
        return (f"d_f={self.feature_dim}, N_r={self.num_heads}, d_k={self.key_dim}, d_g={self.geo_dim}, "
                f"geometry={self.geometry}")
