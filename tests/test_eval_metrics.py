"""merlib.eval.metrics against scikit-learn, and pooled vs. fold-mean aggregation."""
import numpy as np
import pytest
from sklearn import metrics as skm

from merlib.eval import metrics as M


def _cases():
    rng = np.random.default_rng(0)
    for trial in range(60):
        k = int(rng.integers(2, 7))
        n = int(rng.integers(1, 40))
        yt = rng.integers(0, k, n)
        # sometimes biased predictions (classes never predicted), sometimes missing true classes
        yp = rng.integers(0, max(1, k - (trial % 3)), n)
        yield yt, yp, k


@pytest.mark.parametrize("case", list(_cases()))
def test_metrics_agree_with_sklearn(case):
    yt, yp, k = case
    labels = list(range(k))
    assert M.accuracy(yt, yp, k) == pytest.approx(skm.accuracy_score(yt, yp), abs=1e-9)
    assert M.war(yt, yp, k) == pytest.approx(skm.recall_score(yt, yp, labels=labels, average="weighted",
                                                               zero_division=0), abs=1e-9)
    f1 = skm.f1_score(yt, yp, labels=labels, average="macro", zero_division=0)
    assert M.macro_f1(yt, yp, k) == pytest.approx(f1, abs=1e-9)
    assert M.uf1(yt, yp, k) == pytest.approx(f1, abs=1e-9)
    assert M.uar(yt, yp, k) == pytest.approx(
        skm.recall_score(yt, yp, labels=labels, average="macro", zero_division=0), abs=1e-9)
    p = skm.precision_score(yt, yp, labels=labels, average="macro", zero_division=0)
    r = skm.recall_score(yt, yp, labels=labels, average="macro", zero_division=0)
    assert M.cmnet_f1(yt, yp, k) == pytest.approx(0.0 if p + r == 0 else 2 * p * r / (p + r), abs=1e-9)
    np.testing.assert_array_equal(M.confusion(yt, yp, k), skm.confusion_matrix(yt, yp, labels=labels))
    np.testing.assert_allclose(M.per_class_recall(yt, yp, k),
                               skm.recall_score(yt, yp, labels=labels, average=None, zero_division=0), atol=1e-9)
    np.testing.assert_allclose(M.confusion(yt, yp, k, normalize="true"),
                               np.nan_to_num(skm.confusion_matrix(yt, yp, labels=labels, normalize="true")), atol=1e-9)


def test_fixed_label_set_counts_absent_classes():
    # class 2 never occurs and is never predicted: it still counts (F1 = recall = 0 for it)
    yt, yp = [0, 0, 1, 1], [0, 0, 1, 1]
    assert M.accuracy(yt, yp, 3) == 1.0
    assert M.uf1(yt, yp, 3) == pytest.approx(2 / 3)
    assert M.uar(yt, yp, 3) == pytest.approx(2 / 3)


def test_cmnet_f1_differs_from_macro_f1():
    yt = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    yp = np.array([0, 0, 0, 1, 1, 0, 2, 0])
    assert abs(M.cmnet_f1(yt, yp, 3) - M.macro_f1(yt, yp, 3)) > 1e-3


def test_pooled_uf1_and_fold_mean_f1_differ_and_are_labelled():
    # Crafted: fold A predicts its single class perfectly, fold B is all wrong on its two classes.
    yt = np.array([0, 0, 0, 0, 1, 2, 1, 2])
    yp = np.array([0, 0, 0, 0, 2, 1, 2, 1])
    folds = ["A"] * 4 + ["B"] * 4
    out = M.summarize(yt, yp, 3, folds=folds)
    # pooled: class 0 F1 = 1, classes 1 and 2 F1 = 0 -> UF1 = 1/3
    assert out["pooled_uf1"] == pytest.approx(1 / 3)
    assert out["pooled_uf1"] == pytest.approx(skm.f1_score(yt, yp, average="macro", labels=[0, 1, 2]))
    # per fold with the fixed label set: A = 1/3 (classes 1, 2 absent), B = 0 -> mean 1/6
    fa = skm.f1_score(yt[:4], yp[:4], labels=[0, 1, 2], average="macro", zero_division=0)
    fb = skm.f1_score(yt[4:], yp[4:], labels=[0, 1, 2], average="macro", zero_division=0)
    assert out["fold_mean_macro_f1"] == pytest.approx((fa + fb) / 2)
    assert abs(out["fold_mean_macro_f1"] - out["pooled_uf1"]) > 0.1
    # accuracy: pooled 4/8; fold mean (1 + 0) / 2 -- equal here, but reported under both names
    assert out["pooled_accuracy"] == pytest.approx(0.5) and out["fold_mean_accuracy"] == pytest.approx(0.5)
    assert out["n_folds"] == 2 and out["n_predictions"] == 8
    for key in ("pooled_uf1", "fold_mean_macro_f1", "pooled_uar", "fold_mean_accuracy"):
        assert key in M.METRIC_LABELS
    assert "pooled" in M.METRIC_LABELS["pooled_uf1"] and "mean over folds" in M.METRIC_LABELS["fold_mean_macro_f1"]


def test_pooled_and_fold_mean_accuracy_differ_with_unequal_folds():
    yt = np.zeros(5, int)
    yp = np.array([0, 1, 1, 1, 1])
    out = M.summarize(yt, yp, 2, folds=["a", "b", "b", "b", "b"])
    assert out["pooled_accuracy"] == pytest.approx(0.2)
    assert out["fold_mean_accuracy"] == pytest.approx(0.5)


@pytest.mark.parametrize("bad, match", [
    (dict(y_true=[0, 3], y_pred=[0, 1], num_classes=3), "outside"),
    (dict(y_true=[0, 1], y_pred=[0], num_classes=3), "differ in length"),
    (dict(y_true=[[0]], y_pred=[[0]], num_classes=3), "1-D"),
    (dict(y_true=[0, 1], y_pred=[0, 1], num_classes=0), "num_classes"),
    (dict(y_true=[0.5, 1], y_pred=[0, 1], num_classes=3), "integer"),
])
def test_bad_input_is_named(bad, match):
    with pytest.raises(ValueError, match=match):
        M.uf1(**bad)


def test_summarize_rejects_wrong_fold_length():
    with pytest.raises(ValueError, match="folds"):
        M.summarize([0, 1], [0, 1], 2, folds=["a"])
