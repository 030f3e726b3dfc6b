"""merlib.data.synthetic: rendering, ground-truth flow and magnification, action units, presets.

Checks against an external reference (scikit-image phase correlation for sub-pixel shifts,
torch grid_sample warps for the flow) and exact invariants (integer shifts, alpha = 0 / -1).
"""
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from merlib.data import synthetic as syn
from merlib.data.synthetic.action_units import anchors

CPU = "cpu"


@pytest.fixture(scope="module")
def specs():
    return syn.sample_specs("tiny", seed=0)


def _quiet(spec, **changes):
    """The spec with every nuisance off (and optional field changes)."""
    return dataclasses.replace(spec.with_nuisances_off(), **changes)


def _shifted(spec, shift_px, size):
    """A spec without AUs whose head translates by ``shift_px`` (x, y) pixels per frame."""
    w = size[1]
    fps = spec.fps
    drift = [shift_px[0] * (2.0 / w) * fps, shift_px[1] * (2.0 / w) * fps]
    return dataclasses.replace(spec, aus=[], size=size,
                               nuisance=syn.NuisanceParams(drift=drift))


def _warp(img, flow):
    """Backward warp: out(x) = img(x - flow(x)); img (C, H, W), flow (2, H, W) in pixels."""
    _, h, w = img.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    sx = xs - flow[0]
    sy = ys - flow[1]
    grid = torch.stack([(2 * sx + 1) / w - 1, (2 * sy + 1) / h - 1], -1)[None]
    return F.grid_sample(img[None], grid, mode="bicubic", padding_mode="border", align_corners=False)[0]


def test_render_shapes_range_and_determinism(specs):
    spec = specs[0]
    frames, flow = syn.render_clip(spec, device=CPU)
    t = spec.n_frames
    assert frames.shape == (t, 3, 64, 64) and frames.dtype == torch.float32
    assert flow.shape == (t, 2, 64, 64)
    assert frames.min() >= 0 and frames.max() <= 1
    again, flow2 = syn.render_clip(syn.ClipSpec.from_dict(spec.to_dict()), device=CPU)
    assert torch.equal(frames, again) and torch.equal(flow, flow2)
    # The same seed draws the same dataset; another seed another one.
    assert [s.to_dict() for s in syn.sample_specs("tiny", seed=0)] == [s.to_dict() for s in specs]
    other = syn.sample_specs("tiny", seed=1)
    assert [s.to_dict() for s in other] != [s.to_dict() for s in specs]


def test_render_at_other_sizes_and_grey(specs):
    spec = specs[1]
    frames, flow = syn.render_clip(spec, size=(48, 40), device=CPU)
    assert frames.shape[-2:] == (48, 40) and flow.shape[-2:] == (48, 40)
    grey, _ = syn.render_clip(dataclasses.replace(spec, channels=1), device=CPU)
    colour, _ = syn.render_clip(spec, device=CPU)
    assert grey.shape[1] == 1
    # Grey is the luminance of colour (noise is added after, with the same seed but 1 channel).
    quiet = _quiet(spec)
    g, _ = syn.render_clip(dataclasses.replace(quiet, channels=1), device=CPU)
    c, _ = syn.render_clip(quiet, device=CPU)
    luma = (c * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
    torch.testing.assert_close(g, luma, atol=1e-5, rtol=0)
    assert not torch.equal(grey, colour[:, :1])


def test_integer_shift_is_exact(specs):
    spec = _shifted(specs[0], (2.0, -1.0), (64, 64))
    frames, flow = syn.render_clip(spec, device=CPU)
    assert flow.abs().max() == 0  # no AU motion
    f0, f1 = frames[0], frames[1]
    # content moved 2 px right and 1 px up: f1[y, x] = f0[y + 1, x - 2]
    torch.testing.assert_close(f1[:, :-1, 2:], f0[:, 1:, :-2], atol=2e-5, rtol=0)


@pytest.mark.parametrize("shift", [(0.3, 0.0), (-0.45, 0.25), (0.125, -0.7)])
def test_subpixel_shift_is_measured_exactly(specs, shift):
    """A rigid sub-pixel motion is rendered exactly: scipy's spline shift + least squares and
    scikit-image's phase correlation both recover it."""
    from scipy import ndimage, optimize
    from skimage.registration import phase_cross_correlation

    spec = _shifted(specs[2], shift, (96, 96))
    frames, _ = syn.render_clip(spec, device=CPU)
    g0 = frames[0].mean(0).double().numpy()
    g1 = frames[1].mean(0).double().numpy()
    inner = (slice(6, -6), slice(6, -6))

    def loss(s):  # s = (x, y); ndimage.shift takes (rows, cols)
        return ((ndimage.shift(g0, (s[1], s[0]), order=3, mode="nearest") - g1)[inner] ** 2).mean()

    fit = optimize.minimize(loss, x0=np.zeros(2), method="Nelder-Mead",
                            options={"xatol": 1e-4, "fatol": 1e-12})
    np.testing.assert_allclose(fit.x, shift, atol=0.01)
    measured, _, _ = phase_cross_correlation(g1, g0, upsample_factor=100, normalization=None)
    np.testing.assert_allclose(measured[::-1], shift, atol=0.06)  # its own bias on windowless images


def test_flow_warps_onset_to_every_frame(specs):
    """frame_t(x) = onset(x - flow_t(x)) with nuisances off (the flow is the true AU motion)."""
    spec = _quiet(next(s for s in specs if s.label == "disgust"), size=(96, 96))
    frames, flow = syn.render_clip(spec, device=CPU)
    onset = int(np.flatnonzero(spec.frame_numbers == spec.onset)[0])
    apex = int(np.flatnonzero(spec.frame_numbers == spec.apex)[0])
    assert flow[onset].abs().max() == 0
    peak = flow[apex].norm(dim=0).max()
    assert 0.2 < peak < 5.0, f"apex displacement {peak:.3f} px is not micro-expression sized"
    inner = (slice(None), slice(4, -4), slice(4, -4))
    for t in range(spec.n_frames):
        moved = (frames[t] - frames[onset])[inner].abs().mean()
        err = (_warp(frames[onset], flow[t]) - frames[t])[inner].abs().mean()
        assert err <= 0.25 * moved + 2e-4, f"frame {t}: warp error {err:.2e} vs motion {moved:.2e}"


def test_flow_convention_with_head_motion(specs):
    """With head motion and rotation: frame_t(x) = neutral_t(x - flow_t(x)), neutral = alpha -1."""
    # 128 px: the warp's own bicubic interpolation error shrinks as the face gets smoother per pixel.
    spec = dataclasses.replace(next(s for s in specs if s.label == "surprise"), size=(128, 128))
    spec = dataclasses.replace(spec, nuisance=dataclasses.replace(
        spec.nuisance, drift=[0.3, -0.2], rot0=0.01, rot_rate=0.3, noise_sigma=0.0, blink_t=None,
        flicker_amp=0.0))
    frames, flow = syn.render_clip(spec, device=CPU)
    neutral = syn.render_magnified(spec, alpha=-1, device=CPU)
    no_au, _ = syn.render_clip(dataclasses.replace(spec, aus=[]), device=CPU)
    torch.testing.assert_close(neutral, no_au, atol=1e-6, rtol=0)
    apex = int(np.flatnonzero(spec.frame_numbers == spec.apex)[0])
    inner = (slice(None), slice(4, -4), slice(4, -4))
    moved = (frames[apex] - neutral[apex])[inner].abs().mean()
    err = (_warp(neutral[apex], flow[apex]) - frames[apex])[inner].abs().mean()
    assert moved > 3e-4 and err < 0.25 * moved, (moved, err)


def test_render_magnified_alpha_zero_is_the_clip_and_motion_scales(specs):
    spec = specs[3]
    frames, flow = syn.render_clip(spec, device=CPU)
    torch.testing.assert_close(syn.render_magnified(spec, 0, device=CPU), frames, atol=0, rtol=0)
    quiet = _quiet(spec, size=(96, 96))
    f, fl = syn.render_clip(quiet, device=CPU)
    alpha = 2.0
    mag = syn.render_magnified(quiet, alpha, device=CPU)
    onset = int(np.flatnonzero(quiet.frame_numbers == quiet.onset)[0])
    apex = int(np.flatnonzero(quiet.frame_numbers == quiet.apex)[0])
    inner = (slice(None), slice(4, -4), slice(4, -4))
    err_true = (_warp(f[onset], (1 + alpha) * fl[apex]) - mag[apex])[inner].abs().mean()
    err_plain = (_warp(f[onset], fl[apex]) - mag[apex])[inner].abs().mean()
    assert err_true < 0.3 * err_plain


def test_nuisances_are_not_magnified(specs):
    base = specs[4]
    spec = dataclasses.replace(base, nuisance=dataclasses.replace(
        base.nuisance, drift=[0.5, 0.2], rot_rate=0.2, noise_sigma=0.01, noise_seed=7,
        flicker_amp=0.02, flicker_hz=5.0, blink_t=0.02, blink_dur=0.05))
    frames, _ = syn.render_clip(spec, device=CPU)
    mag = syn.render_magnified(spec, 20.0, device=CPU)
    onset = int(np.flatnonzero(spec.frame_numbers == spec.onset)[0])
    apex = int(np.flatnonzero(spec.frame_numbers == spec.apex)[0])
    # At the onset the AU intensity is 0: magnification changes nothing, head motion included.
    torch.testing.assert_close(mag[onset], frames[onset], atol=1e-6, rtol=0)
    assert (mag[apex] - frames[apex]).abs().max() > 0.05


def test_each_nuisance_switch_changes_only_its_part(specs):
    spec = specs[5]
    quiet = _quiet(spec)
    f_quiet, _ = syn.render_clip(quiet, device=CPU)
    noisy, _ = syn.render_clip(dataclasses.replace(
        quiet, nuisance=syn.NuisanceParams(noise_sigma=0.02, noise_seed=3)), device=CPU)
    resid = (noisy - f_quiet)[(f_quiet > 0.1) & (f_quiet < 0.9)]
    assert abs(resid.std().item() - 0.02) < 0.002 and abs(resid.mean().item()) < 0.002
    flick = dataclasses.replace(quiet, nuisance=syn.NuisanceParams(flicker_amp=0.05, flicker_hz=7.0))
    f_flick, _ = syn.render_clip(flick, device=CPU)
    gain = torch.as_tensor(syn.flicker_gain(flick), dtype=torch.float32)
    torch.testing.assert_close(f_flick, (f_quiet * gain[:, None, None, None]).clamp(0, 1), atol=1e-5, rtol=0)
    blink = dataclasses.replace(quiet, nuisance=syn.NuisanceParams(blink_t=0.03, blink_dur=0.04))
    f_blink, _ = syn.render_clip(blink, device=CPU)
    closed = int(np.argmax(syn.blink_curve(blink)))
    diff = (f_blink[closed] - f_quiet[closed]).abs().sum(0)
    ys, xs = torch.nonzero(diff > 0.05, as_tuple=True)
    assert len(ys) > 0
    # Only the eye band changes (eyes sit in the upper half of the face).
    i = spec.identity
    eye_row = 32 + (i.eye_y * i.zoom) * 32
    assert (ys.float() - eye_row).abs().max() < 6


def test_intensity_profile():
    frames = np.arange(10, 31)
    p = syn.intensity_profile(frames, 10, 17, 30)
    assert p[0] == 0 and p[-1] == 0 and p[7] == pytest.approx(1.0)
    assert np.all(np.diff(p[:8]) > 0) and np.all(np.diff(p[7:]) < 0)
    assert syn.intensity_profile([5, 40], 10, 17, 30).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="onset < apex < offset"):
        syn.intensity_profile(frames, 10, 10, 30)


def test_action_units_are_local_and_parse():
    ident = syn.Identity()
    anc = anchors(ident)
    pts = torch.tensor([list(anc[k]) for k in ("brow_inner", "mouth_corner", "chin")])
    up_brow = syn.au_field(ident, syn.parse_aus("1"), pts)
    assert up_brow[0, 1] < -0.5 * syn.BASE_AMPLITUDE            # inner brow goes up (y down)
    assert up_brow[1:].abs().max() < 1e-3 * syn.BASE_AMPLITUDE   # nothing at the mouth or chin
    smile = syn.au_field(ident, syn.parse_aus("12"), pts)
    assert smile[1, 0] > 0 and smile[1, 1] < 0                   # corner up and out
    assert smile[0].abs().max() < 1e-3 * syn.BASE_AMPLITUDE
    mirrored = torch.tensor([[-anc["mouth_corner"][0], anc["mouth_corner"][1]]])
    left_only = syn.au_field(ident, syn.parse_aus("L12"), torch.cat([pts[1:2], mirrored]))
    assert left_only[0].abs().max() > 0.5 * syn.BASE_AMPLITUDE and left_only[1].abs().max() < 1e-3
    both = syn.au_field(ident, syn.parse_aus("12"), mirrored)
    torch.testing.assert_close(both[0], smile[1] * torch.tensor([-1.0, 1.0]))
    assert syn.format_aus(syn.parse_aus("4+L10")) == "4+L10"
    for bad in ("", "4+X10", "99", "4++7"):
        with pytest.raises(ValueError):
            syn.parse_aus(bad)
    required = {1, 2, 4, 6, 7, 9, 10, 12, 14, 15, 17, 25, 26}
    assert required <= set(syn.AU_NAMES)


def test_classes_mirror_casme2_coding():
    assert set(syn.CLASS_AUS) == set(syn.CLASSES)
    for name, combos in syn.CLASS_AUS.items():
        for combo, weight in combos:
            assert weight > 0 and syn.parse_aus(combo)
    # The ambiguity the papers discuss: AU4 in disgust and in others; shared combinations.
    assert 4 in syn.CLASS_AU_SETS["disgust"] and 4 in syn.CLASS_AU_SETS["others"]
    combos = {c: {k for k, _ in v} for c, v in syn.CLASS_AUS.items()}
    assert combos["disgust"] & combos["others"] and combos["repression"] & combos["others"]
    assert 12 in syn.CLASS_AU_SETS["happiness"] and {1, 2} <= syn.CLASS_AU_SETS["surprise"]
    assert syn.MEGC3_MAP["happiness"] == "positive" and syn.MEGC3_MAP["surprise"] == "surprise"
    assert syn.MEGC3_MAP["disgust"] == syn.MEGC3_MAP["repression"] == "negative"
    assert syn.MEGC3_MAP["others"] is None and set(syn.MEGC3_CLASSES) == {"negative", "positive", "surprise"}
    # Drawn specs carry their class's combinations.
    for spec in syn.sample_specs("small", seed=3):
        assert spec.action_units in combos[spec.label]


def test_casme2_preset_matches_casme2():
    specs = syn.sample_specs("casme2", seed=0)
    assert len(specs) == 246 == sum(syn.CASME2_CLASS_COUNTS.values())
    counts = {c: sum(s.label == c for s in specs) for c in syn.CLASSES}
    assert counts == {"happiness": 32, "disgust": 63, "surprise": 25, "repression": 27, "others": 99}
    assert sorted({s.subject for s in specs}) == list(range(1, 27))
    durations = np.array([(s.offset - s.onset) / s.fps for s in specs])
    assert durations.min() >= 1 / 25 - 1e-9 and durations.max() <= 1 / 2 + 1e-9
    assert all(s.fps == 200 for s in specs)
    assert all(s.onset < s.apex < s.offset for s in specs)
    names = [(s.subject, s.clip) for s in specs]
    assert len(set(names)) == len(names)
    scales = {s.subject: s.subject_intensity for s in specs}
    assert max(scales.values()) / min(scales.values()) > 1.5  # subjects differ in intensity


def test_overrides_and_bad_arguments(specs):
    cfg = syn.get_config("tiny", size=32, fps=200, noise=False)
    assert cfg.size == (32, 32) and cfg.fps == 200 and not cfg.noise
    assert all(s.nuisance.noise_sigma == 0 for s in syn.sample_specs(cfg, seed=0))
    # Switching one nuisance off leaves the faces, AUs and the other nuisances unchanged.
    a = syn.sample_specs("tiny", seed=0)[0]
    b = syn.sample_specs("tiny", seed=0, noise=False)[0]
    assert a.identity == b.identity and a.aus == b.aus and a.nuisance.drift == b.nuisance.drift
    with pytest.raises(ValueError, match="preset"):
        syn.get_config("casme3")
    with pytest.raises(ValueError, match="unknown override"):
        syn.get_config("tiny", colour=True)
    with pytest.raises(ValueError, match="channels"):
        syn.get_config("tiny", channels=2)
    with pytest.raises(ValueError, match="seed"):
        syn.sample_specs("tiny", seed=-1)
    with pytest.raises(ValueError, match="alpha"):
        syn.render_magnified(specs[0], float("nan"))
    with pytest.raises(ValueError, match="size"):
        syn.render_clip(specs[0], size=(4, 4))
    with pytest.raises(ValueError, match="ClipSpec"):
        syn.render_clip("not a spec")
