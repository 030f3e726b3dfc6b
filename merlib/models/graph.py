"""Graph blocks shared by landmark-graph recognisers: edge lists, batched edge indices, a per-region CNN and a
stack of PyTorch Geometric graph layers (``GATConv`` / ``GCNConv``).

Nothing here hand-writes attention: the graph layers are PyTorch Geometric's ``GATConv`` (Veličković et al.,
ICLR 2018) and ``GCNConv`` (Kipf & Welling, ICLR 2017). What this module adds is the plumbing a fixed-topology
landmark graph needs:

* :func:`edge_index_from_pairs` — an undirected edge list ``[(i, j), ...]`` as PyG's ``(2, E)`` ``edge_index``
  (both directions, duplicates and self-pairs removed);
* :func:`batch_edge_index` — the same graph repeated for ``B`` samples (node ids offset by ``b * N``), so a batch
  ``(B, N, F)`` runs through PyG as one disconnected graph of ``B * N`` nodes without building ``Data`` objects;
* :class:`RegionCNN` — a small CNN applied to each of ``R`` image regions (``(B, R, C, P, P) -> (B, R, D)``),
  with separate weights per region (grouped convolutions, ``shared=False``) or one set shared by all;
* :class:`GraphStack` — ``L`` graph layers (``"gat"`` or ``"gcn"``) with ELU and dropout between them, batched
  over samples of the same graph; :meth:`GraphStack.forward` can return each GAT layer's attention weights.

Shapes are given in each docstring; everything runs on CPU and CUDA.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["edge_index_from_pairs", "batch_edge_index", "pairs_from_edge_index", "RegionCNN", "GraphStack",
           "GRAPH_LAYERS"]

GRAPH_LAYERS = ("gat", "gcn")


def edge_index_from_pairs(pairs: Iterable[Sequence[int]], num_nodes: int) -> torch.Tensor:
    """Undirected pairs ``[(i, j), ...]`` (node ids in ``0..num_nodes-1``) → ``(2, E)`` long, both directions.

    Self-pairs and duplicates (in either order) are dropped; the columns are sorted (source, then target).

    Raises:
        ValueError: a pair is not two ints in range.
    """
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
        raise ValueError(f"edge_index_from_pairs: `num_nodes` must be a positive int, got {num_nodes!r}")
    seen = set()
    for p in pairs:
        if len(p) != 2:
            raise ValueError(f"edge_index_from_pairs: each pair must be (i, j), got {p!r}")
        i, j = int(p[0]), int(p[1])
        if not (0 <= i < num_nodes and 0 <= j < num_nodes):
            raise ValueError(f"edge_index_from_pairs: pair {tuple(p)} out of range 0..{num_nodes - 1}")
        if i != j:
            seen.add((i, j))
            seen.add((j, i))
    if not seen:
        return torch.zeros(2, 0, dtype=torch.long)
    return torch.tensor(sorted(seen), dtype=torch.long).t().contiguous()


def pairs_from_edge_index(edge_index: torch.Tensor) -> list[tuple[int, int]]:
    """The undirected pairs ``(i < j)`` of an ``edge_index`` (inverse of :func:`edge_index_from_pairs`)."""
    return sorted({(min(int(a), int(b)), max(int(a), int(b))) for a, b in edge_index.t().tolist() if a != b})


def batch_edge_index(edge_index: torch.Tensor, num_nodes: int, batch_size: int) -> torch.Tensor:
    """The graph ``edge_index`` (on ``num_nodes`` nodes) repeated ``batch_size`` times: ``(2, B * E)``.

    Copy ``b`` uses node ids ``b * num_nodes .. (b + 1) * num_nodes - 1`` — the node order of
    ``x.reshape(B * N, F)`` for ``x`` of shape ``(B, N, F)``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_edge_index: `batch_size` must be >= 1, got {batch_size!r}")
    offs = (torch.arange(batch_size, device=edge_index.device) * num_nodes).repeat_interleave(edge_index.shape[1])
    return edge_index.repeat(1, batch_size) + offs.unsqueeze(0)


class RegionCNN(nn.Module):
    """A small CNN per image region (the local feature extractor of a landmark-region graph).

    Two 3 × 3 conv layers (``width``, ``2 * width`` channels, batch norm, ReLU, 2 × 2 max-pool after the
    first), a ``pool × pool`` average pool, then a linear map to ``out_dim`` — per region.

    Args:
        in_channels: ``C`` of each region crop.
        num_regions: ``R``.
        width: channels of the first conv layer.
        out_dim: ``D``, features per region.
        shared: ``True``: one CNN for every region; ``False``: separate weights per region, computed in one
            pass with grouped convolutions (``groups = R``).
        pool: side of the final average-pooled grid.

    ``forward(x)``: ``(B, R, C, P, P)`` → ``(B, R, D)``.
    """

    def __init__(self, in_channels: int, num_regions: int, width: int = 8, out_dim: int = 32,
                 shared: bool = False, pool: int = 2):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("num_regions", num_regions), ("width", width),
                        ("out_dim", out_dim), ("pool", pool)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"RegionCNN: `{name}` must be a positive int, got {v!r}")
        self.in_channels, self.num_regions, self.width, self.out_dim = in_channels, num_regions, width, out_dim
        self.shared, self.pool = bool(shared), pool
        g = 1 if self.shared else num_regions
        self.conv1 = nn.Conv2d(in_channels * g, width * g, 3, padding=1, groups=g)
        self.bn1 = nn.BatchNorm2d(width * g)
        self.conv2 = nn.Conv2d(width * g, 2 * width * g, 3, padding=1, groups=g)
        self.bn2 = nn.BatchNorm2d(2 * width * g)
        # per-region linear map as a grouped 1x1 convolution over the flattened pooled grid
        self.fc = nn.Conv1d(2 * width * pool * pool * g, out_dim * g, 1, groups=g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.num_regions or x.shape[2] != self.in_channels:
            raise ValueError(f"RegionCNN: expected (B, {self.num_regions}, {self.in_channels}, P, P), "
                             f"got {tuple(x.shape)}")
        b, r, c, h, w = x.shape
        if self.shared:
            h_ = x.reshape(b * r, c, h, w)
        else:
            h_ = x.reshape(b, r * c, h, w)
        h_ = F.max_pool2d(F.relu(self.bn1(self.conv1(h_))), 2)
        h_ = F.relu(self.bn2(self.conv2(h_)))
        h_ = F.adaptive_avg_pool2d(h_, self.pool)                      # (B*R, 2w, p, p) or (B, R*2w, p, p)
        if self.shared:
            out = self.fc(h_.reshape(b * r, -1, 1)).reshape(b, r, self.out_dim)
        else:
            # group g's channels are [g*2w, (g+1)*2w): flatten each group's (2w, p, p) block contiguously
            h_ = h_.reshape(b, r, -1).reshape(b, -1, 1)
            out = self.fc(h_).reshape(b, r, self.out_dim)
        return out


class GraphStack(nn.Module):
    """``num_layers`` PyTorch Geometric graph layers over a batch of samples that share one graph.

    Args:
        in_dim: node features in.
        hidden: features per head of every layer (the last layer outputs ``hidden``).
        num_layers: ``L >= 1``.
        layer: ``"gat"`` (``torch_geometric.nn.GATConv``; intermediate layers concatenate ``heads`` heads, the last
            has one head) or ``"gcn"`` (``torch_geometric.nn.GCNConv``, symmetric normalisation with self-loops).
        heads: attention heads of the intermediate GAT layers.
        dropout: feature dropout between layers (and GAT's attention dropout).

    ``forward(x, edge_index, return_attention=False)``: ``x`` ``(B, N, in_dim)``, ``edge_index`` ``(2, E)`` on the
    ``N`` nodes of one sample → ``(B, N, hidden)``; with ``return_attention`` (GAT only) also a list, per layer, of
    ``(edge_index_with_self_loops (2, E'), alpha (E', heads))`` for the *first* sample of the batch.
    """

    def __init__(self, in_dim: int, hidden: int = 32, num_layers: int = 2, layer: str = "gat", heads: int = 2,
                 dropout: float = 0.0):
        super().__init__()
        from torch_geometric.nn import GATConv, GCNConv

        if layer not in GRAPH_LAYERS:
            raise ValueError(f"GraphStack: `layer` must be one of {GRAPH_LAYERS}, got {layer!r}")
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"GraphStack: `num_layers` must be a positive int, got {num_layers!r}")
        self.layer, self.num_layers, self.hidden, self.heads, self.dropout = layer, num_layers, hidden, heads, dropout
        convs = []
        d = in_dim
        for k in range(num_layers):
            last = k == num_layers - 1
            if layer == "gat":
                h = 1 if last else heads
                convs.append(GATConv(d, hidden, heads=h, concat=True, dropout=dropout, add_self_loops=True))
                d = hidden * h
            else:
                convs.append(GCNConv(d, hidden, add_self_loops=True, normalize=True))
                d = hidden
        self.convs = nn.ModuleList(convs)
        self.out_dim = d
        self._ei_cache: dict = {}

    def _batched(self, edge_index: torch.Tensor, n: int, b: int) -> torch.Tensor:
        key = (edge_index.data_ptr(), tuple(edge_index.shape), n, b, str(edge_index.device))
        hit = self._ei_cache.get(key)
        if hit is None:
            if len(self._ei_cache) > 16:
                self._ei_cache.clear()
            hit = self._ei_cache[key] = batch_edge_index(edge_index, n, b)
        return hit

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, return_attention: bool = False):
        if x.ndim != 3:
            raise ValueError(f"GraphStack: `x` must be (B, N, F), got {tuple(x.shape)}")
        if return_attention and self.layer != "gat":
            raise ValueError("GraphStack: attention weights exist for layer='gat' only")
        b, n, _ = x.shape
        ei = self._batched(edge_index.to(x.device), n, b)
        h = x.reshape(b * n, -1)
        att = []
        for k, conv in enumerate(self.convs):
            if k:
                h = F.dropout(F.elu(h), self.dropout, self.training)
            if return_attention:
                h, (ei_sl, alpha) = conv(h, ei, return_attention_weights=True)
                first = (ei_sl[0] < n) & (ei_sl[1] < n)
                att.append((ei_sl[:, first].detach(), alpha[first].detach()))
            else:
                h = conv(h, ei)
        h = h.reshape(b, n, -1)
        return (h, att) if return_attention else h
