"""What a fold trains on, when it is more than "one fixed-shape tensor per clip, one cross-entropy".

:func:`merlib.eval.run` takes an optional :class:`Task` that plugs four things into the one training loop
(seeds, resume, AMP and epoch-selection policies stay the runner's, for every paper):

* **frozen-feature caches** — :class:`FrozenFeatures`: ``fn(module, clip, **params)`` applied to each
  (preprocessed) clip and cached on disk per clip, keyed by the clip, the preprocessing, the module's
  weights and frozen blocks, ``fn`` and its parameters; the output may have any shape (e.g. ``(T_i, D)``
  per-frame features of clips of different lengths) and is also kept in memory for the next fold / run;
* **samples per clip** — ``samples(item) -> (S_i, ...)``: a clip gives ``S_i`` training samples (e.g. the
  N-frame segments of a clip); each sample carries its clip's label, a clip's test prediction aggregates
  its samples' predictions with ``aggregate`` (:func:`aggregate_samples`);
* **several views per sample** — an item or a sample may be a tuple of tensors (same first dimension);
  the model is called as ``model(*views)`` (e.g. a magnified and a raw view, or onset and apex);
* **several weighted losses** — ``losses = {"name": LossTerm(fn, weight)}``; the total is
  ``sum(weight * fn(output, target, info))``, each term's epoch mean is recorded in the history.
  A model may return logits ``(B, K)`` or a dict with ``"logits"`` and anything a loss needs.

Without a task (``task=None``) the runner does what it always did: one sample per clip, one view, the
(optionally class-weighted) cross-entropy — bit for bit.

Every hook must be picklable (module-level functions or dataclass instances with ``__call__``) so that
process pools and Ray can run the folds; hooks enter the run's identity through :func:`hook_identity`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from merlib.eval.cache import Cache, fn_identity, module_digest
from merlib.eval.pipeline import ClipInputs, Step, load_clip

__all__ = ["Task", "LossTerm", "FrozenFeatures", "FeatureInputs", "cross_entropy", "aggregate_samples",
           "logits_of", "hook_identity", "AGGREGATIONS", "as_views"]

AGGREGATIONS = ("mean_prob", "mean_logit", "vote")


def logits_of(output) -> torch.Tensor:
    """The ``(B, K)`` logits of a model output: the tensor itself, or ``output["logits"]``."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping) and "logits" in output:
        return output["logits"]
    raise ValueError(f"model output must be a (B, K) logits tensor or a dict with 'logits', got {type(output).__name__}")


def cross_entropy(output, target: torch.Tensor, info: dict) -> torch.Tensor:
    """The default loss: cross-entropy of the logits, weighted by ``info["class_weight"]`` when set."""
    return F.cross_entropy(logits_of(output).float(), target, weight=info.get("class_weight"))


@dataclass(frozen=True)
class LossTerm:
    """One weighted term of the training loss: ``weight * fn(output, target, info, **params)``.

    ``info`` holds ``class_weight`` (``None`` unless ``TrainConfig.class_weighted``), ``views`` (the
    batch's input views), ``num_classes`` and ``epoch``. ``fn`` must be a module-level function.
    """

    fn: Callable
    weight: float = 1.0
    version: str = "1"
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        if not callable(self.fn):
            raise ValueError(f"LossTerm: `fn` must be callable, got {self.fn!r}")
        if not isinstance(self.weight, (int, float)) or isinstance(self.weight, bool):
            raise ValueError(f"LossTerm: `weight` must be a number, got {self.weight!r}")

    def __call__(self, output, target, info) -> torch.Tensor:
        return self.fn(output, target, info, **self.params)

    def identity(self) -> dict:
        return {**fn_identity(self.fn, self.version, self.params), "weight": float(self.weight)}


def hook_identity(hook) -> Any:
    """What identifies a hook in a run's identity: a dataclass instance by its class and fields, an object
    with ``identity()`` by that, a function by :func:`~merlib.eval.cache.fn_identity`."""
    if hook is None or isinstance(hook, (str, int, float, bool)):
        return hook
    if hasattr(hook, "identity") and callable(hook.identity):
        return hook.identity()
    if dataclasses.is_dataclass(hook) and not isinstance(hook, type):
        cls = type(hook)
        return {"fn": f"{cls.__module__}.{cls.__qualname__}",
                "fields": {f.name: hook_identity(getattr(hook, f.name)) if callable(getattr(hook, f.name))
                           else getattr(hook, f.name) for f in dataclasses.fields(hook)},
                "version": str(getattr(hook, "version", "1"))}
    return fn_identity(hook, str(getattr(hook, "version", "1")))


def as_views(x) -> tuple[torch.Tensor, ...]:
    """A tensor or a tuple/list of tensors (the views of a sample) as a tuple of tensors."""
    if isinstance(x, torch.Tensor):
        return (x,)
    if isinstance(x, (tuple, list)) and x and all(isinstance(v, torch.Tensor) for v in x):
        return tuple(x)
    raise ValueError(f"an input must be a tensor or a tuple of tensors (views), got {type(x).__name__}")


def aggregate_samples(logits: torch.Tensor, owner: Sequence, method: str | Callable = "mean_prob"):
    """Combine sample predictions into clip predictions.

    Args:
        logits: ``(S, K)`` sample logits.
        owner: length-S sequence (list, array or 1-D tensor) naming the clip of each sample.
        method: ``"mean_prob"`` (mean of the samples' softmax probabilities), ``"mean_logit"`` (softmax of
            the mean logit), ``"vote"`` (fraction of samples whose arg-max is each class), or a callable
            ``fn(logits, group (S,) long, n_clips) -> (n_clips, K)`` scores.

    Returns:
        ``(clips, probs)``: the clip ids in order of first appearance and ``(n_clips, K)`` class scores
        (each row sums to 1 for the named methods); a clip's prediction is ``probs.argmax(1)``. With one
        sample per clip, ``"mean_prob"`` is exactly the softmax of its logits.
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ValueError(f"aggregate_samples: `logits` must be a (S, K) tensor, got {getattr(logits, 'shape', logits)!r}")
    if isinstance(owner, torch.Tensor):
        owner = owner.tolist()
    owner = list(owner)
    if len(owner) != logits.shape[0]:
        raise ValueError(f"aggregate_samples: `owner` has {len(owner)} entries but `logits` has {logits.shape[0]} rows")
    if not callable(method) and method not in AGGREGATIONS:
        raise ValueError(f"aggregate_samples: `method` must be one of {AGGREGATIONS} or a callable, got {method!r}")
    clips = list(dict.fromkeys(owner))
    index = {c: i for i, c in enumerate(clips)}
    group = torch.tensor([index[c] for c in owner], device=logits.device, dtype=torch.long)
    if callable(method):
        return clips, method(logits.float(), group, len(clips))
    if method == "mean_prob":
        values = logits.float().softmax(dim=1)
    elif method == "mean_logit":
        values = logits.float()
    else:
        values = F.one_hot(logits.argmax(dim=1), logits.shape[1]).float()
    sums = torch.zeros(len(clips), logits.shape[1], device=logits.device).index_add_(0, group, values)
    counts = torch.bincount(group, minlength=len(clips)).unsqueeze(1).float()
    mean = sums / counts
    return clips, (mean.softmax(dim=1) if method == "mean_logit" else mean)


class FrozenFeatures:
    """A frozen feature stage cached per clip: ``fn(module, clip, **params)``.

    Args:
        fn: a module-level function ``fn(module, frames (T, C, H, W) float in [0, 1], **params) -> tensor``
            (or a tuple of tensors, the views); any shape, e.g. ``(T, D)`` per-frame features.
        module: the network ``fn`` uses (weights enter the cache key through
            :func:`~merlib.eval.cache.module_digest`; a ``.frozen`` attribute, e.g. a merlib Backbone's
            frozen blocks, is part of the key too). ``None`` for a parameter-free stage.
        version: bump when ``fn``'s output changes for the same inputs.
        params: keyword arguments of ``fn`` (part of the key).
        memory: keep computed / loaded features in this process's memory as well, so the next fold and the
            next run with the same stage (a sweep) do not read them from disk again. Not pickled.
    """

    def __init__(self, fn: Callable, module: nn.Module | None = None, version: str = "1",
                 params: dict | None = None, memory: bool = True):
        if not callable(fn):
            raise ValueError(f"FrozenFeatures: `fn` must be callable, got {fn!r}")
        if module is not None and not isinstance(module, nn.Module):
            raise ValueError(f"FrozenFeatures: `module` must be a torch.nn.Module or None, got {type(module).__name__}")
        self.fn, self.module, self.version, self.params = fn, module, str(version), dict(params or {})
        self.memory = bool(memory)
        self._memo: dict = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_memo"] = {}
        return state

    def identity(self) -> dict:
        mod = None
        if self.module is not None:
            mod = {"digest": module_digest(self.module),
                   "frozen": list(getattr(self.module, "frozen", []) or [])}
        return {"stage": "frozen_features", **fn_identity(self.fn, self.version, self.params), "module": mod}

    @torch.no_grad()
    def __call__(self, frames: torch.Tensor):
        if self.module is not None:
            was = self.module.training
            self.module.eval()
            try:
                return self.fn(self.module, frames, **self.params)
            finally:
                self.module.train(was)
        return self.fn(None, frames, **self.params)

    def clear(self) -> None:
        """Forget the in-memory copies (the disk cache is untouched)."""
        self._memo.clear()


class FeatureInputs(ClipInputs):
    """Per-clip items for a :class:`Task`: loaded frames -> ``preprocess`` -> ``features`` (any shape).

    Same arguments as :class:`~merlib.eval.pipeline.ClipInputs`, plus ``features`` (a
    :class:`FrozenFeatures`). Only the final stage is cached (preprocessed frames are not written to disk
    on the way); without ``features`` it is :class:`ClipInputs` (``backbone`` included), item by item.
    """

    def __init__(self, dataset, frames="all", size=None, preprocess: Step | None = None,
                 backbone: nn.Module | None = None, cache: Cache | None = None, device="cpu",
                 fingerprints: list | None = None, features: FrozenFeatures | None = None):
        if features is not None and backbone is not None:
            raise ValueError("run: give either `backbone` or `task.features`, not both")
        super().__init__(dataset, frames, size, preprocess, backbone, cache, device, fingerprints)
        self.features = features
        self._features_id = features.identity() if features is not None else None

    def _feature_key(self, i: int) -> dict:
        k1, _ = self.stage_keys(i)
        return {"stage": "task_features", "input": k1, "features": self._features_id}

    def get(self, i: int):
        if self.features is None:
            return super().get(i)
        key = self._feature_key(i) if (self.cache is not None or self.features.memory) else None
        memo_key = None
        if self.features.memory:
            from merlib.eval.cache import key_of

            memo_key = key_of(key)
            hit = self.features._memo.get(memo_key)
            if hit is not None:
                return hit

        def compute():
            x = load_clip(self.dataset, i, self.frames, self.size)
            if self.preprocess is not None:
                x = self.preprocess(x).float()
            return self.features(x)

        value = compute() if self.cache is None else self.cache.get_or_compute(key, compute)
        if memo_key is not None:
            self.features._memo[memo_key] = value
        return value

    def items(self, idx, progress: bool = False, desc: str = "inputs") -> list:
        """The items of clips ``idx`` (a list; shapes may differ between clips)."""
        from tqdm.auto import tqdm

        return [self.get(int(i)) for i in tqdm(list(idx), desc=desc, disable=not progress, leave=False)]


def _one_sample(item):
    return tuple(v.unsqueeze(0) for v in as_views(item))


@dataclass(frozen=True)
class Task:
    """The hooks a paper plugs into :func:`merlib.eval.run` (see the module docstring).

    Attributes:
        features: a :class:`FrozenFeatures` stage (cached per clip, any shape), applied after
            ``preprocess``; ``None``: the runner's ``backbone`` (or the preprocessed clip) is the item.
        samples: ``samples(item) -> (S, ...)`` or a tuple of views ``((S, ...), ...)``: the training
            samples of one clip; ``None``: one sample per clip (the item itself; items must share a shape).
        aggregate: how a clip's sample predictions become the clip's (:func:`aggregate_samples`).
        losses: ``{name: LossTerm}``; ``None``: ``{"ce": LossTerm(cross_entropy)}``.
        version: bump when a hook's behaviour changes (part of the run identity).
    """

    features: FrozenFeatures | None = None
    samples: Callable | None = None
    aggregate: Any = "mean_prob"
    losses: Mapping | None = None
    version: str = "1"

    def __post_init__(self):
        if self.features is not None and not isinstance(self.features, FrozenFeatures):
            raise ValueError(f"Task: `features` must be a merlib.eval.FrozenFeatures, got {type(self.features).__name__}")
        if self.samples is not None and not callable(self.samples):
            raise ValueError(f"Task: `samples` must be callable, got {self.samples!r}")
        if not callable(self.aggregate) and self.aggregate not in AGGREGATIONS:
            raise ValueError(f"Task: `aggregate` must be one of {AGGREGATIONS} or a callable, got {self.aggregate!r}")
        if self.losses is not None:
            if not isinstance(self.losses, Mapping) or not self.losses:
                raise ValueError("Task: `losses` must be a non-empty dict {name: LossTerm}")
            for name, term in self.losses.items():
                if not isinstance(term, LossTerm):
                    raise ValueError(f"Task: loss {name!r} must be a merlib.eval.LossTerm, got {type(term).__name__}")

    def loss_terms(self) -> dict:
        return dict(self.losses) if self.losses is not None else {"ce": LossTerm(cross_entropy)}

    def make_samples(self, item) -> tuple[torch.Tensor, ...]:
        """One clip's samples as a tuple of views, each ``(S, ...)``."""
        if self.samples is None:
            return _one_sample(item)
        views = as_views(self.samples(item))
        n = {int(v.shape[0]) for v in views}
        if len(n) != 1 or 0 in n:
            raise ValueError(f"Task.samples must return views with the same, non-zero first dimension, got {sorted(n)}")
        return views

    def identity(self) -> dict:
        return {"features": None if self.features is None else self.features.identity(),
                "samples": hook_identity(self.samples), "aggregate": hook_identity(self.aggregate),
                "losses": {k: v.identity() for k, v in self.loss_terms().items()}, "version": self.version}
