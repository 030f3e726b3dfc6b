"""The checkpoints merlib ships (merlib/weights/{oh2018,stmemm}.pt), checked against ground truth.

Test pair: merlib's sub-pixel translation harness (:func:`merlib.magnify.testsignals.translation_triplet`:
a periodic band-limited texture and its exact Fourier shift by δ = 0.25 px), 64² like the training
patches, mean over three textures. merlib's α convention: the output should show (1 + α)·δ.
"""
import math

import numpy as np
import pytest
import torch

from merlib.magnify.learned import WEIGHTS_DIR, load_magnifier, magnify_learned
from merlib.magnify.testsignals import measure_shift, translation_triplet

DELTA = 0.25
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module", params=["oh2018", "stmemm"])
def shipped(request):
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return request.param, load_magnifier(request.param, device="cpu")


def _run(net, alpha, seed):
    a, b, truth = translation_triplet(alpha, DELTA, size=64, channels=3, cutoff=0.15, seed=seed)
    out = magnify_learned(torch.stack([a, b])[None], alpha, model=net)[0, 1]
    return a, b, out


def _mean_shift(net, alpha):
    return float(np.mean([measure_shift(a, out)[1] for a, _, out in (_run(net, alpha, s) for s in SEEDS)]))


def test_shipped_checkpoint_files(shipped):
    name, net = shipped
    path = WEIGHTS_DIR / f"{name}.pt"
    assert path.stat().st_size < 5 * 2 ** 20                      # "a few MB at most"
    payload = torch.load(path, weights_only=True)
    assert payload["arch"] == name
    rec = net.training_record
    cfg = rec["train_config"]
    assert (cfg["lr"], cfg["batch_size"], cfg["weight"]) == (1e-4, 4, 0.1)  # Oh et al.'s settings
    assert rec["wall_s"] <= 3600                                   # trained within 60 minutes
    val = [v["reconstruction"] for v in rec["history"]["val"]]
    assert val[-1] < val[0]                                        # training helped on held-out pairs


def test_alpha_zero_is_identity_within_reconstruction_error(shipped):
    name, net = shipped
    val_l1 = net.training_record["history"]["val"][-1]["reconstruction"]
    for seed in SEEDS:
        _, b, out = _run(net, 0.0, seed)
        assert float((out - b).abs().mean()) <= val_l1


def test_measured_displacement_grows_with_alpha(shipped):
    name, net = shipped
    shifts = [_mean_shift(net, alpha) for alpha in (0.0, 1.0, 3.0, 9.0)]
    assert all(s1 > s0 for s0, s1 in zip(shifts, shifts[1:])), shifts


def test_magnified_displacement_is_one_plus_alpha_times_delta(shipped):
    """Issue 4: (1 + α)·δ within 25 % at δ = 0.25 px, α = 3 (expected 1.0 px)."""
    name, net = shipped
    measured = _mean_shift(net, 3.0)
    expected = (1 + 3.0) * DELTA
    assert math.isclose(measured, expected, rel_tol=0.25), f"{name}: measured {measured:.3f} px, expected {expected}"
