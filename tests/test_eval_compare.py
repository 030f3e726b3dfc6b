"""Paper vs. ours tables, figures, and paired significance tests."""
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

import merlib.eval as E
from merlib import papers
from merlib.eval.result import Result


def _result(y_true, y_pred, k=3, policy="last", folds=None, name="r"):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = len(y_true)
    folds = folds if folds is not None else [f"s{i % 4}" for i in range(n)]
    pred = pd.DataFrame({"index": range(n), "dataset": "casme2", "subject": folds, "clip": [f"c{i}" for i in range(n)],
                         "fold": folds, "y_true": y_true, "y_pred": y_pred, "epoch": 0})
    return Result(name=name, predictions=pred, folds=pd.DataFrame(), policy=policy, num_classes=k,
                  class_names=["negative", "positive", "surprise"][:k],
                  metrics=E.summarize(y_true, y_pred, k, folds=folds))


def test_compare_result_with_paper_row():
    rng = np.random.default_rng(0)
    yt = rng.integers(0, 3, 40)
    res = _result(yt, np.where(rng.random(40) < 0.7, yt, (yt + 1) % 3))
    t4 = papers.table("mmfrn2022", "table4")
    cmp = E.compare(res, t4, paper_row=80)
    tab = cmp.table
    assert list(tab["merlib_metric"]) == ["pooled_uf1", "pooled_uar", "pooled_accuracy"]
    ours_col = tab.attrs["ours_column"]
    assert "policy=last" in ours_col and not cmp.optimistic
    row = tab.set_index("merlib_metric").loc["pooled_uf1"]
    assert row["paper (reported)"] == pytest.approx(0.632770)
    assert row[ours_col] == pytest.approx(res.metrics["pooled_uf1"])
    assert row["delta (ours - paper)"] == pytest.approx(res.metrics["pooled_uf1"] - 0.632770)
    assert "reported by the paper" in cmp.title


def test_compare_percent_table_per_dataset_and_optimistic_label():
    res = _result([0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 0], policy="oracle_test")
    cmp = E.compare(res, papers.table("cmnet2023", "table1"), dataset="smic_hs")
    tab = cmp.table.set_index("merlib_metric")
    assert tab.loc["fold_mean_accuracy", "paper (reported)"] == pytest.approx(0.7927)  # 79.27 % -> fraction
    assert tab.loc["fold_mean_cmnet_f1", "paper (reported)"] == pytest.approx(0.8011)
    assert cmp.optimistic and "OPTIMISTIC" in cmp.table.attrs["ours_column"] and "OPTIMISTIC" in cmp.title
    with pytest.raises(ValueError, match="dataset="):
        E.compare(res, papers.table("cmnet2023", "table1"))


def test_compare_sweep_table_row_by_row_with_index_map():
    ours = pd.DataFrame({"alpha": [0, 79], "pooled_uf1": [0.5, 0.6], "pooled_uar": [0.4, 0.6],
                         "pooled_accuracy": [0.5, 0.7]}).set_index("alpha")
    ours.attrs["policy"] = "last"
    cmp = E.compare(ours, papers.table("mmfrn2022", "table4"), index_map=lambda a: a + 1)  # alpha_oh = 1 + alpha
    tab = cmp.table
    assert sorted(set(tab["row"])) == [1, 80]
    acc80 = tab[(tab["row"] == 80) & (tab["merlib_metric"] == "pooled_accuracy")].iloc[0]
    assert acc80["delta (ours - paper)"] == pytest.approx(0.7 - 0.635122)
    with pytest.raises(ValueError, match="index_map"):
        E.compare(ours, papers.table("mmfrn2022", "table4"))


def test_compare_per_class_recall_columns():
    res = _result([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0])
    tab = E.compare(res, papers.table("bai2021", "n_sweep"), paper_row=("PMM", 14)).table.set_index("merlib_metric")
    assert tab.loc["recall:negative"].iloc[3] == pytest.approx(0.5)
    assert tab.loc["recall:surprise", "paper (reported)"] == pytest.approx(1.0)


@pytest.mark.parametrize("backend", ["plotly", "seaborn"])
def test_figures_build(backend):
    from merlib.viz import results as V

    res = _result([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0])
    fig = V.confusion_figure(res, backend=backend)
    if backend == "plotly":
        z = np.asarray(fig.data[0].z)
        np.testing.assert_allclose(z, res.confusion(normalize="true"))
    V.per_class_recall_figure({"a": res, "b": res}, backend=backend)
    E.compare(res, papers.table("mmfrn2022", "table5")).figure(backend=backend)
    with pytest.raises(ValueError, match="backend"):
        V.confusion_figure(res, backend="bokeh")
    with pytest.raises(ValueError, match="square"):
        V.confusion_figure(np.zeros((2, 3)))


def test_mcnemar_matches_exact_binomial():
    yt = np.zeros(30, int)
    a = np.zeros(30, int)
    b = np.zeros(30, int)
    a[:8] = 1      # a wrong on 8 clips where b is right  -> c = 8
    b[8:10] = 1    # b wrong on 2 clips where a is right  -> b = 2
    out = E.mcnemar(_result(yt, a, 2), _result(yt, b, 2))
    assert (out["b"], out["c"], out["n_discordant"]) == (2, 8, 10)
    assert out["pvalue"] == pytest.approx(min(1.0, 2 * binom.cdf(2, 10, 0.5)))
    same = E.mcnemar(_result(yt, a, 2), _result(yt, a, 2))
    assert same["pvalue"] == 1.0 and same["n_discordant"] == 0


def test_paired_bootstrap():
    rng = np.random.default_rng(1)
    yt = rng.integers(0, 3, 80)
    weak = np.where(rng.random(80) < 0.4, yt, rng.integers(0, 3, 80))
    strong = np.where(rng.random(80) < 0.95, yt, weak)
    out = E.paired_bootstrap(_result(yt, weak), _result(yt, strong), metric="uf1", n_boot=300)
    assert out["diff"] == pytest.approx(E.uf1(yt, strong, 3) - E.uf1(yt, weak, 3))
    assert out["ci_low"] > 0 and out["pvalue"] < 0.05
    same = E.paired_bootstrap(_result(yt, weak), _result(yt, weak), n_boot=50)
    assert same["diff"] == 0 and same["ci_low"] == same["ci_high"] == 0 and same["pvalue"] == 1.0
    again = E.paired_bootstrap(_result(yt, weak), _result(yt, strong), metric="uf1", n_boot=300)
    assert again == out  # seeded


def test_paired_tests_refuse_unpaired_results():
    a = _result([0, 1, 2, 0], [0, 1, 2, 0])
    b = _result([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="different clips"):
        E.mcnemar(a, b)
    c = _result([0, 1, 2, 0], [0, 1, 2, 0], folds=["x", "x", "y", "y"])
    c.predictions["subject"] = a.predictions["subject"]
    with pytest.raises(ValueError, match="different folds"):
        E.mcnemar(a, c)
    with pytest.raises(ValueError, match="metric"):
        E.paired_bootstrap(a, a, metric="auc")


def test_subject_bootstrap_resamples_whole_subjects_and_is_wider_for_clustered_errors():
    groups = np.repeat([f"s{i}" for i in range(10)], 8)
    for s in E.significance.resample_indices(groups, 50, seed=3, by="subject"):
        drawn = groups[s]
        # every drawn subject comes with all 8 of its rows, once per draw
        _, counts = np.unique(drawn, return_counts=True)
        assert (counts % 8 == 0).all() and len(s) == 80
    # errors clustered by subject: half the subjects always right, half always wrong
    yt = np.tile([0, 1, 2, 0, 1, 2, 0, 1], 10)
    pred = np.where(np.repeat(np.arange(10) % 2 == 0, 8), yt, (yt + 1) % 3)
    r = _result(yt, pred, folds=list(groups))
    by_clip = E.bootstrap_ci(r, "accuracy", n_boot=400, by="clip")
    by_subject = E.bootstrap_ci(r, "accuracy", n_boot=400, by="subject")
    assert by_clip["value"] == by_subject["value"] == 0.5
    assert (by_subject["ci_high"] - by_subject["ci_low"]) > 1.5 * (by_clip["ci_high"] - by_clip["ci_low"])
    assert by_subject["ci_low"] <= 0.5 <= by_subject["ci_high"]
    # paired: the subject resample is the same for both results; identical results differ by exactly 0
    same = E.paired_bootstrap(r, r, metric="accuracy", n_boot=50, by="subject")
    assert same["diff"] == 0 and same["ci_low"] == same["ci_high"] == 0 and same["by"] == "subject"
    with pytest.raises(ValueError, match="by"):
        E.bootstrap_ci(r, by="fold")
