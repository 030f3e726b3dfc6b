"""AMAN's inputs: TIM, onset alignment, n frames x k magnification factors, frozen ResNet-18 features.

What the paper says (Sec. 2.1, 2.2.1, 3.1) and what merlib does, step by step:

1. **TIM to a common length.** "we firstly use a Time Interpolation Model (TIM) to reconstruct the video so that
   all the videos are consistent in length. Then we successively sample n number of frames from the beginning at a
   certain interval" -- the length is not stated; Fig. 3 sweeps n "from 1 to the maximum length (20)".
   merlib's choice: the onset..offset clip is TIM-interpolated (:func:`merlib.data.frames.tim_interpolate`) to
   ``1 + TIM_LENGTH`` = 21 frames; TIM frame 0 is the onset (the reference ``I_on``), the n selected frames are TIM
   frames ``1..n`` (interval 1, from the beginning). The selections of every n are prefixes of one another, so a
   bank of the first ``n_max`` frames serves the whole Fig. 3 sweep.
2. **68-landmark alignment on the onset** (:func:`merlib.data.faces.align_clip`): landmarks of the onset frame
   (the paper uses MTCNN [13]; merlib uses dlib's 68-point predictor, which ships in an installed package and
   works offline on the synthetic faces too), eye line levelled, face cropped with a margin; the same transform
   for every frame. Where no face is found the frames are resized whole (``info[0] = 0`` records it).
3. **Magnification with factors amp_1..amp_k** (Eq. 3): Oh et al.'s network against the onset. AMAN's amp is
   **Oh's factor** (its ``mag.py`` feeds amp into Oh's manipulator, which multiplies by ``amp - 1``), so the
   output shows ``f(x + amp * delta)`` -- *not* Eq. 2's printed ``f(x + (1 + amp) delta)``; merlib's alpha is
   ``amp - 1`` (:func:`merlib.magnify.convention.from_oh_factor`). amp_i = i, "ranging from 1 to k": amp_1 = 1
   is the unmagnified frame. Each selected frame is encoded once, the onset once; only the manipulator and the
   decoder run once per factor (:func:`magnify_factors`).
4. **ResNet-18 per magnified frame** (Eq. 4), 224 x 224 in the paper (merlib: ``size``, smaller on a CPU).
   ``tail="layer4"`` keeps the output of layer 3 (B6) -- what AMAN's own code caches and trains layer 4 on;
   ``tail="none"`` (the CPU stand-in, see :mod:`.model`) runs the frozen network to block ``until`` and pools
   it on a small grid (default: B4, 2 x 2, 512-d; merlib's choice, see :class:`AMANStage`).

The bank of one clip is ``(n_max, K, ...)``: features of TIM frame ``j + 1`` magnified by ``amps[i]``, computed
once and cached by :class:`merlib.eval.task.FrozenFeatures` (one entry per clip holding every (frame, factor)
cell); a run with ``n <= n_max`` frames and the first ``k`` factors selects its cells from it (:mod:`.experiment`).
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from merlib.data.frames import tim_interpolate
from merlib.magnify.convention import from_oh_factor

__all__ = ["N_FRAMES", "K_LEVELS", "TIM_LENGTH", "amp_factors", "merlib_alpha", "printed_eq2_gain", "oh_gain",
           "AMANStage", "align_onset", "tim_frames", "magnify_factors", "aman_bank", "BANK_VERSION"]

#: The paper's defaults: n = 11 frames, k = 9 magnification levels (Sec. 3.1.2), Fig. 3's maximum length 20.
N_FRAMES, K_LEVELS, TIM_LENGTH = 11, 9, 20
#: Bump when :func:`aman_bank`'s output changes for the same inputs.
BANK_VERSION = "4"


def amp_factors(k: int) -> list[float]:
    """AMAN's factors amp_1..amp_k "ranging from 1 to k": ``[1, 2, ..., k]`` (Oh's convention)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"amp_factors: `k` must be a positive int, got {k!r}")
    return [float(i) for i in range(1, k + 1)]


def merlib_alpha(amp: float) -> float:
    """merlib's alpha of AMAN's factor ``amp``: ``amp - 1`` (output shows ``f(x + amp * delta)``)."""
    return from_oh_factor(amp)


def printed_eq2_gain(amp: float) -> float:
    """The displacement gain AMAN's *printed* Eq. 2 states: ``1 + amp``."""
    return 1.0 + float(amp)


def oh_gain(amp: float) -> float:
    """The displacement gain Oh's network gives for factor ``amp`` (and what AMAN's code runs): ``amp``."""
    return float(amp)


class AMANStage(nn.Module):
    """The frozen part of AMAN: a magnifier and a ResNet-18 prefix (its weights enter the cache key).

    Args:
        magnifier: an :class:`merlib.magnify.oh2018.OhMagnifier` (``load_magnifier("oh2018")``, or AMAN's
            conversion: ``load_magnifier(path=".../learning_based_mag.pth.tar")``).
        backbone: a :class:`merlib.models.backbones.Backbone` ResNet-18 (``resnet18_ferplus`` or ``resnet18``);
            frames are fed at the bank's ``size`` (build it with ``input_size=None``).
        tail: ``"layer4"`` -- as AMAN's code: features are the layer-3 maps ``(256, s/16, s/16)`` for a trainable
            layer 4; ``"none"`` -- merlib's CPU stand-in: the frozen network up to block ``until``, average-pooled
            on a ``pool x pool`` grid and flattened, ``(C(until) * pool**2,)``.
        until, pool: for ``tail="none"``. Default ``"B4"`` (end of layer 2) and 2 x 2 = 512-d, merlib's choice
            (as :mod:`merlib.papers.cmnet2023.features`): at the 32-64 px a CPU affords, layer 4's output is 1-2
            pixels wide and a global average washes out *where* a micro-expression moves. ``until="B8", pool=1``
            is the paper's pooled 512-d feature of the whole (frozen) network.
    """

    def __init__(self, magnifier: nn.Module, backbone: nn.Module, tail: str = "none", until: str = "B4",
                 pool: int = 2):
        super().__init__()
        if tail not in ("layer4", "none"):
            raise ValueError(f"AMANStage: `tail` must be 'layer4' or 'none', got {tail!r}")
        names = ["stem"] + [f"B{i}" for i in range(1, 9)]
        if list(getattr(backbone, "block_names", [])) != names:
            raise ValueError("AMANStage: `backbone` must be a merlib ResNet-18 Backbone (stem, B1..B8)")
        if until not in names[1:]:
            raise ValueError(f"AMANStage: `until` must be one of B1..B8, got {until!r}")
        if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
            raise ValueError(f"AMANStage: `pool` must be a positive int, got {pool!r}")
        self.magnifier, self.backbone, self.tail = magnifier, backbone, tail
        self.until, self.pool = ("B6", 0) if tail == "layer4" else (until, int(pool))
        self.frozen = tuple(backbone.block_names) + (f"tail={tail}", f"until={self.until}", f"pool={self.pool}")
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "AMANStage":
        return super().train(False)  # frozen: batch-norm statistics never move

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``(M, 3, s, s)`` in [0, 1] -> ``(M, 256, s/16, s/16)`` (tail ``layer4``) or ``(M, D)`` (``none``)."""
        h = self.backbone.feature_maps(images, until=self.until)
        if self.tail == "layer4":
            return h
        return F.adaptive_avg_pool2d(h, self.pool).flatten(1)

    def extra_repr(self) -> str:
        what = "layer-3 maps" if self.tail == "layer4" else f"up to {self.until}, {self.pool}x{self.pool} pooled"
        return (f"tail={self.tail!r} ({what}), backbone={getattr(self.backbone, 'name', '?')} "
                f"({getattr(self.backbone, 'pretrained_source', None) or 'random init'}), "
                f"magnifier={getattr(self.magnifier, 'weights_source', '?')}")


def align_onset(frames: torch.Tensor, size: int, margin: float = 0.15, method: str = "dlib"
                ) -> tuple[torch.Tensor, bool]:
    """Align ``(T, C, H, W)`` on its onset frame (``frames[0]``) with 68 landmarks -> ``((T, C, size, size), found)``.

    ``method``: ``"dlib"``, ``"mtcnn"`` or ``"none"`` (resize only). Without a face (or without dlib) the
    frames are resized whole and ``found`` is False.
    """
    from merlib.data import faces

    if method != "none":
        try:
            out, _ = faces.align_clip(frames, size=size, margin=margin, method=method, device="cpu")
            return out, True
        except (faces.FaceNotFoundError, ImportError) as exc:
            warnings.warn(f"align_onset: {type(exc).__name__}: {exc}; frames resized without alignment", stacklevel=2)
    out = F.interpolate(frames.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out.clamp(0, 1), False


def tim_frames(frames: torch.Tensor, n_max: int = TIM_LENGTH, tim_length: int = TIM_LENGTH) -> torch.Tensor:
    """``(T, C, H, W)`` onset..offset -> ``(1 + n_max, C, H, W)``: the onset, then TIM frames ``1..n_max`` of the
    clip interpolated to ``1 + tim_length`` frames (TIM keeps the first frame, so frame 0 is the onset)."""
    if not 1 <= n_max <= tim_length:
        raise ValueError(f"tim_frames: need 1 <= n_max <= tim_length, got n_max={n_max}, tim_length={tim_length}")
    return tim_interpolate(frames.float(), 1 + int(tim_length))[: 1 + int(n_max)]


@torch.no_grad()
def magnify_factors(magnifier: nn.Module, onset: torch.Tensor, frames: torch.Tensor, amps) -> torch.Tensor:
    """Eq. 3 for a set of factors: ``(C, H, W)`` onset, ``(N, C, H, W)`` frames -> ``(N, K, C, H, W)``.

    ``out[j, i]`` is frame ``j`` magnified against the onset by AMAN's ``amps[i]`` (Oh's factor; merlib's alpha
    ``amps[i] - 1``), clamped to [0, 1]. The onset and every frame are encoded once; the manipulator and the
    decoder run once, on all N x K (frame, factor) cells as one batch. Equal (up to float rounding) to ``magnifier(onset, frame, alpha)`` called per cell.
    """
    if onset.ndim != 3 or frames.ndim != 4 or tuple(onset.shape) != tuple(frames.shape[1:]):
        raise ValueError(f"magnify_factors: onset (C, H, W) and frames (N, C, H, W) of one size, got "
                         f"{tuple(onset.shape)} and {tuple(frames.shape)}")
    _, shape_a = magnifier.encoder(onset.unsqueeze(0))
    texture_b, shape_b = magnifier.encoder(frames)
    n, k = shape_b.shape[0], len(amps)
    # Every (frame, factor) cell in one manipulator + decoder batch, frame-major (merlib's choice, for speed: the
    # decoder's 3x3 convs at a CPU's 32-64 px cost ~25 ms / image in batches of 4 and ~16 ms in batches of 44;
    # channels-last activations ~13 ms).
    def rep(t):  # (N, ...) -> (N * K, ...), cell j * K + i
        return t.repeat_interleave(k, dim=0).contiguous(memory_format=torch.channels_last)

    alphas = torch.tensor([merlib_alpha(a) for a in amps], dtype=shape_b.dtype, device=shape_b.device).repeat(n)
    mag = magnifier.decoder(rep(texture_b), magnifier.manipulator(shape_a.expand(n * k, -1, -1, -1), rep(shape_b),
                                                                   alphas))
    return mag.contiguous().reshape(n, k, *mag.shape[1:]).clamp_(0, 1)


@torch.no_grad()
def aman_bank(stage: AMANStage, frames: torch.Tensor, n_max: int = TIM_LENGTH, k_max: int = K_LEVELS,
              size: int = 64, tim_length: int = TIM_LENGTH, align: str = "dlib", margin: float = 0.15,
              chunk: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen-feature stage of one clip (a :class:`~merlib.eval.task.FrozenFeatures` function).

    Args:
        stage: the :class:`AMANStage`.
        frames: ``(T, C, H, W)`` onset..offset, float in [0, 1] (``TrainConfig(frames="all")``).
        n_max, k_max: the bank covers TIM frames ``1..n_max`` and factors ``amp_factors(k_max)``.
        size: aligned face size (multiple of 8; the paper: 224).
        align: ``"dlib"``, ``"mtcnn"`` or ``"none"``.
        chunk: frames magnified together.

    Returns:
        ``(bank, info)``: ``bank`` float32 ``(n_max, k_max, *feature)`` (feature ``(512,)`` or ``(256, h, w)``;
        float16 would overflow once the runner standardises it);
        ``info`` float32 ``(2,)`` = ``[face found on the onset (1/0), number of loaded frames]``.
    """
    if size % 8:
        raise ValueError(f"aman_bank: `size` must be a multiple of 8 (Oh's network halves it twice), got {size}")
    if frames.ndim != 4 or frames.shape[0] < 2:
        raise ValueError(f"aman_bank: `frames` must be (T >= 2, C, H, W), got {tuple(frames.shape)}")
    x = frames.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    aligned, found = align_onset(x, size, margin=margin, method=align)
    seq = tim_frames(aligned, n_max, tim_length)
    onset, sel = aligned[0], seq[1:]
    amps = amp_factors(k_max)
    rows = []
    for s in range(0, len(sel), chunk):
        mag = magnify_factors(stage.magnifier, onset, sel[s:s + chunk], amps)       # (c, K, 3, s, s)
        f = stage.features(mag.flatten(0, 1))
        rows.append(f.reshape(mag.shape[0], mag.shape[1], *f.shape[1:]))
    bank = torch.cat(rows).float()
    return bank, torch.tensor([float(found), float(frames.shape[0])])
