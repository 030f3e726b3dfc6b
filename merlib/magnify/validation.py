"""Argument checks shared by every magnifier: each error names the argument and what was expected."""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["check_frames", "check_choice", "check_positive", "check_nonneg_int",
           "check_options", "check_image_pair"]


def check_frames(frames, name: str = "frames", min_frames: int = 2, min_size: int = 1) -> tuple[torch.Tensor, bool]:
    """Validate a clip ``(T, C, H, W)`` or a batch ``(B, T, C, H, W)``, float in [0, 1], C in {1, 3}.

    Args:
        frames: a torch tensor (a NumPy array is converted).
        min_frames: the smallest T accepted.
        min_size: the smallest H and W accepted (the pyramid's needs).

    Returns:
        ``(batch, was_batched)``: ``batch`` is ``(B, T, C, H, W)`` (a view when possible).

    Raises:
        ValueError: naming ``name`` and what was expected.
    """
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(frames)
    if not isinstance(frames, torch.Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor (T, C, H, W) or (B, T, C, H, W), got {type(frames).__name__}")
    if frames.ndim not in (4, 5):
        raise ValueError(f"`{name}` must have rank 4 (T, C, H, W) or 5 (B, T, C, H, W), got rank {frames.ndim} "
                         f"with shape {tuple(frames.shape)}")
    if not frames.is_floating_point():
        raise ValueError(f"`{name}` must be a floating tensor in [0, 1], got dtype {frames.dtype} "
                         "(convert uint8 frames with `frames.float() / 255`)")
    batched = frames.ndim == 5
    x = frames if batched else frames.unsqueeze(0)
    b, t, c, h, w = x.shape
    if c not in (1, 3):
        raise ValueError(f"`{name}` must have C = 1 or 3 channels at dim {-3}, got C = {c} (shape {tuple(frames.shape)})")
    if t < min_frames:
        raise ValueError(f"`{name}` must have T >= {min_frames} frames, got T = {t} (shape {tuple(frames.shape)})")
    if b < 1:
        raise ValueError(f"`{name}` must have a batch size B >= 1, got shape {tuple(frames.shape)}")
    if h < min_size or w < min_size:
        raise ValueError(f"`{name}` is too small for the pyramid: H and W must be >= {min_size}, got H = {h}, W = {w}; "
                         "use fewer `levels` or larger frames")
    if x.numel():
        lo_t, hi_t = torch.aminmax(x)          # one pass; NaN propagates into both, ±inf shows as an extreme
        lo, hi = float(lo_t), float(hi_t)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"`{name}` contains NaN or infinite values")
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"`{name}` values must lie in [0, 1], got min {lo:.4g} and max {hi:.4g}")
    return x, batched


def check_image_pair(reference, target) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Validate ``reference`` and ``target`` of one shape, ``(C, H, W)`` or ``(B, C, H, W)``."""
    for name, v in (("reference", reference), ("target", target)):
        if not isinstance(v, (torch.Tensor, np.ndarray)):
            raise ValueError(f"`{name}` must be a torch.Tensor (C, H, W) or (B, C, H, W), got {type(v).__name__}")
        if v.ndim not in (3, 4):
            raise ValueError(f"`{name}` must have rank 3 (C, H, W) or 4 (B, C, H, W), got shape {tuple(v.shape)}")
    reference = torch.as_tensor(reference)
    target = torch.as_tensor(target)
    if reference.shape != target.shape:
        raise ValueError(f"`reference` and `target` must have the same shape, got {tuple(reference.shape)} "
                         f"and {tuple(target.shape)}")
    if reference.device != target.device:
        raise ValueError(f"`reference` and `target` must be on the same device, got {reference.device} and {target.device}")
    return reference, target, target.ndim == 4


def check_choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"`{name}` must be one of {sorted(choices)}, got {value!r}")
    return value.lower()


def check_positive(value, name: str, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"`{name}` must be {'>= 0' if allow_zero else '> 0'} and finite, got {value!r}")
    return v


def check_nonneg_int(value, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_options(options: dict, allowed, context: str) -> None:
    """Reject option names that ``context`` does not understand (typos fail loudly)."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"{context}: unknown option(s) {unknown}; allowed: {sorted(allowed)}")


