"""Bai, Goecke & Herath (ICIP 2021): pre-trained face CNN per frame + Bi-LSTM over a segment of N frames.

M. Bai, R. Goecke, D. Herath, "Micro-expression recognition based on video motion magnification and
pre-trained neural network", ICIP 2021 (paper 004 in ``shared/papers``).

The model (:class:`Bai2021`): every frame of a segment goes through a backbone (the paper: VGGFace2
ResNet-50, blocks before B9 frozen, B9-B16 fine-tuned; see :mod:`merlib.models.backbones`) giving a
``D``-dim vector; a bidirectional LSTM reads the ``N`` vectors; the last hidden state of each direction
is concatenated and a linear layer gives the class logits.

What the paper states (an ICIP poster/short paper; it gives no optimiser, learning rate, batch size,
epoch count or LSTM width — the defaults of :class:`Bai2021` are merlib's choices, marked as such):

* data: SMIC-HS, 164 clips at 100 fps, 3 classes (negative 70, positive 51, surprise 43), LOSO;
* pre-processing: each clip is magnified (AMM = Eulerian, or PMM = phase-based) and cut into fixed-length
  segments of N frames by overlapping sliding windows over evenly spaced frames; N in 7..14, best N = 14
  (the paper: 14 is about half the average SMIC-HS clip length, 29 frames);
* backbone: VGGFace2 ResNet-50, blocks B1-B8 frozen (chosen with Grad-CAM on the untrained blocks),
  B9-B16 re-trained; a Bi-LSTM decodes the sequence;
* ablations: VGGFace2 + FC only, ImageNet ResNet-50 instead of VGGFace2, no magnification.

The "VGGFace2 + FC" ablation is ``Bai2021(..., temporal="mean", freeze_until=True)``: the paper says only
"the VGGFace2 pre-trained model with a fully-connected layer"; merlib reads it as frozen per-frame features
averaged over the segment and one linear layer (no LSTM).

Clip decision (merlib's rule, the paper does not state one): a clip's segments are classified
independently and :func:`aggregate_segments` averages their softmax probabilities; the clip's class is
the arg-max of that mean (``method="vote"`` and ``"mean_logit"`` are available for comparison).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from merlib.env import device as resolve_device

from . import backbones as _backbones

__all__ = ["Bai2021", "PAPER_SETTINGS", "aggregate_segments"]

#: The paper's experimental settings (what it states; results live in ``merlib.papers``).
PAPER_SETTINGS = {
    "dataset": "SMIC-HS",
    "classes": ("negative", "positive", "surprise"),
    "class_counts": {"negative": 70, "positive": 51, "surprise": 43},
    "fps": 100,
    "segment_lengths": tuple(range(7, 15)),
    "best_segment_length": 14,
    "backbone": "vggface2_resnet50",
    "freeze_until": 9,  # blocks before B9 frozen, B9..B16 fine-tuned
    "magnification": ("AMM (Eulerian)", "PMM (phase-based)"),
    "protocol": "LOSO",
    "not_stated": ("optimiser", "learning rate", "batch size", "epochs", "LSTM hidden size", "alpha"),
}


class Bai2021(nn.Module):
    """Backbone per frame → Bi-LSTM over the segment → linear classifier.

    Args:
        backbone: a :class:`~merlib.models.backbones.Backbone`, or a name for
            :func:`merlib.models.backbones.load` (extra ``backbone_kwargs`` are passed on).
        hidden: LSTM hidden size per direction (not stated in the paper; merlib default 128).
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

    def __init__(self, backbone: _backbones.Backbone | str = "vggface2_resnet50", hidden: int = 128,
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
        feats = self.segment_features(segments)
        if self.lstm is None:
            return self.classifier(self.dropout(feats.mean(dim=1)))
        _, (h_n, _) = self.lstm(feats)
        last = torch.cat([h_n[-2], h_n[-1]], dim=1)  # final forward and backward states of the top layer
        return self.classifier(self.dropout(last))


def aggregate_segments(logits: torch.Tensor, clip_ids: Sequence, method: str = "mean_prob"):
    """Combine segment predictions into clip predictions.

    Args:
        logits: ``(S, K)`` segment logits.
        clip_ids: length-S sequence (list, array or 1-D tensor) naming the clip of each segment.
        method: ``"mean_prob"`` (default; mean of the segments' softmax probabilities), ``"mean_logit"``
            (softmax of the mean logit) or ``"vote"`` (fraction of segments whose arg-max is each class).

    Returns:
        ``(clips, probs)``: the clip ids in order of first appearance and ``(n_clips, K)`` class scores
        (each row sums to 1); a clip's prediction is ``probs.argmax(1)``.
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ValueError(f"aggregate_segments: `logits` must be a (S, K) tensor, got {getattr(logits, 'shape', logits)!r}")
    if isinstance(clip_ids, torch.Tensor):
        clip_ids = clip_ids.tolist()
    clip_ids = list(clip_ids)
    if len(clip_ids) != logits.shape[0]:
        raise ValueError(
            f"aggregate_segments: `clip_ids` has {len(clip_ids)} entries but `logits` has {logits.shape[0]} rows"
        )
    if method not in ("mean_prob", "mean_logit", "vote"):
        raise ValueError(f"aggregate_segments: `method` must be 'mean_prob', 'mean_logit' or 'vote', got {method!r}")
    clips = list(dict.fromkeys(clip_ids))
    index = {c: i for i, c in enumerate(clips)}
    group = torch.tensor([index[c] for c in clip_ids], device=logits.device)
    if method == "mean_prob":
        values = logits.float().softmax(dim=1)
    elif method == "mean_logit":
        values = logits.float()
    else:
        values = F.one_hot(logits.argmax(dim=1), logits.shape[1]).float()
    sums = torch.zeros(len(clips), logits.shape[1], device=logits.device).index_add_(0, group, values)
    counts = torch.bincount(group, minlength=len(clips)).unsqueeze(1).float()
    mean = sums / counts
    return clips, (mean.softmax(dim=1) if method == "mean_logit" else mean)
