"""``magnify`` and ``magnify_pair``: one entry point for every magnifier in merlib.

α convention (see :mod:`merlib.magnify.convention`): the output shows
``f(x + (1 + alpha)·δ(x, t))``; ``alpha = 0`` returns the input, ``alpha = -1`` cancels the
motion. Oh et al. 2018's amplification factor is ``1 + alpha``.
"""
from __future__ import annotations

import torch

from merlib.magnify.convention import check_alpha
from merlib.magnify.eulerian import EULERIAN_OPTIONS, magnify_eulerian
from merlib.magnify.phase import PHASE_OPTIONS, magnify_phase
from merlib.magnify.pyramids import steerable_max_levels
from merlib.magnify.temporal import TemporalBandpass
from merlib.magnify.validation import check_choice, check_frames, check_image_pair, check_nonneg_int, check_options

__all__ = ["magnify", "magnify_pair", "METHODS", "MODES"]

METHODS = ("eulerian", "phase", "learned")
MODES = ("static", "dynamic", "temporal")
_TEMPORAL_OPTIONS = ("fps", "freq_lo", "freq_hi", "temporal_filter", "order", "chunk_size")
_COMMON_OPTIONS = ("clamp", "device")


def _reference_index(mode: str, t: int) -> list[int]:
    if mode == "static":
        return [0] * t
    return [max(i - 1, 0) for i in range(t)]  # dynamic: the previous input frame


def magnify(frames: torch.Tensor, alpha: float, method: str = "eulerian", mode: str = "static",
            **options) -> torch.Tensor:
    """Magnify the motion in a clip or a batch of clips.

    Args:
        frames: ``(T, C, H, W)`` or ``(B, T, C, H, W)``, float in [0, 1], C = 1 or 3, T >= 2.
        alpha: magnification factor in merlib's convention — the output shows
            ``f(x + (1 + alpha)·δ(x, t))``; 0 is the identity, −1 cancels the motion
            (Oh et al.'s factor is ``1 + alpha``; convert with :mod:`merlib.magnify.convention`).
        method: ``"eulerian"`` (Wu et al. 2012, linear, Laplacian pyramid), ``"phase"``
            (Wadhwa et al. 2013, complex steerable pyramid) or ``"learned"`` (Oh et al. 2018 /
            ST-MEMM via :mod:`merlib.magnify.learned`; option ``model="oh2018" | "stmemm" | nn.Module``).
        mode: ``"static"`` — δ of each frame relative to ``frames[0]`` (the onset; MER's two-frame use);
            ``"dynamic"`` — relative to the previous input frame;
            ``"temporal"`` — δ is the temporal band-pass of the signal between ``freq_lo`` and
            ``freq_hi`` Hz at ``fps`` frames/s (``temporal_filter`` = ``"ideal"`` | ``"butterworth"``
            (default) | ``"iir"``, Butterworth ``order`` (default 2); IIR filters stream in chunks of
            ``chunk_size`` frames (default 16)).
        **options: ``clamp`` (default True: clip the output to [0, 1]); ``device`` (None: the
            frames' device; ``"auto"``, ``"cpu"``, ``"cuda"``: compute there, return on the
            frames' device). Eulerian: ``levels``, ``lambda_c`` (px), ``luma_only``,
            ``chroma_attenuation``, ``skip_finest``, ``skip_coarsest``. Phase: ``levels``,
            ``orientations`` (4), ``bandwidth`` (``"octave"`` | ``"half_octave"``), ``sigma`` (0),
            ``attenuate`` (False), ``luma_only`` (False).

    Returns:
        a tensor of the same shape, dtype and device as ``frames``.

    Raises:
        ValueError: naming the argument, for wrong rank, channels, T < 2, values outside [0, 1],
        NaN, frames too small for the pyramid, unknown methods, modes or options.
    """
    alpha = check_alpha(alpha)
    method = check_choice(method, "method", METHODS)
    mode = check_choice(mode, "mode", MODES)
    min_size = 8 if method == "phase" else 1
    x, batched = check_frames(frames, "frames", min_frames=2, min_size=min_size)
    options = dict(options)
    clamp = options.pop("clamp", True)
    if not isinstance(clamp, bool):
        raise ValueError(f"`clamp` must be True or False, got {clamp!r}")
    dev_spec = options.pop("device", None)
    from merlib.env import device as resolve_device

    dev = x.device if dev_spec is None else resolve_device(dev_spec)
    work_dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    xw = x.to(device=dev, dtype=work_dtype)

    if method == "learned":
        from merlib.magnify.learned import magnify_learned

        model = options.pop("model", "oh2018")
        out = magnify_learned(xw, alpha, model=model, mode=mode, **options)
    else:
        temporal = None
        chunk_size = 16
        if mode == "temporal":
            missing = [k for k in ("fps", "freq_lo", "freq_hi") if k not in options]
            if missing:
                raise ValueError(f"mode='temporal' needs the option(s) {missing} (frequencies in Hz, frame rate in frames/s)")
            temporal = TemporalBandpass(options.pop("freq_lo"), options.pop("freq_hi"), options.pop("fps"),
                                        kind=options.pop("temporal_filter", "butterworth"),
                                        order=options.pop("order", 2))
            chunk_size = check_nonneg_int(options.pop("chunk_size", 16), "chunk_size", minimum=1)
        else:
            stray = [k for k in _TEMPORAL_OPTIONS if k in options]
            if stray:
                raise ValueError(f"option(s) {stray} only apply to mode='temporal', got mode={mode!r}")
        ref_index = _reference_index(mode, x.shape[1])
        if method == "eulerian":
            check_options(options, EULERIAN_OPTIONS, "magnify(method='eulerian')")
            out = magnify_eulerian(xw, alpha, ref_index, temporal, chunk_size, **options)
        else:
            check_options(options, PHASE_OPTIONS, "magnify(method='phase')")
            levels = options.get("levels")
            if levels is not None:
                h, w = x.shape[-2:]
                if isinstance(levels, int) and not isinstance(levels, bool) and levels > steerable_max_levels(h, w):
                    raise ValueError(f"`frames` of size {h}x{w} are too small for `levels` = {levels}: "
                                     f"min(H, W) must be >= 2^(levels+2) = {2 ** (levels + 2)} "
                                     f"(at most {steerable_max_levels(h, w)} levels here)")
            out = magnify_phase(xw, alpha, ref_index, temporal, chunk_size, **options)
    if clamp:
        out = out.clamp(0.0, 1.0)
    out = out.to(device=x.device, dtype=x.dtype)
    return out if batched else out[0]


def magnify_pair(reference: torch.Tensor, target: torch.Tensor, alpha: float, method: str = "eulerian",
                 **options) -> torch.Tensor:
    """Magnify the motion from ``reference`` (e.g. the onset) to ``target`` (e.g. the apex).

    Args:
        reference, target: ``(C, H, W)`` or ``(B, C, H, W)``, float in [0, 1], same shape.
        alpha: merlib's convention — the result shows ``f(x + (1 + alpha)·δ)`` where ``δ`` is the
            motion from ``reference`` to ``target``; 0 returns ``target``, −1 returns (approximately) ``reference``.
        method, **options: as :func:`magnify` (mode is ``"static"``).

    Returns:
        the magnified target, same shape as ``target``.
    """
    reference, target, batched = check_image_pair(reference, target)
    if "mode" in options:
        raise ValueError("magnify_pair: `mode` is always 'static' here; call magnify(...) for other modes")
    clip = torch.stack([reference, target], dim=-4)  # (..., 2, C, H, W)
    out = magnify(clip, alpha, method=method, mode="static", **options)
    return out[..., 1, :, :, :]
