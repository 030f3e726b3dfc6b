"""Bai, Goecke & Herath (ICIP 2021) end to end: magnified clip → N-frame segments → Bi-LSTM → clip label.

The pieces :mod:`merlib.models.bai2021` does not hold, used by the LOSO driver
(:mod:`merlib.eval.experiments_bai2021`) and the notebook ``10_bai2021_evm_vggface2_bilstm``:

1. :func:`magnify_clip` — AMM (amplitude / Eulerian, Wu et al. 2012) or PMM (phase-based, Wadhwa et al.
   2013) relative to the onset frame (``mode="static"``), in merlib's α convention: the output shows
   ``f(x + (1 + alpha)·δ(t))`` (``merlib/magnify/convention.py``; the paper writes the same formula).
2. :func:`segment_indices` — fixed-length segments of ``N`` frames: overlapping sliding windows of evenly
   spaced frames (:func:`merlib.data.frames.sliding_window_indices`, ``interval="auto"``: a window spans
   about half the clip, windows overlap by half).
3. :func:`frame_inputs` — what the frozen part of the backbone makes of every frame, computed once per
   clip so the disk cache serves every N of the sweep: the pooled feature vector ``(T, D)`` when the
   whole backbone is frozen, else the output maps of the last frozen block ``(T, K, h, w)`` (the paper's
   setting, blocks before B9 frozen, caches the B8 maps and trains B9-B16 on them).
4. :func:`forward_cached` — :class:`~merlib.models.bai2021.Bai2021`'s forward pass from those cached
   inputs (the trainable backbone blocks, pooling, Bi-LSTM, classifier); equal to ``model(frames)``
   (a test checks it), so the Grad-CAM of the trained model explains the same function.
5. :func:`train_segments` / :func:`predict_clips` — train on every segment of the training clips
   (each segment carries its clip's label) for a fixed number of epochs; a clip's prediction
   averages the softmax probabilities of its segments (:func:`merlib.models.bai2021.aggregate_segments`,
   ``method="mean_prob"``; the paper states no rule, this one is merlib's) and takes the arg-max.

Shapes: clips ``(T, C, H, W)`` float in [0, 1]; segments ``(S, N, ...)``. Nothing here knows about
datasets or protocols (the data → magnify → models → eval flow); the driver lives in ``merlib.eval``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from merlib.data.frames import sliding_window_indices
from merlib.magnify import magnify

from .backbones import Backbone
from .bai2021 import Bai2021, aggregate_segments

__all__ = ["MAGNIFIERS", "magnify_clip", "segment_indices", "frame_inputs", "forward_cached", "make_segments",
           "train_segments", "predict_clips"]

#: The paper's names → merlib's :func:`merlib.magnify.magnify` methods (``"none"``: the baseline).
MAGNIFIERS = {"none": None, "amm": "eulerian", "pmm": "phase"}


def magnify_clip(frames: torch.Tensor, method: str = "amm", alpha: float = 10.0, **options) -> torch.Tensor:
    """Magnify a clip relative to its first frame (the onset), as the paper does.

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


def segment_indices(n_frames: int, n: int, interval: int | str = "auto", stride: int | None = None) -> torch.Tensor:
    """Frame indices ``(S, N)`` of the segments of a clip of ``n_frames`` frames.

    Overlapping sliding windows of ``n`` frames spaced ``interval`` apart
    (:func:`merlib.data.frames.sliding_window_indices`; ``"auto"`` makes a window span about half the clip,
    ``stride`` defaults to ``n // 2``). A clip shorter than one window is stretched by repeating frames
    (nearest frame of evenly spaced positions), so its segments are exact copies of real frames and the
    per-frame cache stays valid; :func:`merlib.data.frames.sliding_windows` would interpolate new frames.
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
        raise ValueError(f"segment_indices: `n_frames` must be a positive int, got {n_frames!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"segment_indices: `n` (frames per segment) must be a positive int, got {n!r}")
    step = max(1, (n_frames - 1) // (2 * max(n - 1, 1))) if interval == "auto" else interval
    span = (n - 1) * step + 1
    if span <= n_frames:
        return sliding_window_indices(n_frames, n, step, stride)
    virtual = sliding_window_indices(span, n, step, stride)        # windows over a stretched clip
    return torch.round(virtual.double() * (n_frames - 1) / max(span - 1, 1)).long()


def _tail_blocks(backbone: Backbone) -> list[nn.Module]:
    return [backbone.blocks[name] for name in backbone.block_names if name not in backbone.frozen]


@torch.no_grad()
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
    """:class:`Bai2021` logits ``(B, K)`` from cached frame inputs ``(B, N, ...)`` (see :func:`frame_inputs`).

    Runs the trainable backbone blocks (if any), global average pooling, then the model's temporal part
    and classifier exactly as :meth:`Bai2021.forward` does.
    """
    if not isinstance(model, Bai2021):
        raise ValueError(f"forward_cached: `model` must be a Bai2021, got {type(model).__name__}")
    if x.ndim < 3:
        raise ValueError(f"forward_cached: `x` must be (B, N, D) or (B, N, K, h, w), got {tuple(x.shape)}")
    b, n = x.shape[:2]
    if x.ndim == 3:
        feats = x
    else:
        y = x.reshape(b * n, *x.shape[2:]).float()
        for block in _tail_blocks(model.backbone):
            y = block(y)
        feats = y.mean(dim=(-2, -1)).reshape(b, n, -1)
    if model.lstm is None:
        return model.classifier(model.dropout(feats.mean(dim=1)))
    _, (h_n, _) = model.lstm(feats)
    return model.classifier(model.dropout(torch.cat([h_n[-2], h_n[-1]], dim=1)))


def make_segments(inputs: Sequence[torch.Tensor], n: int, interval: int | str = "auto",
                  stride: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
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
        idx = segment_indices(int(t.shape[0]), n, interval, stride)
        segs.append(t[idx])
        owner.append(torch.full((idx.shape[0],), j, dtype=torch.long))
    return torch.cat(segs), torch.cat(owner)


def _batches(n: int, batch_size: int, generator: torch.Generator | None):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return [order[s:s + batch_size] for s in range(0, n, batch_size)]


def train_segments(model: Bai2021, segments: torch.Tensor, labels: torch.Tensor, *, epochs: int = 30,
                   lr: float = 1e-3, weight_decay: float = 0.0, batch_size: int = 32, seed: int = 0,
                   class_weighted: bool = True, on_epoch_end: Callable[[int, float], None] | None = None
                   ) -> list[float]:
    """Train ``model`` (its trainable parameters only) on segments for a fixed number of epochs (Adam).

    Args:
        segments: ``(S, N, ...)`` cached frame inputs; labels: ``(S,)`` class of each segment's clip.
        class_weighted: weight the cross-entropy by inverse class frequency of the segments (clips differ
            in length, so segment counts are uneven across classes).
        on_epoch_end: ``hook(epoch, mean_loss)`` after every epoch (the driver scores test clips there for
            the paper-protocol ``oracle_test`` result; nothing in training depends on it).

    Returns:
        The mean training loss of every epoch.
    """
    if segments.shape[0] != labels.shape[0] or segments.shape[0] == 0:
        raise ValueError(f"train_segments: {segments.shape[0]} segments but {labels.shape[0]} labels")
    dev = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    k = model.num_classes
    weight = None
    if class_weighted:
        counts = torch.bincount(labels, minlength=k).float()
        weight = torch.where(counts > 0, counts.sum() / (k * counts.clamp_min(1)), torch.zeros_like(counts)).to(dev)
    gen = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    losses = []
    for epoch in range(int(epochs)):
        model.train()
        total = 0.0
        for b in _batches(segments.shape[0], batch_size, gen):
            xb, yb = segments[b].to(dev), labels[b].to(dev)
            loss = F.cross_entropy(forward_cached(model, xb), yb, weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
        losses.append(total / segments.shape[0])
        if on_epoch_end is not None:
            on_epoch_end(epoch, losses[-1])
    return losses


@torch.no_grad()
def predict_clips(model: Bai2021, segments: torch.Tensor, owner: torch.Tensor, batch_size: int = 64,
                  method: str = "mean_prob") -> tuple[list, torch.Tensor]:
    """Clip class scores from their segments: ``(clips, probs (n_clips, K))`` (see :func:`aggregate_segments`).

    ``clips`` are the ``owner`` values in order of first appearance; the predicted class is ``probs.argmax(1)``.
    """
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    try:
        logits = torch.cat([forward_cached(model, segments[s:s + batch_size].to(dev)).float().cpu()
                            for s in range(0, segments.shape[0], batch_size)])
    finally:
        model.train(was_training)
    return aggregate_segments(logits, owner, method=method)
