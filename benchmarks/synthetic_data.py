"""Benchmark the synthetic micro-expression generator (merlib.data.synthetic).

Measures
  * rendering speed in frames/s at 128x128 and 256x256 (the presets' 2x2 supersampling, colour,
    all nuisances on), for frames only and for frames + the true flow field;
  * JPEG writing speed (frames/s, quality 92);
  * presets end to end (``small``, ``casme2``): wall time, frames, size on disk.

Writes ``benchmarks/results/synthetic_data.json``; the sections measured in a run replace those
already in the file (so a partial run updates, e.g. ``--skip-render --presets small``). Run from
the repository root::

    python benchmarks/synthetic_data.py                       # everything (casme2: ~20 min on 2 busy cores)
    python benchmarks/synthetic_data.py --presets             # render speed only
    python benchmarks/synthetic_data.py --skip-render --presets small
    python benchmarks/synthetic_data.py --device cuda         # render on a GPU
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from merlib.data import synthetic as syn
from merlib.data.synthetic.writer import write_clip_frames
from merlib.env import device as resolve_device
from merlib.env import environment
from merlib.results import atomic_write_json

OUT = Path(__file__).resolve().parent / "results" / "synthetic_data.json"


def _spec(n_frames: int):
    """A casme2-preset clip with ``n_frames`` frames (all nuisances on)."""
    import dataclasses

    spec = max(syn.sample_specs("casme2", seed=0), key=lambda s: s.n_frames)
    span = n_frames - 1
    return dataclasses.replace(spec, first_frame=spec.onset, n_frames=n_frames,
                               apex=spec.onset + span // 3, offset=spec.onset + span)


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def bench_render(size: int, n_frames: int, dev: torch.device, repeats: int) -> dict:
    spec = _spec(n_frames)
    syn.render_magnified(spec, 0.0, size=(size, size), device=dev)  # warm-up
    times_f, times_ff = [], []
    for _ in range(repeats):
        _sync(dev)
        t0 = time.perf_counter()
        syn.render_magnified(spec, 0.0, size=(size, size), device=dev)
        _sync(dev)
        times_f.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        syn.render_clip(spec, size=(size, size), device=dev)
        _sync(dev)
        times_ff.append(time.perf_counter() - t0)
    frames = syn.render_magnified(spec, 0.0, size=(size, size), device=dev).cpu()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_clip_frames(Path(tmp) / "clip", spec, frames)
        t_jpeg = time.perf_counter() - t0
    return {
        "size": size, "frames": n_frames, "supersample": spec.supersample, "repeats": repeats,
        "render_fps": n_frames / min(times_f), "render_with_flow_fps": n_frames / min(times_ff),
        "jpeg_write_fps": n_frames / t_jpeg,
    }


def bench_preset(name: str, dev: torch.device, root: Path | None) -> dict:
    tmp = None
    if root is None:
        tmp = tempfile.mkdtemp(prefix=f"merlib-{name}-")
        root = Path(tmp) / name
    try:
        t0 = time.perf_counter()
        out = syn.generate(name, root=root, seed=0, overwrite=True, progress=True, device=dev)
        wall = time.perf_counter() - t0
        files = [p for p in out.rglob("*") if p.is_file()]
        jpgs = [p for p in files if p.suffix == ".jpg"]
        size = sum(p.stat().st_size for p in files)
        return {
            "clips": len(list((out / "ground_truth").glob("sub*/*.json"))), "frames": len(jpgs),
            "size": list(syn.PRESETS[name].size), "wall_s": wall, "frames_per_s": len(jpgs) / wall,
            "bytes_on_disk": size, "mib_on_disk": size / 2**20,
            "jpeg_mib": sum(p.stat().st_size for p in jpgs) / 2**20,
        }
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--frames", type=int, default=40, help="frames per timed clip")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--presets", nargs="*", default=["small", "casme2"], help="presets to generate end to end")
    ap.add_argument("--skip-render", action="store_true", help="skip the frames/s measurement")
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated copies under this folder")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    dev = resolve_device(args.device)
    record = json.loads(args.out.read_text()) if args.out.exists() else {}
    record.update({
        "benchmark": "synthetic_data", "generator_version": syn.GENERATOR_VERSION, "device": str(dev),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    })
    if not args.skip_render:
        record["render"] = [dict(bench_render(s, args.frames, dev, args.repeats), command=record["command"],
                                 torch_threads=torch.get_num_threads()) for s in (128, 256)]
        for r in record["render"]:
            print(f"{r['size']}x{r['size']}: render {r['render_fps']:.1f} frames/s, with flow "
                  f"{r['render_with_flow_fps']:.1f} frames/s, JPEG write {r['jpeg_write_fps']:.0f} frames/s",
                  flush=True)
    for name in args.presets:
        c = record[f"{name}_preset"] = bench_preset(name, dev, None if args.keep is None else args.keep / name)
        c.update(torch_threads=torch.get_num_threads(), command=record["command"],
                 load_average_at_end=list(os.getloadavg()) if hasattr(os, "getloadavg") else None)
        print(f"{name} preset: {c['clips']} clips, {c['frames']} frames, {c['mib_on_disk']:.1f} MiB on disk, "
              f"{c['wall_s']:.0f} s ({c['frames_per_s']:.1f} frames/s end to end)", flush=True)
    record["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    record["environment"] = environment(device_spec=str(dev))
    atomic_write_json(args.out, record)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
