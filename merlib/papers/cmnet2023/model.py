"""CMNet (Wei, Jiang, Zheng, Zong, Lu, Liu: "CMNet: Contrastive Magnification Network for Micro-Expression
Recognition", AAAI 2023; paper 003 in ``shared/papers``), Fig. 1.

Two branches over the N = 16 frames of a clip:

* the **intensity clues encoder** (ICE, Fig. 2) maps each frame to an intensity feature ``z^(n)``; it is
  trained by the Intensity Distillation loss (:func:`.losses.id_loss`, Eq. 1) to tell the two augmented
  views of a frame (positives) from the other frames of the clip (negatives, :mod:`.sampling`);
  "squeeze" maps ``z^(n)`` to one intensity value ``k_n`` (a linear layer), calibrated by the Wilcoxon
  rank-sum test loss against the prototype (:mod:`.wilcoxon`, :mod:`.prototype`), and "extend" maps
  ``k_n`` back to a vector;
* the **facial feature encoder** (FFE, a ResNet) gives the texture features ``f^(n)``;
* the intensity-enhanced features ``f^(n) * extend(k_n)`` (element-wise product) go through an LSTM
  whose final state ``v`` is classified (:class:`merlib.models.lstm_head.LSTMHead`).

What merlib decides where the paper is silent (Fig. 2's layer list is not in the text copy, and no code
was released -- the authors' GitHub account holds AMAN and other projects, not CMNet):

* **Cached frozen trunk.** Both branches start from a frozen ImageNet ResNet-18 prefix
  (:class:`.features.FrozenTrunk`, cached per clip by :class:`merlib.eval.Cache`), so that the 16 frames and
  their 32 views are encoded once, not in every epoch of every fold. On top of it the ICE is a
  two-layer MLP (``ice_dim``) and the FFE's trainable part a linear layer + ReLU (``ffe_dim``). The
  paper trains both networks end to end on 224 x 224 images (a GPU job).
* ``k_n`` is unbounded (the paper: "a value mapped by a linear layer"); the prototype lives in
  ``[eps, 1]`` and L_Wrst pulls the distribution of ``k`` towards it.
* Each cached feature vector is standardised on its own (``LayerNorm`` without parameters) before the
  heads: a frozen random-initialised trunk gives features of arbitrary scale.
* The negatives' features are those of the un-augmented frames; the classification branch sees the
  un-augmented frames only.

Input layout ``x``: ``(B, 3N, D)`` -- N frames, their first views, their second views (what
:func:`.views.cmnet_views` + the frozen trunk produce); at test time ``(B, N, D)`` or ``(B, 3N, D)``
(views ignored). ``apex``: ``(B,)`` long, the apex's position among the N frames (for the prototype).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from merlib.models.lstm_head import LSTMHead

from .losses import LAMBDAS, TAU, id_loss, total_loss
from .prototype import EPSILON, IntensityPrototype
from .sampling import SAMPLERS, sample_negatives
from .views import N_FRAMES, split_views
from .wilcoxon import ALPHA, XI, wrst_loss

__all__ = ["CMNet", "FrameInputs"]


class FrameInputs(nn.Module):
    """Per-vector standardisation of ``(B, V·N, D)`` frame features, optionally relative to each view's onset.

    ``mode="absolute"``: ``LayerNorm(D)`` without affine parameters. ``mode="onset_relative"``: that, then
    each block of ``N`` frames (one view) minus its first frame, times ``gain`` -- the first frame of every
    view becomes 0, and a clip whose frames are all equal carries no information at all.
    """

    def __init__(self, in_dim: int, n_frames: int, mode: str = "absolute", gain: float = 30.0):
        super().__init__()
        self.n_frames, self.mode, self.gain = int(n_frames), mode, float(gain)
        self.norm = nn.LayerNorm(in_dim, elementwise_affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        if self.mode == "absolute":
            return x
        if x.shape[1] % self.n_frames:
            raise ValueError(f"FrameInputs: dimension 1 must be a multiple of N = {self.n_frames}, got {x.shape[1]}")
        v = x.reshape(x.shape[0], -1, self.n_frames, x.shape[-1])
        return ((v - v[:, :, :1]) * self.gain).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}" + (f", gain={self.gain:g}" if self.mode != "absolute" else "")


class CMNet(nn.Module):
    """CMNet on cached per-frame features.

    Args:
        num_classes: K.
        in_dim: D, the per-frame feature length of the frozen trunk.
        n_frames: N (the paper: 16).
        ice_dim, ice_hidden: ICE output / hidden sizes (merlib's choice).
        ffe_dim: FFE output size = the LSTM input size.
        hidden: LSTM hidden size (not stated in the paper; merlib's choice).
        sampler: ``"deterministic"``, ``"random"`` or ``"probabilistic"`` (the paper's choice, Table 2).
        m: negatives per anchor (default N - 1 = 15).
        tau: ID-loss temperature. wrst_temperature: soft-rank temperature of L_Wrst.
        weights: (lambda_1, lambda_2, lambda_3) as ``{"L_ID", "L_Wrst", "L_C"}`` (Eq. 10; default the paper's).
        eps, alpha, xi: prototype minimum, significance level, hinge margin (0.2, 0.05, 0.01).
        p_mode: ``"paper"`` (Eq. 8 as printed) or ``"two_sided"`` (see :mod:`.wilcoxon`).
        dropout: on ``v`` before the classifier (merlib's choice).
        inputs: ``"absolute"`` -- each frame's (per-vector standardised) feature as it is, the paper's reading;
            ``"onset_relative"`` -- merlib's choice for frozen features: each view's frames minus that view's
            first frame (the onset), times ``relative_gain``. Why: with the frozen trunk a CPU affords, the
            frames of one clip differ by 0.2 % of the feature variance (the rest is who the subject is), and
            on the synthetic ``casme2`` set CMNet with ``"absolute"`` inputs never leaves the majority class,
            not even on its training subjects (training accuracy 0.40 = majority share on 3 LOSO folds, at
            batch 32 or 8, lr 3e-3 or 1e-3, with or without dropout); ``"onset_relative"`` fits them (0.96).
        relative_gain: the scale of onset-relative inputs (merlib's choice: the standardised features move by
            ≈ 0.009 per element on average from the onset, measured on synthetic ``casme2``; × 30 puts the
            motion near the unit scale the layers are initialised for).
    """

    def __init__(self, num_classes: int, in_dim: int, n_frames: int = N_FRAMES, ice_dim: int = 64,
                 ice_hidden: int = 128, ffe_dim: int = 128, hidden: int = 64, sampler: str = "probabilistic",
                 m: int | None = None, tau: float = TAU, wrst_temperature: float = 0.05, weights: dict | None = None,
                 eps: float = EPSILON, alpha: float = ALPHA, xi: float = XI, p_mode: str = "paper",
                 dropout: float = 0.0, inputs: str = "absolute", relative_gain: float = 30.0):
        super().__init__()
        if inputs not in ("absolute", "onset_relative"):
            raise ValueError(f"CMNet: `inputs` must be 'absolute' or 'onset_relative', got {inputs!r}")
        if not (isinstance(relative_gain, (int, float)) and not isinstance(relative_gain, bool) and relative_gain > 0):
            raise ValueError(f"CMNet: `relative_gain` must be a positive number, got {relative_gain!r}")
        if sampler not in SAMPLERS:
            raise ValueError(f"CMNet: `sampler` must be one of {SAMPLERS}, got {sampler!r}")
        for name, v in (("num_classes", num_classes), ("in_dim", in_dim), ("n_frames", n_frames)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"CMNet: `{name}` must be a positive int, got {v!r}")
        self.n_frames, self.sampler, self.m, self.tau = n_frames, sampler, m, float(tau)
        self.wrst_temperature, self.alpha, self.xi, self.p_mode = wrst_temperature, alpha, xi, p_mode
        self.weights = dict(LAMBDAS if weights is None else weights)
        total_loss({k: torch.zeros(()) for k in LAMBDAS}, self.weights)  # validates the names
        self.input_norm = FrameInputs(in_dim, n_frames, inputs, float(relative_gain))
        self.ice = nn.Sequential(nn.Linear(in_dim, ice_hidden), nn.ReLU(), nn.Linear(ice_hidden, ice_dim))
        self.squeeze = nn.Linear(ice_dim, 1)
        self.extend = nn.Linear(1, ffe_dim)
        self.ffe = nn.Sequential(nn.Linear(in_dim, ffe_dim), nn.ReLU())
        self.head = LSTMHead(ffe_dim, hidden, num_classes, dropout=dropout)
        self.prototype = IntensityPrototype(n_frames, eps=eps)

    # -- the two branches ------------------------------------------------------------------------
    def intensity_features(self, frames: torch.Tensor) -> torch.Tensor:
        """ICE: ``(B, N, D)`` → ``z`` ``(B, N, ice_dim)``."""
        return self.ice(frames)

    def intensity(self, x: torch.Tensor) -> torch.Tensor:
        """The intensity values ``k_n`` ("squeeze"): ``(B, N)`` from ``x`` ``(B, N or 3N, D)``."""
        frames, _, _ = split_views(self.input_norm(x), self.n_frames)
        return self.squeeze(self.intensity_features(frames)).squeeze(-1)

    def _classify(self, frames: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        enhanced = self.ffe(frames) * self.extend(k.unsqueeze(-1))          # element-wise product (Fig. 1)
        return self.head(enhanced)

    def forward(self, x: torch.Tensor, apex: torch.Tensor | None = None):
        """Logits ``(B, K)`` from ``x`` ``(B, N or 3N, D)`` (the views are not needed for classifying).

        In training mode and with ``apex`` (``(B,)`` positions) it returns what :func:`merlib.eval.run`'s
        loss terms read instead: ``{"logits", "k", "L_ID", "L_Wrst"}`` (a term whose weight is 0 is left
        out), drawn with torch's global generator, which the runner seeds per fold and restores on resume.
        """
        if self.training and apex is not None:
            return self._train_outputs(x, apex.long().reshape(-1), None)
        frames, _, _ = split_views(self.input_norm(x), self.n_frames)
        z = self.intensity_features(frames)
        return self._classify(frames, self.squeeze(z).squeeze(-1))

    def _train_outputs(self, x, apex, generator) -> dict:
        frames, v1, v2 = split_views(self.input_norm(x), self.n_frames)
        z = self.intensity_features(frames)
        k = self.squeeze(z).squeeze(-1)
        out = {"logits": self._classify(frames, k), "k": k}
        if self.weights.get("L_ID", 0) != 0:
            if v1 is None:
                raise ValueError("CMNet: L_ID needs the two views: `x` must be (B, 3N, D)")
            zn = F.normalize(z, dim=-1)
            idx = sample_negatives(zn, self.sampler, self.m, self.tau, generator=generator)     # (B, N, M)
            b = torch.arange(z.shape[0], device=z.device).reshape(-1, 1, 1)
            out["L_ID"] = id_loss(self.intensity_features(v1), self.intensity_features(v2), zn[b, idx], tau=self.tau)
        if self.weights.get("L_Wrst", 0) != 0:
            q = self.prototype.sample(apex, generator=generator)
            out["q"] = q
            out["L_Wrst"] = wrst_loss(q, k, temperature=self.wrst_temperature, alpha=self.alpha, xi=self.xi,
                                      p_mode=self.p_mode)
        return out

    # -- training -------------------------------------------------------------------------------
    def loss_terms(self, x: torch.Tensor, y: torch.Tensor, apex: torch.Tensor,
                   generator: torch.Generator | None = None, class_weight: torch.Tensor | None = None) -> dict:
        """The three losses of Eq. 10 and the logits on one batch.

        Args:
            x: ``(B, 3N, D)`` frames and views.
            y: ``(B,)`` class ids. apex: ``(B,)`` apex positions among the N frames.
            generator: for the negative sampling and the prototype draws.

        Returns:
            ``{"L_ID", "L_Wrst", "L_C", "logits", "k", "q"}``; terms whose weight is 0 are not computed
            (absent), so an ablation costs nothing for the branch it switches off.
        """
        out = self._train_outputs(x, apex, generator)
        out["L_C"] = F.cross_entropy(out["logits"], y, weight=class_weight)
        return out

    def loss(self, x, y, apex, generator=None, class_weight=None) -> tuple[torch.Tensor, dict]:
        """Eq. 10 on one batch: ``(total, terms)``."""
        terms = self.loss_terms(x, y, apex, generator=generator, class_weight=class_weight)
        return total_loss(terms, self.weights), terms
