"""Swin Transformer blocks for merlib's learned magnifiers.

:class:`ResidualSwinBlock` is the RSTB of paper 002 (GAM-MM-MER, Heliyon 2024, Fig. 4): Swin layers
(torchvision's ``SwinTransformerBlock``, windowed multi-head self-attention with alternating
shifted windows, Liu et al. 2021) + a 3×3 conv + a skip, on (B, C, H, W) features.
"""
from __future__ import annotations

import torch.nn as nn
from torchvision.models.swin_transformer import SwinTransformerBlock

__all__ = ["ResidualSwinBlock"]


class ResidualSwinBlock(nn.Module):
    """RSTB: ``x + conv3x3(SwinLayers(x))``; (B, dim, H, W) -> same shape.

    ``depth`` Swin layers alternate regular and shifted windows (shift = window // 2); they run
    channels-last, as torchvision's do.
    """

    def __init__(self, dim: int, depth: int, num_heads: int, window_size: int, mlp_ratio: float):
        super().__init__()
        self.layers = nn.Sequential(*[
            SwinTransformerBlock(dim, num_heads, [window_size, window_size],
                                 [0 if i % 2 == 0 else window_size // 2] * 2, mlp_ratio=mlp_ratio)
            for i in range(depth)])
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x):
        y = self.layers(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + self.conv(y)
