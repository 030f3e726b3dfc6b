"""The α convention and the ground-truth harness (merlib.magnify.convention, merlib.magnify.testsignals)."""
import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from merlib.magnify import displacement_gain, from_oh_factor, to_oh_factor
from merlib.magnify.testsignals import (band_limited_texture, evaluate_magnifier, fourier_shift, measure_shift,
                                        psnr, ssim, translation_triplet)


def test_convention_round_trip():
    assert displacement_gain(0) == 1.0 and displacement_gain(-1) == 0.0 and displacement_gain(9) == 10.0
    for a in (-1.0, 0.0, 2.5, 19.0):
        assert to_oh_factor(a) == a + 1 and from_oh_factor(to_oh_factor(a)) == a
    assert from_oh_factor(1.0) == 0.0  # Oh's amp = 1 is merlib's identity
    with pytest.raises(ValueError, match="alpha"):
        to_oh_factor(float("nan"))
    with pytest.raises(ValueError, match="amp"):
        from_oh_factor("ten")


def test_texture_is_band_limited_and_in_range():
    tex = band_limited_texture(64, channels=3, cutoff=0.2, seed=3)
    assert tex.shape == (3, 64, 64) and tex.dtype == torch.float32
    assert float(tex.min()) >= 0.1 - 1e-6 and float(tex.max()) <= 0.9 + 1e-6
    t64 = band_limited_texture(64, channels=3, cutoff=0.2, seed=3, dtype=torch.float64)
    torch.testing.assert_close(tex, t64.float())
    spec = torch.fft.fft2(t64 - t64.mean(dim=(-2, -1), keepdim=True)).abs()
    f = torch.fft.fftfreq(64, dtype=torch.float64)
    rad = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    assert float(spec[:, rad > 0.2].max()) < 1e-12 * float(spec.max())
    assert torch.equal(tex, band_limited_texture(64, channels=3, cutoff=0.2, seed=3))  # deterministic
    with pytest.raises(ValueError, match="cutoff"):
        band_limited_texture(64, cutoff=0.7)
    with pytest.raises(ValueError, match="channels"):
        band_limited_texture(64, channels=2)


def test_fourier_shift_matches_integer_roll_and_scipy():
    tex = band_limited_texture((40, 48), cutoff=0.25, seed=1)
    torch.testing.assert_close(fourier_shift(tex, (3, -5)), torch.roll(tex, (3, -5), dims=(-2, -1)), atol=1e-5, rtol=0)
    # sub-pixel: scipy's Fourier shift (same theorem, independent code) agrees
    ref = ndimage.fourier_shift(np.fft.fft2(tex[0].double().numpy()), (0.3, 1.7))
    ref = np.fft.ifft2(ref).real
    np.testing.assert_allclose(fourier_shift(tex[0].double(), (0.3, 1.7)).numpy(), ref, atol=1e-9)


@pytest.mark.parametrize("shift", [(0.0, 0.37), (-0.6, 1.25), (2.0, -0.5)])
def test_measure_shift_recovers_subpixel_translation(shift):
    a = band_limited_texture(96, cutoff=0.25, seed=2)
    b = fourier_shift(a, shift)
    dy, dx = measure_shift(a, b)
    assert abs(dy - shift[0]) < 0.01 and abs(dx - shift[1]) < 0.01


def test_metrics_wrap_skimage():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    a = band_limited_texture(32, channels=3, seed=4)
    b = (a + 0.01 * torch.randn(a.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    an, bn = a.permute(1, 2, 0).double().numpy(), b.permute(1, 2, 0).double().numpy()
    assert psnr(b, a) == pytest.approx(peak_signal_noise_ratio(an, bn, data_range=1.0))
    assert ssim(b, a) == pytest.approx(structural_similarity(an, bn, data_range=1.0, channel_axis=-1))
    assert psnr(a, a) == math.inf
    assert 39 < psnr(b, a) < 41  # sigma 0.01 noise -> 40 dB


def test_translation_triplet_ground_truth():
    a, b, truth = translation_triplet(alpha=3.0, delta=0.25, size=64)
    assert measure_shift(a, b)[1] == pytest.approx(0.25, abs=0.01)
    assert measure_shift(a, truth)[1] == pytest.approx(1.0, abs=0.01)  # (1 + alpha)·delta


def test_evaluate_magnifier_on_an_oracle_and_on_identity():
    oracle = lambda a, b, al: fourier_shift(a, (0.0, (1 + al) * measure_shift(a, b)[1]))  # noqa: E731
    r = evaluate_magnifier(oracle, alpha=4.0, delta=0.2, size=64)
    assert r["psnr"] > 60 and r["ssim"] > 0.9999 and r["shift_rel_error"] < 0.01
    r0 = evaluate_magnifier(lambda a, b, al: b, alpha=4.0, delta=0.2, size=64)  # no magnification
    assert r0["ssim"] == pytest.approx(r0["baseline_ssim"]) and r0["shift_rel_error"] == pytest.approx(0.8, abs=0.02)
    with pytest.raises(ValueError, match="fn"):
        evaluate_magnifier(lambda a, b, al: b[0], alpha=1.0, delta=0.2, size=32)


def test_warp_matches_fourier_shift_for_a_uniform_flow():
    from merlib.magnify.testsignals import bump_flow, warp

    tex = band_limited_texture(48, cutoff=0.1, seed=6)
    flow = torch.zeros(2, 48, 48)
    flow[1] = 0.4
    inner = (slice(None), slice(4, -4), slice(4, -4))  # away from the (non-periodic) border
    torch.testing.assert_close(warp(tex, flow, gain=2.0)[inner], fourier_shift(tex, (0.0, 0.8))[inner], atol=6e-3, rtol=0)  # bicubic error
    f = bump_flow(32, 40, [(10, 20, 3.0, -1.0, 0.5)])
    assert f.shape == (2, 32, 40) and float(f[0, 10, 20]) == pytest.approx(-1.0) and float(f[1].max()) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="bumps"):
        bump_flow(8, 8, [(1, 2, 3)])
    with pytest.raises(ValueError, match="flow"):
        warp(tex, f)
