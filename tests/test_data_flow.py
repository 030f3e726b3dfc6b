"""merlib.data.flow: TV-L1 onset→apex flow, optical strain, the (u, v, strain) stack."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from merlib.data import flow as FL


def _texture(n=64, seed=0, sigma=2.5):
    rng = np.random.default_rng(seed)
    t = ndimage.gaussian_filter(rng.random((n, n)), sigma)
    return ((t - t.min()) / (t.max() - t.min())).astype(np.float64)


def _pair(shift_yx=(1.3, 2.4), n=64, seed=0):
    """A smooth texture and the same texture whose content moved by (dy, dx) px."""
    tex = _texture(n, seed)
    moved = ndimage.shift(tex, shift_yx, order=3, mode="nearest")
    to_t = lambda a: torch.tensor(np.clip(a, 0, 1), dtype=torch.float32)[None]
    return to_t(tex), to_t(moved)


def test_tvl1_returns_u_then_v_for_a_known_translation():
    dy, dx = 1.3, 2.4
    a, b = _pair((dy, dx))
    w = FL.tvl1_flow(a, b)
    assert w.shape == (2, 64, 64) and w.dtype == torch.float32
    inner = (slice(None), slice(10, -10), slice(10, -10))
    u, v = w[inner][0].mean().item(), w[inner][1].mean().item()
    assert abs(u - dx) < 0.05 and abs(v - dy) < 0.05   # channel 0 = x (right), 1 = y (down)


def test_tvl1_matches_skimage_with_the_axes_swapped():
    from skimage.registration import optical_flow_tvl1

    a, b = _pair((0.4, -0.7), seed=1)
    v, u = optical_flow_tvl1(a[0].numpy(), b[0].numpy(), attachment=FL.TVL1_DEFAULTS["attachment"], dtype=np.float32)
    w = FL.tvl1_flow(a, b)
    np.testing.assert_allclose(w[0].numpy(), u, atol=1e-6)
    np.testing.assert_allclose(w[1].numpy(), v, atol=1e-6)


def test_default_attachment_is_opencvs_lambda_for_unit_intensities():
    assert FL.TVL1_DEFAULTS["attachment"] == pytest.approx(0.15 * 255)


def test_rgb_input_uses_luma_and_grey_input_is_unchanged():
    rgb = torch.rand(3, 16, 16)
    grey = FL.to_grey(rgb)
    ref = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    np.testing.assert_allclose(grey, ref.numpy(), atol=1e-6)
    np.testing.assert_array_equal(FL.to_grey(rgb[:1]), rgb[0].numpy())


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(16, 16, dtype=torch.uint8), "float"),
    (np.zeros((16, 16), dtype=np.uint8), "float"),
    (torch.full((1, 16, 16), 255.0), r"\[0, 1\]"),
    (torch.zeros(2, 16, 16), "C = 1 or 3"),
    (torch.zeros(1, 4, 4), "8 × 8"),
])
def test_bad_frames_are_named_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        FL.to_grey(bad)


def test_mismatched_pair_and_unknown_method_or_parameter():
    with pytest.raises(ValueError, match="differ in size"):
        FL.optical_flow(torch.zeros(1, 16, 16), torch.zeros(1, 20, 16))
    with pytest.raises(ValueError, match="method"):
        FL.optical_flow(torch.zeros(1, 16, 16), torch.zeros(1, 16, 16), method="lucas")
    with pytest.raises(ValueError, match="unknown parameter"):
        FL.tvl1_flow(torch.zeros(1, 16, 16), torch.zeros(1, 16, 16), lambda_=1.0)


def test_zero_flow_for_identical_frames_and_zero_method():
    a, _ = _pair()
    assert FL.tvl1_flow(a, a).abs().max().item() < 1e-6
    assert torch.equal(FL.optical_flow(a, a, "zero"), torch.zeros(2, 64, 64))


def test_farneback_recovers_a_translation_with_the_same_axes():
    a, b = _pair((0.0, 1.5), seed=2)
    w = FL.farneback_flow(a, b)
    inner = w[:, 12:-12, 12:-12]
    assert abs(inner[0].mean().item() - 1.5) < 0.15 and abs(inner[1].mean().item()) < 0.15


@pytest.mark.skipif(not FL.has_opencv_tvl1(), reason="opencv-contrib (cv2.optflow) not installed")
def test_opencv_tvl1_recovers_a_translation():
    a, b = _pair((1.0, -0.8), seed=3)
    w = FL.opencv_tvl1_flow(a, b)
    inner = w[:, 10:-10, 10:-10]
    assert abs(inner[0].mean().item() + 0.8) < 0.08 and abs(inner[1].mean().item() - 1.0) < 0.08


def test_opencv_tvl1_without_contrib_says_what_to_install(monkeypatch):
    monkeypatch.setattr(FL, "has_opencv_tvl1", lambda: False)
    with pytest.raises(ImportError, match="opencv-contrib-python-headless"):
        FL.opencv_tvl1_flow(torch.zeros(1, 16, 16), torch.zeros(1, 16, 16))


def test_strain_of_linear_fields_is_exact():
    h, w = 12, 15
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    a, b, c, d = 0.03, -0.02, 0.05, 0.01                   # u = a x + b y, v = c x + d y
    flow = torch.tensor(np.stack([a * x + b * y, c * x + d * y]), dtype=torch.float32)
    eps = FL.optical_strain(flow)
    expected = np.sqrt(a ** 2 + d ** 2 + 0.5 * (b + c) ** 2)
    np.testing.assert_allclose(eps.numpy(), expected, rtol=1e-5)
    # a rigid rotation (u = -θy, v = θx) has no strain; a translation neither
    rot = torch.tensor(np.stack([-0.02 * y, 0.02 * x]), dtype=torch.float32)
    assert FL.optical_strain(rot).abs().max().item() < 1e-7
    assert FL.optical_strain(torch.ones(2, h, w)).abs().max().item() == 0.0


def test_strain_matches_the_strain_tensor_norm_on_a_smooth_field():
    rng = np.random.default_rng(4)
    f = ndimage.gaussian_filter(rng.normal(size=(2, 20, 20)), (0, 3, 3))
    eps = FL.optical_strain(torch.tensor(f)).numpy()
    grads = [np.gradient(f[k]) for k in range(2)]           # [d/dy, d/dx] of u, v
    J = np.array([[grads[0][1], grads[0][0]], [grads[1][1], grads[1][0]]])   # J[i][j] = d w_i / d x_j
    E = 0.5 * (J + J.transpose(1, 0, 2, 3))
    np.testing.assert_allclose(eps, np.sqrt((E ** 2).sum((0, 1))), rtol=1e-5, atol=1e-7)


def test_endpoint_error_and_mask():
    true = torch.zeros(2, 4, 4)
    est = torch.zeros(2, 4, 4)
    est[0, 0, 0], est[1, 0, 0] = 3.0, 4.0
    assert FL.endpoint_error(est, true) == pytest.approx(5.0 / 16)
    m = torch.zeros(4, 4, dtype=torch.bool)
    m[0, :2] = True
    assert FL.endpoint_error(est, true, m) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="no pixel"):
        FL.endpoint_error(est, true, torch.zeros(4, 4, dtype=torch.bool))


def test_tvl1_energy_terms_match_independent_computations():
    a, b = _pair((0.6, 0.9), seed=5)
    zero = torch.zeros(2, 64, 64)
    e0 = FL.tvl1_energy(a, b, zero, attachment=10.0)
    assert e0["tv"] == 0.0
    assert e0["data"] == pytest.approx(float(np.abs(b[0].double().numpy() - a[0].double().numpy()).sum()), rel=1e-6)
    # a linear field u = s·x has |∇u| = |s| wherever a forward difference exists (W - 1 columns)
    lin = torch.zeros(2, 64, 64, dtype=torch.float64)
    lin[0] = 0.01 * torch.arange(64, dtype=torch.float64)[None, :]
    assert FL.tvl1_energy(a, b, lin)["tv"] == pytest.approx(0.01 * 64 * 63, rel=1e-6)
    # the data term warps like scipy's bilinear map_coordinates (edge replicated)
    w = torch.full((2, 64, 64), 0.3)
    rows, cols = np.mgrid[0:64, 0:64]
    ref = ndimage.map_coordinates(b[0].double().numpy(), [rows + 0.3, cols + 0.3], order=1, mode="nearest")
    np.testing.assert_allclose(FL.warp_image(b, w), ref, atol=1e-9)


def test_tvl1_solution_is_a_minimum_along_its_own_direction():
    a, b = _pair((1.3, 2.4))
    w = FL.tvl1_flow(a, b)
    e = {s: FL.tvl1_energy(a, b, s * w)["total"] for s in (0.0, 0.8, 1.0, 1.2)}
    assert e[1.0] < e[0.8] < e[0.0] and e[1.0] < e[1.2]


def test_resize_flow_scales_vectors_to_the_new_grid():
    w = torch.ones(2, 64, 32)
    w[1] *= 2.0
    r = FL.resize_flow(w, 16)
    assert r.shape == (2, 16, 16)
    np.testing.assert_allclose(r[0].numpy(), 0.5)            # 32 -> 16 columns: u halves
    np.testing.assert_allclose(r[1].numpy(), 2.0 * 16 / 64)   # 64 -> 16 rows: v quarters


def test_face_regions_default_and_from_landmarks():
    m = FL.face_regions(100, 100)
    assert m["nose"].sum() > 0 and m["eyes"].sum() > 0 and not (m["nose"] & m["eyes"]).any()
    pts = np.zeros((68, 2))
    pts[27:36] = [[50, 40 + k] for k in range(9)]           # nose column x = 50, y = 40..48
    pts[36:42] = [[30 + k, 30] for k in range(6)]
    pts[42:48] = [[60 + k, 30] for k in range(6)]
    m = FL.face_regions(100, 100, landmarks=pts, margin=0.0)
    assert m["nose"][44, 50] and not m["nose"][20, 50]
    assert m["eyes"][30, 32] and m["eyes"][30, 62] and not m["eyes"][30, 50]
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        FL.face_regions(10, 10, landmarks=np.zeros((5, 2)))


def test_nose_subtraction_removes_a_global_translation():
    w = torch.zeros(2, 40, 40)
    w[0] += 0.7
    w[1] -= 0.2
    w[0, 5:10, 5:10] += 1.0                                   # local motion outside the nose
    out = FL.subtract_region_motion(w, FL.face_regions(40, 40)["nose"])
    assert out[:, 20:25, 18:22].abs().max().item() < 1e-6
    assert out[0, 7, 7].item() == pytest.approx(1.0)


def test_flow_stack_shapes_options_and_normalisation():
    a, b = _pair((0.5, 0.8), n=64)
    st = FL.flow_stack(a, b)
    assert st.shape == (3, 28, 28) and st.dtype == torch.float32
    full = FL.flow_stack(a, b, size=None)
    assert full.shape == (3, 64, 64)
    # the stack's u, v are the flow resized to the 28 grid: the mean motion scales by 28/64
    assert st[0, 6:-6, 6:-6].mean().item() == pytest.approx(full[0, 14:-14, 14:-14].mean().item() * 28 / 64, rel=0.05)
    mm = FL.flow_stack(a, b, normalize="minmax")
    assert torch.allclose(mm.amin(dim=(1, 2)), torch.zeros(3)) and torch.allclose(mm.amax(dim=(1, 2)), torch.ones(3))
    masked = FL.flow_stack(a, b, size=None, eye_mask=True)
    eyes = FL.face_regions(64, 64)["eyes"]
    assert masked[:, eyes].abs().max().item() == 0.0
    nose = FL.flow_stack(a, b, size=None, nose_subtract=True)
    assert nose[0, 40:, :].mean().item() < full[0, 40:, :].mean().item() - 0.5   # the translation is gone
    small = FL.flow_stack(a, b, flow_size=32)
    assert small.shape == (3, 28, 28)
    with pytest.raises(ValueError, match="normalize"):
        FL.flow_stack(a, b, normalize="z")


def test_onset_apex_flow_takes_first_and_last_frame():
    a, b = _pair((0.5, 0.8), n=32)
    clip = torch.stack([a, torch.rand_like(a), b])
    np.testing.assert_allclose(FL.onset_apex_flow(clip, size=16).numpy(), FL.flow_stack(a, b, size=16).numpy())
    with pytest.raises(ValueError, match="T >= 2"):
        FL.onset_apex_flow(a[None])


def test_tvl1_beats_zero_flow_on_a_synthetic_micro_expression():
    """Against the renderer's true flow (nuisances off): TV-L1 must be closer than no motion at all."""
    from dataclasses import replace

    from merlib.data.synthetic import render_clip, sample_specs

    spec = sample_specs("tiny", 0, head_motion=False, blinks=False, noise=False, flicker=False, jpeg=False)[0]
    on, _ = render_clip(replace(spec, first_frame=spec.onset, n_frames=1), device="cpu")
    ap, true = render_clip(replace(spec, first_frame=spec.apex, n_frames=1), device="cpu")
    moving = torch.linalg.vector_norm(true[0], dim=0) > 0.05
    assert moving.sum() > 10
    w = FL.tvl1_flow(on[0], ap[0])
    e_tvl1 = FL.endpoint_error(w, true[0], moving)
    e_zero = FL.endpoint_error(torch.zeros_like(w), true[0], moving)
    assert e_tvl1 < 0.8 * e_zero
