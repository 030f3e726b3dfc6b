"""LOSO experiments for Bai, Goecke & Herath (ICIP 2021): cached per-frame features → one Bi-LSTM per fold.

:func:`merlib.eval.run` trains on one fixed-shape input per clip; Bai et al. train on *segments* (a clip of
T frames gives several overlapping N-frame windows, their number depends on T) and decide a clip by
aggregating its segments, so this module drives the folds itself while reusing merlib.eval's parts:
:func:`~merlib.eval.protocols.loso` folds, the content-addressed :class:`~merlib.eval.cache.Cache`
(per-frame inputs keyed by dataset clip, magnification method and α, frame size and backbone), fold seeds
from :func:`~merlib.eval.seeds.derive_seed`, :func:`~merlib.eval.metrics.summarize`, and a
:class:`~merlib.eval.result.Result` per policy, so :func:`merlib.eval.compare`, :func:`merlib.eval.mcnemar`
and :func:`merlib.eval.paired_bootstrap` work on it unchanged.

Policies: ``"last"`` (fixed epochs, nothing selected — merlib's clean protocol) is always computed. With
``policies=("last", "oracle_test")`` the same training run also scores the test subject after every epoch
and keeps, per fold, the epoch with the best test accuracy: what many MER codes do, and what the paper may
have done (it does not say). That result is labelled OPTIMISTIC (:data:`merlib.eval.OPTIMISTIC_LABEL`).

Flow: this module imports ``merlib.models`` (an earlier stage), never the other way round.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from merlib.eval import metrics as M
from merlib.eval.cache import Cache, clip_fingerprint, module_digest
from merlib.eval.policy import check_policy
from merlib.eval.protocols import loso
from merlib.eval.result import Result
from merlib.eval.seeds import derive_seed

__all__ = ["BaiConfig", "clip_inputs", "loso_bai2021", "n_sweep_row", "FEATURE_VERSION"]

#: Bump when :func:`clip_inputs`' output changes for the same key (invalidates cached entries).
FEATURE_VERSION = "1"


@dataclass(frozen=True)
class BaiConfig:
    """Segments and training of one Bai et al. run (the paper states none of the training values).

    Attributes:
        n: frames per segment N (the paper sweeps 7..14). interval, stride: see
            :func:`merlib.models.bai2021_pipeline.segment_indices`.
        hidden: Bi-LSTM width per direction. temporal: ``"bilstm"`` or ``"mean"`` (the "+ FC" ablation).
        dropout, epochs, lr, weight_decay, batch_size, class_weighted: training (Adam, fixed epochs).
        aggregate: segment → clip rule (:func:`merlib.models.bai2021.aggregate_segments`).
        num_threads: torch CPU threads while the folds train (``None``: leave as is). The Bi-LSTM's steps
            are small; on a shared CPU one thread is much faster than several competing for cores.
    """

    n: int = 14
    interval: Any = "auto"
    stride: int | None = None
    hidden: int = 64
    temporal: str = "bilstm"
    dropout: float = 0.5
    epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    class_weighted: bool = True
    aggregate: str = "mean_prob"
    num_threads: int | None = None

    def __post_init__(self):
        for name in ("n", "hidden", "epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"BaiConfig: `{name}` must be a positive int, got {v!r}")
        if self.temporal not in ("bilstm", "mean"):
            raise ValueError(f"BaiConfig: `temporal` must be 'bilstm' or 'mean', got {self.temporal!r}")
        nt = self.num_threads
        if nt is not None and (isinstance(nt, bool) or not isinstance(nt, int) or nt < 1):
            raise ValueError(f"BaiConfig: `num_threads` must be None or a positive int, got {self.num_threads!r}")


def _backbone_identity(backbone) -> dict:
    return {"name": backbone.name, "digest": module_digest(backbone), "frozen": list(backbone.frozen)}


def clip_inputs(dataset, backbone, method: str = "amm", alpha: float = 10.0, size=None, *,
                cache: Cache | None = None, magnify_options: dict | None = None, frames: dict | None = None,
                batch_size: int = 16, progress: bool = True, desc: str | None = None) -> list[torch.Tensor]:
    """Per-frame inputs of every clip of ``dataset`` after magnification (cached on disk).

    Args:
        dataset: a merlib dataset (``.clips``, ``.frames(i, size=...)``).
        backbone: a merlib Backbone; its frozen prefix is applied
            (:func:`~merlib.models.bai2021_pipeline.frame_inputs`).
        method, alpha: ``"none"``, ``"amm"`` or ``"pmm"`` and merlib's α (output shows ``f(x + (1+α)·δ)``),
            relative to the onset frame.
        size: frames are loaded at ``size`` (int or ``(H, W)``; ``None``: as stored) and magnified there.
        cache: a :class:`Cache`; the key is (clip fingerprint, size, method, α, options, backbone digest and
            freeze point, :data:`FEATURE_VERSION`), so every N of a sweep reuses the same entries.
        frames: an optional dict ``{clip position: (T, C, H, W)}`` shared between calls, so a clip is read
            from disk once for several magnifications (filled on the way).

    Returns:
        One tensor per clip, ``(T_i, D)`` or ``(T_i, K, h, w)``, in the order of ``dataset.clips``.
    """
    from tqdm.auto import tqdm

    from merlib.models.bai2021_pipeline import MAGNIFIERS, frame_inputs, magnify_clip

    if method not in MAGNIFIERS:
        raise ValueError(f"clip_inputs: `method` must be one of {sorted(MAGNIFIERS)}, got {method!r}")
    opts = dict(magnify_options or {})
    bid = _backbone_identity(backbone)
    size_key = list(size) if isinstance(size, (tuple, list)) else size
    out = []
    for i in tqdm(range(len(dataset)), desc=desc or f"features {method}", disable=not progress, leave=False):
        key = {"stage": "bai2021_frame_inputs", "version": FEATURE_VERSION, "clip": clip_fingerprint(dataset, i),
               "size": size_key, "magnify": {"method": method, "alpha": float(alpha) if method != "none" else 0.0,
                                             "options": opts}, "backbone": bid}

        def compute(i=i):
            if frames is not None and i in frames:
                x = frames[i]
            else:
                x = dataset.frames(i, size=size)
                if frames is not None:
                    frames[i] = x
            return frame_inputs(backbone, magnify_clip(x, method, alpha, **opts), batch_size=batch_size)

        out.append(compute() if cache is None else cache.get_or_compute(key, compute))
    return out


def _result(name, dataset, records, policy, k, config, seconds) -> Result:
    from merlib.env import environment

    clips = dataset.clips
    rows, fold_rows = [], []
    for r in records:
        sel = r["selected"][policy]
        probs = r["probs"][sel]
        y_pred = probs.argmax(1)
        for j, i in enumerate(r["test_idx"]):
            c = clips.iloc[int(i)]
            row = {"index": int(i), "dataset": str(c.get("dataset", getattr(dataset, "name", "?"))),
                   "subject": str(c["subject"]), "clip": str(c.get("clip", i)), "fold": r["fold"],
                   "y_true": int(r["y_true"][j]), "y_pred": int(y_pred[j]), "epoch": int(sel)}
            row.update({f"p{q}": float(probs[j, q]) for q in range(k)})
            rows.append(row)
        fm = {m: M.__dict__[m](r["y_true"], y_pred, k) for m in M.FOLD_METRICS}
        fold_rows.append({"fold": r["fold"], "test_subjects": r["fold"], "n_train": r["n_train"], "n_val": 0,
                          "n_test": len(r["test_idx"]), "n_train_segments": r["n_train_segments"],
                          "selected_epoch": int(sel), "fold_seed": r["fold_seed"], "seconds": r["seconds"], **fm})
    pred = pd.DataFrame(rows)
    metrics = M.summarize(pred["y_true"].to_numpy(), pred["y_pred"].to_numpy(), k, folds=pred["fold"].tolist())
    return Result(name=name, predictions=pred, folds=pd.DataFrame(fold_rows), metrics=metrics, policy=policy,
                  num_classes=k, class_names=list(dataset.class_names), config=config,
                  params={"n": config["bai"]["n"]}, environment=environment(),
                  timings={"total_seconds": seconds, "fold_seconds": [r["seconds"] for r in records]})


def loso_bai2021(dataset, inputs, backbone, cfg: BaiConfig | None = None, *, seed: int = 0, device="auto",
                 policies=("last",), name: str = "bai2021", progress: bool = True,
                 identity: dict | None = None) -> dict[str, Result]:
    """Leave-one-subject-out evaluation of :class:`~merlib.models.bai2021.Bai2021` on cached frame inputs.

    Per fold: a fresh model (a copy of ``backbone`` — only its non-frozen blocks train — plus a new Bi-LSTM
    and classifier, seeded from ``derive_seed(seed, fold)``), trained for ``cfg.epochs`` on every segment of
    the training subjects' clips; the test subject's clips are classified by aggregating their segments.

    Args:
        dataset: the merlib dataset ``inputs`` were computed from (labels, subjects, clip names).
        inputs: :func:`clip_inputs` of that dataset (one tensor per clip).
        backbone: the Backbone that made ``inputs`` (same freeze point).
        policies: which results to return: ``"last"`` and/or ``"oracle_test"`` (OPTIMISTIC; see module doc).
        identity: extra fields recorded in each result's ``config`` (e.g. magnification method and α).

    Returns:
        ``{policy: Result}``.
    """
    from merlib.env import device as resolve_device

    cfg = cfg or BaiConfig()
    policies = tuple(check_policy(p) for p in policies)
    if "inner_val" in policies:
        raise ValueError("loso_bai2021: policy 'inner_val' is not implemented here; use 'last' or 'oracle_test'")
    if len(inputs) != len(dataset):
        raise ValueError(f"loso_bai2021: `inputs` has {len(inputs)} entries but the dataset has {len(dataset)} clips")
    dev = resolve_device(device)
    k = int(dataset.num_classes)
    labels = torch.as_tensor(dataset.clips["label"].to_numpy().astype(np.int64))
    folds = loso(dataset.clips)
    t0 = time.perf_counter()
    old_threads = torch.get_num_threads()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    try:
        records = _run_folds(dataset, inputs, backbone, cfg, folds, labels, k, dev, seed, policies, name, progress)
    finally:
        torch.set_num_threads(old_threads)
    seconds = time.perf_counter() - t0
    config = {"bai": asdict(cfg), "seed": seed, "backbone": {"name": backbone.name, "frozen": list(backbone.frozen),
              "pretrained": getattr(backbone, "pretrained_source", None)}, **(identity or {})}
    return {p: _result(name, dataset, records, p, k, config, seconds) for p in policies}


def _run_folds(dataset, inputs, backbone, cfg, folds, labels, k, dev, seed, policies, name, progress) -> list[dict]:
    from tqdm.auto import tqdm

    from merlib.models.bai2021 import Bai2021
    from merlib.models.bai2021_pipeline import make_segments, predict_clips, train_segments

    records = []
    for fold in tqdm(folds, desc=name, disable=not progress, leave=False):
        tf = time.perf_counter()
        fold_seed = derive_seed(seed, fold.name)
        torch.manual_seed(fold_seed)
        # a fully frozen backbone is never trained (its output is cached), so folds can share it
        trainable = len(backbone.frozen) < len(backbone.block_names)
        model = Bai2021(copy.deepcopy(backbone) if trainable else backbone, hidden=cfg.hidden, num_classes=k,
                        temporal=cfg.temporal, dropout=cfg.dropout, device=dev)
        x_tr, own_tr = make_segments([inputs[i] for i in fold.train_idx], cfg.n, cfg.interval, cfg.stride)
        y_tr = labels[fold.train_idx][own_tr]
        x_te, own_te = make_segments([inputs[i] for i in fold.test_idx], cfg.n, cfg.interval, cfg.stride)
        per_epoch: list[np.ndarray] = []

        def score(epoch, loss):
            if "oracle_test" in policies:
                per_epoch.append(predict_clips(model, x_te, own_te, method=cfg.aggregate)[1].numpy())

        train_segments(model, x_tr, y_tr, epochs=cfg.epochs, lr=cfg.lr, weight_decay=cfg.weight_decay,
                       batch_size=cfg.batch_size, seed=fold_seed, class_weighted=cfg.class_weighted,
                       on_epoch_end=score)
        last = predict_clips(model, x_te, own_te, method=cfg.aggregate)[1].numpy()
        y_te = labels[fold.test_idx].numpy()
        probs = per_epoch if per_epoch else [last]
        probs[-1] = last  # identical in eval mode; keeps 'last' exact when per-epoch scoring is on
        selected = {"last": len(probs) - 1}
        if "oracle_test" in policies:
            accs = [float(np.mean(p.argmax(1) == y_te)) for p in probs]
            selected["oracle_test"] = int(np.argmax(accs))  # earliest best epoch ON THE TEST SUBJECT
        records.append({"fold": fold.name, "test_idx": fold.test_idx.tolist(), "y_true": y_te, "probs": probs,
                        "selected": selected, "n_train": len(fold.train_idx), "n_train_segments": int(x_tr.shape[0]),
                        "fold_seed": fold_seed, "seconds": time.perf_counter() - tf})
    return records


def n_sweep_row(result: Result) -> dict:
    """The paper's N-sweep columns from one result: ``pooled_accuracy`` and ``recall:<class>`` per class."""
    row = {"pooled_accuracy": float(result.metrics["pooled_accuracy"])}
    row.update({f"recall:{c}": float(v) for c, v in result.per_class_recall().items()})
    return row
