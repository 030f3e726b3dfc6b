"""The clean board (merlib.papers.board): table columns, inflation, paired tests, resume, identical reruns."""
import json

import numpy as np
import pytest
import torch

from merlib.eval import InMemoryDataset, TrainConfig, linear_head, mcnemar, paired_bootstrap, run
from merlib.papers import board

CALLS = {"n": 0}


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MERLIB_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)


def tiny_dataset():
    """4 subjects × 6 clips, 3 classes; the class shows as brightening of one image third between onset and apex."""
    g = torch.Generator().manual_seed(0)
    clips, subjects, labels = [], [], []
    for s in range(4):
        for j in range(6):
            y = j % 3
            x = 0.3 + 0.05 * torch.rand(3, 1, 12, 12, generator=g)
            x[1:, :, 4 * y:4 * y + 4] += 0.15 * (0.5 + torch.rand(1, generator=g))
            clips.append(x.clamp(0, 1))
            subjects.append(f"s{s}")
            labels.append(y)
    return InMemoryDataset(clips, subjects, labels, ["negative", "positive", "surprise"], name="tiny",
                           apexes=[1] * len(clips))


def run_toy(ctx, s, policies, results_dir, on_fold_end):
    CALLS["n"] += 1
    cfg = TrainConfig(epochs=s["epochs"], batch_size=8, lr=s["lr"], frames="onset_apex", size=None, num_threads=1)
    return run(linear_head, ctx.dataset, "loso", cfg, policy=policies, seed=ctx.seed, results_dir=results_dir,
               progress=False, on_fold_end=on_fold_end, name="toy")


TOY = board.Method(name="toy linear", run=run_toy, settings={"quick": {"epochs": 6, "lr": 0.05}})
LR = board.Method(name="LR", run=board.methods.run_lr,
                  settings={"quick": {"epochs": 30, "batch_size": 64, "lr": 0.05, "weight_decay": 1e-2, "grid": 4}},
                  reported=lambda: board.Reported(0.5, "pooled_uf1", "somewhere", "a test"))


def test_registry_holds_the_methods_merlib_implements():
    names = board.registered()
    for n in ("STSTNet", "OFF-ApexNet", "Bai et al. 2021", "CMNet", "MMFRN", "AMAN", "GAM-MM-MER"):
        assert n in names
    papers_on_board = {board.REGISTRY[n].paper for n in names}
    assert {"bai2021", "mmfrn2022", "aman2022", "gammmer2024", "cmnet2023"} <= papers_on_board   # the five papers
    assert any(board.REGISTRY[n].paper is None for n in names)          # the non-deep baseline
    for n in names:
        m = board.REGISTRY[n]
        assert m.settings_for("quick") and m.settings_for("standard") and m.settings_for("full")
        json.dumps(m.settings_for("standard"))                            # part of the identity
    with pytest.raises(ValueError, match="already"):
        board.register(board.REGISTRY["CMNet"])


def test_reported_numbers_come_from_the_rooms():
    bai = board.REGISTRY["Bai et al. 2021"].reported_number()
    assert bai.metric == "pooled_accuracy" and bai.dataset == "smic_hs" and abs(bai.value - 0.7576) < 1e-12
    cm = board.REGISTRY["CMNet"].reported_number()
    assert cm.metric == "fold_mean_accuracy" and cm.dataset == "smic_hs" and abs(cm.value - 0.7927) < 1e-12
    st = board.REGISTRY["STSTNet"].reported_number()
    assert st.metric == "pooled_uf1" and st.optimistic_value > st.value and "MEB" in st.source
    with pytest.raises(ValueError, match="no metric cell"):
        board.reported_from_table("cmnet2023", "table1", "CMNet (ours)", "nope")


def test_table_columns_inflation_and_paired_tests(tmp_path):
    ds = tiny_dataset()
    b = board.run_board("quick", methods=[TOY, LR], dataset=ds, results_dir=tmp_path / "runs", n_boot=50)
    t = b.table
    assert list(t.index) == ["toy linear", "LR"]
    for col in ("reported_value", "reported_dataset", "clean_uf1", "clean_uf1_ci_low", "OPTIMISTIC_uf1",
                "inflation_uf1", "clean_uar", "clean_accuracy_pooled", "clean_accuracy_fold_mean",
                "OPTIMISTIC_accuracy_fold_mean", "vs_best_d_uf1", "vs_best_ci_low", "mcnemar_p", "train_seconds",
                "params_trainable", "gmacs", "rank_clean"):
        assert col in t.columns, col
    for m in ("uf1", "uar", "accuracy_pooled", "accuracy_fold_mean"):
        np.testing.assert_allclose(t[f"inflation_{m}"], t[f"OPTIMISTIC_{m}"] - t[f"clean_{m}"], atol=0)
    for name in t.index:
        res = b.runs[name].results
        assert res["last"].policy == "last" and res["oracle_test"].optimistic
        assert t.loc[name, "clean_uf1"] == res["last"].metrics["pooled_uf1"]
        assert t.loc[name, "clean_uf1_ci_low"] <= t.loc[name, "clean_uf1"] <= t.loc[name, "clean_uf1_ci_high"]
    best = t.attrs["best_clean"]
    assert best == t["clean_uf1"].idxmax() and np.isnan(t.loc[best, "vs_best_d_uf1"])
    other = [n for n in t.index if n != best][0]
    ref = paired_bootstrap(b.runs[best].results["last"], b.runs[other].results["last"], "uf1", n_boot=50, by="subject")
    assert t.loc[other, "vs_best_d_uf1"] == pytest.approx(t.loc[other, "clean_uf1"] - t.loc[best, "clean_uf1"])
    assert t.loc[other, "vs_best_ci_low"] == ref["ci_low"]
    assert t.loc[other, "mcnemar_p"] == mcnemar(b.runs[best].results["last"], b.runs[other].results["last"])["pvalue"]
    # LR: 4x4 grid -> 16 features -> 16*3 + 3 parameters; one 16x3 matmul per sample
    assert t.loc["LR", "params_trainable"] == 51 and t.loc["LR", "gmacs"] == pytest.approx(48e-9)
    assert t.loc["LR", "reported_value"] == 0.5
    assert t.loc["LR", "delta_clean_vs_reported"] == pytest.approx(t.loc["LR", "clean_uf1"] - 0.5)
    assert np.isnan(t.loc["toy linear", "reported_value"])
    assert best in b.note and "OPTIMISTIC" in b.note
    out = b.save(tmp_path / "out")
    rec = json.loads((out / "board.json").read_text())
    assert rec["metrics"]["best_clean"] == best and (out / "board.png").stat().st_size > 0


def test_resume_skips_finished_methods_and_numbers_are_identical(tmp_path):
    ds = tiny_dataset()
    CALLS["n"] = 0
    first = board.run_board("quick", methods=[TOY], dataset=ds, results_dir=tmp_path / "runs", n_boot=30)
    assert CALLS["n"] == 1 and not first.runs["toy linear"].resumed
    again = board.run_board("quick", methods=[TOY], dataset=ds, results_dir=tmp_path / "runs", n_boot=30)
    assert CALLS["n"] == 1 and again.runs["toy linear"].resumed            # read back, not retrained
    fresh = board.run_board("quick", methods=[TOY], dataset=ds, results_dir=tmp_path / "other", n_boot=30)
    assert CALLS["n"] == 2
    num = [c for c in first.table.columns if first.table[c].dtype.kind == "f" and c != "train_seconds"]
    for b in (again, fresh):
        for p in ("last", "oracle_test"):
            a, c = first.runs["toy linear"].results[p].predictions, b.runs["toy linear"].results[p].predictions
            assert (a["y_pred"].to_numpy() == c["y_pred"].to_numpy()).all()
            np.testing.assert_allclose(a["p0"].to_numpy(), c["p0"].to_numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(first.table[num].to_numpy(float), b.table[num].to_numpy(float), equal_nan=True)
    # a changed setting is another run (new folder), not a stale read
    changed = board.Method(name="toy linear", run=run_toy, settings={"quick": {"epochs": 4, "lr": 0.05}})
    board.run_board("quick", methods=[changed], dataset=ds, results_dir=tmp_path / "runs", n_boot=30)
    assert CALLS["n"] == 3 and len(list((tmp_path / "runs").iterdir())) == 2


def test_killed_method_continues_from_its_fold_records(tmp_path):
    from merlib.eval import RunInterrupted

    ds = tiny_dataset()
    seen = []

    def killer(ctx, s, policies, results_dir, on_fold_end):
        def stop(fold, epoch, rec):
            seen.append(fold)
            if len(set(seen)) == 2 and epoch == 2:
                raise RunInterrupted("killed")
        cfg = TrainConfig(epochs=6, batch_size=8, lr=0.05, frames="onset_apex", size=None, num_threads=1)
        return run(linear_head, ctx.dataset, "loso", cfg, policy=policies, seed=ctx.seed, results_dir=results_dir,
                   progress=False, on_fold_end=on_fold_end, on_epoch_end=stop if not ctx.shared.get("resume") else None)

    m = board.Method(name="toy linear", run=killer, settings={"quick": {"epochs": 6, "lr": 0.05}})
    ctx = board.BoardContext(ds, "quick")
    with pytest.raises(RunInterrupted):
        board.run_method(m, ctx, tmp_path / "runs")
    ctx.shared["resume"] = True
    resumed = board.run_method(m, ctx, tmp_path / "runs")
    clean = board.run_method(TOY, board.BoardContext(ds, "quick"), tmp_path / "clean")
    for p in ("last", "oracle_test"):
        np.testing.assert_allclose(resumed.results[p].predictions["p0"], clean.results[p].predictions["p0"], atol=1e-12)


def test_metric_ci_of_fold_means_and_cost_of_a_model():
    ds = tiny_dataset()
    r = run_toy(board.BoardContext(ds, "quick"), {"epochs": 3, "lr": 0.05}, "last", None, None)
    ci = board.metric_ci(r, "fold_mean_accuracy", n_boot=200)
    assert ci["value"] == pytest.approx(r.folds["accuracy"].mean())
    assert r.folds["accuracy"].min() <= ci["ci_low"] <= ci["value"] <= ci["ci_high"] <= r.folds["accuracy"].max()
    cost = board.measure_cost(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 5)), [((4, 5), torch.float32)])
    assert cost["params_trainable"] == 105 and cost["gmacs"] == pytest.approx(100e-9)


def test_cli_has_the_board_verb():
    from merlib.cli import build_parser

    args = build_parser().parse_args(["board", "--size", "quick", "--out", "x"])
    assert args.size == "quick" and args.out == "x" and args.workers == 1


def test_paper_entries_report_the_papers_headline_cells():
    """Each paper entry's reported number is its own row of the room's reported.yaml, as a fraction."""
    want = {"MMFRN": (0.6328, "pooled_uf1"), "AMAN": (0.7125, "pooled_uf1"), "GAM-MM-MER": (0.9122, "pooled_uf1")}
    for name, (value, metric) in want.items():
        rep = board.REGISTRY[name].reported_number()
        assert rep.value == pytest.approx(value) and rep.metric == metric and rep.table_ref is not None
    assert board.REGISTRY["AMAN"].reported_number().dataset == "casme2"
    assert board.REGISTRY["MMFRN"].settings_for("standard")["alpha_oh"] == 80.0   # the paper's row, not our pick


def test_a_new_shipped_magnifier_checkpoint_is_a_new_run(tmp_path, monkeypatch):
    """Methods that read a shipped magnifier carry its file digest in their identity; the others do not."""
    import hashlib

    from merlib.magnify import load as L

    assert L.shipped_digest("oh2018") == hashlib.sha256((L.WEIGHTS_DIR / "oh2018.pt").read_bytes()).hexdigest()[:16]
    with pytest.raises(ValueError, match="name"):
        L.shipped_digest("nope")
    ctx = board.BoardContext(run_size="quick", dataset=tiny_dataset(), seed=0)
    method_dir = board.core.method_dir
    mag = board.Method(name="toy linear", run=run_toy, settings={"quick": {"epochs": 6, "lr": 0.05}},
                       magnifiers=("oh2018",))
    before_mag, before_toy = method_dir(tmp_path, mag, ctx), method_dir(tmp_path, TOY, ctx)
    monkeypatch.setattr(L, "shipped_digest", lambda name: "0" * 16)
    after_mag, after_toy = method_dir(tmp_path, mag, ctx), method_dir(tmp_path, TOY, ctx)
    assert before_mag[2] != after_mag[2] and before_mag[0] != after_mag[0]
    assert before_toy == after_toy and "magnifier_weights" not in before_toy[1]
    assert {m.name: m.magnifiers for m in board.REGISTRY.values() if m.magnifiers} == {
        "MMFRN": ("oh2018",), "AMAN": ("oh2018",), "GAM-MM-MER": ("stmemm",)}
