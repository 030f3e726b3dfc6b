"""Cost of an α sweep × LOSO folds with a frozen backbone: cached vs. uncached (issue 6).

What is measured (wall-clock, this machine):

1. ``point_uncached`` — ONE sweep point (α = 0) under LOSO with ``cache=None``: as a plain per-fold
   training script does, every fold magnifies and featurises all of its clips again.
2. ``sweep_cached_cold`` — the whole 11-value α sweep × all LOSO folds with an empty
   :class:`merlib.eval.Cache`: each (clip, α) is magnified and featurised once, then reused by every fold.
3. ``sweep_cached_warm`` — the same sweep again (everything served from the cache).
4. ``sweep_uncached`` — the whole sweep with ``cache=None``: measured with ``--measure-uncached-sweep``,
   otherwise estimated as 11 × ``point_uncached`` (every point does the same work) and labelled so.

The issue's goal: ``sweep_cached_cold / point_uncached <= 3``.

Set-up: the synthetic ``casme2`` preset (26 subjects, 246 clips, CASME II's class balance) generated
by ``merlib.data.synthetic.generate`` with ``size=(S, S)`` and ``supersample=1`` to keep generation
short (default S = 64), read through merlib's CASME II reader (the generator writes CASME II's layout).
Each clip gives its onset and apex frames (resized to S), magnified with
``merlib.magnify.magnify(method="eulerian")`` (merlib's α convention; the 11 values are MMFRN's
Oh factors 1, 10, ..., 100 converted with ``merlib.magnify.convention.from_oh_factor``); the frozen
backbone is torchvision's ResNet-18 with *random* initialisation (seeded; fc removed, 512-d per frame;
no weights are downloaded), and the trained part is a linear head (10 epochs of Adam) on the two
frames' features. Generation time is not part of any measurement.

Writes ``benchmarks/results/sweep_cost.json``. Run: ``.venv/bin/python benchmarks/sweep_cost.py``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import merlib  # noqa: E402
import merlib.eval as E  # noqa: E402

OH_FACTORS = [1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]  # MMFRN Table 4 (Oh et al.'s convention)


class _ToRGB(torch.nn.Module):
    """Grey frames (C = 1) are repeated to 3 channels; colour frames pass through."""

    def forward(self, x):
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def frozen_resnet18(seed: int = 0) -> torch.nn.Module:
    """torchvision ResNet-18, random init (seeded), classifier removed: (N, C, H, W) -> (N, 512)."""
    import torchvision

    torch.manual_seed(seed)
    net = torchvision.models.resnet18(weights=None)
    net.fc = torch.nn.Identity()
    return torch.nn.Sequential(_ToRGB(), net).eval().requires_grad_(False)


def load_data(size: int, seed: int, stand_in: bool):
    if stand_in:  # only when merlib.data / merlib.magnify are missing
        from merlib.eval.datasets import toy_dataset

        ds = toy_dataset(n_subjects=26, clips_per_subject=10, num_classes=5, n_frames=5, size=size, seed=seed)
        return ds, {"dataset": "STAND-IN merlib.eval.datasets.toy_dataset (26 subjects x 10 clips)"}
    from merlib.data import load_dataset
    from merlib.data.synthetic import generate

    t0 = time.perf_counter()
    root = generate("casme2", seed=seed, size=(size, size), supersample=1, progress=True)
    gen_s = time.perf_counter() - t0
    ds = load_dataset("casme2", root=root, frames="raw")
    return ds, {"dataset": "synthetic casme2 preset (generate('casme2', size=(S, S), supersample=1)), "
                           "read with load_dataset('casme2', root=...)", "root": str(root),
                "generation_or_lookup_seconds": gen_s}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=64, help="frame size S (px)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (1: fastest on a shared machine; small kernels thrash with more)")
    ap.add_argument("--method", default="eulerian", choices=["eulerian", "phase"])
    ap.add_argument("--measure-uncached-sweep", action="store_true",
                    help="also time the full sweep without cache (11x the single point; slow)")
    ap.add_argument("--stand-in", action="store_true", help="use a toy dataset and intensity_amplify instead of "
                                                            "merlib.data / merlib.magnify")
    ap.add_argument("--out", default=str(HERE / "results" / "sweep_cost.json"))
    args = ap.parse_args(argv)

    merlib.seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    try:
        from merlib.magnify import magnify
        from merlib.magnify.convention import from_oh_factor
        stand_in = args.stand_in
    except ImportError:
        stand_in = True
    ds, data_info = load_data(args.size, args.seed, stand_in)
    if stand_in:
        from merlib.eval.pipeline import intensity_amplify as magnify_fn
        alphas = [float(a - 1) for a in OH_FACTORS]
        step = E.Step(magnify_fn, "1")
    else:
        alphas = [from_oh_factor(a) for a in OH_FACTORS]
        step = E.Step(magnify, "1", {"method": args.method})
    backbone = frozen_resnet18(args.seed)
    cfg = E.TrainConfig(epochs=args.epochs, batch_size=32, lr=1e-3, frames="onset_apex", size=args.size,
                        num_threads=args.threads)
    folds = E.loso(ds.clips)
    print(f"{len(ds)} clips, {len(folds)} LOSO folds, {len(alphas)} alpha values, torch threads "
          f"{torch.get_num_threads()}", flush=True)

    cache_root = Path(tempfile.mkdtemp(prefix="merlib-sweep-cost-"))
    timings, checks = {}, {}
    try:
        t0 = time.perf_counter()
        point = E.run(E.linear_head, ds, folds, cfg, preprocess=step.with_params(alpha=alphas[0]),
                      backbone=backbone, cache=None, progress=True, name="point_uncached")
        timings["point_uncached"] = time.perf_counter() - t0
        print(f"one point, uncached: {timings['point_uncached']:.1f} s", flush=True)

        cache = E.Cache(cache_root)
        t0 = time.perf_counter()
        cold = E.sweep({"alpha": alphas}, E.linear_head, ds, folds, cfg, preprocess=step, backbone=backbone,
                       cache=cache, cpus_per_task=args.threads, progress=True)
        timings["sweep_cached_cold"] = time.perf_counter() - t0
        checks["cold_cache_misses"] = cache.misses
        checks["cold_cache_hits"] = cache.hits
        print(f"sweep, cached (cold): {timings['sweep_cached_cold']:.1f} s", flush=True)

        cache2 = E.Cache(cache_root)
        t0 = time.perf_counter()
        warm = E.sweep({"alpha": alphas}, E.linear_head, ds, folds, cfg, preprocess=step, backbone=backbone,
                       cache=cache2, cpus_per_task=args.threads, progress=True)
        timings["sweep_cached_warm"] = time.perf_counter() - t0
        checks["warm_cache_misses"] = cache2.misses
        print(f"sweep, cached (warm): {timings['sweep_cached_warm']:.1f} s", flush=True)

        # the cache must not change a single number
        checks["cached_equals_uncached_point"] = bool(
            (cold.results[0].predictions["y_pred"].to_numpy() == point.predictions["y_pred"].to_numpy()).all())
        checks["warm_equals_cold"] = all(
            a.metrics == b.metrics for a, b in zip(cold.results, warm.results))
        if args.measure_uncached_sweep:
            t0 = time.perf_counter()
            E.sweep({"alpha": alphas}, E.linear_head, ds, folds, cfg, preprocess=step, backbone=backbone,
                    cache=None, cpus_per_task=args.threads, progress=True)
            timings["sweep_uncached"] = time.perf_counter() - t0
            uncached_kind = "measured"
        else:
            timings["sweep_uncached"] = len(alphas) * timings["point_uncached"]
            uncached_kind = "estimated as n_alpha x point_uncached"
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)

    ratio = timings["sweep_cached_cold"] / timings["point_uncached"]
    record = {
        "benchmark": "sweep_cost",
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "goal": "sweep_cached_cold / point_uncached <= 3",
        "ratio_cached_sweep_to_one_uncached_point": ratio,
        "goal_met": ratio <= 3.0,
        "ratio_uncached_sweep_to_cached_sweep": timings["sweep_uncached"] / timings["sweep_cached_cold"],
        "sweep_uncached_is": uncached_kind,
        "seconds": timings,
        "checks": checks,
        "setup": {**data_info, "stand_in": stand_in, "n_clips": len(ds), "n_folds": len(folds),
                  "alphas_merlib": alphas, "alphas_oh": OH_FACTORS, "magnifier": "STAND-IN intensity_amplify"
                  if stand_in else f"merlib.magnify.magnify(method={args.method!r}, mode='static')",
                  "frames": "onset + apex", "size": args.size,
                  "backbone": "torchvision resnet18, random init (seed), fc removed, frozen",
                  "head": "linear on 2 x 512 features", "train": cfg.__dict__,
                  "pooled_uf1_per_alpha": [r.metrics["pooled_uf1"] for r in cold.results]},
        "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "device": str(merlib.device("auto")), "note": "shared machine; other jobs were running"},
        "environment": merlib.environment(),
    }
    from merlib.results import atomic_write_json

    atomic_write_json(args.out, record)
    print(f"cached sweep / one uncached point = {ratio:.2f} (goal <= 3); uncached sweep ({uncached_kind}) / cached "
          f"sweep = {record['ratio_uncached_sweep_to_cached_sweep']:.1f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
