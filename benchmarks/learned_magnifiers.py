"""Benchmark the learned magnifiers with Oh et al. 2018's quantitative protocol (Sec. 5.1, Fig. 7).

Frames come from merlib's own training-pair generator (:mod:`merlib.magnify.synth_pairs`, a held-out
seed, colour perturbation off, so the target is ``f(x + (1+α)·δ)`` of the same colours), rendered
in the continuous domain. Two sweeps, as in the paper:

* **SSIM vs. δ** (sub-pixel test): input motion δ with the *magnified* motion fixed at 10 px, i.e.
  ``1 + α = 10 / δ`` (merlib's α convention; Oh's amp = 1 + α); no noise;
* **SSIM vs. noise**: δ = 0.05 px, α = 200 (Oh's amp 201), Gaussian noise of std σ on the inputs.

Methods: learned (Oh et al. architecture, merlib's shipped CPU checkpoint), ST-MEMM (merlib's
shipped checkpoint), phase-based (Wadhwa et al. 2013) and Eulerian (Wu et al. 2012) from
``merlib.magnify.magnify_pair``, and the input baseline (the unmagnified frame B vs. the target).
Paper setting vs. ours (CPU feasibility): the paper renders 384² frames with many samples per
point; we use ``--size`` (default 96²) and ``--samples`` (default 4) per point.

Costs: parameter counts, GMACs per two-frame forward (``torch.utils.flop_counter``: MACs =
FLOPs / 2) and CPU latency at 256² and 384², PyTorch eager vs. ONNX Runtime (CPU provider).

Writes ``benchmarks/results/learned_magnifiers.json`` and prints tables.
Run: ``.venv/bin/python benchmarks/learned_magnifiers.py`` (``--quick`` for a smoke run).
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import merlib  # noqa: E402
from merlib.magnify import magnify_pair  # noqa: E402
from merlib.magnify.convention import CONVENTION  # noqa: E402
from merlib.magnify.learned import load_magnifier, magnify_learned  # noqa: E402
from merlib.magnify.synth_pairs import PairConfig, PairGenerator  # noqa: E402
from merlib.magnify.testsignals import ssim  # noqa: E402
from merlib.results import atomic_write_json  # noqa: E402

DELTAS = (0.04, 0.1, 0.2, 0.5, 1.0, 2.0)
NOISE = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1)
MAGNIFIED_PX = 10.0
NOISE_DELTA, NOISE_ALPHA = 0.05, 200.0


def _methods(models):
    def learned(net):
        return lambda a, b, alpha: magnify_learned(torch.stack([a, b])[None], alpha, model=net)[0, 1]

    out = {name: learned(net) for name, net in models.items()}
    out["phase"] = lambda a, b, alpha: magnify_pair(a, b, alpha, method="phase")
    out["eulerian"] = lambda a, b, alpha: magnify_pair(a, b, alpha, method="eulerian")
    out["input"] = lambda a, b, alpha: b
    return out


def sweep(methods, gen, points, samples, label):
    """``points``: list of (x, alpha, delta, noise). Returns {method: [mean SSIM per point]}."""
    from tqdm.auto import tqdm

    res = {m: [] for m in methods}
    for x, alpha, delta, noise in tqdm(points, desc=label):
        scores = {m: [] for m in methods}
        for i in range(samples):
            s = gen.sample(i, alpha=alpha, delta=delta, noise_std=noise)
            for m, fn in methods.items():
                with torch.no_grad():
                    out = fn(s["frameA"], s["frameC"], alpha).clamp(0, 1)
                scores[m].append(ssim(out, s["amplified"]))
        for m in methods:
            res[m].append(float(np.mean(scores[m])))
    return res


def costs(models, sizes, reps):
    from torch.utils.flop_counter import FlopCounterMode

    table = {}
    for name, net in models.items():
        net = net.cpu().eval()
        row = {"parameters": int(sum(p.numel() for p in net.parameters()))}
        for s in sizes:
            a = torch.rand(1, 3, s, s)
            b = torch.rand(1, 3, s, s)
            alpha = torch.tensor([3.0])
            with torch.no_grad(), FlopCounterMode(display=False) as fc:
                net(a, b, alpha)
            row[f"gmacs_{s}"] = fc.get_total_flops() / 2 / 1e9
            with torch.no_grad():
                net(a, b, alpha)
                t = []
                for _ in range(reps):
                    t0 = time.perf_counter()
                    net(a, b, alpha)
                    t.append(time.perf_counter() - t0)
            row[f"eager_ms_{s}"] = 1000 * float(np.median(t))
            try:
                import onnxruntime as ort

                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, f"{name}.onnx")
                    torch.onnx.export(net, (a, b, alpha), path, input_names=["frame_a", "frame_b", "alpha"],
                                      output_names=["magnified"], opset_version=17, dynamo=False)
                    opts = ort.SessionOptions()
                    opts.intra_op_num_threads = torch.get_num_threads()
                    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
                    feed = {"frame_a": a.numpy(), "frame_b": b.numpy(), "alpha": alpha.numpy()}
                    ref = net(a, b, alpha).detach().numpy()
                    got = sess.run(None, feed)[0]
                    row[f"onnx_max_abs_diff_{s}"] = float(np.abs(got - ref).max())
                    t = []
                    for _ in range(reps):
                        t0 = time.perf_counter()
                        sess.run(None, feed)
                        t.append(time.perf_counter() - t0)
                    row[f"onnx_ms_{s}"] = 1000 * float(np.median(t))
            except Exception as exc:  # report, do not hide: ONNX export of some ops can fail
                row[f"onnx_error_{s}"] = f"{type(exc).__name__}: {exc}"[:300]
        table[name] = row
    return table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="smoke run: 64², 2 samples, fewer points")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "learned_magnifiers.json"))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    merlib.seed_everything(0)
    size, samples = (64, 2) if args.quick else (args.size, args.samples)
    deltas = DELTAS[::2] if args.quick else DELTAS
    noises = NOISE[::2] if args.quick else NOISE
    load0 = os.getloadavg()
    models = {"learned (ours, oh2018)": load_magnifier("oh2018", device="cpu"),
              "ST-MEMM (ours)": load_magnifier("stmemm", device="cpu")}
    methods = _methods(models)
    gen = PairGenerator(PairConfig(size=size, supersample=4, color_perturbation=0.0, p_static_scene=0.0,
                                   noise_std=(0.0, 0.0)), seed=12345)
    t0 = time.time()
    vs_delta = sweep(methods, gen, [(d, MAGNIFIED_PX / d - 1.0, d, 0.0) for d in deltas], samples, "SSIM vs delta")
    vs_noise = sweep(methods, gen, [(n, NOISE_ALPHA, NOISE_DELTA, n) for n in noises], samples, "SSIM vs noise")
    sweep_s = time.time() - t0
    cost = costs(models, (256, 384) if not args.quick else (64,), 1 if args.quick else args.reps)
    record = {
        "benchmark": "learned_magnifiers",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "alpha_convention": CONVENTION,
        "protocol": {
            "source": "Oh et al. 2018 Sec. 5.1 / Fig. 7, with merlib's generator (synth_pairs) instead of theirs",
            "frame_size": size, "samples_per_point": samples, "generator_seed": 12345,
            "ssim_vs_delta": {"magnified_motion_px": MAGNIFIED_PX, "alpha": "10/delta - 1", "noise": 0.0},
            "ssim_vs_noise": {"delta_px": NOISE_DELTA, "alpha": NOISE_ALPHA},
            "paper_setting": "384x384 frames; ours is smaller for CPU feasibility",
            "phase_eulerian_options": "merlib defaults (magnify_pair)",
        },
        "ssim_vs_delta": {"delta": list(deltas), **vs_delta},
        "ssim_vs_noise": {"noise_std": list(noises), **vs_noise},
        "costs": cost,
        "checkpoints": {name: {k: net.training_record.get(k) for k in ("steps_done", "wall_s", "command")}
                        for name, net in models.items()},
        "sweep_wall_s": round(sweep_s, 1),
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average_at_start": list(load0), "load_average_at_end": list(os.getloadavg()),
                    "note": "shared machine (2 cores, other jobs running): latencies are noisy and pessimistic"},
        "environment": merlib.environment(),
    }
    atomic_write_json(args.out, record)
    print(f"SSIM vs delta (magnified motion {MAGNIFIED_PX} px), {size}², {samples} samples/point")
    print("delta".ljust(24) + "".join(f"{d:>8}" for d in deltas))
    for m in methods:
        print(m.ljust(24) + "".join(f"{v:8.3f}" for v in vs_delta[m]))
    print(f"SSIM vs noise (delta {NOISE_DELTA}, alpha {NOISE_ALPHA})")
    print("noise std".ljust(24) + "".join(f"{n:>8}" for n in noises))
    for m in methods:
        print(m.ljust(24) + "".join(f"{v:8.3f}" for v in vs_noise[m]))
    for name, row in cost.items():
        print(name, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
