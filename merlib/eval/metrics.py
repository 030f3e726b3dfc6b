"""Classification metrics for MER, computed one documented way.

Every function takes ``y_true, y_pred, num_classes`` (integer labels in ``[0, num_classes)``) and
uses the *fixed* label set ``0..num_classes-1``: a class that never occurs still counts, and a
ratio with a zero denominator is 0 (``zero_division=0`` in scikit-learn terms).

MEGC2019 (See et al., "MEGC 2019 – the second facial micro-expressions grand challenge", FG 2019)
defines the two headline numbers on predictions **pooled over all LOSO folds**:

* ``uf1`` – unweighted F1: the mean over classes of ``2·TP_c / (2·TP_c + FP_c + FN_c)``;
* ``uar`` – unweighted average recall: the mean over classes of ``TP_c / N_c``.

``macro_f1`` is the same formula as ``uf1``; the two names exist because papers report
"Macro-F1" without saying whether it was pooled or averaged over folds. :func:`summarize` reports
both readings under explicit names (``pooled_uf1`` vs. ``fold_mean_macro_f1``) — they differ in
general (see ``tests/test_eval_metrics.py``). ``war`` (weighted average recall) equals accuracy.
``cmnet_f1`` is CMNet's definition (Wei et al., AAAI 2023): ``2PR / (P + R)`` of the *macro*
precision ``P`` and the *macro* recall ``R`` — not the mean of per-class F1s.

The counts come from :func:`sklearn.metrics.confusion_matrix` with ``labels=range(num_classes)``;
the ratios are a few lines of NumPy on that one matrix so that every metric shares the same label
set and zero-division rule (tests check them against scikit-learn's own functions to 1e-9).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
from sklearn.metrics import confusion_matrix

__all__ = [
    "confusion", "accuracy", "war", "uar", "uf1", "macro_f1", "cmnet_f1",
    "per_class_recall", "per_class_precision", "per_class_f1",
    "summarize", "METRIC_LABELS", "POOLED_METRICS", "FOLD_METRICS",
]

#: Human-readable labels for the keys :func:`summarize` returns.
METRIC_LABELS = {
    "pooled_accuracy": "accuracy (pooled over folds)",
    "pooled_uf1": "UF1 (MEGC2019: macro F1 pooled over folds)",
    "pooled_uar": "UAR (MEGC2019: unweighted average recall pooled over folds)",
    "pooled_war": "WAR (weighted average recall pooled over folds = accuracy)",
    "pooled_cmnet_f1": "F1 as CMNet defines it (2PR/(P+R) of macro P and R, pooled)",
    "fold_mean_accuracy": "accuracy (mean over folds)",
    "fold_mean_macro_f1": "macro F1 (mean over folds)",
    "fold_mean_uar": "UAR (mean over folds)",
    "fold_mean_cmnet_f1": "F1 as CMNet defines it (mean over folds)",
}
POOLED_METRICS = ("accuracy", "uf1", "uar", "war", "cmnet_f1")
FOLD_METRICS = ("accuracy", "macro_f1", "uar", "cmnet_f1")


def _check(y_true, y_pred, num_classes) -> tuple[np.ndarray, np.ndarray, int]:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"metrics: `num_classes` must be a positive int, got {num_classes!r}")
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    for name, arr in (("y_true", yt), ("y_pred", yp)):
        if arr.ndim != 1:
            raise ValueError(f"metrics: `{name}` must be a 1-D array of class ids, got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.equal(np.mod(arr, 1), 0)):
                raise ValueError(f"metrics: `{name}` must hold integer class ids, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(
                f"metrics: `{name}` holds labels outside [0, {num_classes}) "
                f"(min {arr.min()}, max {arr.max()}); check `num_classes`")
    if yt.shape != yp.shape:
        raise ValueError(f"metrics: `y_true` and `y_pred` differ in length ({yt.size} vs {yp.size})")
    return yt.astype(np.int64), yp.astype(np.int64), int(num_classes)


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


def confusion(y_true, y_pred, num_classes: int, normalize: str | None = None) -> np.ndarray:
    """Confusion matrix ``(K, K)``: rows are true classes, columns predicted classes.

    Args:
        normalize: ``None`` (counts, int64), ``"true"`` (rows sum to 1 = per-class recall on the
            diagonal; empty rows stay 0), ``"pred"`` or ``"all"``.
    """
    yt, yp, k = _check(y_true, y_pred, num_classes)
    cm = confusion_matrix(yt, yp, labels=np.arange(k)).astype(np.int64) if yt.size else np.zeros((k, k), np.int64)
    if normalize is None:
        return cm
    if normalize == "true":
        return _div(cm, cm.sum(axis=1, keepdims=True))
    if normalize == "pred":
        return _div(cm, cm.sum(axis=0, keepdims=True))
    if normalize == "all":
        return _div(cm, np.full_like(cm, cm.sum()))
    raise ValueError(f"confusion: `normalize` must be None, 'true', 'pred' or 'all', got {normalize!r}")


def per_class_recall(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Recall of each class ``(K,)``; 0 for a class with no true samples."""
    cm = confusion(y_true, y_pred, num_classes)
    return _div(np.diag(cm), cm.sum(axis=1))


def per_class_precision(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Precision of each class ``(K,)``; 0 for a class never predicted."""
    cm = confusion(y_true, y_pred, num_classes)
    return _div(np.diag(cm), cm.sum(axis=0))


def per_class_f1(y_true, y_pred, num_classes: int) -> np.ndarray:
    """F1 of each class ``(K,)``: ``2TP / (2TP + FP + FN)``, 0 when the class is absent and never predicted."""
    cm = confusion(y_true, y_pred, num_classes)
    tp = np.diag(cm)
    return _div(2 * tp, cm.sum(axis=0) + cm.sum(axis=1))


def accuracy(y_true, y_pred, num_classes: int) -> float:
    """Fraction of correct predictions (0 for empty input)."""
    cm = confusion(y_true, y_pred, num_classes)
    return float(_div(np.trace(cm), cm.sum()))


def war(y_true, y_pred, num_classes: int) -> float:
    """Weighted average recall (class recalls weighted by class frequency) — equal to accuracy."""
    return accuracy(y_true, y_pred, num_classes)


def uar(y_true, y_pred, num_classes: int) -> float:
    """Unweighted average recall over the fixed label set (MEGC2019 UAR when fed pooled predictions)."""
    return float(per_class_recall(y_true, y_pred, num_classes).mean())


def macro_f1(y_true, y_pred, num_classes: int) -> float:
    """Mean of per-class F1 over the fixed label set (scikit-learn ``f1_score(average='macro')``)."""
    return float(per_class_f1(y_true, y_pred, num_classes).mean())


def uf1(y_true, y_pred, num_classes: int) -> float:
    """MEGC2019 unweighted F1: :func:`macro_f1` of predictions pooled over all folds.

    The formula is the macro F1; the name says that the caller feeds it the pooled predictions.
    """
    return macro_f1(y_true, y_pred, num_classes)


def cmnet_f1(y_true, y_pred, num_classes: int) -> float:
    """CMNet's F1 (Wei et al., AAAI 2023, Sec. "Metrics"): ``2PR/(P+R)`` with P, R the macro averages."""
    p = float(per_class_precision(y_true, y_pred, num_classes).mean())
    r = float(per_class_recall(y_true, y_pred, num_classes).mean())
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


_FUNCS = {"accuracy": accuracy, "war": war, "uar": uar, "uf1": uf1, "macro_f1": macro_f1,
          "cmnet_f1": cmnet_f1}


def summarize(y_true, y_pred, num_classes: int, folds: Iterable | None = None) -> dict[str, float]:
    """All headline numbers, each under a name that says how it was aggregated.

    Args:
        y_true, y_pred: ``(N,)`` integer labels of every test prediction of a run.
        num_classes: the size of the fixed label set.
        folds: ``(N,)`` fold name of each prediction; adds the ``fold_mean_*`` numbers.

    Returns:
        ``pooled_accuracy``, ``pooled_uf1``, ``pooled_uar``, ``pooled_war``, ``pooled_cmnet_f1`` and,
        with ``folds``, ``fold_mean_accuracy``, ``fold_mean_macro_f1``, ``fold_mean_uar``,
        ``fold_mean_cmnet_f1`` and ``n_folds``. Per-fold numbers use the same fixed label set as the
        pooled ones (a class absent from a test subject and never predicted scores 0 in that fold's
        F1/UAR), which is why fold means of F1/UAR are usually lower than the pooled values.
        See :data:`METRIC_LABELS` for readable names.
    """
    yt, yp, k = _check(y_true, y_pred, num_classes)
    out = {f"pooled_{m}": _FUNCS[m](yt, yp, k) for m in POOLED_METRICS}
    out["n_predictions"] = int(yt.size)
    if folds is not None:
        f = np.asarray(list(folds), dtype=object)
        if f.shape != yt.shape:
            raise ValueError(f"summarize: `folds` must have one entry per prediction ({yt.size}), got {f.size}")
        names = list(dict.fromkeys(f.tolist()))
        for m in FOLD_METRICS:
            vals = [_FUNCS[m](yt[f == n], yp[f == n], k) for n in names]
            out[f"fold_mean_{m}"] = float(np.mean(vals)) if vals else 0.0
        out["n_folds"] = len(names)
    return out
