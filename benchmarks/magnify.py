"""Benchmark merlib's Eulerian and phase-based magnifiers against reference pipelines.

Side by side, on the same frames (band-limited random textures, gray, float32):

* merlib Eulerian (uniform α: the exact linear fast path; and with ``lambda_c``: the Laplacian
  pyramid path) vs. a numpy/pyrtools reference (``pyrtools.pyramids.LaplacianPyramid`` per frame,
  each level's difference magnified, ``recon_pyr``);
* merlib phase-based (octave, 4 orientations) vs. the same magnification built on plenoptic's
  ``SteerablePyramidFreq(is_complex=True)`` (decompose both frames, rotate the target's
  coefficients by ``alpha·Δφ``, ``recon_pyr``).

Reported: frames/s at 128², 256², 512² for two-frame (static) input and for 64-frame temporal
input (Butterworth band-pass; references filter each pyramid level with scipy.signal.sosfilt),
peak memory of each call (CPU: peak RSS growth over the call, sampled every 2 ms, with glibc told to
mmap every block >= 64 KiB so that freed memory leaves the RSS; CUDA: max_memory_allocated),
and PSNR/SSIM against the exact ground truth at (1+α)δ = 1 and 2 px (256², α = 9), with the
unmagnified input as a baseline. Writes ``benchmarks/results/magnify.json`` and prints a table.

Run: ``.venv/bin/python benchmarks/magnify.py`` (``--quick`` for a smoke run; ``--device cuda``).
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import merlib  # noqa: E402
from merlib.magnify import magnify, magnify_pair  # noqa: E402
from merlib.magnify.pyramids import laplacian_max_levels, steerable_max_levels  # noqa: E402
from merlib.magnify.testsignals import band_limited_texture, evaluate_magnifier, fourier_shift  # noqa: E402
from merlib.results import atomic_write_json  # noqa: E402

FPS, F_LO, F_HI = 30.0, 1.0, 3.0


# -- reference pipelines ----------------------------------------------------------------------
def eulerian_pyrtools_pair(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """numpy/pyrtools reference: Laplacian pyramids of both frames, every level's difference × α."""
    from pyrtools.pyramids import LaplacianPyramid

    levels = laplacian_max_levels(*a.shape)
    pa, pb = LaplacianPyramid(a, height=levels), LaplacianPyramid(b, height=levels)
    for k in pb.pyr_coeffs:
        pb.pyr_coeffs[k] = pb.pyr_coeffs[k] + alpha * (pb.pyr_coeffs[k] - pa.pyr_coeffs[k])
    return pb.recon_pyr()


def eulerian_pyrtools_temporal(frames: np.ndarray, alpha: float) -> np.ndarray:
    """Reference temporal Eulerian: per-frame pyrtools pyramids, each level band-passed with sosfilt."""
    from pyrtools.pyramids import LaplacianPyramid
    from scipy.signal import butter, sosfilt, sosfilt_zi

    sos = butter(2, [F_LO, F_HI], btype="bandpass", fs=FPS, output="sos")
    zi = sosfilt_zi(sos)
    levels = laplacian_max_levels(*frames.shape[1:])
    pyrs = [LaplacianPyramid(f, height=levels) for f in frames]
    for k in pyrs[0].pyr_coeffs:
        stack = np.stack([p.pyr_coeffs[k] for p in pyrs])
        filt, _ = sosfilt(sos, stack, axis=0, zi=zi[:, :, None, None] * stack[0][None, None])
        for p, f in zip(pyrs, filt):
            p.pyr_coeffs[k] = p.pyr_coeffs[k] + alpha * f
    return np.stack([p.recon_pyr() for p in pyrs])


class PlenopticPhase:
    """The phase-based magnification of Wadhwa et al. 2013 on plenoptic's complex SteerablePyramidFreq."""

    def __init__(self, shape, orientations=4, device="cpu"):
        from plenoptic.process.steerable_pyramid_freq import SteerablePyramidFreq

        self.pyr = SteerablePyramidFreq(shape, height=steerable_max_levels(*shape), order=orientations - 1,
                                        is_complex=True).to(device)

    def pair(self, a: torch.Tensor, b: torch.Tensor, alpha: float) -> torch.Tensor:
        """``a``, ``b``: (1, 1, H, W) -> magnified ``b``."""
        coeffs = self.pyr.forward(torch.cat([a, b]))
        out = {}
        for k, v in coeffs.items():
            if isinstance(k, int):
                dphi = torch.angle(v[1:] * v[:1].conj())
                out[k] = v[1:] * torch.exp(1j * alpha * dphi)
            else:
                out[k] = v[1:]
        return self.pyr.recon_pyr(out)

    def temporal(self, frames: torch.Tensor, alpha: float) -> torch.Tensor:
        """``frames`` (T, 1, H, W); phase relative to frame 0 band-passed with scipy's sosfilt."""
        from scipy.signal import butter, sosfilt

        sos = butter(2, [F_LO, F_HI], btype="bandpass", fs=FPS, output="sos")
        coeffs = self.pyr.forward(frames)
        out = {}
        for k, v in coeffs.items():
            if isinstance(k, int):
                dphi = torch.angle(v * v[:1].conj())
                filt = torch.from_numpy(sosfilt(sos, dphi.cpu().numpy(), axis=0)).to(v.device, torch.float32)
                out[k] = v * torch.exp(1j * alpha * filt)
            else:
                out[k] = v
        return self.pyr.recon_pyr(out)


# -- measurement helpers ------------------------------------------------------------------------
class PeakMemory:
    """Peak memory growth of a block: CUDA max_memory_allocated, or RSS sampled every 2 ms."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        import psutil

        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self.stop = False

        def sample():
            while not self.stop:
                self.peak = max(self.peak, self.proc.memory_info().rss)
                time.sleep(0.002)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.mib = (torch.cuda.max_memory_allocated() - self.base) / 2**20
        else:
            self.stop = True
            self.thread.join()
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self.mib = (self.peak - self.base) / 2**20


def timed(fn, device, repeats: int, min_time: float = 0.0):
    """Median seconds per call after one warm-up call, and the peak memory of one call."""
    fn()
    with PeakMemory(device) as mem:
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - start < min_time and len(times) < 50):
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), mem.mib


def texture_clip(size: int, frames: int, seed: int = 0) -> torch.Tensor:
    """(T, 1, H, W): a texture oscillating at 2 Hz (in band) with amplitude 0.2 px."""
    tex = band_limited_texture(size, cutoff=0.25, seed=seed, dtype=torch.float64)
    d = [0.2 * math.sin(2 * math.pi * 2.0 * i / FPS) for i in range(frames)]
    return torch.stack([fourier_shift(tex, (0.0, di)) for di in d]).float()


def main(argv=None) -> int:
    if os.name == "posix" and "MALLOC_MMAP_THRESHOLD_" not in os.environ and argv is None:
        # glibc: serve every allocation >= 64 KiB by mmap and give it back on free, so that the
        # RSS sampled by PeakMemory rises and falls with each call (otherwise the heap keeps freed
        # blocks and later calls show no growth at all).
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--temporal-frames", type=int, default=64)
    p.add_argument("--alpha", type=float, default=9.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu", help="'cpu', 'cuda' or 'auto' (merlib side; references run on CPU "
                                                   "except plenoptic, which follows it)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: on a shared, oversubscribed CPU torch's thread pool "
                        "stalls; numpy/pyrtools run single-threaded too)")
    p.add_argument("--quick", action="store_true", help="sizes 64 and 128, 16 temporal frames, 1 repeat")
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "magnify.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.temporal_frames, args.repeats = [64, 128], 16, 1
    dev = merlib.device(args.device)
    torch.set_num_threads(args.threads)
    alpha = args.alpha
    load_start = os.getloadavg()
    started = time.time()
    rows, accuracy = [], []

    def record(case, size, impl, frames_out, seconds, mib, **extra):
        rows.append(dict(case=case, size=size, impl=impl, seconds=seconds, frames_per_s=frames_out / seconds,
                         peak_mem_mib=mib, **extra))
        print(f"{case:9s} {size:4d}²  {impl:34s} {frames_out / seconds:9.2f} frames/s  {mib:8.1f} MiB", flush=True)

    print(f"device {dev}, torch threads {torch.get_num_threads()}, load average {load_start}")
    for size in args.sizes:
        a = band_limited_texture(size, cutoff=0.25, seed=1)
        b = fourier_shift(a, (0.0, 0.1))
        ad, bd = a.to(dev), b.to(dev)
        an, bn = a[0].double().numpy(), b[0].double().numpy()
        # two-frame static
        s, m = timed(lambda: magnify_pair(ad, bd, alpha, method="eulerian"), dev, args.repeats, 0.5)
        record("pair", size, "merlib eulerian (uniform α)", 1, s, m)
        s, m = timed(lambda: magnify_pair(ad, bd, alpha, method="eulerian", lambda_c=16.0), dev, args.repeats, 0.5)
        record("pair", size, "merlib eulerian (λc, pyramid)", 1, s, m)
        s, m = timed(lambda: eulerian_pyrtools_pair(an, bn, alpha), torch.device("cpu"), args.repeats)
        record("pair", size, "numpy/pyrtools eulerian", 1, s, m)
        s, m = timed(lambda: magnify_pair(ad, bd, alpha, method="phase"), dev, args.repeats, 0.5)
        record("pair", size, "merlib phase (octave, K=4)", 1, s, m)
        s, m = timed(lambda: magnify_pair(ad, bd, alpha, method="phase", bandwidth="half_octave", orientations=8),
                     dev, args.repeats)
        record("pair", size, "merlib phase (half-octave, K=8)", 1, s, m)
        ref = PlenopticPhase((size, size), 4, dev)
        s, m = timed(lambda: ref.pair(ad[None], bd[None], alpha), dev, args.repeats)
        record("pair", size, "plenoptic phase (octave, K=4)", 1, s, m)
        # 64-frame temporal
        clip = texture_clip(size, args.temporal_frames)
        clipd = clip.to(dev)
        kw = dict(mode="temporal", fps=FPS, freq_lo=F_LO, freq_hi=F_HI, temporal_filter="butterworth_bandpass")
        reps = 1 if size >= 512 else max(1, args.repeats - 1)
        n = args.temporal_frames
        s, m = timed(lambda: magnify(clipd, alpha, method="eulerian", **kw), dev, reps)
        record("temporal", size, "merlib eulerian (uniform α)", n, s, m)
        s, m = timed(lambda: eulerian_pyrtools_temporal(clip[:, 0].double().numpy(), alpha), torch.device("cpu"), 1)
        record("temporal", size, "numpy/pyrtools eulerian", n, s, m)
        s, m = timed(lambda: magnify(clipd, alpha, method="phase", **kw), dev, reps)
        record("temporal", size, "merlib phase (octave, K=4)", n, s, m)
        s, m = timed(lambda: ref.temporal(clipd, alpha), dev, 1)
        record("temporal", size, "plenoptic phase (octave, K=4)", n, s, m)

    # accuracy against the exact ground truth: 256² (or the largest size in quick mode), α = 9
    acc_size = 256 if 256 in args.sizes or not args.quick else max(args.sizes)
    impls = {
        "merlib eulerian": lambda a, b, al: magnify_pair(a, b, al, method="eulerian"),
        "numpy/pyrtools eulerian": lambda a, b, al: torch.from_numpy(
            eulerian_pyrtools_pair(a[0].double().numpy(), b[0].double().numpy(), al)).float().clamp(0, 1)[None],
        "merlib phase (octave, K=4)": lambda a, b, al: magnify_pair(a, b, al, method="phase"),
        "merlib phase (half-octave, K=8)": lambda a, b, al: magnify_pair(a, b, al, method="phase",
                                                                         bandwidth="half_octave", orientations=8),
        "plenoptic phase (octave, K=4)": lambda a, b, al: PlenopticPhase((acc_size, acc_size)).pair(
            a[None], b[None], al)[0].clamp(0, 1),
    }
    print(f"\naccuracy at {acc_size}², α = {alpha} (merlib convention), texture cutoff 0.25 cycles/px")
    for total in (1.0, 2.0):
        for name, fn in impls.items():
            r = evaluate_magnifier(fn, alpha, total / (1 + alpha), size=acc_size, cutoff=0.25)
            accuracy.append(dict(impl=name, magnified_shift_px=total, psnr=r["psnr"], ssim=r["ssim"],
                                 baseline_psnr=r["baseline_psnr"], baseline_ssim=r["baseline_ssim"],
                                 measured_shift_px=r["measured_shift"][1], shift_rel_error=r["shift_rel_error"]))
            print(f"  {total:.0f} px  {name:34s} PSNR {r['psnr']:6.2f} dB  SSIM {r['ssim']:.4f}  "
                  f"(input baseline SSIM {r['baseline_ssim']:.4f})  measured shift {r['measured_shift'][1]:.3f} px")

    def fps_of(case, size, impl):
        return next(r["frames_per_s"] for r in rows if r["case"] == case and r["size"] == size and r["impl"] == impl)

    speedups = []
    for size in args.sizes:
        for case in ("pair", "temporal"):
            speedups.append(dict(
                case=case, size=size,
                eulerian_vs_numpy=fps_of(case, size, "merlib eulerian (uniform α)") / fps_of(case, size, "numpy/pyrtools eulerian"),
                phase_vs_plenoptic=fps_of(case, size, "merlib phase (octave, K=4)") / fps_of(case, size, "plenoptic phase (octave, K=4)"),
            ))
    print("\nspeed-ups (goal: eulerian ≥ 10× numpy, phase ≥ 3× plenoptic)")
    for s in speedups:
        print(f"  {s['case']:9s} {s['size']:4d}²  eulerian {s['eulerian_vs_numpy']:7.1f}×   phase {s['phase_vs_plenoptic']:5.2f}×")
    payload = {
        "benchmark": "magnify",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "alpha": alpha, "alpha_convention": merlib.magnify.CONVENTION,
        "temporal": {"frames": args.temporal_frames, "fps": FPS, "band_hz": [F_LO, F_HI], "filter": "butterworth order 2"},
        "machine": {"load_average_at_start": load_start, "load_average_at_end": os.getloadavg(),
                    "note": ("shared machine: 2 CPU cores shared with 5 other jobs running in parallel; "
                             "throughputs are noisy and pessimistic, compare ratios measured in the same run")},
        "environment": merlib.environment(device_spec=dev),
        "throughput": rows, "speedups": speedups, "accuracy": accuracy,
        "wall_seconds": time.time() - started,
    }
    atomic_write_json(args.output, payload)
    print(f"\nwrote {args.output} in {payload['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
