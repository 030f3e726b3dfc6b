"""merlib.papers.flow_baselines: the driver of notebook 03 (on tiny in-memory synthetic data)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from merlib.data import flow as FL
from merlib.eval import Cache, InMemoryDataset
from merlib.papers import flow_baselines as FB

MEGC3 = {"disgust": "negative", "repression": "negative", "happiness": "positive", "surprise": "surprise"}
CLASSES = ["negative", "positive", "surprise"]


def _pairs(seed=0, name="synth"):
    """Onset and apex frames of the 'tiny' preset's clips (nuisances off) with MEGC labels, in memory."""
    from merlib.data.synthetic import render_clip, sample_specs

    specs = [s for s in sample_specs("tiny", seed, head_motion=False, blinks=False, noise=False, flicker=False,
                                     jpeg=False) if s.label in MEGC3]
    clips, subjects, labels = [], [], []
    for s in specs:
        on, _ = render_clip(replace(s, first_frame=s.onset, n_frames=1), device="cpu")
        ap, _ = render_clip(replace(s, first_frame=s.apex, n_frames=1), device="cpu")
        clips.append(torch.cat([on, ap]))
        subjects.append(f"sub{s.subject:02d}")
        labels.append(CLASSES.index(MEGC3[s.label]))
    return InMemoryDataset(clips, subjects, labels, CLASSES, name=name, apexes=[1] * len(clips))


@pytest.fixture(scope="module")
def tiny():
    return _pairs(0)


def test_flow_step_gives_the_28x28_stack(tiny):
    step = FB.flow_step()
    clip = tiny.frames(0)
    out = step(clip)
    assert out.shape == (3, 28, 28)
    torch.testing.assert_close(out, FL.flow_stack(clip[0], clip[1], size=28))
    assert step.identity()["version"] == FL.FLOW_STEP_VERSION


def test_magnified_input_at_alpha_zero_is_the_frames_themselves(tiny):
    clip = tiny.frames(1)
    out = FB.magnified_input(clip, alpha=0.0, size=16)
    grey = torch.stack([torch.from_numpy(FL.to_grey(f)) for f in clip])
    ref = FL._resize_maps(torch.stack([grey[0], grey[1], grey[1] - grey[0]]), (16, 16))
    torch.testing.assert_close(out, ref, atol=2e-3, rtol=0)
    amp = FB.magnified_input(clip, alpha=10.0, size=16)
    assert amp[2].abs().sum() > out[2].abs().sum()          # magnified: a larger apex - onset difference


def test_relabelled_dataset_prefixes_subjects_for_the_composite(tiny):
    other = _pairs(1, name="other")
    comp = FB.RelabelledDataset({"synthA": tiny, "synthB": other})
    assert len(comp) == len(tiny) + len(other)
    assert set(comp.clips["dataset"]) == {"synthA", "synthB"}
    assert all(s.startswith(d + "_") for d, s in zip(comp.clips["dataset"], comp.clips["subject"]))
    torch.testing.assert_close(comp.frames(len(tiny)), other.frames(0))
    from merlib.eval import composite

    folds = composite(comp.clips)
    assert len(folds) == comp.clips["subject"].nunique()
    with pytest.raises(ValueError, match="class names"):
        FB.RelabelledDataset({"a": tiny, "b": InMemoryDataset([torch.zeros(2, 1, 8, 8)], ["s"], [0], ["x"])})


def test_oracle_test_never_scores_below_last_on_any_fold(tiny, tmp_path):
    """Same seed, same training: the epoch chosen on the test subject is at least as good there as the last one."""
    cache = Cache(tmp_path / "cache")
    kw = dict(run_size="quick", cache=cache, epochs=12, lr=3e-3)
    last = FB.run_model("STSTNet", tiny, "loso", "last", **kw)
    oracle = FB.run_model("STSTNet", tiny, "loso", "oracle_test", **kw)
    assert cache.misses == len(tiny) and cache.hits > 0        # flow computed once per clip, then cached
    from merlib.eval.metrics import uf1

    def per_fold(r):
        return r.predictions.groupby("fold").apply(lambda p: uf1(p["y_true"], p["y_pred"], 3))

    f_last, f_oracle = per_fold(last), per_fold(oracle)
    assert len(f_last) == tiny.clips["subject"].nunique()
    assert (f_oracle >= f_last - 1e-12).all()
    table = FB.policy_table({("STSTNet", "loso", "last"): last, ("STSTNet", "loso", "oracle_test"): oracle})
    assert table.loc[table.policy == "oracle_test", "label"].str.contains("OPTIMISTIC").all()
    assert not table.loc[table.policy == "last", "label"].str.contains("OPTIMISTIC").any()
    infl = FB.inflation(table)
    assert infl.loc[("STSTNet", "loso"), "inflation"] == pytest.approx(
        oracle.metrics["pooled_uf1"] - last.metrics["pooled_uf1"])
    cmp = FB.compare_inputs(last, oracle, n_boot=50)
    assert cmp["uf1"]["diff"] == pytest.approx(infl.loc[("STSTNet", "loso"), "inflation"])
    assert cmp["uf1"]["ci_low"] <= cmp["uf1"]["diff"] <= cmp["uf1"]["ci_high"]


def test_offapexnet_runs_under_the_composite_protocol(tiny):
    comp = FB.RelabelledDataset({"synthA": tiny, "synthB": _pairs(1, name="other")})
    r = FB.run_model("OFF-ApexNet", comp, "composite", "last", run_size="quick", epochs=2)
    assert set(r.predictions["dataset"]) == {"synthA", "synthB"}
    table = FB.policy_table({("OFF-ApexNet", "composite", "last"): r})
    assert {"uf1_synthA", "uf1_synthB"} <= set(table.columns)


def test_epe_benchmark_zero_flow_error_is_the_true_displacement():
    df = FB.epe_benchmark("tiny", 0, n_clips=2, gains=(1.0, 2.0), methods=["zero", "tvl1"])
    zero = df[df.method == "zero"]
    np.testing.assert_allclose(zero["epe_moving"], zero["mean_px"], rtol=1e-5)
    # doubling the AU intensity doubles the true displacement (the renderer is linear in it)
    disp = zero.pivot_table(index="clip", columns="gain", values="peak_px")
    np.testing.assert_allclose(disp[2.0], 2 * disp[1.0], rtol=1e-4)
    summary = FB.epe_summary(df)
    assert list(summary.columns) == [1.0, 2.0] and "tvl1" in summary.index
    tv = df[df.method == "tvl1"].set_index(["clip", "gain"])["epe_moving"]
    assert (tv < zero.set_index(["clip", "gain"])["epe_moving"]).mean() >= 0.5


def test_meb_reported_numbers_and_settings():
    meb = FB.meb_reported()
    assert meb.loc["STSTNet", "fixed_epochs"] == pytest.approx(0.7127)
    assert meb.loc["OFF-ApexNet", "test_selected"] == pytest.approx(0.8390)
    assert meb.loc["OFF-ApexNet", "inflation"] == pytest.approx(0.1358)
    assert "tvaranka/meb" in meb.attrs["source"]
    with pytest.raises(ValueError, match="run_size"):
        FB.settings("huge")
    cfg = FB.train_config("STSTNet", "standard")
    assert (cfg.lr, cfg.epochs, cfg.batch_size, cfg.frames) == (5e-5, 800, 256, "onset_apex")  # the authors' schedule
