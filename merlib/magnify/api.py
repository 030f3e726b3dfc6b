"""``magnify`` and ``magnify_pair``: one entry point for every magnifier in merlib.

α convention (see :mod:`merlib.magnify.convention`): the output shows
``f(x + (1 + alpha)·δ(x, t))``; ``alpha = 0`` returns the input, ``alpha = -1`` cancels the
motion. Oh et al. 2018's amplification factor is ``1 + alpha``.
"""
from __future__ import annotations

import torch

from merlib.magnify.convention import check_alpha
from merlib.magnify.eulerian import EULERIAN_OPTIONS, EULERIAN_PRESETS, magnify_eulerian
from merlib.magnify.phase import PHASE_OPTIONS, PHASE_PRESETS, magnify_phase
from merlib.magnify.pyramids import steerable_max_levels
from merlib.magnify.temporal import TemporalBandpass
from merlib.magnify.validation import check_choice, check_frames, check_image_pair, check_nonneg_int, check_options

__all__ = ["magnify", "magnify_pair", "METHODS", "MODES", "PRESETS", "make_temporal_filter"]

METHODS = ("eulerian", "phase", "learned")
MODES = ("static", "dynamic", "temporal")
_TEMPORAL_OPTIONS = ("fps", "freq_lo", "freq_hi", "temporal_filter", "order", "chunk_size", "r1", "r2", "taps",
                     "fir_variant")
#: Presets per method: Wu et al.'s code path (Eulerian) and Wadhwa et al.'s code defaults (phase).
PRESETS = {"eulerian": tuple(EULERIAN_PRESETS), "phase": tuple(PHASE_PRESETS)}
_COMMON_OPTIONS = ("clamp", "device")


def _reference_index(mode: str, t: int) -> list[int]:
    if mode == "static":
        return [0] * t
    return [max(i - 1, 0) for i in range(t)]  # dynamic: the previous input frame


def make_temporal_filter(options: dict, method: str, preset: str | None) -> TemporalBandpass:
    """Pop the temporal options from ``options`` and build the filter (presets set their code's semantics)."""
    spec = options.pop("temporal_filter", None)
    given = {k: options.pop(k) for k in ("fps", "freq_lo", "freq_hi", "order", "r1", "r2", "taps", "fir_variant")
             if k in options}
    if isinstance(spec, TemporalBandpass):
        stray = [k for k in given if k not in ("fps",)]
        if stray:
            raise ValueError(f"option(s) {stray} conflict with a ready-made `temporal_filter` ({spec!r}); "
                             "set them on the TemporalBandpass instead")
        return spec
    table = EULERIAN_PRESETS if method == "eulerian" else PHASE_PRESETS
    rules = table.get(preset, {}).get("temporal", {}) if preset is not None else {}
    kind = spec if spec is not None else rules.get("default", "butterworth_bandpass")
    if not isinstance(kind, str):
        raise ValueError(f"`temporal_filter` must be a name or a TemporalBandpass, got {kind!r}")
    if kind == "iir" and "r1" in given:
        extra = dict(rules.get("iir", {}))
        extra.pop("r_rule", None)
        return TemporalBandpass(kind="iir", r1=given.pop("r1"), r2=given.pop("r2", None), fps=given.pop("fps", None),
                                **extra, **_no_stray(given, kind))
    missing = [k for k in ("fps", "freq_lo", "freq_hi") if k not in given]
    if missing:
        raise ValueError(f"mode='temporal' needs the option(s) {missing} (frequencies in Hz, frame rate in frames/s)"
                         + (" — or r1, r2 for temporal_filter='iir'" if kind == "iir" else ""))
    fps, lo, hi = given.pop("fps"), given.pop("freq_lo"), given.pop("freq_hi")
    extra = dict(rules.get(kind, {}))
    for k in ("order", "taps", "fir_variant"):
        if k in given:
            extra[k] = given.pop(k)
    return TemporalBandpass(lo, hi, fps, kind=kind, **extra, **_no_stray(given, kind))


def _no_stray(given: dict, kind: str) -> dict:
    if given:
        raise ValueError(f"option(s) {sorted(given)} do not apply to temporal_filter={kind!r}")
    return {}


def _check_alphas(alpha):
    if isinstance(alpha, (list, tuple)):
        if not alpha:
            raise ValueError("`alpha` must be a number or a non-empty list of numbers (an α sweep)")
        return [check_alpha(a) for a in alpha], True
    if isinstance(alpha, torch.Tensor) and alpha.ndim == 1:
        return _check_alphas(alpha.tolist())
    return check_alpha(alpha), False


def magnify(frames: torch.Tensor, alpha, method: str = "eulerian", mode: str = "static",
            **options) -> torch.Tensor:
    """Magnify the motion in a clip or a batch of clips.

    Args:
        frames: ``(T, C, H, W)`` or ``(B, T, C, H, W)``, float in [0, 1], C = 1 or 3, T >= 2.
        alpha: magnification factor in merlib's convention — the output shows
            ``f(x + (1 + alpha)·δ(x, t))``; 0 is the identity, −1 cancels the motion
            (Oh et al.'s factor is ``1 + alpha``; convert with :mod:`merlib.magnify.convention`).
            A list ``[a1, a2, …]`` is an α sweep: the clip is decomposed once and re-synthesised per α;
            the result gets a new leading dimension of length ``len(alpha)``.
        method: ``"eulerian"`` (Wu et al. 2012, linear, Laplacian pyramid), ``"phase"``
            (Wadhwa et al. 2013, complex steerable pyramid) or ``"learned"`` (Oh et al. 2018 /
            ST-MEMM via :mod:`merlib.magnify.learned`; option ``model="oh2018" | "stmemm" | nn.Module``).
        mode: ``"static"`` — δ of each frame relative to ``frames[0]`` (the onset; MER's two-frame use);
            ``"dynamic"`` — relative to the previous input frame;
            ``"temporal"`` — δ is the temporal band-pass of the signal between ``freq_lo`` and
            ``freq_hi`` Hz at ``fps`` frames/s. ``temporal_filter``: a name from
            :data:`merlib.magnify.temporal.FILTERS` (default ``"butterworth_bandpass"`` of ``order`` 2;
            ``"ideal"``, ``"iir"`` — or give ``r1``, ``r2`` as Wu et al. —, ``"butterworth"`` (Wu's
            difference of first-order low-passes), ``"fir"`` (``taps``, ``fir_variant``)) or a ready
            :class:`~merlib.magnify.temporal.TemporalBandpass`. Streamable filters run in chunks of
            ``chunk_size`` frames (default: sized to the frame so that a chunk's coefficients stay
            cache-sized, 1-16 frames; the result does not depend on it).
        **options: ``clamp`` (default True: clip the output to [0, 1]); ``device`` (None: the
            frames' device; ``"auto"``, ``"cpu"``, ``"cuda"``: compute there, return on the
            frames' device); ``preset``: ``"wu2012"`` (Eulerian: Wu et al.'s code path) or
            ``"wadhwa2013"`` (phase: their code's defaults). Eulerian: ``levels``, ``lambda_c`` (px),
            ``luma_only``, ``chroma_attenuation``, ``skip_finest``, ``skip_coarsest``. Phase: ``levels``,
            ``orientations`` (4), ``bandwidth``, ``radial``, ``sigma`` (0), ``phase_clip`` (False),
            ``attenuate_other`` (False), ``highpass`` (True), ``luma_only`` (False), ``crop`` (``"fast"``;
            ``"margin"``: merlib <= 0.2's band crops, see :data:`merlib.magnify.pyramids.CROPS`).

    Returns:
        a tensor of the same shape, dtype and device as ``frames`` (with a leading α dimension for a sweep).

    Raises:
        ValueError: naming the argument, for wrong rank, channels, T < 2, values outside [0, 1],
        NaN, frames too small for the pyramid, unknown methods, modes, presets or options.
    """
    alpha, sweep = _check_alphas(alpha)
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
    preset = options.get("preset")
    if preset is not None and method != "learned":
        preset = check_choice(preset, "preset", PRESETS[method])

    if method == "learned":
        from merlib.magnify.learned import magnify_learned

        model = options.pop("model", "oh2018")
        outs = [magnify_learned(xw, a, model=model, mode=mode, **options) for a in (alpha if sweep else [alpha])]
    else:
        temporal = None
        chunk_size = None
        if mode == "temporal":
            temporal = make_temporal_filter(options, method, preset)
            chunk_size = options.pop("chunk_size", None)
            if chunk_size is not None:
                chunk_size = check_nonneg_int(chunk_size, "chunk_size", minimum=1)
        else:
            stray = [k for k in _TEMPORAL_OPTIONS if k in options]
            if stray:
                raise ValueError(f"option(s) {stray} only apply to mode='temporal', got mode={mode!r}")
        ref_index = _reference_index(mode, x.shape[1])
        a_arg = alpha if sweep else [alpha]
        if method == "eulerian":
            check_options(options, EULERIAN_OPTIONS, "magnify(method='eulerian')")
            outs = magnify_eulerian(xw, a_arg, ref_index, temporal, chunk_size, **options)
        else:
            check_options(options, PHASE_OPTIONS, "magnify(method='phase')")
            levels = options.get("levels")
            if levels is not None:
                h, w = x.shape[-2:]
                if isinstance(levels, int) and not isinstance(levels, bool) and levels > steerable_max_levels(h, w):
                    raise ValueError(f"`frames` of size {h}x{w} are too small for `levels` = {levels}: "
                                     f"min(H, W) must be >= 2^(levels+2) = {2 ** (levels + 2)} "
                                     f"(at most {steerable_max_levels(h, w)} levels here)")
            outs = magnify_phase(xw, a_arg, ref_index, temporal, chunk_size, **options)
    res = []
    for out in outs:
        if clamp:
            out = out.clamp(0.0, 1.0)
        out = out.to(device=x.device, dtype=x.dtype)
        res.append(out if batched else out[0])
    return torch.stack(res) if sweep else res[0]


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
