"""Every malformed dataset case raises DatasetError naming the file or annotation row.

Each test writes a tiny copy of a real layout (CASME II, SAMM, SMIC-HS, MEGC2019 CSV) into
tmp_path, breaks one thing, and checks the error's message and its ``path`` / ``row``.
"""
from __future__ import annotations

import shutil

import pytest

from merlib.data import DatasetError, load_dataset
from test_data_layouts import (CASME2_CLIPS, CASME2_HEADER, SAMM_CLIPS, SAMM_HEADER, write_casme2, write_megc_csv,
                               write_samm, write_smic, write_xlsx)

SHEET = "CASME2-coding-20140508.xlsx"


def _rewrite_sheet(root, edit):
    """Rewrite the CASME II sheet with ``edit(rows)`` applied to the default rows."""
    rows = [[s, c, None, on, ap, off, None, "12", e] for s, c, on, ap, off, e in CASME2_CLIPS]
    header = list(CASME2_HEADER)
    header, rows = edit(header, rows) or (header, rows)
    write_xlsx(root / SHEET, rows, header)


def _set(row_index, col, value):
    def edit(header, rows):
        rows[row_index][col] = value
        return header, rows
    return edit


@pytest.fixture
def casme(tmp_path):
    return write_casme2(tmp_path / "casme2")


# ----------------------------------------------------------------- roots and files -----------
def test_missing_root(tmp_path):
    with pytest.raises(DatasetError, match="dataset root for 'casme2' not found") as e:
        load_dataset("casme2", tmp_path / "nowhere")
    assert e.value.path == tmp_path / "nowhere"


def test_root_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(DatasetError, match="must be a folder"):
        load_dataset("samm", f)


def test_no_root_for_a_licensed_dataset_explains_how_to_request():
    with pytest.raises(DatasetError, match="licensed and not part of merlib.*casme.psych.ac.cn"):
        load_dataset("casme2")


def test_missing_annotation_file(casme):
    (casme / SHEET).unlink()
    with pytest.raises(DatasetError, match="annotation file not found; looked for: .*CASME2-coding-20140508.xlsx"):
        load_dataset("casme2", casme)


def test_missing_frame_folder_root(casme):
    shutil.rmtree(casme / "Cropped")
    with pytest.raises(DatasetError, match="CASME II cropped frame folder not found"):
        load_dataset("casme2", casme)


def test_corrupt_annotation_file(casme):
    (casme / SHEET).write_bytes(b"this is not a zip file")
    with pytest.raises(DatasetError, match="cannot read the annotation file") as e:
        load_dataset("casme2", casme)
    assert e.value.path.name == SHEET


def test_missing_columns(casme):
    _rewrite_sheet(casme, lambda h, r: ([("Apex" if c == "ApexFrame" else c) for c in h], r))
    with pytest.raises(DatasetError, match=r"lacks the columns \['ApexFrame'\]") as e:
        load_dataset("casme2", casme)
    assert e.value.row == "row 1" and e.value.path.name == SHEET


def test_samm_without_header_row(tmp_path):
    root = write_samm(tmp_path / "samm", header=["Subj"] + SAMM_HEADER[1:])
    with pytest.raises(DatasetError, match="no header row with the columns"):
        load_dataset("samm", root)


def test_empty_annotation(casme):
    write_xlsx(casme / SHEET, [], CASME2_HEADER)
    with pytest.raises(DatasetError, match="annotation lists no clip"):
        load_dataset("casme2", casme)


# ----------------------------------------------------------------- annotation rows -----------
def test_non_integer_onset_names_the_row(casme):
    _rewrite_sheet(casme, _set(2, 3, "abc"))
    with pytest.raises(DatasetError, match="OnsetFrame is 'abc'; expected an integer frame number") as e:
        load_dataset("casme2", casme)
    assert e.value.row == "row 4"                       # header on row 1, third data row on row 4


def test_empty_offset_cell(casme):
    _rewrite_sheet(casme, _set(0, 5, None))
    with pytest.raises(DatasetError, match="OffsetFrame is empty") as e:
        load_dataset("casme2", casme)
    assert e.value.row == "row 2"


def test_negative_frame_number(tmp_path):
    clips = list(SAMM_CLIPS)
    root = write_samm(tmp_path / "samm", clips=clips)
    rows = [[s, c, 1, on, ap, off, off - on + 1, "Micro - 1/2", "R12", "", e] for s, c, on, ap, off, e, _ in clips]
    rows[1][3] = -5
    write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", rows, SAMM_HEADER, notes=13)
    with pytest.raises(DatasetError, match="Onset Frame is -5; expected a non-negative integer") as e:
        load_dataset("samm", root)
    assert e.value.row == "row 16"                      # 13 notes, header on row 14, 2nd data row


def test_bad_subject(casme):
    _rewrite_sheet(casme, _set(1, 0, "x1"))
    with pytest.raises(DatasetError, match="subject is 'x1'") as e:
        load_dataset("casme2", casme)
    assert e.value.row == "row 3"


def test_duplicate_clip_rows(casme):
    def edit(h, rows):
        rows.append(list(rows[0]))
        return h, rows
    _rewrite_sheet(casme, edit)
    with pytest.raises(DatasetError, match="clip 'EP02_01f' of subject 1 is listed twice") as e:
        load_dataset("casme2", casme)
    assert e.value.row == "row 8"


def test_unknown_label(casme):
    _rewrite_sheet(casme, _set(3, 8, "angry"))
    with pytest.raises(DatasetError, match="unknown label 'angry'") as e:
        load_dataset("casme2", casme)
    assert e.value.row == "row 5" and e.value.path.name == SHEET


def test_empty_dataset_after_exclusion(tmp_path):
    root = write_casme2(tmp_path / "c", clips=[(1, "EP01_01", 1, 3, 6, "fear"), (2, "EP02_02", 1, 2, 5, "sadness")])
    with pytest.raises(DatasetError, match="the dataset is empty"):
        load_dataset("casme2", root)


def test_apex_outside_clip_strict(casme):
    _rewrite_sheet(casme, _set(0, 4, 40))
    with pytest.raises(DatasetError, match=r"apex 40 outside onset..offset 10..19") as e:
        load_dataset("casme2", casme, fix_quirks=False)
    assert e.value.row == "row 2"


def test_apex_missing_strict(casme):
    _rewrite_sheet(casme, _set(1, 4, "/"))
    with pytest.raises(DatasetError, match="apex is missing") as e:
        load_dataset("casme2", casme, fix_quirks=False)
    assert e.value.row == "row 3"


def test_onset_after_offset_strict(casme):
    _rewrite_sheet(casme, _set(2, 5, 15))           # onset 20 > offset 15
    with pytest.raises(DatasetError, match="onset 20 > offset 15") as e:
        load_dataset("casme2", casme, fix_quirks=False)
    assert e.value.row == "row 4"


def test_onset_after_offset_without_frames_to_fix_it(casme):
    _rewrite_sheet(casme, _set(2, 3, 40))           # onset 40: the folder only reaches 27
    with pytest.raises(DatasetError, match="onset 40 > offset 27"):
        load_dataset("casme2", casme)


# ----------------------------------------------------------------- frames on disk ------------
def test_row_without_folder(casme):
    shutil.rmtree(casme / "Cropped" / "sub02" / "EP07_01")
    with pytest.raises(DatasetError, match=r"clip folder not found: .*EP07_01 \(clip EP07_01, subject 2\)") as e:
        load_dataset("casme2", casme)
    assert e.value.row == "row 5"


def test_missing_frame(casme):
    (casme / "Cropped" / "sub01" / "EP03_02" / "img7.jpg").unlink()
    with pytest.raises(DatasetError, match=r"1 frame\(s\) of onset..offset 5..12 missing .*EP03_02: 7") as e:
        load_dataset("casme2", casme)
    assert e.value.row == "row 3"


def test_empty_clip_folder(casme):
    folder = casme / "Cropped" / "sub01" / "EP03_02"
    for p in folder.iterdir():
        p.unlink()
    with pytest.raises(DatasetError, match="clip folder holds no image file"):
        load_dataset("casme2", casme)


def test_two_files_with_the_same_frame_number(casme):
    folder = casme / "Cropped" / "sub01" / "EP03_02"
    shutil.copy(folder / "img7.jpg", folder / "img07.jpg")
    with pytest.raises(DatasetError, match="two files carry frame number 7"):
        load_dataset("casme2", casme)


def test_image_without_frame_number(casme):
    folder = casme / "Cropped" / "sub01" / "EP03_02"
    shutil.copy(folder / "img7.jpg", folder / "thumb.jpg")
    with pytest.raises(DatasetError, match="'thumb.jpg' has no frame number"):
        load_dataset("casme2", casme)


def test_unreadable_image_names_the_file(casme):
    bad = casme / "Cropped" / "sub01" / "EP02_01f" / "img12.jpg"
    bad.write_bytes(b"\x00garbage")
    ds = load_dataset("casme2", casme)                  # frames are lazy: loading succeeds
    with pytest.raises(DatasetError, match="cannot decode the image file") as e:
        ds.frames(0)
    assert e.value.path == bad
    ds.frames(0, indices=[0, 1])                          # the other frames still load


def test_frames_of_different_sizes(casme):
    import cv2
    import numpy as np

    p = casme / "Cropped" / "sub01" / "EP02_01f" / "img11.jpg"
    cv2.imwrite(str(p), np.zeros((30, 30, 3), np.uint8))
    ds = load_dataset("casme2", casme)
    with pytest.raises(DatasetError, match="differ in shape"):
        ds.frames(0)
    assert ds.frames(0, size=16).shape == (10, 3, 16, 16)


# ----------------------------------------------------------------- SMIC-HS -------------------
def test_smic_unknown_emotion_folder(tmp_path):
    root = write_smic(tmp_path / "smic")
    (root / "SMIC_all_cropped" / "HS" / "s1" / "micro" / "negative").rename(
        root / "SMIC_all_cropped" / "HS" / "s1" / "micro" / "angry")
    with pytest.raises(DatasetError, match="unknown emotion folder 'angry'") as e:
        load_dataset("smic_hs", root)
    assert e.value.path.name == "angry"


def test_smic_without_subject_folders(tmp_path):
    (tmp_path / "smic" / "SMIC_all_cropped" / "HS").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"no subject folder \(s1, s2, ...\) found"):
        load_dataset("smic_hs", tmp_path / "smic")


# ----------------------------------------------------------------- MEGC2019 CSV --------------
def _comp(tmp_path, rows):
    write_casme2(tmp_path / "comp" / "CASME2")
    write_samm(tmp_path / "comp" / "SAMM")
    write_smic(tmp_path / "comp" / "SMIC")
    return write_megc_csv(tmp_path / "comp" / "combined_3class_gt.csv", rows).parent


def test_composite_without_csv_explains_how_to_get_it(tmp_path):
    root = _comp(tmp_path, [("casme2", "sub01", "EP02_01f", 1)])
    (root / "combined_3class_gt.csv").unlink()
    with pytest.raises(DatasetError, match="combined_3class_gt.csv.*not found.*MEGC2019 organisers"):
        load_dataset("megc2019_composite", root)


def test_composite_csv_clip_not_on_disk(tmp_path):
    root = _comp(tmp_path, [("casme2", "sub01", "EP02_01f", 1), ("samm", "006", "006_9_9", 0)])
    with pytest.raises(DatasetError, match="lists samm clip '006_9_9' of subject 6, which is not in") as e:
        load_dataset("megc2019_composite", root)
    assert e.value.row == "row 2"


def test_composite_csv_bad_label(tmp_path):
    root = _comp(tmp_path, [("casme2", "sub01", "EP02_01f", 3)])
    with pytest.raises(DatasetError, match=r"label is '3'; expected 0 \(negative\)") as e:
        load_dataset("megc2019_composite", root)
    assert e.value.row == "row 1"


def test_composite_csv_wrong_columns(tmp_path):
    root = _comp(tmp_path, [("casme2", "sub01", "EP02_01f")])
    with pytest.raises(DatasetError, match="expected 4 columns"):
        load_dataset("megc2019_composite", root)


def test_composite_csv_unknown_dataset(tmp_path):
    root = _comp(tmp_path, [("casme3", "sub01", "EP02_01f", 0)])
    with pytest.raises(DatasetError, match="dataset is 'casme3'"):
        load_dataset("megc2019_composite", root)


def test_composite_missing_source_folder(tmp_path):
    root = _comp(tmp_path, [("casme2", "sub01", "EP02_01f", 1)])
    shutil.rmtree(root / "SAMM")
    with pytest.raises(DatasetError, match="samm folder of the composite not found"):
        load_dataset("megc2019_composite", root)
