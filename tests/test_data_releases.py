"""Fake copies laid out like the real releases, and ``python -m merlib data verify`` on them.

The writers here build copies with the releases' folder and file names, frame numbering, sheet
columns and sheet names, and the counts the manifests document (CASME II: 255 rows, 26 subjects,
32/63/25/27/99 + 2 fear + 7 sadness; SAMM: 159 rows of 29 coded subjects, 57/12/26/15/26 + 9 disgust
+ 8 fear + 6 sadness; SMIC-HS: 164 clip folders of 16 subjects, 70/51/43; the MEGC2019 CSV: 442 rows,
145/133/164 clips of 24/28/16 subjects, 250/109/83), with the releases' known defects as public
loaders report them (see the quirk entries in data_manifest/*.yaml):

* CASME II ``Cropped/sub16/EP01_08``: the sheet codes 73..110, the crops hold img73..img96;
* SMIC ``SMIC_all_cropped/HS``: ``s18_sur_03`` is empty, ``s3_po_08`` lacks 2 frames and
  ``s3_sur_01``, ``s3_sur_05``, ``s3_ne_16`` one each;
* missing apexes ('/' in CASME II, -1 in SAMM), SAMM 028_4_1 / 032_3_1 apex outside the clip, one
  offset typed below the onset in each sheet, ``__MACOSX`` debris.

Frames are tiny generated images (crops 10x8, raw 16x12 so a test can tell which were loaded);
no licensed material is involved. Which subject numbers SAMM lacks, the clip names beyond the
ones the quirks name, and frame numbers are invented (the counts are the documented ones).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from openpyxl import Workbook

from test_data_layouts import CASME2_HEADER, SAMM_HEADER, write_frames

CROP, RAW = (10, 8), (16, 12)

# ------------------------------------------------------------------------------ CASME II --------
CASME2_EMOTIONS = (["happiness"] * 32 + ["disgust"] * 63 + ["surprise"] * 25 + ["repression"] * 27
                   + ["fear"] * 2 + ["sadness"] * 7)      # + 99 others


def casme2_rows():
    """255 rows: (subject, clip, onset, apex, offset, emotion). The emotion clips go to subjects 1..24
    round-robin (the MEGC2019 part has 24 subjects); 'others' to all 26."""
    rows, per = [], {}

    def add(subject, emotion, onset=None, apex=None, offset=None, clip=None):
        k = per.get(subject, 0) + 1
        per[subject] = k
        clip = clip or f"EP{(k % 19) + 1:02d}_{k:02d}{'f' if k % 3 == 0 else ''}"
        onset = 20 + 5 * k if onset is None else onset
        rows.append((subject, clip, onset, onset + 1 if apex is None else apex,
                     onset + 3 if offset is None else offset, emotion))

    emo = list(CASME2_EMOTIONS)
    emo.remove("repression")   # sub16/EP01_08 below is one of the 27 repression clips
    for i, e in enumerate(emo):
        add(1 + i % 24, e)
    add(16, "repression", onset=73, apex=85, offset=110, clip="EP01_08")
    for i in range(99):
        add(1 + i % 26, "others")
    # the documented sheet defects: three '/' apexes, one offset typed below its onset
    rows[0] = rows[0][:3] + ("/",) + rows[0][4:]
    rows[40] = rows[40][:3] + ("/",) + rows[40][4:]
    rows[100] = rows[100][:3] + ("/",) + rows[100][4:]
    s, c, on, ap, off, e = rows[60]
    rows[60] = (s, c, on, ap, on - 1, e)                    # offset typo; the folder holds on..on+3
    return rows


def write_xlsx_sheet(path: Path, rows, header, *, notes=0, title="Sheet1", extra_sheets=()):
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for i in range(notes):
        ws.append([f"note line {i + 1}: free text above the header"])
    ws.append(header)
    for r in rows:
        ws.append(list(r))
    for name in extra_sheets:
        wb.create_sheet(name).append(["Subject", "Filename", "Emotion"])
    wb.save(path)


def write_casme2_release(root: Path, *, rows=None, sheet="CASME2-coding-20140508.xlsx", kinds=("cropped", "raw"),
                         debris=True):
    """CASME II as released: ``Cropped/`` (crops) and ``CASME2_RAW_selected/`` (640x480 frames; tiny here)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = casme2_rows() if rows is None else rows
    for subject, clip, onset, apex, offset, emotion in rows:
        last = max(onset, offset) if isinstance(offset, int) else onset + 3
        last = onset + 3 if offset < onset else last
        peak = apex if isinstance(apex, int) else None
        for kind in kinds:
            folder = root / ("Cropped" if kind == "cropped" else "CASME2_RAW_selected") / f"sub{subject:02d}" / clip
            end = 96 if (kind == "cropped" and (subject, clip) == (16, "EP01_08")) else last
            write_frames(folder, range(onset, end + 1), lambda n: f"img{n}", true_apex=peak,
                         size=CROP if kind == "cropped" else RAW)
    sheet_rows = [[s, c, None, on, ap, off, None, "4+7", e] for s, c, on, ap, off, e in rows]
    write_xlsx_sheet(root / sheet, sheet_rows, CASME2_HEADER)
    if debris:   # a copy unpacked on a Mac
        mac = root / "Cropped" / "__MACOSX" / "sub01" / rows[0][1]
        mac.mkdir(parents=True)
        (mac / "._img21.jpg").write_bytes(b"\x00\x05\x16\x07AppleDouble")
        (root / "__MACOSX").mkdir(exist_ok=True)
        (root / "Cropped" / "sub01" / ".DS_Store").write_bytes(b"\x00")
    return root


# ------------------------------------------------------------------------------ SAMM ------------
SAMM_SUBJECTS = [s for s in range(6, 38) if s not in (27, 29, 33)]        # 29 of the 32 participants
SAMM_EMOTIONS = (["Anger"] * 57 + ["Contempt"] * 12 + ["Happiness"] * 26 + ["Surprise"] * 15 + ["Disgust"] * 9
                 + ["Fear"] * 8 + ["Sadness"] * 6)   # + 26 Other


def samm_rows():
    """159 rows: (subject, clip, onset, apex, offset, emotion, padding). The 133 non-'other' clips
    belong to 28 subjects (the MEGC2019 part); subject 037 has 'Other' clips only."""
    rows, per = [], {}
    emotion_subjects = [s for s in SAMM_SUBJECTS if s != 37]

    def add(subject, emotion, clip=None):
        k = per.get(subject, 0) + 1
        per[subject] = k
        clip = clip or f"{subject:03d}_{1 + k % 7}_{k}"
        onset = 1000 + 10 * k
        rows.append([subject, clip, onset, onset + 1, onset + 3, emotion, 5 if k % 2 else 4])

    for i, e in enumerate(SAMM_EMOTIONS):
        add(emotion_subjects[i % 28], e)
    for i in range(26):
        add(SAMM_SUBJECTS[i % 29] if i % 3 else 37, "Other")
    for subject, name in ((28, "028_4_1"), (32, "032_3_1")):   # the two clips public loaders name
        next(r for r in rows if r[0] == subject)[1] = name
    # the documented sheet defects: -1 apexes, two apexes outside the clip, an offset typo
    for i in (5, 77, 150):
        rows[i][3] = -1
    for r in rows:
        if r[1] in ("028_4_1", "032_3_1"):
            r[3] = r[4] + 7
    rows[56][4] = rows[56][2] - 2
    return [tuple(r) for r in rows]


def write_samm_release(root: Path, *, rows=None, kinds=("cropped", "raw"), sheet="SAMM_Micro_FACS_Codes_v2.xlsx"):
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = samm_rows() if rows is None else rows
    for subject, clip, onset, apex, offset, emotion, pad in rows:
        last = onset + 3
        for kind in kinds:
            folder = root / ("SAMM_CROP" if kind == "cropped" else "SAMM") / f"{subject:03d}" / clip
            write_frames(folder, range(onset, last + 1), lambda n, s=subject, p=pad: f"{s:03d}_{n:0{p}d}",
                         true_apex=apex if onset <= apex <= last else None, color=False,
                         size=CROP if kind == "cropped" else RAW)
    sheet_rows = [[s, c, 1, on, ap, off, off - on + 1, "Micro - 1/2", "R12", "", e]
                  for s, c, on, ap, off, e, _ in rows]
    write_xlsx_sheet(root / sheet, sheet_rows, SAMM_HEADER, notes=13, title="FACS_Movement_Only")
    return root


# ------------------------------------------------------------------------------ SMIC-HS ---------
SMIC_SUBJECTS = [1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 18, 19, 20]
SMIC_SHORT = {"s3_po_08": 2, "s3_sur_01": 1, "s3_sur_05": 1, "s3_ne_16": 1}   # frames the crops lack
SMIC_EMPTY = "s18_sur_03"


def smic_clips():
    """164 clips: (subject, emotion, clip, first frame, n frames): 70 ne, 51 po, 43 sur over 16 subjects,
    round-robin; a few clips renamed so that the ones the quirks name exist."""
    need = {"negative": 70, "positive": 51, "surprise": 43}
    code = {"negative": "ne", "positive": "po", "surprise": "sur"}
    numbered: dict = {}
    for emotion, n in need.items():
        for i in range(n):
            subject = SMIC_SUBJECTS[i % 16]
            numbered.setdefault((subject, emotion), []).append(len(numbered.get((subject, emotion), [])) + 1)
    # s3: 5 ne, 4 po, 3 sur; s18: 2 sur -> s3_ne_16, s3_po_08, s3_sur_01 + s3_sur_05, s18_sur_03
    numbered[(3, "negative")][-1] = 16
    numbered[(3, "positive")][-1] = 8
    numbered[(3, "surprise")][1] = 5
    numbered[(18, "surprise")][-1] = 3
    clips, frame = [], 4000
    for (subject, emotion), ks in sorted(numbered.items()):
        for k in ks:
            clips.append((subject, emotion, f"s{subject}_{code[emotion]}_{k:02d}", frame, 6))
            frame += 100
    names = {c[2] for c in clips}
    assert SMIC_EMPTY in names and set(SMIC_SHORT) <= names and len(names) == len(clips) == 164
    return clips


def write_smic_release(root: Path, *, clips=None, kinds=("cropped", "raw")):
    root = Path(root)
    clips = smic_clips() if clips is None else clips
    for subject, emotion, clip, first, n in clips:
        for kind in kinds:
            top = root / ("SMIC_all_cropped/HS" if kind == "cropped" else "HS")
            folder = top / f"s{subject}" / "micro" / emotion / clip
            numbers = list(range(first, first + n))
            if kind == "cropped":
                if clip == SMIC_EMPTY:
                    folder.mkdir(parents=True)
                    continue
                for _ in range(SMIC_SHORT.get(clip, 0)):
                    numbers.pop(2)                        # frames lacking in the middle of the clip
            prefix = "reg_image" if kind == "cropped" else "image"
            write_frames(folder, numbers, lambda k: f"{prefix}{k:06d}", ext=".bmp",
                         size=CROP if kind == "cropped" else RAW)
    return root


# ------------------------------------------------------------------------------ MEGC2019 --------
def megc_rows():
    """442 rows (dataset, subject, clip, label) as the official CSV writes them."""
    rows = []
    cas = casme2_rows()
    # the composite's 88 CASME II negatives: a hand-picked subset of disgust + repression (+ fear, sadness)
    ep01_08 = next(r for r in cas if r[1] == "EP01_08")
    neg = [ep01_08] + [r for r in cas if r[5] in ("disgust", "repression") and r is not ep01_08][:87]
    for r in cas:
        if r[5] == "happiness":
            rows.append(("casme2", f"sub{r[0]:02d}", r[1], 1))
        elif r[5] == "surprise":
            rows.append(("casme2", f"sub{r[0]:02d}", r[1], 2))
        elif r in neg:
            rows.append(("casme2", f"sub{r[0]:02d}", r[1], 0))
    lab = {"Happiness": 1, "Surprise": 2}
    for r in samm_rows():
        if r[5] != "Other":
            rows.append(("samm", f"{r[0]:03d}", r[1], lab.get(r[5], 0)))
    code = {"negative": 0, "positive": 1, "surprise": 2}
    for subject, emotion, clip, *_ in smic_clips():
        pre, c, k = clip.split("_")
        rows.append(("smic", f"s{subject:02d}", f"s{subject:02d}_{c}_{k}", code[emotion]))
    return rows


def write_megc_release(root: Path, *, kinds=("cropped",), csv_name="combined_3class_gt.csv", blank_lines=False):
    root = Path(root)
    write_casme2_release(root / "CASME2", kinds=kinds)
    write_samm_release(root / "SAMM", kinds=kinds)
    write_smic_release(root / "SMIC", kinds=kinds)
    lines = []
    for r in megc_rows():
        lines.append(",".join(map(str, r)))
        if blank_lines:
            lines.append(",,,")
    (root / csv_name).write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """One composite root whose CASME2/, SAMM/, SMIC/ are full fake releases (crops and raw frames)."""
    root = tmp_path_factory.mktemp("releases") / "MEGC2019"
    write_megc_release(root, kinds=("cropped", "raw"))
    return root


# ---------------------------------------------------------------------------------------------
# the writers match the documented counts
# ---------------------------------------------------------------------------------------------
def test_fake_releases_have_the_documented_counts():
    from collections import Counter

    cas = casme2_rows()
    assert len(cas) == 255 and len({r[0] for r in cas}) == 26
    assert Counter(r[5] for r in cas) == {"happiness": 32, "disgust": 63, "surprise": 25, "repression": 27,
                                          "others": 99, "fear": 2, "sadness": 7}
    sam = samm_rows()
    assert len(sam) == 159 and len({r[0] for r in sam}) == 29
    assert len({(r[0], r[1]) for r in sam}) == 159
    assert Counter(r[5] for r in sam)["Anger"] == 57
    sm = smic_clips()
    assert len(sm) == 164 and len({c[0] for c in sm}) == 16 and len({c[2] for c in sm}) == 164
    meg = megc_rows()
    assert len(meg) == 442
    assert Counter(r[0] for r in meg) == {"casme2": 145, "samm": 133, "smic": 164}
    assert Counter(r[3] for r in meg) == {0: 250, 1: 109, 2: 83}
    assert len({r[1] for r in meg if r[0] == "casme2"}) == 24 and len({r[1] for r in meg if r[0] == "samm"}) == 28


# ---------------------------------------------------------------------------------------------
# Done when: `python -m merlib data verify NAME --root PATH` exits 0 on copies matching the
# public facts, for all four datasets, and lists each known quirk it repaired
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,sub,quirks", [
    ("casme2", "CASME2", ["cropped_clip_short: 1 clip(s)", "apex_missing: 3 clip(s)",
                          "offset_before_onset: 1 clip(s)"]),
    ("samm", "SAMM", ["apex_missing: 3 clip(s)", "apex_outside_clip: 2 clip(s)", "offset_before_onset: 1 clip(s)"]),
    ("smic_hs", "SMIC", ["empty_clip_folder (dropped): 1 clip(s)", "frames_missing: 4 clip(s)"]),
    ("megc2019_composite", None, ["cropped_clip_short: 1 clip(s)", "empty_clip_folder (dropped): 1 clip(s)",
                                  "frames_missing: 4 clip(s)", "apex_outside_clip: 2 clip(s)"]),
])
def test_cli_verify_exits_0_on_release_like_copies(releases, name, sub, quirks):
    import subprocess
    import sys

    root = releases / sub if sub else releases
    proc = subprocess.run([sys.executable, "-m", "merlib", "data", "verify", name, "--root", str(root)],
                          capture_output=True, text=True, timeout=300, env={**__import__("os").environ,
                                                                              "OMP_NUM_THREADS": "1"})
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "OK: no problem found" in out
    assert "known quirks repaired" in out
    for q in quirks:
        assert f"  - {q}" in out, (q, out)
    assert "frames                 cropped" in out or name == "megc2019_composite"
    if name == "casme2":
        assert "casme2_sub16/EP01_08: quirk fixed: cropped_clip_short(offset 110->96)" in out
        assert "annotation rows        255 (manifest: 255)" in out and "subjects               26 (manifest: 26)" in out
    if name == "samm":
        assert "subjects               29 (manifest: 29)" in out and "32 participants" in out
    if name == "smic_hs":
        assert "clip folders           164 (manifest: 164)" in out
        assert "clips loaded           163 (manifest: 164, less 1 dropped by known quirks)" in out
        assert "smic_hs_s18/s18_sur_03: dropped (empty_clip_folder)" in out
    if name == "megc2019_composite":
        assert "clips                  441 (manifest: 442, less 1 dropped by known quirks)" in out
        assert "class surprise         82 (manifest: 83, less 1 dropped by known quirks)" in out
        assert "listed on row" in out


def test_verify_with_raw_frames_repairs_only_sheet_quirks(releases):
    from merlib.data import verify_dataset

    rep = verify_dataset("casme2", releases / "CASME2", frames="raw", progress=False)
    assert rep.ok, rep.format()
    assert "cropped_clip_short" not in rep.repaired            # the raw frames reach 110
    assert rep.counts["frames"].startswith("raw")
    rep = verify_dataset("smic_hs", releases / "SMIC", frames="raw", read_frames=False, progress=False)
    assert rep.ok, rep.format()
    assert rep.counts["clips loaded"] == "164 (manifest: 164)" and not rep.repaired


def test_verify_strict_reports_every_known_quirk(releases):
    from merlib.data import verify_dataset

    rep = verify_dataset("smic_hs", releases / "SMIC", quirks="strict", read_frames=False, progress=False)
    text = "\n".join(rep.problems)
    assert not rep.ok
    assert "s18_sur_03] clip folder holds no image file" in text
    assert sum("frame(s) of onset..offset" in p for p in rep.problems) == 4


def test_megc_csv_with_blank_rows_verifies(tmp_path, releases):
    from merlib.data import verify_dataset

    comp = tmp_path / "comp"
    comp.mkdir()
    for sub in ("CASME2", "SAMM", "SMIC"):
        (comp / sub).symlink_to(releases / sub)
    lines = []
    for r in megc_rows():
        lines += [",".join(map(str, r)), ",,,"]
    (comp / "combined_3class_gt-2.csv").write_text("\n".join(lines) + "\n")
    rep = verify_dataset("megc2019_composite", comp, read_frames=False, progress=False)
    assert rep.ok, rep.format()
    assert "combined_3class_gt-2.csv: skipped 442 blank line(s)" in "\n".join(rep.notes)
    shutil.rmtree(comp)
