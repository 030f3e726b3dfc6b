"""GAM-MER (Fig. 5): selected landmark regions → a small CNN per region (Eq. 8) → a 2-layer GAT (Eq. 9) → class.

Input (what :mod:`.pipeline` caches per clip): ``(S, 68, P, P)`` grey region crops of one clip — slot 0 the onset
frame, slots ``1..`` the apex frame unmagnified (``"raw"``) and magnified by ST-MEMM at the paper's factors
(:data:`.pipeline.ALPHA_SLOTS`). The model picks

* the **regions** ``nodes`` (Eq. 7's ``M_select``: :data:`.graph.SELECTED_NODES`, or all 68);
* the **magnification**: at test time always ``main`` (e.g. the paper's α = 5); in training, per sample and step,
  one of ``{main} ∪ augment`` uniformly — the paper's "motion magnification is applied at various magnification
  factors (8, 10, 12, and 15) to augment the dataset" (merlib's reading: a random factor per sample per epoch),
  plus random brightness / contrast ("random brightness, contrast, and color transformations"; grey crops, so no
  colour) with strengths ``jitter`` (merlib's choice).

Per region the CNN sees two channels, the onset crop and ``magnified − onset`` (``input_mode="onset+diff"``,
merlib's choice: one synthetic frame shows the subject's face much more than a few pixels of motion; the
difference is what magnification enlarges) — or the magnified crop alone (``"apex"``, the paper's Eq. 6-8 read
literally). :class:`merlib.models.graph.RegionCNN` (separate weights per region by default: "a small CNN per
region") gives ``F_L`` ``(B, N, D)`` (Eq. 8); :class:`merlib.models.graph.GraphStack` runs PyG's ``GATConv``
(or ``GCNConv``, Table 3) over the facial graph (Eq. 9); node features are mean-pooled and a linear layer gives
the class logits ``C_MER``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from merlib.models.graph import GraphStack, RegionCNN, edge_index_from_pairs

from .graph import SELECTED_NODES, graph_for, node_pairs

__all__ = ["GAMConfig", "GAMMER", "GAMFactory", "INPUT_MODES", "PAPER_SETTINGS", "MERLIB_CHOICES"]

INPUT_MODES = ("onset+diff", "apex")

#: What the paper states about GAM-MER and its training (Sec. 2.2, 3.3).
PAPER_SETTINGS = {
    "landmarks": "dlib 68", "regions": "selected: eyebrows, nose tip, mouth (contour dropped)",
    "local features": "CNN per region (Eq. 8)", "graph": "optimised facial key region graph (prior knowledge + "
    "distant strongly correlated nodes)", "graph network": "two-layer graph attention network (Eq. 9)",
    "magnification augmentation (paper alpha)": (8, 10, 12, 15), "other augmentation": "random brightness, contrast, colour",
    "optimizer": "Adam, beta1 = 0.9, beta2 = 0.999", "alpha at test (Table 4 best)": 5, "alpha in the text": 10,
    "not stated": ("region size", "CNN layers", "GAT width / heads", "edges", "lr", "epochs", "batch size",
                   "epoch selection", "readout"),
}

#: merlib's choices where the paper is silent, with the reason.
MERLIB_CHOICES = {
    "region": "a square patch of 0.10 x frame width around every landmark, resampled to 12 x 12 grey (roi_align)",
    "input channels": "onset crop + (magnified - onset): the motion, which magnification enlarges",
    "CNN": "2 conv layers (8, 16 ch) + BN + 2x2 pooled grid + linear to 32, separate weights per region",
    "GAT": "hidden 32, 2 heads on intermediate layers, ELU between layers, dropout 0.1; mean-pool readout + linear",
    "augmentation": "per sample and epoch one factor of {main} U {8, 10, 12, 15}; brightness +-0.1, contrast x[0.8, 1.2]",
    "graph": "rule in merlib/papers/gammmer2024/graph.py (raw dlib contours + anatomy prior + mirror pairs + "
             "6 most AU-correlated distant pairs)",
}


@dataclass(frozen=True)
class GAMConfig:
    """One GAM-MER variant. ``slots`` names the cached slots after the onset (paper α or ``"raw"``)."""

    slots: tuple = ("raw", 5, 8, 10, 12, 15, 20)
    main: object = 5
    augment: tuple = (8, 10, 12, 15)
    nodes: tuple = SELECTED_NODES
    graph: str = "optimised"
    pairs: tuple | None = None          #: explicit landmark-id pairs (overrides ``graph``)
    layer: str = "gat"
    num_layers: int = 2
    hidden: int = 32
    heads: int = 2
    cnn_width: int = 8
    feat_dim: int = 32
    shared_cnn: bool = False
    dropout: float = 0.1
    input_mode: str = "onset+diff"
    jitter: tuple = (0.1, 0.2)          #: (brightness shift, contrast spread) in training; (0, 0) = off
    corr_k: int = 6
    corr_min_dist: float = 0.2

    def __post_init__(self):
        if self.main not in self.slots:
            raise ValueError(f"GAMConfig: `main` {self.main!r} is not a cached slot {self.slots}")
        bad = [a for a in self.augment if a not in self.slots]
        if bad:
            raise ValueError(f"GAMConfig: `augment` {bad} are not cached slots {self.slots}")
        if self.input_mode not in INPUT_MODES:
            raise ValueError(f"GAMConfig: `input_mode` must be one of {INPUT_MODES}, got {self.input_mode!r}")
        if not self.nodes or any(not 0 <= int(n) < 68 for n in self.nodes):
            raise ValueError(f"GAMConfig: `nodes` must be landmark ids in 0..67, got {self.nodes!r}")

    def landmark_pairs(self) -> list[tuple[int, int]]:
        if self.pairs is not None:
            return [tuple(p) for p in self.pairs]
        return graph_for(self.nodes, self.graph, k=self.corr_k, min_dist=self.corr_min_dist)

    def to_dict(self) -> dict:
        return asdict(self)


class GAMMER(nn.Module):
    """GAM-MER. ``forward(x)``: ``(B, S, 68, P, P)`` cached crops (slot 0 onset) → logits ``(B, K)``.

    Parts: :meth:`region_inputs` (Eq. 7 selection + the chosen magnification), :meth:`local_features`
    (Eq. 8, ``F_L`` ``(B, N, D)``), ``self.gnn`` (Eq. 9), :meth:`attention` (GAT weights of one sample).
    """

    def __init__(self, num_classes: int, config: GAMConfig | None = None, patch: int = 16):
        super().__init__()
        cfg = config or GAMConfig()
        self.config = cfg
        self.num_classes = int(num_classes)
        self.register_buffer("nodes", torch.tensor([int(n) for n in cfg.nodes], dtype=torch.long), persistent=False)
        self.pairs = cfg.landmark_pairs()
        self.register_buffer("edge_index", edge_index_from_pairs(node_pairs(self.pairs, cfg.nodes), len(cfg.nodes)),
                             persistent=False)
        self.main_slot = 1 + list(cfg.slots).index(cfg.main)
        train_slots = [cfg.main] + [a for a in cfg.augment if a != cfg.main]
        self.register_buffer("train_slots", torch.tensor([1 + list(cfg.slots).index(a) for a in train_slots]),
                             persistent=False)
        in_ch = 2 if cfg.input_mode == "onset+diff" else 1
        self.cnn = RegionCNN(in_ch, len(cfg.nodes), width=cfg.cnn_width, out_dim=cfg.feat_dim, shared=cfg.shared_cnn)
        self.gnn = GraphStack(cfg.feat_dim, hidden=cfg.hidden, num_layers=cfg.num_layers, layer=cfg.layer,
                              heads=cfg.heads, dropout=cfg.dropout)
        self.head = nn.Linear(self.gnn.out_dim, self.num_classes)
        self.patch = patch

    def region_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, S, 68, P, P)`` → ``(B, N, C_in, P, P)``: the selected regions of onset and the chosen slot."""
        if x.ndim != 5 or x.shape[2] != 68 or x.shape[1] != len(self.config.slots) + 1:
            raise ValueError(f"GAMMER: expected (B, {len(self.config.slots) + 1}, 68, P, P) crops, got {tuple(x.shape)}")
        b = x.shape[0]
        x = x.to(self.head.weight.dtype)                                # float32, or the weights' 16-bit type
        if self.training and len(self.train_slots) > 1:
            pick = self.train_slots[torch.randint(len(self.train_slots), (b,), device=x.device)]
        else:
            pick = torch.full((b,), self.main_slot, dtype=torch.long, device=x.device)
        ar = torch.arange(b, device=x.device)
        onset = x[:, 0].index_select(1, self.nodes)                     # (B, N, P, P)
        mag = x[ar, pick].index_select(1, self.nodes)
        if self.training and any(self.config.jitter):
            br, ct = self.config.jitter
            shift = (torch.rand(b, 1, 1, 1, device=x.device) * 2 - 1) * br
            gain = 1 + (torch.rand(b, 1, 1, 1, device=x.device) * 2 - 1) * ct
            onset, mag = onset * gain + shift, mag * gain + shift
        if self.config.input_mode == "onset+diff":
            return torch.stack([onset, mag - onset], dim=2)
        return mag.unsqueeze(2)

    def local_features(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. 8: ``F_L = M_LFE(I_S)``, ``(B, N, D)``."""
        return self.cnn(self.region_inputs(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.gnn(self.local_features(x), self.edge_index)           # Eq. 9
        return self.head(F.dropout(h.mean(dim=1), self.config.dropout, self.training))

    @torch.no_grad()
    def attention(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """GAT attention of the first sample of ``x``, per layer: ``(edge_index (2, E'), alpha (E', heads))`` over
        node positions (self-loops included); eval mode, the ``main`` factor."""
        was = self.training
        self.eval()
        try:
            _, att = self.gnn(self.local_features(x[:1]), self.edge_index, return_attention=True)
        finally:
            self.train(was)
        return att


@dataclass(frozen=True)
class GAMFactory:
    """``model_fn`` for :func:`merlib.eval.run`: ``(num_classes, (S, 68, P, P)) -> GAMMER``."""

    config: GAMConfig = field(default_factory=GAMConfig)
    version: str = "1"

    def identity(self) -> dict:
        return {"fn": f"{type(self).__module__}.{type(self).__qualname__}", "config": self.config.to_dict(),
                "version": self.version}

    def __call__(self, num_classes: int, input_shape: Sequence[int]) -> GAMMER:
        return GAMMER(num_classes, self.config, patch=int(input_shape[-1]))
