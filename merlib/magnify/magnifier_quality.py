"""The translation test behind issue 12's criteria for learned magnifiers (used by tests and benchmarks).

Periodic band-limited textures with energy up to 0.2 cycles/px
(:func:`merlib.magnify.testsignals.band_limited_texture`), 128² and 256², grey and colour, and their
exact Fourier shifts: frame A, frame B = shift(A, δ) and the ground truth shift(A, (1 + α)·δ)
(merlib's α convention). Colour textures are mostly luminance — ``0.75·L + 0.25·T_c`` with ``L``
one grey texture and ``T_c`` an independent texture per channel — as natural images are, whose
chroma has less contrast than their luminance (merlib's choice: on fully independent colour
channels even Oh et al.'s own weights reproduce the input at only 27.5 dB). PSNR and SSIM skip an
8-px border (Axial-mm's ``script/generic_eval.py`` crops 8 px); shifts are measured on the whole
frame by plain cross-power phase correlation (:func:`~merlib.magnify.testsignals.measure_shift`).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from merlib.magnify.testsignals import band_limited_texture, fourier_shift, measure_shift, psnr, ssim

__all__ = ["CUTOFF", "BORDER", "TEXTURES", "DELTAS", "ALPHAS", "texture", "measure_translation", "summary"]

CUTOFF = 0.2
BORDER = 8
TEXTURES = ((128, 1), (128, 3), (256, 1), (256, 3))   # (size, channels)
DELTAS = (0.1, 0.25, 0.5)
ALPHAS = (3.0, 9.0)


def texture(size: int, channels: int, seed: int = 0) -> torch.Tensor:
    """(C, size, size) float in [0, 1]: a grey band-limited texture, or 0.75·grey + 0.25·per-channel."""
    grey = band_limited_texture(size, 1, CUTOFF, seed, dtype=torch.float64)
    if channels == 1:
        return grey.float()
    chroma = band_limited_texture(size, 3, CUTOFF, seed + 100, dtype=torch.float64)
    return (0.75 * grey + 0.25 * chroma).float()


def measure_translation(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor],
                        textures=TEXTURES, deltas=DELTAS, alphas=ALPHAS, seed: int = 0) -> dict:
    """Every number of the criteria for ``fn(a, b, alpha) -> magnified b`` ((C, H, W) in [0, 1]).

    Returns lists over the cases: ``identity_psnr`` (α = 0, δ = 0.25, per texture), and per
    (size, C, α, δ) in ``cases``: ``shift_rel_error`` (|measured − (1+α)δ| / (1+α)δ), ``ssim`` (to
    the exact magnified frame) and ``input_ssim`` (frame B to it).
    """
    out = {"identity_psnr": [], "shift_rel_error": [], "ssim": [], "input_ssim": [], "cases": []}
    for size, ch in textures:
        a = texture(size, ch, seed)
        b = fourier_shift(a, (0.0, 0.25))
        with torch.no_grad():
            y = fn(a, b, 0.0).clamp(0, 1)
        out["identity_psnr"].append(psnr(y, b, border=BORDER))
        for alpha in alphas:
            for d in deltas:
                b = fourier_shift(a, (0.0, d))
                truth = fourier_shift(a, (0.0, (1 + alpha) * d)).clamp(0, 1)
                with torch.no_grad():
                    y = fn(a, b, alpha).clamp(0, 1)
                dy, dx = measure_shift(a, y)
                expected = (1 + alpha) * d
                out["shift_rel_error"].append(math.hypot(dy, dx - expected) / expected)
                out["ssim"].append(ssim(y, truth, border=BORDER))
                out["input_ssim"].append(ssim(b, truth, border=BORDER))
                out["cases"].append((size, ch, alpha, d))
    return out


def summary(m: dict) -> dict:
    """One row: worst α = 0 PSNR, mean shift error, mean SSIM / input SSIM, cases below the input."""
    s, s_in = np.array(m["ssim"]), np.array(m["input_ssim"])
    return {"alpha0_psnr_min": float(min(m["identity_psnr"])),
            "shift_rel_error_mean": float(np.mean(m["shift_rel_error"])),
            "ssim_mean": float(s.mean()), "input_ssim_mean": float(s_in.mean()),
            "cases_below_input_ssim": int((s < s_in).sum()), "cases": len(s)}
