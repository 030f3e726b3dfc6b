"""68 facial landmarks of a clip (Eq. 7's ``M_extract``): dlib on real data, the renderer's geometry on synthetic.

* **Real data** — dlib's 68-point shape predictor on the onset frame (:func:`merlib.data.faces.detect_landmarks`,
  the weights of ``face-recognition-models``; as the paper: "M_dlib ... extract key facial landmark regions").
* **Synthetic data** — merlib's procedural faces are not photographs and dlib's HOG detector often misses them.
  The generator knows its own geometry, so :func:`synthetic_landmarks` places the 68 iBUG 300-W points on it:
  brows on the brow centre line, eyes on the eye ellipses, nose bridge / tip / wings / nostrils, lips on the lip
  ellipse and the seam, the jaw on the head's superellipse outline — then through the head pose of the onset
  frame and the zoom into the pixels of the loaded frames. **This is the synthetic-landmark path** (merlib's
  choice, labelled wherever it is used): exact landmarks, which no detector gives on real faces.

Pixel convention: ``(x, y)`` in pixel-index coordinates of the frames (pixel centres at integers), the layout of
:func:`merlib.data.faces.landmark_patches`. "Right" is the subject's right (image left).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["synthetic_landmarks_face", "synthetic_landmarks", "clip_landmarks", "is_synthetic", "MIRROR",
           "landmark_method"]

#: iBUG 300-W left/right counterparts (0-based): ``MIRROR[i]`` is the landmark mirrored about the face midline.
MIRROR: tuple[int, ...] = tuple(
    [16 - k for k in range(17)]                                  # jaw
    + [26 - k for k in range(5)] + [21 - k for k in range(5)]    # brows 17..21 <-> 26..22
    + [27, 28, 29, 30]                                           # nose bridge (midline)
    + [35, 34, 33, 32, 31]                                       # lower nose
    + [45, 44, 43, 42, 47, 46]                                   # right eye 36..41 -> left eye
    + [39, 38, 37, 36, 41, 40]                                   # left eye 42..47 -> right eye
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]           # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]                           # inner lips
)


def synthetic_landmarks_face(identity) -> np.ndarray:
    """``(68, 2)`` landmarks of a synthetic :class:`~merlib.data.synthetic.Identity` in *face units* (x right,
    y down, the image width spans [-1, 1] before the zoom), iBUG 300-W order, from the shapes that
    :func:`merlib.data.synthetic.shade` draws."""
    i = identity
    pts = np.zeros((68, 2))
    # jaw 0..16: the head outline (superellipse narrowing to the chin), from eye level on the image left to the
    # chin (8) and up the image right
    p = float(i.face_power)
    yy_eye = (i.eye_y - i.face_cy) / i.face_b
    phi0 = -math.asin(min(abs(yy_eye), 0.99) ** (p / 2)) if yy_eye < 0 else math.asin(min(yy_eye, 0.99) ** (p / 2))
    for k, phi in enumerate(np.linspace(phi0, math.pi / 2, 9)):
        s, c = math.sin(phi), math.cos(phi)
        yy = math.copysign(abs(s) ** (2 / p), s)
        a_eff = i.face_a * (1 - i.jaw_taper * min(max(yy, 0.0), 1.0) ** 2)
        x = a_eff * abs(c) ** (2 / p)
        pts[k] = (-x, i.face_cy + yy * i.face_b)
        pts[16 - k] = (x, i.face_cy + yy * i.face_b)
    pts[8, 0] = 0.0

    # brows 17..21 (image left, outer -> inner), 22..26 (inner -> outer): on the brow centre line
    def brow_y(xb):
        return i.eye_y - i.brow_gap - i.brow_arch * (1 - (xb / i.brow_len) ** 2)
    xbs = np.linspace(0.9, -0.9, 5) * i.brow_len
    for k, xb in enumerate(xbs):
        pts[17 + k] = (-(i.eye_dx + xb), brow_y(xb))
        pts[26 - k] = (i.eye_dx + xb, brow_y(xb))
    # nose bridge 27..30 (midline, from between the eyes to the tip), lower nose 31..35
    for k, y in enumerate(np.linspace(i.eye_y, i.nose_y - 0.01, 4)):
        pts[27 + k] = (0.0, y)
    for k, fx in enumerate((-1.0, -0.6, 0.0, 0.6, 1.0)):
        pts[31 + k] = (fx * i.nose_w, i.nose_y + (0.025 if fx == 0 else 0.01))
    # eyes: 36 outer, 37-38 top, 39 inner, 40-41 bottom (image left); 42 inner, 43-44 top, 45 outer, 46-47 bottom
    top = i.eye_ry * math.sqrt(1 - 1 / 9)
    for side, base in ((-1, 36), (1, 42)):
        cx = side * i.eye_dx
        if side < 0:
            ring = [(-i.eye_rx, 0), (-i.eye_rx / 3, -top), (i.eye_rx / 3, -top), (i.eye_rx, 0),
                    (i.eye_rx / 3, top), (-i.eye_rx / 3, top)]
        else:
            ring = [(-i.eye_rx, 0), (-i.eye_rx / 3, -top), (i.eye_rx / 3, -top), (i.eye_rx, 0),
                    (i.eye_rx / 3, top), (-i.eye_rx / 3, top)]
        for k, (dx, dy) in enumerate(ring):
            pts[base + k] = (cx + dx, i.eye_y + dy)
    # outer lips 48..59: corners 48 / 54, upper lip 49..53, lower lip 55..59 (the drawn ellipse; lower 1.2x taller)
    w, my, lh = i.mouth_w, i.mouth_y, i.lip_h
    pts[48], pts[54] = (-w, my), (w, my)
    for k in range(1, 6):
        th = math.pi - k * math.pi / 6
        pts[48 + k] = (w * math.cos(th), my - lh * math.sin(th))
        pts[54 + k] = (w * math.cos(k * math.pi / 6), my + 1.2 * lh * math.sin(k * math.pi / 6))

    # inner lips 60..67 along the seam between the lips
    def seam(xm):
        return my + 0.25 * lh * (1 - xm ** 2)
    pts[60], pts[64] = (-0.8 * w, seam(0.8)), (0.8 * w, seam(0.8))
    for k, xm in enumerate((-0.4, 0.0, 0.4)):
        pts[61 + k] = (xm * w, seam(xm) - 0.2 * lh)
        pts[67 - k] = (xm * w, seam(xm) + 0.2 * lh)
    return pts


def synthetic_landmarks(spec, size=None, frame: int | None = None) -> np.ndarray:
    """``(68, 2)`` pixel-index landmarks of a synthetic clip's frame (default its onset), at ``size``.

    Args:
        spec: a :class:`~merlib.data.synthetic.ClipSpec`.
        size: ``(H, W)`` or an int of the frames the landmarks are for (``None``: the spec's render size); the
            renderer's field of view is the same at every size.
        frame: position in the clip (0 = its first frame); default the onset.
    """
    from merlib.data.synthetic import head_pose

    if size is None:
        h, w = tuple(spec.size)
    elif isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        h, w = int(size[0]), int(size[1])
    t = int(spec.onset - spec.first_frame) if frame is None else int(frame)
    tx, ty, th = (float(v[t]) for v in head_pose(spec))
    p = synthetic_landmarks_face(spec.identity) * float(spec.identity.zoom)
    c, s = math.cos(th), math.sin(th)
    x = c * p[:, 0] - s * p[:, 1] + tx                                   # image face units (inverse of render._to_face)
    y = s * p[:, 0] + c * p[:, 1] + ty
    return np.stack([x * w / 2 + w / 2 - 0.5, y * w / 2 + h / 2 - 0.5], axis=1)


def is_synthetic(dataset) -> bool:
    """Whether ``dataset`` is merlib's synthetic set (its clips carry the renderer's ground truth)."""
    return str(getattr(dataset, "name", "")).split("/")[0] == "synthetic"


def landmark_method(dataset, method: str = "auto") -> str:
    """``"synthetic"`` (the renderer's geometry) or ``"dlib"``; ``"auto"`` picks by the dataset."""
    if method not in ("auto", "synthetic", "dlib"):
        raise ValueError(f"landmark method must be 'auto', 'synthetic' or 'dlib', got {method!r}")
    if method == "auto":
        return "synthetic" if is_synthetic(dataset) else "dlib"
    return method


def clip_landmarks(dataset, i: int, size=None, method: str = "auto", onset_frame=None) -> np.ndarray:
    """``(68, 2)`` landmarks of clip ``i``'s onset frame in the pixels of frames loaded at ``size``.

    ``method="synthetic"`` reads the clip's spec (:func:`synthetic_landmarks`); ``"dlib"`` runs dlib's 68-point
    predictor on the onset frame (``onset_frame`` ``(C, H, W)`` if already loaded, else loaded here at ``size``).
    """
    method = landmark_method(dataset, method)
    if method == "synthetic":
        from merlib.data.synthetic import spec_from_clip_dir

        spec = spec_from_clip_dir(Path(str(dataset.clips.iloc[int(i)]["path"])))
        return synthetic_landmarks(spec, size if size is not None else None)
    from merlib.data.faces import detect_landmarks

    if onset_frame is None:
        onset_frame = dataset.frames(int(i), indices=[0], size=size)[0]
    return np.asarray(detect_landmarks(onset_frame, method="dlib"), dtype=np.float64)
