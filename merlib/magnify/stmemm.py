"""ST-MEMM: the Swin-Transformer motion magnifier of GAM-MM-MER (Heliyon 2024, paper 002, Sec. 2.1).

Eq. 1-2  encoder: a shallow convolutional encoder ``E_S`` and a deep encoder ``E_D`` of residual
         Swin Transformer blocks (RSTB, Fig. 4: Swin layers + a conv + a skip), applied to both
         frames with shared weights; the shallow and deep features are *mixed* (here: concatenated
         and fused by a 1×1 conv) into ``F_1(MIX)``, ``F_2(MIX)``.
Eq. 3    manipulator: ``F_M = F_1 + ConvRes(alpha·ConvReLU(F_2 − F_1))``.
Eq. 4    mixed magnified transformer block (MMTB, RSTBs): ``F_MMTB = M_MMTB(F_M)``.
Eq. 5    reconstruction: ``I_G = Conv(ConvTrans(F_MMTB + F_M))`` — a stride-2 transpose conv
         reverses the shallow encoder's stride-2 conv.

The RSTBs are :class:`merlib.magnify.swin_blocks.ResidualSwinBlock` (torchvision's
``SwinTransformerBlock`` layers: windowed multi-head self-attention with alternating shifted windows,
Liu et al. 2021).

Factor convention: the paper's Eq. 3 uses Oh et al.'s factor (its α = 1 means no change). As in
Oh et al.'s official code and :mod:`merlib.magnify.oh2018`, merlib writes the manipulator with
merlib's ``alpha = α_oh − 1`` around the *second* frame, ``F_M = F_2 + ConvRes(alpha·ConvReLU(F_2 −
F_1))`` (all bias-free), so ``alpha = 0`` hands the decoder frame 2's features unchanged; the
output shows ``f(x + (1 + alpha)·δ)`` (see :mod:`merlib.magnify.convention`).

The paper gives no sizes; the default here is small enough to train on a CPU (32 channels, window
8, 2 heads, one RSTB of 2 Swin layers in the encoder and one in the MMTB).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from merlib.configs import check_known_keys
from merlib.magnify.conv_blocks import Conv, ResBlock, alpha_tensor
from merlib.magnify.swin_blocks import ResidualSwinBlock

__all__ = ["STMEMMConfig", "STMEMM"]


@dataclass(frozen=True)
class STMEMMConfig:
    """Sizes of ST-MEMM (the paper gives none; the default trains on a CPU)."""

    channels: int = 3
    dim: int = 32                        #: feature channels after the shallow encoder
    window_size: int = 8
    num_heads: int = 2
    encoder_rstb: tuple[int, ...] = (2,)  #: Swin layers per RSTB in the deep encoder
    mmtb_rstb: tuple[int, ...] = (2,)     #: Swin layers per RSTB in the MMTB
    mlp_ratio: float = 2.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["encoder_rstb"], d["mmtb_rstb"] = list(self.encoder_rstb), list(self.mmtb_rstb)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "STMEMMConfig":
        check_known_keys(cls, d)
        d = dict(d)
        for k in ("encoder_rstb", "mmtb_rstb"):
            if k in d:
                d[k] = tuple(int(v) for v in d[k])
        return cls(**d)


class STMEMM(nn.Module):
    """ST-MEMM. ``forward(frame_1, frame_2, alpha)``: frames (B, C, H, W) float in [0, 1], H and W
    even; ``alpha`` float or (B,) tensor, merlib's convention (output shows f(x + (1+alpha)·δ), δ the
    motion from frame 1 to frame 2). Returns (B, C, H, W), not clamped.

    Parts usable alone: :meth:`encode` (Eq. 1-2, (B, dim, H/2, W/2)), ``manipulator`` via
    :meth:`manipulate` (Eq. 3), :meth:`decode` (Eq. 4-5).
    """

    arch = "stmemm"

    def __init__(self, config: STMEMMConfig | None = None, **overrides):
        super().__init__()
        cfg = config or STMEMMConfig()
        if overrides:
            cfg = STMEMMConfig.from_dict({**cfg.to_dict(), **overrides})
        self.config = cfg
        d = cfg.dim
        # Eq. 1: shallow encoder (full-resolution conv, then a stride-2 conv)
        self.shallow = nn.Sequential(nn.Conv2d(cfg.channels, d, 3, padding=1), nn.ReLU(),
                                     nn.Conv2d(d, d, 3, stride=2, padding=1), nn.ReLU())
        # Eq. 2: deep encoder of RSTBs
        self.deep = nn.Sequential(*[ResidualSwinBlock(d, n, cfg.num_heads, cfg.window_size, cfg.mlp_ratio)
                                    for n in cfg.encoder_rstb])
        self.mix = nn.Conv2d(2 * d, d, 1)
        # Eq. 3: ConvReLU and ConvRes (bias-free: alpha = 0 adds exactly nothing)
        self.g = Conv(d, d, 3, relu=True)
        self.h_conv = Conv(d, d, 3)
        self.h_res = ResBlock(d)
        # Eq. 4: mixed magnified transformer block
        self.mmtb = nn.Sequential(*[ResidualSwinBlock(d, n, cfg.num_heads, cfg.window_size, cfg.mlp_ratio)
                                    for n in cfg.mmtb_rstb])
        # Eq. 5: transpose conv (reverses the stride-2 shallow conv) + conv
        self.up = nn.ConvTranspose2d(d, d, 4, stride=2, padding=1)
        self.out = nn.Conv2d(d, cfg.channels, 3, padding=1)

    def encode(self, x):
        """Eq. 1-2: (B, C, H, W) in [0, 1] -> mixed features (B, dim, H/2, W/2)."""
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            raise ValueError(f"STMEMM: height and width must be even, got {tuple(x.shape[-2:])}")
        fs = self.shallow(x * 2.0 - 1.0)
        fd = self.deep(fs)
        return self.mix(torch.cat([fs, fd], 1))

    def manipulate(self, f1, f2, alpha):
        """Eq. 3 with merlib's alpha: ``F_2 + ConvRes(alpha·ConvReLU(F_2 − F_1))``."""
        a = alpha_tensor(alpha, f1)
        return f2 + self.h_res(self.h_conv(self.g(f2 - f1) * a))

    def decode(self, fm):
        """Eq. 4-5: magnified features -> image (B, C, H, W) ~[0, 1]."""
        f = self.mmtb(fm) + fm
        return (self.out(F.relu(self.up(f))) + 1.0) / 2.0

    def forward(self, frame_1, frame_2, alpha):
        return self.decode(self.manipulate(self.encode(frame_1), self.encode(frame_2), alpha))
