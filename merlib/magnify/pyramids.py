"""Image pyramids in torch: a Laplacian pyramid and a complex steerable pyramid.

Both work on batches of planes ``(..., H, W)`` (any leading dims), float32 or float64, on
CPU or CUDA, for even and odd sizes.

* :class:`LaplacianPyramid` — Burt & Adelson 1983 with the 5-tap binomial filter
  ``[1, 4, 6, 4, 1] / 16`` and reflect padding (what Wu et al. 2012 and pyrtools use).
  Reconstruction is exact by construction (each level stores ``G_l − up(G_{l+1})``).
* :class:`SteerablePyramid` — the complex steerable pyramid of Simoncelli & Freeman 1995
  and Portilla & Simoncelli 2000, built in the Fourier domain as in Wadhwa et al. 2013
  ("Phase-based video motion processing"): every band is a full-resolution filter whose
  spectrum is cropped to its support before the inverse FFT, so coarse bands are small
  (octave: ~4/3·K·HW complex coefficients in all; half-octave: about twice that).
  We write it ourselves rather than wrap plenoptic's ``SteerablePyramidFreq`` because the
  magnifier needs the cropped, batched form with half-octave bands and exact
  reconstruction for odd sizes; ``benchmarks/magnify.py`` compares the two.

Filter design (all radii in units where the Nyquist frequency is 1):

* low-pass masks ``L_j(r)`` fall from 1 at ``r_j·2^(−tw)`` to 0 at ``r_j`` with a raised
  cosine in ``log2 r``; ``r_j = 2^(−j/s)``, ``s = 1`` (octave, ``tw = 1``) or ``s = 2``
  (half-octave, ``tw = 0.75`` as in Wadhwa et al.'s code);
* high-pass residual ``H_0 = sqrt(1 − L_0²)`` (holds everything at and beyond Nyquist),
  band ``j``: ``B_j = sqrt(L_j² − L_{j+1}²)``, low-pass residual ``L_n``, so that
  ``H_0² + Σ_j B_j² + L_n² = 1`` exactly (a telescoping sum);
* orientation ``k`` of ``K``: ``A_k(θ) = a_K cos(θ − πk/K)^(K−1)`` on one half-plane
  (complex, analytic bands), with ``a_K² = 4^(K−1) / (K·C(2K−2, K−1))`` so that
  ``Σ_k A_k(θ)² + A_k(θ+π)² = 1``.

Reconstruction: ``X = H_0²X + L_n²X + 2·Σ_{j,k} B_j A_k · FFT(c_jk)`` and the real part of
its inverse FFT (the factor 2 restores the missing conjugate half-plane).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["LaplacianPyramid", "SteerablePyramid", "laplacian_max_levels", "laplacian_feasible_levels",
           "steerable_max_levels", "laplacian_wavelengths", "wu_laplacian_levels", "wu_level_wavelengths",
           "BANDWIDTHS", "RADIAL_FORMS", "CROPS", "fast_fft_size"]

_BINOMIAL5 = (1.0, 4.0, 6.0, 4.0, 1.0)


def laplacian_max_levels(height: int, width: int) -> int:
    """merlib's default number of band-pass levels of a Laplacian pyramid: ``floor(log2 min(H, W)) − 2``
    (a low-pass residual of >= 4 px)."""
    return max(0, int(math.floor(math.log2(max(1, min(height, width))))) - 2)


def laplacian_feasible_levels(height: int, width: int) -> int:
    """The most band-pass levels :class:`LaplacianPyramid` can build: every level that is blurred and
    subsampled must be >= 3 px on both sides (5-tap filter, reflect padding)."""
    n, s = 0, min(height, width)
    while s >= 3:
        n, s = n + 1, (s + 1) // 2
    return max(n, laplacian_max_levels(height, width))


def wu_laplacian_levels(height: int, width: int) -> int:
    """Band-pass levels of Wu et al.'s ``buildLpyr(im, 'auto')`` (matlabPyrTools): ``maxPyrHt(size, 5)``,
    the number of times both sides stay >= 5 px (the binomial filter's length) when halved (floor);
    their pyramid has this many band-pass levels plus the low-pass residual."""
    n, h, w = 0, int(height), int(width)
    while h >= 5 and w >= 5:
        n, h, w = n + 1, h // 2, w // 2
    return n


def steerable_max_levels(height: int, width: int) -> int:
    """Most octaves a steerable pyramid can have so that its coarsest band still spans >= 2 wavelengths
    (``floor(log2 min(H, W)) − 2``; Wadhwa et al.'s ``maxSCFpyrHt``)."""
    return max(0, int(math.floor(math.log2(max(1, min(height, width))))) - 2)


def laplacian_wavelengths(levels: int) -> list[float]:
    """merlib's representative spatial wavelength (px) of each Laplacian level ``0..levels`` (the last is the
    low-pass residual). Level ``l`` holds wavelengths of about ``2^(l+1)`` to ``2^(l+2)`` px; we use the
    geometric centre ``2^(l+1.5)`` (merlib's choice: it depends on the level only; Wu et al.'s code instead
    ties it to the frame size, see :func:`wu_level_wavelengths`)."""
    return [2.0 ** (l + 1.5) for l in range(levels + 1)]


def wu_level_wavelengths(height: int, width: int, levels: int) -> list[float]:
    """Wu et al.'s representative wavelength of each level ``0..levels`` (finest first): the coarsest entry
    (the low-pass residual) gets ``sqrt(H² + W²) / 3`` ("3 is experimental constant") and each finer level
    half of the next coarser one (``amplify_spatial_lpyr_temporal_*.m``)."""
    top = math.sqrt(height**2 + width**2) / 3.0
    return [top / 2.0 ** (levels - l) for l in range(levels + 1)]


_TAPS = tuple(v / sum(_BINOMIAL5) for v in _BINOMIAL5)  # [1, 4, 6, 4, 1] / 16


def _sep_conv(x: torch.Tensor, taps: tuple, stride: int = 1) -> torch.Tensor:
    """Separable 5-tap filtering of ``x`` (N, 1, H, W) with reflect padding, then subsampling by ``stride``.

    Written as five shifted, weighted slices per axis rather than ``conv2d``: for a 5-tap
    filter on one channel this is several times faster on CPU (no im2col / oneDNN set-up).
    """
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    h, w = x.shape[-2] - 4, x.shape[-1] - 4
    ow = (w - 1) // stride + 1
    oh = (h - 1) // stride + 1
    span_w, span_h = (ow - 1) * stride + 1, (oh - 1) * stride + 1
    y = x[..., :, 0:span_w:stride] * taps[0]
    for i in range(1, 5):
        y = y.add_(x[..., :, i:i + span_w:stride], alpha=taps[i])
    out = y[..., 0:span_h:stride, :] * taps[0]
    for i in range(1, 5):
        out = out.add_(y[..., i:i + span_h:stride, :], alpha=taps[i])
    return out


def _up_axis(x: torch.Tensor, n_out: int, dim: int) -> torch.Tensor:
    """Polyphase form of "zero-insert to ``n_out`` samples, reflect-pad, filter with ``[1, 4, 6, 4, 1]/8``"
    along ``dim``: even outputs ``(x[i-1] + 6x[i] + x[i+1])/8``, odd outputs ``(x[i] + x[i+1])/2``, with
    the zero-inserted signal's reflect padding rewritten on ``x`` (left ``x[-1] = x[1]``; right
    ``x[m] = x[m-1]`` for even ``n_out``, ``x[m-2]`` for odd). Same numbers as the direct form, ~4x fewer
    operations (no multiplications by the inserted zeros)."""
    m = x.shape[dim]
    right = x.narrow(dim, m - 1 if n_out == 2 * m else m - 2, 1)
    xp = torch.cat([x.narrow(dim, 1, 1), x, right], dim=dim)
    a, b, c = xp.narrow(dim, 0, m), xp.narrow(dim, 1, m), xp.narrow(dim, 2, m)
    even = (a + c).add_(b, alpha=6.0).mul_(0.125)
    odd = (b + c).mul_(0.5)
    out = torch.stack([even, odd], dim=dim + 1 if dim >= 0 else dim)
    shape = list(x.shape)
    shape[dim] = 2 * m
    return out.reshape(shape).narrow(dim, 0, n_out)


#: Planes up to this size on both sides are blurred/resampled as two small matrix products (``D_H · X · D_Wᵀ``)
#: instead of the shifted-slice form: one BLAS call per axis instead of ~6 torch ops, 2-4x faster at
#: 64²-128² on one thread and slower above (dense ``n × n/2`` matrices), see ``benchmarks/magnify.py``.
MATMUL_MAX_SIZE = 128


def _reflect(i: int, n: int) -> int:
    return -i if i < 0 else (2 * (n - 1) - i if i >= n else i)


@functools.lru_cache(maxsize=64)
def _down_matrix(n: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """``(ceil(n/2), n)``: reflect-pad, 5-tap binomial, keep every second sample — :func:`_sep_conv` on one axis."""
    m = (n - 1) // 2 + 1
    d = torch.zeros(m, n, dtype=torch.float64)
    for i in range(m):
        for k, tap in enumerate(_TAPS):
            d[i, _reflect(2 * i + k - 2, n)] += tap
    return d.to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=64)
def _up_matrix(m: int, n_out: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """``(n_out, m)``: :func:`_up_axis` on one axis, as a matrix (applied to the identity)."""
    return _up_axis(torch.eye(m, dtype=torch.float64), n_out, 0).to(device=device, dtype=dtype)


def _use_matmul(*sizes: int) -> bool:
    return max(sizes) <= MATMUL_MAX_SIZE


class LaplacianPyramid:
    """Laplacian pyramid of ``levels`` band-pass levels plus a low-pass residual.

    ``decompose(x)`` with ``x`` of shape ``(..., H, W)`` returns a list of ``levels + 1``
    tensors ``(..., H_l, W_l)`` with ``H_l = ceil(H / 2^l)``; ``reconstruct`` inverts it exactly.
    Reflect padding needs ``H, W >= 3`` at every level that is subsampled, i.e.
    ``levels <= laplacian_feasible_levels(H, W)``. Same filters and edges as matlabPyrTools'
    ``buildLpyr`` (binom5, ``reflect1``) up to a per-level scale that cancels in the reconstruction.
    """

    def __init__(self, levels: int):
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 0:
            raise ValueError(f"`levels` must be an integer >= 0, got {levels!r}")
        self.levels = levels

    @staticmethod
    def down(x: torch.Tensor) -> torch.Tensor:
        """Blur and subsample by 2: ``(N, 1, H, W) -> (N, 1, ceil(H/2), ceil(W/2))``."""
        h, w = x.shape[-2:]
        if _use_matmul(h, w) and x.dtype in (torch.float32, torch.float64) and h >= 3 and w >= 3:
            dev = str(x.device)
            return torch.matmul(torch.matmul(_down_matrix(h, x.dtype, dev), x), _down_matrix(w, x.dtype, dev).mT)
        return _sep_conv(x, _TAPS, stride=2)

    @staticmethod
    def up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Zero-insert to ``size`` and interpolate with ``2 × [1, 4, 6, 4, 1] / 16`` per axis (polyphase)."""
        (m, n), (h, w) = x.shape[-2:], (int(size[0]), int(size[1]))
        if _use_matmul(h, w) and x.dtype in (torch.float32, torch.float64) and m >= 2 and n >= 2:
            dev = str(x.device)
            return torch.matmul(torch.matmul(_up_matrix(m, h, x.dtype, dev), x), _up_matrix(n, w, x.dtype, dev).mT)
        return _up_axis(_up_axis(x, w, -1), h, -2)

    def _check(self, h: int, w: int) -> None:
        if self.levels > 0 and self.levels > laplacian_feasible_levels(h, w):
            raise ValueError(f"`levels` = {self.levels} is too many for {h}x{w} frames "
                             f"(at most {laplacian_feasible_levels(h, w)})")

    def gaussian(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The Gaussian pyramid ``G_0 = x, G_{l+1} = down(G_l)`` as ``(N, 1, H_l, W_l)`` tensors."""
        h, w = x.shape[-2:]
        self._check(h, w)
        g = [x.reshape(-1, 1, h, w)]
        for _ in range(self.levels):
            g.append(self.down(g[-1]))
        return g

    def decompose(self, x: torch.Tensor) -> list[torch.Tensor]:
        lead = x.shape[:-2]
        g = self.gaussian(x)
        pyr = [g[l] - self.up(g[l + 1], g[l].shape[-2:]) for l in range(self.levels)] + [g[-1]]
        return [p.reshape(*lead, *p.shape[-2:]) for p in pyr]

    def reconstruct(self, pyr: list[torch.Tensor]) -> torch.Tensor:
        lead = pyr[0].shape[:-2]
        g = pyr[-1].reshape(-1, 1, *pyr[-1].shape[-2:])
        for band in reversed(pyr[:-1]):
            b = band.reshape(-1, 1, *band.shape[-2:])
            g = b + self.up(g, b.shape[-2:])
        return g.reshape(*lead, *g.shape[-2:])

    def weighted_from_gaussian(self, g: list[torch.Tensor], weights) -> torch.Tensor:
        """``reconstruct([w_l · L_l])`` from the Gaussian pyramid ``g`` (:meth:`gaussian`), without forming the
        Laplacian levels: ``R_n = w_n G_n``, ``R_l = w_l G_l + up(R_{l+1} − w_l G_{l+1})`` (the up-sampling is
        linear). ``levels`` up-samplings instead of the ``2·levels`` of decompose + reconstruct. Returns
        ``(N, 1, H, W)``."""
        if len(weights) != self.levels + 1:
            raise ValueError(f"need {self.levels + 1} weights (levels + residual), got {len(weights)}")
        r = g[-1] * float(weights[-1]) if weights[-1] != 0 else torch.zeros_like(g[-1])
        for l in range(self.levels - 1, -1, -1):
            wl = float(weights[l])
            if wl != 0:
                r = r.sub(g[l + 1], alpha=wl)
            r = self.up(r, g[l].shape[-2:])
            if wl != 0:
                r = r.add_(g[l], alpha=wl)
        return r

    def weighted(self, x: torch.Tensor, weights) -> torch.Tensor:
        """``reconstruct([w_l · L_l for L_l in decompose(x)])``, computed as :meth:`weighted_many`."""
        return self.weighted_many(x, [weights])[0]

    def weighted_many(self, x: torch.Tensor, weight_sets) -> list[torch.Tensor]:
        """:meth:`weighted` of ``x (..., H, W)`` for each list of ``levels + 1`` weights in ``weight_sets``.

        Same numbers as :meth:`weighted_from_gaussian` (to float rounding), with the Gaussian pyramid built once
        for all weight sets and only as deep as needed: with ``n`` the coarsest level whose weight differs from
        the next finer one's (in any set), every level from ``n`` up has the weight ``w_n``, their collapse is
        ``w_n G_n``, and the pyramid stops at ``G_n`` (e.g. a ``lambda_c`` cap that gives every level from the
        third one up the full α leaves 3 of 6-8 levels to build). Per set, the collapse
        ``R_n = w_n G_n``, ``R_l = w_l G_l + up(R_{l+1} − w_l G_{l+1})`` runs from there.
        Returns tensors shaped like ``x``."""
        weight_sets = [[float(v) for v in ws] for ws in weight_sets]
        for ws in weight_sets:
            if len(ws) != self.levels + 1:
                raise ValueError(f"need {self.levels + 1} weights (levels + residual), got {len(ws)}")
        lead, (h, w) = x.shape[:-2], x.shape[-2:]
        self._check(h, w)
        n = max((l for ws in weight_sets for l in range(1, self.levels + 1) if ws[l] != ws[l - 1]), default=0)
        g = [x.reshape(-1, 1, h, w)]
        for _ in range(n):
            g.append(self.down(g[-1]))
        outs = []
        for ws in weight_sets:
            r = g[n] * ws[n]
            for l in range(n - 1, -1, -1):
                wl = ws[l]
                if wl != 0:
                    r = r.sub(g[l + 1], alpha=wl)
                r = self.up(r, g[l].shape[-2:])
                if wl != 0:
                    r = r.add_(g[l], alpha=wl)
            outs.append(r.reshape(*lead, h, w))
        return outs


def _log_raised_cosine_lowpass(rad: torch.Tensor, r_edge: float, twidth: float) -> torch.Tensor:
    """1 below ``r_edge·2^(−twidth)``, 0 above ``r_edge``, raised cosine in log2(r) between
    (Wadhwa et al.'s ``lomask`` of ``getRadialMaskPair``)."""
    with torch.no_grad():
        logr = torch.log2(rad.clamp_min(1e-30))
        t = ((logr - math.log2(r_edge) + twidth) / twidth).clamp(0.0, 1.0)
        return torch.cos(0.5 * math.pi * t)


#: Spatial bandwidths: octave and half-octave (raised-cosine radial masks, Wadhwa et al.'s ``getFilters``),
#: and the smooth-window pyramids of their ``getFiltersSmoothWindow`` (2 or 4 filters per octave, cos^6 windows).
BANDWIDTHS = ("octave", "half_octave", "smooth_half_octave", "quarter_octave")
#: Radial band masks for octave/half-octave: ``"telescoping"`` (merlib: ``B_j = sqrt(L_j² − L_{j+1}²)``, an exact
#: tight frame) or ``"wadhwa2013"`` (their ``getFilters``: ``B_j = L_j·sqrt(1 − L_{j+1}²)``; identical for octave
#: bands, whose transitions do not overlap, but not a tight frame for half-octave bands).
RADIAL_FORMS = ("telescoping", "wadhwa2013")
_SMOOTH_PER_OCTAVE = {"smooth_half_octave": 2, "quarter_octave": 4}
#: How a band's spectrum is cropped before its inverse FFT: ``"fast"`` (default since merlib 0.3: the smallest
#: 2·3·5-smooth size that holds every non-zero of the band, e.g. 128 for the second octave band of a 256² frame,
#: as plenoptic's halving) or ``"margin"`` (merlib <= 0.2: a symmetric odd crop ``2·(k_max + 1) + 1`` with one
#: sample of margin — 131 there, a prime, whose FFT costs ~6x the 128-point one). Both hold the whole band, so
#: unmodified coefficients reconstruct exactly either way; the crop is the sampling grid of the pointwise phase
#: processing, so magnified outputs differ at the level of that resampling (~50-60 dB PSNR between them).
CROPS = ("fast", "margin")


def fast_fft_size(n: int) -> int:
    """The smallest integer ``>= n`` whose only prime factors are 2, 3 and 5 (a fast pocketfft / cuFFT size)."""
    m = max(1, int(n))
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def _smooth_window_filters(rad: torch.Tensor, fy: torch.Tensor, fx: torch.Tensor, height: int, width: int,
                           ht: int, per_octave: int, cos_order: int = 6):
    """Radial filters, low-pass and high-pass residuals of Wadhwa et al.'s ``getFiltersSmoothWindow.m``
    (natural FFT layout; ``rad`` has its DC value replaced by the neighbour's, as ``getPolarGrid``)."""
    u = (ht + torch.log2(rad)) / ht * (math.pi / 2 + math.pi / 7 * per_octave * ht)
    const = 2.0 ** (2 * cos_order) * math.factorial(cos_order) ** 2 / ((cos_order + 1) * math.factorial(2 * cos_order))
    radial, total = [], torch.zeros_like(rad)
    for k in range(per_octave * ht, 0, -1):  # finest first
        d = u - (math.pi / (cos_order + 1) * k + 2 * math.pi / 7)
        f = math.sqrt(const) * torch.cos(d) ** cos_order * (d.abs() < math.pi / 2)
        radial.append(f)
        total = total + f**2
    # low-pass residual inside a central box of half-size lodims (index units), as their code
    ky = torch.fft.fftfreq(height, dtype=torch.float64) * height
    kx = torch.fft.fftfreq(width, dtype=torch.float64) * width
    ly = math.ceil((math.ceil((height + 0.5) / 2) + 0.5) / 4)
    lx = math.ceil((math.ceil((width + 0.5) / 2) + 0.5) / 4)
    box = (ky.abs()[:, None] <= ly) & (kx.abs()[None, :] <= lx)
    lo = torch.sqrt((1.0 - total).abs()) * box
    hi = torch.sqrt((1.0 - total - lo**2).abs())
    for n, axis in ((height, 0), (width, 1)):
        if n % 2 == 0:  # the Nyquist row/column: all high-pass ("this fixes some errors")
            idx = n // 2
            sl = (idx, slice(None)) if axis == 0 else (slice(None), idx)
            for f in radial:
                f[sl] = 0.0
            hi[sl] = 1.0
            lo[sl] = 0.0
    return radial, lo, hi


@dataclass
class _Band:
    filters: torch.Tensor  # (K, h, w) real, cropped to the band's support (natural FFT layout)
    cfilters: torch.Tensor  # the same as complex (saves a real->complex promotion per call)
    rows: torch.Tensor | None  # indices into the full spectrum's rows (None: all)
    cols: torch.Tensor | None
    # gathers from / scatters into the half (rfft2) spectrum
    rows_all: torch.Tensor = None  # rows as an index tensor (all rows when ``rows`` is None)
    rows_mirror: torch.Tensor = None  # (−rows) mod H
    n_direct: int = 0  # leading crop columns with frequency 0..W//2 (read directly from the rfft2 half)
    cols_mirror: torch.Tensor = None  # for the other crop columns c: W − c (read as conj at −row)
    crop_mirror_rows: torch.Tensor = None  # (−i) mod h_j: index of the mirrored frequency inside the crop
    crop_mirror_cols: torch.Tensor = None  # (−i) mod w_j, first n_direct entries
    row_blocks: tuple = ()  # ((crop_start, crop_stop, full_start), ...) contiguous row runs
    # flat gathers/scatters on the real views (…, H·(W//2+1)·2) / (…, h·w·2), see SteerablePyramid._band
    gather: torch.Tensor = None  # crop (re, im) <- half spectrum (re, im)
    sfilters: torch.Tensor = None  # (K, h, w, 2): filter × (1, ±1) (the sign conjugates mirrored reads)
    sfilters_conj: torch.Tensor = None  # sfilters × (1, −1), built on first use (SteerablePyramid.band(conj=True))
    scatter_src: torch.Tensor = None  # crop (re, im) entries that reach the half spectrum
    scatter_sign: torch.Tensor = None  # +1, or −1 for the imaginary part of a conjugated (mirrored) entry
    scatter_dst: torch.Tensor = None  # their half-spectrum (re, im) positions


def _complex(dtype):
    return torch.complex128 if dtype == torch.float64 else torch.complex64


class SteerablePyramid:
    """Complex steerable pyramid for ``H × W`` planes (see the module docstring for the design).

    Args:
        height, width: frame size the filters are built for (any size >= 8, even or odd).
        levels: number of octaves (default :func:`steerable_max_levels`).
        orientations: K >= 1 orientations per scale.
        bandwidth: one of :data:`BANDWIDTHS` — ``"octave"`` (1 band per octave), ``"half_octave"``
            (2 per octave, transition width 0.75 octave as Wadhwa et al.'s code), or Wadhwa et al.'s
            smooth-window ``"smooth_half_octave"`` / ``"quarter_octave"`` (2 / 4 cos^6 bands per octave).
        radial: one of :data:`RADIAL_FORMS` (octave/half-octave only).
        device, dtype: of the real filters (float32 or float64).
        crop: one of :data:`CROPS` — the size of each band's cropped spectrum (``"fast"``: FFT-friendly).

    The spectra it works on are the **half** spectra of real planes (``torch.fft.rfft2``, ``(…, H, W//2+1)``):
    :meth:`band` reads the negative-frequency columns of a band's support as conjugates, and
    :meth:`add_band` accumulates the Hermitian part of each band's contribution, so the output is
    ``irfft2`` of a half spectrum — half the work of a complex ``fft2``/``ifft2`` pair.

    Attributes:
        n_bands: number of band-pass scales.
        band_shapes: the ``(h_j, w_j)`` of each scale's (cropped) complex coefficients.
    """

    def __init__(self, height: int, width: int, levels: int | None = None, orientations: int = 4,
                 bandwidth: str = "octave", device=None, dtype=torch.float32, radial: str = "telescoping",
                 crop: str = "fast"):
        max_levels = steerable_max_levels(height, width)
        if levels is None:
            levels = max_levels
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ValueError(f"`levels` must be an integer >= 1, got {levels!r}")
        if levels > max_levels:
            raise ValueError(f"`levels` = {levels} is too many for {height}x{width} frames: at most {max_levels} "
                             f"(min(H, W) must be >= 2^(levels+2) = {2 ** (levels + 2)})")
        if isinstance(orientations, bool) or not isinstance(orientations, int) or not 1 <= orientations <= 16:
            raise ValueError(f"`orientations` must be an integer in [1, 16], got {orientations!r}")
        if bandwidth not in BANDWIDTHS:
            raise ValueError(f"`bandwidth` must be one of {BANDWIDTHS}, got {bandwidth!r}")
        if radial not in RADIAL_FORMS:
            raise ValueError(f"`radial` must be one of {RADIAL_FORMS}, got {radial!r}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"`dtype` must be torch.float32 or torch.float64, got {dtype}")
        if crop not in CROPS:
            raise ValueError(f"`crop` must be one of {CROPS}, got {crop!r}")
        self.crop = crop
        self.height, self.width, self.levels = int(height), int(width), levels
        self.orientations, self.bandwidth, self.radial = orientations, bandwidth, radial
        self.device, self.dtype = torch.device(device) if device is not None else torch.device("cpu"), dtype

        f64 = torch.float64
        fy = torch.fft.fftfreq(self.height, dtype=f64) * 2.0  # natural FFT layout
        fx = torch.fft.fftfreq(self.width, dtype=f64) * 2.0
        yy, xx = torch.meshgrid(fy, fx, indexing="ij")
        rad = torch.sqrt(yy**2 + xx**2)
        theta = torch.atan2(yy, xx)
        if bandwidth in _SMOOTH_PER_OCTAVE:
            per_octave = _SMOOTH_PER_OCTAVE[bandwidth]
            rad_dc = rad.clone()
            rad_dc[0, 0] = rad[0, 1] if self.width > 1 else rad[1, 0]  # getPolarGrid: no log(0)
            radials, lo, hi0 = _smooth_window_filters(rad_dc, fy, fx, self.height, self.width, levels, per_octave)
            self.radii = None
        else:
            per_octave, twidth = (1, 1.0) if bandwidth == "octave" else (2, 0.75)
            self.radii = [2.0 ** (-j / per_octave) for j in range(levels * per_octave + 1)]
            lows = [_log_raised_cosine_lowpass(rad, r, twidth) for r in self.radii]
            hi0 = torch.sqrt((1.0 - lows[0] ** 2).clamp_min(0.0))
            lo = lows[-1]
            if radial == "telescoping":
                radials = [torch.sqrt((lows[j] ** 2 - lows[j + 1] ** 2).clamp_min(0.0)) for j in range(len(lows) - 1)]
            else:
                radials = [lows[j] * torch.sqrt((1.0 - lows[j + 1] ** 2).clamp_min(0.0)) for j in range(len(lows) - 1)]
        self.n_bands = len(radials)
        K = orientations
        a_k = math.sqrt(4.0 ** (K - 1) / (K * math.comb(2 * K - 2, K - 1)))
        angles = []
        for k in range(K):
            d = torch.remainder(theta - math.pi * k / K + math.pi, 2 * math.pi) - math.pi
            half = (d > -math.pi / 2) & (d <= math.pi / 2)
            angles.append(a_k * torch.cos(d).clamp_min(0.0) ** (K - 1) * half)
        angles = torch.stack(angles)  # (K, H, W)
        # Work in the natural (unshifted) FFT layout: a band's support |f| <= r_j is the index set
        # {0..h} U {N-h..N-1}, which, taken in that order, is exactly the natural layout of a
        # (2h+1)-point grid. Gathering those rows/cols crops (and downsamples) without any fftshift.
        self.bands: list[_Band] = []
        for j in range(self.n_bands):
            radial_j = radials[j]
            if self.radii is not None and crop == "fast":
                rows = self._fast_support(self.radii[j], self.height)
                cols = self._fast_support(self.radii[j], self.width)
            elif self.radii is not None:
                rows = self._support(self.radii[j], self.height)
                cols = self._support(self.radii[j], self.width)
            else:
                rows, cols = self._support_of(radial_j)
            filt = radial_j[None] * angles
            if rows is not None:
                filt = filt[:, rows]
            if cols is not None:
                filt = filt[:, :, cols]
            filt = filt.to(device=self.device, dtype=dtype).contiguous()
            self.bands.append(self._band(filt, rows, cols))
        self.residual_mask = (hi0**2 + lo**2).to(device=self.device, dtype=dtype)  # what passes through
        self.residual_cmask = self.residual_mask.to(_complex(dtype))
        self.hi0 = hi0.to(device=self.device, dtype=dtype)
        self.lo = lo.to(device=self.device, dtype=dtype)
        half = self.width // 2 + 1
        self.hi0_half = self.hi0[:, :half].contiguous()
        self.lo_half = self.lo[:, :half].contiguous()
        self.band_shapes = [tuple(b.filters.shape[-2:]) for b in self.bands]

    def residual_half(self, highpass: bool = True) -> torch.Tensor:
        """Half-spectrum mask of what passes untouched: ``L_n²`` (+ ``H_0²`` when ``highpass``); built once per
        pyramid and flag (shared: do not modify it in place)."""
        cache = self.__dict__.setdefault("_residual_half", {})
        m = cache.get(bool(highpass))
        if m is None:
            m = self.lo_half**2
            if highpass:
                m = m + self.hi0_half**2
            cache[bool(highpass)] = m
        return m

    def _band(self, filt, rows, cols) -> _Band:
        dev = self.device
        h, w = self.height, self.width
        rows_all = rows if rows is not None else torch.arange(h)
        cols_all = cols if cols is not None else torch.arange(w)
        nd = int((cols_all <= w // 2).long().cumprod(0).sum())  # leading run of columns 0..W//2
        n_r, n_c = len(rows_all), len(cols_all)
        blocks, start = [], 0
        for i in range(1, n_r + 1):  # contiguous runs of full-spectrum rows
            if i == n_r or rows_all[i] != rows_all[i - 1] + 1:
                blocks.append((start, i, int(rows_all[start])))
                start = i
        # One flat gather reads the band's crop of the full spectrum from the half spectrum: columns with
        # frequency 0..W//2 directly, the others as conj(X(−ω)) (the sign of the imaginary part is folded
        # into ``sfilters``). One flat scatter-add writes the Hermitian part C(ω) + conj(C(−ω)) of a band's
        # contribution C into the half spectrum: C(q) at q for crop positions q in the half plane, conj(C(q))
        # at −q for those whose mirror −q is in it.
        wh = w // 2 + 1
        ri = rows_all.view(-1, 1).expand(n_r, n_c)
        ci = cols_all.view(1, -1).expand(n_r, n_c)
        direct = ci <= w // 2
        src_r = torch.where(direct, ri, (-ri) % h)
        src_c = torch.where(direct, ci, (-ci) % w)
        flat = (src_r * wh + src_c).reshape(-1)
        gather = torch.stack([2 * flat, 2 * flat + 1], -1).reshape(-1)
        sign = torch.stack([torch.ones(n_r, n_c), torch.where(direct, 1.0, -1.0)], -1).to(torch.float64)
        # the inverse FFT's 1/(h·w) is folded into the filters (``ifft2(·, norm="forward")`` then skips that pass)
        sfilt = (filt.to(torch.float64)[..., None] * sign / (n_r * n_c)).to(dtype=self.dtype)
        pos = torch.arange(n_r * n_c).view(n_r, n_c)
        mc = (-ci) % w
        mirror_in = mc <= w // 2
        src = torch.cat([pos[direct], pos[mirror_in]])
        dst = torch.cat([(ri * wh + ci)[direct], (((-ri) % h) * wh + mc)[mirror_in]])
        neg = torch.cat([torch.ones(int(direct.sum())), -torch.ones(int(mirror_in.sum()))])
        return _Band(
            filt, filt.to(_complex(self.dtype)), None if rows is None else rows.to(dev),
            None if cols is None else cols.to(dev),
            rows_all=rows_all.to(dev), rows_mirror=((-rows_all) % h).to(dev), n_direct=nd,
            cols_mirror=(w - cols_all[nd:]).to(dev),
            crop_mirror_rows=((-torch.arange(n_r)) % n_r).to(dev),
            crop_mirror_cols=((-torch.arange(n_c)) % n_c)[:nd].to(dev), row_blocks=tuple(blocks),
            gather=gather.to(dev), sfilters=sfilt.to(dev).contiguous(),
            scatter_src=torch.stack([2 * src, 2 * src + 1], -1).reshape(-1).to(dev),
            scatter_sign=torch.stack([torch.ones_like(neg), neg], -1).reshape(-1).to(device=dev, dtype=self.dtype),
            scatter_dst=torch.stack([2 * dst, 2 * dst + 1], -1).reshape(-1).to(dev))

    @staticmethod
    def _support(radius: float, n: int):
        """Natural-layout indices of all frequencies with |f| <= radius (Nyquist = 1); None = all."""
        half = int(math.ceil(radius * n / 2.0)) + 1
        if 2 * half + 1 >= n:
            return None
        return torch.cat([torch.arange(0, half + 1), torch.arange(n - half, n)])

    @staticmethod
    def _crop_indices(kmax: int, n: int):
        """Natural-layout rows of the smallest 2·3·5-smooth grid ``m >= 2·kmax + 1`` (frequencies
        ``-floor(m/2) .. ceil(m/2) - 1``, which hold ``|k| <= kmax``); None when ``m >= n`` (keep all)."""
        m = fast_fft_size(2 * kmax + 1)
        if m >= n:
            return None
        return torch.cat([torch.arange(0, m - m // 2), torch.arange(n - m // 2, n)])

    @classmethod
    def _fast_support(cls, radius: float, n: int):
        """``"fast"`` crop of a band that vanishes for ``|f| >= radius`` (Nyquist = 1): ``|k| < radius·n/2``."""
        return cls._crop_indices(max(0, int(math.ceil(radius * n / 2.0)) - 1), n)

    def _support_of(self, radial: torch.Tensor):
        """Natural-layout crop holding every non-zero of ``radial`` (``"margin"``: symmetric, plus one sample)."""
        nz = radial != 0
        out = []
        for n, axis in ((self.height, 1), (self.width, 0)):
            k = (torch.fft.fftfreq(n, dtype=torch.float64) * n).abs()
            used = nz.any(dim=axis)
            kmax = int(k[used].max()) if bool(used.any()) else 0
            if self.crop == "fast":
                out.append(self._crop_indices(kmax, n))
                continue
            half = kmax + 1
            out.append(None if 2 * half + 1 >= n else torch.cat([torch.arange(0, half + 1), torch.arange(n - half, n)]))
        return out[0], out[1]

    # -- spectra ---------------------------------------------------------------------------
    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """``rfft2(x)`` of real planes ``(..., H, W)``: the half spectrum ``(..., H, W//2+1)`` (DC at index 0)."""
        self._check_plane(x)
        return torch.fft.rfft2(x)

    def band_spectrum(self, spec: torch.Tensor, j: int) -> torch.Tensor:
        """The full spectrum on scale ``j``'s crop ``(..., h_j, w_j)``, read from the half spectrum."""
        b = self.bands[j]
        a = spec.index_select(-2, b.rows_all)
        direct = a[..., : b.n_direct]
        if b.cols_mirror.numel() == 0:
            return direct
        mirror = spec.index_select(-2, b.rows_mirror).index_select(-1, b.cols_mirror).conj()
        return torch.cat([direct, mirror], dim=-1)

    def band(self, spec: torch.Tensor, j: int, conj: bool = False) -> torch.Tensor:
        """Complex coefficients of scale ``j`` for all orientations: ``(..., K, h_j, w_j)`` (``conj``: their
        complex conjugates, at no extra cost — for the reference of a phase difference).

        Equal to ``ifft2(band_spectrum(spec, j)[..., None, :, :] * filters_j)``, computed with one flat gather
        on the real view of the half spectrum and the (signed) filters. The conjugate is the unscaled forward
        FFT of the conjugated band spectrum, whose imaginary sign is folded into a second set of filters."""
        b = self.bands[j]
        lead, (h, w) = spec.shape[:-2], b.filters.shape[-2:]
        # (index_select on the last of several dims is ~20x slower than on dim 1 of a 2-D view)
        sr = torch.view_as_real(spec.resolve_conj()).reshape(-1, 2 * spec.shape[-2] * spec.shape[-1])
        crop = sr.index_select(1, b.gather).view(*lead, 1, h, w, 2)
        if conj:
            if b.sfilters_conj is None:
                b.sfilters_conj = (b.sfilters * torch.tensor([1.0, -1.0], dtype=b.sfilters.dtype,
                                                             device=b.sfilters.device)).contiguous()
            return torch.fft.fft2(torch.view_as_complex(crop * b.sfilters_conj))
        return torch.fft.ifft2(torch.view_as_complex(crop * b.sfilters), norm="forward")

    def add_band(self, out_spec: torch.Tensor, j: int, coeffs: torch.Tensor) -> None:
        """Accumulate scale ``j``'s contribution ``2 · Σ_k filter_jk · FFT(coeffs_k)`` — as its Hermitian part
        ``C(ω) + conj(C(−ω))``, ``C = Σ_k filter_jk · FFT(coeffs_k)`` — into the half spectrum ``out_spec`` (in place;
        ``out_spec`` must be contiguous)."""
        b = self.bands[j]
        c = (torch.fft.fft2(coeffs).mul_(b.cfilters)).sum(dim=-3)
        lead = c.shape[:-2]
        vals = torch.view_as_real(c).reshape(-1, 2 * c.shape[-2] * c.shape[-1]).index_select(1, b.scatter_src)
        if not out_spec.is_contiguous():
            raise ValueError("add_band: `out_spec` must be contiguous")
        n = 2 * out_spec.shape[-2] * out_spec.shape[-1]
        torch.view_as_real(out_spec).view(-1, n).index_add_(1, b.scatter_dst, vals.mul_(b.scatter_sign))

    def to_image(self, out_spec: torch.Tensor) -> torch.Tensor:
        """The real planes of a (natural-layout) half spectrum: ``irfft2``."""
        return torch.fft.irfft2(out_spec, s=(self.height, self.width))

    def _check_plane(self, x: torch.Tensor) -> None:
        if x.shape[-2:] != (self.height, self.width):
            raise ValueError(f"SteerablePyramid built for {self.height}x{self.width} planes, got shape {tuple(x.shape)}")

    def fft_sizes(self) -> dict:
        """Sizes of the FFTs one frame's magnification needs (for the lower-bound benchmark): the real input's
        ``rfft2`` (H×W), per scale ``K`` inverse and ``K`` forward complex FFTs of ``h_j × w_j``, and the output's
        ``irfft2`` (H×W)."""
        return {"input_rfft2": (self.height, self.width), "output_irfft2": (self.height, self.width),
                "bands": [(self.orientations, h, w) for h, w in self.band_shapes]}

    # -- full decomposition (for teaching and tests) ---------------------------------------
    def decompose(self, x: torch.Tensor) -> dict:
        """``x (..., H, W)`` real -> ``{"highpass": (..., H, W), "bands": [(..., K, h_j, w_j) complex],
        "lowpass": (..., H, W)}``."""
        spec = self.spectrum(x)
        return {
            "highpass": self.to_image(spec * self.hi0_half),
            "bands": [self.band(spec, j) for j in range(self.n_bands)],
            "lowpass": self.to_image(spec * self.lo_half),
        }

    def reconstruct(self, coeffs: dict) -> torch.Tensor:
        """Invert :meth:`decompose` (exact up to floating point for unmodified coefficients and tight frames)."""
        hp, lp = coeffs["highpass"], coeffs["lowpass"]
        spec = self.spectrum(hp) * self.hi0_half + self.spectrum(lp) * self.lo_half
        spec = spec.to(torch.result_type(spec, coeffs["bands"][0]))
        for j, c in enumerate(coeffs["bands"]):
            self.add_band(spec, j, c)
        return self.to_image(spec)
