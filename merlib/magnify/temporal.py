"""Temporal band-pass filters for ``mode="temporal"``, with the semantics of the authors' released code.

Signals are tensors with time on ``dim=1``: ``(B, T, ...)``. Every filter has :meth:`~TemporalBandpass.__call__`
(a whole clip), :meth:`~TemporalBandpass.step` (streaming: feed consecutive chunks, keep the returned
``state`` dict; only for ``streamable`` filters) and :meth:`~TemporalBandpass.response` (complex
frequency response at frequencies in Hz). Kinds (:data:`FILTERS`):

``"ideal"``
    zero every temporal-FFT bin outside the band (whole clip at once, not streamable).
    ``gain="wu2012"`` reproduces Wu et al.'s ``ideal_bandpassing.m``: bins ``f_k = k·fps/T``,
    ``k = 0..T−1``, are kept where ``freq_lo < f_k < freq_hi`` (strict), so the mirrored
    (negative-frequency) bins are zeroed too and ``real(ifft(·))`` passes the band at **gain 1/2**.
    ``gain="unit"`` (merlib's choice, the default, because α then means what the convention says:
    in-band motion is shown at ``(1 + α)·δ``) keeps both halves with ``freq_lo <= |f| <= freq_hi``.
``"iir"``
    Wu et al.'s ``amplify_spatial_lpyr_temporal_iir.m``: two first-order low-passes
    ``y1 = (1 − r1)·y1 + r1·x``, ``y2 = (1 − r2)·y2 + r2·x`` (``r1 > r2``), both started at the first
    sample, output ``y1 − y2`` — parameterised by ``r1``, ``r2`` as in their code (no gain
    normalisation, ``normalize=False``). This is also Wadhwa et al.'s ``differenceOfIIR.m``
    (``rh = r1``, ``rl = r2``) and Oh et al. 2018's ``differenceOfIIR`` (their ``fh``, ``fl`` *are* ``r1``,
    ``r2``). Build from Hz with :meth:`TemporalBandpass.iir` / :func:`iir_r_from_hz`. merlib's choice when
    built from ``freq_lo``/``freq_hi`` (the ``kind="iir"`` default of :func:`merlib.magnify.magnify`):
    ``r = 1 − exp(−2π f / fps)`` and ``normalize=True`` (divide by the peak gain so the pass band peaks at 1).
``"butterworth"``
    Wu et al.'s ``amplify_spatial_lpyr_temporal_butter.m`` (= Wadhwa et al.'s ``differenceOfButterworths.m``):
    the difference of two **first-order** Butterworth low-passes, ``[b, a] = butter(1, f/fps, 'low')``
    for ``f = freq_hi`` and ``freq_lo``, run as ``y = (−a1·y + b0·x + b1·x_prev)/a0``, started at the
    first sample. Their cut-off convention: MATLAB's ``butter`` takes ``Wn`` as a fraction of the
    Nyquist frequency, and they pass ``f/fps``, so the −3 dB points are at ``f/2`` Hz
    (``cutoff="wu2012"``, the default; ``cutoff="hz"`` puts them at ``f``). No gain normalisation.
``"butterworth_bandpass"``
    a true band-pass Butterworth of ``order`` (``scipy.signal.butter(order, [lo, hi], "bandpass",
    fs=fps)``; ``2·order`` poles) run as cascaded biquads, started at the steady state of the first
    sample (``sosfilt_zi``). Pass band gain 1 at ``sqrt(lo·hi)``. Oh et al. 2018's ``butter`` is this
    filter with ``order = n_filter_tap`` (their zero initial output with the input history set to the
    first frame is the same steady state, since the band-pass has zero DC gain). merlib's default
    temporal filter (it was called ``"butterworth"`` before merlib 0.2).
``"fir"``
    a window-method FIR band-pass applied as a **cyclic** convolution over the whole clip (not
    streamable). ``fir_variant="wadhwa2013"`` (default) is ``FIRWindowBP.m``: ``B = fir1(T, [2·lo/fps,
    2·hi/fps])`` (``T + 1`` Hamming-windowed taps, unit gain at the band centre — ``scipy.signal.firwin``
    computes the same filter), truncated to its first ``T`` taps, ``H = fft(ifftshift(B))``,
    ``y = real(ifft(fft(x)·H))``. ``fir_variant="oh2018"`` is Oh et al.'s ``run_temporal``: ``B = firwin(taps,
    [lo, hi], fs=fps, pass_zero=False)``, ``H = fft(ifftshift(B), n=T)`` (the taps are *not* re-centred
    for ``T > taps``, as in their code), ``y = real(ifft(fft(x)·H))``.

References: Wu, Rubinstein, Shih, Guttag, Durand & Freeman 2012 (EVM MATLAB code, 2012);
Wadhwa, Rubinstein, Durand & Freeman 2013 (phase-based MATLAB code, 2013); Oh et al. 2018
(github.com/12dmodel/deep_motion_mag, ``magnet.py``).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from merlib.magnify.validation import check_choice, check_nonneg_int, check_positive

__all__ = ["FILTERS", "TemporalBandpass", "bandpass", "frequency_response", "iir_r_from_hz", "hz_from_iir_r",
           "R_RULES"]

FILTERS = ("ideal", "iir", "butterworth", "butterworth_bandpass", "fir")
#: How a cut-off in Hz becomes a first-order IIR coefficient ``r`` (see :func:`iir_r_from_hz`).
R_RULES = ("pole", "wadhwa2013")


def iir_r_from_hz(freq: float, fps: float, rule: str = "pole") -> float:
    """Coefficient ``r`` of the low-pass ``y += r·(x − y)`` for a cut-off ``freq`` Hz at ``fps`` frames/s.

    ``rule="pole"`` (merlib): ``r = 1 − exp(−2π·freq/fps)`` — the pole ``1 − r`` of the sampled RC
    low-pass with that corner frequency. ``rule="wadhwa2013"``: ``r = freq/fps`` — what Wadhwa et al.'s
    ``phaseAmplify.m`` passes to ``differenceOfIIR`` (``temporalFilter(delta, fl/fs, fh/fs)``); their run
    scripts give ``fs = 1`` and ``r`` directly as the "cut-offs" (e.g. 0.04, 0.4), as does Oh et al.'s code.
    """
    freq, fps = check_positive(freq, "freq"), check_positive(fps, "fps")
    rule = check_choice(rule, "rule", R_RULES)
    if rule == "wadhwa2013":
        r = freq / fps
    else:
        r = 1.0 - math.exp(-2.0 * math.pi * freq / fps)
    if not 0.0 < r <= 1.0:
        raise ValueError(f"`freq` = {freq} Hz at fps = {fps} gives r = {r}, outside (0, 1]")
    return r


def hz_from_iir_r(r: float, fps: float, rule: str = "pole") -> float:
    """Inverse of :func:`iir_r_from_hz`."""
    r, fps = check_positive(r, "r"), check_positive(fps, "fps")
    if r > 1.0:
        raise ValueError(f"`r` must be in (0, 1], got {r}")
    rule = check_choice(rule, "rule", R_RULES)
    if rule == "wadhwa2013":
        return r * fps
    return -math.log(1.0 - r) * fps / (2.0 * math.pi) if r < 1.0 else math.inf


def _first_order_lowpass_ba(freq: float, fps: float, cutoff: str) -> tuple[np.ndarray, np.ndarray]:
    from scipy.signal import butter

    if cutoff == "wu2012":  # MATLAB butter(1, f/fs): Wn = f/fs of Nyquist -> corner at f/2 Hz
        wn = freq / fps
    else:
        wn = freq / (fps / 2.0)
    if not 0.0 < wn < 1.0:
        raise ValueError(f"cut-off {freq} Hz at fps = {fps} ({cutoff!r} convention) must give 0 < Wn < 1, got {wn}")
    b, a = butter(1, wn, btype="low")
    return np.asarray(b, float), np.asarray(a, float)


class TemporalBandpass:
    """A temporal band-pass for signals ``(B, T, ...)`` (time on dim 1); kinds and semantics in the module docstring.

    Args:
        freq_lo, freq_hi: pass band in Hz, ``0 < freq_lo < freq_hi < fps / 2`` (for ``kind="iir"``
            optional when ``r1``, ``r2`` are given).
        fps: frame rate in frames per second (optional for ``kind="iir"`` with ``r1``, ``r2``).
        kind: one of :data:`FILTERS`.
        order: ``butterworth_bandpass`` order (``2·order`` poles).
        r1, r2: ``iir`` coefficients (``1 >= r1 > r2 > 0``), as in Wu et al.'s code.
        normalize: ``iir`` only — divide by the peak gain (default: True when built from Hz, False
            when given ``r1``, ``r2``).
        r_rule: ``iir`` from Hz: ``"pole"`` or ``"wadhwa2013"`` (:func:`iir_r_from_hz`).
        gain: ``ideal`` only — ``"unit"`` or ``"wu2012"`` (½, as Wu et al.'s code).
        cutoff: ``butterworth`` only — ``"wu2012"`` (corners at ``f/2``, their code) or ``"hz"``.
        taps: ``fir`` only — number of taps (``wadhwa2013``: default and at most ``T`` — their ``fir1(T)``
            truncated to ``T``; ``oh2018``: required, at most ``T``).
        fir_variant: ``"wadhwa2013"`` or ``"oh2018"``.

    State for :meth:`step` is a dict the caller keeps per signal; it starts as ``{}`` and the first
    chunk's first sample sets the filter to its steady state for that sample (so a constant input gives 0).
    """

    def __init__(self, freq_lo: float | None = None, freq_hi: float | None = None, fps: float | None = None,
                 kind: str = "butterworth_bandpass", order: int = 2, *, r1: float | None = None,
                 r2: float | None = None, normalize: bool | None = None, r_rule: str = "pole",
                 gain: str = "unit", cutoff: str = "wu2012", taps: int | None = None,
                 fir_variant: str = "wadhwa2013"):
        self.kind = check_choice(kind, "temporal_filter", FILTERS)
        self.order = check_nonneg_int(order, "order", minimum=1)
        given_r = r1 is not None or r2 is not None
        if given_r and self.kind != "iir":
            raise ValueError(f"`r1`/`r2` only apply to temporal_filter='iir', got {self.kind!r}")
        if self.kind == "iir" and given_r:
            if r1 is None or r2 is None:
                raise ValueError("temporal_filter='iir' needs both `r1` and `r2` (Wu et al.: r1 > r2)")
            self.fps = None if fps is None else check_positive(fps, "fps")
            self.freq_lo = self.freq_hi = None
            if freq_lo is not None or freq_hi is not None:
                raise ValueError("give either `r1`, `r2` or `freq_lo`, `freq_hi` for temporal_filter='iir', not both")
        else:
            missing = [n for n, v in (("freq_lo", freq_lo), ("freq_hi", freq_hi), ("fps", fps)) if v is None]
            if missing:
                raise ValueError(f"temporal_filter={self.kind!r} needs {missing} (Hz, frames/s)")
            self.fps = check_positive(fps, "fps")
            self.freq_lo = check_positive(freq_lo, "freq_lo")
            self.freq_hi = check_positive(freq_hi, "freq_hi")
            if not self.freq_lo < self.freq_hi:
                raise ValueError(f"`freq_lo` ({freq_lo}) must be below `freq_hi` ({freq_hi})")
            if not self.freq_hi < self.fps / 2:
                raise ValueError(f"`freq_hi` ({freq_hi} Hz) must be below the Nyquist frequency fps/2 = {self.fps / 2} Hz")
        self.streamable = self.kind not in ("ideal", "fir")
        self.gain = check_choice(gain, "gain", ("unit", "wu2012"))
        self.cutoff = check_choice(cutoff, "cutoff", ("wu2012", "hz"))
        self.fir_variant = check_choice(fir_variant, "fir_variant", ("wadhwa2013", "oh2018"))
        self.taps = None if taps is None else check_nonneg_int(taps, "taps", minimum=2)
        self.scale = 1.0
        if self.kind == "iir":
            if given_r:
                r1, r2 = check_positive(r1, "r1"), check_positive(r2, "r2")
                self.r_rule = None
            else:
                self.r_rule = check_choice(r_rule, "r_rule", R_RULES)
                r1 = iir_r_from_hz(self.freq_hi, self.fps, self.r_rule)
                r2 = iir_r_from_hz(self.freq_lo, self.fps, self.r_rule)
            if not 1.0 >= r1 > r2 > 0.0:
                raise ValueError(f"temporal_filter='iir' needs 1 >= r1 > r2 > 0 (r1: the higher cut-off), got r1={r1}, r2={r2}")
            self.r1, self.r2 = float(r1), float(r2)
            self.normalize = (not given_r) if normalize is None else bool(normalize)
            if self.normalize:
                w = np.linspace(0.0, math.pi, 8193)
                self.scale = 1.0 / float(np.abs(self._iir_response_w(w)).max())
        elif normalize is not None:
            raise ValueError("`normalize` only applies to temporal_filter='iir'")
        if self.kind == "butterworth":
            self.ba_hi = _first_order_lowpass_ba(self.freq_hi, self.fps, self.cutoff)
            self.ba_lo = _first_order_lowpass_ba(self.freq_lo, self.fps, self.cutoff)
        elif self.kind == "butterworth_bandpass":
            from scipy.signal import butter, sosfilt_zi

            self.sos = butter(self.order, [self.freq_lo, self.freq_hi], btype="bandpass", fs=self.fps, output="sos")
            self.zi = sosfilt_zi(self.sos)  # (n_sections, 2) steady state for a unit step
        elif self.kind == "fir" and self.fir_variant == "oh2018" and self.taps is None:
            raise ValueError("temporal_filter='fir' with fir_variant='oh2018' needs `taps` (Oh et al.'s n_filter_tap)")

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def iir(cls, r1: float, r2: float, normalize: bool = False, fps: float | None = None) -> "TemporalBandpass":
        """Wu et al.'s difference of first-order IIR low-passes with coefficients ``r1 > r2`` (no normalisation)."""
        return cls(kind="iir", r1=r1, r2=r2, normalize=normalize, fps=fps)

    # -- description -----------------------------------------------------------------------
    def describe(self) -> dict:
        """Parameters as a plain dict (for result records)."""
        d = {"kind": self.kind, "fps": self.fps, "freq_lo": self.freq_lo, "freq_hi": self.freq_hi}
        if self.kind == "iir":
            d.update(r1=self.r1, r2=self.r2, normalize=self.normalize, r_rule=self.r_rule)
        elif self.kind == "ideal":
            d.update(gain=self.gain)
        elif self.kind == "butterworth":
            d.update(cutoff=self.cutoff)
        elif self.kind == "butterworth_bandpass":
            d.update(order=self.order)
        else:
            d.update(taps=self.taps, fir_variant=self.fir_variant)
        return d

    def __repr__(self) -> str:
        return "TemporalBandpass(" + ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if v is not None) + ")"

    # -- frequency response ----------------------------------------------------------------
    def _iir_response_w(self, w: np.ndarray) -> np.ndarray:
        z = np.exp(-1j * np.asarray(w, dtype=float))
        lp = lambda r: r / (1 - (1 - r) * z)  # noqa: E731  y[n] = (1-r) y[n-1] + r x[n]
        return lp(self.r1) - lp(self.r2)

    def fir_taps(self, n_frames: int) -> np.ndarray:
        """The FIR taps used on a clip of ``n_frames`` frames (``kind="fir"``)."""
        from scipy.signal import firwin

        n_frames = check_nonneg_int(n_frames, "n_frames", minimum=2)
        if self.fir_variant == "wadhwa2013":
            taps = n_frames if self.taps is None else self.taps
            if taps > n_frames:
                raise ValueError(f"`taps` = {taps} exceeds the clip length T = {n_frames} (FIRWindowBP uses T taps)")
            # fir1(taps, Wn): taps+1 Hamming-windowed coefficients, unit gain at the band centre; keep the first `taps`.
            b = firwin(taps + 1, [2 * self.freq_lo / self.fps, 2 * self.freq_hi / self.fps], pass_zero=False,
                       window="hamming", scale=True)
            return b[:taps]
        if self.taps > n_frames:
            raise ValueError(f"`taps` = {self.taps} exceeds the clip length T = {n_frames}")
        return firwin(self.taps, [self.freq_lo, self.freq_hi], fs=self.fps, pass_zero=False)

    def fir_transfer(self, n_frames: int) -> np.ndarray:
        """The length-``n_frames`` DFT the clip's temporal FFT is multiplied by (``kind="fir"``)."""
        b = self.fir_taps(n_frames)
        return np.fft.fft(np.fft.ifftshift(b), n=n_frames)

    def response(self, freqs, n_frames: int | None = None) -> np.ndarray:
        """Complex frequency response at ``freqs`` (Hz; for ``iir`` built from ``r1``, ``r2`` without ``fps``:
        cycles/frame). ``ideal``: the 0/1 (or ½) mask; ``fir``: the DTFT of the taps for a clip of ``n_frames``."""
        freqs = np.asarray(freqs, dtype=float)
        fps = self.fps if self.fps is not None else 1.0
        w = 2 * np.pi * freqs / fps
        if self.kind == "ideal":
            inside = (freqs > self.freq_lo) & (freqs < self.freq_hi) if self.gain == "wu2012" else \
                (freqs >= self.freq_lo) & (freqs <= self.freq_hi)
            return inside.astype(complex) * (0.5 if self.gain == "wu2012" else 1.0)
        if self.kind == "iir":
            return self.scale * self._iir_response_w(w)
        if self.kind == "butterworth":
            from scipy.signal import freqz

            h_hi = freqz(*self.ba_hi, worN=w)[1]
            h_lo = freqz(*self.ba_lo, worN=w)[1]
            return h_hi - h_lo
        if self.kind == "butterworth_bandpass":
            from scipy.signal import sosfreqz

            return sosfreqz(self.sos, worN=freqs, fs=self.fps)[1]
        if n_frames is None:
            raise ValueError("the FIR response depends on the clip length: pass `n_frames`")
        from scipy.signal import freqz

        return freqz(self.fir_taps(n_frames), worN=w)[1]

    # -- filtering -------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Filter a whole signal ``(B, T, ...)`` along dim 1."""
        if x.ndim < 2:
            raise ValueError(f"temporal filters need (B, T, ...) signals, got shape {tuple(x.shape)}")
        t = x.shape[1]
        if self.kind == "ideal":
            if self.gain == "wu2012":
                spec = torch.fft.fft(x, dim=1)
                f = torch.arange(t, dtype=torch.float64) * (self.fps / t)  # Freq = (k-1)/n*fs, k = 1..n
                keep = ((f > self.freq_lo) & (f < self.freq_hi)).to(device=x.device, dtype=spec.dtype)
                spec = spec * keep.view(1, -1, *([1] * (x.ndim - 2)))
                return torch.fft.ifft(spec, dim=1).real.to(x.dtype)
            spec = torch.fft.rfft(x, dim=1)
            f = torch.fft.rfftfreq(t, d=1.0 / self.fps).to(x.device)
            keep = ((f >= self.freq_lo) & (f <= self.freq_hi)).to(spec.dtype)
            spec = spec * keep.view(1, -1, *([1] * (x.ndim - 2)))
            return torch.fft.irfft(spec, n=t, dim=1)
        if self.kind == "fir":
            h = torch.from_numpy(self.fir_transfer(t)).to(device=x.device)
            spec = torch.fft.fft(x, dim=1)
            spec = spec * h.to(spec.dtype).view(1, -1, *([1] * (x.ndim - 2)))
            return torch.fft.ifft(spec, dim=1).real.to(x.dtype)
        y, _ = self.step(x, {})
        return y

    def step(self, x: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """Filter the next chunk ``(B, t, ...)`` of a streamed signal; ``state`` starts as ``{}``.

        Returns ``(y, state)``; ``y`` has the shape of ``x``. ``state`` holds O(filter order) tensors of
        shape ``x[:, 0]`` (``iir``: ``lo``, ``hi``; ``butterworth``: ``lo``, ``hi``, ``prev``;
        ``butterworth_bandpass``: ``z``) and is updated in place.
        """
        if not self.streamable:
            raise ValueError(f"temporal_filter={self.kind!r} needs the whole clip at once and cannot be streamed; "
                             "use 'iir', 'butterworth' or 'butterworth_bandpass'")
        out = torch.empty_like(x)
        if x.shape[1] == 0:
            return out, state
        if self.kind == "iir":
            if not state:
                state["lo"] = x[:, 0].clone()
                state["hi"] = x[:, 0].clone()
            lo, hi = state["lo"], state["hi"]
            for t in range(x.shape[1]):
                xt = x[:, t]
                hi.add_(xt - hi, alpha=self.r1)
                lo.add_(xt - lo, alpha=self.r2)
                torch.sub(hi, lo, out=out[:, t])
            if self.scale != 1.0:
                out.mul_(self.scale)
            return out, state
        if self.kind == "butterworth":
            if not state:
                state["lo"] = x[:, 0].clone()
                state["hi"] = x[:, 0].clone()
                state["prev"] = x[:, 0].clone()
            (bh, ah), (bl, al) = self.ba_hi, self.ba_lo
            hb0, hb1, ha0, ha1 = (float(v) for v in (bh[0], bh[1], ah[0], ah[1]))
            lb0, lb1, la0, la1 = (float(v) for v in (bl[0], bl[1], al[0], al[1]))
            lo, hi, prev = state["lo"], state["hi"], state["prev"]
            for t in range(x.shape[1]):
                xt = x[:, t]
                hi.mul_(-ha1).add_(xt, alpha=hb0).add_(prev, alpha=hb1).div_(ha0)
                lo.mul_(-la1).add_(xt, alpha=lb0).add_(prev, alpha=lb1).div_(la0)
                prev.copy_(xt)
                torch.sub(hi, lo, out=out[:, t])
            return out, state
        sos = self.sos
        if not state:  # steady state of the first sample (zi already chains the sections' DC gains)
            x0 = x[:, 0]
            state["z"] = [[float(self.zi[s, 0]) * x0, float(self.zi[s, 1]) * x0] for s in range(sos.shape[0])]
        z = state["z"]
        coeffs = [tuple(float(v) for v in sec) for sec in sos]
        last = len(coeffs) - 1
        work = [torch.empty_like(x[:, 0]) for _ in range(last)]  # outputs of the inner sections
        for t in range(x.shape[1]):
            v = x[:, t]
            for s, (b0, b1, b2, _a0, a1, a2) in enumerate(coeffs):
                # transposed direct form II, in place (5 passes, no allocation):
                # y = b0 v + z1;  z1 <- z2 + b1 v − a1 y;  z2 <- b2 v − a2 y
                z1, z2 = z[s]
                y = torch.add(z1, v, alpha=b0, out=out[:, t] if s == last else work[s])
                z2.add_(v, alpha=b1).add_(y, alpha=-a1)
                torch.mul(v, b2, out=z1).add_(y, alpha=-a2)
                z[s] = [z2, z1]
                v = y
        return out, state


def bandpass(x: torch.Tensor, freq_lo: float, freq_hi: float, fps: float, kind: str = "butterworth_bandpass",
             order: int = 2, **kwargs) -> torch.Tensor:
    """Band-pass a whole signal ``(B, T, ...)`` along time (dim 1); see :class:`TemporalBandpass`."""
    return TemporalBandpass(freq_lo, freq_hi, fps, kind, order, **kwargs)(x)


def frequency_response(freqs, freq_lo: float, freq_hi: float, fps: float, kind: str = "butterworth_bandpass",
                       order: int = 2, n_frames: int | None = None, **kwargs) -> np.ndarray:
    """Gain ``|H(f)|`` of the filter at ``freqs`` (Hz); ``n_frames`` for ``kind="fir"``."""
    return np.abs(TemporalBandpass(freq_lo, freq_hi, fps, kind, order, **kwargs).response(freqs, n_frames=n_frames))
