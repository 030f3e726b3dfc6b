"""Temporal band-pass filters for ``mode="temporal"``, with frequencies in Hz and a frame rate.

Three filters, as in Wu et al. 2012 ("Eulerian video magnification", Sec. 3 and their code):

* ``"ideal"`` — zero every temporal-FFT bin outside ``[freq_lo, freq_hi]``. Its window is the
  whole clip, so it needs all frames of a signal at once (not streamable).
* ``"butterworth"`` — a causal Butterworth band-pass (``scipy.signal.butter(..., output="sos")``)
  run as cascaded biquads (direct form II transposed) in torch; its state starts at the
  steady state of the first sample (``scipy.signal.sosfilt_zi``), so a constant input gives 0.
* ``"iir"`` — Wu's difference of two first-order IIR low-passes,
  ``y_k += r_k (x − y_k)``, ``out = y_hi − y_lo`` with ``r = 1 − exp(−2π f / fps)``, both
  started at the first sample. We divide by its peak gain so that the pass-band gain is 1.

Streaming filters (``butterworth``, ``iir``) keep O(filter order) state per coefficient and
are fed chunk by chunk; see :class:`TemporalBandpass`. Signals are tensors with time on
``dim=1``: ``(B, T, ...)``.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from merlib.magnify.validation import check_choice, check_nonneg_int, check_positive

__all__ = ["FILTERS", "TemporalBandpass", "bandpass", "frequency_response"]

FILTERS = ("ideal", "butterworth", "iir")


class TemporalBandpass:
    """A temporal band-pass for signals ``(B, T, ...)`` (time on dim 1).

    Args:
        freq_lo, freq_hi: pass band in Hz, ``0 < freq_lo < freq_hi < fps / 2``.
        fps: frame rate in frames per second.
        kind: ``"ideal"``, ``"butterworth"`` or ``"iir"``.
        order: Butterworth order (the band-pass has ``2·order`` poles).

    Use :meth:`__call__` on a whole clip, or :meth:`step` on consecutive chunks (streaming;
    ``butterworth`` and ``iir`` only). ``state`` is a dict the caller keeps per signal.
    """

    def __init__(self, freq_lo: float, freq_hi: float, fps: float, kind: str = "butterworth", order: int = 2):
        self.kind = check_choice(kind, "temporal_filter", FILTERS)
        self.fps = check_positive(fps, "fps")
        self.freq_lo = check_positive(freq_lo, "freq_lo")
        self.freq_hi = check_positive(freq_hi, "freq_hi")
        if not self.freq_lo < self.freq_hi:
            raise ValueError(f"`freq_lo` ({freq_lo}) must be below `freq_hi` ({freq_hi})")
        if not self.freq_hi < self.fps / 2:
            raise ValueError(f"`freq_hi` ({freq_hi} Hz) must be below the Nyquist frequency fps/2 = {self.fps / 2} Hz")
        self.order = check_nonneg_int(order, "order", minimum=1)
        self.streamable = self.kind != "ideal"
        if self.kind == "butterworth":
            from scipy.signal import butter, sosfilt_zi

            self.sos = butter(self.order, [self.freq_lo, self.freq_hi], btype="bandpass", fs=self.fps, output="sos")
            self.zi = sosfilt_zi(self.sos)  # (n_sections, 2) steady state for a unit step
        elif self.kind == "iir":
            self.r_hi = 1.0 - math.exp(-2 * math.pi * self.freq_hi / self.fps)
            self.r_lo = 1.0 - math.exp(-2 * math.pi * self.freq_lo / self.fps)
            f = np.linspace(0, self.fps / 2, 4097)
            self.gain = 1.0 / float(np.abs(self._iir_response(f)).max())

    # -- frequency response ----------------------------------------------------------------
    def _iir_response(self, freqs: np.ndarray) -> np.ndarray:
        z = np.exp(-2j * np.pi * np.asarray(freqs, dtype=float) / self.fps)
        lp = lambda r: r / (1 - (1 - r) * z)  # noqa: E731  y[n] = (1-r) y[n-1] + r x[n]
        return lp(self.r_hi) - lp(self.r_lo)

    def response(self, freqs) -> np.ndarray:
        """Complex frequency response at ``freqs`` (Hz); for ``ideal`` the 0/1 mask."""
        freqs = np.asarray(freqs, dtype=float)
        if self.kind == "ideal":
            return ((freqs >= self.freq_lo) & (freqs <= self.freq_hi)).astype(complex)
        if self.kind == "butterworth":
            from scipy.signal import sosfreqz

            return sosfreqz(self.sos, worN=freqs, fs=self.fps)[1]
        return self.gain * self._iir_response(freqs)

    # -- filtering -------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Filter a whole signal ``(B, T, ...)`` along dim 1."""
        if self.kind == "ideal":
            t = x.shape[1]
            spec = torch.fft.rfft(x, dim=1)
            f = torch.fft.rfftfreq(t, d=1.0 / self.fps).to(x.device)
            keep = ((f >= self.freq_lo) & (f <= self.freq_hi)).to(spec.dtype)
            spec = spec * keep.view(1, -1, *([1] * (x.ndim - 2)))
            return torch.fft.irfft(spec, n=t, dim=1)
        y, _ = self.step(x, {})
        return y

    def step(self, x: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """Filter the next chunk ``(B, t, ...)`` of a streamed signal; ``state`` starts as ``{}``."""
        if not self.streamable:
            raise ValueError("temporal_filter='ideal' needs the whole clip at once and cannot be streamed; "
                             "use 'butterworth' or 'iir'")
        out = torch.empty_like(x)
        if self.kind == "iir":
            if not state:
                state["lo"] = x[:, 0].clone()
                state["hi"] = x[:, 0].clone()
            lo, hi = state["lo"], state["hi"]
            for t in range(x.shape[1]):
                xt = x[:, t]
                hi.add_(xt - hi, alpha=self.r_hi)
                lo.add_(xt - lo, alpha=self.r_lo)
                out[:, t] = (hi - lo) * self.gain
            return out, state
        sos = self.sos
        if not state:  # steady state of the first sample (zi already chains the sections' DC gains)
            x0 = x[:, 0]
            state["z"] = [[float(self.zi[s, 0]) * x0, float(self.zi[s, 1]) * x0] for s in range(sos.shape[0])]
        z = state["z"]
        coeffs = [tuple(float(v) for v in sec) for sec in sos]
        for t in range(x.shape[1]):
            v = x[:, t]
            for s, (b0, b1, b2, _a0, a1, a2) in enumerate(coeffs):
                z1, z2 = z[s]
                y = b0 * v + z1
                z[s] = [b1 * v - a1 * y + z2, b2 * v - a2 * y]
                v = y
            out[:, t] = v
        return out, state


def bandpass(x: torch.Tensor, freq_lo: float, freq_hi: float, fps: float, kind: str = "butterworth",
             order: int = 2) -> torch.Tensor:
    """Band-pass a whole signal ``(B, T, ...)`` along time (dim 1); see :class:`TemporalBandpass`."""
    return TemporalBandpass(freq_lo, freq_hi, fps, kind, order)(x)


def frequency_response(freqs, freq_lo: float, freq_hi: float, fps: float, kind: str = "butterworth",
                       order: int = 2) -> np.ndarray:
    """Gain ``|H(f)|`` of the filter at ``freqs`` (Hz)."""
    return np.abs(TemporalBandpass(freq_lo, freq_hi, fps, kind, order).response(freqs))
