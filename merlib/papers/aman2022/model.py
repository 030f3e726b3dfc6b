"""AMAN's network (Fig. 2): per-image features -> MA module (Eq. 5-7) -> FA module (Eq. 8-10) -> FC.

* :class:`AttentionPool` is both modules ("The FA module has the same structure as MA module"): one linear
  layer and a sigmoid score each feature, ``w_i = sigmoid(F_i q + b)`` (Eq. 5 / Eq. 8; AMAN's code:
  ``nn.Sequential(nn.Linear(512, 1), nn.Sigmoid())``, so with a bias), and the features are averaged with
  those weights, ``sum_i w_i F_i / sum_i w_i`` (Eq. 6-7 / Eq. 9-10).
* :class:`AMAN`: ``(B, n, k, ...)`` features of n frames x k factors -> ``{"logits" (B, K), "alpha" (B, n, k),
  "beta" (B, n), "alpha_norm", "beta_norm"}`` (the weights and the weights divided by their sum, Eq. 7 / 10).
  Ablations (Table 3, "We kept only one module each time"): without MA the k factors are
  averaged with equal weights (with one factor selected -- merlib's "FA only" -- that is the single-magnification
  model the paper's text describes); without FA the n frames are averaged with equal weights.
* The trainable tail. AMAN freezes the earlier ResNet-18 blocks and fine-tunes "the last residual block"; its
  code trains layer 4 (two BasicBlocks) on cached layer-3 maps: ``tail`` = a copy of a ResNet-18's layer 4
  (:func:`resnet_layer4`) applied to every magnified frame, then global average pooling. On a CPU budget
  merlib's stand-in is ``tail=None``: inputs are already the frozen network's pooled 512-d vectors and only
  MA, FA and the classifier learn (run time: see the notebook).

Shapes: features ``(B, n, k, D)`` (``tail=None``) or ``(B, n, k, 256, h, w)`` (``tail`` = layer 4).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AttentionPool", "AMAN", "resnet_layer4"]


class AttentionPool(nn.Module):
    """``(..., m, D)`` -> ``(pooled (..., D), weights (..., m))`` with ``w = sigmoid(F q + b)``, Eq. 5-7 / 8-10.

    The division of Eq. 7 / Eq. 10 is computed in log space, ``w_i / sum_j w_j = softmax_i(log sigmoid(s))``:
    the same numbers, but finite when every sigmoid underflows to 0 in float32 (scores below about -88, which
    trained heads reach); :meth:`normalized` gives those normalised weights."""

    def __init__(self, dim: int):
        super().__init__()
        self.fc = nn.Linear(int(dim), 1)

    def normalized(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(weights w (..., m), normalised weights w / sum(w) (..., m))``."""
        logw = F.logsigmoid(self.fc(feats)).squeeze(-1)                   # log of Eq. 5 / Eq. 8
        return logw.exp(), torch.softmax(logw, dim=-1)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w, wn = self.normalized(feats)
        pooled = (wn.unsqueeze(-1) * feats).sum(-2)                       # Eq. 6-7 / Eq. 9-10
        return pooled, w


def resnet_layer4(backbone) -> nn.Module:
    """A trainable copy of a merlib ResNet-18 Backbone's layer 4 (blocks B7, B8)."""
    return nn.Sequential(copy.deepcopy(backbone.blocks["B7"]), copy.deepcopy(backbone.blocks["B8"])).requires_grad_(True)


class AMAN(nn.Module):
    """AMAN's head on per-image features.

    Args:
        num_classes: K.
        feature_dim: D of the pooled per-image feature (512 for ResNet-18).
        tail: ``None`` (features are vectors) or a module ``(M, C, h, w) -> (M, D, h', w')`` (layer 4), trained.
        magnification_attention, frame_attention: the MA / FA modules (``False``: equal weights).
        dropout: dropout on the video representation ``F_v`` before the classifier (0 in AMAN's code).
    """

    def __init__(self, num_classes: int, feature_dim: int = 512, tail: nn.Module | None = None,
                 magnification_attention: bool = True, frame_attention: bool = True, dropout: float = 0.0):
        super().__init__()
        self.tail = copy.deepcopy(tail) if tail is not None else None
        self.ma = AttentionPool(feature_dim) if magnification_attention else None
        self.fa = AttentionPool(feature_dim) if frame_attention else None
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(int(feature_dim), int(num_classes))
        self.feature_dim = int(feature_dim)

    def image_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n, k, ...)`` -> ``(B, n, k, D)`` (Eq. 4's ``F_i``); float16 banks are computed in float32."""
        if not x.is_floating_point() or x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        if self.tail is None:
            if x.ndim != 4:
                raise ValueError(f"AMAN: features must be (B, n, k, D) without a tail, got {tuple(x.shape)}")
            return x
        if x.ndim != 6:
            raise ValueError(f"AMAN: maps must be (B, n, k, C, h, w) with a tail, got {tuple(x.shape)}")
        b, n, k = x.shape[:3]
        h = self.tail(x.flatten(0, 2)).mean(dim=(-2, -1))
        return h.reshape(b, n, k, -1)

    def forward(self, x: torch.Tensor) -> dict:
        f = self.image_features(x)                                        # (B, n, k, D)
        b, n, k, _ = f.shape
        if self.ma is not None:
            alpha, alpha_n = self.ma.normalized(f)                        # (B, n, k) each
        else:
            alpha, alpha_n = f.new_ones(b, n, k), f.new_full((b, n, k), 1.0 / k)
        fm = (alpha_n.unsqueeze(-1) * f).sum(2)                           # Eq. 7: (B, n, D)
        if self.fa is not None:
            beta, beta_n = self.fa.normalized(fm)                         # (B, n) each
        else:
            beta, beta_n = f.new_ones(b, n), f.new_full((b, n), 1.0 / n)
        fv = (beta_n.unsqueeze(-1) * fm).sum(1)                           # Eq. 10: (B, D)
        return {"logits": self.fc(self.drop(fv)), "alpha": alpha, "beta": beta, "alpha_norm": alpha_n,
                "beta_norm": beta_n}
