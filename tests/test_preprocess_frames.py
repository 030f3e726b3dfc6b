"""Temporal preprocessing against references: SSIM vs scikit-image, TIM vs the path-graph
Laplacian and scipy's DCT, and the papers' frame-selection rules."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch
from skimage.metrics import structural_similarity

from merlib.data import frames as fr


def _rand_clip(t=6, c=3, h=16, w=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(t, c, h, w, generator=g)


# ------------------------------------------------------------------ SSIM ------------------
@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_scikit_image(channels):
    rng = np.random.default_rng(1)
    a = rng.random((channels, 32, 28))
    b = np.clip(a + 0.15 * rng.standard_normal(a.shape), 0, 1)
    ref = structural_similarity(a, b, data_range=1.0, channel_axis=0, win_size=7)
    got = fr.ssim(torch.from_numpy(a).float(), torch.from_numpy(b).float())
    assert abs(float(got) - ref) < 1e-5


def test_ssim_batched_and_2d_inputs():
    rng = np.random.default_rng(2)
    a, b = rng.random((3, 1, 20, 20)), rng.random((3, 1, 20, 20))
    got = fr.ssim(torch.from_numpy(a), torch.from_numpy(b))
    assert got.shape == (3,)
    for i in range(3):
        ref = structural_similarity(a[i, 0], b[i, 0], data_range=1.0)
        assert abs(float(got[i]) - ref) < 1e-10
    assert abs(float(fr.ssim(torch.from_numpy(a[0, 0]), torch.from_numpy(b[0, 0]))) - float(got[0])) < 1e-12


def test_global_ssim_is_eq14_literally():
    rng = np.random.default_rng(3)
    x, y = rng.random((10, 9)), rng.random((10, 9))
    c1, c2 = (0.01) ** 2, (0.03) ** 2
    mx, my = x.mean(), y.mean()
    sxy = ((x - mx) * (y - my)).sum() / (x.size - 1)
    eq14 = (2 * mx * my + c1) * (2 * sxy + c2) / ((mx ** 2 + my ** 2 + c1) * (x.var(ddof=1) + y.var(ddof=1) + c2))
    got = fr.ssim(torch.from_numpy(x), torch.from_numpy(y), win_size=None)
    assert abs(float(got) - eq14) < 1e-12
    assert abs(float(fr.ssim(torch.from_numpy(x), torch.from_numpy(x), win_size=None)) - 1.0) < 1e-12


def test_ssim_argument_errors():
    with pytest.raises(ValueError, match="same shape"):
        fr.ssim(torch.zeros(1, 8, 8), torch.zeros(1, 8, 9))
    with pytest.raises(ValueError, match="smaller than win_size"):
        fr.ssim(torch.zeros(1, 5, 5), torch.zeros(1, 5, 5))


# ------------------------------------------------------------------ TIM -------------------
@pytest.mark.parametrize("n", [2, 5, 12])
def test_tim_curve_is_the_path_graph_laplacian_embedding(n):
    w = np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)
    lap = np.diag(w.sum(1)) - w
    y = fr.path_graph_embedding(n).numpy()
    for k in range(1, n):
        lam = 2 - 2 * math.cos(math.pi * k / n)
        np.testing.assert_allclose(lap @ y[:, k - 1], lam * y[:, k - 1], atol=1e-10)
    np.testing.assert_allclose(y.T @ np.ones(n), 0, atol=1e-10)           # orthogonal to the constant
    np.testing.assert_allclose(y.T @ y, n / 2 * np.eye(n - 1), atol=1e-10)


@pytest.mark.parametrize("t", [1, 2, 7, 16])
def test_tim_reproduces_the_input_when_n_equals_t(t):
    clip = _rand_clip(t=t)
    torch.testing.assert_close(fr.tim_interpolate(clip, t), clip, atol=1e-5, rtol=0)


def test_tim_equals_dct_ii_interpolation():
    rng = np.random.default_rng(4)
    n, m = 9, 23
    x = rng.random((n, 5))
    coef = scipy.fft.dct(x, type=2, axis=0, norm=None) / 2             # c_k = sum_i x_i cos(pi k (i+1/2)/n)
    u = np.linspace(0, n - 1, m)                                        # 0-based positions
    k = np.arange(n)
    basis = np.cos(np.pi * np.outer(u + 0.5, k) / n)
    ref = (coef[0] / n) + (2 / n) * basis[:, 1:] @ coef[1:]
    got = fr.tim_weights(n, m).numpy() @ x
    np.testing.assert_allclose(got, ref, atol=1e-12)


def test_tim_is_smooth_between_frames():
    # frames sampled from a slow, smooth motion: TIM's in-between frames follow it closely
    n, m = 12, 45
    t_in = np.linspace(0, 1, n)
    t_out = np.linspace(0, 1, m)
    signal = lambda t: 0.5 + 0.3 * np.cos(np.pi * t)                   # noqa: E731, one half-period
    clip = torch.from_numpy(signal(t_in)).float().view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous()
    out = fr.tim_interpolate(clip, m)[:, 0, 0, 0].double().numpy()
    assert np.max(np.abs(out - signal(t_out))) < 0.02
    d2 = np.diff(out, 2)
    assert np.max(np.abs(d2)) < 4 * np.max(np.abs(np.diff(signal(t_out), 2))) + 1e-3   # no kinks or jumps
    assert out[0] == pytest.approx(signal(0.0), abs=1e-5) and out[-1] == pytest.approx(signal(1.0), abs=1e-5)


# ------------------------------------------------------------------ resampling ------------
def test_uniform_indices_and_resample():
    assert fr.uniform_indices(31, 16).tolist() == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]
    assert fr.uniform_indices(16, 16).tolist() == list(range(16))
    clip = _rand_clip(t=40)
    out = fr.resample_frames(clip, 16)
    torch.testing.assert_close(out, clip[fr.uniform_indices(40, 16)])
    short = _rand_clip(t=9)
    tim = fr.resample_frames(short, 16)
    assert tim.shape == (16, 3, 16, 12)
    torch.testing.assert_close(tim[0], short[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(tim[-1], short[-1], atol=1e-5, rtol=0)
    lin = fr.resample_frames(short, 17, short="linear")
    torch.testing.assert_close(lin[::2], short)                           # every other frame is an input frame
    torch.testing.assert_close(lin[1], (short[0] + short[1]) / 2)
    with pytest.raises(ValueError, match="cannot pick n=16"):
        fr.uniform_indices(9, 16)
    with pytest.raises(ValueError, match="short must be"):
        fr.resample_frames(short, 16, short="cubic")


def test_key_frames_mmfrn():
    assert fr.key_frame_indices(30, 12).tolist() == [0, 6, 12, 29]
    assert fr.key_frame_indices(10, 0).tolist() == [0, 0, 0, 9]           # onset == apex
    clip = _rand_clip(t=10)
    torch.testing.assert_close(fr.key_frames(clip, 5), clip[[0, 2, 5, 9]])
    with pytest.raises(ValueError, match="apex must be an int in 0..9"):
        fr.key_frame_indices(10, 10)


def test_difference_frame_is_the_lowest_ssim_frame():
    g = torch.Generator().manual_seed(5)
    base = torch.rand(1, 1, 24, 24, generator=g)
    clip = base.repeat(12, 1, 1, 1)
    noise = torch.rand(12, 1, 24, 24, generator=g)
    amount = torch.tensor([0, .05, .1, .2, .3, .5, .4, .3, .2, .1, .05, .02]).view(-1, 1, 1, 1)
    clip = (1 - amount) * clip + amount * noise
    idx, s = fr.difference_frame_indices(clip)
    assert int(idx[2]) == 5 == int(torch.argmin(s))
    # difference frame 5: 5 frames to the start, 6 to the end -> mid between it and the end
    assert idx.tolist() == [0, (5 + 11) // 2, 5, 11]
    ref = [structural_similarity(clip[i, 0].numpy(), clip[0, 0].numpy(), data_range=1.0) for i in range(12)]
    np.testing.assert_allclose(s.numpy(), ref, atol=1e-5)
    late = clip.flip(0)
    assert fr.difference_frame_indices(late)[0].tolist()[:3] == [0, 3, 6]   # mid between start and frame 6


def test_sliding_windows_bai2021():
    idx = fr.sliding_window_indices(29, 14)
    assert idx.shape[1] == 14
    assert idx[0].tolist() == list(range(14)) and idx[-1, -1] == 28              # the whole clip is covered
    assert (idx[1:, 0] - idx[:-1, 0] <= 7).all()                                   # windows overlap
    spaced = fr.sliding_window_indices(29, 7, interval=2, stride=3)
    assert spaced[0].tolist() == [0, 2, 4, 6, 8, 10, 12] and spaced[-1, -1] == 28
    auto = fr.sliding_window_indices(57, 8, interval="auto")                     # (57-1) // (2*7) = 4
    assert (auto[:, 1] - auto[:, 0] == 4).all()
    clip = _rand_clip(t=11)
    w = fr.sliding_windows(clip, 14)                                               # shorter than a window: TIM
    assert w.shape == (1, 14, 3, 16, 12)
    w2 = fr.sliding_windows(_rand_clip(t=20), 8, stride=4)
    assert w2.shape[1:] == (8, 3, 16, 12)
    with pytest.raises(ValueError, match="spans 27 frames"):
        fr.sliding_window_indices(20, 14, interval=2)


# ------------------------------------------------------------------ apex ------------------
@pytest.mark.parametrize("t,apex", [(20, 7), (31, 22), (11, 5)])
def test_estimate_apex_finds_the_peak(t, apex):
    g = torch.Generator().manual_seed(t)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    blob = torch.exp(-((xx - 16) ** 2 + (yy - 14) ** 2) / 30)
    prof = torch.tensor([i / apex if i <= apex else (t - 1 - i) / (t - 1 - apex) for i in range(t)])
    clip = 0.3 + 0.4 * prof.view(-1, 1, 1, 1) * blob + 0.01 * torch.randn(t, 1, 32, 32, generator=g)
    clip = clip.clamp(0, 1).expand(t, 3, 32, 32)
    assert abs(fr.estimate_apex(clip) - apex) <= 1
    assert abs(fr.estimate_apex(clip, method="onset") - apex) <= 1


def test_argument_errors_are_value_errors():
    with pytest.raises(ValueError, match=r"shape \(T, C, H, W\)"):
        fr.tim_interpolate(torch.zeros(3, 4, 4), 5)
    with pytest.raises(ValueError, match="float tensor"):
        fr.key_frames(torch.zeros(3, 1, 4, 4, dtype=torch.uint8), 1)
    with pytest.raises(ValueError, match="length must be an int >= 1"):
        fr.tim_interpolate(torch.zeros(3, 1, 4, 4), 0)
    with pytest.raises(ValueError, match="method must be"):
        fr.estimate_apex(torch.zeros(3, 1, 4, 4), method="max")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_results_on_cuda():
    from merlib.data import faces

    clip = _rand_clip(t=9, h=24, w=24)
    gpu = clip.cuda()
    torch.testing.assert_close(fr.tim_interpolate(gpu, 16).cpu(), fr.tim_interpolate(clip, 16), atol=1e-5, rtol=0)
    torch.testing.assert_close(fr.ssim_to_first(gpu).cpu(), fr.ssim_to_first(clip), atol=1e-5, rtol=0)
    torch.testing.assert_close(fr.sliding_windows(gpu, 4).cpu(), fr.sliding_windows(clip, 4))
    assert fr.estimate_apex(gpu) == fr.estimate_apex(clip)
    lm = np.stack([np.linspace(4, 20, 68), np.linspace(5, 18, 68)], axis=1)
    al = faces.estimate_alignment(lm, size=16)
    torch.testing.assert_close(faces.apply_alignment(gpu, al).cpu(), faces.apply_alignment(clip, al), atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(faces.landmark_patches(gpu, lm).cpu(), faces.landmark_patches(clip, lm), atol=1e-5,
                               rtol=0)
