"""Temporal band-pass filters and mode="temporal" (merlib.magnify.temporal)."""
import math

import numpy as np
import pytest
import torch
from scipy import signal

from merlib.magnify import magnify
from merlib.magnify.temporal import TemporalBandpass, frequency_response
from merlib.magnify.testsignals import band_limited_texture, fourier_shift, measure_shift

FPS, LO, HI = 30.0, 1.0, 3.0


def _sine(freq, n=600, fps=FPS):
    t = torch.arange(n, dtype=torch.float64) / fps
    return torch.sin(2 * math.pi * freq * t).view(1, n, 1)


def _gain(kind, freq, order=2):
    n = 600  # 20 s: an integer number of cycles for the test frequencies
    y = TemporalBandpass(LO, HI, FPS, kind, order)(_sine(freq, n))
    tail = y[0, n // 2:, 0]  # steady state
    return float(tail.abs().max())


@pytest.mark.parametrize("kind", ["ideal", "butterworth", "iir"])
def test_in_band_passes_with_unit_gain(kind):
    if kind == "iir":  # the difference of low-passes peaks at one frequency: find it from the response
        f = np.linspace(0.05, FPS / 2 - 0.05, 2000)
        freq = float(f[np.argmax(frequency_response(f, LO, HI, FPS, "iir"))])
        freq = round(freq * 20) / 20  # whole cycles in 20 s
    else:
        freq = 2.0 if kind == "ideal" else math.sqrt(LO * HI)
    assert abs(_gain(kind, freq) - 1.0) < 0.05


@pytest.mark.parametrize("kind,freq", [("ideal", 0.25), ("ideal", 8.0), ("butterworth", 0.1), ("butterworth", 12.0),
                                       ("iir", 0.0)])
def test_out_of_band_is_rejected(kind, freq):
    if freq == 0.0:  # a constant offset (the image itself) is removed
        x = torch.full((1, 300, 1), 0.7, dtype=torch.float64)
        y = TemporalBandpass(LO, HI, FPS, kind)(x)
        assert float(y.abs().max()) < 0.05 * 0.7
        return
    assert _gain(kind, freq) < 0.05


def test_butterworth_matches_scipy_and_streams():
    x = torch.randn(2, 97, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.5
    filt = TemporalBandpass(LO, HI, FPS, "butterworth", order=2)
    whole = filt(x)
    sos = signal.butter(2, [LO, HI], btype="bandpass", fs=FPS, output="sos")
    zi = signal.sosfilt_zi(sos)[:, None, :, None] * x[:, 0].numpy()[None, :, None, :]  # (sections, B, 2, F)
    ref, _ = signal.sosfilt(sos, x.numpy(), axis=1, zi=zi)
    np.testing.assert_allclose(whole.numpy(), ref, atol=1e-10)
    state, parts = {}, []
    for s in range(0, 97, 10):
        y, state = filt.step(x[:, s:s + 10], state)
        parts.append(y)
    torch.testing.assert_close(torch.cat(parts, 1), whole)


def test_bad_frequencies_are_named():
    with pytest.raises(ValueError, match="freq_hi"):
        TemporalBandpass(1.0, 20.0, 30.0)
    with pytest.raises(ValueError, match="freq_lo"):
        TemporalBandpass(3.0, 2.0, 30.0)
    with pytest.raises(ValueError, match="temporal_filter"):
        TemporalBandpass(1.0, 2.0, 30.0, kind="fir")
    with pytest.raises(ValueError, match="stream"):
        TemporalBandpass(1.0, 2.0, 30.0, kind="ideal").step(torch.zeros(1, 4, 1), {})


def _oscillating_clip(freq, n=60, amp=0.15, size=48, fps=FPS):
    """A texture translating as amp·sin(2π f t) along x: (T, 1, H, W) and the displacements."""
    tex = band_limited_texture(size, cutoff=0.15, seed=5, dtype=torch.float64)
    d = [amp * math.sin(2 * math.pi * freq * i / fps) for i in range(n)]
    return torch.stack([fourier_shift(tex, (0.0, di)) for di in d]).float(), d


@pytest.mark.parametrize("method", ["eulerian", "phase"])
@pytest.mark.parametrize("kind", ["ideal", "butterworth"])
def test_temporal_mode_magnifies_in_band_motion_only(method, kind):
    alpha = 4.0
    clip, d = _oscillating_clip(2.0)
    out = magnify(clip, alpha, method=method, mode="temporal", fps=FPS, freq_lo=LO, freq_hi=HI,
                  temporal_filter=kind, chunk_size=7)
    t = int(np.argmax(np.abs(d[30:]))) + 30  # a late frame at an extreme of the motion
    shift = measure_shift(clip[0], out[t])[1]
    assert shift == pytest.approx((1 + alpha) * d[t], rel=0.15)
    slow, _ = _oscillating_clip(0.2, n=150)  # one cycle in 5 s, far below the pass band: barely magnified
    out_slow = magnify(slow, alpha, method=method, mode="temporal", fps=FPS, freq_lo=LO, freq_hi=HI,
                       temporal_filter=kind)
    assert float((out_slow - slow).abs().max()) < 0.25 * float((out - clip).abs().max())


@pytest.mark.parametrize("method", ["eulerian", "phase"])
def test_streaming_chunk_size_does_not_change_the_result(method):
    clip, _ = _oscillating_clip(2.0, n=23, size=32)
    kw = dict(method=method, mode="temporal", fps=FPS, freq_lo=LO, freq_hi=HI, temporal_filter="iir")
    torch.testing.assert_close(magnify(clip, 3.0, chunk_size=4, **kw), magnify(clip, 3.0, chunk_size=23, **kw),
                               atol=1e-5, rtol=0)
