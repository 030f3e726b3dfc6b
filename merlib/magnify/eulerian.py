"""Eulerian (linear, amplitude-based) motion magnification — Wu, Rubinstein, Shih, Guttag, Durand & Freeman
2012, "Eulerian video magnification for revealing subtle changes in the world" (SIGGRAPH), and their MATLAB
code (``amplify_spatial_lpyr_temporal_{ideal,iir,butter}.m``, 2012); Bai et al. 2021's AMM.

First-order view (Wu et al. Eq. 1-4): for ``I(x, t) = f(x + δ(t))``,
``I(x, t) ≈ f(x) + δ(t)·f'(x)``; adding ``alpha`` times the intensity change
``B(x, t) = I(x, t) − I(x, 0) ≈ δ(t)·f'(x)`` gives ``f(x) + (1 + alpha)·δ(t)·f'(x) ≈ f(x + (1 + alpha)·δ(t))``
— merlib's α convention (:mod:`merlib.magnify.convention`). The approximation holds while
``(1 + alpha)·δ(t) < λ/8`` for spatial wavelength ``λ`` (Wu et al. Eq. 14), so each Laplacian level
gets its own factor. Two rules (:func:`level_alphas`, :func:`wu_level_alphas`):

* ``preset="wu2012"`` — exactly their code: ``δ = lambda_c / 8 / (1 + alpha)``; the representative
  wavelength of the coarsest entry (low-pass residual) is ``sqrt(H² + W²) / 3`` and halves per finer
  level; ``currAlpha = (λ / δ / 8 − 1) · exaggeration_factor`` with ``exaggeration_factor = 2`` ("to boost
  alpha above the bound we have in the paper, for better visualization"); the level gets ``alpha`` if
  ``currAlpha > alpha`` else ``currAlpha`` (not floored); the finest level and the low-pass residual
  are zeroed; the pyramid is ``buildLpyr(·, 'auto')`` (:func:`~merlib.magnify.pyramids.wu_laplacian_levels`
  band levels); frames are processed in YIQ (``rgb2ntsc``) with the chroma change multiplied by
  ``chroma_attenuation`` (their ``chromAttenuation``; default 0.1, their baby/wrist setting) and
  ``lambda_c`` defaults to 16 (ditto). At 128², α = 20, λc = 16: 0 / 7.9 / 17.8 / 20 / 20 / 0.
* merlib's default (``preset=None``) — merlib's choice: ``alpha_l = min(alpha, λ_l / (8δ) − 1)`` floored
  at 0, with ``λ_l = 2^(l + 1.5)`` px (the level's centre wavelength, independent of the frame size, see
  :func:`~merlib.magnify.pyramids.laplacian_wavelengths`), no exaggeration (the paper's bound itself),
  every level magnified unless ``skip_finest`` / ``skip_coarsest`` say otherwise, and no cap at all
  without ``lambda_c`` — because the two-frame MER use (Bai et al.'s AMM) wants the uniform, exact
  ``(1 + α)δ`` the convention promises, and a cap tied to the frame diagonal changes with the crop size.
  At 128², α = 20, λc = 16 this gives 2.7 / 6.4 / 13.9 / 20 / 20 / 20.

Because the Laplacian pyramid is linear, magnifying every level's change by ``alpha_l`` equals building
the pyramid of the *change* ``I_t − I_ref`` once, weighting its levels and collapsing it
(:meth:`~merlib.magnify.pyramids.LaplacianPyramid.weighted`: one Gaussian pyramid and one chain of
up-samplings, both only down to the coarsest level whose factor differs from the next finer one's — the
coarser levels share that factor and collapse to it times that level's Gaussian image); when every
``alpha_l`` equals ``alpha`` the pyramid cancels out and the output is ``I_t + alpha·(I_t − I_ref)`` — the
fast path for MER's two-frame use. Wu et al. band-pass each pyramid
level in time and then weight it; filtering the frames first is the same linear operation.

Colour: with ``luma_only=True`` (or a ``chroma_attenuation``) frames are processed in YIQ
(NTSC, the matrix of :func:`skimage.color.rgb2yiq` and MATLAB's ``rgb2ntsc``) and the chroma change is
multiplied by ``chroma_attenuation`` (0 when ``luma_only``), as in Wu et al.'s code.
"""
from __future__ import annotations

import torch

from merlib.magnify.pyramids import (LaplacianPyramid, laplacian_feasible_levels, laplacian_max_levels,
                                     laplacian_wavelengths, wu_laplacian_levels, wu_level_wavelengths)
from merlib.magnify.validation import check_choice, check_nonneg_int, check_positive

__all__ = ["rgb_to_yiq", "yiq_to_rgb", "level_alphas", "wu_level_alphas", "magnify_eulerian", "EULERIAN_OPTIONS",
           "EULERIAN_PRESETS"]

#: RGB -> YIQ (the NTSC matrix used by skimage.color.rgb2yiq).
_YIQ_FROM_RGB = (
    (0.299, 0.587, 0.114),
    (0.59590059, -0.27455667, -0.32134392),
    (0.21153661, -0.52273617, 0.31119955),
)

EULERIAN_OPTIONS = ("levels", "lambda_c", "luma_only", "chroma_attenuation", "skip_finest", "skip_coarsest", "preset")
#: Presets and what they fix (see the module docstring).
EULERIAN_PRESETS = {
    "wu2012": {"level_rule": "wu2012", "lambda_c": 16.0, "chroma_attenuation": 0.1, "yiq": True,
               "temporal": {"ideal": {"gain": "wu2012"}, "iir": {"normalize": False}, "butterworth": {"cutoff": "wu2012"}}},
}


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
    """merlib's per-level factors for a Laplacian pyramid of ``levels`` band-pass levels + the low-pass residual.

    ``alpha_l = min(alpha, λ_l / (8δ) − 1)`` with ``δ = lambda_c / (8 (1 + alpha))`` (Wu et al. 2012,
    Eq. 14 and their ``lambda_c``) and ``λ_l`` from :func:`~merlib.magnify.pyramids.laplacian_wavelengths`,
    floored at 0 (merlib's choice: a cap should stop magnification, not reverse it); no cap when
    ``lambda_c`` is ``None`` or ``alpha <= 0`` (attenuation and cancellation are always safe). The
    ``skip_finest`` finest and ``skip_coarsest`` coarsest entries (the residual counts as the coarsest)
    get 0. Returns ``levels + 1`` floats, finest first. Wu et al.'s own rule: :func:`wu_level_alphas`.
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


def wu_level_alphas(alpha: float, height: int, width: int, lambda_c: float, levels: int | None = None,
                    exaggeration_factor: float = 2.0) -> list[float]:
    """Wu et al.'s per-level factors (``amplify_spatial_lpyr_temporal_*.m``), finest first, ``levels + 1`` entries.

    ``levels`` defaults to their ``buildLpyr(·, 'auto')`` (:func:`~merlib.magnify.pyramids.wu_laplacian_levels`).
    ``δ = lambda_c/8/(1+alpha)``; level wavelengths :func:`~merlib.magnify.pyramids.wu_level_wavelengths`;
    ``currAlpha = (λ/δ/8 − 1)·exaggeration_factor``; finest and coarsest entries 0; otherwise ``alpha`` when
    ``currAlpha > alpha``, else ``currAlpha`` (which can be negative for very fine levels, as in their code).
    """
    alpha = float(alpha)
    lambda_c = check_positive(lambda_c, "lambda_c")
    if levels is None:
        levels = wu_laplacian_levels(height, width)
    delta = lambda_c / 8.0 / (1.0 + alpha)
    out = []
    for l, lam in enumerate(wu_level_wavelengths(height, width, levels)):
        curr = (lam / delta / 8.0 - 1.0) * exaggeration_factor
        if l == 0 or l == levels:
            out.append(0.0)
        elif curr > alpha:
            out.append(alpha)
        else:
            out.append(curr)
    return out


class _EulerianWeights:
    """Per-level, per-channel factors applied to a change signal ``D`` ``(B, T, C, H, W)``, for one or more α."""

    def __init__(self, channels, height, width, levels=None, lambda_c=None, luma_only=False,
                 chroma_attenuation=None, skip_finest=0, skip_coarsest=0, preset=None):
        self.height, self.width = height, width
        self.preset = None if preset is None else check_choice(preset, "preset", tuple(EULERIAN_PRESETS))
        # merlib keeps a low-pass residual of >= 4 px; Wu et al.'s buildLpyr('auto') may go one level further
        feasible = laplacian_max_levels(height, width) if self.preset is None else laplacian_feasible_levels(height, width)
        if self.preset == "wu2012":
            p = EULERIAN_PRESETS["wu2012"]
            if skip_finest or skip_coarsest:
                raise ValueError("preset='wu2012' fixes the treatment of the finest and coarsest levels (zeroed); "
                                 "do not pass `skip_finest` / `skip_coarsest`")
            if luma_only:
                raise ValueError("preset='wu2012' works in YIQ with `chroma_attenuation` (their chromAttenuation); "
                                 "use chroma_attenuation=0 instead of luma_only")
            default_levels = wu_laplacian_levels(height, width)
            lambda_c = p["lambda_c"] if lambda_c is None else lambda_c
            chroma_attenuation = p["chroma_attenuation"] if chroma_attenuation is None else chroma_attenuation
        else:
            default_levels = laplacian_max_levels(height, width)
        if levels is None:
            levels = default_levels
        levels = check_nonneg_int(levels, "levels")
        if levels > feasible:
            raise ValueError(f"`levels` = {levels} is too many for {height}x{width} frames: at most {feasible}")
        self.levels = levels
        self.lambda_c = None if lambda_c is None else check_positive(lambda_c, "lambda_c")
        self.skip_finest = check_nonneg_int(skip_finest, "skip_finest")
        self.skip_coarsest = check_nonneg_int(skip_coarsest, "skip_coarsest")
        if chroma_attenuation is not None:
            chroma_attenuation = check_positive(chroma_attenuation, "chroma_attenuation", allow_zero=True)
        if not isinstance(luma_only, bool):
            raise ValueError(f"`luma_only` must be True or False, got {luma_only!r}")
        self.pyramid = LaplacianPyramid(levels)
        self.yiq = channels == 3 and (luma_only or chroma_attenuation is not None or self.preset == "wu2012")
        att = chroma_attenuation if chroma_attenuation is not None else (0.0 if luma_only else 1.0)
        self.channel_gain = (1.0, att, att) if self.yiq else None

    def alphas(self, alpha: float) -> list[float]:
        """The ``levels + 1`` per-level factors for ``alpha``, finest first."""
        if self.preset == "wu2012":
            return wu_level_alphas(alpha, self.height, self.width, self.lambda_c, self.levels)
        return level_alphas(alpha, self.levels, self.lambda_c, self.skip_finest, self.skip_coarsest)

    def to_space(self, x):
        return rgb_to_yiq(x) if self.yiq else x

    def from_space(self, x):
        return yiq_to_rgb(x) if self.yiq else x

    def __call__(self, d: torch.Tensor, alphas: list[float]) -> list[torch.Tensor]:
        """The magnified change for each α in ``alphas`` (the Gaussian pyramid of ``d`` is built once)."""
        gains = [self.alphas(a) for a in alphas]
        uniform = [all(v == g[0] for v in g) for g in gains]
        pyr = [g for g, u in zip(gains, uniform) if not u]
        pyr = iter(self.pyramid.weighted_many(d, pyr)) if pyr else iter(())  # one pyramid of d for all α
        out = []
        for g, u in zip(gains, uniform):
            m = d * g[0] if u else next(pyr)
            if self.channel_gain is not None:
                m = m * torch.tensor(self.channel_gain, dtype=d.dtype, device=d.device).view(3, 1, 1)
            out.append(m)
        return out


def magnify_eulerian(x: torch.Tensor, alpha, ref_index: list[int] | None = None, temporal=None,
                     chunk_size: int | None = None, **options):
    """Eulerian magnification of a batch ``x`` ``(B, T, C, H, W)``, float in [0, 1] (validated by the caller).

    ``alpha``: a float, or a list of floats (an α sweep: the change signal and its Gaussian pyramid are
    computed once, each α only re-weights and collapses) — then a list of outputs is returned.
    ``ref_index[t]`` is the reference frame of frame ``t`` (static: 0, dynamic: ``t − 1``), or pass
    ``temporal`` (a :class:`~merlib.magnify.temporal.TemporalBandpass`) for ``mode="temporal"``:
    the change signal is then the band-passed intensity, streamed in chunks of ``chunk_size``
    frames for the streamable filters. Options: see :data:`EULERIAN_OPTIONS` and the module docstring.
    Returns ``(B, T, C, H, W)`` unclamped (or a list of them); α follows merlib's convention.
    """
    single = not isinstance(alpha, (list, tuple))
    alphas = [float(alpha)] if single else [float(a) for a in alpha]
    b, t, c, h, w = x.shape
    weights = _EulerianWeights(c, h, w, **options)
    # everything below is linear in the frames, so the colour transform is applied to the change only:
    # out = x + from_space(M(to_space(D)))
    if temporal is None:
        # frames that are their own reference (static: frame 0; dynamic: frame 0) have no change: returned as is
        targets = [i for i in range(t) if ref_index[i] != i]
        if not targets:
            return x.clone() if single else [x.clone() for _ in alphas]
        tgt = slice(targets[0], targets[-1] + 1) if targets == list(range(targets[0], targets[-1] + 1)) else targets
        own = [i for i in range(t) if ref_index[i] == i]  # copied through
        rest = slice(own[0], own[-1] + 1) if own and own == list(range(own[0], own[-1] + 1)) else own
        refs = [ref_index[i] for i in targets]
        xt = x[:, tgt]
        # one reference for all targets (static mode): a broadcast view instead of a gathered copy
        xr = x[:, refs[0]:refs[0] + 1] if len(set(refs)) == 1 else x.index_select(1, torch.as_tensor(refs,
                                                                                                  device=x.device))
        outs = [torch.empty_like(x) for _ in alphas]
        for o, m in zip(outs, weights(weights.to_space(xt - xr), alphas)):
            if own:
                o[:, rest] = x[:, rest]
            if isinstance(tgt, slice):
                torch.add(xt, weights.from_space(m), out=o[:, tgt])
            else:
                o[:, tgt] = xt + weights.from_space(m)
    elif not temporal.streamable:
        outs = [x + weights.from_space(m) for m in weights(temporal(weights.to_space(x)), alphas)]
    else:
        chunk_size = 16 if chunk_size is None else chunk_size
        outs = [torch.empty_like(x) for _ in alphas]
        state: dict = {}
        for s in range(0, t, chunk_size):
            xc = x[:, s:s + chunk_size]
            d, state = temporal.step(weights.to_space(xc), state)
            for o, m in zip(outs, weights(d, alphas)):
                torch.add(xc, weights.from_space(m), out=o[:, s:s + chunk_size])
    return outs[0] if single else outs
