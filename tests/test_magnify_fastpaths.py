"""The speed paths of merlib.magnify against their reference forms (issue 11, speed half).

Each fast path is compared with the slower form it replaces, computed here or by switching the fast
path off: NumPy elementwise kernels vs torch's, the matrix form of the Laplacian pyramid's down/up vs the
shifted-slice form, the in-place Butterworth recursion vs scipy, the FFT-friendly band crops vs merlib
0.2's margin crops (same exact reconstruction; magnified outputs equal to the resampling of the
pointwise processing, and equally accurate against the exact ground truth), streaming chunk sizes, and
the Eulerian shortcut for frames that are their own reference.
"""
import math

import numpy as np
import pytest
import torch

import merlib.magnify.phase as phase_mod
import merlib.magnify.pyramids as pyr_mod
from merlib.magnify import magnify, magnify_pair
from merlib.magnify.pyramids import CROPS, LaplacianPyramid, SteerablePyramid, fast_fft_size
from merlib.magnify.testsignals import evaluate_magnifier, psnr, translating_clip


def _smooth(n):
    for p in (2, 3, 5):
        while n % p == 0:
            n //= p
    return n == 1


# -- elementwise kernels ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_numpy_kernels_equal_torch(dtype):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 4, 17, 9, dtype=dtype, generator=g)
    tol = 1e-6 if dtype == torch.complex64 else 1e-13
    torch.testing.assert_close(phase_mod._angle(z), torch.angle(z), atol=tol, rtol=0)
    torch.testing.assert_close(phase_mod._angle(z.conj()), torch.angle(z.conj()), atol=tol, rtol=0)  # conj views
    torch.testing.assert_close(phase_mod._abs(z), z.abs(), atol=tol, rtol=tol)
    ph = torch.angle(z)
    torch.testing.assert_close(phase_mod._expi(ph), torch.polar(torch.ones_like(ph), ph), atol=tol, rtol=0)
    assert phase_mod._angle(z).dtype == torch.angle(z).dtype


def _phase_cases():
    clip = translating_clip(32, [(0.0, 0.1 * math.sin(2 * math.pi * 3 * i / 30)) for i in range(10)], channels=3,
                            cutoff=0.2, seed=3)
    tkw = dict(mode="temporal", fps=30.0, freq_lo=1.0, freq_hi=6.0)
    return clip, [dict(), dict(mode="dynamic"), dict(sigma=1.0), dict(phase_clip=True), dict(attenuate_other=True, **tkw),
                  dict(tkw), dict(preset="wadhwa2013", **tkw), dict(bandwidth="quarter_octave", orientations=6)]


def test_phase_numpy_kernels_do_not_change_magnify(monkeypatch):
    clip, cases = _phase_cases()
    fast = [magnify(clip, [4.0, -0.5], method="phase", clamp=False, **kw) for kw in cases]
    monkeypatch.setattr(phase_mod, "_use_numpy", lambda *ts: False)  # the torch-only reference path
    for kw, f in zip(cases, fast):
        ref = magnify(clip, [4.0, -0.5], method="phase", clamp=False, **kw)
        torch.testing.assert_close(f, ref, atol=2e-5, rtol=0, msg=lambda m: f"{kw}: {m}")


@pytest.mark.parametrize("bandwidth, orientations", [("octave", 4), ("half_octave", 8)])
def test_band_conj_is_the_conjugate(bandwidth, orientations):
    """``band(spec, j, conj=True)`` (a forward FFT of the conjugated band spectrum) is ``conj(band(spec, j))``."""
    x = torch.rand(2, 1, 67, 64, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    pyr = SteerablePyramid(67, 64, orientations=orientations, bandwidth=bandwidth, dtype=torch.float64)
    spec = pyr.spectrum(x)
    for j in range(pyr.n_bands):
        torch.testing.assert_close(pyr.band(spec, j, conj=True), pyr.band(spec, j).conj().resolve_conj(),
                                   atol=1e-12, rtol=0)


# -- band crops ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(64, 64), (67, 53), (100, 96)])
@pytest.mark.parametrize("bandwidth", ["octave", "half_octave", "quarter_octave"])
def test_fast_crops_hold_the_band_and_reconstruct_exactly(size, bandwidth):
    h, w = size
    fast = SteerablePyramid(h, w, bandwidth=bandwidth, dtype=torch.float64)
    margin = SteerablePyramid(h, w, bandwidth=bandwidth, dtype=torch.float64, crop="margin")
    for (fh, fw), (mh, mw) in zip(fast.band_shapes, margin.band_shapes):
        assert fh <= fast_fft_size(mh) and fw <= fast_fft_size(mw)  # never larger than needed
        assert (fh == h or _smooth(fh)) and (fw == w or _smooth(fw))
    # each crop keeps the whole filter: the crop's filter energy equals the full filter's (margin crops hold it all)
    for bf, bm in zip(fast.bands, margin.bands):
        assert float((bf.filters**2).sum()) == pytest.approx(float((bm.filters**2).sum()), rel=1e-12, abs=1e-20)
    x = torch.rand(2, h, w, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for p in (fast, margin):
        assert float((p.reconstruct(p.decompose(x)) - x).norm() / x.norm()) < 1e-12


def test_fast_crop_sizes_at_powers_of_two():
    pyr = SteerablePyramid(256, 256)
    assert pyr.band_shapes[:4] == [(256, 256), (128, 128), (64, 64), (32, 32)]  # plenoptic's halving
    assert SteerablePyramid(256, 256, crop="margin").band_shapes[1] == (131, 131)
    assert [fast_fft_size(n) for n in (1, 7, 127, 131, 181, 259)] == [1, 8, 128, 135, 192, 270]
    assert CROPS == ("fast", "margin")
    with pytest.raises(ValueError, match="crop"):
        magnify(torch.rand(2, 1, 32, 32), 2.0, method="phase", crop="tight")


def test_fast_and_margin_crops_magnify_alike():
    """The crop is the sampling grid of the pointwise phase processing: outputs agree far beyond the effect."""
    clip, cases = _phase_cases()
    for kw in cases:
        a = magnify(clip, 4.0, method="phase", **kw)
        b = magnify(clip, 4.0, method="phase", crop="margin", **kw)
        agree = min(psnr(a[k], b[k]) for k in range(1, len(clip)))
        effect = min(psnr(a[k], clip[k]) for k in range(1, len(clip)))
        assert agree > 45 and agree > effect + 15, (kw, agree, effect)


@pytest.mark.parametrize("bandwidth, orientations", [("octave", 4), ("half_octave", 8)])
def test_fast_crops_are_as_accurate_as_margin_crops(bandwidth, orientations):
    kw = dict(method="phase", bandwidth=bandwidth, orientations=orientations)
    for total in (1.0, 2.0):
        res = {c: evaluate_magnifier(lambda a, b, al, c=c: magnify_pair(a, b, al, crop=c, **kw), 9.0, total / 10.0,
                                     size=128, cutoff=0.25) for c in CROPS}
        assert res["fast"]["psnr"] > res["margin"]["psnr"] - 0.5, (total, res["fast"]["psnr"], res["margin"]["psnr"])
        assert abs(res["fast"]["measured_shift"][1] - res["margin"]["measured_shift"][1]) < 0.01 * total


# -- Laplacian pyramid: matrix form --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_laplacian_matrix_form_equals_slice_form(monkeypatch, dtype):
    g = torch.Generator().manual_seed(2)
    shapes = [(3, 3), (4, 7), (5, 5), (16, 16), (33, 17), (64, 64), (127, 128), (128, 97)]
    xs = [torch.rand(3, 1, h, w, generator=g, dtype=dtype) for h, w in shapes]
    fast_down = [LaplacianPyramid.down(x) for x in xs]
    fast_up = [LaplacianPyramid.up(d, x.shape[-2:]) for d, x in zip(fast_down, xs)]
    lp = LaplacianPyramid(4)
    big = torch.rand(2, 1, 100, 90, generator=g, dtype=dtype)
    fast_pyr = lp.decompose(big)
    fast_w = lp.weighted(big, [0.5, 2.0, 3.0, 0.0, 1.0])
    monkeypatch.setattr(pyr_mod, "MATMUL_MAX_SIZE", 0)  # the slice form everywhere
    tol = 1e-6 if dtype == torch.float32 else 1e-13
    for x, d, u in zip(xs, fast_down, fast_up):
        torch.testing.assert_close(d, LaplacianPyramid.down(x), atol=tol, rtol=0)
        torch.testing.assert_close(u, LaplacianPyramid.up(LaplacianPyramid.down(x), x.shape[-2:]), atol=tol, rtol=0)
    for a, b in zip(fast_pyr, lp.decompose(big)):
        torch.testing.assert_close(a, b, atol=tol, rtol=0)
    torch.testing.assert_close(fast_w, lp.weighted(big, [0.5, 2.0, 3.0, 0.0, 1.0]), atol=10 * tol, rtol=0)


def test_laplacian_matrices_are_the_binomial_filter():
    d = pyr_mod._down_matrix(7, torch.float64, "cpu")
    taps = np.array([1, 4, 6, 4, 1]) / 16
    # interior row: taps centred on 2i; edges reflected without repeating the edge sample
    np.testing.assert_allclose(d[1].numpy(), [taps[0], taps[1], taps[2], taps[3], taps[4], 0, 0])  # centre 2
    np.testing.assert_allclose(d[0].numpy(), [taps[2], 2 * taps[3], 2 * taps[4], 0, 0, 0, 0])
    np.testing.assert_allclose(d.sum(1).numpy(), 1.0)
    u = pyr_mod._up_matrix(4, 8, torch.float64, "cpu")
    np.testing.assert_allclose(u.sum(1).numpy(), 1.0)  # interpolation keeps constants


# -- temporal streaming ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["eulerian", "phase"])
def test_auto_chunk_equals_explicit_chunks(method):
    clip = translating_clip(32, [(0.0, 0.1 * math.sin(2 * math.pi * 2 * i / 30)) for i in range(21)], seed=4)
    kw = dict(mode="temporal", fps=30.0, freq_lo=1.0, freq_hi=4.0, method=method)
    auto = magnify(clip, 5.0, **kw)
    for cs in (1, 21):
        torch.testing.assert_close(auto, magnify(clip, 5.0, chunk_size=cs, **kw), atol=1e-5, rtol=0)
    pyr = phase_mod.get_pyramid(256, 256)
    assert 1 <= phase_mod.auto_chunk_size(pyr, 1) <= 16
    assert phase_mod.auto_chunk_size(phase_mod.get_pyramid(32, 32), 1) == 16


# -- Eulerian: frames that are their own reference ------------------------------------------------------------------
@pytest.mark.parametrize("opts", [dict(), dict(lambda_c=8.0), dict(preset="wu2012"), dict(luma_only=True)])
def test_eulerian_reference_frames_and_targets(opts):
    clip = translating_clip(48, [(0.0, 0.0), (0.0, 0.2), (0.1, 0.3)], channels=3, seed=5)
    out = magnify(clip, 6.0, method="eulerian", clamp=False, **opts)
    assert torch.equal(out[0], clip[0])  # the reference frame is returned as is
    # the magnified change of each target, computed the direct way (YIQ of the frames, weight, back)
    from merlib.magnify.eulerian import _EulerianWeights

    w = _EulerianWeights(3, 48, 48, **opts)
    xs = w.to_space(clip[None])
    for k in (1, 2):
        m = w(xs[:, k:k + 1] - xs[:, :1], [6.0])[0]
        torch.testing.assert_close(out[k], w.from_space(xs[:, k:k + 1] + m)[0, 0], atol=2e-6, rtol=0)


@pytest.mark.parametrize("shape, levels", [((128, 128), 5), ((300, 260), 6), ((97, 64), 4), ((40, 33), 5), ((16, 16), 0)])
def test_laplacian_weighted_many_equals_the_chain(shape, levels):
    """The collapse from the truncated Gaussian pyramid (stopping at the coarsest change of weight, as a λc cap
    gives) equals the level-by-level collapse of the full pyramid, and decompose / reconstruct."""
    x = torch.rand(2, 1, *shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    lp = LaplacianPyramid(levels)
    sets = [[1.5] * (levels + 1), [0.0] + [2.0 + l for l in range(levels)], [0.3 * (l % 3) for l in range(levels + 1)],
            [min(9.0, 0.5 + 3 * l) for l in range(levels + 1)]]
    g = lp.gaussian(x)
    many = lp.weighted_many(x, sets)
    for ws, m in zip(sets, many):
        ref = lp.weighted_from_gaussian(g, ws)
        torch.testing.assert_close(m, ref, atol=1e-12, rtol=0)
        # and against decompose / reconstruct
        torch.testing.assert_close(m, lp.reconstruct([wl * p for wl, p in zip(ws, lp.decompose(x))]), atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="weights"):
        lp.weighted_many(x, [[1.0] * (levels + 2)])
