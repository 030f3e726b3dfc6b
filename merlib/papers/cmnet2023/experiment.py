"""CMNet's LOSO experiments through :func:`merlib.eval.run`: Tables 1-3 and the intensity curves of Fig. 5.

Everything trains in merlib's one training loop (per-fold seeds, resume from a kill, AMP, the epoch
policies ``last`` / ``inner_val`` / ``oracle_test``) through a :class:`merlib.eval.task.Task`:

* **frozen-feature cache** -- :func:`cmnet_inputs` (a :class:`~merlib.eval.task.FrozenFeatures` stage)
  turns a clip into its N = 16 frames and two augmented views of each (:mod:`.views`), encodes the 48
  images with the frozen ResNet-18 prefix (:class:`.features.FrozenTrunk`) and returns two views of the
  sample: the features ``(3N, D)`` and the apex position among the N frames (a ``()`` long tensor);
* **weighted losses** -- Eq. 10 as three :class:`~merlib.eval.task.LossTerm`: ``L_ID`` and ``L_Wrst``
  (computed by :meth:`.model.CMNet.forward` in training mode) and the runner's cross-entropy ``L_C``,
  weighted ``(0.07, 0.71, 0.22)``; Table 3's ablations set weights to 0 (:data:`.losses.ABLATIONS`).

The apex annotation reaches the feature stage through :class:`ApexTagged`, a view of the dataset whose
``frames(i)`` returns the clip already resampled to N frames plus one constant *marker frame* holding the
apex position. The runner's feature hooks see frames only; this carries the one annotation CMNet needs
through them (merlib's workaround until the runner passes per-clip annotations to its hooks).

Protocols: :data:`PAPER_TRAIN` is the paper's optimiser (SGD, momentum 0.9, weight decay 1e-4, lr 1e-3;
"reduces by half every 50 epochs", as ``TrainConfig(lr_step=50, lr_gamma=0.5)``); :data:`CLEAN_TRAIN` is merlib's clean protocol (Adam, a fixed number
of epochs, the last epoch reported, nothing selected on the test subject).

Metrics: CMNet's F1 is ``2PR/(P+R)`` of macro P and R (:func:`merlib.eval.metrics.cmnet_f1`); results carry
it as ``pooled_cmnet_f1`` / ``fold_mean_cmnet_f1`` beside UF1 (``pooled_uf1``). The paper averages over
folds ("The performance is obtained by averaging over the performance on all folds").
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from merlib.eval.runner import TrainConfig, run
from merlib.eval.task import FrozenFeatures, LossTerm, Task, cross_entropy

from .features import FrozenTrunk
from .losses import ABLATIONS, LAMBDAS
from .model import CMNet
from .prototype import apex_position, prototype_means
from .views import N_FRAMES, augment_views, resample_clip, sample_positions, view_transform

__all__ = ["PAPER_TRAIN", "CLEAN_TRAIN", "PAPER_SETTINGS", "ApexTagged", "cmnet_inputs", "CMNetFactory",
           "make_task", "run_cmnet", "clip_table", "true_intensity", "intensity_curves", "curve_agreement",
           "prototype_curves", "metric_ci", "summary_table", "correlation_table", "paired_correlation_difference",
           "FEATURE_VERSION"]

#: Bump when :func:`cmnet_inputs`' output changes for the same key.
FEATURE_VERSION = "1"

#: What the paper states about training (Sec. "Parameter Settings"); epochs and batch size are not stated.
PAPER_SETTINGS = {
    "optimizer": "SGD", "momentum": 0.9, "weight_decay": 1e-4, "lr": 1e-3, "lr_schedule": "halved every 50 epochs",
    "lambdas": dict(LAMBDAS), "eps": 0.2, "xi": 0.01, "alpha": 0.05, "n_frames": 16, "input_size": 224,
    "augmentations": ("ColorJitter", "RandomGrayscale", "GaussianBlur"), "protocol": "LOSO",
    "not_stated": ("epochs", "batch size", "tau of L_ID", "ICE layers", "LSTM width", "augmentation strengths"),
}

#: The paper's optimiser and schedule (SGD, momentum 0.9, weight decay 1e-4, lr 1e-3 "reduces by half every 50
#: epochs": ``lr_step=50, lr_gamma=0.5``). epochs = 150 (three 50-epoch steps) and batch_size = 16 are merlib's
#: guesses: the paper states neither.
PAPER_TRAIN = TrainConfig(epochs=150, batch_size=16, lr=1e-3, weight_decay=1e-4, optimizer="sgd", momentum=0.9,
                          frames="all", size=64, normalize=False, num_threads=1, lr_step=50, lr_gamma=0.5)
#: merlib's clean protocol: Adam, fixed epochs, last epoch (policy "last"); sized for CPU runs.
CLEAN_TRAIN = TrainConfig(epochs=30, batch_size=16, lr=1e-3, weight_decay=1e-4, optimizer="adam",
                          frames="all", size=64, normalize=False, num_threads=1)


class ApexTagged:
    """A dataset seen as CMNet's inputs: ``frames(i)`` = the N resampled frames + one apex marker frame.

    ``frames(i, indices=None, size=None)`` → ``(N + 1, C, H, W)`` float in [0, 1]: the clip resampled to N
    frames (:func:`.views.resample_clip`) and a constant frame of value ``(a + 0.5) / N`` where ``a`` is the
    apex's position among them (:func:`.prototype.apex_position`). Everything else (``clips``,
    ``num_classes``, ``class_names`` ...) is the wrapped dataset's; the name gets a ``/cmnet<N>`` suffix so
    that caches never mix the two.
    """

    def __init__(self, dataset, n: int = N_FRAMES):
        self._ds, self.n = dataset, int(n)
        self.name = f"{getattr(dataset, 'name', 'dataset')}/cmnet{self.n}"

    def __getattr__(self, attr):
        if attr.startswith("__") or attr in ("_ds", "n"):
            raise AttributeError(attr)
        return getattr(self._ds, attr)

    def __len__(self):
        return len(self._ds.clips)

    def positions(self, i: int, n_loaded: int | None = None) -> np.ndarray:
        """``(N,)`` original frame numbers (fractional for interpolated frames) of clip ``i``'s N frames."""
        row = self._ds.clips.iloc[int(i)]
        t = int(row["n_frames"]) if n_loaded is None else int(n_loaded)
        return float(row["onset"]) + sample_positions(t, self.n)

    def apex_index(self, i: int, n_loaded: int | None = None) -> int:
        row = self._ds.clips.iloc[int(i)]
        apex = row["apex"] if "apex" in row.index else float("nan")
        apex = None if pd.isna(apex) else float(apex)
        return apex_position(float(row["onset"]), apex, float(row["offset"]), self.positions(i, n_loaded))

    def frames(self, i: int, indices=None, size=None) -> torch.Tensor:
        if indices is not None:
            raise ValueError("ApexTagged.frames: load whole clips (TrainConfig.frames='all'); CMNet resamples them")
        x = self._ds.frames(int(i), size=size).float()
        a = self.apex_index(i, n_loaded=x.shape[0])
        marker = torch.full_like(x[:1], (a + 0.5) / self.n)
        return torch.cat([resample_clip(x, self.n), marker], dim=0)


def cmnet_inputs(trunk: FrozenTrunk, frames: torch.Tensor, n: int = N_FRAMES, seed: int = 0,
                 blur_kernel: int = 3, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen-feature stage: ``(N + 1, C, H, W)`` from :class:`ApexTagged` → ``(features (3N, D), apex ())``.

    The N frames get two seeded augmented views each (:func:`.views.augment_views`); frames, first views
    and second views go through the frozen trunk. ``apex`` is decoded from the marker frame.
    """
    if frames.ndim != 4 or frames.shape[0] != n + 1:
        raise ValueError(f"cmnet_inputs: expected the N + 1 = {n + 1} frames of ApexTagged, got {tuple(frames.shape)}")
    x, marker = frames[:n], frames[n]
    apex = int(torch.clamp((marker.mean() * n).floor(), 0, n - 1))
    digest = int((x[0].double().mean() * 1e6).round().item()) % 1_000_003
    v1, v2 = augment_views(x, seed=int(seed) * 1_000_003 + digest, transform=view_transform(blur_kernel=blur_kernel))
    imgs = torch.cat([x, v1, v2], dim=0)
    feats = torch.cat([trunk(imgs[s:s + batch]) for s in range(0, len(imgs), batch)])
    return feats.float(), torch.tensor(apex, dtype=torch.long)


@dataclass(frozen=True)
class CMNetFactory:
    """``model_fn`` for :func:`merlib.eval.run`: ``(num_classes, ((3N, D), ())) -> CMNet``; fields = CMNet kwargs.

    ``inputs="onset_relative"`` by default (merlib's choice for the frozen-trunk runs; see :class:`.model.CMNet`);
    ``inputs="absolute"`` is the paper's reading.
    """

    sampler: str = "probabilistic"
    weights: dict = field(default_factory=lambda: dict(LAMBDAS))
    ice_dim: int = 64
    ice_hidden: int = 128
    ffe_dim: int = 128
    hidden: int = 64
    tau: float = 0.1
    wrst_temperature: float = 0.05
    p_mode: str = "paper"
    dropout: float = 0.3
    inputs: str = "onset_relative"
    relative_gain: float = 30.0
    version: str = "2"

    def __call__(self, num_classes: int, input_shape) -> CMNet:
        feat_shape = input_shape[0] if isinstance(input_shape[0], tuple) else input_shape
        n3, d = feat_shape
        return CMNet(num_classes, int(d), n_frames=int(n3) // 3, ice_dim=self.ice_dim, ice_hidden=self.ice_hidden,
                     ffe_dim=self.ffe_dim, hidden=self.hidden, sampler=self.sampler, tau=self.tau,
                     wrst_temperature=self.wrst_temperature, weights=dict(self.weights), p_mode=self.p_mode,
                     dropout=self.dropout, inputs=self.inputs, relative_gain=self.relative_gain)


def _term_id(output, target, info) -> torch.Tensor:
    return output["L_ID"]


def _term_wrst(output, target, info) -> torch.Tensor:
    return output["L_Wrst"]


def make_task(trunk: FrozenTrunk, weights: dict, n: int = N_FRAMES, view_seed: int = 0) -> Task:
    """The :class:`Task` of one CMNet variant: cached :func:`cmnet_inputs` and Eq. 10 with ``weights``."""
    feats = FrozenFeatures(cmnet_inputs, trunk, version=FEATURE_VERSION, params={"n": n, "seed": int(view_seed)})
    losses = {"L_C": LossTerm(cross_entropy, float(weights["L_C"]))}
    if weights.get("L_ID", 0):
        losses["L_ID"] = LossTerm(_term_id, float(weights["L_ID"]))
    if weights.get("L_Wrst", 0):
        losses["L_Wrst"] = LossTerm(_term_wrst, float(weights["L_Wrst"]))
    return Task(features=feats, losses=losses)


def run_cmnet(dataset, variant: str = "L_C + L_ID + L_Wrst", sampler: str = "probabilistic",
              train: TrainConfig = CLEAN_TRAIN, *, trunk: FrozenTrunk | None = None, factory: CMNetFactory | None = None,
              policy="last", seed: int = 0, device="auto", cache=None, results_dir=None, progress: bool = True,
              name: str | None = None, keep_curves: bool = True):
    """One LOSO run of a CMNet variant (a Table 2 / Table 3 cell) through :func:`merlib.eval.run`.

    Args:
        dataset: a merlib dataset (wrapped in :class:`ApexTagged` here).
        variant: a key of :data:`.losses.ABLATIONS` (``"L_C"``, ``"L_C + L_Wrst"``, ``"L_C + L_ID"``,
            ``"L_C + L_ID + L_Wrst"``).
        sampler: the negatives (Table 2).
        train: :data:`CLEAN_TRAIN` (merlib) or :data:`PAPER_TRAIN`; must load whole clips (``frames="all"``).
        keep_curves: record every test clip's intensity values ``k_n`` (Fig. 5) in
            ``result.params["curves"]`` -- from the trained fold models, or read back from
            ``results_dir/curves`` for folds finished in an earlier session.

    Returns:
        The :class:`merlib.eval.Result` (metrics include ``pooled_cmnet_f1``, ``pooled_uf1``,
        ``fold_mean_accuracy`` ...); ``result.params`` holds the variant, sampler and the curves.
    """
    from merlib.eval.task import FeatureInputs

    if variant not in ABLATIONS:
        raise ValueError(f"run_cmnet: `variant` must be one of {list(ABLATIONS)}, got {variant!r}")
    if train.frames != "all":
        raise ValueError("run_cmnet: `train.frames` must be 'all' (CMNet resamples each clip to N frames itself)")
    trunk = trunk or FrozenTrunk()
    weights = ABLATIONS[variant]
    factory = factory or CMNetFactory()
    factory = CMNetFactory(**{**asdict(factory), "sampler": sampler, "weights": dict(weights)})
    tagged = dataset if isinstance(dataset, ApexTagged) else ApexTagged(dataset)
    task = make_task(trunk, weights)
    curves: dict[int, list] = {}
    curve_dir = Path(results_dir) / "curves" if results_dir is not None else None

    def on_fold_end(fold_name, model, record):
        if not keep_curves:
            return
        inputs = FeatureInputs(tagged, train.frames, train.size, None, None, cache, "cpu", features=task.features)
        model.eval()
        got = {}
        with torch.no_grad():
            for i in record["test_idx"]:
                feats, _ = inputs.get(int(i))
                got[int(i)] = model.intensity(feats.unsqueeze(0).to(next(model.parameters()).device))[0].cpu().tolist()
        curves.update(got)
        if curve_dir is not None:
            from merlib.results import atomic_write_json
            atomic_write_json(curve_dir / f"{''.join(c if c.isalnum() else '_' for c in fold_name)}.json",
                              {str(k): v for k, v in got.items()})

    params = {"variant": variant, "sampler": sampler, "weights": dict(weights)}
    res = run(factory, tagged, "loso", train, policy=policy, seed=seed, device=device, cache=cache,
              results_dir=results_dir, progress=progress, name=name or f"CMNet[{variant}, {sampler}]",
              params=params, task=task, on_fold_end=on_fold_end)
    if keep_curves and curve_dir is not None and curve_dir.is_dir():
        for f in sorted(curve_dir.glob("*.json")):
            with open(f) as fh:
                for k, v in json.load(fh).items():
                    curves.setdefault(int(k), v)
    if keep_curves:
        res.params["curves"] = {int(k): v for k, v in sorted(curves.items())}
    return res


def clip_table(dataset, n: int = N_FRAMES) -> pd.DataFrame:
    """Per clip: the N sampled frame numbers and the apex position among them (what CMNet sees)."""
    tagged = dataset if isinstance(dataset, ApexTagged) else ApexTagged(dataset, n)
    rows = []
    for i in range(len(tagged.clips)):
        rows.append({"index": i, "positions": tagged.positions(i), "apex_index": tagged.apex_index(i)})
    return pd.DataFrame(rows).set_index("index")


def true_intensity(dataset, i: int, n: int = N_FRAMES, root=None) -> np.ndarray:
    """``(N,)`` the renderer's AU intensity of synthetic clip ``i`` at CMNet's N sampled instants.

    The synthetic renderer moves every AU by ``profile(t) * subject_intensity * AU intensity``
    (:meth:`merlib.data.synthetic.ClipSpec.profile`); with the clip's spec read from its ground truth
    (``root``: the dataset folder, default the clip path's grand-parent's parent) the profile is evaluated at
    the (possibly fractional) sampled frame numbers. No licensed dataset has this.
    """
    from merlib.data import synthetic

    row = dataset.clips.iloc[int(i)]
    tagged = dataset if isinstance(dataset, ApexTagged) else ApexTagged(dataset, n)
    pos = tagged.positions(i)
    if root is None:
        root = Path(str(row["path"])).parents[2]
    spec = synthetic.load_spec(root, str(row["subject"]), str(row["clip"]))
    scale = float(spec.subject_intensity) * float(np.mean([a.intensity for a in spec.aus])) if spec.aus else 1.0
    return synthetic.intensity_profile(pos, spec.onset, spec.apex, spec.offset) * scale


def intensity_curves(result) -> dict[int, np.ndarray]:
    """The recorded ``k_n`` curves of a :func:`run_cmnet` result: ``{clip index: (N,)}``."""
    return {int(k): np.asarray(v, dtype=np.float64) for k, v in result.params.get("curves", {}).items()}


def curve_agreement(curves: dict, reference: dict) -> pd.DataFrame:
    """Per clip Spearman rank correlation of a learned curve with a reference curve (prototype or truth).

    Returns a frame indexed by clip with ``spearman`` (NaN where either curve is constant).
    """
    from scipy.stats import spearmanr

    rows = []
    for i, k in curves.items():
        ref = np.asarray(reference[i], dtype=np.float64)
        if np.ptp(k) == 0 or np.ptp(ref) == 0:
            rho = float("nan")
        else:
            rho = float(spearmanr(k, ref).statistic)
        rows.append({"index": i, "spearman": rho})
    return pd.DataFrame(rows).set_index("index")


def prototype_curves(dataset, n: int = N_FRAMES, eps: float = 0.2) -> dict[int, np.ndarray]:
    """Eq. 2-4 means of every clip's prototype (``{clip index: (N,)}``)."""
    tab = clip_table(dataset, n)
    return {int(i): prototype_means(int(a), n, eps).numpy() for i, a in tab["apex_index"].items()}


def default_cache_dir() -> str:
    return os.environ.get("MERLIB_CMNET_CACHE", "cmnet2023_features")


def metric_ci(result, metric: str = "accuracy", n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict:
    """Percentile bootstrap over clips of one result's pooled ``metric`` (``accuracy``, ``uf1``, ``cmnet_f1`` ...).

    Returns ``{"value", "ci_low", "ci_high"}``; the resamples are drawn with ``numpy`` from ``seed``.
    """
    from merlib.eval import metrics as M

    funcs = {"accuracy": M.accuracy, "uf1": M.uf1, "uar": M.uar, "cmnet_f1": M.cmnet_f1, "macro_f1": M.macro_f1}
    if metric not in funcs:
        raise ValueError(f"metric_ci: `metric` must be one of {sorted(funcs)}, got {metric!r}")
    f, k = funcs[metric], int(result.num_classes)
    y = result.predictions["y_true"].to_numpy()
    p = result.predictions["y_pred"].to_numpy()
    rng = np.random.default_rng(seed)
    vals = np.array([f(y[s], p[s], k) for s in (rng.integers(0, len(y), len(y)) for _ in range(n_boot))])
    lo, hi = np.quantile(vals, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
    return {"value": f(y, p, k), "ci_low": float(lo), "ci_high": float(hi)}


def summary_table(results: dict, baseline: str | None = None, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per result: fold means (the paper's aggregation), pooled accuracy / CMNet F1 / UF1 with 95 %
    bootstrap CIs, and -- against ``baseline`` -- the paired bootstrap difference of accuracy and CMNet F1
    (95 % CI, :func:`merlib.eval.paired_bootstrap`) and McNemar's exact p (:func:`merlib.eval.mcnemar`).
    Values are fractions."""
    from merlib.eval.significance import mcnemar, paired_bootstrap

    rows = []
    for name, r in results.items():
        m = r.metrics
        row = {"row": name, "policy": r.policy, "fold_mean_accuracy": m["fold_mean_accuracy"],
               "fold_mean_cmnet_f1": m["fold_mean_cmnet_f1"]}
        for met in ("accuracy", "cmnet_f1", "uf1"):
            ci = metric_ci(r, met, n_boot=n_boot, seed=seed)
            row.update({f"pooled_{met}": ci["value"], f"{met}_ci": f"[{ci['ci_low']:.3f}, {ci['ci_high']:.3f}]"})
        if baseline is not None and name != baseline:
            for met in ("accuracy", "cmnet_f1"):
                pb = paired_bootstrap(results[baseline], r, metric=met, n_boot=n_boot, seed=seed)
                row[f"d_{met}_vs_{baseline}"] = pb["diff"]
                row[f"d_{met}_ci"] = f"[{pb['ci_low']:+.3f}, {pb['ci_high']:+.3f}]"
                row[f"d_{met}_ci_low"], row[f"d_{met}_ci_high"] = pb["ci_low"], pb["ci_high"]
                row[f"d_{met}_p_boot"] = pb["pvalue"]
            row["mcnemar_p"] = mcnemar(results[baseline], r)["pvalue"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("row")


def correlation_table(curve_sets: dict, references: dict, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Mean per-clip Spearman correlation of each set of learned curves with a reference (with a 95 %
    bootstrap CI over clips) and the mean of its absolute value (the sign of an unbounded ``k_n`` is free
    unless something fixes it)."""
    rows = []
    rng = np.random.default_rng(seed)
    for name, curves in curve_sets.items():
        rho = curve_agreement(curves, references)["spearman"].dropna().to_numpy()
        if rho.size == 0:
            rows.append({"curves": name, "n_clips": 0})
            continue
        boots = np.array([rho[rng.integers(0, rho.size, rho.size)].mean() for _ in range(n_boot)])
        lo, hi = np.quantile(boots, [0.025, 0.975])
        rows.append({"curves": name, "n_clips": int(rho.size), "mean_spearman": float(rho.mean()),
                     "ci_low": float(lo), "ci_high": float(hi), "mean_abs_spearman": float(np.abs(rho).mean())})
    return pd.DataFrame(rows).set_index("curves")


def paired_correlation_difference(curves_a: dict, curves_b: dict, references: dict, n_boot: int = 1000,
                                  seed: int = 0) -> dict:
    """``mean(rho_b - rho_a)`` over the clips both have (rank correlation with ``references``), 95 % bootstrap CI."""
    ra = curve_agreement(curves_a, references)["spearman"]
    rb = curve_agreement(curves_b, references)["spearman"]
    d = (rb - ra).dropna().to_numpy()
    if d.size == 0:
        return {"diff": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n_clips": 0}
    rng = np.random.default_rng(seed)
    boots = np.array([d[rng.integers(0, d.size, d.size)].mean() for _ in range(n_boot)])
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return {"diff": float(d.mean()), "ci_low": float(lo), "ci_high": float(hi), "n_clips": int(d.size)}
