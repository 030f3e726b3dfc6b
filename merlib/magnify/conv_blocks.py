"""Convolution blocks shared by merlib's learned magnifiers (Oh et al. 2018 and ST-MEMM).

* :class:`Conv` — a conv with reflection padding or TensorFlow's zero ``SAME`` padding, optional
  bias and ReLU, weights drawn as in Oh et al.'s official code (truncated normal, std 0.02);
* :class:`ResBlock` — Oh et al.'s residual block ``x + conv(relu(conv(x)))``;
* :func:`alpha_tensor` — a factor (float or (B,) tensor) shaped to multiply (B, D, h, w) features.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Conv", "ResBlock", "alpha_tensor", "tf_same_pad"]


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero padding exactly as TensorFlow's ``padding='SAME'`` (extra pixel at bottom/right)."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class Conv(nn.Module):
    """Conv with reflection (``pad="reflect"``, (k-1)/2 on every side) or TensorFlow-SAME zero
    padding (``pad="same"``), no bias unless ``bias=True``; ``relu`` applies a ReLU after it.

    The weight lives at ``.conv.weight`` (and ``.conv.bias``); ``forward(x)``: (B, C_in, H, W) ->
    (B, C_out, ceil(H/stride), ceil(W/stride)).
    """

    def __init__(self, c_in, c_out, kernel, stride=1, pad="reflect", relu=False, bias=False):
        super().__init__()
        if pad not in ("reflect", "same"):
            raise ValueError(f"Conv: `pad` must be 'reflect' or 'same', got {pad!r}")
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, bias=bias)
        nn.init.trunc_normal_(self.conv.weight, std=0.02, a=-0.04, b=0.04)
        if bias:
            nn.init.zeros_(self.conv.bias)
        self.pad, self.kernel, self.stride, self.relu = pad, kernel, stride, relu

    def forward(self, x):
        if self.pad == "same":
            x = tf_same_pad(x, self.kernel, self.stride)
        else:
            p = (self.kernel - 1) // 2
            x = F.pad(x, (p, p, p, p), mode="reflect") if p else x
        x = self.conv(x)
        return F.relu(x) if self.relu else x


class ResBlock(nn.Module):
    """``x + conv(relu(conv(x)))``, 3×3, reflection padding, no bias unless ``bias=True``
    (Oh et al.'s residual block). (B, dims, H, W) -> same shape."""

    def __init__(self, dims: int, hidden: int | None = None, bias: bool = False):
        super().__init__()
        self.c1 = Conv(dims, hidden or dims, 3, relu=True, bias=bias)
        self.c2 = Conv(hidden or dims, dims, 3, bias=bias)

    def forward(self, x):
        return x + self.c2(self.c1(x))


def alpha_tensor(alpha, like: torch.Tensor) -> torch.Tensor:
    """``alpha`` (float, 0-d or (B,) tensor) as a tensor broadcastable against ``like`` (B, ...)."""
    if isinstance(alpha, torch.Tensor):
        a = alpha.to(device=like.device, dtype=like.dtype)
        if a.ndim == 0:
            return a
        if a.ndim == 1 and a.shape[0] in (1, like.shape[0]):
            return a.view(-1, *([1] * (like.ndim - 1)))
        raise ValueError(f"`alpha` must be a float or a (B,) tensor with B={like.shape[0]}, got shape "
                         f"{tuple(a.shape)}")
    return torch.as_tensor(float(alpha), device=like.device, dtype=like.dtype)
