"""Paired significance tests between two results on the same clips and folds.

* :func:`mcnemar` — McNemar's exact test (McNemar 1947; the exact binomial form, e.g. Dietterich
  1998, "Approximate statistical tests for comparing supervised classification learning
  algorithms"): of the clips exactly one result gets right, is the split 50/50? The p-value is the
  two-sided binomial test (``scipy.stats.binomtest``) on the discordant counts ``b`` and ``c``.
* :func:`paired_bootstrap` — resample clips (``by="clip"``) or whole subjects (``by="subject"``) with
  replacement (the same resample for both results) and recompute any metric, e.g. the pooled UF1;
  gives the difference, a percentile confidence interval and a two-sided bootstrap p-value.
* :func:`bootstrap_ci` — the same resampling for one result: a metric's percentile confidence interval.

Resampling subjects is the honest unit under LOSO: clips of one subject share a face and an intensity
scale, so resampling clips treats correlated clips as independent and gives intervals that are too narrow
(the synthetic benchmark, ``benchmarks/operating_point.py``, uses subjects).

Both align the two results on the clip (dataset, subject, clip) and refuse results whose clip sets,
labels or folds differ.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from merlib.eval import metrics as M

__all__ = ["mcnemar", "paired_bootstrap", "bootstrap_ci", "resample_indices", "align", "METRICS"]

#: Metrics the bootstrap helpers know (pooled over the resampled clips).
METRICS = {"uf1": M.uf1, "uar": M.uar, "accuracy": M.accuracy, "macro_f1": M.macro_f1, "cmnet_f1": M.cmnet_f1,
           "war": M.war}


def _frame(r) -> tuple[pd.DataFrame, int]:
    if hasattr(r, "predictions"):
        return r.predictions, int(r.num_classes)
    raise ValueError(f"expected a merlib.eval.Result, got {type(r).__name__}")


def align(result_a, result_b) -> pd.DataFrame:
    """Join two results' predictions on (dataset, subject, clip): columns y_true, pred_a, pred_b, fold, subject."""
    pa, ka = _frame(result_a)
    pb, kb = _frame(result_b)
    if ka != kb:
        raise ValueError(f"paired test: results have different numbers of classes ({ka} vs {kb})")
    key = ["dataset", "subject", "clip"]
    if pa[key].duplicated().any() or pb[key].duplicated().any():
        raise ValueError("paired test: a clip appears twice in one result's predictions")
    m = pa[key + ["y_true", "y_pred", "fold"]].merge(pb[key + ["y_true", "y_pred", "fold"]], on=key, how="outer",
                                                        suffixes=("_a", "_b"), indicator=True)
    if (m["_merge"] != "both").any():
        n = int((m["_merge"] != "both").sum())
        raise ValueError(f"paired test: the two results cover different clips ({n} clips in only one of them)")
    if (m["y_true_a"] != m["y_true_b"]).any():
        raise ValueError("paired test: the two results disagree on true labels")
    if (m["fold_a"] != m["fold_b"]).any():
        raise ValueError("paired test: the two results used different folds")
    return pd.DataFrame({"y_true": m["y_true_a"].astype(int), "pred_a": m["y_pred_a"].astype(int),
                         "pred_b": m["y_pred_b"].astype(int), "fold": m["fold_a"], "subject": m["subject"]})


def mcnemar(result_a, result_b) -> dict:
    """McNemar's exact test on the clips where exactly one of the two results is right.

    Returns:
        ``{"b": a right & b wrong, "c": a wrong & b right, "n_discordant", "statistic": min(b, c),
        "pvalue": two-sided exact binomial p, "accuracy_a", "accuracy_b"}``; ``pvalue = 1`` when
        there is no discordant clip.
    """
    d = align(result_a, result_b)
    ra = d["pred_a"].to_numpy() == d["y_true"].to_numpy()
    rb = d["pred_b"].to_numpy() == d["y_true"].to_numpy()
    b = int(np.sum(ra & ~rb))
    c = int(np.sum(~ra & rb))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)
    return {"b": b, "c": c, "n_discordant": b + c, "statistic": min(b, c), "pvalue": p,
            "accuracy_a": float(ra.mean()), "accuracy_b": float(rb.mean()), "n": int(len(d))}


def resample_indices(groups, n_boot: int, seed: int = 0, by: str = "subject") -> list[np.ndarray]:
    """``n_boot`` bootstrap resamples of row indices: whole groups (``by="subject"``) or rows (``by="clip"``).

    Args:
        groups: ``(N,)`` the subject of each row.
    Returns:
        a list of ``n_boot`` int arrays; a subject resample concatenates the rows of subjects drawn with
        replacement (so its length varies).
    """
    if by not in ("subject", "clip"):
        raise ValueError(f"bootstrap: `by` must be 'subject' or 'clip', got {by!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 10:
        raise ValueError(f"bootstrap: `n_boot` must be an int >= 10, got {n_boot!r}")
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    if by == "clip":
        return [rng.integers(0, len(groups), len(groups)) for _ in range(n_boot)]
    names = np.unique(groups)
    rows = [np.flatnonzero(groups == g) for g in names]
    return [np.concatenate([rows[j] for j in rng.integers(0, len(names), len(names))]) for _ in range(n_boot)]


def _metric(metric: str):
    if metric not in METRICS:
        raise ValueError(f"bootstrap: `metric` must be one of {sorted(METRICS)}, got {metric!r}")
    return METRICS[metric]


def bootstrap_ci(result, metric: str = "uf1", n_boot: int = 2000, seed: int = 0, confidence: float = 0.95,
                 by: str = "subject") -> dict:
    """A percentile bootstrap CI of one result's pooled ``metric``, resampling subjects (default) or clips.

    Returns:
        ``{"metric", "value" (on all clips), "ci_low", "ci_high", "n_boot", "by", "n"}``.
    """
    f = _metric(metric)
    if not 0 < confidence < 1:
        raise ValueError(f"bootstrap_ci: `confidence` must be in (0, 1), got {confidence!r}")
    p, k = _frame(result)
    y, pred = p["y_true"].to_numpy().astype(int), p["y_pred"].to_numpy().astype(int)
    vals = np.array([f(y[s], pred[s], k) for s in resample_indices(p["subject"].to_numpy(), n_boot, seed, by)])
    lo, hi = np.quantile(vals, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
    return {"metric": metric, "value": f(y, pred, k), "ci_low": float(lo), "ci_high": float(hi), "n_boot": n_boot,
            "by": by, "n": int(len(y))}


def paired_bootstrap(result_a, result_b, metric: str = "uf1", n_boot: int = 2000, seed: int = 0,
                     confidence: float = 0.95, by: str = "clip") -> dict:
    """Bootstrap of ``metric(b) - metric(a)`` (metric pooled over the resampled clips).

    Args:
        metric: ``uf1``, ``uar``, ``accuracy``, ``macro_f1``, ``cmnet_f1`` or ``war``.
        n_boot: number of resamples. ``seed``: the resampling seed.
        by: ``"clip"`` (default, kept for existing results) or ``"subject"`` (whole subjects resampled: the
            honest unit under LOSO, see the module docstring).

    Returns:
        ``{"metric", "a", "b", "diff" (b − a on all clips), "ci_low", "ci_high", "pvalue", "n_boot", "by"}``.
        The p-value is two-sided: twice the smaller fraction of resampled differences on either side of 0.
    """
    f = _metric(metric)
    if not isinstance(n_boot, int) or n_boot < 10:
        raise ValueError(f"paired_bootstrap: `n_boot` must be an int >= 10, got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"paired_bootstrap: `confidence` must be in (0, 1), got {confidence!r}")
    d = align(result_a, result_b)
    k = int(result_a.num_classes)
    y, pa, pb = (d[c].to_numpy() for c in ("y_true", "pred_a", "pred_b"))
    a0, b0 = f(y, pa, k), f(y, pb, k)
    n = len(y)
    diffs = np.array([f(y[s], pb[s], k) - f(y[s], pa[s], k)
                      for s in resample_indices(d["subject"].to_numpy(), n_boot, seed, by)])
    lo, hi = np.quantile(diffs, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
    p = min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    return {"metric": metric, "a": a0, "b": b0, "diff": b0 - a0, "ci_low": float(lo), "ci_high": float(hi),
            "pvalue": float(p), "n_boot": n_boot, "n": n, "by": by}
