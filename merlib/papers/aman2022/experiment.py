"""AMAN's LOSO experiments through :func:`merlib.eval.run`: Tables 1-3, Fig. 3 and the intensity question.

Everything trains in merlib's one training loop (per-fold seeds, resume, AMP, the epoch policies) through a
:class:`merlib.eval.task.Task`:

* **frozen-feature bank** -- one :class:`~merlib.eval.task.FrozenFeatures` stage (:func:`make_bank`, function
  :func:`.pipeline.aman_bank`) computes, per clip, the features of TIM frames ``1..n_max`` magnified by every
  factor ``amp_1..amp_K`` (``(n_max, K, ...)``, cached on disk by :class:`merlib.eval.Cache` and kept in memory);
* **cells per run** -- the task's ``samples`` hook (:class:`SelectCells`) picks a run's n frames and k factors
  from the bank, so Table 1's ceilings k = 7..11 and Fig. 3's n = 1..20 reuse one bank: the k magnifications
  of a frame are computed once, for every run;
* **model** -- :class:`AMANFactory` builds :class:`.model.AMAN` (MA, FA, FC; optionally a trainable layer 4).

Protocols. AMAN's code (``main/train.py``) trains 50 epochs (batch 4, RMSprop lr 1e-3, weight decay 1e-4, lr x 0.2
every 30 epochs) and **keeps, per test subject, the epoch with the best test accuracy** (stopping early when it
reaches 1.0 -- the same choice, since the first epoch at 1.0 is the earliest best). merlib runs that selection only
as the OPTIMISTIC policy ``"oracle_test"`` (``selection_metric="accuracy"``), from the same training run as its
clean policy ``"last"``: ``policy=("last", "oracle_test")`` gives both. :data:`PAPER_TRAIN` departs from the code
in the optimiser only (Adam: ``merlib.eval.TrainConfig`` has no RMSprop); its StepLR(30, 0.2) is the runner's
``lr_step=30, lr_gamma=0.2``.

CIs: percentile bootstrap **over subjects** (the LOSO unit): :func:`metric_ci` and :func:`paired_subject_bootstrap`
are :func:`merlib.eval.significance.bootstrap_ci` / ``paired_bootstrap(..., by="subject")``; :func:`spearman_ci`
resamples subjects the same way (:func:`merlib.eval.significance.resample_indices`). McNemar's exact test beside.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from merlib.eval.runner import TrainConfig, run
from merlib.eval.task import FeatureInputs, FrozenFeatures, Task

from .model import AMAN
from .pipeline import BANK_VERSION, K_LEVELS, N_FRAMES, TIM_LENGTH, AMANStage, aman_bank, amp_factors

__all__ = ["PAPER_SETTINGS", "PAPER_TRAIN", "CLEAN_TRAIN", "VARIANTS", "make_stage", "make_bank", "SelectCells",
           "AMANFactory", "make_task", "run_aman", "train_losses", "attention_of", "expected_factor", "intensity_table",
           "metric_ci", "paired_subject_bootstrap", "summary_table", "spearman_ci", "default_cache_dir"]

#: What AMAN's paper and code state about training (paper Sec. 3.1; weimengting/AMAN main/config.py, train.py).
PAPER_SETTINGS = {
    "n_frames": N_FRAMES, "k_levels": K_LEVELS, "amp": "1..k (Oh's factor)", "input_size": 224,
    "backbone": "ResNet-18 pre-trained on FER+ (paper: 'FER2017'), layers 1-3 frozen, layer 4 trained",
    "optimizer": "RMSprop (eps 1e-8)", "lr": 1e-3, "weight_decay": 1e-4, "lr_schedule": "StepLR(30, gamma=0.2)",
    "epochs": 50, "batch_size": 4, "protocol": "LOSO",
    "selection": "best test-subject accuracy over epochs; stop at 1.0 (OPTIMISTIC)",
    "alignment": "68 landmarks on the onset (MTCNN [13]), 224 x 224",
}
#: AMAN's code's settings as far as merlib's runner goes (Adam instead of RMSprop: the one departure; StepLR(30, 0.2)
#: as the code).
PAPER_TRAIN = TrainConfig(epochs=50, batch_size=4, lr=1e-3, weight_decay=1e-4, optimizer="adam", frames="all",
                          size=None, normalize=False, selection_metric="accuracy", num_threads=1,
                          lr_step=30, lr_gamma=0.2)
#: merlib's clean protocol: fixed epochs, the last epoch reported (policy "last"); sized for CPU runs.
#: ``normalize=True`` (merlib's choice): each feature element is standardised with the training subjects'
#: mean/std, because the stand-in's frozen random-init ResNet gives features of arbitrary scale that would
#: saturate the sigmoids of Eq. 5 / Eq. 8 (AMAN feeds its FER+ features raw).
CLEAN_TRAIN = TrainConfig(epochs=30, batch_size=16, lr=1e-3, weight_decay=1e-4, optimizer="adam", frames="all",
                          size=None, normalize=True, selection_metric="accuracy", num_threads=1)

#: Table 3's rows: which modules are kept. "FA only" sees a single factor (``single_amp``): the paper's
#: "single-magnification method"; "FA only (mean of factors)" averages all k factors with equal weights instead.
VARIANTS = {
    "MA+FA": {"ma": True, "fa": True, "single": False},
    "MA only": {"ma": True, "fa": False, "single": False},
    "FA only": {"ma": False, "fa": True, "single": True},
    "FA only (mean of factors)": {"ma": False, "fa": True, "single": False},
}


def default_cache_dir() -> str:
    import os

    return os.environ.get("MERLIB_AMAN_CACHE", "aman2022_features")


def make_stage(magnifier="oh2018", backbone="auto", tail: str = "none", until: str = "B4", pool: int = 2,
               init_seed: int = 0) -> AMANStage:
    """The frozen :class:`.pipeline.AMANStage`.

    Args:
        magnifier: ``"oh2018"`` (merlib's shipped CPU-trained network), a path (AMAN's
            ``learning_based_mag.pth.tar`` or any form :func:`merlib.magnify.load.load_magnifier` reads), or a module.
        backbone: ``"auto"`` -- AMAN's FER+ ResNet-18 when ``$MERLIB_AMAN_FERPLUS_RESNET18`` (or merlib's cache)
            has it, else a ResNet-18 from a fixed random initialisation (``init_seed``; ImageNet weights when
            torch's cache has them) -- the offline stand-in; or a backbone name / a path to the FER+ file / a module.
        tail, until, pool: :class:`.pipeline.AMANStage` (``"none"``: frozen up to ``until``, ``pool`` x ``pool``
            pooled; ``"layer4"``: layer-3 maps for a trainable layer 4, as AMAN's code).

    Raises:
        FileNotFoundError: ``$MERLIB_AMAN_FERPLUS_RESNET18`` names a file that does not exist (no silent fallback).
    """
    import warnings

    from merlib.magnify.load import load_magnifier
    from merlib.models import backbones

    if isinstance(magnifier, nn.Module):
        mag = magnifier
    elif isinstance(magnifier, str) and magnifier in ("oh2018",):
        mag = load_magnifier(magnifier, device="cpu")
    else:
        mag = load_magnifier(None, path=magnifier, device="cpu")
    if isinstance(backbone, nn.Module):
        bb = backbone
    else:
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore", backbones.PretrainedWeightsWarning)
            torch.manual_seed(int(init_seed))
            if backbone == "auto":
                path = backbones.ferplus_resnet18_weights_path()
                if path is not None and not Path(path).is_file():
                    raise FileNotFoundError(f"make_stage: ${backbones.FERPLUS_RESNET18_ENV} = {str(path)!r} does not exist")
                bb = (backbones.load("resnet18_ferplus", pretrained=str(path), device="cpu", input_size=None)
                      if path is not None else backbones.load("resnet18", device="cpu", input_size=None))
            elif backbone in backbones.available():
                bb = backbones.load(backbone, device="cpu", input_size=None)
            else:
                bb = backbones.load("resnet18_ferplus", pretrained=backbone, device="cpu", input_size=None)
    return AMANStage(mag, bb.eval(), tail=tail, until=until, pool=pool)


def make_bank(stage: AMANStage, n_max: int = TIM_LENGTH, k_max: int = 11, size: int = 64,
              tim_length: int = TIM_LENGTH, align: str = "dlib") -> FrozenFeatures:
    """The cached bank stage (one per configuration; reuse it across runs so its in-memory copy is shared)."""
    return FrozenFeatures(aman_bank, stage, version=BANK_VERSION,
                          params={"n_max": int(n_max), "k_max": int(k_max), "size": int(size),
                                  "tim_length": int(tim_length), "align": align})


@dataclass(frozen=True)
class SelectCells:
    """The task's ``samples`` hook: a bank item ``((n_max, K, ...), info)`` -> ``(1, n, k', ...)``.

    ``n`` first TIM frames; the first ``k`` factors (amp 1..k), or only ``single_amp`` when given (k' = 1).
    """

    n: int = N_FRAMES
    k: int = K_LEVELS
    single_amp: float | None = None
    version: str = "1"

    def __call__(self, item):
        bank = item[0] if isinstance(item, (tuple, list)) else item
        if self.n > bank.shape[0] or self.k > bank.shape[1]:
            raise ValueError(f"SelectCells: the bank holds {bank.shape[0]} frames x {bank.shape[1]} factors, "
                             f"the run asks for n={self.n}, k={self.k}")
        cells = bank[: self.n, : self.k]
        if self.single_amp is not None:
            i = amp_factors(self.k).index(float(self.single_amp))
            cells = cells[:, i:i + 1]
        return cells.unsqueeze(0)


@dataclass(frozen=True)
class AMANFactory:
    """``model_fn`` for :func:`merlib.eval.run`: ``(num_classes, (1, n, k, ...)) -> AMAN``.

    ``tail``: a trainable module copied into every fold's model (layer 4; ``None``: vectors in, their length
    ``D`` read from the input shape ``(n, k, D)``); ``tail_id`` names its weights in the run identity.
    """

    ma: bool = True
    fa: bool = True
    feature_dim: int = 512
    dropout: float = 0.0
    tail: nn.Module | None = None
    tail_id: str = ""
    version: str = "1"

    def __call__(self, num_classes: int, input_shape) -> AMAN:
        dim = int(input_shape[-1]) if self.tail is None else self.feature_dim
        return AMAN(num_classes, dim, tail=self.tail, magnification_attention=self.ma,
                    frame_attention=self.fa, dropout=self.dropout)


def make_task(bank: FrozenFeatures, n: int = N_FRAMES, k: int = K_LEVELS, single_amp: float | None = None) -> Task:
    """The :class:`Task` of one run: the shared bank and the cells of (n, k)."""
    return Task(features=bank, samples=SelectCells(int(n), int(k), single_amp))


def single_amp_default(k: int) -> float:
    """merlib's choice for "FA only": the middle factor of 1..k (5 for k = 9); the paper names none."""
    return float((k + 1) // 2)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(name))


def run_aman(dataset, bank: FrozenFeatures, n: int = N_FRAMES, k: int = K_LEVELS, variant: str = "MA+FA",
             train: TrainConfig = CLEAN_TRAIN, *, policy=("last", "oracle_test"), tail: nn.Module | None = None,
             single_amp: float | None = None, seed: int = 0, device="auto", cache=None, results_dir=None,
             progress: bool = False, name: str | None = None, keep_attention: bool = True, dropout: float = 0.0,
             on_fold_end=None):
    """One LOSO run of an AMAN variant (a cell of Tables 1-3 / a point of Fig. 3).

    Args:
        dataset: a merlib dataset (whole onset..offset clips are loaded: ``train.frames == "all"``).
        bank: :func:`make_bank`'s stage (its ``n_max``/``k_max`` must cover ``n``/``k``).
        variant: a key of :data:`VARIANTS`.
        policy: default ``("last", "oracle_test")``: merlib's clean result and AMAN's selection (OPTIMISTIC).
        tail: a trainable layer 4 (:func:`.model.resnet_layer4`) when the bank holds layer-3 maps.
        keep_attention: record every test clip's normalised MA weights ``alpha_ji / sum_i alpha_ji`` ``(n, k)``
            and FA weights ``beta_j / sum_j beta_j`` ``(n,)``
            (last-epoch fold model) in ``result.params["attention"]``.
        on_fold_end: ``fn(fold_name, model, record)`` after each trained fold, after AMAN's own bookkeeping
            (:func:`merlib.eval.run`'s hook; the board measures a fold model with it).

    Returns:
        ``{policy: Result}`` for a tuple policy, else one :class:`merlib.eval.Result`.
    """
    if variant not in VARIANTS:
        raise ValueError(f"run_aman: `variant` must be one of {list(VARIANTS)}, got {variant!r}")
    if train.frames != "all":
        raise ValueError("run_aman: `train.frames` must be 'all' (AMAN interpolates the onset..offset clip itself)")
    v = VARIANTS[variant]
    amp = (single_amp if single_amp is not None else single_amp_default(k)) if v["single"] else None
    task = make_task(bank, n, k, amp)
    from merlib.eval.cache import module_digest

    factory = AMANFactory(ma=v["ma"], fa=v["fa"], dropout=dropout, tail=tail,
                          tail_id=module_digest(tail) if tail is not None else "")
    attention: dict[int, dict] = {}
    losses: dict[str, list] = {}

    def on_epoch_end(fold_name, epoch, rec):
        losses.setdefault(str(fold_name), []).append(float(rec["train_loss"]))

    att_dir = Path(results_dir) / "attention" if results_dir is not None else None

    user_hook = on_fold_end

    def on_fold_end(fold_name, model, record):
        if keep_attention:
            _record_attention(fold_name, model, record)
        if user_hook is not None:
            user_hook(fold_name, model, record)

    # One clip's samples, read once per run and kept for every fold (merlib's choice, for speed: each read hashes
    # the clip's frame files for the cache key, and rereading the training clips for all 26 folds measured 55 s of a
    # 123 s standard run; the samples do not depend on the fold).
    samples: dict[int, torch.Tensor] = {}
    feature_inputs = []

    def sample(i: int) -> torch.Tensor:
        if i not in samples:
            if not feature_inputs:
                feature_inputs.append(FeatureInputs(dataset, train.frames, train.size, None, None, cache, "cpu",
                                                    features=task.features))
            samples[i] = task.make_samples(feature_inputs[0].get(i))[0]
        return samples[i]

    def _record_attention(fold_name, model, record):
        model.eval()
        got = {}
        dev = next(model.parameters()).device
        test = [int(i) for i in record["test_idx"]]
        mean = std = None
        if train.normalize:  # the runner's standardisation: statistics of this fold's training samples
            if int(record.get("n_val", 0)):
                raise ValueError("run_aman: keep_attention with normalize needs a policy without validation subjects")
            held = set(test)
            x_tr = torch.cat([sample(j) for j in range(len(dataset.clips)) if j not in held])
            mean = x_tr.mean(0, keepdim=True)
            std = x_tr.std(0, unbiased=False, keepdim=True).clamp_min(1e-6)
        with torch.no_grad():
            for i in test:
                x = sample(i)
                if mean is not None:
                    x = (x - mean) / std
                out = model(x.to(dev))
                got[int(i)] = {"alpha": out["alpha_norm"][0].cpu().tolist(), "beta": out["beta_norm"][0].cpu().tolist()}
        attention.update(got)
        if att_dir is not None:
            from merlib.results import atomic_write_json
            atomic_write_json(att_dir / f"{_safe(fold_name)}.json", {str(a): b for a, b in got.items()})

    params = {"variant": variant, "n": int(n), "k": int(k), "amps": amp_factors(k) if amp is None else [amp],
              "tail": "layer4" if tail is not None else "none"}
    res = run(factory, dataset, "loso", train, policy=policy, seed=seed, device=device, cache=cache,
              results_dir=results_dir, progress=progress, name=name or f"AMAN[{variant}, n={n}, k={k}]",
              params=params, task=task, on_fold_end=on_fold_end, on_epoch_end=on_epoch_end)
    if results_dir is not None and (Path(results_dir) / "folds").is_dir():  # folds finished in an earlier session
        for f in sorted((Path(results_dir) / "folds").glob("*.json")):
            with open(f) as fh:
                rec = json.load(fh)
            losses[str(rec["fold"])] = [float(h["train_loss"]) for h in rec["history"]]
    if keep_attention and att_dir is not None and att_dir.is_dir():
        for f in sorted(att_dir.glob("*.json")):
            with open(f) as fh:
                for a, b in json.load(fh).items():
                    attention.setdefault(int(a), b)
    for r in (res.values() if isinstance(res, dict) else [res]):
        r.params["train_loss"] = {k: list(v) for k, v in sorted(losses.items())}
        if keep_attention:
            r.params["attention"] = {int(a): b for a, b in sorted(attention.items())}
    return res


def train_losses(result) -> dict[str, list]:
    """``{fold: [training loss per epoch]}`` recorded by :func:`run_aman` (the training subjects' loss)."""
    return {str(k): [float(x) for x in v] for k, v in result.params.get("train_loss", {}).items()}


def attention_of(result) -> dict[int, dict]:
    """``{clip index: {"alpha": (n, k) array, "beta": (n,) array}}`` recorded by :func:`run_aman` (normalised:
    each row of ``alpha`` and ``beta`` sums to 1)."""
    return {int(i): {"alpha": np.asarray(a["alpha"], dtype=np.float64), "beta": np.asarray(a["beta"], dtype=np.float64)}
            for i, a in result.params.get("attention", {}).items()}


def expected_factor(alpha, beta, amps) -> float:
    """MA's expected factor of a clip: ``sum_j b_j sum_i a_ji amp_i`` with ``a_ji = alpha_ji / sum_i alpha_ji``
    (Eq. 7's normalised weights) and ``b_j = beta_j / sum_j beta_j`` (Eq. 10's)."""
    a = np.asarray(alpha, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    amps = np.asarray(amps, dtype=np.float64)
    if a.ndim != 2 or a.shape != (b.shape[0], amps.shape[0]):
        raise ValueError(f"expected_factor: alpha (n, k), beta (n,), amps (k,); got {a.shape}, {b.shape}, {amps.shape}")
    per_frame = (a / a.sum(1, keepdims=True)) @ amps
    return float((b / b.sum()) @ per_frame)


def intensity_table(dataset, result, root=None) -> pd.DataFrame:
    """Per test clip: subject, the renderer's subject intensity scale and clip intensity (synthetic data only),
    MA's expected factor, and whether the clip was classified correctly.

    ``clip_intensity`` = subject intensity x mean AU intensity of the clip (what the renderer moves by at the apex).
    """
    from merlib.data import synthetic

    att = attention_of(result)
    amps = result.params["amps"]
    pred = result.predictions.set_index("index")
    rows = []
    for i, a in sorted(att.items()):
        row = dataset.clips.iloc[int(i)]
        r = Path(str(row["path"])).parents[2] if root is None else Path(root)
        spec = synthetic.load_spec(r, str(row["subject"]), str(row["clip"]))
        au = float(np.mean([x.intensity for x in spec.aus])) if spec.aus else 1.0
        rows.append({"index": int(i), "subject": str(row["subject"]), "label": int(row["label"]),
                     "subject_intensity": float(spec.subject_intensity),
                     "clip_intensity": float(spec.subject_intensity) * au,
                     "expected_factor": expected_factor(a["alpha"], a["beta"], amps),
                     "correct": bool(pred.loc[int(i), "y_true"] == pred.loc[int(i), "y_pred"])})
    return pd.DataFrame(rows).set_index("index")


def metric_ci(result, metric: str = "accuracy", n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict:
    """Percentile bootstrap **over subjects** of a result's pooled ``metric``
    (:func:`merlib.eval.significance.bootstrap_ci`): ``{"value", "ci_low", "ci_high", ...}``."""
    from merlib.eval.significance import bootstrap_ci

    return bootstrap_ci(result, metric, n_boot=n_boot, seed=seed, confidence=confidence, by="subject")


def paired_subject_bootstrap(result_a, result_b, metric: str = "accuracy", n_boot: int = 1000, seed: int = 0,
                             confidence: float = 0.95) -> dict:
    """``metric(b) - metric(a)`` on the same clips, whole subjects resampled (the same resample for both;
    :func:`merlib.eval.significance.paired_bootstrap` with ``by="subject"``):
    ``{"diff", "ci_low", "ci_high", "pvalue", ...}``."""
    from merlib.eval.significance import paired_bootstrap

    return paired_bootstrap(result_a, result_b, metric, n_boot=n_boot, seed=seed, confidence=confidence, by="subject")


def summary_table(results: dict, baseline: str | None = None, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per result: fold-mean and pooled accuracy, pooled UF1 (95 % CIs over subjects), the policy (with
    merlib's OPTIMISTIC label), and against ``baseline``: the paired difference of accuracy (subject bootstrap CI)
    and McNemar's exact p. Values are fractions."""
    from merlib.eval.policy import policy_label
    from merlib.eval.significance import mcnemar

    rows = []
    for name, r in results.items():
        m = r.metrics
        row = {"row": name, "policy": policy_label(r.policy), "fold_mean_accuracy": m["fold_mean_accuracy"]}
        for met in ("accuracy", "uf1"):
            ci = metric_ci(r, met, n_boot=n_boot, seed=seed)
            row.update({f"pooled_{met}": ci["value"], f"{met}_ci_low": ci["ci_low"], f"{met}_ci_high": ci["ci_high"],
                        f"{met}_ci": f"[{ci['ci_low']:.3f}, {ci['ci_high']:.3f}]"})
        if baseline is not None and name != baseline:
            pb = paired_subject_bootstrap(results[baseline], r, "accuracy", n_boot=n_boot, seed=seed)
            row.update({f"d_accuracy_vs_{baseline}": pb["diff"], "d_accuracy_ci_low": pb["ci_low"],
                        "d_accuracy_ci_high": pb["ci_high"], "d_accuracy_ci": f"[{pb['ci_low']:+.3f}, {pb['ci_high']:+.3f}]",
                        "d_accuracy_p": pb["pvalue"], "mcnemar_p": mcnemar(results[baseline], r)["pvalue"]})
        rows.append(row)
    return pd.DataFrame(rows).set_index("row")


def spearman_ci(table: pd.DataFrame, x: str, y: str, group: str = "subject", n_boot: int = 1000, seed: int = 0,
                confidence: float = 0.95) -> dict:
    """Spearman's rho of ``table[x]`` and ``table[y]`` (``scipy.stats.spearmanr``) with a percentile bootstrap CI
    over ``group`` (subjects resampled with replacement, all their rows kept). Resamples where either column is
    constant are skipped. Returns ``{"rho", "pvalue", "ci_low", "ci_high", "n", "n_groups"}``."""
    from scipy.stats import spearmanr

    a, b = table[x].to_numpy(np.float64), table[y].to_numpy(np.float64)
    g = table[group].astype(str).to_numpy()
    res = spearmanr(a, b)
    boots = []
    from merlib.eval.significance import resample_indices

    for ix in resample_indices(g, n_boot, seed, by="subject"):
        if np.ptp(a[ix]) > 0 and np.ptp(b[ix]) > 0:
            boots.append(spearmanr(a[ix], b[ix]).statistic)
    lo, hi = (np.quantile(boots, [(1 - confidence) / 2, 1 - (1 - confidence) / 2]) if boots else (np.nan, np.nan))
    return {"rho": float(res.statistic), "pvalue": float(res.pvalue), "ci_low": float(lo), "ci_high": float(hi),
            "n": int(len(a)), "n_groups": int(len(np.unique(g)))}
