"""Bai, Goecke & Herath (ICIP 2021): pre-trained face CNN per frame + Bi-LSTM over a segment of N frames.

M. Bai, R. Goecke, D. Herath, "Micro-expression recognition based on video motion magnification and
pre-trained neural network", ICIP 2021 (paper 004 in ``shared/papers``; no code was released with it).

The model (:class:`Bai2021`): every frame of a segment goes through a backbone (the paper: VGGFace2
ResNet-50, blocks before B9 frozen, B9-B16 re-trained; see :mod:`merlib.models.backbones`) giving a
``D``-dim vector; a bidirectional LSTM reads the ``N`` vectors; the last hidden state of each direction
is concatenated and a linear layer gives the class logits. :class:`CachedBai2021` is the same function
from cached inputs of the frozen blocks (what :func:`merlib.eval.run` trains).

:data:`PAPER_SETTINGS` lists what the paper states and nothing else; :data:`MERLIB_CHOICES` lists what
merlib had to choose because the paper does not say, each with its reason. The "VGGFace2 + FC" ablation
is ``temporal="mean"`` on a *fully frozen* backbone (the paper says only "the VGGFace2 pre-trained model
with a fully-connected layer for classification"; merlib reads it as frozen per-frame features averaged
over the segment and one linear layer, no LSTM).
"""
from __future__ import annotations

import torch
from torch import nn

from merlib.env import device as resolve_device
from merlib.eval.task import aggregate_samples
from merlib.models import backbones as _backbones

__all__ = ["Bai2021", "CachedBai2021", "PAPER_SETTINGS", "MERLIB_CHOICES", "LSTM_HIDDEN", "aggregate_segments"]

#: Bi-LSTM width per direction — the one default of merlib (the paper does not state it). Every Bai
#: entry point (:class:`Bai2021`, :class:`~merlib.papers.bai2021.experiment.BaiConfig`, notebook 10) uses it.
LSTM_HIDDEN = 64

#: What paper 004 states (its text, table and ablation list); results live in ``reported.yaml``.
PAPER_SETTINGS = {
    "dataset": "SMIC-HS",
    "classes": ("negative", "positive", "surprise"),
    "class_counts": {"negative": 70, "positive": 51, "surprise": 43},
    "n_clips": 164,
    "fps": 100,
    "shortest_clip_frames": 11,           # "shortest recorded expression was about 0.11s (= 11 frames)"
    "average_clip_frames": 29,            # "Average expression length was about 0.30s (= 29 frames)"
    "magnification": ("AMM (amplitude-based, first-order Taylor expansion)",
                      "PMM (phase-based, Fourier series decomposition)"),
    "magnification_formula": "I_hat(x, t) = f(x + (1 + alpha) delta(t))",
    "segments": ("fixed-length segments by an overlapping sliding window over consecutive frames, frames "
                 "extracted at even intervals, the interval size based on the length of the original video; "
                 "N = frames per training sequence"),
    "segment_lengths": tuple(range(7, 15)),
    "best_segment_length": 14,            # best for AMM and PMM; "around half of the average video duration"
    "backbone": "VGGFace2 (ResNet-50 trained on VGGFace2)",
    "freeze_until": 9,                    # "froze the blocks before block 9 ... retraining blocks B9-B16"
    "freeze_chosen_by": "Grad-CAM of each residual block before training (block 8 closest to facial features)",
    "temporal": "Bi-LSTM",
    "ablations": ("VGGFace2 + fully-connected layer", "ResNet-50 pre-trained on ImageNet instead of VGGFace2",
                  "no magnification (baseline)"),
    "not_stated": ("evaluation protocol", "reference frame of the magnification", "alpha", "how the interval "
                   "follows from the clip length", "window overlap (stride)", "segment-to-clip decision rule",
                   "optimiser", "learning rate", "batch size", "epochs", "LSTM hidden size", "LSTM layers",
                   "dropout", "frame size"),
}

#: merlib's choices where the paper is silent: ``{what: (choice, reason)}``.
MERLIB_CHOICES = {
    "protocol": ("leave-one-subject-out (LOSO)",
                 "the paper does not state its protocol; LOSO is the usual one on SMIC-HS and the one the other "
                 "four papers use, so merlib's numbers compare across notebooks"),
    "magnification_reference": ("relative to the onset (first frame), static mode",
                                "the paper's formula measures delta(t) from f(x) = I(x, 0); the onset is the "
                                "clip's neutral frame"),
    "segment_interval": ("interval = max(1, round(T / reference_length)) for a clip of T frames, "
                         "reference_length = the dataset's mean clip length (29 for SMIC-HS)",
                         "'fixed per clip from its length': a clip of average length is read frame by frame, "
                         "so N = 14 covers about half of it, as the paper argues; the temporal extent grows "
                         "with N (the N-sweep varies it)"),
    "segment_stride": ("N // 2 (windows overlap by half)", "the paper says 'overlapping' without an amount"),
    "clip_decision": ("mean of the segments' softmax probabilities, arg-max",
                      "the paper trains and tests on segments and states no clip rule"),
    "lstm_hidden": (LSTM_HIDDEN, "not stated; small enough for CPU runs, enlarged only by an explicit override"),
}


def aggregate_segments(logits: torch.Tensor, clip_ids, method: str = "mean_prob"):
    """Clip scores from segment logits: :func:`merlib.eval.task.aggregate_samples` (``"mean_prob"``,
    ``"mean_logit"`` or ``"vote"``); returns ``(clips, probs (n_clips, K))``."""
    return aggregate_samples(logits, clip_ids, method)


class Bai2021(nn.Module):
    """Backbone per frame → Bi-LSTM over the segment → linear classifier.

    Args:
        backbone: a :class:`~merlib.models.backbones.Backbone`, or a name for
            :func:`merlib.models.backbones.load` (extra ``backbone_kwargs`` are passed on).
        hidden: LSTM hidden size per direction (not stated in the paper; :data:`LSTM_HIDDEN`).
        num_classes: number of classes (3 for SMIC-HS / MEGC).
        freeze_until: first trainable backbone block (``9`` = the paper's B9-B16 fine-tuning on
            ResNet-50; ``True`` freezes the whole backbone; ``None`` leaves the backbone as it is).
        num_layers: stacked LSTM layers (merlib default 1).
        dropout: dropout before the classifier (merlib default 0.5).
        temporal: ``"bilstm"`` (the paper's model) or ``"mean"`` (average the frame features, no LSTM: the
            paper's "pre-trained model + FC" ablation when combined with ``freeze_until=True``).
        device: where to put the model (``"auto"``, ``"cpu"``, ``"cuda"``...); the backbone's device when
            ``None`` and a module is given.

    Input ``(B, N, C, H, W)`` float in [0, 1] (segments of N frames) → logits ``(B, num_classes)``.
    """

    takes_segments = True  # inputs are (B, N, C, H, W); read by merlib.models.gradcam

    def __init__(self, backbone: _backbones.Backbone | str = "vggface2_resnet50", hidden: int = LSTM_HIDDEN,
                 num_classes: int = 3, freeze_until=None, num_layers: int = 1, dropout: float = 0.5,
                 temporal: str = "bilstm", device=None, backbone_kwargs: dict | None = None):
        super().__init__()
        for arg, value in (("hidden", hidden), ("num_classes", num_classes), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Bai2021: `{arg}` must be a positive int, got {value!r}")
        if temporal not in ("bilstm", "mean"):
            raise ValueError(f"Bai2021: `temporal` must be 'bilstm' or 'mean', got {temporal!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"Bai2021: `dropout` must be in [0, 1), got {dropout!r}")
        if isinstance(backbone, str):
            backbone = _backbones.load(backbone, freeze=freeze_until, device=device or "auto",
                                       **(backbone_kwargs or {}))
        elif isinstance(backbone, _backbones.Backbone):
            if backbone_kwargs:
                raise ValueError("Bai2021: `backbone_kwargs` only applies when `backbone` is a name")
            if freeze_until is not None:
                backbone.freeze(freeze_until)
        else:
            raise ValueError(
                f"Bai2021: `backbone` must be a merlib Backbone or a name in {_backbones.available()}, "
                f"got {type(backbone).__name__}"
            )
        self.backbone = backbone
        self.num_classes = num_classes
        self.temporal = temporal
        if temporal == "bilstm":
            self.lstm = nn.LSTM(backbone.feature_dim, hidden, num_layers=num_layers, batch_first=True,
                                bidirectional=True)
            width = 2 * hidden
        else:
            self.lstm, width = None, backbone.feature_dim
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(width, num_classes)
        dev = next(backbone.parameters()).device if device is None else resolve_device(device)
        self.to(dev)

    def segment_features(self, segments: torch.Tensor) -> torch.Tensor:
        """``(B, N, C, H, W)`` → per-frame backbone features ``(B, N, D)``."""
        if segments.ndim != 5:
            raise ValueError(
                f"Bai2021: `segments` must be (B, N, C, H, W) float in [0, 1], got shape {tuple(segments.shape)}"
            )
        return self.backbone(segments)

    def forward(self, segments: torch.Tensor) -> torch.Tensor:
        """``(B, N, C, H, W)`` float in [0, 1] → logits ``(B, num_classes)``."""
        return self.decode(self.segment_features(segments))

    def decode(self, feats: torch.Tensor) -> torch.Tensor:
        """Per-frame features ``(B, N, D)`` → logits ``(B, K)`` (Bi-LSTM or mean, dropout, classifier)."""
        if self.lstm is None:
            return self.classifier(self.dropout(feats.mean(dim=1)))
        _, (h_n, _) = self.lstm(feats)
        last = torch.cat([h_n[-2], h_n[-1]], dim=1)  # final forward and backward states of the top layer
        return self.classifier(self.dropout(last))


class CachedBai2021(nn.Module):
    """:class:`Bai2021` run from cached inputs of its frozen blocks: ``(B, N, ...)`` → logits ``(B, K)``.

    The inputs are :func:`merlib.papers.bai2021.pipeline.frame_inputs` of every frame: pooled features
    ``(B, N, D)`` when the whole backbone is frozen, else the maps of the last frozen block
    ``(B, N, K, h, w)`` (float16 is fine; they are cast to float32). The trainable backbone blocks, the
    pooling, the Bi-LSTM and the classifier then run exactly as :meth:`Bai2021.forward` does (a test checks
    equality), so Grad-CAM of :attr:`full` explains the trained function.

    Its ``state_dict`` holds only the trainable part (tail blocks, LSTM, classifier): the frozen blocks are
    shared, not copied into every checkpoint. :attr:`full` is the whole :class:`Bai2021` (same parameters).
    """

    takes_segments = True

    def __init__(self, model: Bai2021):
        super().__init__()
        if not isinstance(model, Bai2021):
            raise ValueError(f"CachedBai2021: `model` must be a Bai2021, got {type(model).__name__}")
        bb = model.backbone
        self.tail = nn.ModuleList([bb.blocks[name] for name in bb.block_names if name not in bb.frozen])
        self.lstm, self.dropout, self.classifier = model.lstm, model.dropout, model.classifier
        object.__setattr__(self, "full", model)  # not a registered submodule: kept out of state_dict

    @property
    def num_classes(self) -> int:
        return self.full.num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 3:
            raise ValueError(f"CachedBai2021: `x` must be (B, N, D) or (B, N, K, h, w), got {tuple(x.shape)}")
        b, n = x.shape[:2]
        if x.ndim == 3:
            feats = x.float()
        else:
            y = x.reshape(b * n, *x.shape[2:]).float()
            for block in self.tail:
                y = block(y)
            feats = y.mean(dim=(-2, -1)).reshape(b, n, -1)
        return self.full.decode(feats)
