"""merlib.eval.run: metrics from predictions, determinism, resume after a kill, policies, errors."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import f1_score

import merlib.eval as E
from merlib.eval import runner
from merlib.eval.datasets import toy_dataset
from merlib.eval.pipeline import intensity_amplify

CFG = E.TrainConfig(epochs=4, batch_size=8, lr=0.05, size=None, num_threads=1)


@pytest.fixture(scope="module")
def ds():
    return toy_dataset(n_subjects=4, clips_per_subject=6, noise=0.35, seed=3)


def _run(ds, **kw):
    kw.setdefault("progress", False)
    return E.run(E.linear_head, ds, "loso", kw.pop("cfg", CFG), **kw)


def test_result_holds_every_prediction_and_consistent_metrics(ds, tmp_path):
    res = _run(ds, results_dir=tmp_path / "r")
    p = res.predictions
    assert len(p) == len(ds) and sorted(p["index"]) == list(range(len(ds)))
    assert (p["y_true"].to_numpy() == ds.clips["label"].to_numpy()[p["index"]]).all()
    probs = p[[f"p{k}" for k in range(3)]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (probs.argmax(1) == p["y_pred"].to_numpy()).all()
    assert res.metrics["pooled_uf1"] == pytest.approx(f1_score(p["y_true"], p["y_pred"], average="macro",
                                                               labels=[0, 1, 2], zero_division=0), abs=1e-12)
    assert res.metrics["n_folds"] == 4 and len(res.folds) == 4
    assert res.policy == "last" and not res.optimistic and (res.folds["selected_epoch"] == CFG.epochs - 1).all()
    assert res.metrics["pooled_accuracy"] > 0.5  # the toy task is learnable
    # the saved JSON round-trips
    back = E.Result.load(tmp_path / "r" / "result.json")
    assert back.metrics == pytest.approx(res.metrics)
    pd.testing.assert_frame_equal(back.predictions, res.predictions, check_dtype=False)
    assert json.load(open(tmp_path / "r" / "result.json"))["policy"] == "last"
    assert "git_commit" in res.environment and res.timings["total_seconds"] > 0


def test_reruns_are_identical_and_folds_independent(ds):
    a = _run(ds)
    b = _run(ds)
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    # a single fold run alone gives the same predictions as inside the full run
    folds = E.loso(ds.clips)
    c = E.run(E.linear_head, ds, folds[2:3], CFG, progress=False)
    fa = a.predictions[a.predictions["fold"] == folds[2].name].reset_index(drop=True)
    pd.testing.assert_frame_equal(c.predictions, fa)
    d = _run(ds, seed=1)
    assert not np.allclose(d.predictions["p0"], a.predictions["p0"])


def test_resume_after_kill_mid_fold_gives_identical_numbers(ds, tmp_path):
    ref = _run(ds, results_dir=tmp_path / "ref")
    target = E.loso(ds.clips)[2].name
    seen = []

    def kill(fold, epoch, rec):
        seen.append((fold, epoch))
        if fold == target and epoch == 1:
            raise E.RunInterrupted("simulated kill")

    with pytest.raises(E.RunInterrupted):
        _run(ds, results_dir=tmp_path / "run", on_epoch_end=kill)
    assert (tmp_path / "run" / "checkpoints").exists()
    assert len(list((tmp_path / "run" / "folds").glob("*.json"))) == 2  # two folds finished before the kill
    seen.clear()
    resumed = _run(ds, results_dir=tmp_path / "run", on_epoch_end=lambda *a: seen.append(a[:2]))
    # finished folds were not retrained; the killed fold restarted at epoch 2
    assert seen[0] == (target, 2)
    assert not any(f in {n.name for n in E.loso(ds.clips)[:2]} for f, _ in seen)
    pd.testing.assert_frame_equal(resumed.predictions, ref.predictions)
    assert resumed.metrics == ref.metrics
    rec = json.load(open(tmp_path / "run" / "folds" / f"{target}.json"))
    assert rec["resumed_from_epoch"] == 2
    assert not list((tmp_path / "run" / "checkpoints").glob("*.pt"))


def test_changed_configuration_refuses_to_resume(ds, tmp_path):
    cfg = E.TrainConfig(epochs=1, batch_size=8, size=None, num_threads=1)
    _run(ds, cfg=cfg, results_dir=tmp_path)
    with pytest.raises(ValueError, match="different run"):
        _run(ds, cfg=E.TrainConfig(epochs=2, batch_size=8, size=None, num_threads=1), results_dir=tmp_path)
    _run(ds, cfg=E.TrainConfig(epochs=2, batch_size=8, size=None, num_threads=1), results_dir=tmp_path, resume=False)


def test_policies_are_recorded_and_oracle_is_labelled_optimistic(ds):
    cfg = E.TrainConfig(epochs=5, batch_size=8, lr=0.05, size=None, num_threads=1, selection_metric="accuracy")
    last = _run(ds, cfg=cfg)
    oracle = _run(ds, cfg=cfg, policy="oracle_test")
    inner = _run(ds, cfg=cfg, policy="inner_val")
    assert oracle.optimistic and "OPTIMISTIC" in oracle.label
    assert oracle.table()["optimistic"].item() and "OPTIMISTIC" in oracle.table().index[0]
    assert not inner.optimistic and "OPTIMISTIC" not in inner.label
    # oracle picks, per test subject, the best epoch on that subject: never worse than the last epoch
    for f in last.folds["fold"]:
        assert oracle.folds.set_index("fold").loc[f, "accuracy"] >= last.folds.set_index("fold").loc[f, "accuracy"] - 1e-12
    assert oracle.metrics["fold_mean_accuracy"] >= last.metrics["fold_mean_accuracy"]
    assert (inner.folds["n_val"] > 0).all() and (last.folds["n_val"] == 0).all()
    assert set(inner.folds["selected_epoch"]) <= set(range(cfg.epochs))


def test_frames_preprocess_and_backbone(ds, tmp_path):
    torch.manual_seed(0)
    backbone = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
                                   torch.nn.Flatten())
    cache = E.Cache(tmp_path)
    step = E.Step(intensity_amplify, "1", {"alpha": 2.0})
    res = E.run(E.mlp_head, ds, "loso", E.TrainConfig(epochs=2, size=8, frames=3, num_threads=1),
                preprocess=step, backbone=backbone, cache=cache, progress=False)
    assert cache.misses == 2 * len(ds) and cache.hits >= len(ds) * 3  # each clip computed once, reused by folds
    assert res.config["identity"]["backbone"] == E.module_digest(backbone)
    no_cache = E.run(E.mlp_head, ds, "loso", E.TrainConfig(epochs=2, size=8, frames=3, num_threads=1),
                     preprocess=step, backbone=backbone, progress=False)
    pd.testing.assert_frame_equal(res.predictions, no_cache.predictions)


def test_cross_dataset_with_concat(ds):
    other = toy_dataset(n_subjects=2, clips_per_subject=6, noise=0.35, seed=9, name="toy2")
    both = E.concat_datasets(ds, other)
    folds = E.cross_dataset(ds.clips, other.clips)
    res = E.run(E.linear_head, both, folds, CFG, progress=False)
    assert set(res.predictions["dataset"]) == {"toy2"} and len(res.predictions) == len(other)
    per = res.per_dataset()
    assert "toy2" in per.index and per.loc["all", "pooled_uf1"] == pytest.approx(res.metrics["pooled_uf1"])


@pytest.mark.parametrize("kw, match", [
    (dict(policy="best_test"), "policy"),
    (dict(cfg="fast"), "TrainConfig"),
    (dict(protocol="kfold"), "protocol"),
])
def test_bad_arguments_are_named(ds, kw, match):
    protocol = kw.pop("protocol", "loso")
    cfg = kw.pop("cfg", CFG)
    with pytest.raises(ValueError, match=match):
        E.run(E.linear_head, ds, protocol, cfg, progress=False, **kw)


@pytest.mark.parametrize("kw, match", [
    (dict(epochs=0), "epochs"), (dict(optimizer="lbfgs"), "optimizer"), (dict(selection_metric="auc"), "selection"),
    (dict(amp="yes"), "amp"), (dict(lr=-1), "lr"),
])
def test_train_config_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        E.TrainConfig(**kw)


def test_dataset_without_frames_is_rejected():
    class NoFrames:
        clips = pd.DataFrame({"subject": ["a", "b"], "label": [0, 1]})
        num_classes = 2
    with pytest.raises(ValueError, match="frames"):
        E.run(E.linear_head, NoFrames(), "loso", CFG, progress=False)


def test_normalisation_and_training_see_only_training_subjects(ds):
    """Changing the test subject's frames must not change anything about training in that fold."""
    fold = E.loso(ds.clips)[1]
    losses = {}

    def record(tag):
        return lambda f, epoch, rec: losses.setdefault(tag, []).append(rec["train_loss"])

    E.run(E.linear_head, ds, [fold], CFG, progress=False, on_epoch_end=record("orig"))
    altered = toy_dataset(n_subjects=4, clips_per_subject=6, noise=0.35, seed=3)
    for i in fold.test_idx:
        altered._clips[i] = (altered._clips[i] * 0.2 + 0.7).clamp(0, 1)
        altered._digests[i] = None
    res = E.run(E.linear_head, altered, [fold], CFG, progress=False, on_epoch_end=record("altered"))
    assert losses["orig"] == losses["altered"]  # bit-identical training
    assert len(res.predictions) == len(fold.test_idx)


def test_composite_protocol_scores_each_dataset_from_the_same_predictions(ds):
    other = toy_dataset(n_subjects=2, clips_per_subject=6, noise=0.35, seed=9, name="toy2")
    both = E.concat_datasets(ds, other)
    res = E.run(E.linear_head, both, "composite", E.TrainConfig(epochs=2, batch_size=8, size=None, num_threads=1),
                progress=False)
    assert res.metrics["n_folds"] == 6 and len(res.predictions) == len(both)
    per = res.per_dataset()
    assert list(per.index) == ["toy", "toy2", "all"]
    p = res.predictions
    sub = p[p["dataset"] == "toy2"]
    assert per.loc["toy2", "pooled_uf1"] == pytest.approx(f1_score(sub["y_true"], sub["y_pred"], average="macro",
                                                                   labels=[0, 1, 2], zero_division=0))
    assert per.loc["toy2", "n_predictions"] == len(other)


# ------------------------------------------------------------------ Task hooks (merlib.eval.task)
def _half_loss(output, target, info):
    return 0.5 * E.cross_entropy(output, target, info)


def _two_samples(item):
    """Two samples per clip (the clip and its time reversal), two views each (the item and its negative)."""
    x = torch.stack([item, item.flip(0)])
    return (x, -x)


class _TwoView(torch.nn.Module):
    def __init__(self, k, shapes):
        super().__init__()
        self.a = torch.nn.Linear(int(np.prod(shapes[0])), k)
        self.b = torch.nn.Linear(int(np.prod(shapes[1])), k)

    def forward(self, x, y):
        return {"logits": self.a(x.flatten(1)) + self.b(y.flatten(1))}


def _frame_means(module, frames):
    return frames.mean(dim=(2, 3))                                     # (T, C): any shape per clip


def test_task_samples_views_losses_aggregation_and_resume(ds, tmp_path):
    cfg = E.TrainConfig(epochs=3, batch_size=8, lr=0.05, size=None, frames=4, num_threads=1, normalize=False)
    task = E.Task(features=E.FrozenFeatures(_frame_means), samples=_two_samples, aggregate="mean_prob",
                  losses={"ce": E.LossTerm(E.cross_entropy, 1.0), "half": E.LossTerm(_half_loss, 2.0)})
    res = E.run(_TwoView, ds, "loso", cfg, task=task, progress=False, policy=("last", "oracle_test"))
    last = res["last"]
    assert len(last.predictions) == len(ds) and (last.folds["n_train_samples"] == 2 * last.folds["n_train"]).all()
    assert res["oracle_test"].optimistic and not last.optimistic
    h = res["last"].config  # history lives in the fold records; check the total = sum of weighted terms
    kills = []

    def kill(fold, epoch, rec):
        assert rec["train_loss"] == pytest.approx(rec["train_loss:ce"] + 2.0 * rec["train_loss:half"], rel=1e-5)
        kills.append(epoch)
        if len(kills) == 4:
            raise E.RunInterrupted("kill")

    with pytest.raises(E.RunInterrupted):
        E.run(_TwoView, ds, "loso", cfg, task=task, progress=False, results_dir=tmp_path / "r", on_epoch_end=kill)
    again = E.run(_TwoView, ds, "loso", cfg, task=task, progress=False, results_dir=tmp_path / "r")
    cols = [f"p{q}" for q in range(3)]
    np.testing.assert_array_equal(again.predictions[cols].to_numpy(), last.predictions[cols].to_numpy())
    assert h is not None


def test_step_lr_schedule_matches_torch_steplr_and_resumes(ds, tmp_path):
    cfg = E.TrainConfig(epochs=5, batch_size=8, lr=0.05, size=None, num_threads=1, lr_step=2, lr_gamma=0.5)
    seen = {}
    res = _run(ds, cfg=cfg, on_epoch_end=lambda f, e, rec: seen.setdefault(f, []).append(rec["lr"]))
    # reference: torch's StepLR stepped once per epoch
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.05)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    want = []
    for _ in range(5):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    for lrs in seen.values():
        np.testing.assert_allclose(lrs, want, rtol=0, atol=1e-15)
    # the schedule changes training (it is applied), and a constant schedule is the old default, same identity
    plain = _run(ds, cfg=E.TrainConfig(epochs=5, batch_size=8, lr=0.05, size=None, num_threads=1))
    assert not np.allclose(plain.predictions["p0"], res.predictions["p0"])
    same = _run(ds, cfg=E.TrainConfig(epochs=5, batch_size=8, lr=0.05, size=None, num_threads=1, lr_step=None))
    pd.testing.assert_frame_equal(same.predictions, plain.predictions)
    # a fold killed mid-schedule resumes on the same schedule
    target = E.loso(ds.clips)[1].name

    def kill(fold, epoch, rec):
        if fold == target and epoch == 2:
            raise E.RunInterrupted("simulated kill")

    with pytest.raises(E.RunInterrupted):
        _run(ds, cfg=cfg, results_dir=tmp_path / "run", on_epoch_end=kill)
    resumed = _run(ds, cfg=cfg, results_dir=tmp_path / "run")
    pd.testing.assert_frame_equal(resumed.predictions, res.predictions)


def test_fused_adam_is_the_same_algorithm_and_keeps_old_identities(ds):
    base = dict(epochs=4, batch_size=8, lr=0.01, size=None, num_threads=1, optimizer="adam")
    plain = _run(ds, cfg=E.TrainConfig(**base))
    fused = _run(ds, cfg=E.TrainConfig(**base, fused=True))
    # same Adam: predictions agree to float rounding (not bit-exact: the fused kernel orders its sums differently)
    cols = [c for c in plain.predictions.columns if c.startswith("p")]
    np.testing.assert_allclose(fused.predictions[cols].to_numpy(), plain.predictions[cols].to_numpy(), atol=1e-4)
    # it is applied: the optimiser the runner builds is the fused one
    net = torch.nn.Linear(3, 2)
    opt = runner._optimizer(E.TrainConfig(**base, fused=True), net.parameters())
    assert opt.defaults["fused"] is True
    assert runner._optimizer(E.TrainConfig(**base), net.parameters()).defaults["fused"] in (None, False)
    # the default is left out of a run's identity (results written before the field existed resume); True is in
    assert plain.config["identity"] != fused.config["identity"]
    assert "fused" not in json.dumps(plain.config["identity"])


@pytest.mark.parametrize("kw, match", [(dict(lr_step=0), "lr_step"), (dict(lr_gamma=0), "lr_gamma"),
                                       (dict(lr_gamma=1.5), "lr_gamma"), (dict(fused=1), "fused")])
def test_lr_schedule_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        E.TrainConfig(**kw)
