"""merlib.data.synthetic.generate: CASME II layout, coding sheet, ground truth, caching, determinism."""
import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from merlib.data import DatasetError
from merlib.data import synthetic as syn


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn") / "tiny"
    return syn.generate("tiny", root=root, seed=0, progress=False, device="cpu")


def _read(path):
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    img = img[..., None] if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return torch.from_numpy(img).permute(2, 0, 1).float() / 255


def test_layout_and_coding_sheet(tiny):
    df = pd.read_excel(tiny / syn.CODING_SHEET)
    assert tuple(df.columns) == syn.CODING_COLUMNS == (
        "Subject", "Filename", "Unnamed: 2", "OnsetFrame", "ApexFrame", "OffsetFrame", "Unnamed: 6",
        "Action Units", "Estimated Emotion")
    for col in ("Subject", "OnsetFrame", "ApexFrame", "OffsetFrame"):
        assert pd.api.types.is_integer_dtype(df[col]), col
    assert df["Unnamed: 2"].isna().all() and df["Unnamed: 6"].isna().all()
    assert len(df) == 10 and set(df["Subject"]) == {1, 2, 3, 4}
    assert df["Estimated Emotion"].value_counts().to_dict() == {c: 2 for c in syn.CLASSES}
    assert (df["OnsetFrame"] < df["ApexFrame"]).all() and (df["ApexFrame"] < df["OffsetFrame"]).all()
    for row in df.itertuples(index=False):
        folder = tiny / "CASME2-RAW" / f"sub{row.Subject:02d}" / row.Filename
        expected = {f"img{n}.jpg" for n in range(row.OnsetFrame, row.OffsetFrame + 1)}
        assert {p.name for p in folder.iterdir()} == expected
        syn.parse_aus(row._7)  # the "Action Units" column parses
    meta = json.loads((tiny / "synthetic_meta.json").read_text())
    assert meta["preset"] == "tiny" and meta["seed"] == 0 and meta["generator_version"] == syn.GENERATOR_VERSION
    assert meta["fps"] == 100 and meta["size"] == [64, 64] and meta["n_clips"] == 10
    assert (tiny / ".complete").exists()


def test_ground_truth_rerenders_the_written_frames(tiny):
    specs = syn.sample_specs("tiny", seed=0)
    assert [s.to_dict() for s in syn.load_specs(tiny)] == [s.to_dict() for s in specs]
    spec = syn.load_spec(tiny, "synthetic_sub01", specs[0].clip)
    assert spec.to_dict() == specs[0].to_dict()
    frames, flow = syn.render_clip(spec, device="cpu")
    folder = tiny / "CASME2-RAW" / "sub01" / spec.clip
    for t, n in enumerate(spec.frame_numbers):
        disk = _read(folder / f"img{n}.jpg")
        assert disk.shape == frames[t].shape
        assert (disk - frames[t]).abs().mean() < 0.02  # JPEG quality 92 on a 64 px face
    mag = syn.render_magnified(folder, 0, device="cpu")
    torch.testing.assert_close(mag, frames, atol=0, rtol=0)
    with pytest.raises(DatasetError, match="no ground truth"):
        syn.load_spec(tiny, 1, "EP99_99")
    with pytest.raises(ValueError, match="clip folder"):
        syn.render_magnified(tiny / "CASME2-RAW", 1.0)


MINI = dict(class_counts={"disgust": 1, "others": 1}, n_subjects=1)   # 2 clips: quick to write twice


def test_generate_is_cached_deterministic_and_redone_after_a_kill(tiny, tmp_path):
    some = next((tiny / "CASME2-RAW" / "sub01").iterdir())
    first = sorted(some.iterdir())[0]
    mtime = first.stat().st_mtime_ns
    assert syn.generate("tiny", root=tiny, seed=0, progress=False) == tiny
    assert first.stat().st_mtime_ns == mtime  # cached: nothing rewritten
    # Two copies written in different folders are byte-identical.
    one = syn.generate("tiny", root=tmp_path / "one", seed=0, progress=False, device="cpu", **MINI)
    two = syn.generate("tiny", root=tmp_path / "two", seed=0, progress=False, device="cpu", **MINI)
    files = sorted(p.relative_to(one) for p in one.rglob("*")
                   if p.is_file() and p.suffix in (".jpg", ".json") and p.name != "synthetic_meta.json")  # meta: timing
    assert len(files) > 5
    for rel in files:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel
    # A killed generation (no marker) is redone; a stray partial file disappears.
    (two / ".complete").unlink()
    (two / "CASME2-RAW" / "sub01" / "junk.jpg").write_bytes(b"")
    syn.generate("tiny", root=two, seed=0, progress=False, device="cpu", **MINI)
    assert (two / ".complete").exists() and not (two / "CASME2-RAW" / "sub01" / "junk.jpg").exists()
    # Another seed in the same folder needs overwrite=True.
    with pytest.raises(ValueError, match="overwrite"):
        syn.generate("tiny", root=two, seed=1, progress=False, **MINI)
    # A folder with foreign files is never deleted.
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    with pytest.raises(ValueError, match="not a synthetic dataset"):
        syn.generate("tiny", root=foreign, progress=False)
    assert (foreign / "thesis.tex").exists()


def test_default_root_is_the_cache_and_grey_override(tmp_path, monkeypatch):
    monkeypatch.setenv("MERLIB_CACHE", str(tmp_path / "cache"))
    counts = {"others": 1, "happiness": 1}
    root = syn.generate("tiny", seed=5, progress=False, device="cpu", channels=1, class_counts=counts,
                        n_subjects=1, jpeg=False)
    cfg = syn.get_config("tiny", channels=1, class_counts=counts, n_subjects=1, jpeg=False)
    assert root == tmp_path / "cache" / "synthetic" / syn.dataset_key(cfg, 5)
    assert root.name.startswith("tiny-seed5-v")
    imgs = sorted((root / "CASME2-RAW").glob("sub01/*/img*.jpg"))
    assert imgs and cv2.imread(str(imgs[0]), cv2.IMREAD_UNCHANGED).ndim == 2
    spec = syn.load_spec(root, 1, imgs[0].parent.name)
    frames, _ = syn.render_clip(spec, device="cpu")
    n = int(imgs[0].stem[3:])
    t = int(np.flatnonzero(spec.frame_numbers == n)[0])
    assert (_read(imgs[0]) - frames[t]).abs().max() < 0.03  # quality 100 when JPEG is off
    assert syn.generate("tiny", seed=5, progress=False, channels=1, class_counts=counts, n_subjects=1,
                        jpeg=False) == root


def test_small_preset_shape():
    specs = syn.sample_specs("small", seed=0)
    assert len(specs) == 40 and len({s.subject for s in specs}) == 8
    frames = sum(s.n_frames for s in specs)
    assert 40 * 9 <= frames <= 40 * 51
    assert syn.PRESETS["small"].size == (128, 128) and syn.PRESETS["small"].fps == 200
