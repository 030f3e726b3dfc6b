"""AMAN (ICASSP 2022): TIM + k-factor magnification bank, and one LOSO run through merlib.eval.run."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from merlib.eval.datasets import toy_dataset
from merlib.eval.runner import with_overrides
from merlib.magnify.oh2018 import OhMagnifier
from merlib.models import backbones
from merlib.papers.aman2022 import experiment as X
from merlib.papers.aman2022 import pipeline as P

torch.set_num_threads(1)


def _stage(**kw):
    torch.manual_seed(0)
    mag = OhMagnifier(n_dec_resblk=1, n_enc_resblk=1).eval()
    bb = backbones.load("resnet18", pretrained=False, device="cpu", input_size=None)
    return P.AMANStage(mag, bb, **kw)


def test_magnify_factors_equals_per_cell_calls():
    st = _stage()
    g = torch.Generator().manual_seed(1)
    onset, frames = torch.rand(3, 16, 16, generator=g), torch.rand(2, 3, 16, 16, generator=g)
    amps = [1.0, 2.0, 4.0]
    out = P.magnify_factors(st.magnifier, onset, frames, amps)
    assert out.shape == (2, 3, 3, 16, 16)
    with torch.no_grad():
        for j in range(2):
            for i, a in enumerate(amps):
                ref = st.magnifier(onset[None], frames[j:j + 1], a - 1.0).clamp(0, 1)[0]   # merlib alpha = amp - 1
                torch.testing.assert_close(out[j, i], ref, atol=1e-5, rtol=1e-5)
        # amp = 1 (Oh's identity): the manipulator returns frame's own shape, so the output is the
        # network's reconstruction of the frame, whatever the onset
        t, sh = st.magnifier.encoder(frames)
        torch.testing.assert_close(out[:, 0], st.magnifier.decoder(t, sh).clamp(0, 1), atol=1e-5, rtol=1e-5)


def test_tim_frames_keep_the_onset_and_length():
    clip = torch.rand(7, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    seq = P.tim_frames(clip, n_max=5, tim_length=20)
    assert seq.shape == (6, 3, 8, 8)
    torch.testing.assert_close(seq[0], clip[0])
    with pytest.raises(ValueError):
        P.tim_frames(clip, n_max=21, tim_length=20)


def test_bank_shapes_prefix_property_and_features():
    st = _stage()
    clip = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    bank, info = P.aman_bank(st, clip, n_max=4, k_max=3, size=16, align="none")
    assert bank.shape == (4, 3, 512) and bank.dtype == torch.float32   # B4 = 128 channels x 2 x 2
    assert info.tolist() == [0.0, 6.0]
    small, _ = P.aman_bank(st, clip, n_max=2, k_max=2, size=16, align="none")
    torch.testing.assert_close(small, bank[:2, :2])                    # Fig. 3 / Table 1 reuse one bank
    # the cells are the stage's features of the magnified, TIM-interpolated frames
    x = torch.nn.functional.interpolate(clip.expand(-1, 3, -1, -1), size=(16, 16), mode="bilinear",
                                        align_corners=False, antialias=True).clamp(0, 1)
    seq = P.tim_frames(x, 4)
    mag = P.magnify_factors(st.magnifier, x[0], seq[1:], [1.0, 2.0, 3.0])
    ref = st.features(mag.flatten(0, 1)).reshape(4, 3, -1)
    torch.testing.assert_close(bank, ref, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        P.aman_bank(st, clip, size=20, align="none")
    st4 = _stage(tail="layer4")
    maps, _ = P.aman_bank(st4, clip, n_max=2, k_max=2, size=16, align="none")
    assert maps.shape == (2, 2, 256, 1, 1)


def test_run_aman_both_policies_and_attention(tmp_path):
    ds = toy_dataset(n_subjects=3, clips_per_subject=4, num_classes=2, n_frames=4, size=16)
    st = _stage()
    bank = X.make_bank(st, n_max=3, k_max=3, size=16, align="none")
    tr = with_overrides(X.CLEAN_TRAIN, epochs=3, batch_size=4)
    seen = []
    res = X.run_aman(ds, bank, n=3, k=3, variant="MA+FA", train=tr, device="cpu", progress=False,
                     results_dir=str(tmp_path / "run"), on_fold_end=lambda name, model, rec: seen.append(name))
    last, oracle = res["last"], res["oracle_test"]
    assert sorted(seen) == sorted(set(last.predictions["fold"].astype(str)))   # the caller's hook, every fold
    assert last.policy == "last" and oracle.policy == "oracle_test"
    # the oracle picks each fold's best test epoch, and the last epoch is one of them
    assert oracle.metrics["pooled_accuracy"] >= last.metrics["pooled_accuracy"]
    att = X.attention_of(last)
    assert sorted(att) == list(range(len(ds.clips)))
    assert all(a["alpha"].shape == (3, 3) and a["beta"].shape == (3,) for a in att.values())
    assert all(np.allclose(a["alpha"].sum(1), 1) and np.isclose(a["beta"].sum(), 1) for a in att.values())
    ci = X.metric_ci(last, "accuracy", n_boot=50)
    assert ci["ci_low"] <= ci["value"] <= ci["ci_high"]
    fa_only = X.run_aman(ds, bank, n=3, k=3, variant="FA only", train=tr, device="cpu", progress=False)["last"]
    assert fa_only.params["amps"] == [2.0]
    d = X.paired_subject_bootstrap(fa_only, last, n_boot=50)
    assert d["diff"] == pytest.approx(last.metrics["pooled_accuracy"] - fa_only.metrics["pooled_accuracy"])
    with pytest.raises(ValueError):
        X.run_aman(ds, bank, variant="nope")


def test_recorded_attention_is_each_fold_models_own(tmp_path):
    """run_aman reads each clip's samples once per run and reuses them in every fold: the attention it records
    must still be the fold model's output on that fold's standardised test samples, read afresh here."""
    import json

    from merlib.eval.task import FeatureInputs

    ds = toy_dataset(n_subjects=3, clips_per_subject=3, num_classes=2, n_frames=4, size=16)
    bank = X.make_bank(_stage(), n_max=2, k_max=2, size=16, align="none")
    tr = with_overrides(X.CLEAN_TRAIN, epochs=2, batch_size=4)
    task = X.make_task(bank, 2, 2)
    checked = []

    def check(fold_name, model, rec):
        inputs = FeatureInputs(ds, tr.frames, tr.size, None, None, None, "cpu", features=task.features)
        xs = {i: task.make_samples(inputs.get(i))[0] for i in range(len(ds.clips))}
        test = [int(i) for i in rec["test_idx"]]
        x_tr = torch.cat([x for i, x in xs.items() if i not in test])
        mean, std = x_tr.mean(0, keepdim=True), x_tr.std(0, unbiased=False, keepdim=True).clamp_min(1e-6)
        got = json.loads((tmp_path / "run" / "attention" / f"{X._safe(fold_name)}.json").read_text())
        model.eval()
        with torch.no_grad():
            for i in test:
                out = model((xs[i] - mean) / std)
                np.testing.assert_allclose(got[str(i)]["alpha"], out["alpha_norm"][0].numpy(), atol=1e-6)
                np.testing.assert_allclose(got[str(i)]["beta"], out["beta_norm"][0].numpy(), atol=1e-6)
        checked.append(fold_name)

    X.run_aman(ds, bank, n=2, k=2, train=tr, device="cpu", results_dir=str(tmp_path / "run"), on_fold_end=check)
    assert len(checked) == 3


def test_spearman_ci_against_scipy():
    import pandas as pd
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    t = pd.DataFrame({"x": rng.normal(size=30), "subject": np.repeat(list("abcdef"), 5)})
    t["y"] = -t["x"] + 0.3 * rng.normal(size=30)
    out = X.spearman_ci(t, "x", "y", n_boot=100)
    assert out["rho"] == pytest.approx(spearmanr(t["x"], t["y"]).statistic)
    assert out["ci_low"] <= out["rho"] <= out["ci_high"] < 0 and out["n_groups"] == 6
