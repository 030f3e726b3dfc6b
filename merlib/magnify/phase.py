"""Phase-based motion magnification — Wadhwa, Rubinstein, Durand & Freeman 2013, "Phase-based video
motion processing" (SIGGRAPH), and their MATLAB code (``phaseAmplify.m``, 2013); Bai et al. 2021's PMM.

A complex steerable pyramid (:class:`merlib.magnify.pyramids.SteerablePyramid`; Simoncelli &
Freeman 1995, Portilla & Simoncelli 2000) splits each frame into localized, oriented sinusoids
``S_{ω,θ}(x, t) = A·exp(i ω (x + δ(t)))``: motion ``δ`` appears as the phase ``ω δ``
(Fourier shift theorem). For each coefficient the phase change relative to the reference,
``Δφ = arg(c_t · conj(c_ref))`` (wrapped to (−π, π], their ``mod(π + φ_t − φ_ref, 2π) − π``), is
(optionally band-passed in time and smoothed, then) multiplied by ``alpha`` and added back:
``ĉ_t = c_t · exp(i · alpha · Δφ)``, which shows ``f(x + (1 + alpha)·δ)`` — merlib's α
convention (:mod:`merlib.magnify.convention`; Wadhwa et al.'s ``magPhase`` is this ``alpha``).

Options:

* ``sigma`` (px at each scale, default 0): amplitude-weighted Gaussian smoothing of the (filtered)
  ``Δφ``, ``(G_σ * (A·Δφ)) / (G_σ * A)`` with ``A = |c_t| + eps`` (Wadhwa et al. Sec. 3.2,
  ``AmplitudeWeightedBlur.m``; circular boundaries). merlib's kernel: ``2·ceil(3σ) + 1`` centred taps;
  with ``preset="wadhwa2013"``: their ``fspecial('gaussian', ceil(4σ), σ)`` + ``imfilter`` (even sizes
  put the kernel's origin half a pixel off centre, as MATLAB does).
* ``attenuate_other`` (default False): Wadhwa et al.'s ``attenuateOtherFreq`` — the coefficient keeps its
  amplitude but takes the *reference* phase plus the magnified band-passed change,
  ``ĉ_t = |c_t| · exp(i(φ_ref + (1 + alpha)·BP(Δφ)))``: phase variation outside the temporal band
  (noise, drift, other motions) is removed instead of passed through. In merlib's convention the
  in-band motion is still shown at ``(1 + alpha)·δ``; Wadhwa et al. multiply by ``magPhase`` there, so
  their ``magPhase`` with ``attenuateOtherFreq`` is merlib's ``1 + alpha``. Without a temporal filter
  (static / dynamic modes) everything is "in band" and it changes nothing.
* ``phase_clip`` (default False; called ``attenuate`` before merlib 0.2): phase changes whose magnified
  value ``(1 + alpha)·Δφ`` would exceed π (``|Δφ| > π/(1 + alpha)``) are clipped to ±π instead of
  wrapping around, which avoids the ringing of wrapped phases (merlib's addition; not in their code).
* ``highpass`` (default True): add the high-pass residual back unchanged; Wadhwa et al.'s code drops it
  (``for level = 2:numLevels-1`` and only the low-pass residual is added back).
* ``levels``, ``orientations`` (default 4), ``bandwidth`` (``"octave"``, ``"half_octave"``,
  ``"smooth_half_octave"``, ``"quarter_octave"``), ``radial`` (see :mod:`merlib.magnify.pyramids`).
* ``crop`` (default ``"fast"``): the size of each band's cropped spectrum, i.e. the grid the coefficients
  are sampled (and phase-processed) on — ``"fast"``: the smallest 2·3·5-smooth size that holds the band
  (plenoptic's halving for power-of-two frames); ``"margin"``: merlib <= 0.2's odd symmetric crop with one
  sample of margin (often a prime size, several times slower to FFT). See :data:`~merlib.magnify.pyramids.CROPS`.
* ``luma_only``: magnify only Y of YIQ (as Wadhwa et al.'s code does), chroma passes through.
* ``preset="wadhwa2013"``: their code's defaults — ``luma_only=True``, ``highpass=False``,
  ``bandwidth="half_octave"`` (their run scripts' ``defaultPyrType``; ``phaseAmplify``'s own default is
  ``'octave'``) with 8 orientations (4 for octave, 8 for the smooth pyramids), ``radial="wadhwa2013"``,
  their blur kernel, ``sigma=0``, ``attenuate_other=False``; in temporal mode the default filter is
  their ``FIRWindowBP`` (``temporal_filter="fir"``) and ``"iir"`` from Hz uses ``r = f/fps``.
  Departure kept: the band crops are merlib's symmetric supports (theirs: each filter's bounding box),
  which changes only how densely the (pointwise-processed) coefficients are sampled.

Speed (``benchmarks/magnify.py`` measures it against plenoptic and against the FFT lower bound): the input
is transformed with ``rfft2`` and the output assembled as a half spectrum for ``irfft2``; each band's crop
is read from / added into the half spectrum with one flat gather / scatter-add; band crops have
FFT-friendly (2·3·5-smooth) sizes (``crop="fast"``); orientations are batched in one FFT per scale; the
reference frame is decomposed once per clip, and a reference that is no target (static mode, every temporal
clip) straight into ``conj(c_ref)`` (:meth:`~merlib.magnify.pyramids.SteerablePyramid.band` with
``conj=True``: a forward FFT of the conjugated band spectrum, so that ``c_t · conj(c_ref)`` is a plain
product); filters and residual masks are built once per size/device/dtype/crop (:func:`get_pyramid`); on CPU
the phase, sine/cosine and modulus take the fastest vectorised kernels available (NumPy's SVML ones on
AVX-512 CPUs, torch's on contiguous real/imaginary planes otherwise; NumPy's modulus everywhere) and reuse
their scratch memory; temporal filters stream in cache-sized chunks (:func:`auto_chunk_size`); an α sweep
(``alpha=[a1, a2, …]``) decomposes once and only re-synthesises per α.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from merlib.magnify.eulerian import rgb_to_yiq, yiq_to_rgb
from merlib.magnify.pyramids import BANDWIDTHS, CROPS, RADIAL_FORMS, SteerablePyramid
from merlib.magnify.validation import check_choice, check_positive

__all__ = ["magnify_phase", "phase_gain", "amplitude_weighted_blur", "get_pyramid", "auto_chunk_size", "PHASE_OPTIONS",
           "PHASE_PRESETS"]

PHASE_OPTIONS = ("levels", "orientations", "bandwidth", "sigma", "phase_clip", "attenuate_other", "luma_only",
                 "highpass", "radial", "crop", "preset")
#: What each preset sets (explicit options override it).
PHASE_PRESETS = {
    "wadhwa2013": {"luma_only": True, "highpass": False, "bandwidth": "half_octave", "radial": "wadhwa2013",
                   "sigma": 0.0, "attenuate_other": False, "blur_kernel": "wadhwa2013",
                   "temporal": {"default": "fir", "iir": {"r_rule": "wadhwa2013", "normalize": False},
                                "butterworth": {"cutoff": "wu2012"}}},
}


@functools.lru_cache(maxsize=16)
def _cached_pyramid(h, w, levels, orientations, bandwidth, device, dtype, radial, crop):
    return SteerablePyramid(h, w, levels, orientations, bandwidth, device=device, dtype=dtype, radial=radial,
                            crop=crop)


def get_pyramid(height, width, levels=None, orientations=4, bandwidth="octave", device="cpu",
                dtype=torch.float32, radial="telescoping", crop="fast") -> SteerablePyramid:
    """A (cached) :class:`SteerablePyramid`; filters are built once per size, device, dtype and crop."""
    return _cached_pyramid(int(height), int(width), levels, orientations, bandwidth, str(torch.device(device)), dtype,
                           radial, crop)


# -- elementwise kernels -----------------------------------------------------------------------------------------
# On CPU, torch's complex angle/abs/polar are scalar loops (a 256² x 4 band at one thread: angle 1.4-4.6 ms,
# polar 2.5-3.5 ms, abs 1.2-3.6 ms). NumPy's float32 abs is SIMD everywhere (~0.5 ms); its atan2/sin/cos are
# SVML kernels only where NumPy dispatches AVX512_SKX (0.2-0.5 ms) and a scalar atan2 (~10 ms) otherwise, where
# torch's vectorised (Sleef) float kernels on contiguous real and imaginary planes are the fast route (atan2
# ~2 ms including the de-interleaving, cos + sin ~1.3 ms). These helpers pick per kernel (same results to float32
# rounding; the tensors share memory with the arrays) and use torch's complex ops elsewhere (CUDA) or when
# autograd is recording.
def _use_numpy(*ts: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" and not t.requires_grad for t in ts)


@functools.lru_cache(maxsize=1)
def _numpy_svml() -> bool:
    """Whether NumPy dispatches its AVX512_SKX (SVML) float32 atan2 / sin / cos kernels on this CPU."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # NumPy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return False
    return bool(__cpu_features__.get("AVX512_SKX", False))


def _angle(z: torch.Tensor) -> torch.Tensor:
    """``torch.angle(z)`` of a complex tensor."""
    if _use_numpy(z):
        z = z.resolve_conj()
        if _numpy_svml():
            return torch.from_numpy(np.angle(z.numpy()))
        re = z.real.clone(memory_format=torch.contiguous_format)
        return torch.atan2(z.imag.contiguous(), re, out=re)  # elementwise: may write over its own input
    return torch.angle(z)


def _abs(z: torch.Tensor) -> torch.Tensor:
    """``z.abs()`` of a complex tensor."""
    if _use_numpy(z):
        return torch.from_numpy(np.abs(z.resolve_conj().numpy()))
    return z.abs()


def _expi(g: torch.Tensor, overwrite: bool = False) -> torch.Tensor:
    """``exp(i·g)`` of a real tensor (a new complex tensor, safe to modify in place); ``overwrite``: ``g`` may be
    used as scratch memory (its values are lost)."""
    if _use_numpy(g):
        if _numpy_svml():
            gn = g.numpy()
            return torch.complex(torch.from_numpy(np.cos(gn)), torch.from_numpy(np.sin(gn)))
        if not (overwrite and g.is_contiguous()):
            g = g.contiguous() if overwrite else g.clone(memory_format=torch.contiguous_format)
        c = torch.cos(g)
        return torch.complex(c, g.sin_())
    return torch.polar(torch.ones_like(g), g)


def phase_gain(dphi: torch.Tensor, alpha: float, phase_clip: bool = False, inplace: bool = False) -> torch.Tensor:
    """Phase to add to each coefficient: ``alpha·Δφ``, or with ``phase_clip`` ``clip((1+alpha)Δφ, ±π) − Δφ``
    (``inplace``: overwrite ``dphi`` with it, for ``alpha·Δφ`` only)."""
    if phase_clip:
        return ((1.0 + alpha) * dphi).clamp(-math.pi, math.pi) - dphi
    return dphi.mul_(alpha) if inplace else alpha * dphi


def _gaussian_taps(sigma: float, size_limit: int, kernel: str, dtype, device):
    """1-D taps and (left, right) circular padding of merlib's or Wadhwa et al.'s Gaussian."""
    if kernel == "wadhwa2013":  # fspecial('gaussian', n, σ) with n = ceil(4σ); imfilter origin floor((n+1)/2)
        n = max(1, min(int(math.ceil(4 * sigma)), size_limit))
        coords = torch.arange(n, dtype=torch.float64) - (n - 1) / 2.0
        left = (n + 1) // 2 - 1
        right = n - 1 - left
    else:
        radius = min(int(math.ceil(3 * sigma)), max(0, (size_limit - 1) // 2))
        coords = torch.arange(-radius, radius + 1, dtype=torch.float64)
        left = right = radius
    k = torch.exp(-0.5 * (coords / sigma) ** 2)
    return (k / k.sum()).to(dtype=dtype, device=device), left, right


def amplitude_weighted_blur(phase: torch.Tensor, amplitude: torch.Tensor, sigma: float, eps: float = 1e-12,
                            kernel: str = "merlib") -> torch.Tensor:
    """``(G_σ * (A·φ)) / (G_σ * A)`` over the last two dims (circular padding; bands are periodic)."""
    if sigma <= 0:
        return phase
    lead, (h, w) = phase.shape[:-2], phase.shape[-2:]
    both = torch.stack([amplitude * phase, amplitude]).reshape(-1, 1, h, w)
    ky, ty0, ty1 = _gaussian_taps(sigma, h, kernel, phase.dtype, phase.device)
    kx, tx0, tx1 = _gaussian_taps(sigma, w, kernel, phase.dtype, phase.device)
    # correlation (imfilter's default, and F.conv2d's): out(i) = Σ_o k(o) in(i + o), o from −left to right
    both = F.conv2d(F.pad(both, (tx0, tx1, 0, 0), mode="circular"), kx.view(1, 1, 1, -1))
    both = F.conv2d(F.pad(both, (0, 0, ty0, ty1), mode="circular"), ky.view(1, 1, -1, 1))
    both = both.reshape(2, *lead, h, w)
    return both[0] / (both[1] + eps)


class _PhaseOptions:
    def __init__(self, levels=None, orientations=None, bandwidth=None, sigma=None, phase_clip=False,
                 attenuate_other=None, luma_only=None, highpass=None, radial=None, crop=None, preset=None):
        self.preset = None if preset is None else check_choice(preset, "preset", tuple(PHASE_PRESETS))
        p = PHASE_PRESETS.get(self.preset, {})
        pick = lambda v, key, default: v if v is not None else p.get(key, default)  # noqa: E731
        self.levels = levels
        self.bandwidth = pick(bandwidth, "bandwidth", "octave")
        if self.bandwidth not in BANDWIDTHS:
            raise ValueError(f"`bandwidth` must be one of {BANDWIDTHS}, got {self.bandwidth!r}")
        if orientations is None:
            orientations = 4 if (self.preset is None or self.bandwidth == "octave") else 8
        self.orientations = orientations
        self.radial = pick(radial, "radial", "telescoping")
        if self.radial not in RADIAL_FORMS:
            raise ValueError(f"`radial` must be one of {RADIAL_FORMS}, got {self.radial!r}")
        self.crop = pick(crop, "crop", "fast")
        if self.crop not in CROPS:
            raise ValueError(f"`crop` must be one of {CROPS}, got {self.crop!r}")
        self.sigma = check_positive(pick(sigma, "sigma", 0.0), "sigma", allow_zero=True)
        for name, v in (("phase_clip", phase_clip), ("attenuate_other", attenuate_other), ("luma_only", luma_only),
                        ("highpass", highpass)):
            if v is not None and not isinstance(v, bool):
                raise ValueError(f"`{name}` must be True or False, got {v!r}")
        self.phase_clip = phase_clip
        self.attenuate_other = pick(attenuate_other, "attenuate_other", False)
        self.luma_only = pick(luma_only, "luma_only", False)
        self.highpass = pick(highpass, "highpass", True)
        self.blur_kernel = p.get("blur_kernel", "merlib")


def _frames(index: list[int]):
    """A slice when ``index`` is a contiguous run (a view, no copy), else an index tensor."""
    if all(b == a + 1 for a, b in zip(index, index[1:])):
        return slice(index[0], index[-1] + 1)
    return index


def magnify_phase(x: torch.Tensor, alpha, ref_index: list[int] | None = None, temporal=None,
                  chunk_size: int | None = None, **options):
    """Phase-based magnification of a batch ``x`` ``(B, T, C, H, W)``, float in [0, 1] (validated by the caller).

    ``alpha``: a float, or a list of floats (α sweep: one decomposition, one synthesis per α; a list of
    outputs is returned). ``ref_index[t]``: reference frame of frame ``t`` (static: 0, dynamic: ``t − 1``);
    frames that are their own reference are returned unchanged (up to the dropped high-pass with
    ``highpass=False``). With ``temporal`` (a :class:`~merlib.magnify.temporal.TemporalBandpass`) the phase
    change relative to frame 0 is band-passed in time, streamed in chunks of ``chunk_size`` frames
    (O(filter order) state per coefficient; ``None``: :func:`auto_chunk_size`) unless the filter needs the whole clip. Options: see
    :data:`PHASE_OPTIONS` and the module docstring. Returns ``(B, T, C, H, W)`` unclamped (or a list).
    """
    single = not isinstance(alpha, (list, tuple))
    alphas = [float(alpha)] if single else [float(a) for a in alpha]
    opt = _PhaseOptions(**options)
    b, t, c, h, w = x.shape
    pyr = get_pyramid(h, w, opt.levels, opt.orientations, opt.bandwidth, x.device, x.dtype, opt.radial, opt.crop)
    yiq = opt.luma_only and c == 3
    space = rgb_to_yiq(x) if yiq else x
    planes = space[:, :, :1] if yiq else space  # (B, T, P, H, W)

    if temporal is None:
        outs = _static(pyr, planes, ref_index, alphas, opt)
    else:
        outs = _temporal(pyr, planes, temporal, chunk_size, alphas, opt)
    if yiq:
        outs = [yiq_to_rgb(torch.cat([o, space[:, :, 1:]], dim=2)) for o in outs]
    return outs[0] if single else outs


def _synthesise(pyr, out_specs, j, ct, dphi, alphas, opt, ref_unit=None, dphi_owned=False):
    """Add scale ``j``'s modified coefficients for every α to ``out_specs`` (one half spectrum per α).
    ``dphi_owned``: ``dphi`` is the caller's scratch (the last α may overwrite it)."""
    if opt.sigma > 0:
        dphi = amplitude_weighted_blur(dphi, _abs(ct), opt.sigma, kernel=opt.blur_kernel)
        dphi_owned = True
    amp = _abs(ct) if opt.attenuate_other else None
    for i, (a, spec) in enumerate(zip(alphas, out_specs)):
        scratch = dphi_owned and i == len(alphas) - 1  # the gain of the last α may reuse Δφ's memory
        if opt.attenuate_other:
            # |c_t| · exp(i(φ_ref + (1 + α)·BP(Δφ))): out-of-band phase change removed
            g = dphi.mul_(1.0 + a) if scratch else (1.0 + a) * dphi
            new = _expi(g, overwrite=True).mul_(amp).mul_(ref_unit)
        else:
            g = phase_gain(dphi, a, opt.phase_clip, inplace=scratch)
            new = _expi(g, overwrite=True).mul_(ct)  # g is fresh, or Δφ's scratch
        pyr.add_band(spec, j, new)


def _static(pyr, planes, ref_index, alphas, opt):
    t = planes.shape[1]
    # frames that are their own reference come back unchanged — unless the high-pass residual is dropped,
    # then they go through the pyramid too (their Δφ is 0)
    targets = [i for i in range(t) if ref_index[i] != i or not opt.highpass]
    if not targets:
        return [planes.clone() for _ in alphas]
    tset = set(targets)
    rest = [i for i in range(t) if i not in tset]
    outs = [torch.empty_like(planes) for _ in alphas]
    for o in outs:
        if rest:
            o[:, _frames(rest)] = planes[:, _frames(rest)]
    needed = sorted(set(targets) | {ref_index[i] for i in targets})
    pos = {f: k for k, f in enumerate(needed)}
    tgt = _frames([pos[i] for i in targets])
    refs = [pos[ref_index[i]] for i in targets]
    ref = slice(refs[0], refs[0] + 1) if len(set(refs)) == 1 else _frames(refs)  # static: one frame, broadcast
    spec = pyr.spectrum(planes[:, _frames(needed)])
    resid = pyr.residual_half(opt.highpass)
    out_specs = [spec[:, tgt] * resid for _ in alphas]
    # references that are no target (static mode): decompose them straight into conj(c_ref) (a forward FFT of
    # the conjugated band spectrum), which saves materialising the conjugate in Δφ = arg(c_t · conj(c_ref))
    split = not opt.attenuate_other and not set(refs) & set(pos[i] for i in targets)
    for j in range(pyr.n_bands):
        if split:
            ct, cr_conj = pyr.band(spec[:, tgt], j), pyr.band(spec[:, ref], j, conj=True)
            dphi, ref_unit = _angle(ct * cr_conj), None
        else:
            coeffs = pyr.band(spec, j)
            ct, cr = coeffs[:, tgt], coeffs[:, ref]
            dphi = _angle(ct * cr.conj())
            ref_unit = cr / (_abs(cr) + 1e-30) if opt.attenuate_other else None
        _synthesise(pyr, out_specs, j, ct, dphi, alphas, opt, ref_unit, dphi_owned=True)
    for o, s in zip(outs, out_specs):
        o[:, _frames(targets)] = pyr.to_image(s)
    return outs


#: Default streaming chunk: about this many bytes of complex coefficients per chunk (measured at one thread:
#: 16-frame chunks of 256² frames, ~45 MB, run ~1.8x slower than 4-frame chunks, which stay in cache).
_CHUNK_BYTES = 12 * 2**20


def auto_chunk_size(pyr: SteerablePyramid, planes_per_frame: int) -> int:
    """Frames per streamed chunk: ``_CHUNK_BYTES`` of coefficients, between 1 and 16."""
    per_frame = planes_per_frame * pyr.orientations * sum(h * w for h, w in pyr.band_shapes)
    per_frame *= 16 if pyr.dtype == torch.float64 else 8
    return max(1, min(16, _CHUNK_BYTES // max(1, per_frame)))


def _temporal(pyr, planes, temporal, chunk_size, alphas, opt):
    t = planes.shape[1]
    outs = [torch.empty_like(planes) for _ in alphas]
    if chunk_size is None:
        chunk_size = auto_chunk_size(pyr, planes.shape[0] * planes.shape[2])
    step = chunk_size if temporal.streamable else t
    resid = pyr.residual_half(opt.highpass)
    spec0 = pyr.spectrum(planes[:, :1])  # the reference frame: decomposed once per clip
    if opt.attenuate_other:
        ref_bands = [pyr.band(spec0, j) for j in range(pyr.n_bands)]
        ref_conj = [r.conj().resolve_conj() for r in ref_bands]  # physical: a conj view is re-materialised per use
        ref_unit = [r / (_abs(r) + 1e-30) for r in ref_bands]
    else:
        ref_conj = [pyr.band(spec0, j, conj=True) for j in range(pyr.n_bands)]
        ref_unit = [None] * pyr.n_bands
    states = [dict() for _ in range(pyr.n_bands)]
    for s in range(0, t, step):
        spec = pyr.spectrum(planes[:, s:s + step])
        out_specs = [spec * resid for _ in alphas]
        for j in range(pyr.n_bands):
            coeffs = pyr.band(spec, j)
            dphi = _angle(coeffs * ref_conj[j])
            if temporal.streamable:
                dphi, states[j] = temporal.step(dphi, states[j])
            else:
                dphi = temporal(dphi)
            _synthesise(pyr, out_specs, j, coeffs, dphi, alphas, opt, ref_unit[j])
        for o, sp in zip(outs, out_specs):
            o[:, s:s + step] = pyr.to_image(sp)
    return outs
