"""From a dataset clip to the tensor a model sees: key frames -> preprocessing -> frozen backbone.

Each stage is cached (:class:`merlib.eval.cache.Cache`) under a key made of the clip's fingerprint
and the identity of every stage before it, so magnified frames and frozen-backbone features are
computed once per clip and reused by every fold and every sweep point that needs them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from merlib.eval.cache import Cache, clip_fingerprint, fn_identity, module_digest

__all__ = ["Step", "frame_indices", "load_clip", "ClipInputs", "intensity_amplify"]


def intensity_amplify(frames: torch.Tensor, alpha: float = 0.0) -> torch.Tensor:
    """Amplify each frame's intensity change from the first frame: ``I0 + (1 + alpha)·(It − I0)``, clamped to [0, 1].

    The crudest magnifier (Wu et al. 2012's first-order view without spatial or temporal
    filtering), in merlib's α convention (``alpha = 0`` returns the input). It is here as a cheap,
    dependency-free preprocessing step for tests and benchmarks of the evaluation machinery; real
    magnifiers live in ``merlib.magnify``.

    Args:
        frames: ``(T, C, H, W)`` float in [0, 1].
    """
    if frames.ndim != 4:
        raise ValueError(f"intensity_amplify: `frames` must be (T, C, H, W), got shape {tuple(frames.shape)}")
    base = frames[:1]
    return (base + (1.0 + float(alpha)) * (frames - base)).clamp(0, 1)


@dataclass(frozen=True)
class Step:
    """A preprocessing function with the identity the cache needs.

    ``Step(fn, version, params)(frames)`` calls ``fn(frames, **params)``; ``frames`` is a clip
    ``(T, C, H, W)`` float in [0, 1]. ``fn`` must be a module-level function (picklable, so that
    process pools and Ray can run it). Bump ``version`` when ``fn``'s output changes.
    Sweeps replace params with :meth:`with_params` (e.g. ``alpha`` — merlib's convention,
    ``f(x + (1 + alpha)·δ)``, see ``merlib/magnify/convention.py``).
    """

    fn: Callable
    version: str = "1"
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        if not callable(self.fn):
            raise ValueError(f"Step: `fn` must be callable, got {self.fn!r}")

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        return self.fn(frames, **self.params)

    def with_params(self, **params) -> "Step":
        return Step(self.fn, self.version, {**self.params, **params})

    def identity(self) -> dict:
        return fn_identity(self.fn, self.version, self.params)


def frame_indices(row, frames) -> list[int] | None:
    """Which frames of a clip to load, relative to its onset (the dataset's ``frames`` convention).

    Args:
        row: the clip's row of ``.clips`` (``onset``, ``apex``, ``offset``, ``n_frames``).
        frames: ``"all"`` (every frame, returns ``None``), ``"apex"``, ``"onset_apex"``,
            ``"onset_apex_offset"``, or an int ``N``: N frames evenly spaced from onset to offset.
    """
    last = int(row["n_frames"]) - 1 if "n_frames" in row.index and not _isnan(row["n_frames"]) \
        else int(row["offset"]) - int(row["onset"])
    last = max(last, 0)

    def rel(col):
        v = row[col] if col in row.index else float("nan")
        if _isnan(v):  # e.g. SMIC-HS has no apex: take the middle frame
            return last // 2
        return int(min(max(int(v) - int(row["onset"]), 0), last))

    if frames == "all":
        return None
    if frames == "apex":
        return [rel("apex")]
    if frames == "onset_apex":
        return [0, rel("apex")]
    if frames == "onset_apex_offset":
        return [0, rel("apex"), last]
    if isinstance(frames, (int, np.integer)) and not isinstance(frames, bool) and frames >= 1:
        return [int(round(x)) for x in np.linspace(0, last, int(frames))]
    raise ValueError(f"frames must be 'all', 'apex', 'onset_apex', 'onset_apex_offset' or a positive int, got {frames!r}")


def _isnan(v) -> bool:
    try:
        return v is None or (isinstance(v, float) and math.isnan(v)) or bool(np.isnan(v))
    except TypeError:
        return False


def load_clip(dataset, i: int, frames="onset_apex", size: int | None = None) -> torch.Tensor:
    """Frames of clip ``i``: ``(T, C, H, W)`` float in [0, 1] (see :func:`frame_indices`)."""
    row = dataset.clips.iloc[int(i)]
    x = dataset.frames(int(i), indices=frame_indices(row, frames), size=size)
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"dataset {getattr(dataset, 'name', '?')!r}: frames({i}) must return a (T, C, H, W) tensor, "
                         f"got {type(x).__name__} {getattr(x, 'shape', '')}")
    return x.float()


class ClipInputs:
    """Computes (and caches) the model input of each clip for one pipeline configuration.

    Args:
        dataset: a duck-typed merlib dataset.
        frames, size: which frames to load and their size (see :func:`load_clip`).
        preprocess: a :class:`Step` (or ``None``) applied to the clip ``(T, C, H, W)``.
        backbone: a frozen ``nn.Module`` applied to the preprocessed clip as a batch of T images;
            its output ``(T, ...)`` is the model input. ``None``: the preprocessed clip is.
        cache: a :class:`Cache`, or ``None`` to compute everything every time.
        device: where the backbone runs.
        fingerprints: ``clip_fingerprint(dataset, i)`` of every clip, computed once by the caller
            (:func:`merlib.eval.run` and :func:`merlib.eval.sweep` do it once per call: walking a clip's
            folder for every fold and sweep point would cost more than the cache saves).
    """

    def __init__(self, dataset, frames="onset_apex", size: int | None = None, preprocess: Step | None = None,
                 backbone: torch.nn.Module | None = None, cache: Cache | None = None, device="cpu",
                 fingerprints: list | None = None):
        if preprocess is not None and not isinstance(preprocess, Step):
            preprocess = Step(preprocess)
        self.dataset, self.frames, self.size = dataset, frames, size
        self.preprocess, self.cache, self.device = preprocess, cache, torch.device(device)
        self.backbone = backbone
        self.fingerprints = fingerprints
        self._backbone_id = None
        if backbone is not None:
            self._backbone_id = module_digest(backbone)
            backbone.eval().requires_grad_(False).to(self.device)

    def stage_keys(self, i: int) -> tuple[dict, dict | None]:
        fp = self.fingerprints[i] if self.fingerprints is not None else clip_fingerprint(self.dataset, i)
        k1 = {"stage": "preprocess", "clip": fp, "frames": self.frames,
              "size": self.size, "preprocess": None if self.preprocess is None else self.preprocess.identity()}
        k2 = None if self.backbone is None else {"stage": "backbone", "input": k1, "backbone": self._backbone_id}
        return k1, k2

    def _preprocessed(self, i: int, key) -> torch.Tensor:
        def compute():
            x = load_clip(self.dataset, i, self.frames, self.size)
            return x if self.preprocess is None else self.preprocess(x).float()
        return compute() if self.cache is None else self.cache.get_or_compute(key, compute)

    @torch.no_grad()
    def _features(self, i: int, k1, k2) -> torch.Tensor:
        def compute():
            x = self._preprocessed(i, k1).to(self.device)
            return self.backbone(x).float().cpu()
        return compute() if self.cache is None else self.cache.get_or_compute(k2, compute)

    def get(self, i: int) -> torch.Tensor:
        if self.cache is None:  # no keys needed
            x = self._preprocessed(i, None)
            if self.backbone is None:
                return x
            with torch.no_grad():
                return self.backbone(x.to(self.device)).float().cpu()
        k1, k2 = self.stage_keys(i)
        if self.backbone is None:
            return self._preprocessed(i, k1)
        return self._features(i, k1, k2)

    def stack(self, idx, progress: bool = False, desc: str = "inputs", batch_clips: int = 16) -> torch.Tensor:
        """``(N, ...)``: the inputs of clips ``idx`` stacked (they must share a shape).

        With a backbone, clips whose features are not cached go through it ``batch_clips`` at a
        time (their frames concatenated into one batch): one call per clip is several times slower
        on CPU for small frames. Results equal :meth:`get` up to float rounding of batched kernels.
        """
        from tqdm.auto import tqdm

        idx = [int(i) for i in idx]
        if self.backbone is None or batch_clips <= 1:
            items = [self.get(i) for i in tqdm(idx, desc=desc, disable=not progress, leave=False)]
        else:
            items = [None] * len(idx)
            todo = []
            for pos, i in enumerate(idx):
                k1, k2 = self.stage_keys(i) if self.cache is not None else (None, None)
                hit = None if self.cache is None else self.cache.get(k2)
                if hit is not None:
                    self.cache.hits += 1
                    items[pos] = hit
                else:
                    todo.append((pos, i, k1, k2))
            bar = tqdm(total=len(todo), desc=desc, disable=not progress or not todo, leave=False)
            for s in range(0, len(todo), batch_clips):
                chunk = todo[s:s + batch_clips]
                xs = [self._preprocessed(i, k1) for _, i, k1, _ in chunk]
                counts = [len(x) for x in xs]
                with torch.no_grad():
                    feats = self.backbone(torch.cat(xs).to(self.device)).float().cpu()
                for (pos, _, _, k2), f in zip(chunk, torch.split(feats, counts)):
                    f = f.clone()
                    if self.cache is not None:
                        self.cache.misses += 1
                        self.cache.put(k2, f)
                    items[pos] = f
                bar.update(len(chunk))
            bar.close()
        shapes = {tuple(t.shape) for t in items}
        if len(shapes) > 1:
            raise ValueError(f"ClipInputs: clips give inputs of different shapes {sorted(shapes)}; "
                             "load a fixed number of frames (`frames=`) and a fixed `size`")
        return torch.stack(items) if items else torch.zeros(0)

    def identity(self) -> dict[str, Any]:
        return {"frames": self.frames, "size": self.size,
                "preprocess": None if self.preprocess is None else self.preprocess.identity(),
                "backbone": self._backbone_id}
