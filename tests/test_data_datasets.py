"""load_dataset on tiny CASME II / SAMM / SMIC-HS / MEGC2019 copies written into tmp_path."""
from __future__ import annotations

import pytest
import torch

from merlib.data import CLIP_COLUMNS, MERDataset, load_dataset, load_manifest, list_manifests
from test_data_layouts import CASME2_CLIPS, SMIC_CLIPS, write_casme2, write_megc_csv, write_samm, write_smic


# ---------------------------------------------------------------------------------------------
# manifests
# ---------------------------------------------------------------------------------------------
def test_all_five_manifests_ship_with_required_keys():
    assert set(list_manifests()) >= {"casme2", "samm", "smic_hs", "megc2019_composite", "synthetic"}
    for name in ("casme2", "samm", "smic_hs", "synthetic"):
        m = load_manifest(name)
        for setting in ("5class", "megc3"):
            cm = m["class_maps"][setting]
            assert len(cm["names"]) == len(set(cm["names"]))
            assert set(cm["map"].values()) <= set(cm["names"])
            assert not set(cm["map"]) & set(cm.get("exclude") or [])
        for q in m["quirks"]:
            assert {"id", "what", "fix", "reason"} <= set(q)


def test_megc2019_manifest_counts_add_up():
    m = load_manifest("megc2019_composite")
    per = m["clips"]["per_dataset"]
    assert per == {"casme2": 145, "samm": 133, "smic_hs": 164}
    assert sum(per.values()) == m["clips"]["total"] == 442
    assert sum(m["clips"]["subjects_per_dataset"].values()) == m["subjects"] == 68
    cm = m["class_maps"]["megc3"]
    assert sum(cm["expected_counts"].values()) == 442
    for ds, counts in cm["per_dataset"].items():
        assert sum(counts.values()) == per[ds]
        assert load_manifest(ds)["class_maps"]["megc3"]["expected_counts_megc2019"] == counts
    for c in cm["names"]:
        assert sum(cm["per_dataset"][ds][c] for ds in per) == cm["expected_counts"][c]


def test_paper_class_counts_in_manifests():
    # MMFRN Table 1 / CMNet: CASME II 5 classes = 246; CMNet: SAMM 136; SMIC-HS 164
    assert sum(load_manifest("casme2")["class_maps"]["5class"]["expected_counts"].values()) == 246
    assert sum(load_manifest("samm")["class_maps"]["5class"]["expected_counts"].values()) == 136
    assert sum(load_manifest("smic_hs")["class_maps"]["5class"]["expected_counts"].values()) == 164


def test_load_manifest_rejects_unknown_name():
    with pytest.raises(ValueError, match="unknown dataset 'casme3'"):
        load_manifest("casme3")


# ---------------------------------------------------------------------------------------------
# CASME II
# ---------------------------------------------------------------------------------------------
def test_casme2_clips_table(tmp_path):
    root = write_casme2(tmp_path / "casme2")
    ds = load_dataset("casme2", root)
    assert isinstance(ds, MERDataset) and ds.name == "casme2" and ds.fps == 200
    assert list(ds.clips.columns) == CLIP_COLUMNS
    assert len(ds) == 5                                  # the 'fear' row is excluded in 5 classes
    assert ds.class_names == ["happiness", "disgust", "surprise", "repression", "others"]
    assert ds.num_classes == 5
    assert ds.clips["label"].tolist() == [0, 1, 2, 3, 4]
    assert ds.clips["label_name"].tolist() == ds.class_names
    assert ds.subjects == ["casme2_sub01", "casme2_sub02", "casme2_sub03"]
    row = ds.clips.iloc[0]
    assert (row.onset, row.apex, row.offset, row.n_frames) == (10, 14, 19, 10)
    assert row.apex_source == "annotation" and row.fixes == ""
    assert row.path.endswith("Cropped/sub01/EP02_01f")


def test_casme2_megc3_mapping(tmp_path):
    root = write_casme2(tmp_path / "casme2")
    ds = load_dataset("casme2", root, classes="megc3")
    assert ds.class_names == ["negative", "positive", "surprise"]
    got = dict(zip(ds.clips["clip"], ds.clips["label_name"]))
    # others is excluded; fear counts as negative in the MEGC2019 mapping
    assert got == {"EP02_01f": "positive", "EP03_02": "negative", "EP01_11f": "surprise",
                   "EP07_01": "negative", "EP19_04": "negative"}
    assert ds.class_counts() == {"negative": 3, "positive": 1, "surprise": 1}


def test_frames_are_lazy_float_tensors_relative_to_onset(tmp_path):
    root = write_casme2(tmp_path / "casme2", extra_frames=3)   # frames past the offset exist on disk
    ds = load_dataset("casme2", root)
    x = ds.frames(0)
    assert x.shape == (10, 3, 24, 20) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    sub = ds.frames(0, indices=[0, 4, 9])
    torch.testing.assert_close(sub, x[[0, 4, 9]])
    # index 4 relative to onset 10 is img14.jpg; compare with cv2 directly
    import cv2

    ref = cv2.cvtColor(cv2.imread(str(ds.frame_paths(0)[4])), cv2.COLOR_BGR2RGB)
    assert ds.frame_paths(0)[4].name == "img14.jpg"
    torch.testing.assert_close(sub[1], torch.from_numpy(ref).permute(2, 0, 1).float() / 255)
    small = ds.frames(0, indices=[0], size=(12, 10))
    assert small.shape == (1, 3, 12, 10)
    grey = load_dataset("casme2", root, channels=1).frames(0, indices=[0])
    assert grey.shape == (1, 1, 24, 20)
    frames, label = load_dataset("casme2", root, size=8)[1]
    assert frames.shape == (8, 3, 8, 8) and label == 1


def test_frames_argument_errors(tmp_path):
    ds = load_dataset("casme2", write_casme2(tmp_path / "c"))
    with pytest.raises(ValueError, match="indices must lie in 0..9"):
        ds.frames(0, indices=[10])
    with pytest.raises(ValueError, match="indices must lie"):
        ds.frames(0, indices=[-1])
    with pytest.raises(ValueError, match="size must be"):
        ds.frames(0, size=(0, 4))
    with pytest.raises(ValueError, match="clip index 99 out of range"):
        ds.frames(99)
    with pytest.raises(ValueError, match="classes must be one of"):
        load_dataset("casme2", tmp_path / "c", classes="7class")
    with pytest.raises(ValueError, match="missing_apex"):
        load_dataset("casme2", tmp_path / "c", missing_apex="guess")
    with pytest.raises(ValueError, match="generator options apply to name='synthetic' only"):
        load_dataset("casme2", tmp_path / "c", noise=False)


def test_subset_keeps_frame_access(tmp_path):
    ds = load_dataset("casme2", write_casme2(tmp_path / "c"))
    sub = ds.subset(ds.clips["subject"] == "casme2_sub02")
    assert len(sub) == 2 and sub.subjects == ["casme2_sub02"]
    torch.testing.assert_close(sub.frames(1), ds.frames(3))
    assert "2 clips" in repr(sub)


def test_apex_missing_is_estimated_from_frames(tmp_path):
    # the sheet says '/' (as ~21 CASME II rows do); the frames peak at img16
    root = write_casme2(tmp_path / "c", apex_cells={"EP02_01f": "/"}, true_apex={"EP02_01f": 16})
    ds = load_dataset("casme2", root)
    row = ds.clips.iloc[0]
    assert row.apex_source == "estimated" and abs(row.apex - 16) <= 1
    assert row.fixes.startswith("apex_missing")
    mid = load_dataset("casme2", root, missing_apex="middle").clips.iloc[0]
    assert mid.apex == (10 + 19) // 2 and mid.apex_source == "middle"


def test_apex_outside_clip_is_fixed_and_recorded(tmp_path):
    root = write_casme2(tmp_path / "c", apex_cells={"EP03_02": 40}, true_apex={"EP03_02": 9})
    row = load_dataset("casme2", root).clips.set_index("clip").loc["EP03_02"]
    assert abs(row.apex - 9) <= 1 and row.fixes.startswith("apex_outside_clip(40->")


def test_offset_typo_is_fixed_from_the_folder(tmp_path):
    clips = list(CASME2_CLIPS)
    clips[0] = (1, "EP02_01f", 10, 14, 19, "happiness")
    root = write_casme2(tmp_path / "c", clips=clips)
    # rewrite the sheet with offset 9 < onset 10 (frames 10..19 stay on disk)
    from test_data_layouts import CASME2_HEADER, write_xlsx

    rows = [[s, c, None, on, ap, (9 if c == "EP02_01f" else off), None, "12", e] for s, c, on, ap, off, e in clips]
    write_xlsx(root / "CASME2-coding-20140508.xlsx", rows, CASME2_HEADER)
    row = load_dataset("casme2", root).clips.iloc[0]
    assert (row.onset, row.offset, row.n_frames) == (10, 19, 10)
    assert row.fixes == "offset_before_onset(9->19)"


def test_onset_equal_apex_is_kept_and_flagged(tmp_path):
    root = write_casme2(tmp_path / "c", apex_cells={"EP07_01": 1})
    row = load_dataset("casme2", root).clips.set_index("clip").loc["EP07_01"]
    assert row.apex == row.onset == 1 and row.fixes == "onset_equals_apex(kept)"


def test_other_frame_folders_and_sheet_names(tmp_path):
    root = write_casme2(tmp_path / "c", frames_dir="Cropped", sheet="CASME2-coding-updated.xlsx")
    assert len(load_dataset("casme2", root)) == 5


# ---------------------------------------------------------------------------------------------
# SAMM
# ---------------------------------------------------------------------------------------------
def test_samm_header_after_notes_and_variable_padding(tmp_path):
    ds = load_dataset("samm", write_samm(tmp_path / "samm"))
    assert ds.class_names == ["anger", "contempt", "happiness", "surprise", "other"]
    assert len(ds) == 5                                     # fear excluded
    assert ds.subjects == ["samm_006", "samm_007", "samm_011"]
    assert dict(zip(ds.clips["clip"], ds.clips["label_name"])) == {
        "006_1_2": "anger", "006_1_5": "happiness", "007_3_1": "other", "007_6_2": "surprise",
        "011_2_1": "contempt"}
    x = ds.frames(1)                                        # 006_1_5 uses 4-digit padding
    assert x.shape == (9, 1, 24, 20)
    assert [p.name for p in ds.frame_paths(0)][:2] == ["006_05562.jpg", "006_05563.jpg"]
    assert load_dataset("samm", tmp_path / "samm", classes="megc3").class_counts() == {
        "negative": 3, "positive": 1, "surprise": 1}       # anger, contempt, fear -> negative


# ---------------------------------------------------------------------------------------------
# SMIC-HS
# ---------------------------------------------------------------------------------------------
def test_smic_hs_from_folders_with_estimated_apex(tmp_path):
    ds = load_dataset("smic_hs", write_smic(tmp_path / "smic"))
    assert ds.fps == 100 and ds.class_names == ["negative", "positive", "surprise"]
    assert ds.subjects == ["smic_hs_s01", "smic_hs_s02", "smic_hs_s03"]
    for (subject, emotion, clip, first, n, apex_pos), (_, row) in zip(SMIC_CLIPS, ds.clips.iterrows()):
        assert row["clip"] == clip and row.label_name == emotion
        assert (row.onset, row.offset, row.n_frames) == (first, first + n - 1, n)
        assert row.apex_source == "estimated" and abs((row.apex - first) - apex_pos) <= 1
    assert ds.frames(2).shape == (11, 3, 24, 20)


# ---------------------------------------------------------------------------------------------
# MEGC2019 composite
# ---------------------------------------------------------------------------------------------
def _composite(tmp_path):
    write_casme2(tmp_path / "comp" / "CASME2")
    write_samm(tmp_path / "comp" / "SAMM")
    write_smic(tmp_path / "comp" / "SMIC")
    rows = [("casme2", "sub01", "EP02_01f", 1), ("casme2", "sub01", "EP03_02", 0), ("casme2", "sub03", "EP19_04", 0),
            ("samm", "6", "006_1_2", 0), ("samm", "007", "007_6_2", 2),
            ("smic", "s01", "s01_ne_01", 0), ("smic", "s02", "s02_sur_01", 2)]
    write_megc_csv(tmp_path / "comp" / "combined_3class_gt.csv", rows)
    return tmp_path / "comp"


def test_megc2019_composite_uses_the_csv(tmp_path):
    ds = load_dataset("megc2019_composite", _composite(tmp_path))
    assert ds.class_names == ["negative", "positive", "surprise"]
    assert len(ds) == 7
    assert ds.clips["dataset"].tolist() == ["casme2"] * 3 + ["samm"] * 2 + ["smic_hs"] * 2
    assert ds.clips["label"].tolist() == [1, 0, 0, 0, 2, 0, 2]
    assert ds.clips["clip"].tolist()[-2:] == ["s1_ne_01", "s2_sur_01"]     # s01 in the CSV, s1 on disk
    assert ds.subjects == ["casme2_sub01", "casme2_sub03", "samm_006", "samm_007", "smic_hs_s01", "smic_hs_s02"]
    assert ds.fps == {"casme2": 200, "samm": 200, "smic_hs": 100}
    assert ds.clips["fps"].tolist() == [200] * 5 + [100] * 2
    x = ds.frames(3)                                   # SAMM greyscale, converted to 3 channels
    assert x.shape[1] == 3


def test_megc2019_composite_roots_argument(tmp_path):
    comp = _composite(tmp_path)
    ds = load_dataset("megc2019_composite", None, csv=comp / "combined_3class_gt.csv",
                      roots={"casme2": comp / "CASME2", "samm": comp / "SAMM", "smic_hs": comp / "SMIC"})
    assert len(ds) == 7


def test_synthetic_render_size_reaches_the_generator(tmp_path):
    """`render_size` is the generator's `size` (load_dataset's own `size` resizes on reading)."""
    from merlib.data import load_dataset

    ds = load_dataset("synthetic", root=tmp_path / "syn", preset="tiny", render_size=(48, 48), progress=False)
    assert tuple(ds.frames(0, indices=[0]).shape[-2:]) == (48, 48)
    assert tuple(ds.frames(0, indices=[0], size=(32, 32)).shape[-2:]) == (32, 32)
