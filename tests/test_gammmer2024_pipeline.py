"""GAM-MM-MER's frozen stage: synthetic landmarks, the landmark marker, ST-MEMM at the paper's factors, regions."""
import pickle

import numpy as np
import pytest
import torch

from merlib.data import load_dataset, synthetic
from merlib.data.faces import landmark_patches
from merlib.data.synthetic.render import _to_face, face_grid, head_pose
from merlib.magnify.load import load_magnifier
from merlib.papers.gammmer2024 import landmarks as LM
from merlib.papers.gammmer2024 import pipeline as P


@pytest.fixture(scope="module")
def spec():
    specs = synthetic.sample_specs("tiny")
    return max(specs, key=lambda s: abs(s.nuisance.rot0))          # the most rotated head


@pytest.fixture(scope="module")
def ds():
    return load_dataset("synthetic", preset="tiny", progress=False)


@pytest.fixture(scope="module")
def stmemm():
    return load_magnifier("stmemm", device="cpu")


def test_synthetic_landmarks_invert_the_renderers_transform(spec):
    size = (64, 80)
    lm = LM.synthetic_landmarks(spec, size)
    h, w = size
    face_img = np.stack([(lm[:, 0] + 0.5 - w / 2) * 2 / w, (lm[:, 1] + 0.5 - h / 2) * 2 / w], 1)   # face_grid's map
    t = spec.onset - spec.first_frame
    tx, ty, th = (torch.tensor([v[t]], dtype=torch.float64) for v in head_pose(spec))
    back = _to_face(torch.tensor(face_img), tx, ty, th, spec.identity.zoom)[0].numpy()
    np.testing.assert_allclose(back, LM.synthetic_landmarks_face(spec.identity), atol=1e-9)
    # face_grid's pixel centres use the same map
    g = face_grid((4, 4)).numpy()
    np.testing.assert_allclose(g[1, 2], [(2 + 0.5 - 2) * 2 / 4, (1 + 0.5 - 2) * 2 / 4], atol=1e-7)


def test_synthetic_landmarks_sit_on_the_drawn_features(spec):
    size = 128
    t = spec.onset - spec.first_frame
    frame, _ = synthetic.render_clip(spec, size=size, device="cpu", positions=[t])
    grey = P.to_grey(frame[0])[0].numpy()
    lm = LM.synthetic_landmarks(spec, size)

    def at(pts):
        return np.array([grey[int(round(y)), int(round(x))] for x, y in pts])
    up = 0.05 * spec.identity.zoom * size / 2                            # 0.05 face units above, in pixels
    brows = lm[17:27]
    assert at(brows).mean() < at(brows - [0, up]).mean() - 0.05          # dark brows on lighter forehead skin
    nostrils = lm[[32, 34]]
    assert at(nostrils).mean() < at(nostrils - [0, 3]).mean()           # dark nostrils
    assert np.all((lm[17:68] > 0) & (lm[17:68] < size - 1))              # inner face inside the frame


def test_marker_frame_round_trip():
    lm = np.random.default_rng(0).uniform(0, 31, (68, 2))
    m = P.encode_landmarks(lm, torch.zeros(3, 32, 32))
    assert m.shape == (3, 32, 32) and float(m[1:].abs().sum()) == 0
    np.testing.assert_allclose(P.decode_landmarks(m), lm, atol=1e-4)
    with pytest.raises(ValueError, match="too small"):
        P.encode_landmarks(lm, torch.zeros(1, 8, 8))


def test_landmark_tagged_frames(ds):
    tagged = P.LandmarkTagged(ds)
    assert tagged.method == "synthetic" and tagged.name.endswith("/gam68-synthetic")
    row = ds.clips.iloc[0]
    fr = tagged.frames(0, indices=[0, int(row["apex"] - row["onset"])], size=32)
    assert fr.shape == (3, 3, 32, 32)
    torch.testing.assert_close(fr[:2], ds.frames(0, indices=[0, int(row["apex"] - row["onset"])], size=32))
    np.testing.assert_allclose(P.decode_landmarks(fr[2]), LM.clip_landmarks(ds, 0, size=32), atol=1e-4)
    again = pickle.loads(pickle.dumps(tagged))
    assert again.name == tagged.name and len(again) == len(ds.clips)
    assert LM.landmark_method(ds, "dlib") == "dlib"
    with pytest.raises(ValueError, match="landmark method"):
        LM.landmark_method(ds, "mtcnn")


def test_paper_alpha_is_ohs_convention():
    assert P.paper_to_merlib_alpha(1) == 0.0 and P.paper_to_merlib_alpha(5) == 4.0 and P.paper_to_merlib_alpha(10) == 9.0


def test_magnify_apex_slots(spec, stmemm):
    t0, ta = spec.onset - spec.first_frame, spec.apex - spec.first_frame
    frames, _ = synthetic.render_clip(spec, size=64, device="cpu", positions=[t0, ta])
    onset, apex = frames
    out = P.magnify_apex(stmemm, onset, apex, ("raw", 1, 5, 20))
    assert out.shape == (4, 3, 64, 64)
    assert torch.equal(out[0], apex)                                    # "raw" is the apex itself
    mse = float(((out[1] - apex) ** 2).mean())
    assert 10 * np.log10(1 / mse) > 30                                  # paper alpha 1 = merlib 0: (near) identity
    moved = [float((o - onset).abs().mean()) for o in out[1:]]
    assert moved[0] < moved[1] < moved[2]                               # larger factor, larger change
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_gam_inputs_are_the_regions_of_onset_and_each_factor(ds, stmemm):
    tagged = P.LandmarkTagged(ds)
    row = ds.clips.iloc[1]
    fr = tagged.frames(1, indices=[0, int(row["apex"] - row["onset"])], size=64)
    alphas = ("raw", 5, 10)
    x = P.gam_inputs(stmemm, fr, alphas=alphas)
    assert x.shape == (4, 68, P.PATCH_OUT, P.PATCH_OUT) and x.dtype == torch.float32
    lm = P.decode_landmarks(fr[2])
    ref = landmark_patches(P.to_grey(fr[:2]), lm, indices=tuple(range(68)), patch_size=P.PATCH_FRAC * 64,
                           out_size=P.PATCH_OUT)[:, :, 0]
    torch.testing.assert_close(x[0], ref[0])                            # slot 0: onset
    torch.testing.assert_close(x[1], ref[1])                            # slot "raw": the unmagnified apex
    assert not torch.allclose(x[2], x[3])
    with pytest.raises(ValueError, match="onset, apex and the landmark marker"):
        P.gam_inputs(stmemm, fr[:2], alphas=alphas)
