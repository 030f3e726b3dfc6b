"""The frozen, cached part of CMNet's encoders: a ResNet-18 prefix, spatially pooled to a vector per frame.

CMNet's FFE is "a ResNet" and its ICE a CNN (Fig. 2), trained end to end on 224 x 224 faces. On a CPU
budget merlib freezes the early blocks of a ResNet-18 (``until``: the last frozen block, default
``"B4"`` = the end of torchvision's ``layer2``), runs them once per frame and view, and caches the
result (:class:`merlib.eval.Cache` via :func:`merlib.eval.run`'s ``backbone=``); the trainable heads
of :class:`.model.CMNet` sit on top. The maps are average-pooled to a ``pool x pool`` grid (default
2 x 2) and flattened, so the vector keeps coarse *where* (upper / lower face, left / right) -- a
micro-expression is local and a global average would wash it out.

Weights: torchvision's ImageNet ResNet-18 when it is in torch's cache (``$TORCH_HOME/hub/checkpoints``;
nothing is downloaded unless ``allow_download=True``), otherwise a random initialisation drawn from a
fixed seed (``init_seed``), with :class:`merlib.models.backbones.PretrainedWeightsWarning`. A frozen
random ResNet is a fixed random-feature map: weaker than ImageNet features, but the same on every
machine, so cached features and results stay comparable. ``pretrained_source`` says which one ran.

Shapes: ``(M, C, H, W)`` float in [0, 1] → ``(M, D)`` with ``D = channels(until) * pool**2``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from merlib.models import backbones

__all__ = ["FrozenTrunk"]


class FrozenTrunk(nn.Module):
    """A frozen backbone prefix + ``pool x pool`` average pooling → one vector per frame.

    Args:
        name: a :func:`merlib.models.backbones.load` name (default ``"resnet18"``).
        until: the last block computed (``"stem"``, ``"B1"``, ... ``"B8"`` for ResNet-18).
        pool: output grid side (1 = global average).
        input_size: frames are resized to this inside the backbone (``None``: kept, e.g. 64 x 64).
        pretrained: as ``backbones.load`` (``None``: ImageNet weights when cached, else random).
        init_seed: seed of the random initialisation (used when no weights are loaded).
        allow_download: let torchvision download the ImageNet weights.
    """

    def __init__(self, name: str = "resnet18", until: str = "B4", pool: int = 2, input_size=None,
                 pretrained=None, init_seed: int = 0, allow_download: bool = False):
        super().__init__()
        if not isinstance(pool, int) or pool < 1:
            raise ValueError(f"FrozenTrunk: `pool` must be a positive int, got {pool!r}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(init_seed))
            bb = backbones.load(name, pretrained=pretrained, freeze=True, device="cpu", input_size=input_size,
                                allow_download=allow_download)
        if until not in bb.block_names:
            raise ValueError(f"FrozenTrunk: `until` must be one of {bb.block_names}, got {until!r}")
        keep = bb.block_names[:bb.block_names.index(until) + 1]
        self.norm = bb.norm
        self.blocks = nn.ModuleList([bb.blocks[b] for b in keep])
        self.name, self.until, self.pool = name, until, pool
        self.pretrained_source = bb.pretrained_source
        with torch.no_grad():
            probe = torch.zeros(1, 3, 64, 64)
            for blk in self.blocks:
                probe = blk(probe)
        self.channels = int(probe.shape[1])
        self.feature_dim = self.channels * pool * pool
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "FrozenTrunk":
        return super().train(False)  # frozen: batch-norm statistics never move

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.ndim != 4:
            raise ValueError(f"FrozenTrunk: `frames` must be (M, C, H, W), got shape {tuple(frames.shape)}")
        h = self.norm(frames)
        for blk in self.blocks:
            h = blk(h)
        return F.adaptive_avg_pool2d(h, self.pool).flatten(1)

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, until={self.until!r}, pool={self.pool}, feature_dim={self.feature_dim}, "
                f"weights={self.pretrained_source or 'random (init_seed)'}")
