"""GAM-MM-MER's frozen, cached stage: ST-MEMM magnification (Eq. 1-6) and the 68 landmark regions (Eq. 6-7).

Per clip (onset and apex frames, as the runner loads them with ``frames="onset_apex"``):

1. landmarks on the onset frame (:mod:`.landmarks`: dlib on real data, the renderer's geometry on synthetic data),
   carried to the feature stage by :class:`LandmarkTagged` (a view of the dataset whose ``frames`` append one
   *marker frame* holding the 68 points — the runner's feature hooks see frames only; the same workaround as
   CMNet's apex marker);
2. Eq. 6, ``I_M = N_ST-MEMM(I_R)``: the apex frame magnified against the onset by the shipped ST-MEMM
   (:func:`merlib.magnify.load_magnifier`) at every factor of :data:`ALPHA_SLOTS` — the paper's factors, Oh et
   al.'s convention (its α = 1 is the identity; merlib's ``alpha = α − 1``,
   :func:`merlib.magnify.convention.from_oh_factor`) — and ``"raw"``, the apex frame itself;
3. Eq. 7's ``M_extract``: a square region around every one of the 68 landmarks, the same boxes in every frame
   (:func:`merlib.data.faces.landmark_patches`), in grey (luma; merlib's choice, the CPU budget — SAMM and
   SMIC-HS are grey anyway). ``M_select`` happens in the model (:class:`.model.GAMMER`), so one cache serves
   Table 3's "all facial key areas" too.

Output per clip: ``(1 + len(ALPHA_SLOTS), 68, P, P)`` float32 — slot 0 the onset, then one slot per factor.
"""
from __future__ import annotations

import numpy as np
import torch

from merlib.data.faces import landmark_patches
from merlib.eval.task import FrozenFeatures, Task
from merlib.magnify.convention import from_oh_factor

from .landmarks import clip_landmarks, landmark_method

__all__ = ["ALPHA_SLOTS", "FEATURE_VERSION", "LandmarkTagged", "encode_landmarks", "decode_landmarks",
           "magnify_apex", "gam_inputs", "make_task", "PATCH_FRAC", "PATCH_OUT", "to_grey", "paper_to_merlib_alpha"]

#: Cached apex versions: unmagnified and the paper's factors (Oh convention): Table 4's 5 / 10 / 20 and the
#: training augmentation's 8 / 10 / 12 / 15.
ALPHA_SLOTS: tuple = ("raw", 5, 8, 10, 12, 15, 20)
#: Region side as a fraction of the frame width, and the crop size (merlib's choices; the paper gives none).
PATCH_FRAC = 0.10
PATCH_OUT = 12
#: Bump when :func:`gam_inputs`' output changes for the same key.
FEATURE_VERSION = "1"
_LUMA = (0.299, 0.587, 0.114)


def paper_to_merlib_alpha(alpha_paper: float) -> float:
    """The paper's α (Eq. 3, Oh et al.'s convention, α = 1 no change) → merlib's ``alpha = α − 1``."""
    return from_oh_factor(float(alpha_paper))


def encode_landmarks(landmarks: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """A marker frame shaped like ``like`` ``(C, H, W)``: channel 0 starts with the 136 coordinates / max(H, W)."""
    c, h, w = like.shape
    if h * w < 136:
        raise ValueError(f"encode_landmarks: frames of {h} x {w} are too small to carry 68 landmarks")
    m = torch.zeros(c, h * w, dtype=like.dtype)
    m[0, :136] = torch.as_tensor(np.asarray(landmarks, dtype=np.float64).reshape(-1) / max(h, w), dtype=like.dtype)
    return m.reshape(c, h, w)


def decode_landmarks(marker: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`encode_landmarks`: ``(68, 2)`` pixel coordinates."""
    c, h, w = marker.shape
    return marker[0].reshape(-1)[:136].double().numpy().reshape(68, 2) * max(h, w)


class LandmarkTagged:
    """A dataset seen as GAM-MER's inputs: ``frames(i, indices, size)`` = the frames + one landmark marker frame.

    Landmarks are found on the onset frame (``method``: ``"auto"`` = the renderer's geometry on synthetic data,
    dlib 68 otherwise; :func:`.landmarks.clip_landmarks`) in the pixels of the loaded frames, and remembered per
    (clip, size). Everything else is the wrapped dataset's; the name gets a ``/gam68-<method>`` suffix so that
    caches never mix the two.
    """

    def __init__(self, dataset, method: str = "auto"):
        self._ds = dataset
        self.method = landmark_method(dataset, method)
        self.name = f"{getattr(dataset, 'name', 'dataset')}/gam68-{self.method}"
        self._lm: dict = {}

    def __getattr__(self, attr):
        if attr.startswith("__") or attr in ("_ds", "method", "_lm"):
            raise AttributeError(attr)
        return getattr(self._ds, attr)

    def __len__(self):
        return len(self._ds.clips)

    def __getstate__(self):
        return {"_ds": self._ds, "method": self.method, "name": self.name, "_lm": {}}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def landmarks(self, i: int, size=None, onset_frame=None) -> np.ndarray:
        key = (int(i), None if size is None else (size if isinstance(size, int) else tuple(size)))
        if key not in self._lm:
            self._lm[key] = clip_landmarks(self._ds, int(i), size=size, method=self.method, onset_frame=onset_frame)
        return self._lm[key]

    def frames(self, i: int, indices=None, size=None) -> torch.Tensor:
        x = self._ds.frames(int(i), indices=indices, size=size).float()
        onset = x[0] if (indices is None or int(np.asarray(indices).reshape(-1)[0]) == 0) else None
        lm = self.landmarks(i, size=size if size is not None else tuple(x.shape[-2:]), onset_frame=onset)
        return torch.cat([x, encode_landmarks(lm, x[0]).unsqueeze(0)], dim=0)


def to_grey(x: torch.Tensor) -> torch.Tensor:
    """``(..., C, H, W)`` → ``(..., 1, H, W)`` luma (C = 3) or as is (C = 1)."""
    if x.shape[-3] == 1:
        return x
    w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).reshape(3, 1, 1)
    return (x * w).sum(dim=-3, keepdim=True)


@torch.no_grad()
def magnify_apex(magnifier, onset: torch.Tensor, apex: torch.Tensor, alphas=ALPHA_SLOTS) -> torch.Tensor:
    """Eq. 6 at several factors: ``(C, H, W)`` onset and apex → ``(len(alphas), C, H, W)`` in [0, 1].

    ``alphas`` are the paper's factors (Oh convention) or ``"raw"`` (the apex itself). The encoder runs once per
    frame (Eq. 1-2); the manipulator and decoder (Eq. 3-5) once per factor.
    """
    out = [None] * len(alphas)
    mag = [(k, a) for k, a in enumerate(alphas) if a != "raw"]
    for k, a in enumerate(alphas):
        if a == "raw":
            out[k] = apex.clone()
    if mag:
        dev = next(magnifier.parameters()).device
        f = magnifier.encode(torch.stack([onset, apex]).to(dev))
        n = len(mag)
        al = torch.tensor([paper_to_merlib_alpha(a) for _, a in mag], dtype=f.dtype, device=dev)
        y = magnifier.decode(magnifier.manipulate(f[:1].expand(n, -1, -1, -1), f[1:].expand(n, -1, -1, -1), al))
        y = y.clamp(0, 1).cpu()
        for j, (k, _) in enumerate(mag):
            out[k] = y[j]
    return torch.stack(out)


def gam_inputs(magnifier, frames: torch.Tensor, alphas=ALPHA_SLOTS, patch_frac: float = PATCH_FRAC,
               out_size: int = PATCH_OUT) -> torch.Tensor:
    """The frozen stage: ``(3, C, H, W)`` = onset, apex, marker (:class:`LandmarkTagged`) → ``(1 + A, 68, P, P)``.

    Slot 0 is the onset's regions, slot ``1 + k`` the regions of the apex at ``alphas[k]`` (:func:`magnify_apex`).
    """
    if frames.ndim != 4 or frames.shape[0] != 3:
        raise ValueError("gam_inputs: expected onset, apex and the landmark marker frame (TrainConfig.frames="
                         f"'onset_apex' on a LandmarkTagged dataset), got {tuple(frames.shape)}")
    onset, apex, marker = frames[0], frames[1], frames[2]
    lm = decode_landmarks(marker)
    imgs = torch.cat([onset.unsqueeze(0), magnify_apex(magnifier, onset, apex, tuple(alphas))])
    crops = landmark_patches(to_grey(imgs), lm, indices=tuple(range(68)), patch_size=patch_frac * frames.shape[-1],
                             out_size=out_size)                        # (1 + A, 68, 1, P, P)
    return crops[:, :, 0].contiguous().float()


def make_task(magnifier, alphas=ALPHA_SLOTS, patch_frac: float = PATCH_FRAC, out_size: int = PATCH_OUT) -> Task:
    """The :class:`~merlib.eval.task.Task` of every GAM-MER run: the cached :func:`gam_inputs`, cross-entropy."""
    return Task(features=FrozenFeatures(gam_inputs, magnifier, version=FEATURE_VERSION,
                                        params={"alphas": list(alphas), "patch_frac": float(patch_frac),
                                                "out_size": int(out_size)}))
