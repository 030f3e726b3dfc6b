"""Issue 12's "done when", measured on the checkpoints merlib ships (merlib/weights/{oh2018,stmemm}.pt).

Test: :mod:`merlib.magnify.magnifier_quality` (periodic band-limited textures with energy up to
0.2 cycles/px, 128² and 256², grey and colour, exact Fourier shifts; 8-px border skipped).

Criteria (issue 12):

* α = 0: PSNR of the output to the input ≥ 35 dB;
* δ ∈ {0.1, 0.25, 0.5} px × α ∈ {3, 9}: the mean relative error of the measured shift to (1+α)·δ
  is no worse than Oh et al.'s own weights on this test (:data:`OH_WEIGHTS_SHIFT_ERROR`, measured
  with AMAN's conversion; re-measured live when ``MERLIB_AMAN_OH_WEIGHTS`` points at it), and SSIM to
  the exact magnified frame is at least the input's everywhere, and ≥ input + 0.1 where the input's
  SSIM is below 0.8;
* validation L1 (the checkpoint's own recipe, its validation seed) at least 30 % below copying frame B.

A shipped checkpoint that does not meet a criterion is marked ``xfail(strict=True)`` with the
measured numbers, so the day it does the mark has to go.
"""
import os

import numpy as np
import pytest
import torch

from merlib.magnify.learned import load_magnifier, magnify_learned
from merlib.magnify.magnifier_quality import measure_translation

#: Mean relative shift error of Oh et al.'s weights (AMAN's conversion, learning_based_mag.pth.tar) on
#: this exact test: `MERLIB_AMAN_OH_WEIGHTS=... pytest tests/test_learned_quality.py -k reference`.
OH_WEIGHTS_SHIFT_ERROR = 0.25
PSNR_IDENTITY = 35.0
VAL_GAIN = 0.30

#: Criteria a shipped checkpoint is known not to meet: {(name, criterion): reason with measured numbers}
#: (stmemm measured 2026-12-02, oh2018 meets every criterion since its 2026-12-05 fine-tune;
#: merlib/weights/quality.json, tools/weights_readme.py).
KNOWN_FAILURES: dict = {
    ("stmemm", "ssim"): "CPU-trained stmemm: SSIM below the input in 7 of 24 cases (e.g. 0.962 vs 0.989 at 256² "
                        "colour, δ=0.1, α=3)",
    ("stmemm", "validation"): "CPU-trained stmemm: validation L1 0.0903 vs copy-B 0.1030 (12.3 % below, needs 30 %)",
}


def measure(net) -> dict:
    return measure_translation(lambda a, b, al: magnify_learned(torch.stack([a, b])[None], al, model=net)[0, 1])


def validation_l1(net, n: int = 16) -> tuple[float, float]:
    """(model L1, copy-frame-B L1) on the checkpoint's own validation pairs (recipe and seed + 10000)."""
    from merlib.magnify.synth_pairs import PairConfig, PairGenerator

    rec = net.training_record
    pc = dict(rec["pair_config"])
    for k in ("n_objects", "object_radius", "alpha_range", "blur_sigma", "noise_std"):
        pc[k] = tuple(pc[k])
    gen = PairGenerator(PairConfig(**pc), seed=rec["train_config"]["seed"] + 10_000)
    batch = gen.batch(range(n))
    with torch.no_grad():
        y = net(batch["frameA"], batch["frameB"], batch["alpha"])
    return float((y - batch["amplified"]).abs().mean()), float((batch["frameB"] - batch["amplified"]).abs().mean())


@pytest.fixture(scope="module", params=["oh2018", "stmemm"])
def shipped(request):
    torch.manual_seed(0)
    net = load_magnifier(request.param, device="cpu")
    return request.param, net, measure(net)


def _known(request, name, criterion):
    reason = KNOWN_FAILURES.get((name, criterion))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def test_alpha_zero_reproduces_the_input(shipped, request):
    name, _, m = shipped
    _known(request, name, "identity")
    worst = min(m["identity_psnr"])
    assert worst >= PSNR_IDENTITY, f"{name}: alpha=0 PSNR {np.round(m['identity_psnr'], 1).tolist()} dB"


def test_magnified_shift_is_as_accurate_as_oh_et_als_weights(shipped, request):
    name, _, m = shipped
    _known(request, name, "shift")
    err = float(np.mean(m["shift_rel_error"]))
    assert err <= OH_WEIGHTS_SHIFT_ERROR, f"{name}: mean relative shift error {err:.3f}"


def test_ssim_to_the_exact_magnified_frame_beats_the_input(shipped, request):
    name, _, m = shipped
    _known(request, name, "ssim")
    s, s_in = np.array(m["ssim"]), np.array(m["input_ssim"])
    worse = [(c, round(a, 3), round(b, 3)) for c, a, b in zip(m["cases"], s, s_in) if a < b]
    assert not worse, f"{name}: SSIM below the input's at (size, C, alpha, delta), ours, input: {worse}"
    far = s_in < 0.8
    assert np.all(s[far] >= s_in[far] + 0.1), f"{name}: {s[far].round(3)} vs input {s_in[far].round(3)}"


def test_validation_l1_is_30_percent_below_copying_frame_b(shipped, request):
    name, net, _ = shipped
    _known(request, name, "validation")
    ours, copy_b = validation_l1(net)
    assert ours <= (1 - VAL_GAIN) * copy_b, f"{name}: validation L1 {ours:.4f} vs copy-B {copy_b:.4f}"


def test_reference_value_is_oh_et_als_weights_on_this_test():
    """With AMAN's conversion of Oh et al.'s weights present, the threshold above is what they score."""
    path = os.environ.get("MERLIB_AMAN_OH_WEIGHTS")
    if not path:
        pytest.skip("MERLIB_AMAN_OH_WEIGHTS is not set")
    m = measure(load_magnifier(None, path=path, device="cpu"))
    assert float(np.mean(m["shift_rel_error"])) == pytest.approx(OH_WEIGHTS_SHIFT_ERROR, abs=0.01)
    assert min(m["identity_psnr"]) >= PSNR_IDENTITY
