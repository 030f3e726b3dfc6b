"""Evaluation: metrics, protocols, the training runner, caching, sweeps and reporting.

Flow: ``merlib.data, merlib.magnify -> merlib.models -> merlib.eval -> merlib.papers``; this package
imports none of the earlier stages and knows no paper — it takes any dataset object with ``.clips``
(pandas), ``.class_names``, ``.num_classes``, ``.name``, ``len()`` and
``.frames(i, indices=None, size=None) -> (T, C, H, W)``. A paper plugs what it needs beyond one tensor
per clip (frozen-feature caches, segments with clip-level aggregation, several views, weighted losses)
into :func:`run` through a :class:`Task` (:mod:`merlib.eval.task`).

Quick tour::

    from merlib import eval as E
    folds = E.loso(ds.clips)                                   # one Fold per subject
    res = E.run(E.linear_head, ds, "loso", E.TrainConfig(epochs=10),
                preprocess=E.Step(magnify_fn, "1", {"alpha": 10}), backbone=frozen_net,
                cache=E.Cache("features"), results_dir="runs/x")  # resumable, atomic
    res.metrics["pooled_uf1"], res.metrics["fold_mean_accuracy"]
    sw = E.sweep({"alpha": [0, 10, 20]}, E.linear_head, ds, preprocess=..., executor="ray")
    task = E.Task(features=E.FrozenFeatures(fn, net), samples=segments, aggregate="mean_prob",
                  losses={"ce": E.LossTerm(E.cross_entropy, 1.0), "aux": E.LossTerm(aux_fn, 0.1)})
    E.run(model_fn, ds, "loso", cfg, task=task, policy=("last", "oracle_test"))   # {policy: Result}
    E.compare(sw.table(), merlib.papers.table("mmfrn2022", "table4"))
"""
from merlib.eval.cache import Cache, clip_fingerprint, fn_identity, key_of, module_digest, tensor_digest
from merlib.eval.compare import Comparison, compare
from merlib.eval.datasets import InMemoryDataset, concat_datasets
from merlib.eval.metrics import (METRIC_LABELS, accuracy, cmnet_f1, confusion, macro_f1, per_class_recall,
                                 summarize, uar, uf1, war)
from merlib.eval.pipeline import ClipInputs, Step, frame_indices, load_clip
from merlib.eval.policy import OPTIMISTIC_LABEL, POLICIES, is_optimistic
from merlib.eval.protocols import Fold, SubjectKFold, composite, cross_dataset, inner_split, loso
from merlib.eval.result import Result
from merlib.eval.runner import RunInterrupted, TrainConfig, linear_head, mlp_head, run
from merlib.eval.seeds import derive_seed
from merlib.eval.significance import bootstrap_ci, mcnemar, paired_bootstrap
from merlib.eval.sweep import SweepResult, sweep
from merlib.eval.task import FeatureInputs, FrozenFeatures, LossTerm, Task, aggregate_samples, cross_entropy

__all__ = [
    "Cache", "clip_fingerprint", "fn_identity", "key_of", "module_digest", "tensor_digest",
    "Comparison", "compare", "InMemoryDataset", "concat_datasets",
    "METRIC_LABELS", "accuracy", "cmnet_f1", "confusion", "macro_f1", "per_class_recall", "summarize",
    "uar", "uf1", "war", "ClipInputs", "Step", "frame_indices", "load_clip",
    "OPTIMISTIC_LABEL", "POLICIES", "is_optimistic", "Fold", "SubjectKFold", "composite", "cross_dataset", "inner_split", "loso",
    "Result", "RunInterrupted", "TrainConfig", "linear_head", "mlp_head", "run", "derive_seed",
    "mcnemar", "paired_bootstrap", "bootstrap_ci", "SweepResult", "sweep",
    "Task", "LossTerm", "FrozenFeatures", "FeatureInputs", "aggregate_samples", "cross_entropy",
]
