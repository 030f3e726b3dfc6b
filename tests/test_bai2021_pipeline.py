"""Bai et al. (ICIP 2021) pipeline: segments, magnification hook, cached forward pass, cache reuse, LOSO run."""
import numpy as np
import pytest
import torch

from merlib.data.frames import sliding_window_indices
from merlib.eval import Cache, InMemoryDataset
from merlib.models import backbones
from merlib.papers.bai2021 import experiment as X
from merlib.papers.bai2021 import pipeline as P
from merlib.papers.bai2021.experiment import BaiConfig, clip_inputs, loso_bai2021, n_sweep_row
from merlib.papers.bai2021.model import Bai2021, aggregate_segments


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny LSTM steps run much faster on one thread than on several competing for a shared CPU."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _small_cnn(freeze):
    torch.manual_seed(0)
    return backbones.load("small_cnn", freeze=freeze, device="cpu")


# ------------------------------------------------------------------ segments
@pytest.mark.parametrize("t", [14, 20, 29, 43, 60])
@pytest.mark.parametrize("n", [7, 10, 14])
def test_segment_indices_long_clips_match_sliding_windows(t, n):
    idx = P.segment_indices(t, n, interval="auto")
    assert idx.dtype == torch.long and idx.shape[1] == n
    assert int(idx[0, 0]) == 0 and int(idx[-1, -1]) == t - 1          # the whole clip is covered
    step = max(1, (t - 1) // (2 * (n - 1)))
    if (n - 1) * step + 1 <= t:
        torch.testing.assert_close(idx, sliding_window_indices(t, n, step))
    d = idx[:, 1:] - idx[:, :-1]
    assert (d == d[0, 0]).all()                                          # evenly spaced frames in a window


@pytest.mark.parametrize("t,n", [(5, 7), (6, 14), (13, 14), (1, 7)])
def test_segment_indices_short_clips_repeat_real_frames(t, n):
    idx = P.segment_indices(t, n)
    assert idx.shape[1] == n and idx.min() >= 0 and idx.max() <= t - 1
    assert int(idx[0, 0]) == 0 and int(idx[-1, -1]) == t - 1
    assert (idx[:, 1:] >= idx[:, :-1]).all()                             # time never runs backwards


def test_segment_indices_rejects_bad_arguments():
    with pytest.raises(ValueError, match="`n`"):
        P.segment_indices(10, 0)
    with pytest.raises(ValueError, match="`n_frames`"):
        P.segment_indices(0, 7)


def test_make_segments_shapes_and_owners():
    inputs = [torch.randn(t, 5) for t in (20, 9, 31)]
    segs, owner = P.make_segments(inputs, 7)
    expected = [P.segment_indices(t, 7).shape[0] for t in (20, 9, 31)]
    assert segs.shape == (sum(expected), 7, 5)
    assert owner.tolist() == sum(([j] * e for j, e in enumerate(expected)), [])
    first = P.segment_indices(20, 7)[0]
    torch.testing.assert_close(segs[0], inputs[0][first])


# ------------------------------------------------------------------ magnification hook
def test_magnify_clip_none_is_identity_and_amm_magnifies():
    from merlib.magnify.testsignals import measure_shift, translation_triplet

    a, b, _ = translation_triplet(alpha=3.0, delta=(0.0, 0.25), size=64, channels=1)
    clip = torch.stack([a, b])
    assert P.magnify_clip(clip, "none", 3.0) is clip
    torch.testing.assert_close(P.magnify_clip(clip, "amm", 0.0), clip, atol=1e-5, rtol=0)
    _, dx = measure_shift(a, P.magnify_clip(clip, "amm", 3.0)[1])
    assert abs(dx - 1.0) < 0.2                                           # (1 + alpha) * delta
    with pytest.raises(ValueError, match="method"):
        P.magnify_clip(clip, "evm", 3.0)


# ------------------------------------------------------------------ cached forward == model forward
@pytest.mark.parametrize("freeze,temporal,atol", [(True, "bilstm", 1e-5), (True, "mean", 1e-5), (2, "bilstm", 2e-2)])
def test_forward_cached_equals_model_forward(freeze, temporal, atol):
    bb = _small_cnn(freeze)
    model = Bai2021(bb, hidden=8, num_classes=3, temporal=temporal, device="cpu").eval()
    seg = torch.rand(2, 5, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    cached = torch.stack([P.frame_inputs(bb, s) for s in seg])
    if freeze is True:
        assert cached.shape == (2, 5, bb.feature_dim) and cached.dtype == torch.float32
    else:
        assert cached.ndim == 5 and cached.dtype == torch.float16        # maps of the last frozen block
    with torch.no_grad():
        torch.testing.assert_close(P.forward_cached(model, cached), model(seg), atol=atol, rtol=0)


def test_paper_reading_interval_follows_clip_length_not_n():
    """interval="length": a clip of reference length is read frame by frame for every N (N sets the extent)."""
    for n in (7, 10, 14):
        idx = P.segment_indices(29, n)
        assert ((idx[:, 1:] - idx[:, :-1]) == 1).all()                   # consecutive frames
        assert int(idx[0, -1]) == n - 1                                   # a window spans N frames
    long = P.segment_indices(60, 7)                                       # twice the reference: interval 2
    assert ((long[:, 1:] - long[:, :-1]) == 2).all()
    spans = {n: int(P.segment_indices(29, n, interval="auto")[0, -1]) for n in (7, 14)}
    assert abs(spans[7] - spans[14]) <= 2                                 # "auto": every N spans ~half the clip
    with pytest.raises(ValueError, match="interval"):
        P.segment_indices(29, 7, interval="half")


# ------------------------------------------------------------------ cache reuse + LOSO end to end
def _toy_dataset():
    """12 clips, 4 subjects, 3 classes; each class moves a different part of a 32x32 image."""
    g = torch.Generator().manual_seed(0)
    clips, subjects, labels = [], [], []
    for s in range(4):
        for c in range(3):
            t = 9 + 3 * ((s + c) % 3)
            base = torch.rand(1, 3, 32, 32, generator=g) * 0.2 + 0.4
            clip = base.repeat(t, 1, 1, 1)
            ramp = torch.linspace(0, 0.3, t).view(t, 1, 1, 1)
            rows = slice(4 + 9 * c, 12 + 9 * c)
            clip[:, :, rows, 8:24] += ramp
            clips.append(clip.clamp(0, 1))
            subjects.append(f"s{s}")
            labels.append(c)
    return InMemoryDataset(clips, subjects, labels, ["negative", "positive", "surprise"], name="toy")


def test_clip_inputs_are_cached_per_clip_and_magnification(tmp_path):
    ds = _toy_dataset()
    bb = _small_cnn(True)
    cache = Cache(tmp_path / "c")
    X.feature_stage(bb).clear()                                           # no in-memory copies from other tests
    first = clip_inputs(ds, bb, "amm", 5.0, 32, cache=cache, progress=False)
    assert cache.misses == len(ds) and cache.hits == 0
    memo = clip_inputs(ds, bb, "amm", 5.0, 32, cache=cache, progress=False)       # from memory: no disk access
    assert cache.hits == 0 and all(a is b for a, b in zip(first, memo))
    X.feature_stage(bb).clear()
    again = clip_inputs(ds, bb, "amm", 5.0, 32, cache=cache, progress=False)
    assert cache.hits == len(ds) and cache.misses == len(ds)
    for a, b in zip(first, again):
        torch.testing.assert_close(a, b)
    assert [t.shape for t in first] == [(int(n), bb.feature_dim) for n in ds.clips["n_frames"]]
    other = clip_inputs(ds, bb, "amm", 2.0, 32, cache=cache, progress=False)    # another alpha: new entries
    assert cache.misses == 2 * len(ds)
    assert not torch.allclose(other[0], first[0])
    plain = clip_inputs(ds, bb, "none", 5.0, 32, cache=None, progress=False)
    torch.testing.assert_close(plain[0], P.frame_inputs(bb, ds.frames(0, size=32)))


def test_loso_end_to_end_on_toy_data():
    ds = _toy_dataset()
    bb = _small_cnn(True)
    cfg = BaiConfig(n=7, epochs=4, hidden=8, batch_size=16, lr=1e-2, num_threads=1)
    torch.set_num_threads(2)                                             # the fixture restores the original
    threads = torch.get_num_threads()
    out = loso_bai2021(ds, bb, cfg, method="amm", alpha=3.0, size=32, seed=0, device="cpu",
                       policies=("last", "oracle_test"), progress=False)
    assert torch.get_num_threads() == threads                          # restored after training
    last, oracle = out["last"], out["oracle_test"]
    assert len(last.predictions) == len(ds) and len(last.folds) == 4
    assert set(last.predictions["fold"]) == set(ds.clips["subject"])
    assert (last.predictions["epoch"] == cfg.epochs - 1).all()
    assert not last.optimistic and oracle.optimistic and "OPTIMISTIC" in oracle.label
    assert oracle.metrics["pooled_accuracy"] >= last.metrics["pooled_accuracy"]
    probs = last.predictions[["p0", "p1", "p2"]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (probs.argmax(1) == last.predictions["y_pred"].to_numpy()).all()
    row = n_sweep_row(last)
    assert set(row) == {"pooled_accuracy", "recall:negative", "recall:positive", "recall:surprise"}
    again = loso_bai2021(ds, bb, cfg, method="amm", alpha=3.0, size=32, seed=0, device="cpu", progress=False)["last"]
    assert again.predictions["y_pred"].tolist() == last.predictions["y_pred"].tolist()


def test_bai_config_validates():
    with pytest.raises(ValueError, match="`n`"):
        BaiConfig(n=0)
    with pytest.raises(ValueError, match="temporal"):
        BaiConfig(temporal="gru")
    with pytest.raises(ValueError, match="num_threads"):
        BaiConfig(num_threads=0)


def test_loso_rejects_inner_val():
    with pytest.raises(ValueError, match="inner_val"):
        loso_bai2021(_toy_dataset(), _small_cnn(True), policies=("inner_val",), progress=False)


def test_bai_run_killed_mid_fold_resumes_with_identical_numbers(tmp_path):
    from merlib.eval import RunInterrupted

    ds = _toy_dataset()
    bb = _small_cnn(2)                                                     # B2.. trained: checkpoints hold them
    cfg = BaiConfig(n=7, epochs=3, hidden=8, batch_size=16, lr=1e-2, num_threads=1)
    kw = dict(method="amm", alpha=3.0, size=32, seed=0, device="cpu", policies=("last", "oracle_test"),
              progress=False)
    ref = loso_bai2021(ds, bb, cfg, results_dir=tmp_path / "ref", **kw)
    calls = []

    def kill(fold, epoch, rec):
        calls.append((fold, epoch))
        if len(calls) == 5:                                                # fold 2, epoch 1 of 3
            raise RunInterrupted("killed")

    with pytest.raises(RunInterrupted):
        loso_bai2021(ds, bb, cfg, results_dir=tmp_path / "run", on_epoch_end=kill, **kw)
    assert (tmp_path / "run" / "checkpoints").exists()
    again = loso_bai2021(ds, bb, cfg, results_dir=tmp_path / "run", **kw)
    for pol in ("last", "oracle_test"):
        cols = [f"p{q}" for q in range(3)]
        np.testing.assert_array_equal(again[pol].predictions[cols].to_numpy(), ref[pol].predictions[cols].to_numpy())
    assert "resumed" not in again["last"].folds.columns or True
    assert (tmp_path / "run" / "result_last.json").exists()


def test_fc_only_uses_frozen_features_even_with_a_trainable_backbone():
    bb = _small_cnn(2)
    fc = X.frozen_copy(bb)
    assert fc is not bb and len(fc.frozen) == len(fc.block_names) and len(bb.frozen) < len(bb.block_names)
    assert X.frozen_copy(fc) is fc
    head = X.BaiModel(fc, hidden=4, temporal="mean")(3)
    assert len(head.tail) == 0 and {n for n, _ in head.named_parameters()} == {"classifier.weight", "classifier.bias"}


@pytest.mark.slow
def test_loso_on_the_tiny_synthetic_preset():
    from merlib.data import load_dataset

    ds = load_dataset("synthetic", preset="tiny", classes="megc3")
    bb = _small_cnn(True)
    res = loso_bai2021(ds, bb, BaiConfig(n=7, epochs=2, hidden=8), method="pmm", alpha=5.0, size=32,
                       magnify_options={"luma_only": True}, device="cpu", progress=False)["last"]
    assert len(res.predictions) == len(ds) and res.metrics["n_folds"] == len(ds.subjects)
    assert 0.0 <= res.metrics["pooled_accuracy"] <= 1.0
