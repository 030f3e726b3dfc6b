"""Magnify clips with a learned magnifier: ``magnify_learned`` (static, dynamic and temporal modes).

Modes: *static* (every frame against a reference frame), *dynamic* (every frame against its
predecessor: magnifies velocity) and *temporal* (band-pass filter the encoded shape representation
over time, then ``M_t + h(alpha·g(filtered_t))``, as the official ``run_temporal`` of
12dmodel/deep_motion_mag and ``play_temporal`` of postech-ami/Deep-Motion-Mag-Pytorch).
"""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F

from merlib.magnify.load import load_magnifier
from merlib.magnify.oh2018 import OhMagnifier

__all__ = ["magnify_learned", "OH_TEMPORAL_FILTERS"]


@lru_cache(maxsize=4)
def _shipped(name: str, device: str) -> nn.Module:
    """Shipped checkpoints, loaded once per (name, device) for repeated magnify calls."""
    return load_magnifier(name, device=device)


def _resolve_model(model, device):
    if isinstance(model, str):
        return _shipped(model, str(device))
    if isinstance(model, nn.Module):
        return model
    raise ValueError(f"magnify_learned: `model` must be 'oh2018', 'stmemm' or an nn.Module, got {model!r}")


#: Oh et al.'s ``run_temporal`` filter names (12dmodel/deep_motion_mag ``magnet.py``).
OH_TEMPORAL_FILTERS = ("differenceOfIIR", "butter", "fir")


def _temporal_band(kind, freq_lo, freq_hi, fps, order):
    from merlib.magnify.temporal import TemporalBandpass

    if freq_lo is None or freq_hi is None:
        raise ValueError("magnify_learned(mode='temporal') needs `freq_lo` and `freq_hi` (Hz, or the r "
                         "coefficients for temporal_filter='differenceOfIIR')")
    if kind == "differenceOfIIR":  # Oh: filter_b = [fh - fl, fl - fh], a = [1, -(2 - fh - fl), (1 - fl)(1 - fh)]
        return TemporalBandpass.iir(r1=freq_hi, r2=freq_lo)
    if fps is None:
        raise ValueError(f"magnify_learned(mode='temporal', temporal_filter={kind!r}) needs `fps`")
    if kind == "butter":
        return TemporalBandpass(freq_lo, freq_hi, fps, kind="butterworth_bandpass", order=order)
    if kind == "fir":
        return TemporalBandpass(freq_lo, freq_hi, fps, kind="fir", fir_variant="oh2018", taps=order)
    return TemporalBandpass(freq_lo, freq_hi, fps, kind=kind, order=order)


@torch.no_grad()
def magnify_learned(frames: torch.Tensor, alpha: float, model="oh2018", mode: str = "static", *,
                    reference: int = 0, freq_lo: float | None = None, freq_hi: float | None = None,
                    fps: float | None = None, temporal_filter: str = "butterworth_bandpass", order: int = 2,
                    device=None, chunk_size: int = 8, clamp: bool = True, progress: bool = False,
                    **unknown) -> torch.Tensor:
    """Magnify a batch of clips with a learned magnifier.

    ``frames`` (B, T, C, H, W) float in [0, 1] (C = 1 or 3; grey clips are replicated to RGB for an
    RGB network and averaged back). ``alpha`` in merlib's convention: the output shows
    ``f(x + (1 + alpha)·δ)``, Oh et al.'s amp = 1 + alpha (``convention.to_oh_factor``).
    ``model``: ``"oh2018"``, ``"stmemm"`` (shipped checkpoints) or a loaded ``nn.Module`` (used on
    its own device). ``device``: where a named model is loaded (None: the frames' device).

    Modes: ``"static"`` (frame t against frame ``reference``), ``"dynamic"`` (frame t against frame
    t−1; frame 0 is reconstructed), ``"temporal"`` (Oh et al. only, as the official
    ``run_temporal``: band-pass the encoded shape representation over time with
    :class:`merlib.magnify.temporal.TemporalBandpass`, then decode ``M_t + h(alpha·g(filtered_t))``
    with frame t's texture). ``temporal_filter`` takes Oh et al.'s three filters with their own
    parameters, so their README examples run as written (``run_temporal_on_test_videos.sh <exp>
    baby 20 0.04 0.4 30 2 differenceOfIIR`` is ``magnify_learned(frames, from_oh_factor(20),
    mode="temporal", temporal_filter="differenceOfIIR", freq_lo=0.04, freq_hi=0.4, fps=30,
    order=2)``):

    * ``"differenceOfIIR"``: ``freq_lo``/``freq_hi`` are the r coefficients ``rl``/``rh`` (as in
      Wadhwa et al.'s code; ``fps`` and ``order`` are ignored, as in theirs);
    * ``"butter"``: scipy ``butter(order, [lo/nyq, hi/nyq], "bandpass")`` (their ``n_filter_tap`` is
      ``order``), Hz at ``fps``;
    * ``"fir"``: ``firwin(order, [lo, hi], nyq=fps/2, pass_zero=False)`` applied cyclically over the
      whole clip in the Fourier domain, as theirs (``order`` = their ``n_filter_tap``). merlib
      decodes frame t with its own shape ``M_t`` as their IIR branch does; their FIR branch feeds
      ``ref_shape_enc: x``, a variable left over from the encoding loop (the *last* frame's shape),
      to every frame — merlib does not reproduce that;

    or any merlib kind (``"butterworth_bandpass"``, ``"butterworth"``, ``"ideal"``, ``"iir"``: Hz at
    ``fps``, Butterworth ``order``). Hz ↔ r: :func:`merlib.magnify.temporal.iir_r_from_hz`.
    Frames go through the network ``chunk_size`` pairs at a time, reflect-padded to a multiple of 8
    and cropped back. Returns (B, T, C, H, W), clamped to [0, 1] when ``clamp``.
    """
    from merlib.env import device as resolve_device
    from merlib.magnify.convention import check_alpha

    alpha = check_alpha(alpha)
    unknown.pop("batch_size", None)
    if unknown:
        raise ValueError(f"magnify_learned: unknown option(s) {sorted(unknown)}; learned magnifiers take "
                         "model, reference, freq_lo, freq_hi, fps, temporal_filter, order, device, "
                         "chunk_size, clamp, progress")
    if not isinstance(frames, torch.Tensor) or frames.ndim != 5:
        raise ValueError(f"magnify_learned: `frames` must be a (B, T, C, H, W) tensor, got "
                         f"{getattr(frames, 'shape', type(frames))}")
    if mode not in ("static", "dynamic", "temporal"):
        raise ValueError(f"magnify_learned: `mode` must be 'static', 'dynamic' or 'temporal', got {mode!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"magnify_learned: `chunk_size` must be a positive int, got {chunk_size!r}")
    B, T, C, H, W = frames.shape
    if not -T <= reference < T:
        raise ValueError(f"magnify_learned: `reference` must index one of the T={T} frames, got {reference}")
    if C not in (1, 3):
        raise ValueError(f"magnify_learned: frames must have C = 1 or 3 channels, got {C}")
    dev = frames.device if device is None else resolve_device(device)
    net = _resolve_model(model, dev)
    dev = next(net.parameters()).device
    net_c = net.config.channels
    x = frames.to(dev, torch.float32).reshape(B * T, C, H, W)
    if C != net_c:
        x = x.repeat(1, 3, 1, 1) if C == 1 else x.mean(1, keepdim=True)
    ph, pw = (-H) % 8, (-W) % 8
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if (H > ph and W > pw) else "replicate")
    x = x.reshape(B, T, net_c, H + ph, W + pw)

    out = torch.empty_like(x)
    if mode in ("static", "dynamic"):
        pairs = [(b, reference % T if mode == "static" else max(t - 1, 0), t) for b in range(B) for t in range(T)]
        it = range(0, len(pairs), chunk_size)
        if progress:
            from tqdm.auto import tqdm
            it = tqdm(it, desc=f"magnify ({mode})")
        for s in it:
            chunk = pairs[s:s + chunk_size]
            fa = torch.stack([x[b, r] for b, r, _ in chunk])
            fb = torch.stack([x[b, t] for b, _, t in chunk])
            y = net(fa, fb, alpha)
            for (b, _, t), yi in zip(chunk, y):
                out[b, t] = yi
    else:
        if not isinstance(net, OhMagnifier):
            raise ValueError("magnify_learned: mode='temporal' needs Oh et al.'s network (separate shape "
                             "and texture representations); ST-MEMM supports 'static' and 'dynamic'")
        band = _temporal_band(temporal_filter, freq_lo, freq_hi, fps, order)
        for b in range(B):
            textures, shapes = [], []
            for s in range(0, T, chunk_size):
                tex, shp = net.encoder(x[b, s:s + chunk_size])
                textures.append(tex)
                shapes.append(shp)
            tex, shp = torch.cat(textures), torch.cat(shapes)
            filt = band(shp.unsqueeze(0).double())[0].to(shp.dtype)
            for s in range(0, T, chunk_size):
                mag = shp[s:s + chunk_size] + net.manipulator.delta(filt[s:s + chunk_size], alpha)
                out[b, s:s + chunk_size] = net.decoder(tex[s:s + chunk_size], mag)
    out = out[..., :H, :W]
    if C != net_c:
        out = out.mean(2, keepdim=True) if C == 1 else out.repeat(1, 1, 3, 1, 1)
    if clamp:
        out = out.clamp(0, 1)
    return out.to(frames.device, frames.dtype)
