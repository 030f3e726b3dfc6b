"""Render a :class:`ClipSpec`: frames, the true AU displacement field, and the exact magnification.

The image model (backward warp of a continuous face, evaluated at supersampled points)::

    p   = A_t^{-1}(x) / zoom               rigid head pose at frame t (nuisance; never magnified)
    q   = p - (1 + alpha) * d_t(p)         AU displacement d_t = profile(t) * sum of AU fields
    I_t(x) = gain_t * box_average( F(q, blink_t) ) + noise_t

with ``F`` the analytic face of :mod:`merlib.data.synthetic.face`. Because ``F`` is defined at
every real point, a displacement of 0.3 px is rendered exactly (no resampling of a pixel grid),
and the pixel value is the mean of ``supersample**2`` point samples over the pixel's area
(anti-aliasing by box filtering).

merlib's α convention (``merlib/magnify/convention.py``): a magnifier's output shows
``f(x + (1 + alpha) delta(x, t))``; ``alpha = 0`` is the input and ``alpha = -1`` removes the
motion. :func:`render_magnified` is that output computed from the ground truth -- the answer an
ideal magnifier gives -- with the AU motion scaled by ``1 + alpha`` and every nuisance (head
motion, blinks, flicker, noise) left as it is.

The flow returned by :func:`render_clip` is in the backward-warp convention of this model:
``frame_t(x) = neutral_t(x - flow_t(x))`` exactly in the continuous domain, where ``neutral_t`` is
the same frame without AU motion (``render_magnified(spec, -1)``); with nuisances off the onset
frame is neutral, so warping the onset frame by ``flow_t`` gives frame ``t``. For the smooth,
sub-pixel to few-pixel fields here it equals the forward motion of the content to first order.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from merlib.data.synthetic.action_units import au_field
from merlib.data.synthetic.face import shade
from merlib.data.synthetic.spec import ClipSpec
from merlib.data.synthetic.store import spec_from_clip_dir
from merlib.env import device as resolve_device

__all__ = ["render_clip", "render_magnified", "head_pose", "blink_curve", "flicker_gain", "face_grid"]

#: Points evaluated per chunk (bounds memory: ~40 float32 temporaries of this size).
_CHUNK_POINTS = 1_500_000
_LUMA = (0.299, 0.587, 0.114)


def _size(spec: ClipSpec, size) -> tuple[int, int]:
    if size is None:
        return tuple(spec.size)
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, (int, np.integer)) and s >= 8 for s in size)):
        raise ValueError(f"render: `size` must be an int or (H, W) of ints >= 8, got {size!r}")
    return int(size[0]), int(size[1])


def face_grid(size: tuple[int, int], supersample: int = 1, device=None) -> torch.Tensor:
    """Face coordinates of the (supersampled) pixel grid: ``(H*s, W*s, 2)`` float32, (x, y).

    Pixel ``(i, j)`` covers ``[j, j+1] x [i, i+1]`` in pixel units; face units are pixels
    times ``2 / W`` measured from the image centre (so the width spans [-1, 1]).
    """
    h, w = size
    s = int(supersample)
    offs = (torch.arange(s, dtype=torch.float64) + 0.5) / s
    ys = (torch.arange(h, dtype=torch.float64)[:, None] + offs[None, :]).reshape(-1)
    xs = (torch.arange(w, dtype=torch.float64)[:, None] + offs[None, :]).reshape(-1)
    scale = 2.0 / w
    gy, gx = torch.meshgrid((ys - h / 2) * scale, (xs - w / 2) * scale, indexing="ij")
    return torch.stack([gx, gy], -1).to(device=device, dtype=torch.float32)


def _seconds(spec: ClipSpec) -> np.ndarray:
    return (spec.frame_numbers - spec.first_frame) / float(spec.fps)


def head_pose(spec: ClipSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(tx, ty, theta)``, each ``(T,)``: head translation (face units) and rotation (rad) per frame."""
    n = spec.nuisance
    t = _seconds(spec)
    sway = n.sway_amp * np.sin(2 * math.pi * n.sway_hz * t + n.sway_phase)
    tx = n.drift[0] * t + sway * n.sway_dir[0]
    ty = n.drift[1] * t + sway * n.sway_dir[1]
    theta = n.rot0 + n.rot_rate * t
    return tx, ty, theta


def blink_curve(spec: ClipSpec) -> np.ndarray:
    """``(T,)`` eyelid closure in [0, 1]: a raised-cosine bump of width ``blink_dur`` at ``blink_t``."""
    n = spec.nuisance
    t = _seconds(spec)
    if n.blink_t is None:
        return np.zeros_like(t)
    s = np.clip(1 - np.abs(t - n.blink_t) / (n.blink_dur / 2), 0, 1)
    return 0.5 * (1 - np.cos(math.pi * s))


def flicker_gain(spec: ClipSpec) -> np.ndarray:
    """``(T,)`` illumination gain ``1 + amp sin(2 pi f t + phase)``."""
    n = spec.nuisance
    t = _seconds(spec)
    return 1 + n.flicker_amp * np.sin(2 * math.pi * n.flicker_hz * t + n.flicker_phase)


def _to_face(pts: torch.Tensor, tx, ty, th, zoom: float) -> torch.Tensor:
    """Image points ``(N, 2)`` -> face points ``(Tc, N, 2)`` through the inverse head pose and zoom."""
    c, s = torch.cos(th)[:, None] / zoom, torch.sin(th)[:, None] / zoom
    x = pts[None, :, 0] - tx[:, None]
    y = pts[None, :, 1] - ty[:, None]
    return torch.stack([c * x + s * y, -s * x + c * y], -1)


def _positions(spec: ClipSpec, positions) -> np.ndarray | None:
    """Validated frame positions (0-based indices into the clip) or ``None`` for every frame."""
    if positions is None:
        return None
    pos = np.asarray(list(positions) if not isinstance(positions, np.ndarray) else positions)
    if pos.ndim != 1 or pos.size == 0 or not np.issubdtype(pos.dtype, np.integer):
        raise ValueError(f"render: `positions` must be a non-empty sequence of ints, got {positions!r}")
    if pos.min() < 0 or pos.max() >= spec.n_frames:
        raise ValueError(f"render: `positions` must lie in 0..{spec.n_frames - 1} (the clip has {spec.n_frames} "
                         f"frames), got {pos.tolist()}")
    return pos.astype(np.int64)


def _render(spec: ClipSpec, size, gain: float, dev: torch.device, frames: bool = True, flow: bool = False,
            positions=None):
    h, w = size
    pos = _positions(spec, positions)
    ss = int(spec.supersample)
    if ss < 1:
        raise ValueError(f"render: spec.supersample must be >= 1, got {spec.supersample!r}")
    f32 = dict(dtype=torch.float32, device=dev)
    weights = torch.as_tensor(spec.profile() * spec.subject_intensity, **f32)
    tx, ty, th = (torch.as_tensor(v, **f32) for v in head_pose(spec))
    blink = torch.as_tensor(blink_curve(spec), **f32)
    light = torch.as_tensor(flicker_gain(spec), **f32)
    n_t = spec.n_frames
    if pos is not None:  # only some frames: every per-frame quantity is taken at those positions
        sel = torch.as_tensor(pos, device=dev)
        weights, tx, ty, th, blink, light = (v[sel] for v in (weights, tx, ty, th, blink, light))
        n_t = len(pos)
    out_frames = out_flow = None
    if frames:
        pts = face_grid((h, w), ss, dev).reshape(-1, 2)
        chunk = max(1, _CHUNK_POINTS // pts.shape[0])
        parts = []
        for a in range(0, n_t, chunk):
            sl = slice(a, min(n_t, a + chunk))
            p = _to_face(pts, tx[sl], ty[sl], th[sl], spec.identity.zoom)
            q = p - gain * au_field(spec.identity, spec.aus, p, weights[sl])
            col = shade(spec.identity, q, blink[sl]) * light[sl, None, None]     # (Tc, 3, N)
            if spec.channels == 1:
                col = (col * torch.tensor(_LUMA, **f32)[:, None]).sum(1, keepdim=True)
            parts.append(col.reshape(-1, spec.channels, h, ss, w, ss).mean(dim=(3, 5)))
        out_frames = torch.cat(parts)
        n = spec.nuisance
        if n.noise_sigma > 0:
            g = torch.Generator().manual_seed(int(n.noise_seed))
            shape = (spec.n_frames,) + tuple(out_frames.shape[1:])   # the whole clip's noise, then the frames'
            noise = torch.randn(shape, generator=g, dtype=torch.float32) * n.noise_sigma
            if pos is not None:
                noise = noise[torch.as_tensor(pos)]
            out_frames = out_frames + noise.to(dev)
        out_frames = out_frames.clamp(0, 1).contiguous()
    if flow:
        pts = face_grid((h, w), 1, dev).reshape(-1, 2)
        p = _to_face(pts, tx, ty, th, spec.identity.zoom)
        d = au_field(spec.identity, spec.aus, p, weights) * (spec.identity.zoom * w / 2.0)  # face units -> px
        c, s = torch.cos(th)[:, None], torch.sin(th)[:, None]
        fx = c * d[..., 0] - s * d[..., 1]
        fy = s * d[..., 0] + c * d[..., 1]
        out_flow = torch.stack([fx, fy], 1).reshape(n_t, 2, h, w).contiguous()
    return out_frames, out_flow


def render_clip(spec: ClipSpec, size=None, device="auto", positions=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Render a clip and its true AU displacement field.

    Args:
        spec: the clip (see :class:`ClipSpec`; :func:`~merlib.data.synthetic.load_spec` reads a
            written one back).
        size: ``(H, W)`` or an int to render at another resolution (the face scales with it);
            ``None`` = ``spec.size``.
        device: where to compute (``"auto"``: CUDA when present). Results are identical up to
            float rounding on any device (the noise is drawn on the CPU).
        positions: render only these frames (0-based positions in the clip, e.g. the onset and
            apex ``[0, spec.apex - spec.first_frame]``); ``None`` = every frame. Each frame equals
            the same frame of the full render (up to float rounding of a different batch).

    Returns:
        ``frames`` ``(T, C, H, W)`` float32 in [0, 1] (before JPEG; the written files add it), and
        ``flow`` ``(T, 2, H, W)`` float32: the AU displacement in pixels, channel 0 = x (right),
        1 = y (down), relative to the onset (zero there), in image coordinates (rotated with the
        head), backward-warp convention (module docstring). Nuisance motion is not in it.
    """
    if not isinstance(spec, ClipSpec):
        raise ValueError(f"render_clip: `spec` must be a ClipSpec, got {type(spec).__name__}")
    return _render(spec, _size(spec, size), 1.0, resolve_device(device), frames=True, flow=True,
                   positions=positions)


def render_magnified(spec_or_clip_dir, alpha: float, size=None, device="auto", positions=None) -> torch.Tensor:
    """The exactly magnified clip: AU motion scaled by ``(1 + alpha)``, nuisances untouched.

    merlib's α convention: the output shows ``f(x + (1 + alpha) delta)``; ``alpha = 0`` returns
    :func:`render_clip`'s frames exactly, ``alpha = -1`` the clip without facial motion
    (head motion, blinks, flicker and noise stay). Oh et al.'s factor is ``1 + alpha``.

    Args:
        spec_or_clip_dir: a :class:`ClipSpec`, or a written clip folder
            ``ROOT/CASME2-RAW/subXX/CLIP`` whose spec is read from ``ROOT/ground_truth``.
        alpha: magnification (float).
        size, device, positions: as in :func:`render_clip`.

    Returns:
        ``(T, C, H, W)`` float32 in [0, 1].
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(alpha)):
        raise ValueError(f"render_magnified: `alpha` must be a finite number, got {alpha!r}")
    if isinstance(spec_or_clip_dir, ClipSpec):
        spec = spec_or_clip_dir
    elif isinstance(spec_or_clip_dir, (str, Path)):
        spec = spec_from_clip_dir(spec_or_clip_dir)
    else:
        raise ValueError("render_magnified: `spec_or_clip_dir` must be a ClipSpec or a clip folder path, "
                         f"got {type(spec_or_clip_dir).__name__}")
    frames, _ = _render(spec, _size(spec, size), 1.0 + float(alpha), resolve_device(device), frames=True,
                        positions=positions)
    return frames
