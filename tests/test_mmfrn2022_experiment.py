"""MMFRN (paper 000): key frames and the SSIM difference frame (Fig. 3b, Eq. 14), the frozen feature stage, and
the LOSO runs through merlib.eval.run (one encode per clip for the whole α sweep, Table 2's protocol)."""
import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from merlib.data.frames import ssim
from merlib.eval.datasets import InMemoryDataset, toy_dataset
from merlib.papers import table
from merlib.papers.mmfrn2022 import experiment as X
from merlib.papers.mmfrn2022.model import MMFRNFactory
from merlib.papers.mmfrn2022.pipeline import KeyFrameView, MMFRNEncoders, decode_marker, mmfrn_inputs

torch.set_num_threads(1)


def _clip(t=11, size=16, bump=6, seed=0):
    """A grey clip whose frame ``bump`` differs most from the first (a bright square)."""
    g = torch.Generator().manual_seed(seed)
    base = 0.3 + 0.05 * torch.rand(1, 3, size, size, generator=g)
    x = base.repeat(t, 1, 1, 1)
    for i in range(1, t):
        amp = max(0.0, 1 - abs(i - bump) / 4)
        x[i, :, 4:10, 4:10] += 0.5 * amp
    return x.clamp(0, 1)


def _dataset(apex=3):
    clips = [_clip(bump=6, seed=s) for s in range(4)]
    return InMemoryDataset(clips, ["a", "a", "b", "b"], [0, 1, 0, 1], ["x", "y"], apexes=[apex] * 4)


def test_apex_view_returns_fig3b_frames_and_marker():
    ds = _dataset(apex=3)
    v = KeyFrameView(ds, "apex")
    out = v.frames(0)
    x = ds.frames(0)
    assert out.shape == (5, 3, 16, 16)
    torch.testing.assert_close(out[:4], x[[0, 1, 3, 10]])            # onset, mid = apex // 2, apex, offset
    np.testing.assert_allclose(decode_marker(out[4]).numpy(), np.array([0, 1, 3, 10]) / 10, atol=1e-7)
    assert v.key_indices(0) == [0, 1, 3, 10] and v.ssim_curve(0) is None
    assert v.name.endswith("/mmfrn-apex") and v.num_classes == 2 and len(v) == 4
    with pytest.raises(ValueError):
        v.frames(0, indices=[0, 1])
    with pytest.raises(ValueError):
        KeyFrameView(ds, "peak")


def test_ssim_view_picks_the_lowest_ssim_frame_eq14():
    ds = _dataset(apex=3)                                               # labelled apex 3, true change peaks at 6
    v = KeyFrameView(ds, "ssim")
    out = v.frames(1)
    x = ds.frames(1)
    ref = [structural_similarity(x[i].permute(1, 2, 0).numpy(), x[0].permute(1, 2, 0).numpy(), win_size=7,
                                 channel_axis=2, data_range=1.0) for i in range(x.shape[0])]
    np.testing.assert_allclose(v.ssim_curve(1), ref, atol=1e-5)          # Eq. 14 as scikit-image computes it
    d = int(np.argmin(ref[1:])) + 1
    assert d == 6
    # the new mid-frame: halfway between the difference frame and the farther of start (0) / end (10)
    assert v.key_indices(1) == [0, 3, 6, 10]
    torch.testing.assert_close(out[:4], x[[0, 3, 6, 10]])
    # Eq. 14 read literally (global statistics) written out
    a, b = x[6].double(), x[0].double()
    mu_a, mu_b = a.mean(dim=(-2, -1)), b.mean(dim=(-2, -1))
    va, vb = a.var(dim=(-2, -1)), b.var(dim=(-2, -1))
    cov = ((a - mu_a[:, None, None]) * (b - mu_b[:, None, None])).sum(dim=(-2, -1)) / (16 * 16 - 1)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    eq14 = ((2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))).mean()
    assert abs(float(ssim(x[6], x[0], win_size=None)) - float(eq14)) < 1e-6


def test_selection_agreement_table():
    t = X.selection_agreement(_dataset(apex=3))
    assert list(t["apex"]) == [3] * 4 and list(t["difference_frame"]) == [6] * 4
    assert (t["distance"] == 3).all() and np.allclose(t["distance / length"], 0.3)


def _encoders():
    return MMFRNEncoders(resnet="small_cnn", init_seed=0)


def test_feature_stage_shapes_and_oh_trunk():
    enc = _encoders()
    assert enc.describe()["oh_layers_loaded"] == ["blocks", "conv1", "conv2"]
    assert not any(p.requires_grad for p in enc.parameters())
    frames = KeyFrameView(_dataset(), "apex").frames(0)
    local, glob, tau = mmfrn_inputs(enc, frames)
    assert local.shape == (4, 64, 4, 4) and glob.shape == (4, enc.resnet.feature_dim) and tau.shape == (4,)
    torch.testing.assert_close(local, enc.shape_encoder(frames[:4]))
    with pytest.raises(ValueError):
        mmfrn_inputs(enc, frames[:4])


def test_resnet50_global_features_are_2048():
    enc = MMFRNEncoders(magnifier=False, resnet_pretrained=False)
    assert enc.resnet.name == "resnet50" and enc.resnet.feature_dim == 2048
    assert "offline stand-in" in enc.describe()["resnet_weights"]
    _, glob, _ = mmfrn_inputs(enc, KeyFrameView(_dataset(), "apex").frames(0, size=32))
    assert glob.shape == (4, 2048)


class _Counting(MMFRNEncoders):
    calls = 0

    def forward(self, frames):
        type(self).calls += 1
        return super().forward(frames)


def _small_factory():
    return MMFRNFactory(num_heads=2, key_dim=4, geo_dim=8, g_kernel=3)


def test_alpha_sweep_encodes_each_clip_once_and_runs_loso():
    ds = toy_dataset(n_subjects=3, clips_per_subject=4, num_classes=2, n_frames=6, size=16)
    enc = _Counting(resnet="small_cnn")
    _Counting.calls = 0
    train = X.CLEAN_TRAIN.__class__(**{**X.CLEAN_TRAIN.__dict__, "epochs": 2, "size": 16, "batch_size": 8})
    sw = X.alpha_sweep(ds, [1, 80], train, factory=_small_factory(), encoders=enc, device="cpu")
    assert _Counting.calls == len(ds.clips)                        # 2 α × 3 folds, one encode per clip
    for a, r in sw["results"].items():
        assert r.metrics["n_predictions"] == len(ds.clips) and r.params["alpha_oh"] == a
        assert r.params["alpha"] == a - 1 and r.config["train"]["lr"] == train.lr
        assert set(r.params["train_accuracy"]) == set(r.folds["fold"])
        assert all(len(h) == 2 for h in r.params["histories"].values())
    assert sw["encode_seconds"] >= 0 and set(sw["train_seconds"]) == {1, 80}
    tab = X.alpha_table(sw["results"], table("mmfrn2022", "table4"), n_boot=50)
    assert list(tab.index) == [1, 80]
    assert tab.loc[80, "paper macro_f1"] == pytest.approx(0.632770)
    assert tab.loc[1, "delta uar"] == pytest.approx(tab.loc[1, "pooled_uar"] - 0.488)
    assert (tab["macro_f1_ci_low"] <= tab["pooled_uf1"] + 1e-12).all()
    assert (tab["pooled_uf1"] <= tab["macro_f1_ci_high"] + 1e-12).all()
    nc = X.noise_check(sw["results"], pairs=((80, 1),), n_boot=50)
    assert nc.loc["80 vs 1", "diff"] == pytest.approx(sw["results"][80].metrics["pooled_uf1"]
                                                      - sw["results"][1].metrics["pooled_uf1"])
    es = X.early_stop_epochs(sw["results"][1], threshold=1e9)
    assert (es == 0).all()                                          # every epoch's loss is below a huge threshold
    assert X.early_stop_epochs(sw["results"][1], threshold=-1.0).isna().all()


def test_paper_protocol_is_table2_as_far_as_the_runner_goes():
    p = X.PAPER_TRAIN
    assert (p.optimizer, p.lr, p.batch_size, p.epochs) == ("adam", 1e-5, 4, 50)
    assert p.weight_decay == 0.0                                    # Keras' `decay` is lr decay, not weight decay
    assert X.PAPER_SETTINGS["decay"] == 1e-6 and X.PAPER_SETTINGS["early_stop"].endswith("< 0.05")
    assert X.run_settings("full")["alphas"] == X.PAPER_ALPHAS == tuple(table("mmfrn2022", "table4").data.index)
    assert {1, 80} <= set(X.run_settings("standard")["alphas"]) <= set(X.PAPER_ALPHAS)
    with pytest.raises(ValueError):
        X.run_settings("huge")
    with pytest.raises(ValueError):
        X.run_mmfrn(_dataset(), 1, X.CLEAN_TRAIN.__class__(frames="apex"))


@pytest.mark.slow     # two spawned worker processes import torch and rebuild the encoders (~45 s on a shared CPU)
def test_process_pool_gives_the_same_numbers(tmp_path):
    from merlib.eval import Cache

    ds = toy_dataset(n_subjects=3, clips_per_subject=3, num_classes=2, n_frames=6, size=16)
    spec = X.EncoderSpec(resnet="small_cnn")
    cache = Cache(tmp_path / "cache")
    train = X.CLEAN_TRAIN.__class__(**{**X.CLEAN_TRAIN.__dict__, "epochs": 1, "size": 16, "batch_size": 8})
    one = X.alpha_sweep(ds, [1, 80], train, factory=_small_factory(), spec=spec, cache=cache, device="cpu")
    two = X.alpha_sweep(ds, [1, 80], train, factory=_small_factory(), spec=spec, cache=cache, device="cpu", workers=2)
    assert cache.misses == len(ds.clips)                            # the second sweep's encode reads the disk cache
    for a in (1, 80):
        p1, p2 = one["results"][a].predictions, two["results"][a].predictions
        assert (p1["y_pred"].to_numpy() == p2["y_pred"].to_numpy()).all()
        np.testing.assert_allclose(p1["p0"].to_numpy(), p2["p0"].to_numpy(), atol=1e-5)
    with pytest.raises(ValueError):
        X.run_jobs([{"dataset": ds, "alpha_oh": 1}], train, spec=spec, workers=2, cache=None)


def test_resumed_run_reads_train_accuracy_and_histories_back(tmp_path):
    ds = toy_dataset(n_subjects=3, clips_per_subject=3, num_classes=2, n_frames=6, size=16)
    train = X.CLEAN_TRAIN.__class__(**{**X.CLEAN_TRAIN.__dict__, "epochs": 2, "size": 16, "batch_size": 8})
    task = X.make_task(_encoders())
    seen = []
    first = X.run_mmfrn(ds, 80, train, factory=_small_factory(), task=task, device="cpu", results_dir=tmp_path / "r",
                        on_fold_end=lambda name, model, rec: seen.append((name, type(model).__name__)))
    assert sorted(seen) == sorted((f, "MMFRN") for f in first.params["train_accuracy"])   # the caller's hook, every fold
    again = X.run_mmfrn(ds, 80, train, factory=_small_factory(), task=task, device="cpu", results_dir=tmp_path / "r")
    assert again.params["train_accuracy"] == first.params["train_accuracy"]
    assert set(again.params["histories"]) == set(first.params["histories"])
    for fold, h in first.params["histories"].items():
        np.testing.assert_allclose(again.params["histories"][fold], h, rtol=1e-6)
    assert (again.predictions["y_pred"] == first.predictions["y_pred"]).all()
