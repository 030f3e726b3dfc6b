"""GAM-MER (Eq. 7-12): slot choice and augmentation, region selection, graphs, attention, metrics, the LOSO driver."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from merlib.data import load_dataset
from merlib.eval import Cache
from merlib.eval import metrics as M
from merlib.eval.runner import with_overrides
from merlib.papers.gammmer2024 import experiment as X
from merlib.papers.gammmer2024 import graph as G
from merlib.papers.gammmer2024.model import GAMConfig, GAMFactory, GAMMER

S = 1 + len(GAMConfig().slots)


def _x(b=3, p=8, seed=0):
    return torch.rand(b, S, 68, p, p, generator=torch.Generator().manual_seed(seed))


def test_eval_uses_the_main_factor_only():
    torch.manual_seed(0)
    m = GAMMER(5, GAMConfig(main=5)).eval()
    x = _x()
    out = m(x)
    assert out.shape == (3, 5)
    y = x.clone()
    main = 1 + list(m.config.slots).index(5)
    others = [s for s in range(1, S) if s != main]
    y[:, others] = torch.rand_like(y[:, others])
    torch.testing.assert_close(m(y), out)
    y[:, main] += 0.3 * torch.rand_like(y[:, main])
    assert not torch.allclose(m(y), out)


def test_training_draws_only_from_main_and_augmentation_factors():
    torch.manual_seed(1)
    m = GAMMER(5, GAMConfig(main=5, augment=(8, 10, 12, 15))).train()
    x = _x(b=8)
    for s, a in enumerate(m.config.slots, start=1):
        if a not in (5, 8, 10, 12, 15):
            x[:, s] = float("nan")                                   # "raw" and 20 must never be drawn
    seen = set()
    for seed in range(20):
        torch.manual_seed(seed)
        assert torch.isfinite(m(x)).all()
        torch.manual_seed(seed)
        b = x.shape[0]
        seen |= set(m.train_slots[torch.randint(len(m.train_slots), (b,))].tolist())
    assert seen == {1 + list(m.config.slots).index(a) for a in (5, 8, 10, 12, 15)}


def test_region_selection_ignores_the_contour():
    torch.manual_seed(2)
    x = _x()
    y = x.clone()
    y[:, :, 0:17] = torch.rand_like(y[:, :, 0:17])                     # change only the jaw regions
    sel = GAMMER(5, GAMConfig(nodes=G.SELECTED_NODES)).eval()
    torch.testing.assert_close(sel(y), sel(x))
    full = GAMMER(5, GAMConfig(nodes=G.ALL_NODES)).eval()
    assert not torch.allclose(full(y), full(x))
    assert sel.local_features(x).shape == (3, 28, sel.config.feat_dim)                  # Eq. 8: F_L (B, N, D)


def test_model_graph_follows_the_config():
    for graph in ("optimised", "raw"):
        m = GAMMER(5, GAMConfig(graph=graph))
        pairs = G.graph_for(G.SELECTED_NODES, graph)
        assert m.pairs == pairs
        assert m.edge_index.shape[1] == 2 * len(pairs)
    explicit = GAMMER(5, GAMConfig(pairs=((17, 18),)))
    assert explicit.edge_index.shape[1] == 2
    assert len(GAMMER(5, GAMConfig(num_layers=3)).gnn.convs) == 3
    assert type(GAMMER(5, GAMConfig(layer="gcn")).gnn.convs[0]).__name__ == "GCNConv"
    assert type(GAMMER(5, GAMConfig()).gnn.convs[0]).__name__ == "GATConv"


def test_attention_weights_per_layer_sum_to_one():
    torch.manual_seed(3)
    m = GAMMER(5, GAMConfig())
    att = m.attention(_x())
    assert len(att) == 2 and m.training
    for ei, alpha in att:
        sums = torch.zeros(28).index_add_(0, ei[1], alpha.mean(1))
        torch.testing.assert_close(sums, torch.ones(28))
        assert int(ei.max()) < 28


def test_config_errors():
    with pytest.raises(ValueError, match="main"):
        GAMConfig(main=7)
    with pytest.raises(ValueError, match="augment"):
        GAMConfig(augment=(9,))
    with pytest.raises(ValueError, match="input_mode"):
        GAMConfig(input_mode="flow")
    with pytest.raises(ValueError, match="expected"):
        GAMMER(5)(torch.zeros(1, 3, 68, 8, 8))


def test_table3_variants_change_one_thing():
    base = X.variant_config("Baseline")
    assert base.num_layers == 2 and base.layer == "gat" and base.graph == "optimised" and base.main == 5
    assert X.variant_config("Add one layer GAT").num_layers == 3
    assert X.variant_config("Remove one layer GAT").num_layers == 1
    assert X.variant_config("Graph convolution network").layer == "gcn"
    assert X.variant_config("All facial key areas").nodes == G.ALL_NODES
    assert X.variant_config("Raw facial graph").graph == "raw"
    assert X.variant_config("Baseline", alpha="raw").main == "raw"
    with pytest.raises(ValueError, match="alpha"):
        X.variant_config("Baseline", alpha=7)


def test_eq10_12_accuracy_and_uf1_by_hand():
    y = np.array([0, 0, 1, 1, 2, 2, 2, 3])
    p = np.array([0, 1, 1, 1, 2, 0, 2, 1])
    assert M.accuracy(y, p, 4) == pytest.approx(5 / 8)                 # Eq. 10: P / N
    f1 = []
    for c in range(4):                                                 # Eq. 11: 2TP / (2TP + FP + FN)
        tp, fp, fn = np.sum((p == c) & (y == c)), np.sum((p == c) & (y != c)), np.sum((p != c) & (y == c))
        f1.append(2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0)
    assert M.uf1(y, p, 4) == pytest.approx(np.mean(f1))               # Eq. 12: the mean over the C classes


@pytest.fixture(scope="module")
def tiny():
    return load_dataset("synthetic", preset="tiny", progress=False)


def test_run_gam_end_to_end_is_deterministic_and_cached(tiny, tmp_path):
    from merlib.magnify.stmemm import STMEMM, STMEMMConfig

    torch.manual_seed(0)
    mag = STMEMM(STMEMMConfig(dim=8, num_heads=1, window_size=4, encoder_rstb=(1,), mmtb_rstb=(1,))).eval()
    cfg = replace(X.variant_config("Baseline"), hidden=8, feat_dim=8, cnn_width=4)
    train = with_overrides(X.CLEAN_TRAIN, epochs=2, size=32, batch_size=8)
    cache = Cache(tmp_path / "cache")
    a = X.run_gam(tiny, cfg, train, magnifier=mag, cache=cache, device="cpu", seed=0)
    assert set(a) == {"last", "oracle_test"}
    assert a["last"].metrics["n_predictions"] == len(tiny.clips) and a["last"].policy == "last"
    assert a["oracle_test"].policy == "oracle_test"
    misses = cache.misses
    assert misses == len(tiny.clips)
    b = X.run_gam(tiny, replace(cfg, layer="gcn"), train, magnifier=mag, cache=cache, device="cpu", seed=0)
    assert cache.misses == misses                                      # the frozen stage is shared by variants
    c = X.run_gam(tiny, cfg, train, magnifier=mag, cache=Cache(tmp_path / "cache"), device="cpu", seed=0)
    assert np.array_equal(a["last"].predictions["y_pred"], c["last"].predictions["y_pred"])
    np.testing.assert_allclose(a["last"].predictions["p0"], c["last"].predictions["p0"], atol=1e-6)
    tab = X.summary_table({"Baseline": a["last"], "GCN": b["last"]}, baseline="Baseline", n_boot=50)
    assert {"pooled_uf1", "uf1_ci_low", "d_uf1", "d_uf1_ci_high", "mcnemar_p"} <= set(tab.columns)
    assert tab.loc["Baseline", "uf1_ci_low"] <= tab.loc["Baseline", "pooled_uf1"] <= tab.loc["Baseline", "uf1_ci_high"]
    with pytest.raises(ValueError, match="onset_apex"):
        X.run_gam(tiny, cfg, with_overrides(train, frames="all"), magnifier=mag)
    assert X.verdict(0.01, 0.2) == "better" and X.verdict(-0.2, -0.01) == "worse"
    assert X.verdict(-0.1, 0.1) == "no detectable difference"


def test_subject_kfold_is_subject_independent(tiny):
    folds = X.SubjectKFold(k=3, seed=1)(tiny.clips)
    assert len(folds) == 3
    test = np.concatenate([f.test_idx for f in folds])
    assert sorted(test.tolist()) == list(range(len(tiny.clips)))       # every clip tested once
    subj = tiny.clips["subject"].to_numpy()
    for f in folds:
        assert not set(subj[f.train_idx]) & set(subj[f.test_idx])
    with pytest.raises(ValueError, match="k"):
        X.SubjectKFold(k=9)(tiny.clips)
