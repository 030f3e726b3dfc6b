"""Benchmark merlib's Eulerian and phase-based magnifiers against reference pipelines.

Side by side, on the same frames (band-limited random textures, gray, float32):

* merlib Eulerian (uniform α: the exact linear fast path; and with ``lambda_c``: the Laplacian
  pyramid path) vs. a numpy/pyrtools reference (``pyrtools.pyramids.LaplacianPyramid`` per frame,
  each level's difference magnified, ``recon_pyr``);
* merlib phase-based (octave, 4 orientations) vs. the same magnification built on plenoptic's
  ``SteerablePyramidFreq(is_complex=True)`` (decompose both frames, rotate the target's
  coefficients by ``alpha·Δφ``, ``recon_pyr``).

Reported:

* frames/s at 128², 256², 512² for two-frame (static) input and for 64-frame temporal input (Butterworth
  band-pass; references filter each pyramid level with scipy.signal.sosfilt). The implementations of one
  size and case are timed in interleaved rounds (one call of each per round, median over rounds), so that
  the load of a shared machine hits them alike; the ratios of one run are what count.
* the FFT lower bound of the phase-based method: the time of just the FFTs one output frame needs with
  merlib's band sizes (two-frame: ``rfft2`` of both frames, per scale ``2K`` inverse and ``K`` forward
  complex FFTs of the band's crop, one ``irfft2``; temporal: the reference's share amortised, so one frame's
  ``rfft2``, ``K`` + ``K`` band FFTs and one ``irfft2``), and each phase implementation as a fraction of it
  (``lower_bound_fraction`` = bound / time per frame; 1 would be "nothing but the FFTs").
* an α sweep: ``magnify(..., alpha=[5 values])`` (one decomposition, one synthesis per α) against five
  separate calls, as seconds per α.
* peak memory of each call (CPU: peak RSS growth over the call, sampled every 2 ms, in a second pass run
  in a child process whose glibc mmaps every block >= 64 KiB, so that freed memory leaves the RSS — the
  timing pass keeps the default allocator, which that setting would slow down; CUDA: max_memory_allocated).
* PSNR/SSIM against the exact ground truth at (1+α)δ = 1 and 2 px (256², α = 9), with the unmagnified
  input as a baseline.

Writes ``benchmarks/results/magnify.json`` (``magnify_cuda.json`` with ``--device cuda``, which also times
merlib on the CPU for the GPU-vs-CPU ratios; without a GPU it says so and exits) and prints a table.

Run: ``.venv/bin/python benchmarks/magnify.py`` (``--quick`` for a smoke run; ``--device cuda``; ``--no-memory``).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import merlib  # noqa: E402
from merlib.magnify import magnify, magnify_pair  # noqa: E402
from merlib.magnify.phase import get_pyramid  # noqa: E402
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


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_group(fns: dict, devices: dict, rounds: int, min_time: float = 0.0, max_rounds: int = 40) -> dict:
    """Interleaved timing: after one warm-up call each, ``rounds`` rounds (more while the group has run less
    than ``min_time`` s, at most ``max_rounds``) of one call of every function.

    Returns ``{name: (median, min, rounds, cpu_median)}`` in seconds: wall-clock, and the process's CPU time
    (user + system, ``time.process_time``) per call — on an oversubscribed machine the wall clock also counts
    the time the scheduler gave other jobs, the CPU time only the work itself (all of it single-threaded)."""
    for name, fn in fns.items():
        fn()
        _sync(devices[name])
    times = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    start = time.perf_counter()
    n = 0
    while n < rounds or (time.perf_counter() - start < min_time and n < max_rounds):
        for name, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            _sync(devices[name])
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
        n += 1
    return {name: (float(np.median(v)), float(np.min(v)), len(v), float(np.median(cpu[name])))
            for name, v in times.items()}


def texture_clip(size: int, frames: int, seed: int = 0) -> torch.Tensor:
    """(T, 1, H, W): a texture oscillating at 2 Hz (in band) with amplitude 0.2 px."""
    tex = band_limited_texture(size, cutoff=0.25, seed=seed, dtype=torch.float64)
    d = [0.2 * math.sin(2 * math.pi * 2.0 * i / FPS) for i in range(frames)]
    return torch.stack([fourier_shift(tex, (0.0, di)) for di in d]).float()


def fft_lower_bound(size: int, device: torch.device, bandwidth: str, orientations: int, rounds: int) -> dict:
    """Seconds per output frame of just the FFTs merlib's phase method must do (see the module docstring)."""
    pyr = get_pyramid(size, size, None, orientations, bandwidth, device, torch.float32)
    g = torch.Generator().manual_seed(0)
    x2 = torch.rand(2, size, size, generator=g).to(device)
    half = torch.fft.rfft2(x2[:1])
    bands = [torch.randn(2, orientations, h, w, dtype=torch.complex64, generator=g).to(device)
             for h, w in pyr.band_shapes]

    def pair():
        torch.fft.rfft2(x2)
        for b in bands:
            torch.fft.ifft2(b)
            torch.fft.fft2(b[:1])
        torch.fft.irfft2(half, s=(size, size))

    def frame():
        torch.fft.rfft2(x2[:1])
        for b in bands:
            torch.fft.ifft2(b[:1])
            torch.fft.fft2(b[:1])
        torch.fft.irfft2(half, s=(size, size))

    res = timed_group({"pair": pair, "temporal": frame}, {"pair": device, "temporal": device}, rounds, 0.3)
    count = {"pair": 2 + 3 * orientations * pyr.n_bands + 1, "temporal": 2 + 2 * orientations * pyr.n_bands}
    return {case: dict(seconds=res[case][0], seconds_min=res[case][1], cpu_seconds=res[case][3], ffts=count[case],
                       band_shapes=[list(s) for s in pyr.band_shapes]) for case in ("pair", "temporal")}


PHASE_IMPLS = {"merlib phase (octave, K=4)": ("octave", 4), "merlib phase (half-octave, K=8)": ("half_octave", 8),
               "plenoptic phase (octave, K=4)": ("octave", 4), "merlib phase (octave, K=4) [cpu]": ("octave", 4)}


def build_cases(size: int, args, dev: torch.device) -> list[dict]:
    """Every timed call at one size: dicts with case, impl, frames out, device, fn, group (timed together)."""
    alpha = args.alpha
    cpu = torch.device("cpu")
    a = band_limited_texture(size, cutoff=0.25, seed=1)
    b = fourier_shift(a, (0.0, 0.1))
    ad, bd = a.to(dev), b.to(dev)
    an, bn = a[0].double().numpy(), b[0].double().numpy()
    ref = PlenopticPhase((size, size), 4, dev)
    clip = texture_clip(size, args.temporal_frames)
    clipd = clip.to(dev)
    clipn = clip[:, 0].double().numpy()
    kw = dict(mode="temporal", fps=FPS, freq_lo=F_LO, freq_hi=F_HI, temporal_filter="butterworth_bandpass")
    n = args.temporal_frames
    cases = [
        ("pair", "eulerian", "merlib eulerian (uniform α)", 1, dev,
         lambda: magnify_pair(ad, bd, alpha, method="eulerian")),
        ("pair", "eulerian", "merlib eulerian (λc, pyramid)", 1, dev,
         lambda: magnify_pair(ad, bd, alpha, method="eulerian", lambda_c=16.0)),
        ("pair", "eulerian", "numpy/pyrtools eulerian", 1, cpu, lambda: eulerian_pyrtools_pair(an, bn, alpha)),
        ("pair", "phase", "merlib phase (octave, K=4)", 1, dev, lambda: magnify_pair(ad, bd, alpha, method="phase")),
        ("pair", "phase", "merlib phase (half-octave, K=8)", 1, dev,
         lambda: magnify_pair(ad, bd, alpha, method="phase", bandwidth="half_octave", orientations=8)),
        ("pair", "phase", "plenoptic phase (octave, K=4)", 1, dev, lambda: ref.pair(ad[None], bd[None], alpha)),
        ("temporal", "eulerian", "merlib eulerian (uniform α)", n, dev,
         lambda: magnify(clipd, alpha, method="eulerian", **kw)),
        ("temporal", "eulerian", "merlib eulerian (λc, pyramid)", n, dev,
         lambda: magnify(clipd, alpha, method="eulerian", lambda_c=16.0, **kw)),
        ("temporal", "eulerian", "numpy/pyrtools eulerian", n, cpu, lambda: eulerian_pyrtools_temporal(clipn, alpha)),
        ("temporal", "phase", "merlib phase (octave, K=4)", n, dev, lambda: magnify(clipd, alpha, method="phase", **kw)),
        ("temporal", "phase", "plenoptic phase (octave, K=4)", n, dev, lambda: ref.temporal(clipd, alpha)),
    ]
    if dev.type == "cuda":  # GPU vs CPU
        cases += [
            ("pair", "phase", "merlib phase (octave, K=4) [cpu]", 1, cpu, lambda: magnify_pair(a, b, alpha, method="phase")),
            ("pair", "eulerian", "merlib eulerian (λc, pyramid) [cpu]", 1, cpu,
             lambda: magnify_pair(a, b, alpha, method="eulerian", lambda_c=16.0)),
            ("temporal", "phase", "merlib phase (octave, K=4) [cpu]", n, cpu,
             lambda: magnify(clip, alpha, method="phase", **kw)),
        ]
    return [dict(case=c, group=f"{c} {g}", impl=i, frames=f, device=d, fn=fn) for c, g, i, f, d, fn in cases]


def alpha_sweep_cases(size: int, args, dev: torch.device) -> list[dict]:
    """One call with a list of α against separate calls (phase pair, Eulerian λc pair, phase temporal)."""
    alphas = [2.0, 5.0, 9.0, 15.0, 20.0]
    a = band_limited_texture(size, cutoff=0.25, seed=1).to(dev)
    b = fourier_shift(a, (0.0, 0.1))
    clip = texture_clip(size, args.temporal_frames).to(dev)
    kw = dict(mode="temporal", fps=FPS, freq_lo=F_LO, freq_hi=F_HI, temporal_filter="butterworth_bandpass")
    out = []
    for name, one in (("phase pair", lambda al: magnify_pair(a, b, al, method="phase")),
                      ("eulerian (λc) pair", lambda al: magnify_pair(a, b, al, method="eulerian", lambda_c=16.0)),
                      ("phase temporal", lambda al: magnify(clip, al, method="phase", **kw))):
        if name == "phase temporal" and size > args.sweep_temporal_max:
            continue
        out.append(dict(name=name, alphas=alphas, sweep=lambda one=one: one(alphas),
                        separate=lambda one=one: [one(al) for al in alphas]))
    return out


def memory_pass(args, dev) -> dict:
    """Peak memory of one call of every case (run in the child process), keyed "case|size|impl"."""
    res = {}
    for size in args.sizes:
        for c in build_cases(size, args, dev):
            c["fn"]()
            with PeakMemory(c["device"]) as mem:
                c["fn"]()
            res[f"{c['case']}|{size}|{c['impl']}"] = mem.mib
    return res


def run_memory_child(argv_base: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mem.json")
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
        # glibc: serve every allocation >= 64 KiB by mmap and give it back on free, so that the RSS sampled by
        # PeakMemory rises and falls with each call (otherwise the heap keeps freed blocks)
        subprocess.run([sys.executable, __file__, *argv_base, "--memory-only", path], env=env, check=True)
        with open(path) as f:
            return json.load(f)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--temporal-frames", type=int, default=64)
    p.add_argument("--alpha", type=float, default=9.0)
    p.add_argument("--repeats", type=int, default=5, help="timing rounds for two-frame cases (temporal: fewer)")
    p.add_argument("--device", default="cpu", help="'cpu', 'cuda' or 'auto' (merlib side; references run on CPU "
                                                   "except plenoptic, which follows it)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (default 1: on a shared, oversubscribed CPU torch's thread pool "
                        "stalls; numpy/pyrtools run single-threaded too)")
    p.add_argument("--quick", action="store_true", help="sizes 64 and 128, 16 temporal frames, 2 rounds")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory pass")
    p.add_argument("--sweep-temporal-max", type=int, default=256, help="largest size of the temporal α sweep")
    p.add_argument("--output", default=None, help="default benchmarks/results/magnify.json (magnify_cuda.json on CUDA)")
    p.add_argument("--memory-only", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.temporal_frames, args.repeats = [64, 128], 16, 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device is available here (torch.cuda.is_available() is False); "
              "skipping the GPU benchmark, nothing written.")
        return 0
    dev = merlib.device(args.device)
    torch.set_num_threads(args.threads)
    if args.memory_only:
        atomic_write_json(args.memory_only, memory_pass(args, dev))
        return 0
    if args.output is None:
        args.output = str(ROOT / "benchmarks" / "results" / ("magnify_cuda.json" if dev.type == "cuda" else "magnify.json"))
    alpha = args.alpha
    load_start = os.getloadavg()
    started = time.time()
    rows, accuracy, bounds, sweeps = [], [], [], []

    print(f"device {dev}, torch threads {torch.get_num_threads()}, load average {load_start}")
    for size in args.sizes:
        for bw, k in (("octave", 4), ("half_octave", 8)):
            lb = fft_lower_bound(size, dev, bw, k, args.repeats)
            for case, r in lb.items():
                bounds.append(dict(size=size, case=case, bandwidth=bw, orientations=k, **r))
                print(f"{case:9s} {size:4d}²  FFT lower bound ({bw}, K={k}): {r['ffts']} FFTs, "
                      f"{r['cpu_seconds' if dev.type == 'cpu' else 'seconds'] * 1e3:8.3f} ms per frame", flush=True)
        cases = build_cases(size, args, dev)
        for group in dict.fromkeys(c["group"] for c in cases):
            members = [c for c in cases if c["group"] == group]
            temporal = members[0]["case"] == "temporal"
            rounds = (1 if size >= 512 else max(1, args.repeats // 2)) if temporal else args.repeats
            res = timed_group({c["impl"]: c["fn"] for c in members}, {c["impl"]: c["device"] for c in members},
                              rounds, 0.0 if temporal else 1.0)
            for c in members:
                med, mn, nrep, cpu_med = res[c["impl"]]
                # the ratios use the CPU time on CPU (see timed_group) and the wall clock on CUDA
                cost = med if c["device"].type == "cuda" else cpu_med
                row = dict(case=c["case"], size=size, impl=c["impl"], seconds=med, seconds_min=mn, cpu_seconds=cpu_med,
                           rounds=nrep, frames_per_s=c["frames"] / cost, wall_frames_per_s=c["frames"] / med,
                           peak_mem_mib=None)
                if c["impl"] in PHASE_IMPLS:
                    bw, k = PHASE_IMPLS[c["impl"]]
                    lb = next(x for x in bounds if x["size"] == size and x["case"] == c["case"]
                              and x["bandwidth"] == bw and x["orientations"] == k)
                    lbs = lb["seconds"] if c["device"].type == "cuda" else lb["cpu_seconds"]
                    row["lower_bound_fraction"] = lbs / (cost / c["frames"])
                rows.append(row)
                lbf = f"  {row['lower_bound_fraction']:5.2f} of FFT bound" if "lower_bound_fraction" in row else ""
                print(f"{c['case']:9s} {size:4d}²  {c['impl']:38s} {row['frames_per_s']:9.2f} frames/s{lbf}", flush=True)
        del cases
        for sw in alpha_sweep_cases(size, args, dev):
            temporal = "temporal" in sw["name"]
            rounds = 1 if temporal else args.repeats
            res = timed_group({"sweep": sw["sweep"], "separate": sw["separate"]}, {"sweep": dev, "separate": dev},
                              rounds, 0.0 if temporal else 1.0)
            na = len(sw["alphas"])
            k = 0 if dev.type == "cuda" else 3
            rec = dict(size=size, name=sw["name"], alphas=sw["alphas"], sweep_seconds_per_alpha=res["sweep"][k] / na,
                       separate_seconds_per_alpha=res["separate"][k] / na,
                       wall_sweep_seconds_per_alpha=res["sweep"][0] / na,
                       wall_separate_seconds_per_alpha=res["separate"][0] / na)
            rec["speedup"] = rec["separate_seconds_per_alpha"] / rec["sweep_seconds_per_alpha"]
            sweeps.append(rec)
            print(f"α sweep   {size:4d}²  {sw['name']:20s} {rec['sweep_seconds_per_alpha'] * 1e3:9.2f} ms/α swept vs "
                  f"{rec['separate_seconds_per_alpha'] * 1e3:9.2f} ms/α separately ({rec['speedup']:.2f}×)", flush=True)

    if not args.no_memory:
        print("\npeak memory pass (child process) ...", flush=True)
        base = ["--sizes", *map(str, args.sizes), "--temporal-frames", str(args.temporal_frames),
                "--alpha", str(alpha), "--device", args.device, "--threads", str(args.threads)]
        mem = run_memory_child(base)
        for r in rows:
            r["peak_mem_mib"] = mem.get(f"{r['case']}|{r['size']}|{r['impl']}")
            print(f"{r['case']:9s} {r['size']:4d}²  {r['impl']:38s} {r['peak_mem_mib']:8.1f} MiB")

    # accuracy against the exact ground truth: 256² (or the largest size in quick mode), α = 9
    acc_size = 256 if 256 in args.sizes or not args.quick else max(args.sizes)
    impls = {
        "merlib eulerian": lambda a, b, al: magnify_pair(a, b, al, method="eulerian"),
        "numpy/pyrtools eulerian": lambda a, b, al: torch.from_numpy(
            eulerian_pyrtools_pair(a[0].double().numpy(), b[0].double().numpy(), al)).float().clamp(0, 1)[None],
        "merlib phase (octave, K=4)": lambda a, b, al: magnify_pair(a, b, al, method="phase"),
        "merlib phase (octave, K=4, crop='margin')": lambda a, b, al: magnify_pair(a, b, al, method="phase",
                                                                                   crop="margin"),
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
            print(f"  {total:.0f} px  {name:42s} PSNR {r['psnr']:6.2f} dB  SSIM {r['ssim']:.4f}  "
                  f"(input baseline SSIM {r['baseline_ssim']:.4f})  measured shift {r['measured_shift'][1]:.3f} px")

    def fps_of(case, size, impl):
        return next((r["frames_per_s"] for r in rows if r["case"] == case and r["size"] == size and r["impl"] == impl),
                    None)

    def ratio(x, y):
        return None if x is None or y is None else x / y

    speedups = []
    for size in args.sizes:
        for case in ("pair", "temporal"):
            s = dict(
                case=case, size=size,
                eulerian_uniform_vs_numpy=ratio(fps_of(case, size, "merlib eulerian (uniform α)"),
                                                fps_of(case, size, "numpy/pyrtools eulerian")),
                eulerian_pyramid_vs_pyrtools=ratio(fps_of(case, size, "merlib eulerian (λc, pyramid)"),
                                                   fps_of(case, size, "numpy/pyrtools eulerian")),
                phase_vs_plenoptic=ratio(fps_of(case, size, "merlib phase (octave, K=4)"),
                                         fps_of(case, size, "plenoptic phase (octave, K=4)")),
            )
            if dev.type == "cuda":
                s["phase_gpu_vs_cpu"] = ratio(fps_of(case, size, "merlib phase (octave, K=4)"),
                                              fps_of(case, size, "merlib phase (octave, K=4) [cpu]"))
            speedups.append(s)
    def wall_of(case, size, impl):
        return next((r["wall_frames_per_s"] for r in rows if r["case"] == case and r["size"] == size
                     and r["impl"] == impl), None)

    speedups_wall = [dict(case=case, size=size,
                          eulerian_pyramid_vs_pyrtools=ratio(wall_of(case, size, "merlib eulerian (λc, pyramid)"),
                                                             wall_of(case, size, "numpy/pyrtools eulerian")),
                          phase_vs_plenoptic=ratio(wall_of(case, size, "merlib phase (octave, K=4)"),
                                                   wall_of(case, size, "plenoptic phase (octave, K=4)")))
                     for size in args.sizes for case in ("pair", "temporal")]
    acc = {(a["impl"], a["magnified_shift_px"]): a["psnr"] for a in accuracy}
    goals = {
        "phase_vs_plenoptic_min": min(s["phase_vs_plenoptic"] for s in speedups),
        "eulerian_pyramid_vs_pyrtools_min": min(s["eulerian_pyramid_vs_pyrtools"] for s in speedups),
        "goal": "phase >= 3x plenoptic at equal or better PSNR; Eulerian pyramid path >= 3x pyrtools; "
                "128², 256², 512², two-frame and 64-frame temporal",
        "phase_psnr_minus_plenoptic_db": {f"{t:.0f} px": acc[("merlib phase (octave, K=4)", t)]
                                          - acc[("plenoptic phase (octave, K=4)", t)] for t in (1.0, 2.0)},
    }
    sw = {r["name"]: r["speedup"] for r in sweeps if r["size"] == max(args.sizes) or r["name"] == "phase temporal"}
    goals["note"] = (
        f"same run, {os.cpu_count()} shared cores, 1 thread: phase vs plenoptic "
        + ", ".join(f"{s['case']} {s['size']}² {s['phase_vs_plenoptic']:.2f}×" for s in speedups)
        + " (goal ≥ 3×); Eulerian pyramid path vs pyrtools "
        + ", ".join(f"{s['case']} {s['size']}² {s['eulerian_pyramid_vs_pyrtools']:.2f}×" for s in speedups)
        + " (goal ≥ 3×); phase PSNR − plenoptic "
        + ", ".join(f"{k} {v:+.2f} dB" for k, v in goals["phase_psnr_minus_plenoptic_db"].items())
        + " (goal ≥ 0); α sweep vs separate calls, per α: " + ", ".join(f"{k} {v:.2f}×" for k, v in sw.items()))
    goals["met"] = bool(goals["phase_vs_plenoptic_min"] >= 3 and goals["eulerian_pyramid_vs_pyrtools_min"] >= 3
                        and min(goals["phase_psnr_minus_plenoptic_db"].values()) >= -0.05)
    print("\nspeed-ups (goal: phase ≥ 3× plenoptic, Eulerian pyramid path ≥ 3× pyrtools)")
    for s in speedups:
        extra = f"   GPU/CPU {s['phase_gpu_vs_cpu']:.1f}×" if s.get("phase_gpu_vs_cpu") else ""
        print(f"  {s['case']:9s} {s['size']:4d}²  eulerian uniform {s['eulerian_uniform_vs_numpy']:6.1f}×   "
              f"pyramid {s['eulerian_pyramid_vs_pyrtools']:5.2f}×   phase {s['phase_vs_plenoptic']:5.2f}×{extra}")
    print(f"  goal met: {goals['met']}\n  {goals['note']}")
    load_end = os.getloadavg()
    payload = {
        "benchmark": "magnify",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if argv is None else list(argv),
        "alpha": alpha, "alpha_convention": merlib.magnify.CONVENTION,
        "temporal": {"frames": args.temporal_frames, "fps": FPS, "band_hz": [F_LO, F_HI], "filter": "butterworth order 2"},
        "timing": ("interleaved rounds per size and case (one call of each implementation per round); seconds = "
                   "median wall clock, seconds_min = min, cpu_seconds = median process CPU time (user + system, one "
                   "thread); frames_per_s, lower_bound_fraction, α-sweep costs and all ratios use cpu_seconds on CPU "
                   "(the wall clock of an oversubscribed machine also counts other jobs' time slices) and the wall "
                   "clock on CUDA; wall_frames_per_s and speedups_wall give the wall-clock view"),
        "machine": {"load_average_at_start": load_start, "load_average_at_end": load_end,
                    "note": (f"shared machine: {os.cpu_count()} CPU cores shared with other agents' jobs (load average "
                             f"{load_start[0]:.1f} at start, {load_end[0]:.1f} at end); throughputs are noisy and "
                             "pessimistic, compare ratios measured in the same run")},
        "environment": merlib.environment(device_spec=dev),
        "fft_lower_bound": bounds, "throughput": rows, "speedups": speedups, "speedups_wall": speedups_wall,
        "goals": goals,
        "alpha_sweep": sweeps, "accuracy": accuracy,
        "wall_seconds": time.time() - started,
    }
    atomic_write_json(args.output, payload)
    print(f"\nwrote {args.output} in {payload['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
