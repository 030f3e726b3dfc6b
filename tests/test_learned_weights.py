"""The checkpoints merlib ships (merlib/weights/{oh2018,stmemm}.pt): files, records, basic behaviour.

The quality criteria of issue 12 are in test_learned_quality.py; here: the files load with
``weights_only=True``, carry the training record the README is generated from, and magnify in the
right direction (merlib's α convention: the output should show (1 + α)·δ).
"""
import json

import numpy as np
import pytest
import torch

from merlib.magnify.learned import WEIGHTS_DIR, load_magnifier, magnify_learned
from merlib.magnify.testsignals import measure_shift, translation_triplet

DELTA = 0.25
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module", params=["oh2018", "stmemm"])
def shipped(request):
    return request.param, load_magnifier(request.param, device="cpu")


def _mean_shift(net, alpha):
    shifts = []
    for seed in SEEDS:
        a, b, _ = translation_triplet(alpha, DELTA, size=64, channels=3, cutoff=0.15, seed=seed)
        out = magnify_learned(torch.stack([a, b])[None], alpha, model=net)[0, 1]
        shifts.append(measure_shift(a, out)[1])
    return float(np.mean(shifts))


def test_shipped_checkpoint_files(shipped):
    name, net = shipped
    path = WEIGHTS_DIR / f"{name}.pt"
    assert path.stat().st_size < 5 * 2 ** 20                      # "a few MB at most"
    payload = torch.load(path, weights_only=True)
    assert payload["arch"] == name
    rec = net.training_record
    cfg = rec["train_config"]
    assert cfg["batch_size"] == 4                                  # Oh et al. and paper 002
    assert rec["steps_done"] == rec["history"]["step"][-1] or rec.get("selected")
    val = [v["reconstruction"] for v in rec["history"]["val"]]
    assert min(val) < val[0]                                       # training helped on held-out pairs
    # the curves file next to it is the same record (the README is generated from it)
    curves = json.loads((WEIGHTS_DIR / f"{name}_training.json").read_text())
    assert curves["history"]["step"][: len(rec["history"]["step"])] == rec["history"]["step"]


def test_full_width_oh_network_is_shipped():
    net = load_magnifier("oh2018", device="cpu")
    assert sum(p.numel() for p in net.parameters()) == 918_928     # Oh et al.'s official configuration
    assert net.config.enc_dims == 32 and net.config.n_dec_resblk == 9


def test_measured_displacement_grows_with_alpha(shipped):
    name, net = shipped
    shifts = [_mean_shift(net, alpha) for alpha in (0.0, 1.0, 3.0, 9.0)]
    assert all(s1 > s0 for s0, s1 in zip(shifts, shifts[1:])), shifts
