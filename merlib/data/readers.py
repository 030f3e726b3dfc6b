"""Readers for the on-disk layouts of CASME II, SAMM, SMIC-HS and the MEGC2019 CSV.

Each reader turns one dataset's annotation (a coding sheet, or folder names for SMIC-HS)
into a *raw* table with one row per clip and these columns:

    subject_number (int), clip (str), onset, apex, offset (int, apex may be missing: -1),
    emotion (str, lower case), action_units (str), folder (Path),
    source (the annotation file, or the clip folder for SMIC-HS), row (``"row 17"`` in spreadsheet
    numbering, or ``None``)

Nothing here maps labels or fixes quirks: :mod:`merlib.data.datasets` does that, with the
manifest as its rule book. The synthetic dataset is written in CASME II's layout and read
by :func:`read_casme2` unchanged.

Frame files are found by *parsing* the frame number out of every image name in a clip folder
(:func:`list_frames`), never by formatting a name: SAMM pads its numbers with varying widths,
CASME II does not pad at all, SMIC-HS numbers are global recording indices.

Layouts follow the datasets' releases; facts (column names, header row of SAMM's sheet,
SMIC's folder structure, the MEGC2019 CSV's columns) were checked against public loaders
such as github.com/tvaranka/meb (Varanka et al., "Data leakage and evaluation issues in
micro-expression analysis", IEEE TAFFC 2023).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from merlib.data.errors import DatasetError

__all__ = [
    "IMAGE_EXTENSIONS", "list_frames", "find_first", "read_sheet", "read_casme2", "read_samm",
    "scan_smic_hs", "read_megc2019_csv", "RAW_COLUMNS",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
RAW_COLUMNS = ["subject_number", "clip", "onset", "apex", "offset", "emotion", "action_units",
               "folder", "source", "row"]
_FRAME_NUMBER = re.compile(r"(\d+)\D*$")
_MISSING_TOKENS = {"", "/", "-", "nan", "none", "n/a", "na", "-1"}


def list_frames(folder: str | Path) -> dict[int, Path]:
    """Map frame number -> image file for one clip folder.

    The number is the last run of digits in the file's stem (``img46.jpg`` -> 46,
    ``006_05562.jpg`` -> 5562, ``reg_image046810.bmp`` -> 46810).

    Raises:
        DatasetError: the folder is missing, holds no image, or two files carry the same number.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError("clip folder not found", path=folder)
    frames: dict[int, Path] = {}
    for p in folder.iterdir():
        if p.suffix.lower() not in IMAGE_EXTENSIONS or p.name.startswith("."):
            continue
        m = _FRAME_NUMBER.search(p.stem)
        if m is None:
            raise DatasetError(f"image file {p.name!r} has no frame number in its name", path=p)
        n = int(m.group(1))
        if n in frames:
            raise DatasetError(
                f"two files carry frame number {n}: {frames[n].name!r} and {p.name!r}", path=folder
            )
        frames[n] = p
    if not frames:
        raise DatasetError(f"clip folder holds no image file ({', '.join(IMAGE_EXTENSIONS)})", path=folder)
    return dict(sorted(frames.items()))


def find_first(root: Path, candidates: list[str], what: str, *, want_dir: bool) -> Path:
    """The first of ``root / c`` that exists (a folder if ``want_dir``, else a file)."""
    for c in candidates:
        p = root / c
        if c == "." and want_dir:
            # the root itself holds the clip folders only if it has sub-folders at all
            if any(q.is_dir() for q in root.iterdir()):
                return root
            continue
        if (want_dir and p.is_dir()) or (not want_dir and p.is_file()):
            return p
    tried = ", ".join(str(root / c) for c in candidates)
    raise DatasetError(f"{what} not found; looked for: {tried}", path=root)


def _excel_row(header_row: int, i: int) -> str:
    """Spreadsheet row of data row ``i`` (0-based) under a header on row ``header_row`` (1-based)."""
    return f"row {header_row + 1 + i}"


def read_sheet(path: Path, header_row: int | None, required: list[str], *, header_search: int = 0
               ) -> tuple[pd.DataFrame, int]:
    """Read an annotation sheet (xlsx/xls or csv) and check its columns.

    Args:
        path: the file.
        header_row: 1-based row of the header (spreadsheet numbering).
        required: column names that must be present.
        header_search: if > 0, search the first ``header_search`` rows for one whose
            cells contain all ``required`` names (SAMM puts notes above its header).

    Returns:
        (table, header_row actually used).
    """
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            raw = pd.read_excel(path, header=None, dtype=object)
        elif suffix == ".csv":
            raw = pd.read_csv(path, header=None, dtype=object, keep_default_na=False)
        else:
            raise DatasetError(f"unsupported annotation format {suffix!r} (expected .xlsx or .csv)", path=path)
    except DatasetError:
        raise
    except ImportError as exc:  # openpyxl missing
        raise DatasetError(f"cannot read the sheet: {exc} (install openpyxl)", path=path) from exc
    except Exception as exc:  # corrupt file: zipfile.BadZipFile, ParserError, ...
        raise DatasetError(f"cannot read the annotation file: {type(exc).__name__}: {exc}", path=path) from exc
    if raw.empty:
        raise DatasetError("annotation file is empty", path=path)
    if header_search:
        for i in range(min(header_search, len(raw))):
            cells = {str(c).strip() for c in raw.iloc[i].tolist()}
            if all(r in cells for r in required):
                header_row = i + 1
                break
        else:
            raise DatasetError(
                f"no header row with the columns {required} in the first {header_search} rows", path=path
            )
    h = (header_row or 1) - 1
    if h >= len(raw):
        raise DatasetError(f"header row {header_row} is past the end of the sheet", path=path)
    names = []
    for j, c in enumerate(raw.iloc[h].tolist()):
        s = "" if c is None or (isinstance(c, float) and math.isnan(c)) else str(c).strip()
        names.append(s if s else f"Unnamed: {j}")
    table = raw.iloc[h + 1:].reset_index(drop=True)
    table.columns = names
    missing = [r for r in required if r not in names]
    if missing:
        raise DatasetError(
            f"annotation sheet lacks the columns {missing}; found {names}", path=path, row=f"row {header_row}"
        )
    # drop completely empty rows (trailing blank lines of spreadsheets)
    keep = ~table.apply(lambda r: all(_is_blank(v) for v in r), axis=1)
    table = table[keep]
    return table, header_row or 1


def _is_blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def parse_frame_number(value, *, field: str, path: Path, row: str, allow_missing: bool = False) -> int:
    """An annotation cell as a frame number; ``-1`` for a missing apex when ``allow_missing``."""
    if _is_blank(value) or str(value).strip().lower() in _MISSING_TOKENS:
        if allow_missing:
            return -1
        raise DatasetError(f"{field} is empty (got {value!r}); expected a frame number", path=path, row=row)
    try:
        f = float(str(value).strip())
    except ValueError:
        if allow_missing:
            return -1
        raise DatasetError(f"{field} is {value!r}; expected an integer frame number", path=path, row=row) from None
    if not f.is_integer() or f < 0:
        raise DatasetError(f"{field} is {value!r}; expected a non-negative integer frame number",
                           path=path, row=row)
    return int(f)


def parse_subject(value, *, path: Path, row: str) -> int:
    """``1``, ``"01"``, ``"sub01"``, ``"006"``, ``"s1"`` -> the subject number."""
    s = "" if _is_blank(value) else str(value).strip()
    m = re.fullmatch(r"(?:sub|s)?0*(\d+)(?:\.0)?", s, flags=re.IGNORECASE)
    if m is None:
        raise DatasetError(f"subject is {value!r}; expected a subject number such as 1, 01 or sub01",
                           path=path, row=row)
    return int(m.group(1))


def _read_coded(root: Path, manifest: dict, frames_root: Path, *, header_search: int = 0) -> pd.DataFrame:
    ann = manifest["annotation"]
    fields = ann["fields"]
    sheet = find_first(root, ann["files"], f"{manifest['title']} annotation file", want_dir=False)
    required = [fields[k] for k in ("subject", "clip", "onset", "apex", "offset", "emotion")]
    table, header_row = read_sheet(sheet, ann.get("header_row"), required, header_search=header_search)
    aliases = ann.get("emotion_aliases", {}) or {}
    clip_pattern = manifest["layout"]["clip_dir"]
    rows = []
    for i, (_, r) in enumerate(table.iterrows()):
        where = _excel_row(header_row, i)
        subject = parse_subject(r[fields["subject"]], path=sheet, row=where)
        clip = "" if _is_blank(r[fields["clip"]]) else str(r[fields["clip"]]).strip()
        if not clip:
            raise DatasetError("clip name (column %r) is empty" % fields["clip"], path=sheet, row=where)
        emotion = "" if _is_blank(r[fields["emotion"]]) else str(r[fields["emotion"]]).strip().lower()
        emotion = aliases.get(emotion, emotion)
        au_col = fields.get("action_units")
        aus = "" if au_col is None or au_col not in table.columns or _is_blank(r[au_col]) else str(r[au_col])
        rows.append({
            "subject_number": subject,
            "clip": clip,
            "onset": parse_frame_number(r[fields["onset"]], field=fields["onset"], path=sheet, row=where),
            "apex": parse_frame_number(r[fields["apex"]], field=fields["apex"], path=sheet, row=where,
                                       allow_missing=True),
            "offset": parse_frame_number(r[fields["offset"]], field=fields["offset"], path=sheet, row=where),
            "emotion": emotion,
            "action_units": aus,
            "folder": frames_root / clip_pattern.format(subject=subject, clip=clip, emotion=emotion),
            "source": str(sheet),
            "row": where,
        })
    out = pd.DataFrame(rows, columns=RAW_COLUMNS)
    dup = out.duplicated(subset=["subject_number", "clip"], keep="first")
    if dup.any():
        first = out[dup].iloc[0]
        raise DatasetError(f"clip {first['clip']!r} of subject {first['subject_number']} is listed twice",
                           path=sheet, row=first["row"])
    return out


def read_casme2(root: Path, manifest: dict) -> pd.DataFrame:
    """CASME II (and the synthetic set): ``CASME2-coding-20140508.xlsx`` + ``sub01/EP02_01f/img46.jpg``."""
    frames_root = find_first(root, manifest["layout"]["frames_dirs"], "CASME II frame folder", want_dir=True)
    return _read_coded(root, manifest, frames_root)


def read_samm(root: Path, manifest: dict) -> pd.DataFrame:
    """SAMM: ``SAMM_Micro_FACS_Codes_v2.xlsx`` (header after 13 note rows) + ``006/006_1_2/006_05562.jpg``."""
    frames_root = find_first(root, manifest["layout"]["frames_dirs"], "SAMM frame folder", want_dir=True)
    return _read_coded(root, manifest, frames_root, header_search=30)


_SMIC_CLIP = re.compile(r"s0*(\d+)_(\w+?)_0*(\d+)$", flags=re.IGNORECASE)


def scan_smic_hs(root: Path, manifest: dict) -> pd.DataFrame:
    """SMIC-HS: no sheet; ``HS/s1/micro/negative/s1_ne_01/image046810.bmp``.

    Onset and offset are the first and last frame numbers in the folder; the apex is missing
    (-1) and filled in by :mod:`merlib.data.datasets`.
    """
    frames_root = find_first(root, manifest["layout"]["frames_dirs"], "SMIC-HS frame folder", want_dir=True)
    allowed = set(manifest["annotation"]["emotions"])
    rows = []
    subject_dirs = sorted(p for p in frames_root.iterdir() if p.is_dir() and re.fullmatch(r"s\d+", p.name, re.I))
    if not subject_dirs:
        raise DatasetError("no subject folder (s1, s2, ...) found", path=frames_root)
    for sdir in subject_dirs:
        subject = int(sdir.name[1:])
        micro = sdir / "micro"
        if not micro.is_dir():
            continue  # subjects without micro-expressions have no micro/ folder
        for edir in sorted(p for p in micro.iterdir() if p.is_dir()):
            emotion = edir.name.lower()
            if emotion not in allowed:
                raise DatasetError(f"unknown emotion folder {edir.name!r}; expected one of {sorted(allowed)}",
                                   path=edir)
            for cdir in sorted(p for p in edir.iterdir() if p.is_dir()):
                frames = list_frames(cdir)
                numbers = list(frames)
                rows.append({
                    "subject_number": subject, "clip": cdir.name, "onset": numbers[0], "apex": -1,
                    "offset": numbers[-1], "emotion": emotion, "action_units": "", "folder": cdir,
                    "source": str(cdir), "row": None,
                })
    return pd.DataFrame(rows, columns=RAW_COLUMNS)


def read_megc2019_csv(path: Path) -> pd.DataFrame:
    """The official MEGC2019 ground truth ``combined_3class_gt.csv`` (no header).

    Returns a table with columns dataset (casme2|samm|smic_hs), subject_number (int),
    clip_key (str: a normalised clip name for matching), clip (as written), label (0..2), row.
    """
    try:
        raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DatasetError(f"cannot read the MEGC2019 CSV: {type(exc).__name__}: {exc}", path=path) from exc
    if raw.shape[1] != 4:
        raise DatasetError(f"expected 4 columns (dataset, subject, clip, label), found {raw.shape[1]}", path=path)
    names = {"casme2": "casme2", "samm": "samm", "smic": "smic_hs", "smic_hs": "smic_hs"}
    rows = []
    for i, r in raw.iterrows():
        where = f"row {i + 1}"
        ds = str(r[0]).strip().lower()
        if ds not in names:
            raise DatasetError(f"dataset is {r[0]!r}; expected casme2, samm or smic", path=path, row=where)
        label = str(r[3]).strip()
        if label not in ("0", "1", "2"):
            raise DatasetError(f"label is {r[3]!r}; expected 0 (negative), 1 (positive) or 2 (surprise)",
                               path=path, row=where)
        clip = str(r[2]).strip()
        rows.append({
            "dataset": names[ds], "subject_number": parse_subject(r[1], path=path, row=where),
            "clip": clip, "clip_key": clip_key(names[ds], clip), "label": int(label), "row": where,
        })
    if not rows:
        raise DatasetError("the MEGC2019 CSV has no rows", path=path)
    return pd.DataFrame(rows)


def clip_key(dataset: str, clip: str) -> str:
    """A clip name normalised for matching across spellings (SMIC: ``s01_ne_01`` == ``s1_ne_1``)."""
    if dataset == "smic_hs":
        m = _SMIC_CLIP.match(clip)
        if m:
            return f"s{int(m.group(1))}_{m.group(2).lower()}_{int(m.group(3))}"
    return clip.strip()
