"""Phase-based motion magnification — Wadhwa, Rubinstein, Durand & Freeman 2013, "Phase-based video
motion processing" (SIGGRAPH); Bai et al. 2021's PMM.

A complex steerable pyramid (:class:`merlib.magnify.pyramids.SteerablePyramid`; Simoncelli &
Freeman 1995, Portilla & Simoncelli 2000) splits each frame into localized, oriented sinusoids
``S_{ω,θ}(x, t) = A·exp(i ω (x + δ(t)))``: motion ``δ`` appears as the phase ``ω δ``
(Fourier shift theorem). For each coefficient the phase change relative to the reference,
``Δφ = arg(c_t · conj(c_ref))`` (wrapped to (−π, π]), is multiplied by ``alpha`` and added
back: ``ĉ_t = c_t · exp(i · alpha · Δφ)``, which shows ``f(x + (1 + alpha)·δ)`` — merlib's α
convention (:mod:`merlib.magnify.convention`). High- and low-pass residuals pass through.

Options:

* ``sigma`` (px at each scale, default 0): amplitude-weighted Gaussian smoothing of ``Δφ``,
  ``(G_σ * (A·Δφ)) / (G_σ * A)`` with ``A = |c_t|`` (Wadhwa et al. Sec. 3.2).
* ``attenuate`` (default False): phase changes whose magnified value ``(1 + alpha)·Δφ``
  would exceed π (i.e. ``|Δφ| > π/(1 + alpha)``) are clipped to ±π instead of wrapping
  around, which avoids the ringing of wrapped phases (a continuous clip, no hard switch).
* ``levels``, ``orientations`` (default 4), ``bandwidth`` (``"octave"`` / ``"half_octave"``).
* ``luma_only``: magnify only Y of YIQ (as Wadhwa et al.'s code does), chroma passes through.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from merlib.magnify.eulerian import rgb_to_yiq, yiq_to_rgb
from merlib.magnify.pyramids import SteerablePyramid
from merlib.magnify.validation import check_positive

__all__ = ["magnify_phase", "phase_gain", "amplitude_weighted_blur", "get_pyramid", "PHASE_OPTIONS"]

PHASE_OPTIONS = ("levels", "orientations", "bandwidth", "sigma", "attenuate", "luma_only")


@functools.lru_cache(maxsize=16)
def _cached_pyramid(h, w, levels, orientations, bandwidth, device, dtype):
    return SteerablePyramid(h, w, levels, orientations, bandwidth, device=device, dtype=dtype)


def get_pyramid(height, width, levels=None, orientations=4, bandwidth="octave", device="cpu",
                dtype=torch.float32) -> SteerablePyramid:
    """A (cached) :class:`SteerablePyramid`; filters are built once per size, device and dtype."""
    return _cached_pyramid(int(height), int(width), levels, orientations, bandwidth, str(torch.device(device)), dtype)


def phase_gain(dphi: torch.Tensor, alpha: float, attenuate: bool = False) -> torch.Tensor:
    """Phase to add to each coefficient: ``alpha·Δφ``, or with ``attenuate`` ``clip((1+alpha)Δφ, ±π) − Δφ``."""
    if attenuate:
        return ((1.0 + alpha) * dphi).clamp(-math.pi, math.pi) - dphi
    return alpha * dphi


def _gaussian_kernel(sigma: float, size_limit: int, dtype, device) -> torch.Tensor:
    radius = min(int(math.ceil(3 * sigma)), max(0, (size_limit - 1) // 2))
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def amplitude_weighted_blur(phase: torch.Tensor, amplitude: torch.Tensor, sigma: float, eps: float = 1e-12) -> torch.Tensor:
    """``(G_σ * (A·φ)) / (G_σ * A)`` over the last two dims (circular padding; bands are periodic)."""
    if sigma <= 0:
        return phase
    lead, (h, w) = phase.shape[:-2], phase.shape[-2:]
    both = torch.stack([amplitude * phase, amplitude]).reshape(-1, 1, h, w)
    ky = _gaussian_kernel(sigma, h, phase.dtype, phase.device)
    kx = _gaussian_kernel(sigma, w, phase.dtype, phase.device)
    ry, rx = len(ky) // 2, len(kx) // 2
    both = F.conv2d(F.pad(both, (rx, rx, 0, 0), mode="circular"), kx.view(1, 1, 1, -1))
    both = F.conv2d(F.pad(both, (0, 0, ry, ry), mode="circular"), ky.view(1, 1, -1, 1))
    both = both.reshape(2, *lead, h, w)
    return both[0] / (both[1] + eps)


def _modify_band(pyr, out_spec, j, c, dphi, alpha, sigma, attenuate):
    if sigma > 0:
        dphi = amplitude_weighted_blur(dphi, c.abs(), sigma)
    add = phase_gain(dphi, alpha, attenuate) if attenuate else dphi.mul_(alpha)
    pyr.add_band(out_spec, j, torch.polar(torch.ones_like(add), add).mul_(c))


def _frames(index: list[int]):
    """A slice when ``index`` is a contiguous run (a view, no copy), else an index tensor."""
    if all(b == a + 1 for a, b in zip(index, index[1:])):
        return slice(index[0], index[-1] + 1)
    return index


def magnify_phase(x: torch.Tensor, alpha: float, ref_index: list[int] | None = None, temporal=None,
                  chunk_size: int = 16, levels=None, orientations: int = 4, bandwidth: str = "octave",
                  sigma: float = 0.0, attenuate: bool = False, luma_only: bool = False) -> torch.Tensor:
    """Phase-based magnification of a batch ``x`` ``(B, T, C, H, W)``, float in [0, 1] (validated by the caller).

    ``ref_index[t]``: reference frame of frame ``t`` (static: 0, dynamic: ``t − 1``); frames that are
    their own reference are returned unchanged. With ``temporal`` (a
    :class:`~merlib.magnify.temporal.TemporalBandpass`) the phase change relative to frame 0 is
    band-passed in time, streamed in chunks of ``chunk_size`` frames (O(filter order) state per
    coefficient) unless the filter is ``ideal``. Returns ``(B, T, C, H, W)`` unclamped.
    """
    sigma = check_positive(sigma, "sigma", allow_zero=True)
    if not isinstance(attenuate, bool):
        raise ValueError(f"`attenuate` must be True or False, got {attenuate!r}")
    if not isinstance(luma_only, bool):
        raise ValueError(f"`luma_only` must be True or False, got {luma_only!r}")
    b, t, c, h, w = x.shape
    if bandwidth not in ("octave", "half_octave"):
        raise ValueError(f"`bandwidth` must be 'octave' or 'half_octave', got {bandwidth!r}")
    pyr = get_pyramid(h, w, levels, orientations, bandwidth, x.device, x.dtype)
    yiq = luma_only and c == 3
    space = rgb_to_yiq(x) if yiq else x
    planes = space[:, :, :1] if yiq else space  # (B, T, P, H, W)

    if temporal is None:
        out_planes = _static(pyr, planes, ref_index, alpha, sigma, attenuate)
    else:
        out_planes = _temporal(pyr, planes, temporal, chunk_size, alpha, sigma, attenuate)
    if yiq:
        return yiq_to_rgb(torch.cat([out_planes, space[:, :, 1:]], dim=2))
    return out_planes


def _static(pyr, planes, ref_index, alpha, sigma, attenuate):
    t = planes.shape[1]
    targets = [i for i in range(t) if ref_index[i] != i]
    out = planes.clone()
    if not targets:
        return out
    needed = sorted(set(targets) | {ref_index[i] for i in targets})
    pos = {f: k for k, f in enumerate(needed)}
    tgt = _frames([pos[i] for i in targets])
    refs = [pos[ref_index[i]] for i in targets]
    ref = slice(refs[0], refs[0] + 1) if len(set(refs)) == 1 else _frames(refs)  # static: one frame, broadcast
    spec = pyr.spectrum(planes[:, needed])
    out_spec = spec[:, tgt] * pyr.residual_cmask
    for j in range(pyr.n_bands):
        coeffs = pyr.band(spec, j)
        ct, cr = coeffs[:, tgt], coeffs[:, ref]
        dphi = torch.angle(ct * cr.conj())
        _modify_band(pyr, out_spec, j, ct, dphi, alpha, sigma, attenuate)
    out[:, targets] = pyr.to_image(out_spec)
    return out


def _temporal(pyr, planes, temporal, chunk_size, alpha, sigma, attenuate):
    t = planes.shape[1]
    out = torch.empty_like(planes)
    step = chunk_size if temporal.streamable else t
    spec0 = pyr.spectrum(planes[:, :1])
    ref_conj = [pyr.band(spec0, j).conj() for j in range(pyr.n_bands)]
    states = [dict() for _ in range(pyr.n_bands)]
    for s in range(0, t, step):
        spec = pyr.spectrum(planes[:, s:s + step])
        out_spec = spec * pyr.residual_cmask
        for j in range(pyr.n_bands):
            coeffs = pyr.band(spec, j)
            dphi = torch.angle(coeffs * ref_conj[j])
            if temporal.streamable:
                dphi, states[j] = temporal.step(dphi, states[j])
            else:
                dphi = temporal(dphi)
            _modify_band(pyr, out_spec, j, coeffs, dphi, alpha, sigma, attenuate)
        out[:, s:s + step] = pyr.to_image(out_spec)
    return out
