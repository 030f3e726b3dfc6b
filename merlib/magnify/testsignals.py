"""Ground-truth harness for magnifiers: band-limited textures, exact sub-pixel shifts, metrics.

The sub-pixel translation test of Oh et al. 2018 (Sec. 5.1, "Learning-based video motion
magnification") and Wadhwa et al. 2013 builds its own ground truth: a texture ``A``, the
frame ``B = shift(A, δ)`` and the ideal magnified frame ``shift(A, (1 + alpha)·δ)``
(merlib's α convention, see :mod:`merlib.magnify.convention`). Because our textures are
periodic and band-limited, the Fourier shift theorem gives these shifts *exactly*
(``f(x − δ) ⟷ F(ω)·exp(−i ω δ)``), so the only error left is the magnifier's.

Shapes: images are ``(C, H, W)`` (or ``(..., H, W)`` for :func:`fourier_shift`), float in [0, 1].
A positive shift ``(dy, dx)`` moves the content down/right: ``out(y, x) = img(y − dy, x − dx)``.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from merlib.magnify.convention import check_alpha, displacement_gain

__all__ = [
    "band_limited_texture", "fourier_shift", "psnr", "ssim", "measure_shift",
    "translation_triplet", "evaluate_magnifier", "bump_flow", "warp", "translating_clip",
]


def _pair(value, name: str) -> tuple[float, float]:
    """Accept a scalar (applied along x, i.e. ``(0, v)``) or a ``(dy, dx)`` pair."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return 0.0, float(value)
    try:
        dy, dx = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number (pixels along x) or a (dy, dx) pair, got {value!r}") from None
    if not (math.isfinite(dy) and math.isfinite(dx)):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    return dy, dx


def _size(size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        h = w = int(size)
    else:
        try:
            h, w = (int(s) for s in size)
        except (TypeError, ValueError):
            raise ValueError(f"`size` must be an int or (H, W), got {size!r}") from None
    if h < 4 or w < 4:
        raise ValueError(f"`size` must be at least 4x4, got {(h, w)}")
    return h, w


def band_limited_texture(size=256, channels: int = 1, cutoff: float = 0.25, seed: int = 0,
                         contrast: float = 0.8, device=None, dtype=torch.float32) -> torch.Tensor:
    """A periodic random texture with no energy above ``cutoff`` cycles/pixel.

    White Gaussian noise is filtered in the Fourier domain by a radial raised-cosine
    low-pass that falls from 1 at ``cutoff/2`` to exactly 0 at ``cutoff`` (so the texture is
    strictly band-limited and Fourier shifts of it are exact), then each channel is
    rescaled to ``[0.5 − contrast/2, 0.5 + contrast/2]``.

    Args:
        size: ``H`` (square) or ``(H, W)``.
        channels: 1 (gray) or 3 (colour, independent channels).
        cutoff: highest spatial frequency in cycles/pixel, in (0, 0.5].
        seed: seed of a private ``torch.Generator`` (the global RNG is untouched).
        contrast: peak-to-peak range, in (0, 1); the margin keeps sub-pixel shifts in [0, 1].

    Returns:
        ``(C, H, W)`` float tensor in [0, 1].
    """
    h, w = _size(size)
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3, got {channels!r}")
    if not (0 < float(cutoff) <= 0.5):
        raise ValueError(f"`cutoff` must be in (0, 0.5] cycles/pixel, got {cutoff!r}")
    if not (0 < float(contrast) < 1):
        raise ValueError(f"`contrast` must be in (0, 1), got {contrast!r}")
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(channels, h, w, generator=gen, dtype=torch.float64)
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :]
    rad = torch.sqrt(fy**2 + fx**2)
    t = ((rad - cutoff / 2) / (cutoff / 2)).clamp(0, 1)
    mask = 0.5 * (1 + torch.cos(math.pi * t))
    tex = torch.fft.ifft2(torch.fft.fft2(noise) * mask).real
    lo = tex.amin(dim=(-2, -1), keepdim=True)
    hi = tex.amax(dim=(-2, -1), keepdim=True)
    tex = (tex - lo) / (hi - lo).clamp_min(1e-12)
    tex = 0.5 - contrast / 2 + contrast * tex
    return tex.to(dtype=dtype, device=device)


def fourier_shift(image: torch.Tensor, shift) -> torch.Tensor:
    """Translate ``image`` ``(..., H, W)`` circularly by ``shift = (dy, dx)`` pixels (sub-pixel, exact
    for band-limited periodic images): ``out(y, x) = image(y − dy, x − dx)``. A scalar shifts along x."""
    if not isinstance(image, torch.Tensor) or image.ndim < 2:
        raise ValueError(f"`image` must be a tensor (..., H, W), got {type(image).__name__}")
    dy, dx = _pair(shift, "shift")
    h, w = image.shape[-2:]
    cdtype = torch.float64
    fy = torch.fft.fftfreq(h, dtype=cdtype, device=image.device)[:, None]
    fx = torch.fft.fftfreq(w, dtype=cdtype, device=image.device)[None, :]
    ramp = torch.exp(-2j * math.pi * (fy * dy + fx * dx))
    if h % 2 == 0:  # the Nyquist row has no +/- partner: keep it real (shift by an integer part only)
        ramp[h // 2, :] = ramp[h // 2, :].real.to(ramp.dtype)
    if w % 2 == 0:
        ramp[:, w // 2] = ramp[:, w // 2].real.to(ramp.dtype)
    out = torch.fft.ifft2(torch.fft.fft2(image.to(cdtype)) * ramp).real
    return out.to(image.dtype)


def _to_numpy_image(x, name: str) -> np.ndarray:
    """(C, H, W) / (H, W) tensor or array -> (H, W) or (H, W, C) float64 numpy."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3:
        if x.shape[0] == 1:
            x = x[0]
        elif x.shape[0] == 3:
            x = np.moveaxis(x, 0, -1)
        else:
            raise ValueError(f"`{name}` must be (C, H, W) with C = 1 or 3, got shape {x.shape}")
    elif x.ndim != 2:
        raise ValueError(f"`{name}` must be (C, H, W) or (H, W), got shape {x.shape}")
    return x


def _crop(x: np.ndarray, border: int) -> np.ndarray:
    return x[border:x.shape[0] - border, border:x.shape[1] - border] if border else x


def psnr(a, b, data_range: float = 1.0, border: int = 0) -> float:
    """PSNR in dB of ``a`` vs ``b`` (``(C, H, W)`` or ``(H, W)``), via :func:`skimage.metrics.peak_signal_noise_ratio`.
    ``border`` pixels are dropped on each side first. Identical images give ``inf``."""
    from skimage.metrics import peak_signal_noise_ratio

    x, y = _crop(_to_numpy_image(a, "a"), border), _crop(_to_numpy_image(b, "b"), border)
    if x.shape != y.shape:
        raise ValueError(f"psnr: `a` and `b` must have the same shape, got {x.shape} and {y.shape}")
    if np.array_equal(x, y):
        return float("inf")
    return float(peak_signal_noise_ratio(y, x, data_range=data_range))


def ssim(a, b, data_range: float = 1.0, border: int = 0) -> float:
    """SSIM of ``a`` vs ``b`` via :func:`skimage.metrics.structural_similarity` (7x7 window; colour
    images averaged over channels). ``border`` pixels are dropped on each side first."""
    from skimage.metrics import structural_similarity

    x, y = _crop(_to_numpy_image(a, "a"), border), _crop(_to_numpy_image(b, "b"), border)
    if x.shape != y.shape:
        raise ValueError(f"ssim: `a` and `b` must have the same shape, got {x.shape} and {y.shape}")
    return float(structural_similarity(x, y, data_range=data_range, channel_axis=-1 if x.ndim == 3 else None))


def measure_shift(a, b, upsample_factor: int = 200) -> tuple[float, float]:
    """Sub-pixel translation ``(dy, dx)`` that maps ``a`` onto ``b`` (``b ≈ shift(a, (dy, dx))``).

    Phase correlation with an upsampled DFT peak search
    (:func:`skimage.registration.phase_cross_correlation`, Guizar-Sicairos et al. 2008).
    We use the plain cross-power spectrum (``normalization=None``) rather than the
    whitened one: band-limited images have empty high-frequency bins whose phase is
    noise, and whitening would give them full weight. Colour images are averaged to gray.
    """
    from skimage.registration import phase_cross_correlation

    x, y = _to_numpy_image(a, "a"), _to_numpy_image(b, "b")
    if x.ndim == 3:
        x = x.mean(-1)
    if y.ndim == 3:
        y = y.mean(-1)
    if x.shape != y.shape:
        raise ValueError(f"measure_shift: `a` and `b` must have the same shape, got {x.shape} and {y.shape}")
    shift, _, _ = phase_cross_correlation(x, y, upsample_factor=upsample_factor, normalization=None)
    # skimage returns the shift that registers `y` onto `x`, i.e. minus the motion from a to b.
    return -float(shift[0]), -float(shift[1])


def translation_triplet(alpha: float, delta, size=256, channels: int = 1, cutoff: float = 0.25,
                        seed: int = 0, noise_sigma: float = 0.0, device=None, dtype=torch.float32):
    """Frames for the sub-pixel translation test.

    Returns:
        ``(a, b, truth)``, each ``(C, H, W)``: ``a`` a band-limited texture, ``b = shift(a, delta)``,
        ``truth = shift(a, (1 + alpha)·delta)`` (merlib's α convention). With ``noise_sigma > 0``,
        independent Gaussian noise of that standard deviation is added to ``a`` and ``b``
        (clipped to [0, 1]); ``truth`` stays clean (Oh et al. 2018, Sec. 5.1).
    """
    alpha = check_alpha(alpha)
    dy, dx = _pair(delta, "delta")
    g = displacement_gain(alpha)
    a = band_limited_texture(size, channels, cutoff, seed, dtype=torch.float64)
    b = fourier_shift(a, (dy, dx))
    truth = fourier_shift(a, (g * dy, g * dx))
    if noise_sigma < 0:
        raise ValueError(f"`noise_sigma` must be >= 0, got {noise_sigma!r}")
    if noise_sigma > 0:
        gen = torch.Generator().manual_seed(int(seed) + 7919)
        a = (a + noise_sigma * torch.randn(a.shape, generator=gen, dtype=a.dtype)).clamp(0, 1)
        b = (b + noise_sigma * torch.randn(b.shape, generator=gen, dtype=b.dtype)).clamp(0, 1)
    conv = lambda t: t.clamp(0, 1).to(device=device, dtype=dtype)  # noqa: E731
    return conv(a), conv(b), conv(truth)


def evaluate_magnifier(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor], alpha: float, delta,
                       size=256, channels: int = 1, cutoff: float = 0.25, seed: int = 0,
                       noise_sigma: float = 0.0, border: int = 0, device=None) -> dict:
    """Run the sub-pixel translation test on ``fn(reference, target, alpha) -> magnified target``.

    ``fn`` receives ``(C, H, W)`` float32 tensors in [0, 1] on ``device`` and must return
    ``(C, H, W)``; ``alpha`` follows merlib's convention (pass
    ``lambda a, b, al: magnify_pair(a, b, al, method="phase")``, or convert with
    :func:`merlib.magnify.convention.to_oh_factor` inside ``fn`` for an Oh-style network).

    Returns:
        a dict with ``psnr``, ``ssim`` (output vs ground truth), ``baseline_psnr``,
        ``baseline_ssim`` (the unmagnified target vs ground truth), ``expected_shift``
        ``(dy, dx)`` = (1+α)δ, ``measured_shift`` (phase correlation of reference→output),
        ``shift_rel_error`` (|measured − expected| / |expected|, ``None`` when expected is 0),
        and the test's parameters. ``border`` pixels per side are excluded from PSNR/SSIM.
    """
    a, b, truth = translation_triplet(alpha, delta, size, channels, cutoff, seed, noise_sigma, device=device)
    out = fn(a, b, alpha)
    if not isinstance(out, torch.Tensor) or out.shape != b.shape:
        raise ValueError(f"evaluate_magnifier: `fn` must return a tensor of shape {tuple(b.shape)}, "
                         f"got {getattr(out, 'shape', type(out).__name__)}")
    out = out.detach().float()
    dy, dx = _pair(delta, "delta")
    g = displacement_gain(alpha)
    expected = (g * dy, g * dx)
    measured = measure_shift(a, out)
    norm = math.hypot(*expected)
    err = math.hypot(measured[0] - expected[0], measured[1] - expected[1])
    return {
        "psnr": psnr(out, truth, border=border),
        "ssim": ssim(out, truth, border=border),
        "baseline_psnr": psnr(b, truth, border=border),
        "baseline_ssim": ssim(b, truth, border=border),
        "expected_shift": expected,
        "measured_shift": measured,
        "shift_rel_error": err / norm if norm > 0 else None,
        "alpha": float(alpha), "delta": (dy, dx), "size": size, "channels": channels,
        "cutoff": cutoff, "noise_sigma": noise_sigma, "seed": seed, "border": border,
    }


def bump_flow(height: int, width: int, bumps, dtype=torch.float32, device=None) -> torch.Tensor:
    """A smooth displacement field made of Gaussian bumps (e.g. a synthetic smile or brow raise).

    Args:
        bumps: iterable of ``(cy, cx, sigma, dy, dx)``: centre in pixels, width in pixels and the
            displacement (pixels, content moves by ``(dy, dx)``) at the centre.

    Returns:
        ``(2, H, W)`` flow (``[0]`` = dy, ``[1]`` = dx).
    """
    yy = torch.arange(height, dtype=torch.float64)[:, None]
    xx = torch.arange(width, dtype=torch.float64)[None, :]
    flow = torch.zeros(2, height, width, dtype=torch.float64)
    for i, bump in enumerate(bumps):
        try:
            cy, cx, sigma, dy, dx = (float(v) for v in bump)
        except (TypeError, ValueError):
            raise ValueError(f"`bumps[{i}]` must be (cy, cx, sigma, dy, dx), got {bump!r}") from None
        if sigma <= 0:
            raise ValueError(f"`bumps[{i}]`: sigma must be > 0, got {sigma}")
        g = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        flow[0] += dy * g
        flow[1] += dx * g
    return flow.to(dtype=dtype, device=device)


def warp(image: torch.Tensor, flow: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Move the content of ``image`` ``(C, H, W)`` by ``gain · flow`` (``(2, H, W)``, pixels):
    ``out(x) = image(x − gain·flow(x))``, bicubic interpolation (:func:`torch.nn.functional.grid_sample`),
    border padding, clipped to [0, 1]. For smooth, small flows this is the ground truth of magnifying
    the motion ``image -> warp(image, flow)`` with ``1 + alpha = gain``."""
    import torch.nn.functional as F

    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        raise ValueError(f"`image` must be a tensor (C, H, W), got {getattr(image, 'shape', type(image).__name__)}")
    c, h, w = image.shape
    if tuple(flow.shape) != (2, h, w):
        raise ValueError(f"`flow` must have shape (2, {h}, {w}), got {tuple(flow.shape)}")
    yy = torch.arange(h, dtype=torch.float64, device=image.device)[:, None].expand(h, w)
    xx = torch.arange(w, dtype=torch.float64, device=image.device)[None, :].expand(h, w)
    sy = yy - gain * flow[0].to(torch.float64)
    sx = xx - gain * flow[1].to(torch.float64)
    grid = torch.stack([2 * sx / (w - 1) - 1, 2 * sy / (h - 1) - 1], dim=-1)[None]  # align_corners=True
    out = F.grid_sample(image[None].to(torch.float64), grid, mode="bicubic", padding_mode="border", align_corners=True)
    return out[0].clamp(0, 1).to(image.dtype)


def translating_clip(size=64, displacements=(0.0, 0.1), channels: int = 1, cutoff: float = 0.25, seed: int = 0,
                     dtype=torch.float32) -> torch.Tensor:
    """A clip ``(T, C, H, W)`` of one band-limited texture translated (exactly, by Fourier shift) by
    ``displacements[t]`` — a number (px along x) or a ``(dy, dx)`` pair per frame.

    E.g. ``[0.2 * sin(2π·2·t/30) + 0.01·t for t in range(64)]``: a 2 Hz oscillation at 30 fps on a slow drift.
    """
    tex = band_limited_texture(size, channels=channels, cutoff=cutoff, seed=seed, dtype=torch.float64)
    frames = [fourier_shift(tex, _pair(d, "displacements[t]")) for d in displacements]
    if len(frames) < 1:
        raise ValueError("`displacements` must hold at least one frame's displacement")
    return torch.stack(frames).clamp(0.0, 1.0).to(dtype)
