"""Duck-typed dataset helpers that live on the evaluation side.

:class:`InMemoryDataset` holds clips as tensors (tests, tutorials, and clips already loaded by
some other means); :func:`concat_datasets` joins two datasets for :func:`~merlib.eval.protocols.cross_dataset`.
Both expose what :func:`merlib.eval.run` needs: ``.clips``, ``.class_names``, ``.num_classes``, ``.name``,
``len()`` and ``.frames(i, indices=None, size=None) -> (T, C, H, W)`` float in [0, 1].
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from merlib.eval.cache import tensor_digest

__all__ = ["InMemoryDataset", "concat_datasets", "resize_frames", "toy_dataset"]

CLIP_COLUMNS = ("dataset", "subject", "clip", "onset", "apex", "offset", "label", "label_name", "n_frames", "path")


def resize_frames(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Bilinear (antialiased) resize of ``(T, C, H, W)`` frames to ``size × size``; ``None`` keeps them."""
    if size is None or (x.shape[-2] == size and x.shape[-1] == size):
        return x
    return F.interpolate(x, size=(int(size), int(size)), mode="bilinear", align_corners=False,
                         antialias=True).clamp(0, 1)


class InMemoryDataset:
    """A dataset whose clips are tensors in memory.

    Args:
        clips: list of ``(T, C, H, W)`` float tensors in [0, 1] (T may differ between clips).
        subjects, labels: one per clip; subjects are prefixed with ``name`` (``"name_<subject>"``)
            unless they already start with it.
        class_names: the label set (``num_classes = len(class_names)``).
        onsets/apexes: frame positions (default: 0 and the middle frame); offset = last frame.
    """

    def __init__(self, clips, subjects, labels, class_names, name: str = "memory", apexes=None):
        n = len(clips)
        if not (len(subjects) == len(labels) == n) or n == 0:
            raise ValueError(f"InMemoryDataset: need as many subjects ({len(subjects)}) and labels ({len(labels)}) "
                             f"as clips ({n}), and at least one clip")
        for i, c in enumerate(clips):
            if not isinstance(c, torch.Tensor) or c.ndim != 4:
                raise ValueError(f"InMemoryDataset: clip {i} must be a (T, C, H, W) tensor, got {getattr(c, 'shape', c)!r}")
        k = len(class_names)
        labels = [int(v) for v in labels]
        bad = [i for i, v in enumerate(labels) if not 0 <= v < k]
        if bad:
            raise ValueError(f"InMemoryDataset: labels of clips {bad[:5]} are outside [0, {k})")
        self._clips = [c.float() for c in clips]
        self.name = name
        self.class_names = list(class_names)
        self.num_classes = k
        apexes = apexes if apexes is not None else [c.shape[0] // 2 for c in clips]
        subj = [s if str(s).startswith(name) else f"{name}_{s}" for s in map(str, subjects)]
        self.clips = pd.DataFrame({
            "dataset": name, "subject": subj, "clip": [f"clip{i:04d}" for i in range(n)],
            "onset": 0, "apex": [int(a) for a in apexes], "offset": [c.shape[0] - 1 for c in clips],
            "label": labels, "label_name": [self.class_names[v] for v in labels],
            "n_frames": [c.shape[0] for c in clips], "path": None})
        self._digests = [None] * n

    def __len__(self) -> int:
        return len(self._clips)

    def frames(self, i: int, indices=None, size: int | None = None) -> torch.Tensor:
        x = self._clips[int(i)]
        if indices is not None:
            x = x[list(indices)]
        return resize_frames(x, size)

    def fingerprint(self, i: int) -> str:
        """Content hash of clip ``i`` (the cache key of in-memory data)."""
        if self._digests[i] is None:
            self._digests[i] = tensor_digest(self._clips[int(i)])
        return self._digests[i]


class _Concat:
    def __init__(self, a, b):
        if list(a.class_names) != list(b.class_names):
            raise ValueError(f"concat_datasets: class names differ: {list(a.class_names)} vs {list(b.class_names)}; "
                             "map both to the same label set (e.g. classes='megc3')")
        self.parts = (a, b)
        self.name = f"{getattr(a, 'name', 'a')}+{getattr(b, 'name', 'b')}"
        self.class_names = list(a.class_names)
        self.num_classes = int(a.num_classes)
        self.clips = pd.concat([a.clips, b.clips], ignore_index=True)
        self._n0 = len(a.clips)

    def __len__(self) -> int:
        return len(self.clips)

    def _where(self, i):
        i = int(i)
        return (self.parts[0], i) if i < self._n0 else (self.parts[1], i - self._n0)

    def frames(self, i, indices=None, size=None):
        ds, j = self._where(i)
        return ds.frames(j, indices=indices, size=size)

    def fingerprint(self, i):
        from merlib.eval.cache import clip_fingerprint

        ds, j = self._where(i)
        return clip_fingerprint(ds, j)


def concat_datasets(train, test):
    """One dataset whose clips are ``train``'s followed by ``test``'s (indices as in ``cross_dataset``)."""
    return _Concat(train, test)


def toy_dataset(n_subjects: int = 4, clips_per_subject: int = 6, num_classes: int = 3, n_frames: int = 5,
                size: int = 12, noise: float = 0.05, seed: int = 0, name: str = "toy") -> InMemoryDataset:
    """A tiny learnable dataset for tests and examples (not micro-expressions; no face at all).

    Clip ``(n_frames, 1, size, size)``: a Gaussian blob that moves from the centre towards a
    class-specific direction (class ``c``: angle ``2πc/K``) peaking at the middle (apex) frame, plus
    a per-subject brightness offset and pixel noise. Classes cycle within each subject so every
    subject has every class when ``clips_per_subject >= num_classes``.
    """
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    clips, subjects, labels = [], [], []
    apex = n_frames // 2
    for s in range(n_subjects):
        offset = 0.1 * torch.rand((), generator=g)
        for j in range(clips_per_subject):
            c = (j + s) % num_classes
            ang = 2 * np.pi * c / num_classes
            frames = []
            for t in range(n_frames):
                amp = 1.0 - abs(t - apex) / max(apex, 1)
                cx = size / 2 + amp * 0.25 * size * np.cos(ang)
                cy = size / 2 + amp * 0.25 * size * np.sin(ang)
                blob = torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (size / 8) ** 2))
                frames.append(blob)
            x = torch.stack(frames)[:, None] * 0.8 + offset
            x = x + noise * torch.randn(x.shape, generator=g)
            clips.append(x.clamp(0, 1))
            subjects.append(f"s{s:02d}")
            labels.append(c)
    names = [f"class{c}" for c in range(num_classes)]
    return InMemoryDataset(clips, subjects, labels, names, name=name, apexes=[apex] * len(clips))
