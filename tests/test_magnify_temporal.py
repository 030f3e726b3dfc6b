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



def _oh_direct_form(x, b, a):
    """Oh et al.'s magnet.py filter loop, written out: the input history starts as the first frame, no output
    history; ``a`` without its leading 1. ``x`` is (N, T); returns (N, T)."""
    x_state, y_state, out = [], [], []
    for i in range(x.shape[1]):
        xi = x[:, i]
        x_state.insert(0, xi)
        while len(x_state) < len(b):
            x_state.insert(0, xi)
        x_state = x_state[:len(b)]
        y = sum(xs * bk for xs, bk in zip(x_state, b)) - sum(ys * ak for ys, ak in zip(y_state, a))
        y_state = ([y] + y_state)[:len(a)]
        out.append(y)
    return np.stack(out, 1)

def _sine(freq, n=600, fps=FPS):
    t = torch.arange(n, dtype=torch.float64) / fps
    return torch.sin(2 * math.pi * freq * t).view(1, n, 1)


def _gain(kind, freq, order=2):
    n = 600  # 20 s: an integer number of cycles for the test frequencies
    y = TemporalBandpass(LO, HI, FPS, kind, order)(_sine(freq, n))
    tail = y[0, n // 2:, 0]  # steady state
    return float(tail.abs().max())


@pytest.mark.parametrize("kind", ["ideal", "butterworth_bandpass", "iir"])
def test_in_band_passes_with_unit_gain(kind):
    if kind == "iir":  # the difference of low-passes peaks at one frequency: find it from the response
        f = np.linspace(0.05, FPS / 2 - 0.05, 2000)
        freq = float(f[np.argmax(frequency_response(f, LO, HI, FPS, "iir"))])
        freq = round(freq * 20) / 20  # whole cycles in 20 s
    else:
        freq = 2.0 if kind == "ideal" else math.sqrt(LO * HI)
    assert abs(_gain(kind, freq) - 1.0) < 0.05


@pytest.mark.parametrize("kind,freq", [("ideal", 0.25), ("ideal", 8.0), ("butterworth_bandpass", 0.1), ("butterworth_bandpass", 12.0),
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
    filt = TemporalBandpass(LO, HI, FPS, "butterworth_bandpass", order=2)
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
        TemporalBandpass(1.0, 2.0, 30.0, kind="window")
    with pytest.raises(ValueError, match="stream"):
        TemporalBandpass(1.0, 2.0, 30.0, kind="fir").step(torch.zeros(1, 4, 1), {})
    with pytest.raises(ValueError, match="r1 > r2"):
        TemporalBandpass.iir(0.05, 0.4)
    with pytest.raises(ValueError, match="taps"):
        TemporalBandpass(1.0, 2.0, 30.0, kind="fir", fir_variant="oh2018")
    with pytest.raises(ValueError, match="stream"):
        TemporalBandpass(1.0, 2.0, 30.0, kind="ideal").step(torch.zeros(1, 4, 1), {})


def _oscillating_clip(freq, n=60, amp=0.15, size=48, fps=FPS):
    """A texture translating as amp·sin(2π f t) along x: (T, 1, H, W) and the displacements."""
    tex = band_limited_texture(size, cutoff=0.15, seed=5, dtype=torch.float64)
    d = [amp * math.sin(2 * math.pi * freq * i / fps) for i in range(n)]
    return torch.stack([fourier_shift(tex, (0.0, di)) for di in d]).float(), d


@pytest.mark.parametrize("method", ["eulerian", "phase"])
@pytest.mark.parametrize("kind", ["ideal", "butterworth_bandpass", "fir"])
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
    for kind in ("iir", "butterworth", "butterworth_bandpass"):
        kw = dict(method=method, mode="temporal", fps=FPS, freq_lo=LO, freq_hi=HI, temporal_filter=kind)
        torch.testing.assert_close(magnify(clip, 3.0, chunk_size=4, **kw), magnify(clip, 3.0, chunk_size=23, **kw),
                                   atol=1e-5, rtol=0)


# -- the authors' filters, against references transliterated from their released code ---------------------------
def _signal(n=80, f=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, n, f, dtype=torch.float64, generator=g)  # (B, T, F), like pixel values


def test_iir_is_wu_difference_of_lowpasses_and_oh_difference_of_iir():
    """amplify_spatial_lpyr_temporal_iir.m (Wu et al. 2012) and magnet.py run_temporal 'differenceOfIIR' (Oh et al.)."""
    x = _signal().numpy()
    r1, r2 = 0.4, 0.05
    # Wu: lowpass1 = lowpass2 = first frame; for each later frame lowpass_k = (1-r_k)*lowpass_k + r_k*x; filtered = lp1 - lp2
    lp1, lp2 = x[:, 0].copy(), x[:, 0].copy()
    wu = np.zeros_like(x)
    for i in range(1, x.shape[1]):
        lp1 = (1 - r1) * lp1 + r1 * x[:, i]
        lp2 = (1 - r2) * lp2 + r2 * x[:, i]
        wu[:, i] = lp1 - lp2
    ours = TemporalBandpass.iir(r1, r2)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, wu, atol=1e-12)
    # Oh: fl, fh are the r coefficients; b = [fh-fl, fl-fh], a = [-(2-fh-fl), (1-fl)(1-fh)]; x_state starts as the first frame
    fl, fh = r2, r1
    b = [fh - fl, fl - fh]
    a = [-1.0 * (2.0 - fh - fl), (1.0 - fl) * (1.0 - fh)]
    oh = _oh_direct_form(x, b, a)
    np.testing.assert_allclose(ours, oh, atol=1e-12)
    # frequency response (cycles/frame without fps) = scipy's freqz of Oh's (b, [1, a])
    w = np.linspace(0.001, 0.5, 50)
    ref = signal.freqz(b, [1.0, *a], worN=2 * np.pi * w)[1]
    np.testing.assert_allclose(TemporalBandpass.iir(r1, r2).response(w), ref, atol=1e-12)


def test_butterworth_is_wu_difference_of_first_order_lowpasses():
    """amplify_spatial_lpyr_temporal_butter.m: [low_a, low_b] = butter(1, fl/samplingRate, 'low') (MATLAB's
    (b, a) order, Wn as a fraction of Nyquist), lowpass = (-b(2)*lowpass + a(1)*x + a(2)*x_prev) ./ b(1)."""
    fps, fl, fh = 30.0, 0.4, 3.0  # their baby setting: butter(inFile, ..., 0.4, 3, 30, ...)
    x = _signal().numpy()
    low_a, low_b = signal.butter(1, fl / fps, "low")
    high_a, high_b = signal.butter(1, fh / fps, "low")
    lp1, lp2, prev = x[:, 0].copy(), x[:, 0].copy(), x[:, 0].copy()
    ref = np.zeros_like(x)
    for i in range(1, x.shape[1]):
        lp1 = (-high_b[1] * lp1 + high_a[0] * x[:, i] + high_a[1] * prev) / high_b[0]
        lp2 = (-low_b[1] * lp2 + low_a[0] * x[:, i] + low_a[1] * prev) / low_b[0]
        prev = x[:, i]
        ref[:, i] = lp1 - lp2
    filt = TemporalBandpass(fl, fh, fps, kind="butterworth")
    np.testing.assert_allclose(filt(torch.from_numpy(x)).numpy(), ref, atol=1e-12)
    # their cut-off convention: Wn = f/fs of Nyquist, so each low-pass is -3 dB at f/2 Hz; cutoff="hz" puts it at f
    lp_hi = lambda f, conv: abs(signal.freqz(*TemporalBandpass(fl, fh, fps, "butterworth", cutoff=conv).ba_hi,  # noqa: E731
                                             worN=[2 * np.pi * f / fps])[1][0])
    assert lp_hi(fh / 2, "wu2012") == pytest.approx(2 ** -0.5, abs=1e-9)
    assert lp_hi(fh, "hz") == pytest.approx(2 ** -0.5, abs=1e-9)


def test_ideal_with_wu_gain_matches_ideal_bandpassing():
    """ideal_bandpassing.m: Freq = (0..n-1)/n*fs; mask = Freq > wl & Freq < wh; F(~mask) = 0; real(ifft(F))."""
    fps, fl, fh = 30.0, 50 / 60, 60 / 60
    x = _signal(n=90).numpy()
    n = x.shape[1]
    freq = np.arange(n) / n * fps
    mask = (freq > fl) & (freq < fh)
    spec = np.fft.fft(x, axis=1)
    spec[:, ~mask] = 0
    ref = np.real(np.fft.ifft(spec, axis=1))
    filt = TemporalBandpass(fl, fh, fps, kind="ideal", gain="wu2012")
    np.testing.assert_allclose(filt(torch.from_numpy(x)).numpy(), ref, atol=1e-12)
    # hence Wu's gain: an in-band sinusoid comes out at half its amplitude (merlib's gain="unit": whole)
    sine = _sine(56 / 60, n=450)
    assert float(filt(sine).abs().max()) == pytest.approx(0.5, abs=0.01)
    assert float(TemporalBandpass(fl, fh, fps, kind="ideal")(sine).abs().max()) == pytest.approx(1.0, abs=0.01)


def _fir1_bandpass(order, wl, wh):
    """MATLAB fir1(order, [wl wh]) written out: Hamming-windowed ideal band-pass of order+1 taps, scaled to
    unit gain at the band centre (Wn as fractions of Nyquist)."""
    m = np.arange(order + 1) - order / 2.0
    ideal = wh * np.sinc(wh * m) - wl * np.sinc(wl * m)
    k = np.arange(order + 1)
    b = ideal * (0.54 - 0.46 * np.cos(2 * np.pi * k / order))
    wc = np.pi * (wl + wh) / 2
    return b / abs(np.sum(b * np.exp(-1j * wc * np.arange(order + 1))))


def test_fir_is_wadhwa_firwindowbp_and_oh_fir():
    fps, fl, fh = 30.0, 1.0, 3.0
    x = _signal(n=64).numpy()
    n = x.shape[1]
    # FIRWindowBP.m: B = fir1(len, [2fl 2fh]) with fl, fh as fractions of fs; B = B(1:len); H = fft(ifftshift(B))
    b = _fir1_bandpass(n, 2 * fl / fps, 2 * fh / fps)[:n]
    ref = np.real(np.fft.ifft(np.fft.fft(x, axis=1) * np.fft.fft(np.fft.ifftshift(b))[None, :, None], axis=1))
    np.testing.assert_allclose(TemporalBandpass(fl, fh, fps, kind="fir")(torch.from_numpy(x)).numpy(), ref, atol=1e-10)
    # magnet.py 'fir': firwin(n_filter_tap, [fl, fh], nyq=fs/2, pass_zero=False); fft(ifftshift(b), n=T), cyclic
    taps = 17
    bo = signal.firwin(taps, [fl, fh], fs=fps, pass_zero=False)
    ref = np.real(np.fft.ifft(np.fft.fft(x, axis=-2) * np.fft.fft(np.fft.ifftshift(bo), n=n)[None, :, None], axis=1))
    oh = TemporalBandpass(fl, fh, fps, kind="fir", fir_variant="oh2018", taps=taps)
    np.testing.assert_allclose(oh(torch.from_numpy(x)).numpy(), ref, atol=1e-10)


def test_butter_bandpass_is_oh_butter():
    """magnet.py 'butter': butter(n_filter_tap, [fl/nyq, fh/nyq], 'bandpass'), direct form with the input history
    set to the first frame and no output history — the same as our steady-state start."""
    fps, fl, fh, order = 30.0, 1.0, 4.0, 2
    x = _signal().numpy()
    b, a = signal.butter(order, [fl / (fps / 2), fh / (fps / 2)], btype="bandpass")
    a = a[1:]
    oh = _oh_direct_form(x, b, a)
    ours = TemporalBandpass(fl, fh, fps, kind="butterworth_bandpass", order=order)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, oh, atol=1e-9)


def test_iir_hz_helpers():
    from merlib.magnify.temporal import hz_from_iir_r, iir_r_from_hz

    assert iir_r_from_hz(3.0, 30.0, rule="wadhwa2013") == pytest.approx(0.1)  # phaseAmplify: temporalFilter(delta, fl/fs, fh/fs)
    r = iir_r_from_hz(2.0, 30.0)
    assert r == pytest.approx(1 - math.exp(-2 * math.pi * 2 / 30))
    assert hz_from_iir_r(r, 30.0) == pytest.approx(2.0)
    # the "pole" rule: the single low-pass is -3 dB at (close to) the requested frequency for f << fps
    lp = lambda f: abs(r / (1 - (1 - r) * np.exp(-2j * np.pi * f / 30.0)))  # noqa: E731
    assert lp(2.0) == pytest.approx(2 ** -0.5, abs=0.03)
    filt = TemporalBandpass(1.0, 3.0, 30.0, kind="iir")  # merlib's default from Hz: normalised to peak gain 1
    f = np.linspace(0.01, 14.9, 3000)
    assert float(np.abs(filt.response(f)).max()) == pytest.approx(1.0, abs=1e-4)
    assert TemporalBandpass(1.0, 3.0, 30.0, kind="iir", normalize=False).scale == 1.0


def test_magnify_accepts_a_ready_filter_and_wu_r_coefficients():
    clip, _ = _oscillating_clip(2.0, n=20, size=32)
    f = TemporalBandpass.iir(0.4, 0.05)
    a = magnify(clip, 3.0, mode="temporal", temporal_filter=f)
    b = magnify(clip, 3.0, mode="temporal", temporal_filter="iir", r1=0.4, r2=0.05)
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="conflict"):
        magnify(clip, 3.0, mode="temporal", temporal_filter=f, freq_lo=1.0)
