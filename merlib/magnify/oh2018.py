"""Oh et al. 2018's learned motion magnifier (encoder, manipulator, decoder).

Oh, Jaroensri, Kim, Elgharib, Durand, Freeman, Matusik, "Learning-based video motion
magnification", ECCV 2018 (official TensorFlow code: github.com/12dmodel/deep_motion_mag).
The network, as in the paper's Fig. 2 and the official configuration
``o3f_hmhm2_bg_qnoise_mix4_nl_n_t_ds3`` (0.92 M parameters):

* **encoder** (shared by both frames): 7×7 conv → 16, 3×3 stride-2 conv → 32, 3 residual blocks;
  **texture branch** 3×3 stride-2 conv → 32 + 2 residual blocks (texture at 1/4 resolution);
  **shape branch** 2 residual blocks (shape at 1/2 resolution);
* **manipulator**: ``g`` = 7×7 conv + ReLU, multiplication by the factor, ``h`` = 3×3 conv +
  1 residual block;
* **decoder**: texture nearest-upsampled ×2 + 3×3 conv + ReLU, concatenated with the shape
  (64 channels), 9 residual blocks, nearest upsample ×2, 3×3 conv → 32 + ReLU, 7×7 conv → 3.

Official: all convolutions bias-free and padded by reflection, except the stride-2 convs, which
use TensorFlow's zero ``SAME`` padding. Images enter in [0, 1] and are mapped to the official
[-1, 1]; the output is mapped back (``(y + 1) / 2``, not clamped).

The two public PyTorch forms differ, and :class:`OhConfig` describes each exactly:

* weimengting/AMAN ``mag_imple/network.py``: a shape conv (3×3 + ReLU), reflection padding on the
  stride-2 convs (``OhConfig(use_shape_conv=True, stride_padding="reflect")``);
* postech-ami/Deep-Motion-Mag-Pytorch ``module.py``: also a shape conv and reflection padding,
  **biases** on every conv (``bias=True``), an extra 3×3 conv + ReLU after the decoder's last
  upsampling (``decoder_upsample_conv=True``), and a manipulator that multiplies by Oh's ``amp``
  instead of ``amp − 1`` (``factor="amp"``).

The factor convention (read :mod:`merlib.magnify.convention`)
---------------------------------------------------------------
The paper writes the manipulator as ``G_m(M_a, M_b, α) = M_a + h(α·g(M_b − M_a))``; the official
code writes it ``M_b + h((α_oh − 1)·g(M_b − M_a))``, so that ``α_oh = 1`` is exactly the identity.
With merlib's ``alpha = α_oh − 1`` the manipulator computes ``M_b + h(c·g(M_b − M_a))`` with ``c``
= :func:`~merlib.magnify.convention.manipulator_multiplier` (``alpha`` for the official form, ``alpha
+ 1`` for postech-ami's): the output shows ``f(x + (1 + alpha)·δ)``. Every public method takes
merlib's alpha.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from merlib.configs import check_known_keys
from merlib.magnify.conv_blocks import Conv, ResBlock, alpha_tensor
from merlib.magnify.convention import MANIPULATOR_FACTORS, manipulator_multiplier

__all__ = ["OhConfig", "OhMagnifier", "OhEncoder", "OhManipulator", "OhDecoder"]


@dataclass(frozen=True)
class OhConfig:
    """Sizes and variant switches of Oh et al.'s network; the defaults are the official config."""

    channels: int = 3
    enc_dims: int = 32
    texture_dims: int = 32
    shape_dims: int = 32
    n_enc_resblk: int = 3
    n_texture_resblk: int = 2
    n_shape_resblk: int = 2
    use_shape_conv: bool = False      # AMAN and postech-ami have one; the official config does not
    man_g_kernel: int = 7             # official 7×7; the ZhengPeng7 port uses 3×3
    n_man_conv: int = 1
    n_man_aft_conv: int = 1
    n_man_resblk: int = 1
    n_dec_resblk: int = 9
    texture_upsample_conv: bool = True
    stride_padding: str = "same"      # stride-2 convs: "same" (official TF zero SAME) or "reflect" (PyTorch forms)
    bias: bool = False                # postech-ami: every conv has a bias
    decoder_upsample_conv: bool = False  # postech-ami: 3×3 conv + ReLU (dims -> dims) after the last upsample
    factor: str = "amp_minus_1"       # manipulator multiplier (convention.MANIPULATOR_FACTORS)

    def __post_init__(self):
        if self.stride_padding not in ("same", "reflect"):
            raise ValueError(f"OhConfig.stride_padding must be 'same' or 'reflect', got {self.stride_padding!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"OhConfig.channels must be 1 or 3, got {self.channels}")
        if self.factor not in MANIPULATOR_FACTORS:
            raise ValueError(f"OhConfig.factor must be one of {MANIPULATOR_FACTORS}, got {self.factor!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "OhConfig":
        check_known_keys(cls, d)
        return cls(**d)


class OhEncoder(nn.Module):
    """Shared encoder. ``forward(x)`` with x (B, C, H, W) in [0, 1], H and W multiples of 4.

    Returns ``(texture, shape)``: texture (B, texture_dims, H/4, W/4), shape (B, shape_dims, H/2, W/2).
    """

    def __init__(self, cfg: OhConfig):
        super().__init__()
        sp, b = cfg.stride_padding, cfg.bias
        self.conv1 = Conv(cfg.channels, cfg.enc_dims // 2, 7, relu=True, bias=b)
        self.conv2 = Conv(cfg.enc_dims // 2, cfg.enc_dims, 3, 2, pad=sp, relu=True, bias=b)
        self.blocks = nn.Sequential(*[ResBlock(cfg.enc_dims, bias=b) for _ in range(cfg.n_enc_resblk)])
        self.texture_conv = Conv(cfg.enc_dims, cfg.texture_dims, 3, 2, pad=sp, relu=True, bias=b)
        self.texture_blocks = nn.Sequential(*[ResBlock(cfg.texture_dims, bias=b)
                                              for _ in range(cfg.n_texture_resblk)])
        self.shape_conv = (Conv(cfg.enc_dims, cfg.shape_dims, 3, 1, pad=sp, relu=True, bias=b)
                           if cfg.use_shape_conv else None)
        if not cfg.use_shape_conv and cfg.shape_dims != cfg.enc_dims:
            raise ValueError(f"OhConfig: shape_dims ({cfg.shape_dims}) must equal enc_dims ({cfg.enc_dims}) "
                             "unless use_shape_conv=True")
        self.shape_blocks = nn.Sequential(*[ResBlock(cfg.shape_dims, bias=b) for _ in range(cfg.n_shape_resblk)])

    def forward(self, x):
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"OhEncoder: height and width must be multiples of 4, got {tuple(x.shape[-2:])} "
                             "(magnify_learned pads for you)")
        enc = self.blocks(self.conv2(self.conv1(x * 2.0 - 1.0)))
        texture = self.texture_blocks(self.texture_conv(enc))
        shape = enc if self.shape_conv is None else self.shape_conv(enc)
        return texture, self.shape_blocks(shape)


class OhManipulator(nn.Module):
    """``M_b + h(c·g(M_b − M_a))``, ``c`` = ``manipulator_multiplier(alpha, config.factor)``.

    ``forward(shape_a, shape_b, alpha)``: shapes (B, D, h, w); ``alpha`` (merlib's) a float or a
    (B,) tensor. :meth:`delta` gives ``h(c·g(diff))`` alone (the temporal mode feeds it a filtered
    signal).
    """

    def __init__(self, cfg: OhConfig):
        super().__init__()
        d, b = cfg.shape_dims, cfg.bias
        self.factor = cfg.factor
        self.g = nn.Sequential(*[Conv(d, d, cfg.man_g_kernel, relu=True, bias=b) for _ in range(cfg.n_man_conv)])
        self.after = nn.Sequential(*[Conv(d, d, 3, bias=b) for _ in range(cfg.n_man_aft_conv)])
        self.blocks = nn.Sequential(*[ResBlock(d, bias=b) for _ in range(cfg.n_man_resblk)])

    def delta(self, diff, alpha):
        c = manipulator_multiplier(alpha_tensor(alpha, diff), self.factor)
        return self.blocks(self.after(self.g(diff) * c))

    def forward(self, shape_a, shape_b, alpha):
        return shape_b + self.delta(shape_b - shape_a, alpha)


class OhDecoder(nn.Module):
    """``forward(texture, shape)`` -> image (B, C, H, W), ~[0, 1] (not clamped)."""

    def __init__(self, cfg: OhConfig):
        super().__init__()
        dims, b = cfg.texture_dims + cfg.shape_dims, cfg.bias
        self.texture_upsample = (Conv(cfg.texture_dims, cfg.texture_dims, 3, relu=True, bias=b)
                                 if cfg.texture_upsample_conv else None)
        self.blocks = nn.Sequential(*[ResBlock(dims, bias=b) for _ in range(cfg.n_dec_resblk)])
        self.upsample_conv = Conv(dims, dims, 3, relu=True, bias=b) if cfg.decoder_upsample_conv else None
        self.up_conv = Conv(dims, dims // 2, 3, relu=True, bias=b)
        self.out_conv = Conv(dims // 2, cfg.channels, 7, bias=b)

    def forward(self, texture, shape):
        texture = F.interpolate(texture, scale_factor=2, mode="nearest")
        if self.texture_upsample is not None:
            texture = self.texture_upsample(texture)
        if texture.shape[-2:] != shape.shape[-2:]:
            texture = F.interpolate(texture, size=shape.shape[-2:], mode="nearest")
        r = self.blocks(torch.cat([texture, shape], 1))
        r = F.interpolate(r, scale_factor=2, mode="nearest")
        if self.upsample_conv is not None:
            r = self.upsample_conv(r)
        return (self.out_conv(self.up_conv(r)) + 1.0) / 2.0


class OhMagnifier(nn.Module):
    """Oh et al. 2018's magnification network (encoder, manipulator, decoder).

    ``forward(frame_a, frame_b, alpha)``: frames (B, C, H, W) float in [0, 1], H and W multiples
    of 4; ``alpha`` float or (B,) tensor in merlib's convention (output shows
    f(x + (1 + alpha)·δ) where δ is the motion from ``frame_a`` to ``frame_b``; Oh's amp = 1 + alpha).
    Returns (B, C, H, W), not clamped. The parts are usable alone: ``encoder(x) -> (texture,
    shape)``, ``manipulator(shape_a, shape_b, alpha)``, ``decoder(texture, shape)`` — e.g. MMFRN
    magnifies in feature space with the encoder's shape branch and the manipulator, no decoder.
    """

    arch = "oh2018"

    def __init__(self, config: OhConfig | None = None, **overrides):
        super().__init__()
        cfg = config or OhConfig()
        if overrides:
            cfg = OhConfig.from_dict({**cfg.to_dict(), **overrides})
        self.config = cfg
        self.encoder = OhEncoder(cfg)
        self.manipulator = OhManipulator(cfg)
        self.decoder = OhDecoder(cfg)

    def magnify_features(self, frame_a, frame_b, alpha):
        """Shape representation of B magnified against A: (B, shape_dims, H/2, W/2). No decoder."""
        _, shape_a = self.encoder(frame_a)
        _, shape_b = self.encoder(frame_b)
        return self.manipulator(shape_a, shape_b, alpha)

    def forward(self, frame_a, frame_b, alpha):
        _, shape_a = self.encoder(frame_a)
        texture_b, shape_b = self.encoder(frame_b)
        return self.decoder(texture_b, self.manipulator(shape_a, shape_b, alpha))
