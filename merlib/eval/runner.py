"""Train one model per fold, predict the test subject, score the pooled predictions.

``merlib.eval.run(model_fn, dataset, protocol, train_cfg)`` is the one training loop of merlib:

* inputs come from :class:`merlib.eval.pipeline.ClipInputs` (key frames -> preprocessing, e.g.
  magnification -> optional frozen backbone), cached on disk when a :class:`~merlib.eval.Cache` is given;
* normalisation statistics are fitted on the fold's training clips only;
* each fold's seed is derived from the base seed and the fold's name (:func:`derive_seed`), so a
  fold gives the same numbers whether it runs first, last, alone, in another process or after a resume;
* the epoch-selection ``policy`` (``last`` | ``inner_val`` | ``oracle_test``) is recorded with the result;
* with ``results_dir``, every finished fold is written atomically (JSON) and the fold in progress is
  checkpointed after every epoch (``torch.save`` + ``os.replace``; model, optimiser, scaler and RNG
  states), so a killed run resumes at the epoch it stopped and ends with identical numbers;
* mixed precision (``torch.autocast`` + ``GradScaler``) on CUDA, plain float32 on CPU;
* an optional :class:`~merlib.eval.task.Task` plugs in what a paper needs beyond "one tensor per clip,
  one cross-entropy": frozen-feature caches of any shape, several samples per clip (e.g. N-frame
  segments) with clip-level aggregation of their predictions, several views per sample, several
  weighted losses. Seeds, resume, AMP and the policies above hold for every task by construction;
* ``policy=("last", "oracle_test")`` scores both from one training run (the OPTIMISTIC one labelled).

Randomness per fold: the global torch RNG is seeded with the fold seed before the model is built and
again right after (so dropout and any other training-time randomness do not depend on how many random
numbers the model's initialisation drew); batches are shuffled by a generator seeded with the fold seed.
"""
from __future__ import annotations

import inspect
import math
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from merlib.eval import metrics as M
from merlib.eval.cache import Cache, fn_identity, key_of
from merlib.eval.pipeline import ClipInputs, Step
from merlib.eval.policy import check_policy, select_epoch
from merlib.eval.protocols import Fold, get_folds, inner_split
from merlib.eval.result import Result
from merlib.eval.seeds import derive_seed
from merlib.eval.task import FeatureInputs, Task, aggregate_samples, as_views, logits_of
from merlib.results import atomic_torch_save

__all__ = ["TrainConfig", "run", "run_fold", "FoldJob", "linear_head", "mlp_head", "RunInterrupted"]

_SELECTION = {"uf1": M.uf1, "uar": M.uar, "accuracy": M.accuracy, "cmnet_f1": M.cmnet_f1}


class RunInterrupted(RuntimeError):
    """Raised by an ``on_epoch_end`` hook to stop a run (what tests use to simulate a kill)."""


@dataclass(frozen=True)
class TrainConfig:
    """How each fold's model is trained.

    Attributes:
        epochs: fixed number of epochs (``policy="last"`` reports the last one).
        batch_size, lr, weight_decay: the usual.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (with ``momentum``).
        frames: which frames of each clip are loaded (``"all"``, ``"apex"``, ``"onset_apex"``,
            ``"onset_apex_offset"`` or an int N evenly spaced from onset to offset).
        size: frames are resized to ``size × size`` when loaded (``None``: as stored).
        normalize: standardise each input element with mean/std of the fold's *training* clips (floating-point
            views only; an integer view, e.g. CMNet's apex positions, is passed unchanged).
        n_val_subjects: validation subjects carved from the training subjects (``inner_val``).
        selection_metric: what ``inner_val`` / ``oracle_test`` maximise: ``uf1``, ``uar``,
            ``accuracy`` or ``cmnet_f1``.
        amp: mixed precision: ``"auto"`` (on CUDA only), ``True`` or ``False``.
        class_weighted: weight the cross-entropy by inverse class frequency of the training clips.
        num_threads: torch CPU threads while a fold runs (``None``: leave as is). Float sums depend
            on it, so sweeps set it to the same value in every executor.
        eval_batch_size: batch size of prediction passes (``None``: ``batch_size``).
        lr_step: step learning-rate schedule: every ``lr_step`` epochs the learning rate is multiplied by
            ``lr_gamma`` (epoch ``e`` trains at ``lr · lr_gamma ** (e // lr_step)``, as
            ``torch.optim.lr_scheduler.StepLR`` stepped once per epoch); ``None``: constant ``lr``. Set from
            the epoch number, so a resumed fold continues on the same schedule.
        lr_gamma: the factor of ``lr_step`` (e.g. CMNet's "reduces by half every 50 epochs": 50, 0.5).
        fused: Adam / AdamW with ``fused=True`` (one kernel over all parameters instead of PyTorch's default
            for-each steps; same algorithm, float rounding differs). On CPU it is several times faster for models
            whose step is dominated by a few large weight matrices (MMFRN's standard model: 68 -> 11 ms per
            optimiser step, see :mod:`merlib.papers.mmfrn2022.experiment`). Ignored by SGD.
    """

    epochs: int = 20
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    momentum: float = 0.9
    frames: Any = "onset_apex"
    size: int | None = 64
    normalize: bool = True
    n_val_subjects: int = 1
    selection_metric: str = "uf1"
    amp: Any = "auto"
    class_weighted: bool = False
    num_threads: int | None = None
    eval_batch_size: int | None = None
    lr_step: int | None = None
    lr_gamma: float = 0.5
    fused: bool = False

    def __post_init__(self):
        def bad(name, want):
            raise ValueError(f"TrainConfig: `{name}` must be {want}, got {getattr(self, name)!r}")
        for name in ("epochs", "batch_size", "n_val_subjects"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                bad(name, "a positive int")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            bad("lr", "a positive number")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            bad("optimizer", "'adam', 'adamw' or 'sgd'")
        if self.selection_metric not in _SELECTION:
            bad("selection_metric", f"one of {sorted(_SELECTION)}")
        if not isinstance(self.fused, bool):
            bad("fused", "True or False")
        if self.amp not in ("auto", True, False):
            bad("amp", "'auto', True or False")
        if not (isinstance(self.lr_gamma, (int, float)) and not isinstance(self.lr_gamma, bool)
                and 0 < self.lr_gamma <= 1):
            bad("lr_gamma", "a number in (0, 1]")
        for name in ("num_threads", "eval_batch_size", "lr_step"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                bad(name, "None or a positive int")


def linear_head(num_classes: int, input_shape: tuple) -> nn.Module:
    """A linear classifier on the flattened input (``model_fn`` for frozen-backbone features)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), num_classes))


def mlp_head(num_classes: int, input_shape: tuple, hidden: int = 64, dropout: float = 0.0) -> nn.Module:
    """Flatten -> Linear(hidden) -> ReLU -> Dropout -> Linear(num_classes)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), hidden), nn.ReLU(),
                         nn.Dropout(dropout), nn.Linear(hidden, num_classes))


def _build_model(model_fn: Callable, num_classes: int, input_shape: tuple) -> nn.Module:
    try:
        n_params = len(inspect.signature(model_fn).parameters)
    except (TypeError, ValueError):
        n_params = 2
    model = model_fn(num_classes, input_shape) if n_params >= 2 else model_fn(num_classes)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model_fn must return a torch.nn.Module, got {type(model).__name__}")
    return model


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))


@dataclass
class FoldJob:
    """Everything one fold needs; picklable, so process pools and Ray can run :func:`run_fold`."""

    dataset: Any
    fold: Fold
    model_fn: Callable
    cfg: TrainConfig
    policy: Any = "last"
    seed: int = 0
    device: Any = "auto"
    preprocess: Step | None = None
    backbone: nn.Module | None = None
    cache: Cache | None = None
    fold_path: str | None = None
    ckpt_path: str | None = None
    params: dict = field(default_factory=dict)
    fingerprints: list | None = None
    task: Task | None = None


def _policies(policy) -> tuple[str, ...]:
    """``policy`` (a name or a sequence of names) as a checked tuple; ``inner_val`` trains on fewer
    subjects, so it cannot share a training run with another policy."""
    pols = (policy,) if isinstance(policy, str) else tuple(policy)
    if not pols:
        raise ValueError("run: `policy` is empty")
    for p in pols:
        check_policy(p)
    if len(set(pols)) != len(pols):
        raise ValueError(f"run: `policy` lists a policy twice: {pols}")
    if "inner_val" in pols and len(pols) > 1:
        raise ValueError("run: policy 'inner_val' trains on fewer subjects and cannot be combined with another policy")
    return pols


def _optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=cfg.fused or None)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=cfg.fused or None)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


@torch.no_grad()
def _predict(model, views, owner, batch_size, dev, use_amp, aggregate="mean_prob") -> torch.Tensor:
    """Clip scores ``(n_clips, K)`` from the samples ``views`` (each ``(S, ...)``) of clips ``owner`` (S,)."""
    model.eval()
    n = int(views[0].shape[0])
    out = []
    for s in range(0, n, batch_size):
        xb = tuple(v[s:s + batch_size].to(dev) for v in views)
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=use_amp):
            out.append(logits_of(model(*xb)).float().cpu())
    if not out:
        return torch.zeros(0)
    return aggregate_samples(torch.cat(out), owner, aggregate)[1]


def _fold_samples(task: Task, items: list) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Every clip's samples, concatenated: ``(views, owner)``; ``owner[s]`` is the position in ``items``."""
    per_clip = [task.make_samples(it) for it in items]
    if not per_clip:
        return (), torch.zeros(0, dtype=torch.long)
    n_views = {len(v) for v in per_clip}
    if len(n_views) != 1:
        raise ValueError(f"run: clips give different numbers of views {sorted(n_views)}")
    views = []
    for j in range(n_views.pop()):
        parts = [v[j] for v in per_clip]
        shapes = {tuple(p.shape[1:]) for p in parts}
        if len(shapes) > 1:
            raise ValueError(f"run: samples of view {j} have different shapes {sorted(shapes)}; the task's "
                             "`samples` must give every clip's samples one shape (e.g. N-frame segments)")
        views.append(torch.cat(parts))
    owner = torch.cat([torch.full((int(v[0].shape[0]),), j, dtype=torch.long) for j, v in enumerate(per_clip)])
    return tuple(views), owner


def _split(x, n_tr, n_va):
    return x[:n_tr], x[n_tr:n_tr + n_va], x[n_tr + n_va:]


def run_fold(job: FoldJob, on_epoch_end: Callable | None = None, progress: bool = False,
             on_fold_end: Callable | None = None) -> dict:
    """Train and test one fold; returns a plain dict (what goes into the fold's JSON).

    If ``job.fold_path`` exists the fold is done and its record is returned as is; if
    ``job.ckpt_path`` exists training continues from it. ``on_fold_end(fold_name, model, record)`` is
    called with the trained model (not for a fold read back from disk).
    """
    import json

    from tqdm.auto import tqdm

    from merlib.env import device as resolve_device
    from merlib.results import atomic_write_json, to_jsonable

    if job.fold_path and os.path.exists(job.fold_path):
        with open(job.fold_path) as fh:
            return json.load(fh)
    t0 = time.perf_counter()
    old_threads = torch.get_num_threads()
    if job.cfg.num_threads:
        torch.set_num_threads(job.cfg.num_threads)
    try:
        cfg, ds, task = job.cfg, job.dataset, job.task
        pols = _policies(job.policy)
        dev = resolve_device(job.device)
        use_amp = dev.type == "cuda" and cfg.amp in ("auto", True)
        eval_bs = cfg.eval_batch_size or cfg.batch_size
        fold = job.fold
        if "inner_val" in pols:
            fold = inner_split(ds.clips, fold, cfg.n_val_subjects, seed=job.seed)
        labels = ds.clips["label"].to_numpy().astype(np.int64)
        k = int(ds.num_classes)
        t_in = time.perf_counter()
        idx = np.concatenate([fold.train_idx, fold.val_idx, fold.test_idx])
        n_tr, n_va = len(fold.train_idx), len(fold.val_idx)
        if task is None:  # one fixed-shape input per clip
            inputs = ClipInputs(ds, cfg.frames, cfg.size, job.preprocess, job.backbone, job.cache, dev,
                                fingerprints=job.fingerprints)
            x_all = inputs.stack(idx, progress=progress, desc=f"inputs {fold.name}")
            x_tr, x_va, x_te = _split(x_all, n_tr, n_va)
            v_tr, v_va, v_te = (x_tr,), (x_va,), (x_te,)
            own_tr, own_va, own_te = (torch.arange(len(x)) for x in (x_tr, x_va, x_te))
            aggregate = "mean_prob"
        else:
            inputs = FeatureInputs(ds, cfg.frames, cfg.size, job.preprocess, job.backbone, job.cache, dev,
                                   fingerprints=job.fingerprints, features=task.features)
            items = inputs.items(idx, progress=progress, desc=f"inputs {fold.name}")
            (v_tr, own_tr), (v_va, own_va), (v_te, own_te) = (
                _fold_samples(task, part) for part in _split(items, n_tr, n_va))
            del items
            aggregate = task.aggregate
        t_in = time.perf_counter() - t_in
        y_tr = torch.as_tensor(labels[fold.train_idx])[own_tr]           # each sample carries its clip's label
        y_va, y_te = labels[fold.val_idx], labels[fold.test_idx]
        if cfg.normalize:  # statistics of the training samples only, per floating-point view (indices stay)
            stats = [(x.mean(0, keepdim=True), x.std(0, unbiased=False, keepdim=True).clamp_min(1e-6))
                     if x.is_floating_point() else None for x in v_tr]
            v_tr, v_va, v_te = (tuple(x if st is None else (x - st[0]) / st[1] for x, st in zip(v, stats)) if v else v
                                for v in (v_tr, v_va, v_te))
        fold_seed = derive_seed(job.seed, fold.name)
        torch.manual_seed(fold_seed)
        shapes = [tuple(x.shape[1:]) for x in v_tr]
        model = _build_model(job.model_fn, k, shapes[0] if len(shapes) == 1 else tuple(shapes)).to(dev)
        opt = _optimizer(cfg, [p for p in model.parameters() if p.requires_grad])
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        gen = torch.Generator().manual_seed(fold_seed)
        torch.manual_seed(fold_seed)  # training-time randomness independent of the model's initialisation
        weight = None
        if cfg.class_weighted:  # inverse frequency of the training samples' classes
            counts = torch.bincount(y_tr, minlength=k).float()
            weight = torch.where(counts > 0, counts.sum() / (k * counts.clamp_min(1)), torch.zeros_like(counts)).to(dev)
        terms = (task or Task()).loss_terms()
        score_fn = _SELECTION[cfg.selection_metric]
        history: list[dict] = []
        best = {"epoch": -1, "score": -math.inf, "state": None}
        oracle_probs: list[torch.Tensor] = []
        start = 0
        if job.ckpt_path and os.path.exists(job.ckpt_path):
            ck = torch.load(job.ckpt_path, map_location="cpu", weights_only=True)
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            scaler.load_state_dict(ck["scaler"])
            gen.set_state(ck["generator"])
            torch.set_rng_state(ck["torch_rng"])
            if torch.cuda.is_available() and ck.get("cuda_rng") is not None:
                torch.cuda.set_rng_state_all(ck["cuda_rng"])
            history, best, oracle_probs = ck["history"], ck["best"], ck["oracle_probs"]
            start = int(ck["epoch"]) + 1
        n_samples = int(v_tr[0].shape[0])
        v_tr_dev, y_tr_dev = tuple(x.to(dev) for x in v_tr), y_tr.to(dev)
        epochs = tqdm(range(start, cfg.epochs), desc=f"fold {fold.name}", disable=not progress, leave=False,
                      initial=start, total=cfg.epochs)
        for epoch in epochs:
            if cfg.lr_step is not None:
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * cfg.lr_gamma ** (epoch // cfg.lr_step)
            model.train()
            perm = torch.randperm(n_samples, generator=gen)
            total, seen = 0.0, 0
            parts = {name: 0.0 for name in terms}
            info = {"class_weight": weight, "num_classes": k, "epoch": epoch}
            for s in range(0, n_samples, cfg.batch_size):
                b = perm[s:s + cfg.batch_size].to(dev)
                xb = tuple(x[b] for x in v_tr_dev)
                info["views"] = xb
                with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=use_amp):
                    out = model(*xb)
                values = {name: term(out, y_tr_dev[b], info) for name, term in terms.items()}
                if len(values) == 1:
                    (name, v), = values.items()
                    loss = v if terms[name].weight == 1.0 else terms[name].weight * v
                else:
                    loss = sum(terms[name].weight * v for name, v in values.items())
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                total += float(loss.detach()) * len(b)
                seen += len(b)
                for name, v in values.items():
                    parts[name] += float(v.detach()) * len(b)
            rec = {"epoch": epoch, "train_loss": total / max(seen, 1)}
            if cfg.lr_step is not None:
                rec["lr"] = opt.param_groups[0]["lr"]
            if len(terms) > 1:
                rec.update({f"train_loss:{name}": v / max(seen, 1) for name, v in parts.items()})
            if "inner_val" in pols:
                pv = _predict(model, v_va, own_va, eval_bs, dev, use_amp, aggregate)
                rec["val_score"] = score_fn(y_va, pv.argmax(1).numpy(), k)
                if rec["val_score"] > best["score"]:
                    best = {"epoch": epoch, "score": rec["val_score"],
                            "state": {n: v.detach().cpu().clone() for n, v in model.state_dict().items()}}
            elif "oracle_test" in pols:  # looks at the test subject: optimistic by design
                pt = _predict(model, v_te, own_te, eval_bs, dev, use_amp, aggregate)
                rec["test_score"] = score_fn(y_te, pt.argmax(1).numpy(), k)
                oracle_probs.append(pt)
            history.append(rec)
            if job.ckpt_path:
                atomic_torch_save({
                    "epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scaler": scaler.state_dict(), "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                    "history": history, "best": best, "oracle_probs": oracle_probs}, job.ckpt_path)
            if on_epoch_end is not None:
                on_epoch_end(fold.name, epoch, rec)
        chosen = {}
        for pol in pols:
            if pol == "last":
                chosen[pol] = (cfg.epochs - 1, _predict(model, v_te, own_te, eval_bs, dev, use_amp, aggregate))
            elif pol == "inner_val":
                model.load_state_dict(best["state"])
                chosen[pol] = (int(best["epoch"]), _predict(model, v_te, own_te, eval_bs, dev, use_amp, aggregate))
            else:
                sel = select_epoch([h["test_score"] for h in history])
                chosen[pol] = (sel, oracle_probs[sel])
        selected, probs = chosen[pols[0]]
        y_pred = probs.argmax(1).numpy()
        record = {
            "fold": fold.name, "test_subjects": list(fold.test_subjects), "test_idx": fold.test_idx,
            "n_train": n_tr, "n_val": n_va, "n_test": len(fold.test_idx), "val_subjects":
            sorted(set(ds.clips["subject"].astype(str).to_numpy()[fold.val_idx])),
            "fold_seed": fold_seed, "selected_epoch": selected, "y_true": y_te, "y_pred": y_pred,
            "probs": probs.numpy().tolist(), "history": history,
            "seconds": time.perf_counter() - t0,
            "seconds_inputs": t_in, "resumed_from_epoch": start if start else None,
            "device": str(dev), "amp": use_amp,
        }
        if task is not None:
            record["n_train_samples"] = n_samples
            record["n_test_samples"] = int(v_te[0].shape[0])
        if len(pols) > 1:
            record["by_policy"] = {p: {"selected_epoch": e, "probs": pr.numpy().tolist(),
                                       "y_pred": pr.argmax(1).numpy()} for p, (e, pr) in chosen.items()}
        record = to_jsonable(record)
        if job.fold_path:
            atomic_write_json(job.fold_path, record)
        if job.ckpt_path and os.path.exists(job.ckpt_path):
            os.unlink(job.ckpt_path)
        if on_fold_end is not None:
            on_fold_end(fold.name, model, record)
        return record
    finally:
        torch.set_num_threads(old_threads)


def _dataset_identity(dataset) -> dict:
    c = dataset.clips
    cols = [x for x in ("dataset", "subject", "clip", "label") if x in c.columns]
    out = {"name": str(getattr(dataset, "name", "?")), "n": len(c),
           "clips": key_of(c[cols].astype(str).to_numpy().tolist())}
    # a licensed copy's frames (face crops or uncropped: merlib.data.load_dataset(frames=...)) belong
    # to what a result was computed on; recorded in Result.config["identity"]["dataset"]["frames"]
    kind = getattr(dataset, "frames_kind", None)
    if kind in ("cropped", "raw"):
        out["frames"] = kind
    return out


#: TrainConfig fields added after runs were recorded: left out of a run's identity while at their default,
#: so a results_dir written before they existed still resumes.
_LATE_FIELDS = {"eval_batch_size": None, "lr_step": None, "lr_gamma": 0.5, "fused": False}


def _run_identity(model_fn, dataset, folds, cfg, policy, seed, preprocess, backbone, params, task=None) -> dict:
    from merlib.eval.cache import module_digest
    from merlib.eval.task import hook_identity

    conf = {k: v for k, v in asdict(cfg).items()
            if k != "num_threads" and not (k in _LATE_FIELDS and v == _LATE_FIELDS[k])}
    ident = {"dataset": _dataset_identity(dataset), "folds": [f.name for f in folds],
             "cfg": conf, "policy": policy if isinstance(policy, str) else list(policy), "seed": seed,
             "model_fn": hook_identity(model_fn), "preprocess": None if preprocess is None else preprocess.identity(),
             "backbone": None if backbone is None else module_digest(backbone), "params": params}
    if task is not None:
        ident["task"] = task.identity()
    return ident


def _prepare_dir(results_dir, identity: dict, resume: bool) -> Path | None:
    import json

    from merlib.results import atomic_write_json

    if results_dir is None:
        return None
    d = Path(results_dir)
    marker = d / "run.json"
    key = key_of(identity)
    if d.exists() and not resume:
        for sub in ("folds", "checkpoints"):
            shutil.rmtree(d / sub, ignore_errors=True)
        for f in ["run.json", "result.json", *(p.name for p in d.glob("result_*.json"))]:
            (d / f).unlink(missing_ok=True)
    if marker.exists():
        with open(marker) as fh:
            old = json.load(fh).get("key")
        if old != key:
            raise ValueError(f"results_dir {str(d)!r} holds a different run (configuration changed); "
                             "use another folder or resume=False to start over")
    else:
        atomic_write_json(marker, {"key": key, "identity": identity})
    return d


def _fingerprints(dataset, cache) -> list | None:
    """Every clip's fingerprint, once per run/sweep (only needed with a cache)."""
    if cache is None or not cache.enabled:
        return None
    from merlib.eval.cache import clip_fingerprint

    return [clip_fingerprint(dataset, i) for i in range(len(dataset.clips))]


def _make_jobs(model_fn, dataset, folds, cfg, policy, seed, device, preprocess, backbone, cache, rdir, params,
               fingerprints=None, task=None):
    jobs = []
    for f in folds:
        fp = str(rdir / "folds" / f"{_safe(f.name)}.json") if rdir else None
        cp = str(rdir / "checkpoints" / f"{_safe(f.name)}.pt") if rdir else None
        jobs.append(FoldJob(dataset=dataset, fold=f, model_fn=model_fn, cfg=cfg, policy=policy, seed=seed,
                            device=device, preprocess=preprocess, backbone=backbone, cache=cache,
                            fold_path=fp, ckpt_path=cp, params=dict(params or {}), fingerprints=fingerprints,
                            task=task))
    return jobs


def _assemble(name, dataset, records, policy, cfg, identity, params, seconds) -> Result:
    import pandas as pd

    from merlib.env import environment

    clips = dataset.clips
    k = int(dataset.num_classes)
    rows, fold_rows = [], []
    for r in records:
        if "by_policy" in r:  # one training run scored under several policies
            r = {**r, **r["by_policy"][policy]}
        probs = np.asarray(r["probs"], dtype=np.float64).reshape(len(r["test_idx"]), k)
        for j, i in enumerate(r["test_idx"]):
            c = clips.iloc[int(i)]
            row = {"index": int(i), "dataset": str(c.get("dataset", getattr(dataset, "name", "?"))),
                   "subject": str(c["subject"]), "clip": str(c.get("clip", i)), "fold": r["fold"],
                   "y_true": int(r["y_true"][j]), "y_pred": int(r["y_pred"][j]), "epoch": int(r["selected_epoch"])}
            row.update({f"p{q}": float(probs[j, q]) for q in range(k)})
            rows.append(row)
        fm = {m: M.__dict__[m](r["y_true"], r["y_pred"], k) for m in M.FOLD_METRICS}
        extra = {c: r[c] for c in ("n_train_samples", "n_test_samples") if c in r}
        fold_rows.append({"fold": r["fold"], "test_subjects": ",".join(r["test_subjects"]), "n_train": r["n_train"],
                          "n_val": r["n_val"], "n_test": r["n_test"], **extra, "selected_epoch": r["selected_epoch"],
                          "fold_seed": r["fold_seed"], "seconds": r["seconds"], **fm})
    pred = pd.DataFrame(rows)
    metrics = M.summarize(pred["y_true"].to_numpy(), pred["y_pred"].to_numpy(), k, folds=pred["fold"].tolist())
    return Result(name=name, predictions=pred, folds=pd.DataFrame(fold_rows), metrics=metrics, policy=policy,
                  num_classes=k, class_names=list(getattr(dataset, "class_names", range(k))),
                  config={"train": asdict(cfg), "identity": identity}, params=dict(params or {}),
                  environment=environment(), timings={"total_seconds": seconds,
                                                      "fold_seconds": [r["seconds"] for r in records]})


def _check_dataset(dataset, where="run") -> None:
    for attr in ("clips", "num_classes", "frames"):
        if not hasattr(dataset, attr):
            raise ValueError(f"{where}: `dataset` must provide .clips, .num_classes and .frames(i, indices, size) "
                             f"(a merlib dataset); missing .{attr}")
    if "label" not in dataset.clips.columns:
        raise ValueError(f"{where}: dataset.clips has no 'label' column")


def run(model_fn: Callable, dataset, protocol="loso", train_cfg: TrainConfig | None = None, *,
        preprocess: Step | Callable | None = None, backbone: nn.Module | None = None, policy="last",
        seed: int = 0, device="auto", cache: Cache | None = None, results_dir: str | os.PathLike | None = None,
        resume: bool = True, progress: bool = True, name: str | None = None,
        on_epoch_end: Callable | None = None, params: dict | None = None, task: Task | None = None,
        on_fold_end: Callable | None = None):
    """Evaluate ``model_fn`` on ``dataset`` under ``protocol``; one model per fold.

    Args:
        model_fn: ``model_fn(num_classes, input_shape) -> nn.Module`` mapping a batch
            ``(B, *input_shape)`` to logits ``(B, num_classes)`` (e.g. :func:`linear_head`); with several
            views ``input_shape`` is a tuple of shapes and the model is called as ``model(*views)``; it may
            return a dict with ``"logits"`` (and whatever the task's losses read).
        dataset: a merlib dataset (``.clips``, ``.num_classes``, ``.class_names``, ``.frames``).
        protocol: ``"loso"``, ``"composite"``, a list of :class:`Fold` or ``fn(clips) -> folds``.
        train_cfg: a :class:`TrainConfig` (default values when ``None``).
        preprocess: a :class:`Step` applied to each clip ``(T, C, H, W)`` (e.g. magnification).
        backbone: a frozen feature extractor applied to the preprocessed clip (cached per clip).
        policy: ``"last"`` (default), ``"inner_val"`` or ``"oracle_test"`` (optimistic; labelled so), or a
            tuple such as ``("last", "oracle_test")``: one training run, one result per policy.
        seed: base seed; fold seeds derive from it and the fold name.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` ...
        cache: a :class:`Cache` for preprocessed clips and features; ``None`` recomputes them in every fold.
        results_dir: folder for fold records, checkpoints and ``result.json``; a rerun with the same
            configuration resumes where the last one stopped (``resume=False`` starts over).
        on_epoch_end: ``hook(fold_name, epoch, record)`` called after each epoch (may raise to stop).
        params: extra parameters recorded with the result (sweeps pass the grid point).
        task: a :class:`~merlib.eval.task.Task`: frozen-feature stage, samples per clip + aggregation,
            views, weighted losses (see :mod:`merlib.eval.task`); ``None``: one tensor per clip.
        on_fold_end: ``hook(fold_name, model, record)`` with each trained model (e.g. to keep it for
            Grad-CAM); not called for folds read back from ``results_dir``.

    Returns:
        A :class:`Result` (also written to ``results_dir/result.json``), or ``{policy: Result}`` when
        ``policy`` is a tuple (written to ``results_dir/result_<policy>.json``).
    """
    pols = _policies(policy)
    _check_dataset(dataset)
    cfg = train_cfg or TrainConfig()
    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"run: `train_cfg` must be a merlib.eval.TrainConfig, got {type(cfg).__name__}")
    if task is not None and not isinstance(task, Task):
        raise ValueError(f"run: `task` must be a merlib.eval.Task, got {type(task).__name__}")
    if task is not None and task.features is not None and backbone is not None:
        raise ValueError("run: give either `backbone` or `task.features`, not both")
    if preprocess is not None and not isinstance(preprocess, Step):
        preprocess = Step(preprocess)
    folds = get_folds(protocol, dataset.clips)
    identity = _run_identity(model_fn, dataset, folds, cfg, policy, seed, preprocess, backbone, params, task)
    rdir = _prepare_dir(results_dir, identity, resume)
    jobs = _make_jobs(model_fn, dataset, folds, cfg, policy, seed, device, preprocess, backbone, cache, rdir, params,
                      _fingerprints(dataset, cache), task=task)
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    records = [run_fold(j, on_epoch_end=on_epoch_end, progress=progress, on_fold_end=on_fold_end)
               for j in tqdm(jobs, desc=name or "folds", disable=not progress)]
    seconds = time.perf_counter() - t0
    label = name or getattr(dataset, "name", "run")
    results = {p: _assemble(label, dataset, records, p, cfg, identity, params, seconds) for p in pols}
    if rdir is not None:
        for p, res in results.items():
            res.save(rdir / ("result.json" if isinstance(policy, str) else f"result_{p}.json"))
    return results[pols[0]] if isinstance(policy, str) else results


def with_overrides(cfg: TrainConfig, **kw) -> TrainConfig:
    """``cfg`` with some fields replaced (validated again)."""
    return replace(cfg, **kw)
