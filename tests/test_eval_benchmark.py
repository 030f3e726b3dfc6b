"""merlib.eval.benchmark: the synthetic benchmark's reference pipelines and its operating-point rule."""
import numpy as np
import pytest
import torch

from merlib.data import synthetic as syn
from merlib.eval import benchmark as B
from merlib.eval import metrics


def test_key_frames_are_the_rendered_onset_and_apex_at_64px_grey():
    specs = [s for s in syn.sample_specs("tiny", seed=0) if syn.MEGC3_MAP[s.label] is not None][:3]
    x = B.key_frames(specs)
    assert x.shape == (3, 2, 1, B.INPUT_SIZE, B.INPUT_SIZE) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    # the apex differs from the onset (the AUs moved), and the onset is not a blank frame
    assert float((x[:, 1] - x[:, 0]).abs().mean()) > 0 and float(x[:, 0].std()) > 0.05
    y, subjects = B.labels_and_subjects(specs)
    assert y.shape == subjects.shape == (3,) and set(y) <= {0, 1, 2}


def test_lr_features_pool_the_absolute_difference_on_the_grid():
    x = torch.zeros(2, 2, 1, 64, 64)
    x[0, 1, 0, :8, :8] = 0.5            # top-left cell of the 8x8 grid moves in clip 0
    x[1, 1, 0, -8:, -8:] = -0.25        # bottom-right cell in clip 1 (sign ignored)
    f = B.lr_features(x)
    assert f.shape == (2, 64)
    assert f[0, 0] == pytest.approx(0.5) and f[0, 1:].sum() == 0
    assert f[1, -1] == pytest.approx(0.25) and f[1, :-1].sum() == 0
    assert B.lr_features(x, grid=4)[0, 0] == pytest.approx(0.5 / 4)


def test_lr_predictions_are_loso_and_separate_a_separable_problem():
    rng = np.random.default_rng(0)
    subjects = np.repeat([f"s{i}" for i in range(6)], 6)
    y = np.tile([0, 1, 2, 0, 1, 2], 6)
    x = torch.zeros(36, 2, 1, 64, 64)
    for i, c in enumerate(y):                # each class moves a different cell
        x[i, 1, 0, 8 * c:8 * c + 8, :8] = 0.3 + 0.05 * rng.random()
    pred = B.lr_predictions(x, y, subjects)
    assert metrics.uf1(y, pred, 3) == 1.0


def test_baselines_majority_is_computed_per_fold_without_the_test_subject():
    subjects = np.array(["a"] * 4 + ["b"] * 4)
    y = np.array([0, 0, 0, 1, 1, 1, 1, 2])
    out = B.baselines(y, subjects, n_draws=200)
    # fold a: training (b) majority = 1 -> predicts 1 for a; fold b: training (a) majority 0 -> predicts 0 for b
    pred = np.array([1] * 4 + [0] * 4)
    assert out["majority_uf1"] == pytest.approx(metrics.uf1(y, pred, 3))
    assert 0 < out["chance_uf1_mean"] < out["chance_uf1_q975"] < 1


def _rec(intensity, lr_low, cnn_low, phase_ci):
    s = {"baselines": {"majority_uf1": 0.25, "chance_uf1_q975": 0.38},
         "lr": {"none": {"ci_low": lr_low}, "phase": {"vs_none": {"excludes_zero": phase_ci}},
                "eulerian": {"vs_none": {"excludes_zero": False}}},
         "cnn": {"none": {"ci_low": cnn_low}, "phase": {"vs_none": {"excludes_zero": False}},
                 "eulerian": {"vs_none": {"excludes_zero": False}}}}
    return {"intensity": intensity, "noise_scale": 1.0, "alpha": 10.0, "summary": s}


def test_the_rule_needs_both_pipelines_above_the_floor_and_one_measurable_effect():
    recs = [_rec(0.25, 0.30, 0.40, True),     # lr below the floor
            _rec(0.5, 0.40, 0.41, False),     # both above, no effect
            _rec(1.0, 0.42, 0.43, True),      # qualifies
            _rec(2.0, 0.50, 0.50, True)]      # qualifies too, but higher
    assert [B.qualifies(r)["ok"] for r in recs] == [False, False, True, True]
    assert B.qualifies(recs[0])["floor"] == 0.38
    assert B.choose(recs)["intensity"] == 1.0
    assert B.choose(recs[:2]) is None
    assert B.choose(recs, noise_scale=3.0) is None


def test_pair_cnn_shapes_and_difference_gain():
    net = B.PairCNN(3, (2, 1, 32, 32))
    assert net(torch.rand(4, 2, 1, 32, 32)).shape == (4, 3)
    with pytest.raises(ValueError, match="onset/apex"):
        B.PairCNN(3, (3, 1, 32, 32))
    assert net.diff_gain == B.DIFF_GAIN


def test_paired_ci_of_identical_predictions_is_zero_and_of_a_better_one_positive():
    rng = np.random.default_rng(1)
    subjects = np.repeat([f"s{i}" for i in range(12)], 10)
    y = rng.integers(0, 3, 120)
    weak = np.where(rng.random(120) < 0.4, y, (y + 1) % 3)
    boots = B.subject_resamples(subjects, 300)
    same = B.paired_ci(y, weak, weak, boots)
    assert same["diff"] == 0 and not same["excludes_zero"]
    better = B.paired_ci(y, weak, y, boots)
    assert better["ci_low"] > 0 and better["excludes_zero"]


def test_the_committed_operating_point_record_is_well_formed():
    rec = B.load_operating_point()
    if rec is None:
        pytest.skip("no benchmarks/results/operating_point.json in this checkout")
    assert rec["preset"] == B.PRESET and rec["lr_grid"] == B.LR_GRID and rec["cnn_diff_gain"] == B.DIFF_GAIN
    for p in rec["points"]:
        assert {"intensity", "noise_scale", "summary", "criteria"} <= set(p)
        # the recorded verdict is what the rule says about the recorded numbers
        assert B.qualifies(p, tuple(k for k in ("lr", "cnn") if k in p["summary"]))["ok"] == p["criteria"]["ok"]
    if rec["operating_point"] is not None:
        assert rec["operating_point"]["intensity"] == syn.get_config(syn.preset_for("standard")).intensity
