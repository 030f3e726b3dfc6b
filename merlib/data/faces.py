"""Faces: detection, 68-point landmarks, alignment on the onset frame, landmark-region crops.

Only detectors whose weights ship inside installed packages are used — nothing downloads:

* ``dlib``: the HOG frontal face detector (built into dlib) and the 68-point shape predictor
  (Kazemi & Sullivan 2014, iBUG 300-W markup) from the ``face-recognition-models`` package
  (``pip install dlib-bin face-recognition-models``, the ``merlib[faces]`` extra);
* ``mtcnn``: MTCNN (Zhang et al. 2016) from ``facenet-pytorch``, whose P/R/O-net weights ship in
  the package; it gives the face box, dlib then places the 68 landmarks in it.

Alignment follows AMAN (paper 001, Sec. 3.1): landmarks are found on the *onset* frame, the face
is rotated so the line through the eye centres is horizontal and cropped with a margin, and the
very same transform is applied to every frame of the clip (a per-frame alignment would add
jitter that magnification then amplifies). The warp is one affine ``grid_sample`` per clip, so it
runs batched on CPU or GPU.

Landmark-region crops implement the region selection of GAM-MM-MER (paper 002, Eq. 7): "facial
muscle micro-movements ... primarily manifest around the eyebrows, nose tip, and mouth, while
they rarely affect ... the facial contour"; blinks and eye movements are non-voluntary, so the
eyes are left out as well.
"""
from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "FaceNotFoundError", "LANDMARK_GROUPS", "GAM_MER_REGIONS", "GAM_MER_LANDMARKS", "detect_faces",
    "detect_landmarks", "eye_centers", "FaceAlignment", "estimate_alignment", "apply_alignment",
    "align_clip", "landmark_patches", "region_crops", "to_uint8_image",
]


class FaceNotFoundError(ValueError):
    """No face was found in the image given (the argument is not a usable face image)."""


#: The 68-point iBUG 300-W markup (0-based). "right" is the subject's right (the image left).
LANDMARK_GROUPS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "right_eyebrow": tuple(range(17, 22)),
    "left_eyebrow": tuple(range(22, 27)),
    "nose_bridge": tuple(range(27, 31)),
    "nose_lower": tuple(range(31, 36)),
    "right_eye": tuple(range(36, 42)),
    "left_eye": tuple(range(42, 48)),
    "outer_lips": tuple(range(48, 60)),
    "inner_lips": tuple(range(60, 68)),
}
#: Regions GAM-MM-MER keeps (Eq. 7): eyebrows, nose tip, mouth; contour and eyes dropped.
GAM_MER_REGIONS: dict[str, tuple[int, ...]] = {
    "right_eyebrow": LANDMARK_GROUPS["right_eyebrow"],
    "left_eyebrow": LANDMARK_GROUPS["left_eyebrow"],
    "nose_tip": (30,) + LANDMARK_GROUPS["nose_lower"],
    "mouth": LANDMARK_GROUPS["outer_lips"] + LANDMARK_GROUPS["inner_lips"],
}
#: Landmarks whose patches form the nodes of GAM-MER's graph (merlib's reading of Eq. 7):
#: 10 eyebrow points, the nose tip and lower nose (6), the outer lip contour (12) = 28 nodes.
GAM_MER_LANDMARKS: tuple[int, ...] = (
    LANDMARK_GROUPS["right_eyebrow"] + LANDMARK_GROUPS["left_eyebrow"] + (30,) + LANDMARK_GROUPS["nose_lower"]
    + LANDMARK_GROUPS["outer_lips"]
)


# ------------------------------------------------------------------------------------------
# images and models
# ------------------------------------------------------------------------------------------
def to_uint8_image(image) -> np.ndarray:
    """A ``(C, H, W)`` float tensor in [0, 1] or an ``(H, W[, C])`` array as ``(H, W, 3)`` uint8 RGB."""
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] not in (1, 3):
            raise ValueError(f"image tensor must have shape (C, H, W) with C = 1 or 3, got {tuple(image.shape)}")
        arr = image.detach().to("cpu", torch.float32).clamp(0, 1).permute(1, 2, 0).numpy()
        arr = np.round(arr * 255).astype(np.uint8)
    elif isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            if not np.issubdtype(arr.dtype, np.floating):
                raise ValueError(f"image array must be uint8 or float in [0, 1], got dtype {arr.dtype}")
            arr = np.round(np.clip(arr, 0, 1) * 255).astype(np.uint8)
    else:
        raise ValueError(f"image must be a torch tensor (C, H, W) or a numpy array (H, W[, C]), got {type(image)}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"image array must have shape (H, W), (H, W, 1|3|4), got {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


def _models_dir() -> Path:
    # face_recognition_models' own __init__ needs pkg_resources (setuptools); the data files do not.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the 68-point landmark model needs the package face-recognition-models "
                          "(pip install dlib-bin face-recognition-models, or merlib[faces])")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


@lru_cache(maxsize=1)
def _dlib():
    try:
        import dlib
    except ImportError as exc:
        raise ImportError("face detection with method='dlib' needs dlib (pip install dlib-bin)") from exc
    predictor = _models_dir() / "shape_predictor_68_face_landmarks.dat"
    if not predictor.is_file():
        raise ImportError(f"the 68-point landmark model is missing: {predictor}")
    return dlib, dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor))


@lru_cache(maxsize=4)
def _mtcnn(device: str):
    try:
        from facenet_pytorch import MTCNN
    except ImportError as exc:
        raise ImportError("face detection with method='mtcnn' needs facenet-pytorch") from exc
    return MTCNN(keep_all=True, device=torch.device(device))


def detect_faces(image, method: str = "dlib", device="auto", upsample: int = 1) -> np.ndarray:
    """Face boxes, best first, as a ``(K, 5)`` array ``[x0, y0, x1, y1, score]`` (pixels).

    Args:
        image: ``(C, H, W)`` tensor in [0, 1] or ``(H, W[, C])`` array.
        method: ``"dlib"`` (HOG detector; score = its SVM margin) or ``"mtcnn"`` (probability).
        device: MTCNN's device (``"auto"``: CUDA when available).
        upsample: dlib only: how often the image is doubled before detection (1 finds faces down
            to about 40 px; use 0 for large frames such as SAMM's 2040x1088, it is much faster).
    """
    img = to_uint8_image(image)
    if isinstance(upsample, bool) or not isinstance(upsample, (int, np.integer)) or upsample < 0:
        raise ValueError(f"upsample must be a non-negative int, got {upsample!r}")
    if method == "dlib":
        _, detector, _ = _dlib()
        dets, scores, _ = detector.run(img, int(upsample), 0.0)
        boxes = [[d.left(), d.top(), d.right(), d.bottom(), s] for d, s in zip(dets, scores)]
    elif method == "mtcnn":
        from merlib.env import device as resolve

        det = _mtcnn(str(resolve(device)))
        b, p = det.detect(img)
        boxes = [] if b is None else [[*bb, pp] for bb, pp in zip(b, p)]
    else:
        raise ValueError(f"method must be 'dlib' or 'mtcnn', got {method!r}")
    out = np.array(boxes, dtype=np.float64).reshape(-1, 5)
    return out[np.argsort(-out[:, 4], kind="stable")]


def detect_landmarks(image, box=None, method: str = "dlib", device="auto", upsample: int = 1) -> np.ndarray:
    """68 facial landmarks ``(68, 2)`` as ``(x, y)`` pixels, for the best face (or ``box``).

    Raises:
        FaceNotFoundError: no face in the image.
    """
    img = to_uint8_image(image)
    dlib, _, predictor = _dlib()
    if box is None:
        boxes = detect_faces(img, method=method, device=device, upsample=upsample)
        if len(boxes) == 0:
            raise FaceNotFoundError(f"no face found by the {method} detector in the image of shape {img.shape}")
        box = boxes[0]
    x0, y0, x1, y1 = (int(round(float(v))) for v in box[:4])
    shape = predictor(img, dlib.rectangle(x0, y0, x1, y1))
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float64)


def eye_centers(landmarks: np.ndarray) -> np.ndarray:
    """``(2, 2)``: centre of the image-left eye (points 36-41), then of the image-right eye (42-47)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {lm.shape}")
    return np.stack([lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)])


# ------------------------------------------------------------------------------------------
# alignment
# ------------------------------------------------------------------------------------------
@dataclass
class FaceAlignment:
    """One similarity transform for a whole clip: eye-line rotation + crop + scale.

    Attributes:
        matrix: ``(2, 3)`` affine map from *output* pixel ``(x, y, 1)`` to *input* pixel
            coordinates (pixel centres at integers).
        angle: the eye line's angle in the input, degrees (the output rotates it to 0).
        size: output ``(H, W)``.
        landmarks: the onset frame's ``(68, 2)`` landmarks in input pixels.
    """
    matrix: np.ndarray
    angle: float
    size: tuple[int, int]
    landmarks: np.ndarray

    def transform_points(self, points: np.ndarray) -> np.ndarray:
        """Input-pixel points ``(N, 2)`` -> output-pixel points."""
        a = np.vstack([self.matrix, [0.0, 0.0, 1.0]])
        inv = np.linalg.inv(a)
        p = np.asarray(points, dtype=np.float64)
        return p @ inv[:2, :2].T + inv[:2, 2]

    @property
    def aligned_landmarks(self) -> np.ndarray:
        return self.transform_points(self.landmarks)


def estimate_alignment(landmarks: np.ndarray, size=224, margin: float = 0.15) -> FaceAlignment:
    """The alignment that levels the eyes and crops the landmarks' box with a margin.

    Args:
        landmarks: ``(68, 2)`` landmarks of the onset frame (input pixels).
        size: output ``int`` or ``(H, W)``.
        margin: added on every side, as a fraction of the landmark box (0.15 = 15 %).
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    eyes = eye_centers(lm)
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size)):
        raise ValueError(f"size must be a positive int or (H, W), got {size!r}")
    if not (isinstance(margin, (int, float)) and margin >= 0):
        raise ValueError(f"margin must be a non-negative number, got {margin!r}")
    out_h, out_w = int(size[0]), int(size[1])
    dx, dy = eyes[1] - eyes[0]
    theta = math.atan2(dy, dx)                        # eye line angle in the input (y down)
    c = eyes.mean(axis=0)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    # landmarks in the levelled frame: p_lev = c + R(-theta) (p - c)
    lev = (lm - c) @ rot + c                          # row-vector form of R(-theta)
    x0, y0 = lev.min(axis=0)
    x1, y1 = lev.max(axis=0)
    bw, bh = (x1 - x0) * (1 + 2 * margin), (y1 - y0) * (1 + 2 * margin)
    # grow the box to the output's aspect ratio, keep it centred
    if bw / bh < out_w / out_h:
        bw = bh * out_w / out_h
    else:
        bh = bw * out_h / out_w
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = cx - bw / 2, cy - bh / 2
    s = bw / out_w                                    # input pixels per output pixel
    # output pixel (j, i) -> levelled point -> input point
    # p_lev = [left, top] + ((j, i) + 0.5) * s - 0.5 ; p_in = c + R(theta) (p_lev - c)
    a_lev = np.array([[s, 0.0, left + 0.5 * s - 0.5], [0.0, s, top + 0.5 * s - 0.5]])
    r = rot
    lin = r @ a_lev[:, :2]
    trans = r @ (a_lev[:, 2] - c) + c
    matrix = np.hstack([lin, trans[:, None]])
    return FaceAlignment(matrix=matrix, angle=math.degrees(theta), size=(out_h, out_w), landmarks=lm)


def apply_alignment(clip: torch.Tensor, alignment: FaceAlignment, padding_mode: str = "border") -> torch.Tensor:
    """Warp every frame of ``clip`` ``(T, C, H, W)`` with the same alignment -> ``(T, C, h, w)``.

    Bilinear ``grid_sample`` (torch), so it runs on the clip's device; ``padding_mode`` is
    ``grid_sample``'s (``"border"`` repeats edge pixels, ``"zeros"`` pads black).
    """
    if not isinstance(clip, torch.Tensor) or clip.ndim != 4:
        raise ValueError(f"clip must be a (T, C, H, W) tensor, got {getattr(clip, 'shape', type(clip))}")
    t, _, h, w = clip.shape
    out_h, out_w = alignment.size
    m = torch.as_tensor(alignment.matrix, dtype=torch.float64)
    jj, ii = torch.meshgrid(torch.arange(out_w, dtype=torch.float64), torch.arange(out_h, dtype=torch.float64),
                            indexing="xy")
    pts = torch.stack([jj, ii, torch.ones_like(jj)], dim=-1) @ m.T          # (out_h, out_w, 2) input pixels
    grid = torch.stack([(2 * pts[..., 0] + 1) / w - 1, (2 * pts[..., 1] + 1) / h - 1], dim=-1)
    grid = grid.to(device=clip.device, dtype=clip.dtype if clip.is_floating_point() else torch.float32)
    out = F.grid_sample(clip.to(grid.dtype), grid[None].expand(t, -1, -1, -1), mode="bilinear",
                        padding_mode=padding_mode, align_corners=False)
    return out.clamp_(0, 1)


def align_clip(clip: torch.Tensor, size=224, margin: float = 0.15, landmarks: np.ndarray | None = None,
               method: str = "dlib", device="auto", padding_mode: str = "border", upsample: int = 1
               ) -> tuple[torch.Tensor, FaceAlignment]:
    """Align a clip on its onset frame (AMAN Sec. 3.1): eye line horizontal, face cropped.

    Args:
        clip: ``(T, C, H, W)`` float tensor in [0, 1]; ``clip[0]`` is the onset frame.
        size: output ``int`` or ``(H, W)`` (the papers use 224).
        margin: crop margin around the 68 landmarks, as a fraction of their box.
        landmarks: the onset frame's ``(68, 2)`` landmarks, if already known.
        method: face detector for the onset frame: ``"dlib"`` or ``"mtcnn"``.
        upsample: dlib's detector upsampling (see :func:`detect_faces`).

    Returns:
        ``(aligned clip (T, C, h, w), FaceAlignment)``.

    Raises:
        FaceNotFoundError: no face in the onset frame.
    """
    if not isinstance(clip, torch.Tensor) or clip.ndim != 4:
        raise ValueError(f"clip must be a (T, C, H, W) tensor, got {getattr(clip, 'shape', type(clip))}")
    if landmarks is None:
        landmarks = detect_landmarks(clip[0], method=method, device=device, upsample=upsample)
    alignment = estimate_alignment(landmarks, size=size, margin=margin)
    return apply_alignment(clip, alignment, padding_mode=padding_mode), alignment


# ------------------------------------------------------------------------------------------
# landmark regions (GAM-MM-MER)
# ------------------------------------------------------------------------------------------
def _roi(frames: torch.Tensor, boxes: np.ndarray, out_size: int) -> torch.Tensor:
    from torchvision.ops import roi_align

    t = frames.shape[0]
    # boxes come in pixel-index coordinates (pixel centres at integers); roi_align(aligned=True)
    # expects continuous coordinates with pixel centres at k + 0.5
    b = torch.as_tensor(np.asarray(boxes) + 0.5, dtype=frames.dtype, device=frames.device)  # (R, 4)
    r = b.shape[0]
    idx = torch.arange(t, dtype=frames.dtype, device=frames.device).repeat_interleave(r)[:, None]
    rois = torch.cat([idx, b.repeat(t, 1)], dim=1)
    crops = roi_align(frames, rois, output_size=(out_size, out_size), spatial_scale=1.0, sampling_ratio=2,
                      aligned=True)
    return crops.view(t, r, frames.shape[1], out_size, out_size)


def landmark_patches(frames: torch.Tensor, landmarks: np.ndarray, indices=GAM_MER_LANDMARKS,
                     patch_size: float = 24.0, out_size: int = 24) -> torch.Tensor:
    """Square patches centred on landmarks, the same boxes in every frame.

    Args:
        frames: ``(T, C, H, W)`` float tensor (already aligned, typically).
        landmarks: ``(68, 2)`` landmarks in the frames' pixels (``FaceAlignment.aligned_landmarks``).
        indices: which landmarks (default :data:`GAM_MER_LANDMARKS`, 28 nodes).
        patch_size: side of a patch in input pixels.
        out_size: side of a returned patch (bilinear ``roi_align`` from torchvision).

    Returns:
        ``(T, R, C, out_size, out_size)`` with ``R = len(indices)``.
    """
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4:
        raise ValueError(f"frames must be a (T, C, H, W) tensor, got {getattr(frames, 'shape', type(frames))}")
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {lm.shape}")
    if not patch_size > 0 or not (isinstance(out_size, int) and out_size > 0):
        raise ValueError(f"patch_size and out_size must be positive, got {patch_size!r}, {out_size!r}")
    pts = lm[list(indices)]
    half = patch_size / 2
    boxes = np.concatenate([pts - half, pts + half], axis=1)
    return _roi(frames, boxes, out_size)


def region_crops(frames: torch.Tensor, landmarks: np.ndarray, regions: dict | None = None, margin: float = 0.3,
                 out_size: int = 48) -> tuple[torch.Tensor, list[str]]:
    """Square crops around landmark groups (default :data:`GAM_MER_REGIONS`).

    Each box is the group's landmark box grown by ``margin`` on every side and made square.

    Returns:
        ``(crops (T, R, C, out_size, out_size), region names)``.
    """
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4:
        raise ValueError(f"frames must be a (T, C, H, W) tensor, got {getattr(frames, 'shape', type(frames))}")
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {lm.shape}")
    regions = GAM_MER_REGIONS if regions is None else regions
    boxes, names = [], []
    for name, idx in regions.items():
        p = lm[list(idx)]
        c = (p.min(axis=0) + p.max(axis=0)) / 2
        side = max(float(np.ptp(p[:, 0])), float(np.ptp(p[:, 1])), 1.0) * (1 + 2 * margin)
        boxes.append([c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2])
        names.append(name)
    return _roi(frames, np.array(boxes), out_size), names
