"""Issue 14: licensed copies as they really are.

One test (or a few) per item: the Cropped faces and the frames= choice, the releases' known defects
as quirk repairs (CASME II Cropped sub16/EP01_08, SMIC_all_cropped's empty and short clips), the
policy for "the folder disagrees with the sheet", the sheet versions, the composite's CSVs,
permission errors, SMIC's clip-name codes, and verify sharing load_dataset's code path. The copies
are tiny and follow the releases' folder and file names (see test_data_layouts / test_data_releases).
"""
from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from merlib.data import DatasetError, QuirkWarning, load_dataset, verify_dataset
from test_data_layouts import CASME2_CLIPS, SMIC_CLIPS, write_casme2, write_megc_csv, write_samm, write_smic

EP01_08 = (16, "EP01_08", 73, 85, 110, "repression")


def _casme2_both(root, clips=CASME2_CLIPS):
    """A CASME II copy with the uncropped frames (CASME2_RAW_selected/) and the crops (Cropped/)."""
    write_casme2(root, clips=clips, frames_dir="CASME2_RAW_selected")
    write_casme2(root, clips=clips, frames_dir="Cropped")
    for p in (root / "Cropped").rglob("*.jpg"):     # crops are smaller than the raw frames
        cv2.imwrite(str(p), cv2.resize(cv2.imread(str(p)), (10, 12)))
    return root


def _short_ep01_08(root):
    """Cropped/sub16/EP01_08 holds img73..img96 (the sheet says 73..110)."""
    for n in range(97, 111):
        (root / "Cropped" / "sub16" / "EP01_08" / f"img{n}.jpg").unlink()


def _load(*args, **kw):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ds = load_dataset(*args, **kw)
    return ds, [x for x in w if issubclass(x.category, QuirkWarning)]


# ------------------------------------------------------------------ 1. Cropped sub16/EP01_08 ----
def test_cropped_ep01_08_offset_is_clamped_to_the_last_frame_on_disk(tmp_path):
    root = _casme2_both(tmp_path / "casme2", CASME2_CLIPS + [EP01_08])
    _short_ep01_08(root)
    ds, warned = _load("casme2", root)
    row = ds.clips.set_index("clip").loc["EP01_08"]
    assert (row.onset, row.apex, row.offset, row.n_frames) == (73, 85, 96, 24)
    assert row.fixes == "cropped_clip_short(offset 110->96)"
    assert ds.frames(ds.clips.index[ds.clips["clip"] == "EP01_08"][0]).shape[0] == 24
    assert len(warned) == 1 and "cropped_clip_short: 1 clip(s) (casme2_sub16/EP01_08)" in str(warned[0].message)
    # the raw frames reach 110: nothing to repair there
    raw = load_dataset("casme2", root, frames="raw").clips.set_index("clip").loc["EP01_08"]
    assert (raw.offset, raw.n_frames, raw.fixes) == (110, 38, "")
    # strict: the disagreement is an error that says it is a known defect
    with pytest.raises(DatasetError, match=r"14 frame\(s\) of onset..offset 73..110 missing.*known defect") as e:
        load_dataset("casme2", root, quirks="strict")
    assert e.value.row == "row 8"
    with pytest.raises(DatasetError, match="known defect"):
        load_dataset("casme2", root, fix_quirks=False)


def test_cropped_ep01_08_apex_past_the_frames_is_re_estimated(tmp_path):
    root = _casme2_both(tmp_path / "casme2", CASME2_CLIPS + [(16, "EP01_08", 73, 100, 110, "repression")])
    _short_ep01_08(root)
    row = load_dataset("casme2", root, missing_apex="middle").clips.set_index("clip").loc["EP01_08"]
    assert row.offset == 96 and row.apex == (73 + 96) // 2
    assert row.fixes == f"cropped_clip_short(offset 110->96);apex_outside_clip(100->{(73 + 96) // 2})"


def test_an_unlisted_short_clip_is_still_an_error(tmp_path):
    """Only the known defect is repaired: the same shortfall in another clip is a broken copy."""
    root = write_casme2(tmp_path / "casme2")
    (root / "Cropped" / "sub02" / "EP01_11f" / "img27.jpg").unlink()
    with pytest.raises(DatasetError, match=r"1 frame\(s\) of onset..offset 20..27 missing.*: 27") as e:
        load_dataset("casme2", root)
    assert "known defect" not in str(e.value)


def test_composite_with_the_cropped_ep01_08_loads(tmp_path):
    comp = tmp_path / "comp"
    write_casme2(comp / "CASME2", clips=CASME2_CLIPS + [EP01_08])
    _short_ep01_08(comp / "CASME2")
    write_samm(comp / "SAMM")
    write_smic(comp / "SMIC")
    write_megc_csv(comp / "combined_3class_gt.csv", [("casme2", "sub16", "EP01_08", 0), ("samm", "006", "006_1_2", 0),
                                                     ("smic", "s01", "s01_ne_01", 0)])
    ds, warned = _load("megc2019_composite", comp)
    assert len(ds) == 3 and ds.clips.iloc[0]["fixes"] == "cropped_clip_short(offset 110->96)"
    assert warned and "EP01_08" in str(warned[0].message)


# ------------------------------------------------------------------ 2. frames="cropped"|"raw" ---
def test_crops_are_the_default_and_raw_is_a_choice(tmp_path):
    root = _casme2_both(tmp_path / "casme2")
    ds = load_dataset("casme2", root)
    assert ds.frames_kind == "cropped" and ds.clips["path"].str.contains("/Cropped/").all()
    assert ds.frames(0, indices=[0]).shape[-2:] == (12, 10)
    assert "frames='cropped'" in repr(ds) and ds.info()["frames"] == "cropped"
    raw = load_dataset("casme2", root, frames="raw")
    assert raw.frames_kind == "raw" and raw.clips["path"].str.contains("/CASME2_RAW_selected/").all()
    assert raw.frames(0, indices=[0]).shape[-2:] == (24, 20) and "frames='raw'" in repr(raw)
    assert raw.subset([0, 1]).frames_kind == "raw"
    with pytest.raises(ValueError, match="frames must be 'cropped', 'raw'"):
        load_dataset("casme2", root, frames="faces")


def test_only_raw_frames_is_a_named_error_never_a_silent_switch(tmp_path):
    root = write_casme2(tmp_path / "casme2", frames_dir="CASME2_RAW_selected")
    with pytest.raises(DatasetError, match=r"cropped frame folder not found.*the raw frames are at "
                                           r".*CASME2_RAW_selected: pass frames='raw'"):
        load_dataset("casme2", root)
    assert len(load_dataset("casme2", root, frames="raw")) == 5


def test_smic_crops_are_the_default_over_hs(tmp_path):
    root = write_smic(tmp_path / "smic", top="HS")
    write_smic(root, top="SMIC_all_cropped/HS")
    ds = load_dataset("smic_hs", root)
    assert ds.frames_kind == "cropped" and ds.frame_paths(0)[0].name.startswith("reg_image")
    assert "SMIC_all_cropped/HS/s1/micro/negative/s1_ne_01" in ds.clips.iloc[0]["path"]
    raw = load_dataset("smic_hs", root, frames="raw")
    assert raw.frame_paths(0)[0].name == "image046810.bmp" and "/HS/s1/" in raw.clips.iloc[0]["path"]


def test_samm_crops_and_raw(tmp_path):
    root = write_samm(tmp_path / "samm")
    write_samm(root, frames_dir="SAMM")
    assert "/SAMM_CROP/" in load_dataset("samm", root).clips.iloc[0]["path"]
    assert "/SAMM/006/" in load_dataset("samm", root, frames="raw").clips.iloc[0]["path"]


def test_the_frames_choice_is_recorded_in_results(tmp_path):
    """merlib.eval.run records the dataset identity in Result.config['identity']['dataset']."""
    from merlib.eval.runner import _dataset_identity

    root = _casme2_both(tmp_path / "casme2")
    crop, raw = load_dataset("casme2", root), load_dataset("casme2", root, frames="raw")
    assert _dataset_identity(crop)["frames"] == "cropped" and _dataset_identity(raw)["frames"] == "raw"
    assert _dataset_identity(crop) != _dataset_identity(raw)      # a resumed run cannot mix them


def test_composite_frames_choice_applies_to_all_sources(tmp_path):
    comp = tmp_path / "comp"
    _casme2_both(comp / "CASME2")
    write_samm(comp / "SAMM")
    write_samm(comp / "SAMM", frames_dir="SAMM")
    write_smic(comp / "SMIC")
    write_smic(comp / "SMIC", top="HS")
    write_megc_csv(comp / "combined_3class_gt.csv", [("casme2", "sub01", "EP02_01f", 1), ("samm", "6", "006_1_2", 0),
                                                     ("smic", "s01", "s01_ne_01", 0)])
    ds = load_dataset("megc2019_composite", comp)
    assert ds.frames_kind == "cropped" and "frames='cropped'" in repr(ds)
    assert [("Cropped" in p) or ("SAMM_CROP" in p) or ("SMIC_all_cropped" in p) for p in ds.clips["path"]] == [True] * 3
    raw = load_dataset("megc2019_composite", comp, frames="raw")
    assert raw.frames_kind == "raw" and not any("crop" in p.lower() for p in raw.clips["path"])


# ------------------------------------------------------------------ 3. SMIC_all_cropped ---------
SMIC_CROPPED = SMIC_CLIPS + [(18, "surprise", "s18_sur_03", 7000, 12, 4), (3, "positive", "s3_po_08", 8000, 14, 6)]


def _smic_cropped(root):
    root = write_smic(root, clips=SMIC_CROPPED)
    top = root / "SMIC_all_cropped" / "HS"
    shutil.rmtree(top / "s18" / "micro" / "surprise" / "s18_sur_03")
    (top / "s18" / "micro" / "surprise" / "s18_sur_03").mkdir()
    for n in (8005, 8006):                                # two frames lacking in the middle
        (top / "s3" / "micro" / "positive" / "s3_po_08" / f"reg_image{n:06d}.bmp").unlink()
    return root


def test_smic_empty_clip_is_dropped_with_its_reason(tmp_path):
    root = _smic_cropped(tmp_path / "smic")
    ds, warned = _load("smic_hs", root)
    assert len(ds) == len(SMIC_CLIPS) + 1 and "s18_sur_03" not in set(ds.clips["clip"])
    d = ds.dropped.iloc[0]
    assert (d["subject"], d["clip"], d["quirk"], bool(d["known"]), d["label_name"]) == (
        "smic_hs_s18", "s18_sur_03", "empty_clip_folder", True, "surprise")
    assert "no frame" in d["reason"] and "empty_clip_folder" in d["reason"]
    assert "1 dropped" in repr(ds) and ds.info()["dropped"] == ["smic_hs_s18/s18_sur_03: empty_clip_folder"]
    assert "dropped smic_hs_s18/s18_sur_03: empty_clip_folder" in str(warned[0].message)
    rep = verify_dataset("smic_hs", root, quirks="strict", read_frames=False, progress=False)
    assert any("s18_sur_03] clip folder holds no image file" in p for p in rep.problems), rep.format()


def test_smic_short_clip_loads_its_real_frames(tmp_path):
    root = _smic_cropped(tmp_path / "smic")
    ds = load_dataset("smic_hs", root)
    i = int(ds.clips.index[ds.clips["clip"] == "s3_po_08"][0])
    row = ds.clips.iloc[i]
    assert (row.onset, row.offset, row.n_frames) == (8000, 8013, 12)
    assert row.fixes.startswith("frames_missing(2: 8005,8006);no_apex(->")
    names = [p.name for p in ds.frame_paths(i)]
    assert len(names) == 12 and "reg_image008005.bmp" not in names and names[5] == "reg_image008007.bmp"
    x = ds.frames(i)
    assert x.shape[0] == 12
    ref = cv2.cvtColor(cv2.imread(str(ds.frame_paths(i)[5])), cv2.COLOR_BGR2RGB)
    torch.testing.assert_close(ds.frames(i, indices=[5])[0], torch.from_numpy(ref).permute(2, 0, 1).float() / 255)
    assert row.apex in {int(p.stem[-6:]) for p in ds.frame_paths(i)}      # the apex is a frame on disk
    with pytest.raises(DatasetError, match=r"2 frame\(s\) of onset..offset 8000..8013 missing.*8005, 8006"):
        load_dataset("smic_hs", root, quirks="strict")


def test_unknown_smic_defects_load_but_verify_names_them(tmp_path):
    root = write_smic(tmp_path / "smic")
    extra = root / "SMIC_all_cropped" / "HS" / "s2" / "micro" / "surprise" / "s2_sur_07"
    extra.mkdir(parents=True)
    ds = load_dataset("smic_hs", root)
    assert ds.dropped.iloc[0]["clip"] == "s2_sur_07" and not ds.dropped.iloc[0]["known"]
    rep = verify_dataset("smic_hs", root, read_frames=False, progress=False)
    assert any("s2_sur_07] empty_clip_folder: not a known defect" in p for p in rep.problems)


# ------------------------------------------------------------------ 4. no false alarms ----------
def test_macosx_debris_is_no_false_alarm(tmp_path):
    root = write_casme2(tmp_path / "casme2")
    mac = root / "Cropped" / "__MACOSX" / "sub01" / "EP02_01f"
    mac.mkdir(parents=True)
    (mac / "._img10.jpg").write_bytes(b"\x00\x05\x16\x07")
    (root / "Cropped" / "sub01" / "EP02_01f" / "._img10.jpg").write_bytes(b"\x00\x05\x16\x07")
    (root / "__MACOSX").mkdir()
    rep = verify_dataset("casme2", root, progress=False)
    assert not any("__MACOSX" in p or "._img" in p or "no annotation row" in p for p in rep.problems), rep.format()
    assert rep.counts["unreadable frames"] == 0
    assert len(load_dataset("casme2", root)) == 5


def test_samm_verify_compares_coded_subjects(tmp_path):
    rep = verify_dataset("samm", write_samm(tmp_path / "samm"), read_frames=False, progress=False)
    assert "subjects: found 3, the manifest expects 29" in rep.problems      # not 32
    assert any("29 subjects; the dataset has 32 participants" in n for n in rep.notes)


# ------------------------------------------------------------------ 5. the 20190701 sheet -------
def test_casme2_coding_20190701_is_accepted(tmp_path):
    from openpyxl import load_workbook

    root = write_casme2(tmp_path / "casme2", sheet="CASME2-coding-20190701.xlsx")
    assert load_workbook(root / "CASME2-coding-20190701.xlsx").sheetnames == ["Sheet"]
    ds = load_dataset("casme2", root)
    assert len(ds) == 5
    rep = verify_dataset("casme2", root, read_frames=False, progress=False)
    assert rep.counts["annotation file"] == "CASME2-coding-20190701.xlsx"
    assert rep.counts["annotation rows"] == 6 and not any("annotation rows" in p for p in rep.problems)
    assert any("no row count is documented for this sheet version" in n for n in rep.notes)


# ------------------------------------------------------------------ 6. the composite's CSVs -----
def _comp(tmp_path, rows, *, csv_name="combined_3class_gt.csv", blank=False):
    comp = tmp_path / "comp"
    write_casme2(comp / "CASME2")
    write_samm(comp / "SAMM")
    write_smic(comp / "SMIC")
    text = "".join(",".join(map(str, r)) + "\n" + (",,,\n" if blank else "") for r in rows)
    (comp / csv_name).write_text(text)
    return comp


ROWS = [("casme2", "sub01", "EP02_01f", 1), ("samm", "006", "006_1_2", 0), ("smic", "s01", "s01_ne_01", 0)]


def test_composite_validates_only_the_clips_its_csv_uses(tmp_path):
    comp = _comp(tmp_path, ROWS)
    shutil.rmtree(comp / "SAMM" / "SAMM_CROP" / "007" / "007_3_1")               # an 'other' clip, not in the CSV
    (comp / "CASME2" / "Cropped" / "sub02" / "EP01_11f" / "img22.jpg").unlink()   # a missing frame, not in the CSV
    (comp / "SMIC" / "SMIC_all_cropped" / "HS" / "s2" / "micro" / "surprise" / "s2_sur_01" / "x.bmp").write_bytes(b"")
    ds = load_dataset("megc2019_composite", comp)
    assert len(ds) == 3 and ds.clips["clip"].tolist() == ["EP02_01f", "006_1_2", "s1_ne_01"]
    rep = verify_dataset("megc2019_composite", comp, progress=False)
    assert not any("007_3_1" in p or "EP01_11f" in p or "s2_sur_01" in p for p in rep.problems), rep.format()
    # a defect in a clip the CSV uses still stops it, with the file named
    shutil.rmtree(comp / "SAMM" / "SAMM_CROP" / "006" / "006_1_2")
    with pytest.raises(DatasetError, match="clip folder not found.*006_1_2"):
        load_dataset("megc2019_composite", comp)


def test_composite_accepts_the_second_csv_with_blank_rows(tmp_path):
    comp = _comp(tmp_path, ROWS, csv_name="combined_3class_gt-2.csv", blank=True)
    ds = load_dataset("megc2019_composite", comp)
    assert len(ds) == 3 and ds.clips["label"].tolist() == [1, 0, 0]
    rep = verify_dataset("megc2019_composite", comp, read_frames=False, progress=False)
    assert "combined_3class_gt-2.csv: skipped 3 blank line(s) (',,,')" in rep.notes
    # rows keep their line numbers: the bad label on line 5 is reported as row 5
    (comp / "combined_3class_gt-2.csv").write_text("casme2,sub01,EP02_01f,1\n,,,\nsamm,006,006_1_2,0\n,,,\n"
                                                   "smic,s01,s01_ne_01,7\n,,,\n")
    with pytest.raises(DatasetError, match="label is '7'") as e:
        load_dataset("megc2019_composite", comp)
    assert e.value.row == "row 5"


def test_composite_rejects_a_repeated_row(tmp_path):
    comp = _comp(tmp_path, ROWS + [("casme2", "sub01", "EP02_01f", 1)])
    with pytest.raises(DatasetError, match=r"row 4 repeats row 1 \(casme2 subject 1 clip 'EP02_01f', label 1\)") as e:
        load_dataset("megc2019_composite", comp)
    assert e.value.row == "row 4" and e.value.path.name == "combined_3class_gt.csv"


def test_composite_rejects_a_clip_with_two_labels(tmp_path):
    comp = _comp(tmp_path, ROWS + [("smic", "s1", "s1_ne_1", 2)])        # the same SMIC clip, spelt otherwise
    with pytest.raises(DatasetError, match=r"row 3 and row 4 give smic_hs subject 1 clip 's1_ne_1' two labels "
                                           r"\(0 and 2\)"):
        load_dataset("megc2019_composite", comp)
    rep = verify_dataset("megc2019_composite", comp, progress=False)
    assert not rep.ok and "two labels" in rep.problems[0]


# ------------------------------------------------------------------ also: unreadable, permissions
def _deny_read(monkeypatch, target: Path):
    real = Path.read_bytes

    def read_bytes(self):
        if Path(self) == target:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


def _deny_listing(monkeypatch, target: Path):
    from merlib.data import readers

    real = os.scandir

    def scandir(path="."):
        if Path(path) == target:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(readers.os, "scandir", scandir)


def test_unreadable_frame_is_called_unreadable_not_corrupt(tmp_path, monkeypatch):
    root = write_casme2(tmp_path / "casme2")
    bad = root / "Cropped" / "sub01" / "EP02_01f" / "img12.jpg"
    _deny_read(monkeypatch, bad)
    ds = load_dataset("casme2", root)
    with pytest.raises(DatasetError, match="frame file is unreadable: permission denied") as e:
        ds.frames(0)
    assert e.value.path == bad and "corrupt" not in str(e.value) and "decode" not in str(e.value)
    rep = verify_dataset("casme2", root, progress=False)
    assert rep.counts["unreadable frames"] == 1
    assert any(p.startswith(f"[{bad}] frame file is unreadable: permission denied") for p in rep.problems)


def test_damaged_frame_says_it_does_not_decode(tmp_path):
    root = write_casme2(tmp_path / "casme2")
    bad = root / "Cropped" / "sub01" / "EP02_01f" / "img12.jpg"
    bad.write_bytes(bad.read_bytes()[:40])                 # a truncated JPEG
    with pytest.raises(DatasetError, match=r"cannot decode the image file \(40 bytes that are not a complete image"):
        load_dataset("casme2", root).frames(0)


def test_unlistable_clip_folder_is_a_named_error_and_verify_does_not_crash(tmp_path, monkeypatch):
    root = write_casme2(tmp_path / "casme2")
    folder = root / "Cropped" / "sub02" / "EP07_01"
    _deny_listing(monkeypatch, folder)
    with pytest.raises(DatasetError, match=r"permission denied: cannot list the folder") as e:
        load_dataset("casme2", root)
    assert str(folder) in str(e.value) and e.value.row == "row 5"
    rep = verify_dataset("casme2", root, progress=False)       # collects, never raises
    assert any("permission denied: cannot list the folder" in p and "EP07_01" in p for p in rep.problems)
    assert rep.counts["frames read"] == 34                        # the other clips were still read


def test_unlistable_frames_root_in_verify(tmp_path, monkeypatch):
    root = write_smic(tmp_path / "smic")
    _deny_listing(monkeypatch, root / "SMIC_all_cropped" / "HS")
    rep = verify_dataset("smic_hs", root, progress=False)
    assert not rep.ok and "permission denied: cannot list the folder" in rep.problems[0]
    assert "SMIC_all_cropped/HS" in rep.problems[0]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_real_permission_bits(tmp_path):                                              # pragma: no cover
    root = write_casme2(tmp_path / "casme2")
    folder = root / "Cropped" / "sub02" / "EP07_01"
    folder.chmod(0)
    try:
        rep = verify_dataset("casme2", root, progress=False)
        assert any("permission denied" in p and "EP07_01" in p for p in rep.problems)
    finally:
        folder.chmod(0o755)


# ------------------------------------------------------------------ also: SMIC name codes -------
def test_smic_clip_name_code_must_match_its_emotion_folder(tmp_path):
    root = write_smic(tmp_path / "smic", clips=SMIC_CLIPS + [(1, "negative", "s1_po_03", 500, 11, 4)])
    with pytest.raises(DatasetError, match=r"clip 's1_po_03' is in the emotion folder 'negative', but its name "
                                           r"codes 'po' \(positive\)") as e:
        load_dataset("smic_hs", root)
    assert e.value.path.name == "s1_po_03"
    rep = verify_dataset("smic_hs", root, read_frames=False, progress=False)
    assert any("s1_po_03" in p and "disagree" in p for p in rep.problems)


def test_smic_clip_name_subject_must_match_its_folder(tmp_path):
    root = write_smic(tmp_path / "smic", clips=SMIC_CLIPS + [(2, "negative", "s3_ne_09", 500, 11, 4)])
    with pytest.raises(DatasetError, match="clip 's3_ne_09' names subject 3 but is in the folder 's2'"):
        load_dataset("smic_hs", root)


# ------------------------------------------------------------------ also: one code path --------
@pytest.mark.parametrize("method", ["estimate", "middle"])
def test_verify_fills_a_missing_apex_as_load_dataset_does(tmp_path, method):
    root = write_casme2(tmp_path / "casme2", apex_cells={"EP02_01f": "/", "EP07_01": "/"},
                        true_apex={"EP02_01f": 17, "EP07_01": 3})
    ds = load_dataset("casme2", root, missing_apex=method)
    rep = verify_dataset("casme2", root, missing_apex=method, read_frames=False, progress=False)
    for _, r in ds.clips[ds.clips["fixes"] != ""].iterrows():
        assert f"{r['subject']}/{r['clip']}: quirk fixed: {r['fixes']}" in rep.notes
    fixes = dict(zip(ds.clips["clip"], ds.clips["fixes"]))
    if method == "estimate":
        assert fixes["EP02_01f"] in {f"apex_missing(->{a})" for a in (16, 17, 18)}
    else:
        assert fixes["EP02_01f"] == "apex_missing(->14)" and fixes["EP07_01"] == "apex_missing(->4)"
    assert rep.repaired == {"apex_missing": 2}


def test_a_repaired_load_always_warns(tmp_path):
    root = write_casme2(tmp_path / "casme2", apex_cells={"EP03_02": "/"})
    _, warned = _load("casme2", root)
    assert len(warned) == 1 and "apex_missing: 1 clip(s) (casme2_sub01/EP03_02)" in str(warned[0].message)
    _, warned = _load("casme2", write_casme2(tmp_path / "clean"))
    assert warned == []
    with pytest.raises(ValueError, match="quirks must be one of"):
        load_dataset("casme2", root, quirks="lenient")
