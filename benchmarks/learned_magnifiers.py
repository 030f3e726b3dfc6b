"""Benchmark the learned magnifiers after Oh et al. 2018's generic test, as postech-ami/Axial-mm's
``script/generic_eval.py`` re-creates it, plus issue 12's translation test — one run, one table.

Generic test (Oh et al. 2018 Sec. 5.1 / Fig. 7; Axial-mm ``script/README.md``):

* **sub-pixel curve**: input motion δ ∈ {0.040, 0.050, 0.063, …, 0.79, 1.00} px (Axial-mm's 15
  modes), factor set so the magnified motion is 10 px (their ``alpha = 10 / δ``: the total gain,
  Oh's amp; merlib ``alpha = 10/δ − 1``), no noise;
* **noise curve**: δ = 0.05 px, amp = 200 (merlib alpha 199), 21 noise levels 0.01 … 100
  (log-spaced, Axial-mm's modes); merlib reads a level as the std of additive Gaussian noise in
  8-bit units (σ = level / 255 on [0, 1]; the released dataset's exact noise model is not in the
  code);
* score: SSIM of the output to the exact magnified frame (8-px border cropped, as generic_eval.py).

Frames: Axial-mm's evaluation data is a download; merlib renders the same kind of scene with its
own generator (:mod:`merlib.magnify.synth_pairs`, held-out seed, colour perturbation off, every layer
moving by δ in its own direction) at ``--size``² (default 96², theirs 384²), ``--samples`` per point.

Translation test (issue 12, :mod:`merlib.magnify.magnifier_quality`): α = 0 PSNR, mean relative
shift error and SSIM vs. the input's on band-limited textures, 128²/256², grey/colour.

Methods: merlib's shipped checkpoints (oh2018, stmemm), Oh et al.'s weights in each public form
whose file an environment variable points at (``MERLIB_AMAN_OH_WEIGHTS``, ``MERLIB_OH_TF_WEIGHTS``
(.npz export), ``MERLIB_POSTECH_OH_WEIGHTS``), phase-based (Wadhwa et al. 2013) and Eulerian (Wu
et al. 2012) through ``merlib.magnify.magnify_pair`` with merlib's defaults, and the input.

``--profile`` also times one training step of the full-width Oh network (data generation, forward +
backward, contiguous vs. channels_last) — the measurements behind merlib.magnify.train's choices.

Writes ``benchmarks/results/learned_magnifiers.json`` and prints the table.
Run: ``.venv/bin/python benchmarks/learned_magnifiers.py --profile`` (``--quick`` for a smoke run).
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import merlib  # noqa: E402
from merlib.magnify import magnify_pair  # noqa: E402
from merlib.magnify.convention import CONVENTION, from_oh_factor  # noqa: E402
from merlib.magnify.learned import load_magnifier, magnify_learned  # noqa: E402
from merlib.magnify.magnifier_quality import BORDER, measure_translation, summary  # noqa: E402
from merlib.magnify.synth_pairs import PairConfig, PairGenerator  # noqa: E402
from merlib.magnify.testsignals import ssim  # noqa: E402
from merlib.results import atomic_write_json  # noqa: E402

#: Axial-mm script/generic_eval.py, subpixel modes 00-14.
SUBPIXEL_DELTAS = (0.040, 0.050, 0.063, 0.079, 0.10, 0.13, 0.16, 0.20, 0.25, 0.32, 0.40, 0.50, 0.63, 0.79, 1.00)
MAGNIFIED_PX = 10.0
NOISE_DELTA = 0.05
NOISE_LEVELS = tuple(float(v) for v in np.logspace(-2, 2, 21))   # noise005 modes 00-20
THIRD_PARTY = {"Oh et al. (AMAN conversion)": "MERLIB_AMAN_OH_WEIGHTS",
               "Oh et al. (official TF)": "MERLIB_OH_TF_WEIGHTS",
               "Oh et al. (postech-ami)": "MERLIB_POSTECH_OH_WEIGHTS"}


def _models():
    models = {"merlib oh2018": load_magnifier("oh2018", device="cpu"),
              "merlib stmemm": load_magnifier("stmemm", device="cpu")}
    for name, env in THIRD_PARTY.items():
        if os.environ.get(env):
            models[name] = load_magnifier("oh2018", path=os.environ[env], device="cpu")
    return models


def _methods(models):
    def learned(net):
        return lambda a, b, alpha: magnify_learned(torch.stack([a, b])[None], alpha, model=net)[0, 1]

    out = {name: learned(net) for name, net in models.items()}
    out["phase-based"] = lambda a, b, alpha: magnify_pair(a, b, alpha, method="phase")
    out["Eulerian"] = lambda a, b, alpha: magnify_pair(a, b, alpha, method="eulerian")
    out["input"] = lambda a, b, alpha: b
    return out


def curve(methods, gen, points, samples, label, xname):
    """``points``: (x, alpha, delta, noise σ). Returns a list of {method, xname, ssim} rows."""
    from tqdm.auto import tqdm

    rows = []
    for x, alpha, delta, noise in tqdm(points, desc=label):
        scores = {m: [] for m in methods}
        for i in range(samples):
            s = gen.sample(i, alpha=alpha, delta=delta, noise_std=noise)
            for m, fn in methods.items():
                with torch.no_grad():
                    out = fn(s["frameA"].clamp(0, 1), s["frameC"].clamp(0, 1), alpha).clamp(0, 1)
                scores[m].append(ssim(out, s["amplified"], border=BORDER))
        rows += [{"method": m, xname: x, "ssim": float(np.mean(v))} for m, v in scores.items()]
    return rows


def profile_training_step(reps: int = 5) -> dict:
    """Seconds per batch of 4 at 64²: pair generation; forward + backward + Adam, contiguous vs. channels_last."""
    from merlib.magnify.losses import magnifier_losses
    from merlib.magnify.oh2018 import OhMagnifier
    from merlib.magnify.train import cpu_pair_config

    gen = PairGenerator(cpu_pair_config(64), seed=0)
    gen.batch(range(4))
    t = []
    for i in range(reps):
        t0 = time.perf_counter()
        batch = gen.batch(range(4 * (i + 1), 4 * (i + 2)))
        t.append(time.perf_counter() - t0)
    out = {"patch": 64, "batch_size": 4, "torch_threads": torch.get_num_threads(),
           "pair_generation_s": float(np.median(t))}
    for cl in (False, True):
        torch.manual_seed(0)
        net = OhMagnifier()
        b = dict(batch)
        if cl:
            net = net.to(memory_format=torch.channels_last)
            b = {k: (v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v) for k, v in b.items()}
        opt = torch.optim.Adam(net.parameters(), 1e-4)
        t = []
        for i in range(reps + 1):
            t0 = time.perf_counter()
            loss = magnifier_losses(net, b)["total"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i:
                t.append(time.perf_counter() - t0)
        out["step_s_" + ("channels_last" if cl else "contiguous")] = float(np.median(t))
    out["note"] = ("shared 2-core machine: absolute times are noisy; the ratio of pair generation to a step "
                   "is what decided one DataLoader worker process ahead of the model")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--profile", action="store_true", help="also time a training step")
    p.add_argument("--quick", action="store_true", help="smoke run: 64², 1 sample, every third point")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "learned_magnifiers.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    merlib.seed_everything(0)
    size, samples = (64, 1) if args.quick else (args.size, args.samples)
    deltas = SUBPIXEL_DELTAS[::3] if args.quick else SUBPIXEL_DELTAS
    levels = NOISE_LEVELS[::4] if args.quick else NOISE_LEVELS
    load0 = os.getloadavg()
    models = _models()
    methods = _methods(models)
    gen = PairGenerator(PairConfig(size=size, supersample=4, color_perturbation=0.0, p_static_scene=0.0,
                                   noise="gaussian", noise_std=(0.0, 0.0)), seed=12345)
    t0 = time.time()
    sub = curve(methods, gen, [(d, from_oh_factor(MAGNIFIED_PX / d), d, 0.0) for d in deltas], samples,
                "sub-pixel curve", "delta")
    noise = curve(methods, gen, [(lv, from_oh_factor(MAGNIFIED_PX / NOISE_DELTA), NOISE_DELTA, lv / 255.0)
                                 for lv in levels], samples, "noise curve", "noise_sigma")
    translation = {m: measure_translation(fn) for m, fn in methods.items()}
    sweep_s = time.time() - t0
    table = {}
    for m in methods:
        s_sub = [r["ssim"] for r in sub if r["method"] == m]
        s_noise = [r["ssim"] for r in noise if r["method"] == m]
        table[m] = {**summary(translation[m]), "subpixel_ssim_mean": float(np.mean(s_sub)),
                    "subpixel_ssim_at_0.04px": s_sub[0], "subpixel_ssim_at_1px": s_sub[-1],
                    "noise_ssim_mean": float(np.mean(s_noise)), "noise_ssim_at_0.01": s_noise[0],
                    "noise_ssim_at_100": s_noise[-1]}
    record = {
        "benchmark": "learned_magnifiers",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "alpha_convention": CONVENTION,
        "protocol": {
            "source": "Oh et al. 2018 Sec. 5.1 generic test as postech-ami/Axial-mm script/generic_eval.py "
                      "re-creates it (deltas, amp = 10/delta, noise005 modes, SSIM with an 8-px crop); frames "
                      "from merlib's generator instead of their released data",
            "frame_size": size, "samples_per_point": samples, "generator_seed": 12345,
            "subpixel": {"magnified_motion_px": MAGNIFIED_PX, "merlib_alpha": "10/delta - 1"},
            "noise": {"delta_px": NOISE_DELTA, "merlib_alpha": from_oh_factor(MAGNIFIED_PX / NOISE_DELTA),
                      "sigma": "level / 255 (8-bit units), additive Gaussian on both inputs"},
            "translation_test": "merlib.magnify.magnifier_quality (issue 12 criteria)",
            "phase_eulerian_options": "merlib defaults (magnify_pair)",
        },
        "table": table,
        "subpixel_curve": sub,
        "noise_curve": noise,
        "translation": {m: {k: v for k, v in r.items()} for m, r in translation.items()},
        "checkpoints": {name: {k: getattr(net, "training_record", {}).get(k) for k in ("steps_done", "wall_s", "command")}
                        for name, net in models.items()},
        "third_party_weights_present": {n: bool(os.environ.get(e)) for n, e in THIRD_PARTY.items()},
        "sweep_wall_s": round(sweep_s, 1),
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average_at_start": list(load0), "load_average_at_end": list(os.getloadavg())},
        "environment": merlib.environment(),
    }
    if args.profile:
        record["training_profile"] = profile_training_step()
    atomic_write_json(args.out, record)
    cols = ("alpha0_psnr_min", "shift_rel_error_mean", "ssim_mean", "input_ssim_mean", "cases_below_input_ssim",
            "subpixel_ssim_mean", "subpixel_ssim_at_0.04px", "noise_ssim_mean")
    print("method".ljust(30) + "".join(f"{c[:14]:>16}" for c in cols))
    for m, row in table.items():
        print(m.ljust(30) + "".join(f"{row[c]:16.3f}" if isinstance(row[c], float) else f"{row[c]:>16}" for c in cols))
    if args.profile:
        print("training step profile:", record["training_profile"])
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
