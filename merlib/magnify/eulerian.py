"""Eulerian (linear, amplitude-based) motion magnification — Wu et al. 2012, "Eulerian video
magnification for revealing subtle changes in the world" (SIGGRAPH); Bai et al. 2021's AMM.

First-order view (Wu et al. Eq. 1-4): for ``I(x, t) = f(x + δ(t))``,
``I(x, t) ≈ f(x) + δ(t)·f'(x)``; adding ``alpha`` times the intensity change
``B(x, t) = I(x, t) − I(x, 0) ≈ δ(t)·f'(x)`` gives ``f(x) + (1 + alpha)·δ(t)·f'(x) ≈ f(x + (1 + alpha)·δ(t))``
— merlib's α convention (:mod:`merlib.magnify.convention`). The approximation holds while
``(1 + alpha)·δ(t) < λ/8`` for spatial wavelength ``λ`` (Wu et al. Eq. 14), so each Laplacian
level ``l`` (representative wavelength ``λ_l``, :func:`merlib.magnify.pyramids.laplacian_wavelengths`)
gets its own factor ``alpha_l = min(alpha, λ_l / (8δ) − 1)`` with ``δ = lambda_c / (8(1 + alpha))``
(their code's ``lambda_c`` cut-off), floored at 0 (see :func:`level_alphas`).

Because the Laplacian pyramid is linear, magnifying every level's difference by ``alpha_l``
equals building the pyramid of the *difference* ``I_t − I_ref`` once, weighting its levels and
collapsing it; when every ``alpha_l`` equals ``alpha`` the pyramid cancels out entirely and the
output is ``I_t + alpha·(I_t − I_ref)`` — the fast path for MER's two-frame use.

Colour: with ``luma_only=True`` (or a ``chroma_attenuation``) frames are processed in YIQ
(NTSC, the matrix of :func:`skimage.color.rgb2yiq`) and the chroma change is multiplied by
``chroma_attenuation`` (0 when ``luma_only``), as in Wu et al.'s code.
"""
from __future__ import annotations

import torch

from merlib.magnify.pyramids import LaplacianPyramid, laplacian_max_levels, laplacian_wavelengths
from merlib.magnify.validation import check_nonneg_int, check_positive

__all__ = ["rgb_to_yiq", "yiq_to_rgb", "level_alphas", "magnify_eulerian", "EULERIAN_OPTIONS"]

#: RGB -> YIQ (the NTSC matrix used by skimage.color.rgb2yiq).
_YIQ_FROM_RGB = (
    (0.299, 0.587, 0.114),
    (0.59590059, -0.27455667, -0.32134392),
    (0.21153661, -0.52273617, 0.31119955),
)

EULERIAN_OPTIONS = ("levels", "lambda_c", "luma_only", "chroma_attenuation", "skip_finest", "skip_coarsest")


def _matrix(x: torch.Tensor, inverse: bool) -> torch.Tensor:
    m = torch.tensor(_YIQ_FROM_RGB, dtype=torch.float64)
    if inverse:
        m = torch.linalg.inv(m)
    return m.to(device=x.device, dtype=x.dtype)


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """``(..., 3, H, W)`` RGB -> YIQ (Y in [0, 1], I and Q signed)."""
    return torch.einsum("ij,...jhw->...ihw", _matrix(x, False), x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_yiq` (exact matrix inverse)."""
    return torch.einsum("ij,...jhw->...ihw", _matrix(x, True), x)


def level_alphas(alpha: float, levels: int, lambda_c: float | None = None, skip_finest: int = 0,
                 skip_coarsest: int = 0) -> list[float]:
    """Per-level factors for a Laplacian pyramid of ``levels`` band-pass levels + the low-pass residual.

    ``alpha_l = min(alpha, λ_l / (8δ) − 1)`` with ``δ = lambda_c / (8 (1 + alpha))`` (Wu et al. 2012,
    Eq. 14 and their ``lambda_c``), floored at 0 (a cap should stop magnification, not reverse it);
    no cap when ``lambda_c`` is ``None`` or ``alpha <= 0`` (attenuation and cancellation are always
    safe). The ``skip_finest`` finest and ``skip_coarsest`` coarsest entries (the residual counts as
    the coarsest) get 0. Returns ``levels + 1`` floats, finest first.
    """
    wavelengths = laplacian_wavelengths(levels)
    if lambda_c is None or alpha <= 0:
        out = [float(alpha)] * (levels + 1)
    else:
        delta = lambda_c / (8.0 * (1.0 + alpha))
        out = [min(float(alpha), max(0.0, lam / (8.0 * delta) - 1.0)) for lam in wavelengths]
    for i in range(min(skip_finest, levels + 1)):
        out[i] = 0.0
    for i in range(min(skip_coarsest, levels + 1)):
        out[levels - i] = 0.0
    return out


class _EulerianWeights:
    """Applies the per-level, per-channel factors to a change signal ``D`` ``(B, T, C, H, W)``."""

    def __init__(self, alpha, channels, height, width, levels=None, lambda_c=None, luma_only=False,
                 chroma_attenuation=None, skip_finest=0, skip_coarsest=0):
        max_levels = laplacian_max_levels(height, width)
        if levels is None:
            levels = max_levels
        levels = check_nonneg_int(levels, "levels")
        if levels > max_levels:
            raise ValueError(f"`levels` = {levels} is too many for {height}x{width} frames: at most {max_levels}")
        if lambda_c is not None:
            lambda_c = check_positive(lambda_c, "lambda_c")
        skip_finest = check_nonneg_int(skip_finest, "skip_finest")
        skip_coarsest = check_nonneg_int(skip_coarsest, "skip_coarsest")
        if chroma_attenuation is not None:
            chroma_attenuation = check_positive(chroma_attenuation, "chroma_attenuation", allow_zero=True)
        if not isinstance(luma_only, bool):
            raise ValueError(f"`luma_only` must be True or False, got {luma_only!r}")
        self.alphas = level_alphas(alpha, levels, lambda_c, skip_finest, skip_coarsest)
        self.uniform = all(a == self.alphas[0] for a in self.alphas)
        self.pyramid = LaplacianPyramid(levels)
        self.yiq = channels == 3 and (luma_only or chroma_attenuation is not None)
        att = chroma_attenuation if chroma_attenuation is not None else (0.0 if luma_only else 1.0)
        self.channel_gain = (1.0, att, att) if self.yiq else None

    def to_space(self, x):
        return rgb_to_yiq(x) if self.yiq else x

    def from_space(self, x):
        return yiq_to_rgb(x) if self.yiq else x

    def __call__(self, d: torch.Tensor) -> torch.Tensor:
        if self.uniform:
            m = d * self.alphas[0]
        else:
            pyr = self.pyramid.decompose(d)
            m = self.pyramid.reconstruct([p * a for p, a in zip(pyr, self.alphas)])
        if self.channel_gain is not None:
            g = torch.tensor(self.channel_gain, dtype=d.dtype, device=d.device).view(3, 1, 1)
            m = m * g
        return m


def magnify_eulerian(x: torch.Tensor, alpha: float, ref_index: list[int] | None = None, temporal=None,
                     chunk_size: int = 16, **options) -> torch.Tensor:
    """Eulerian magnification of a batch ``x`` ``(B, T, C, H, W)``, float in [0, 1] (validated by the caller).

    ``ref_index[t]`` is the reference frame of frame ``t`` (static: 0, dynamic: ``t − 1``), or pass
    ``temporal`` (a :class:`~merlib.magnify.temporal.TemporalBandpass`) for ``mode="temporal"``:
    the change signal is then the band-passed intensity, streamed in chunks of ``chunk_size``
    frames for the IIR filters. Options: see :data:`EULERIAN_OPTIONS` and the module docstring.
    Returns ``(B, T, C, H, W)`` unclamped; α follows merlib's convention.
    """
    b, t, c, h, w = x.shape
    weights = _EulerianWeights(alpha, c, h, w, **options)
    if temporal is None:
        xs = weights.to_space(x)
        idx = torch.as_tensor(ref_index, device=x.device)
        out = xs + weights(xs - xs.index_select(1, idx))
        return weights.from_space(out)
    out = torch.empty_like(x)
    if not temporal.streamable:
        xs = weights.to_space(x)
        return weights.from_space(xs + weights(temporal(xs)))
    state: dict = {}
    for s in range(0, t, chunk_size):
        xs = weights.to_space(x[:, s:s + chunk_size])
        d, state = temporal.step(xs, state)
        out[:, s:s + chunk_size] = weights.from_space(xs + weights(d))
    return out
