"""Bai, Goecke & Herath (ICIP 2021) pre-processing: magnified clip → cached frame inputs → N-frame segments.

What :mod:`merlib.papers.bai2021.experiment` plugs into :func:`merlib.eval.run` (a
:class:`~merlib.eval.task.Task`), and what notebook ``10_bai2021_evm_vggface2_bilstm`` shows step by step:

1. :func:`magnify_clip` — AMM (amplitude / Eulerian, Wu et al. 2012) or PMM (phase-based, Wadhwa et al.
   2013), in merlib's α convention: the output shows ``f(x + (1 + alpha)·δ(t))``
   (``merlib/magnify/convention.py``; the paper writes the same formula). Relative to the onset frame
   (``mode="static"``): merlib's choice (:data:`~merlib.papers.bai2021.model.MERLIB_CHOICES`).
2. :func:`frame_inputs` — what the frozen part of the backbone makes of every frame, cached once per clip
   (a :class:`~merlib.eval.task.FrozenFeatures` stage) so every N of the sweep reuses it: the pooled
   vector ``(T, D)`` when the whole backbone is frozen, else the maps of the last frozen block
   ``(T, K, h, w)`` (the paper's setting, blocks before B9 frozen, caches the B8 maps and trains B9-B16 on
   them; :func:`cache_bytes_per_frame` gives their size from the real tensor shape).
3. :func:`segment_indices` / :class:`Segments` — fixed-length segments of ``N`` frames. Default, the
   paper's reading: consecutive frames at an interval fixed per clip from its length
   (``interval="length"``: ``max(1, round(T / reference_length))``), overlapping windows of N frames —
   so N sets the temporal extent of a segment. ``interval="auto"`` (every N spans about half the clip)
   and a fixed int are options.
4. :func:`forward_cached` — :class:`~merlib.papers.bai2021.model.Bai2021`'s forward pass from those
   cached inputs (:class:`~merlib.papers.bai2021.model.CachedBai2021`); equal to ``model(frames)``.

Shapes: clips ``(T, C, H, W)`` float in [0, 1]; segments ``(S, N, ...)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from merlib.data.frames import sliding_window_indices
from merlib.magnify import magnify
from merlib.models.backbones import Backbone

from .model import Bai2021, CachedBai2021, PAPER_SETTINGS

__all__ = ["MAGNIFIERS", "INTERVALS", "magnify_clip", "segment_indices", "Segments", "frame_inputs",
           "forward_cached", "make_segments", "cache_bytes_per_frame"]

#: The paper's names → merlib's :func:`merlib.magnify.magnify` methods (``"none"``: the baseline).
MAGNIFIERS = {"none": None, "amm": "eulerian", "pmm": "phase"}
#: Segment interval rules (see :func:`segment_indices`).
INTERVALS = ("length", "auto")


def magnify_clip(frames: torch.Tensor, method: str = "amm", alpha: float = 10.0, **options) -> torch.Tensor:
    """Magnify a clip relative to its first frame (the onset; merlib's choice, the paper names no reference).

    Args:
        frames: ``(T, C, H, W)`` float in [0, 1], ``frames[0]`` the onset.
        method: ``"amm"`` (amplitude-based = Eulerian), ``"pmm"`` (phase-based) or ``"none"`` (returned as is).
        alpha: merlib's convention, the output shows ``f(x + (1 + alpha)·δ(t))`` with ``δ(t)`` the motion
            from the onset (``alpha = 0`` is the identity). The paper does not state its α.
        **options: passed to :func:`merlib.magnify.magnify` (e.g. ``luma_only=True`` for PMM).

    Returns:
        ``(T, C, H, W)`` float in [0, 1].
    """
    if method not in MAGNIFIERS:
        raise ValueError(f"magnify_clip: `method` must be one of {sorted(MAGNIFIERS)}, got {method!r}")
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4:
        raise ValueError(f"magnify_clip: `frames` must be a (T, C, H, W) tensor in [0, 1], got "
                         f"{tuple(getattr(frames, 'shape', ()))}")
    if MAGNIFIERS[method] is None or frames.shape[0] < 2:
        return frames
    return magnify(frames, alpha, method=MAGNIFIERS[method], mode="static", **options)


def segment_indices(n_frames: int, n: int, interval: int | str = "length", stride: int | None = None,
                    reference_length: float = PAPER_SETTINGS["average_clip_frames"]) -> torch.Tensor:
    """Frame indices ``(S, N)`` of the segments of a clip of ``n_frames`` frames.

    Overlapping sliding windows of ``n`` frames spaced ``interval`` apart
    (:func:`merlib.data.frames.sliding_window_indices`; ``stride`` defaults to ``n // 2``, the last window
    ends on the last frame).

    Args:
        interval: ``"length"`` (default; the paper's reading — the interval is fixed per clip from its
            length, independent of N: ``max(1, round(n_frames / reference_length))``, so a clip of average
            length is read frame by frame and a window of N frames covers about ``N / reference_length``
            of any clip); ``"auto"`` (``max(1, (T - 1) // (2 (N - 1)))``: every N spans about half the
            clip, so N no longer changes the temporal extent); or a positive int.
        reference_length: the clip length read at interval 1 (the paper's SMIC-HS average, 29 frames, by
            default; :class:`Segments` takes the dataset's mean).

    A clip shorter than one window is stretched by repeating frames (nearest frame of evenly spaced
    positions), so its segments are exact copies of real frames and the per-frame cache stays valid.
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
        raise ValueError(f"segment_indices: `n_frames` must be a positive int, got {n_frames!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"segment_indices: `n` (frames per segment) must be a positive int, got {n!r}")
    if interval == "length":
        if not isinstance(reference_length, (int, float)) or isinstance(reference_length, bool) or reference_length <= 0:
            raise ValueError(f"segment_indices: `reference_length` must be a positive number, got {reference_length!r}")
        step = max(1, int(round(n_frames / float(reference_length))))
    elif interval == "auto":
        step = max(1, (n_frames - 1) // (2 * max(n - 1, 1)))
    elif isinstance(interval, int) and not isinstance(interval, bool) and interval >= 1:
        step = interval
    else:
        raise ValueError(f"segment_indices: `interval` must be one of {INTERVALS} or a positive int, got {interval!r}")
    span = (n - 1) * step + 1
    if span <= n_frames:
        return sliding_window_indices(n_frames, n, step, stride)
    virtual = sliding_window_indices(span, n, step, stride)        # windows over a stretched clip
    return torch.round(virtual.double() * (n_frames - 1) / max(span - 1, 1)).long()


@dataclass(frozen=True)
class Segments:
    """The ``samples`` hook of Bai's :class:`~merlib.eval.task.Task`: a clip's frame inputs ``(T, ...)`` →
    its segments ``(S, N, ...)`` (:func:`segment_indices` with these arguments)."""

    n: int = PAPER_SETTINGS["best_segment_length"]
    interval: int | str = "length"
    stride: int | None = None
    reference_length: float = PAPER_SETTINGS["average_clip_frames"]

    def __post_init__(self):
        segment_indices(max(int(self.n), 1), self.n, self.interval, self.stride, self.reference_length)  # validates

    def __call__(self, item: torch.Tensor) -> torch.Tensor:
        return item[segment_indices(int(item.shape[0]), self.n, self.interval, self.stride, self.reference_length)]


def frame_inputs(backbone: Backbone, frames: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The frozen part of ``backbone`` applied to every frame (what the cache stores).

    Args:
        backbone: a merlib :class:`~merlib.models.backbones.Backbone` (its ``frozen`` blocks decide the cut).
        frames: ``(T, C, H, W)`` float in [0, 1].

    Returns:
        ``(T, D)`` pooled features (float32) when every block is frozen; ``(T, K, h, w)`` maps of the last
        frozen block when only a prefix is, or the backbone's normalised input when nothing is frozen, both
        stored as float16 to halve the disk cache (ResNet-50's B8 maps are 512×28×28 per frame). On the CPU.
    """
    if not isinstance(backbone, Backbone):
        raise ValueError(f"frame_inputs: `backbone` must be a merlib Backbone, got {type(backbone).__name__}")
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4:
        raise ValueError(f"frame_inputs: `frames` must be (T, C, H, W) float in [0, 1], got "
                         f"{tuple(getattr(frames, 'shape', ()))}")
    was_training = backbone.training
    backbone.eval()
    dev = next(backbone.parameters()).device
    out = []
    try:
        for s in range(0, frames.shape[0], batch_size):
            x = frames[s:s + batch_size].to(dev).float()
            if len(backbone.frozen) == len(backbone.block_names):
                y = backbone(x).float()
            elif backbone.frozen:
                y = backbone.feature_maps(x, until=backbone.frozen[-1]).half()
            else:
                y = backbone.norm(x).half()
            out.append(y.cpu())
    finally:
        backbone.train(was_training)
    return torch.cat(out)


def forward_cached(model: Bai2021, x: torch.Tensor) -> torch.Tensor:
    """:class:`Bai2021` logits ``(B, K)`` from cached frame inputs ``(B, N, ...)`` (see :func:`frame_inputs`):
    the trainable backbone blocks (if any), global average pooling, then the model's temporal part and
    classifier, exactly as :meth:`Bai2021.forward` does (:class:`CachedBai2021`)."""
    if not isinstance(model, Bai2021):
        raise ValueError(f"forward_cached: `model` must be a Bai2021, got {type(model).__name__}")
    return CachedBai2021(model)(x)


def make_segments(inputs: Sequence[torch.Tensor], n: int, interval: int | str = "length",
                  stride: int | None = None, reference_length: float = PAPER_SETTINGS["average_clip_frames"]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut every clip's frame inputs into segments.

    Args:
        inputs: one ``(T_i, ...)`` tensor per clip (all with the same trailing shape).

    Returns:
        ``(segments, owner)``: ``(S, N, ...)`` and ``(S,)`` the position in ``inputs`` of each segment's clip.
    """
    if len(inputs) == 0:
        raise ValueError("make_segments: `inputs` is empty")
    segs, owner = [], []
    for j, t in enumerate(inputs):
        idx = segment_indices(int(t.shape[0]), n, interval, stride, reference_length)
        segs.append(t[idx])
        owner.append(torch.full((idx.shape[0],), j, dtype=torch.long))
    return torch.cat(segs), torch.cat(owner)


@torch.no_grad()
def cache_bytes_per_frame(backbone: Backbone, frame_size=224, channels: int = 3) -> dict:
    """Size of one frame's cached input for ``backbone`` at its freeze point, from the real tensor shape.

    Runs :func:`frame_inputs` on one blank frame ``(1, channels, H, W)`` and reports
    ``{"shape": per-frame shape, "dtype": str, "bytes": bytes per frame}`` (float16 maps of the last frozen
    block, or float32 pooled features when the whole backbone is frozen).
    """
    h, w = (frame_size, frame_size) if isinstance(frame_size, int) else tuple(frame_size)
    dev = next(backbone.parameters()).device
    y = frame_inputs(backbone, torch.zeros(1, channels, h, w, device=dev))
    return {"shape": tuple(y.shape[1:]), "dtype": str(y.dtype).replace("torch.", ""),
            "bytes": int(y[0].numel() * y.element_size())}
