"""CMNet's LOSO driver through merlib.eval.run on the tiny synthetic set (seconds)."""
import numpy as np
import pytest
import torch

from merlib.data import load_dataset
from merlib.eval import Cache, metrics as M
from merlib.eval.runner import with_overrides
from merlib.papers.cmnet2023 import experiment as X
from merlib.papers.cmnet2023.features import FrozenTrunk


@pytest.fixture(scope="module")
def ds():
    return load_dataset("synthetic", preset="tiny", progress=False)


@pytest.fixture(scope="module")
def trunk():
    return FrozenTrunk(until="stem", pool=2)


def test_marker_frame_carries_the_apex(ds, trunk):
    tagged = X.ApexTagged(ds)
    tab = X.clip_table(ds)
    for i in range(len(ds.clips)):
        fr = tagged.frames(i, size=32)
        assert fr.shape[0] == 17
        feats, apex = X.cmnet_inputs(trunk, fr)
        assert feats.shape == (48, trunk.feature_dim)
        assert int(apex) == int(tab.loc[i, "apex_index"])
        pos = tab.loc[i, "positions"]
        row = ds.clips.iloc[i]
        assert abs(pos[int(apex)] - row["apex"]) == pytest.approx(np.abs(pos - row["apex"]).min())
    with pytest.raises(ValueError, match="frames='all'"):
        tagged.frames(0, indices=[0, 1])


def test_true_intensity_peaks_at_the_apex(ds):
    tab = X.clip_table(ds)
    for i in range(len(ds.clips)):
        t = X.true_intensity(ds, i)
        assert t.shape == (16,) and t[0] == pytest.approx(0.0) and t[-1] == pytest.approx(0.0, abs=1e-12)
        assert abs(int(np.argmax(t)) - int(tab.loc[i, "apex_index"])) <= 1


def test_run_through_the_runner_records_losses_metrics_and_curves(ds, trunk, tmp_path):
    cfg = with_overrides(X.CLEAN_TRAIN, epochs=2, size=32, batch_size=8)
    fac = X.CMNetFactory(ice_hidden=16, ice_dim=8, ffe_dim=16, hidden=8)
    cache = Cache(tmp_path / "cache")
    res = X.run_cmnet(ds, "L_C + L_ID + L_Wrst", train=cfg, trunk=trunk, factory=fac, cache=cache,
                      results_dir=tmp_path / "run", progress=False)
    p = res.predictions
    assert res.metrics["pooled_cmnet_f1"] == pytest.approx(M.cmnet_f1(p["y_true"], p["y_pred"], 5))
    assert set(X.intensity_curves(res)) == set(range(len(ds.clips)))
    assert all(len(v) == 16 for v in X.intensity_curves(res).values())
    import json
    rec = json.loads(next((tmp_path / "run" / "folds").glob("*.json")).read_text())
    assert {"train_loss:L_C", "train_loss:L_ID", "train_loss:L_Wrst"} <= set(rec["history"][-1])
    # a second call reads every fold back from disk: same numbers, curves from the curve files
    again = X.run_cmnet(ds, "L_C + L_ID + L_Wrst", train=cfg, trunk=trunk, factory=fac, cache=cache,
                        results_dir=tmp_path / "run", progress=False)
    assert again.metrics == res.metrics
    assert X.intensity_curves(again).keys() == X.intensity_curves(res).keys()
    for i, v in X.intensity_curves(res).items():
        np.testing.assert_allclose(X.intensity_curves(again)[i], v)
    base = X.run_cmnet(ds, "L_C", train=cfg, trunk=trunk, factory=fac, cache=cache, progress=False)
    assert base.params["weights"]["L_ID"] == 0 and base.params["variant"] == "L_C"
    from scipy.stats import spearmanr
    curves, proto = X.intensity_curves(res), X.prototype_curves(ds)
    agree = X.curve_agreement(curves, proto)
    assert float(agree.loc[0, "spearman"]) == pytest.approx(spearmanr(curves[0], proto[0]).statistic)
    flat = X.curve_agreement({0: np.ones(16)}, proto)
    assert np.isnan(flat.loc[0, "spearman"])


def test_bad_variant_is_named(ds):
    with pytest.raises(ValueError, match="variant"):
        X.run_cmnet(ds, "L_ID only")


def test_paper_protocol_halves_lr_every_50_epochs():
    from merlib.papers.cmnet2023 import experiment as X
    cfg = X.PAPER_TRAIN
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay) == ("sgd", 1e-3, 0.9, 1e-4)
    assert [cfg.lr * cfg.lr_gamma ** (e // cfg.lr_step) for e in (0, 49, 50, 100, 149)] == \
        [1e-3, 1e-3, 5e-4, 2.5e-4, 2.5e-4]
