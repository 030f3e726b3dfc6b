"""MMFRN's inputs: the four key frames (Fig. 3b) or the SSIM-selected ones (Eq. 14, Table 6), encoded once.

* :class:`KeyFrameView` — a dataset seen as MMFRN's input: ``frames(i)`` returns the four frames onset / mid /
  apex / offset (:func:`merlib.data.frames.key_frame_indices`, ``select="apex"``) or start / new mid /
  difference frame / end (:func:`merlib.data.frames.difference_frame_indices`, ``select="ssim"``: the frame
  with the lowest SSIM to the first, Eq. 14) and one *marker frame* carrying the four frames' normalised
  times ``τ`` (row 0, channel 0, columns 0-3). The runner's feature hooks see frames only; the marker carries
  the positions the relation modules' geometry needs through them (the same workaround as CMNet's
  ``ApexTagged``).
* :class:`MMFRNEncoders` — the frozen part: MMFRN's :class:`~.model.ShapeEncoder` (Oh et al.'s trunk loaded
  from a checkpoint, the 64-channel stride-2 shape branch from a fixed seed) and a ResNet-50
  (:func:`merlib.models.backbones.load`; torchvision's ImageNet weights when torch's cache has them,
  otherwise a fixed random initialisation — the *offline stand-in*, named by ``resnet_source``).
* :func:`mmfrn_inputs` — the :class:`merlib.eval.FrozenFeatures` function: five frames → ``(local (4, 64,
  H/4, W/4), global (4, 2048), τ (4,))``. The α of the manipulator comes after it, so every α of a sweep
  reuses one encode per clip and frame.

SSIM is computed on the frames as loaded (``TrainConfig.size``; merlib's choice — the paper computes it on
the 256 × 256 crops), with :func:`merlib.data.frames.ssim`'s 7 × 7 window (scikit-image's definition).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from merlib.data.frames import difference_frame_indices, key_frame_indices
from merlib.models import backbones

from .model import ShapeEncoder, load_oh_trunk

__all__ = ["KeyFrameView", "MMFRNEncoders", "mmfrn_inputs", "SELECTIONS", "decode_marker", "FEATURE_VERSION"]

SELECTIONS = ("apex", "ssim")
#: Bump when :func:`mmfrn_inputs`' output changes for the same key.
FEATURE_VERSION = "1"


def decode_marker(marker: torch.Tensor) -> torch.Tensor:
    """The four normalised times a :class:`KeyFrameView` marker frame ``(C, H, W)`` carries: ``(4,)``."""
    return marker[0, 0, :4].clone()


class KeyFrameView:
    """A dataset seen as MMFRN's input: ``frames(i, indices=None, size=None) -> (5, C, H, W)``.

    Frames 0-3 are the selected key frames in the paper's order, frame 4 the marker (see the module
    docstring). ``key_indices(i)`` gives the chosen frame numbers (relative to the onset) and
    ``ssim_curve(i)`` the SSIM-to-first curve. Everything else (``clips``, ``num_classes``, ``class_names``,
    ``fingerprint`` ...) is the wrapped dataset's; the name gets a ``/mmfrn-<select>`` suffix so caches of the
    two selections never mix. Load whole clips (``TrainConfig.frames="all"``).
    """

    def __init__(self, dataset, select: str = "apex"):
        if select not in SELECTIONS:
            raise ValueError(f"KeyFrameView: `select` must be one of {SELECTIONS}, got {select!r}")
        self._ds, self.select = dataset, select
        self.name = f"{getattr(dataset, 'name', 'dataset')}/mmfrn-{select}"
        self._chosen: dict = {}

    def __getattr__(self, attr):
        if attr.startswith("__") or attr in ("_ds", "select", "_chosen"):
            raise AttributeError(attr)
        return getattr(self._ds, attr)

    def __len__(self):
        return len(self._ds.clips)

    def _apex(self, i: int, n_loaded: int) -> int:
        row = self._ds.clips.iloc[int(i)]
        apex = row["apex"] if "apex" in row.index else float("nan")
        if apex is None or (isinstance(apex, float) and np.isnan(apex)):
            return (n_loaded - 1) // 2      # no apex annotation (SMIC-HS): the middle frame
        return int(min(max(int(apex) - int(row["onset"]), 0), n_loaded - 1))

    def choose(self, i: int, clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(indices (4,), ssim curve (T,) or None)`` of clip ``i`` given its loaded frames."""
        if self.select == "apex":
            return key_frame_indices(clip.shape[0], self._apex(i, clip.shape[0])), None
        return difference_frame_indices(clip.float())

    def frames(self, i: int, indices=None, size=None) -> torch.Tensor:
        if indices is not None:
            raise ValueError("KeyFrameView.frames: load whole clips (TrainConfig.frames='all'); MMFRN picks its frames")
        x = self._ds.frames(int(i), size=size).float()
        if x.shape[-1] < 4:
            raise ValueError(f"KeyFrameView: frames must be at least 4 px wide for the marker, got {tuple(x.shape)}")
        idx, curve = self.choose(i, x)
        self._chosen[int(i)] = (idx.tolist(), None if curve is None else curve.tolist())
        tau = idx.double() / max(x.shape[0] - 1, 1)
        marker = torch.zeros_like(x[:1])
        marker[0, 0, 0, :4] = tau.to(x.dtype)
        return torch.cat([x[idx], marker], dim=0)

    def key_indices(self, i: int, size=None) -> list[int]:
        """The four chosen frame numbers of clip ``i`` (relative to its onset)."""
        if int(i) not in self._chosen:
            self.frames(i, size=size)
        return self._chosen[int(i)][0]

    def ssim_curve(self, i: int, size=None):
        """The SSIM-to-first curve of clip ``i`` (``select="ssim"`` only; ``None`` otherwise)."""
        if int(i) not in self._chosen:
            self.frames(i, size=size)
        return self._chosen[int(i)][1]


class MMFRNEncoders(nn.Module):
    """The frozen encoders: MMFRN's shape encoder and a ResNet-50 (global features).

    Args:
        magnifier: an :class:`merlib.magnify.oh2018.OhMagnifier` whose encoder trunk is copied
            (:func:`~.model.load_oh_trunk`); ``None`` loads merlib's shipped ``oh2018`` checkpoint
            (:func:`merlib.magnify.load_magnifier`); ``False`` keeps the random trunk.
        resnet_pretrained: as :func:`merlib.models.backbones.load` (``None``: ImageNet weights when cached,
            else random with a warning — silenced here, ``resnet_source`` says which).
        init_seed: seed of every randomly initialised layer (shape branch; the ResNet-50 without weights).
        resnet: ``"resnet50"`` (the paper's) or any :func:`~merlib.models.backbones.available` name
            (tests use ``"small_cnn"``).
    """

    def __init__(self, magnifier=None, resnet_pretrained=None, init_seed: int = 0, resnet: str = "resnet50",
                 channels: int = 3):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(init_seed))
            self.shape_encoder = ShapeEncoder(channels=channels)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", backbones.PretrainedWeightsWarning)
                self.resnet = backbones.load(resnet, pretrained=resnet_pretrained, freeze=True, device="cpu",
                                             input_size=None)
        self.oh_loaded: list[str] = []
        self.oh_source = "random (init_seed)"
        if magnifier is None:
            from merlib.magnify import load_magnifier

            magnifier = load_magnifier("oh2018", device="cpu")
        if magnifier is not False:
            self.oh_loaded = load_oh_trunk(self.shape_encoder, magnifier)
            src = getattr(magnifier, "weights_source", "given")
            self.oh_source = "merlib's shipped oh2018.pt" if src == "merlib" else f"Oh et al. ({src} form)"
        self.resnet_source = self.resnet.pretrained_source or f"random initialisation (offline stand-in, init_seed={init_seed})"
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "MMFRNEncoders":
        return super().train(False)  # frozen: batch-norm statistics never move

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(M, C, H, W)`` in [0, 1] → ``(shape (M, 64, H/4, W/4), global (M, D))``."""
        x = frames if frames.shape[1] == self.shape_encoder.channels else frames.expand(-1, 3, -1, -1)
        return self.shape_encoder(x), self.resnet(x if x.shape[1] == 3 else x.expand(-1, 3, -1, -1))

    def describe(self) -> dict:
        return {"oh_trunk": self.oh_source, "oh_layers_loaded": sorted({n.split(".")[0] for n in self.oh_loaded}),
                "n_oh_tensors_loaded": len(self.oh_loaded), "resnet": self.resnet.name,
                "resnet_weights": self.resnet_source}


def mmfrn_inputs(encoders: MMFRNEncoders, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The frozen-feature stage: :class:`KeyFrameView`'s ``(5, C, H, W)`` → ``(local (4, 64, H/4, W/4), global (4, D), τ (4,))``."""
    if frames.ndim != 4 or frames.shape[0] != 5:
        raise ValueError(f"mmfrn_inputs: expected the 4 key frames + marker of KeyFrameView, got {tuple(frames.shape)}")
    x, tau = frames[:4], decode_marker(frames[4])
    local, glob = encoders(x)
    return local.float().contiguous(), glob.float().contiguous(), tau.float()
