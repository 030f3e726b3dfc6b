"""Face detection, 68 landmarks and onset-frame alignment on a real face (skimage's astronaut)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("dlib")
skimage_data = pytest.importorskip("skimage.data")
from skimage.transform import rotate  # noqa: E402

from merlib.data import faces  # noqa: E402


def _eye_angle(landmarks):
    e = faces.eye_centers(landmarks)
    d = e[1] - e[0]
    return math.degrees(math.atan2(d[1], d[0]))


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()                                   # (512, 512, 3) uint8, public domain (NASA)


def _tensor(img):
    arr = img.astype(np.float32) / 255 if img.dtype == np.uint8 else img.astype(np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def test_detect_face_and_68_landmarks(astronaut):
    boxes = faces.detect_faces(astronaut)
    assert boxes.shape[1] == 5 and len(boxes) >= 1
    fast = faces.detect_faces(astronaut, upsample=0)                 # the 90 px face needs no upsampling
    assert len(fast) >= 1 and np.abs(fast[0, :4] - boxes[0, :4]).max() < 30
    x0, y0, x1, y1, _ = boxes[0]
    lm = faces.detect_landmarks(_tensor(astronaut))
    assert lm.shape == (68, 2)
    # the landmarks lie in (or right around) the detected face box, eyes above the mouth
    assert (lm[:, 0] > x0 - 20).all() and (lm[:, 0] < x1 + 20).all()
    eyes = faces.eye_centers(lm)
    assert eyes[0, 0] < eyes[1, 0] and eyes[:, 1].max() < lm[48:68, 1].min()


@pytest.mark.parametrize("angle", [15.0, -15.0])
def test_alignment_levels_the_eyes_of_a_rotated_face(astronaut, angle):
    img = _tensor(rotate(astronaut, angle, mode="edge"))
    before = _eye_angle(faces.detect_landmarks(img))
    assert abs(before) > 8                                            # the input really is tilted
    clip = torch.stack([img, img.flip(-1).flip(-1)])                  # two frames, same content
    aligned, al = faces.align_clip(clip, size=(160, 128))
    assert aligned.shape == (2, 3, 160, 128)
    # exact: the transform maps the onset landmarks' eye line to horizontal
    assert abs(_eye_angle(al.aligned_landmarks)) < 1e-9
    # measured: re-detecting on the aligned image finds level eyes (within 2 degrees)
    assert abs(_eye_angle(faces.detect_landmarks(aligned[0]))) < 2.0
    assert abs(al.angle - before) < 1e-9


def test_same_transform_for_every_frame(astronaut):
    img = _tensor(astronaut)
    lm = faces.detect_landmarks(img)
    g = torch.Generator().manual_seed(0)
    other = torch.rand(img.shape, generator=g)
    clip = torch.stack([img, other, img])
    aligned, al = faces.align_clip(clip, size=96, landmarks=lm)
    torch.testing.assert_close(aligned[0], aligned[2])
    torch.testing.assert_close(aligned[1], faces.apply_alignment(other[None], al)[0])


def test_alignment_matrix_maps_points_consistently():
    lm = np.zeros((68, 2))
    lm[:, 0] = np.linspace(100, 200, 68)
    lm[:, 1] = 150 + 0.3 * (lm[:, 0] - 150) + np.sin(np.arange(68)) * 20     # tilted cloud
    al = faces.estimate_alignment(lm, size=(64, 48), margin=0.1)
    out = al.aligned_landmarks
    # forward map of the output points gives back the input points
    back = out @ al.matrix[:, :2].T + al.matrix[:, 2]
    np.testing.assert_allclose(back, lm, atol=1e-9)
    assert out[:, 0].min() >= 0 and out[:, 0].max() <= 47 and out[:, 1].min() >= 0 and out[:, 1].max() <= 63


def test_warp_samples_where_the_matrix_says():
    # an image whose value encodes x: the aligned image must show the x of the sampled input point
    h, w = 40, 50
    img = torch.linspace(0, 1, w).view(1, 1, w).expand(1, h, w).contiguous()
    lm = np.stack([np.linspace(10, 40, 68), np.linspace(12, 30, 68)], axis=1)
    al = faces.estimate_alignment(lm, size=20, margin=0.0)
    out = faces.apply_alignment(img[None], al)[0, 0]
    j, i = 7, 11
    x_in = al.matrix[0] @ np.array([j, i, 1.0])
    assert float(out[i, j]) == pytest.approx(x_in / (w - 1), abs=1e-4)


def test_region_crops_and_landmark_patches(astronaut):
    img = _tensor(astronaut)
    aligned, al = faces.align_clip(img[None], size=128)
    crops, names = faces.region_crops(aligned, al.aligned_landmarks, out_size=32)
    assert names == ["right_eyebrow", "left_eyebrow", "nose_tip", "mouth"]
    assert crops.shape == (1, 4, 3, 32, 32)
    patches = faces.landmark_patches(aligned, al.aligned_landmarks, patch_size=9, out_size=9)
    assert patches.shape == (1, len(faces.GAM_MER_LANDMARKS), 3, 9, 9) and len(faces.GAM_MER_LANDMARKS) == 28
    # a patch centred on an integer point shows that pixel at its centre (smooth image: bilinear ~ exact)
    smooth = torch.nn.functional.avg_pool2d(aligned, 5, stride=1, padding=2)
    lm = np.round(al.aligned_landmarks)
    p = faces.landmark_patches(smooth, lm, indices=(30,), patch_size=3, out_size=3)
    x, y = int(lm[30, 0]), int(lm[30, 1])
    torch.testing.assert_close(p[0, 0, :, 1, 1], smooth[0, :, y, x], atol=0.02, rtol=0)


def test_mtcnn_box_agrees_with_dlib(astronaut):
    pytest.importorskip("facenet_pytorch")
    m = faces.detect_faces(astronaut, method="mtcnn", device="cpu")
    d = faces.detect_faces(astronaut, method="dlib")
    a, b = m[0, :4], d[0, :4]
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    assert inter / union > 0.5 and m[0, 4] > 0.9
    lm = faces.detect_landmarks(astronaut, method="mtcnn", device="cpu")
    assert abs(_eye_angle(lm) - _eye_angle(faces.detect_landmarks(astronaut))) < 2


def test_no_face_and_bad_arguments():
    blank = torch.full((3, 64, 64), 0.5)
    with pytest.raises(faces.FaceNotFoundError, match="no face found"):
        faces.detect_landmarks(blank)
    with pytest.raises(ValueError, match="method must be"):
        faces.detect_faces(blank, method="haar")
    with pytest.raises(ValueError, match=r"landmarks must have shape \(68, 2\)"):
        faces.eye_centers(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="image tensor must have shape"):
        faces.to_uint8_image(torch.zeros(64, 64))
