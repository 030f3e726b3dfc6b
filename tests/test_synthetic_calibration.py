"""merlib.data.synthetic: the knobs of the operating-point study and the measured distributions.

Intensity and noise overrides, CASME II-like timing, rendering only some frames (bit-identical to the
full render), the in-memory JPEG round trip (identical to the written files), the apex-displacement
statistics (against the rendered true flow), and the render <-> writer import order.
"""
import ast
import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from merlib.data import synthetic as syn
from merlib.data.synthetic import stats
from merlib.data.synthetic.writer import jpeg_round_trip, write_clip_frames

CPU = "cpu"


def test_rendering_some_positions_equals_those_frames_of_the_full_clip():
    spec = max(syn.sample_specs("tiny", seed=0), key=lambda s: s.n_frames)   # all nuisances on, noise included
    full, flow = syn.render_clip(spec, device=CPU)
    pos = [0, stats.apex_position(spec), spec.n_frames - 1]
    part, part_flow = syn.render_clip(spec, device=CPU, positions=pos)
    assert torch.equal(part, full[pos]) and torch.equal(part_flow, flow[pos])
    assert torch.equal(syn.render_magnified(spec, 3.0, device=CPU, positions=pos),
                       syn.render_magnified(spec, 3.0, device=CPU)[pos])
    with pytest.raises(ValueError, match="positions"):
        syn.render_clip(spec, device=CPU, positions=[spec.n_frames])
    with pytest.raises(ValueError, match="positions"):
        syn.render_clip(spec, device=CPU, positions=[0.5])


def test_intensity_scales_the_true_motion_and_noise_range_is_respected():
    a = syn.sample_specs("tiny", seed=0)
    b = syn.sample_specs("tiny", seed=0, intensity=2.5)
    assert [s.identity for s in a] == [s.identity for s in b] and [s.apex for s in a] == [s.apex for s in b]
    for sa, sb in zip(a, b):
        np.testing.assert_allclose([x.intensity for x in sb.aus], [2.5 * x.intensity for x in sa.aus], rtol=1e-12)
    pa = stats.clip_statistics(a[:3]).apex_peak_px.to_numpy()
    pb = stats.clip_statistics(b[:3]).apex_peak_px.to_numpy()
    np.testing.assert_allclose(pb, 2.5 * pa, rtol=1e-5)
    zero = syn.sample_specs("tiny", seed=0, intensity=0.0)[0]
    assert stats.clip_statistics([zero]).apex_peak_px.iloc[0] == 0.0
    noisy = syn.sample_specs("casme2", seed=0, noise_sigma=(0.02, 0.03))
    sig = np.array([s.nuisance.noise_sigma for s in noisy])
    assert sig.min() >= 0.02 and sig.max() <= 0.03
    # The scaled range maps the same draws: sigma = lo + u (hi - lo) with the same u per clip.
    default = np.array([s.nuisance.noise_sigma for s in syn.sample_specs("casme2", seed=0)])
    u = (default - 0.003) / 0.009
    np.testing.assert_allclose(sig, 0.02 + u * 0.01, rtol=1e-9)
    with pytest.raises(ValueError, match="intensity"):
        syn.get_config("tiny", intensity=-1)
    with pytest.raises(ValueError, match="noise_sigma"):
        syn.get_config("tiny", noise_sigma=(0.1, 0.05))
    with pytest.raises(ValueError, match="onset_to_apex_s"):
        syn.get_config("tiny", onset_to_apex_s=(0.0, 0.02))


def test_casme2_preset_timing_is_casme2_like():
    specs = syn.sample_specs("casme2", seed=0)
    cs = stats.clip_statistics(specs)
    rise = cs.onset_to_apex_frames.to_numpy()
    assert rise.min() >= 10 and rise.max() <= 40                       # 50-200 ms at 200 fps
    assert cs.duration_ms.max() <= 500 + 1e-9 and cs.duration_ms.min() >= 40 - 1e-9
    assert (cs.onset_to_offset_frames > cs.onset_to_apex_frames).all()
    assert np.unique(rise).size > 20                                    # spread over the range, not one value
    assert stats.CASME2_FIGURES["fps"] == 200 and stats.CASME2_FIGURES["max_duration_ms"] == 500


def test_apex_statistics_match_the_rendered_flow():
    spec = syn.sample_specs("small", seed=1)[5]
    _, flow = syn.render_clip(spec, device=CPU)
    peak = float(flow[stats.apex_position(spec)].norm(dim=0).max())
    row = stats.clip_statistics([spec]).iloc[0]
    assert row.apex_peak_px == pytest.approx(peak, rel=1e-6)
    assert row.face_width_px == pytest.approx(spec.identity.face_a * spec.identity.zoom * spec.size[1])
    assert row.apex_peak_px_200 == pytest.approx(peak * 200 / row.face_width_px)
    per_au = stats.au_displacements([spec])
    assert list(per_au.au) == [a.au for a in spec.aus]
    # Each AU's own peak is at most the peak of their sum plus the others' peaks (triangle inequality).
    assert per_au.apex_peak_px.max() <= peak + per_au.apex_peak_px.sum() - per_au.apex_peak_px.max() + 1e-6
    # The apex is where the motion peaks: no frame moves more.
    assert float(flow.norm(dim=1).amax(dim=(1, 2)).max()) == pytest.approx(peak, rel=1e-6)


@pytest.mark.parametrize("channels,quality", [(3, 92), (1, 92), (3, None)])
def test_jpeg_round_trip_equals_the_written_files(tmp_path, channels, quality):
    spec = dataclasses.replace(syn.sample_specs("tiny", seed=0)[1], channels=channels)
    spec = dataclasses.replace(spec, nuisance=dataclasses.replace(spec.nuisance, jpeg_quality=quality))
    frames, _ = syn.render_clip(spec, device=CPU)
    write_clip_frames(tmp_path, spec, frames)
    back = jpeg_round_trip(frames, quality)
    for t, n in enumerate(spec.frame_numbers):
        img = cv2.imread(str(tmp_path / f"img{n}.jpg"), cv2.IMREAD_UNCHANGED)
        img = img[..., None] if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        disk = torch.from_numpy(img.transpose(2, 0, 1).copy()).float() / 255
        assert torch.equal(back[t], disk)
    assert back.shape == frames.shape and (back - frames).abs().mean() < 0.02


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_render_does_not_import_the_writer():
    pkg = Path(syn.__file__).parent
    assert "merlib.data.synthetic.writer" not in _imports(pkg / "render.py")
    assert "merlib.data.synthetic.writer" not in _imports(pkg / "store.py")
    assert "merlib.data.synthetic.render" not in _imports(pkg / "store.py")
    # Clip folders still work through the store.
    assert syn.load_spec is syn.store.load_spec and syn.writer.spec_from_clip_dir is syn.store.spec_from_clip_dir
