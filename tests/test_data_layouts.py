"""Tiny copies of the CASME II, SAMM and SMIC-HS layouts, written by the tests into tmp_path.

The writers here are imported by the other ``test_data_*`` files. Frames are small synthetic
images (a bright blob whose size follows an onset -> apex -> offset profile) so that apex
estimation has a known answer; no licensed material is involved.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from openpyxl import Workbook

CASME2_HEADER = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                 "Estimated Emotion"]
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
               "Type", "Action Units", "Notes", "Estimated Emotion"]


def frame_image(t: float, size=(24, 20), color=True, seed=0) -> np.ndarray:
    """A uint8 image (H, W[, 3]) whose blob grows with ``t`` in [0, 1] (0 = neutral)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = 60 + 40 * (xx / w) + 20 * (yy / h)
    blob = 150 * t * np.exp(-(((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (2 * (2 + 3 * t) ** 2)))
    img = np.clip(base + blob, 0, 255).astype(np.uint8)
    if color:
        img = np.stack([img, np.clip(img.astype(int) - 20, 0, 255).astype(np.uint8), img // 2], axis=2)
    return img


def profile(n: int, apex_pos: int) -> np.ndarray:
    """Intensity 0 at both ends, 1 at ``apex_pos`` (piecewise linear)."""
    t = np.zeros(n)
    for i in range(n):
        if i <= apex_pos:
            t[i] = i / apex_pos if apex_pos > 0 else 1.0
        else:
            t[i] = (n - 1 - i) / (n - 1 - apex_pos) if n - 1 > apex_pos else 1.0
    return t


def write_frames(folder: Path, numbers, name, *, true_apex=None, size=(24, 20), color=True, ext=".jpg"):
    """Write one image per frame number; the blob peaks at ``true_apex`` (a frame number)."""
    folder.mkdir(parents=True, exist_ok=True)
    numbers = list(numbers)
    apex_pos = numbers.index(true_apex) if true_apex in numbers else len(numbers) // 2
    for k, (n, t) in enumerate(zip(numbers, profile(len(numbers), apex_pos))):
        img = frame_image(t, size=size, color=color)
        if color:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        params = [cv2.IMWRITE_JPEG_QUALITY, 98] if ext == ".jpg" else []
        assert cv2.imwrite(str(folder / (name(n) + ext)), img, params)


def write_xlsx(path: Path, rows, header, notes=0):
    wb = Workbook()
    ws = wb.active
    for i in range(notes):
        ws.append([f"note line {i + 1}: free text above the header"])
    ws.append(header)
    for r in rows:
        ws.append(r)
    wb.save(path)


#: default CASME II clips: (subject, clip, onset, apex, offset, emotion)
CASME2_CLIPS = [
    (1, "EP02_01f", 10, 14, 19, "happiness"),
    (1, "EP03_02", 5, 8, 12, "disgust"),
    (2, "EP01_11f", 20, 23, 27, "surprise"),
    (2, "EP07_01", 1, 4, 8, "repression"),
    (3, "EP18_01", 3, 6, 10, "others"),
    (3, "EP19_04", 2, 5, 9, "fear"),
]


def write_casme2(root: Path, clips=CASME2_CLIPS, *, frames_dir="Cropped", sheet="CASME2-coding-20140508.xlsx",
                 extra_frames=0, apex_cells=None, true_apex=None, color=True):
    """A tiny CASME II copy. ``apex_cells`` overrides what the sheet says for the apex (by clip),
    ``true_apex`` where the frames actually peak (by clip; default: the annotated apex)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    apex_cells = apex_cells or {}
    true_apex = true_apex or {}
    rows = []
    for subject, clip, onset, apex, offset, emotion in clips:
        folder = root / frames_dir / f"sub{subject:02d}" / clip
        peak = true_apex.get(clip, apex if isinstance(apex, int) and onset <= apex <= offset else None)
        write_frames(folder, range(onset, max(onset, offset) + 1 + extra_frames), lambda n: f"img{n}",
                     true_apex=peak, color=color)
        rows.append([subject, clip, None, onset, apex_cells.get(clip, apex), offset, None, "12", emotion])
    write_xlsx(root / sheet, rows, CASME2_HEADER)
    return root


#: default SAMM clips: (subject, clip, onset, apex, offset, emotion, padding)
SAMM_CLIPS = [
    (6, "006_1_2", 5562, 5565, 5570, "Anger", 5),
    (6, "006_1_5", 120, 124, 128, "Happiness", 4),
    (7, "007_3_1", 31, 33, 37, "Others", 5),
    (7, "007_6_2", 200, 203, 206, "Surprise", 4),
    (11, "011_2_1", 40, 44, 47, "Contempt", 5),
    (11, "011_3_3", 10, 12, 15, "Fear", 5),
]


def write_samm(root: Path, clips=SAMM_CLIPS, *, sheet="SAMM_Micro_FACS_Codes_v2.xlsx", notes=13, header=SAMM_HEADER,
               frames_dir="SAMM_CROP"):
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for subject, clip, onset, apex, offset, emotion, pad in clips:
        folder = root / frames_dir / f"{subject:03d}" / clip
        write_frames(folder, range(onset, offset + 1), lambda n, s=subject, p=pad: f"{s:03d}_{n:0{p}d}",
                     true_apex=apex, color=False)
        full = [subject, clip, 1, onset, apex, offset, offset - onset + 1, "Micro - 1/2", "R12", "", emotion]
        rows.append(full[: len(header)])
    write_xlsx(root / sheet, rows, header, notes=notes)
    return root


#: default SMIC-HS clips: (subject, emotion, clip, first frame, n frames, apex offset in the clip)
SMIC_CLIPS = [
    (1, "negative", "s1_ne_01", 46810, 12, 5),
    (1, "positive", "s1_po_02", 1200, 14, 9),
    (2, "surprise", "s2_sur_01", 300, 11, 3),
    (3, "negative", "s3_ne_03", 9000, 15, 7),
]


def write_smic(root: Path, clips=SMIC_CLIPS, *, top="SMIC_all_cropped/HS"):
    """SMIC-HS: the crops are named reg_image046810.bmp, the raw frames image046810.bmp."""
    root = Path(root)
    prefix = "reg_image" if "cropped" in top else "image"
    for subject, emotion, clip, first, n, apex_pos in clips:
        folder = root / top / f"s{subject}" / "micro" / emotion / clip
        write_frames(folder, range(first, first + n), lambda k: f"{prefix}{k:06d}", true_apex=first + apex_pos,
                     ext=".bmp")
    return root


def write_megc_csv(path: Path, rows):
    path.write_text("".join(",".join(str(c) for c in r) + "\n" for r in rows))
    return path


# ---------------------------------------------------------------------------------------------
# the writers write what the real layouts look like
# ---------------------------------------------------------------------------------------------
def test_casme2_sheet_reads_back_with_unnamed_columns(tmp_path):
    import pandas as pd

    root = write_casme2(tmp_path / "c")
    df = pd.read_excel(root / "CASME2-coding-20140508.xlsx")
    assert list(df.columns) == ["Subject", "Filename", "Unnamed: 2", "OnsetFrame", "ApexFrame", "OffsetFrame",
                                "Unnamed: 6", "Action Units", "Estimated Emotion"]
    assert (root / "Cropped" / "sub01" / "EP02_01f" / "img10.jpg").is_file()


def test_samm_sheet_has_header_after_13_note_rows(tmp_path):
    import pandas as pd

    root = write_samm(tmp_path / "s")
    df = pd.read_excel(root / "SAMM_Micro_FACS_Codes_v2.xlsx", header=13)
    assert list(df.columns)[:6] == SAMM_HEADER[:6]
    assert (root / "SAMM_CROP" / "006" / "006_1_2" / "006_05562.jpg").is_file()
    assert (root / "SAMM_CROP" / "006" / "006_1_5" / "006_0120.jpg").is_file()   # another padding width


@pytest.mark.parametrize("n,apex", [(10, 3), (7, 6), (5, 0)])
def test_profile_peaks_at_apex(n, apex):
    p = profile(n, apex)
    assert int(np.argmax(p)) == apex and p[apex] == 1.0
