"""The record of one evaluation run: every test prediction, per-fold and pooled metrics, the
policy, the configuration, the environment and timings. Saved as JSON (atomically)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from merlib.eval import metrics as M
from merlib.eval.policy import OPTIMISTIC_LABEL, is_optimistic

__all__ = ["Result"]


@dataclass
class Result:
    """What :func:`merlib.eval.run` returns.

    Attributes:
        predictions: one row per test clip: ``index`` (position in the dataset's clips), ``dataset``,
            ``subject``, ``clip``, ``fold``, ``y_true``, ``y_pred``, ``epoch`` (the epoch whose model
            predicted it) and ``p0..p{K-1}`` (softmax probabilities).
        folds: one row per fold: name, test subjects, sizes, selected epoch, seconds, fold seed and the
            fold's own metrics (accuracy, macro_f1, uar, cmnet_f1).
        metrics: :func:`merlib.eval.metrics.summarize` of the pooled predictions (keys say pooled vs.
            fold mean).
        policy: the epoch-selection policy; ``optimistic`` is True for ``oracle_test``.
    """

    name: str
    predictions: pd.DataFrame
    folds: pd.DataFrame
    metrics: dict
    policy: str
    num_classes: int
    class_names: list
    config: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def optimistic(self) -> bool:
        return is_optimistic(self.policy)

    @property
    def label(self) -> str:
        """How to label this result in a table (names the policy; says OPTIMISTIC when it is)."""
        return f"{self.name} [{OPTIMISTIC_LABEL}]" if self.optimistic else f"{self.name} [policy={self.policy}]"

    def confusion(self, normalize: str | None = None, dataset: str | None = None) -> np.ndarray:
        """Confusion matrix ``(K, K)`` of the pooled predictions (optionally of one dataset only)."""
        p = self.predictions if dataset is None else self.predictions[self.predictions["dataset"] == dataset]
        return M.confusion(p["y_true"].to_numpy(), p["y_pred"].to_numpy(), self.num_classes, normalize=normalize)

    def per_class_recall(self) -> pd.Series:
        r = M.per_class_recall(self.predictions["y_true"], self.predictions["y_pred"], self.num_classes)
        return pd.Series(r, index=list(self.class_names), name="recall")

    def per_dataset(self) -> pd.DataFrame:
        """Metrics per source dataset from the same pooled predictions (MEGC2019 composite style)."""
        rows = {}
        groups = list(self.predictions.groupby("dataset", sort=True))
        for ds, p in groups:
            rows[ds] = M.summarize(p["y_true"], p["y_pred"], self.num_classes, folds=p["fold"])
        rows["all"] = dict(self.metrics)
        df = pd.DataFrame(rows).T
        df.attrs["policy"] = self.policy
        df.attrs["optimistic"] = self.optimistic
        return df

    def table(self) -> pd.DataFrame:
        """The headline numbers as a one-row table labelled with the policy (OPTIMISTIC when it is)."""
        df = pd.DataFrame([{k: v for k, v in self.metrics.items()}], index=[self.label])
        df.insert(0, "policy", self.policy)
        df.insert(1, "optimistic", self.optimistic)
        df.attrs["optimistic"] = self.optimistic
        return df

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        from merlib.results import to_jsonable

        return to_jsonable({
            "name": self.name, "policy": self.policy, "optimistic": self.optimistic,
            "label": self.label, "num_classes": self.num_classes, "class_names": list(self.class_names),
            "metrics": self.metrics, "metric_labels": {k: M.METRIC_LABELS[k] for k in self.metrics
                                                       if k in M.METRIC_LABELS},
            "config": self.config, "params": self.params, "environment": self.environment,
            "timings": self.timings,
            "folds": self.folds.to_dict(orient="records"),
            "predictions": self.predictions.to_dict(orient="list"),
        })

    def save(self, path: str | Path) -> Path:
        from merlib.results import atomic_write_json

        return atomic_write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> "Result":
        return cls(name=d["name"], predictions=pd.DataFrame(d["predictions"]), folds=pd.DataFrame(d["folds"]),
                   metrics=d["metrics"], policy=d["policy"], num_classes=int(d["num_classes"]),
                   class_names=list(d["class_names"]), config=d.get("config", {}), params=d.get("params", {}),
                   environment=d.get("environment", {}), timings=d.get("timings", {}))

    @classmethod
    def load(cls, path: str | Path) -> "Result":
        with open(path) as fh:
            return cls.from_dict(json.load(fh))
