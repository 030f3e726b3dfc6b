"""Readers for the on-disk layouts of CASME II, SAMM, SMIC-HS and the MEGC2019 CSV.

Each reader turns one dataset's annotation (a coding sheet, or folder names for SMIC-HS)
into a *raw* table with one row per clip and these columns:

    subject_number (int), clip (str), onset, apex, offset (int, apex may be missing: -1),
    emotion (str, lower case), action_units (str), folder (Path),
    source (the annotation file, or the clip folder for SMIC-HS), row (``"row 17"`` in spreadsheet
    numbering, or ``None``)

and a list of *row errors*: ``(key, DatasetError)`` with ``key = (subject_number, clip)`` when the
row names its clip (``None`` otherwise). Errors are returned rather than raised so that a caller
that needs only some clips (the MEGC2019 composite validates only the clips its CSV uses) is not
stopped by a defect elsewhere; :mod:`merlib.data.datasets` raises or collects them.

Nothing here maps labels or fixes quirks: :mod:`merlib.data.datasets` does that, with the
manifest as its rule book. The synthetic dataset is written in CASME II's layout and read
by :func:`read_casme2` unchanged.

Frame files are found by *parsing* the frame number out of every image name in a clip folder
(:func:`list_frames`), never by formatting a name: SAMM pads its numbers with varying widths,
CASME II does not pad at all, SMIC-HS numbers are global recording indices.

Every folder listing goes through :func:`list_dir`, which turns a permission error (or any other
OS error) into a :class:`DatasetError` naming the folder; macOS archive debris (``__MACOSX/``,
``._img46.jpg`` AppleDouble files, ``.DS_Store``) and other hidden entries are skipped.

Layouts follow the datasets' releases; facts (column names, header row of SAMM's sheet,
SMIC's folder structure, the MEGC2019 CSV's columns) were checked against public loaders
such as github.com/tvaranka/meb (Varanka et al., "Data leakage and evaluation issues in
micro-expression analysis", IEEE TAFFC 2023).
"""
from __future__ import annotations

import csv
import math
import os
import re
from pathlib import Path

import pandas as pd

from merlib.data.errors import DatasetError

__all__ = [
    "IMAGE_EXTENSIONS", "list_dir", "list_frames", "is_junk", "find_first", "find_frames_root", "frame_kinds",
    "read_sheet", "read_casme2", "read_samm", "scan_smic_hs", "read_megc2019_csv", "RAW_COLUMNS",
    "SMIC_CODES", "clip_key",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
RAW_COLUMNS = ["subject_number", "clip", "onset", "apex", "offset", "emotion", "action_units",
               "folder", "source", "row"]
#: SMIC-HS clip-name codes (``s1_po_01``) and the emotion folder each one belongs in.
SMIC_CODES = {"po": "positive", "ne": "negative", "sur": "surprise"}
_FRAME_NUMBER = re.compile(r"(\d+)\D*$")
_MISSING_TOKENS = {"", "/", "-", "nan", "none", "n/a", "na", "-1"}
_JUNK_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}


def is_junk(name: str) -> bool:
    """Archive and OS debris that is never part of a release: ``__MACOSX``, ``._x``, ``.DS_Store``, ..."""
    return name in _JUNK_NAMES or name.startswith(".")


def _os_error(exc: OSError, path: Path, doing: str) -> DatasetError:
    if isinstance(exc, PermissionError):
        return DatasetError(f"permission denied: cannot {doing} (check the file permissions of your copy)",
                            path=getattr(exc, "filename", None) or path)
    return DatasetError(f"cannot {doing}: {type(exc).__name__}: {exc.strerror or exc}",
                        path=getattr(exc, "filename", None) or path)


def list_dir(folder: str | Path) -> list[Path]:
    """The entries of ``folder`` (sorted by name, junk skipped).

    Raises:
        DatasetError: the folder cannot be listed (permission denied, I/O error), naming it.
    """
    folder = Path(folder)
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it]
    except OSError as exc:
        raise _os_error(exc, folder, "list the folder") from None
    return [folder / n for n in sorted(names) if not is_junk(n)]


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError as exc:
        raise _os_error(exc, p, "look at the folder") from None


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except OSError as exc:
        raise _os_error(exc, p, "look at the file") from None


def subfolders(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` (sorted, junk skipped); listing errors are DatasetErrors."""
    return [p for p in list_dir(folder) if _is_dir(p)]


def list_frames(folder: str | Path, *, allow_empty: bool = False) -> dict[int, Path]:
    """Map frame number -> image file for one clip folder.

    The number is the last run of digits in the file's stem (``img46.jpg`` -> 46,
    ``006_05562.jpg`` -> 5562, ``reg_image046810.bmp`` -> 46810).

    Args:
        allow_empty: return ``{}`` for a folder without images instead of raising.

    Raises:
        DatasetError: the folder is missing or cannot be listed, holds no image, or two files carry
            the same number.
    """
    folder = Path(folder)
    if not _is_dir(folder):
        raise DatasetError("clip folder not found", path=folder)
    frames: dict[int, Path] = {}
    for p in list_dir(folder):
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
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
    if not frames and not allow_empty:
        raise DatasetError(f"clip folder holds no image file ({', '.join(IMAGE_EXTENSIONS)})", path=folder)
    return dict(sorted(frames.items()))


def find_first(root: Path, candidates: list[str], what: str, *, want_dir: bool) -> Path:
    """The first of ``root / c`` that exists (a folder if ``want_dir``, else a file)."""
    for c in candidates:
        p = root / c
        if c == "." and want_dir:
            # the root itself holds the clip folders only if it has sub-folders at all
            if subfolders(root):
                return root
            continue
        if (want_dir and _is_dir(p)) or (not want_dir and _is_file(p)):
            return p
    tried = ", ".join(str(root / c) for c in candidates)
    raise DatasetError(f"{what} not found; looked for: {tried}", path=root)


def frame_kinds(manifest: dict) -> tuple[dict[str, list[str]], str]:
    """The frame folders a manifest knows, by kind, and the default kind.

    ``layout.frames`` is ``{default: cropped, cropped: [...], raw: [...]}``; a plain
    ``layout.frames_dirs`` list (the synthetic dataset) is one kind, ``"synthetic"``.
    """
    layout = manifest["layout"]
    if "frames" in layout:
        spec = dict(layout["frames"])
        default = spec.pop("default")
        return {k: list(v) for k, v in spec.items()}, default
    return {"synthetic": list(layout["frames_dirs"])}, "synthetic"


def find_frames_root(root: Path, manifest: dict, frames: str | None) -> tuple[Path, str]:
    """The folder holding the clip folders of the requested kind, and that kind.

    Args:
        frames: ``"cropped"``, ``"raw"`` or ``None`` (the manifest's default: the face crops).

    Raises:
        ValueError: ``frames`` is not a kind this dataset has.
        DatasetError: no folder of that kind exists; the message says which other kind is present.
    """
    kinds, default = frame_kinds(manifest)
    kind = default if frames is None else frames
    if kind not in kinds:
        raise ValueError(f"frames must be one of {sorted(kinds)} for {manifest['name']!r} (or None for "
                         f"the default {default!r}), got {frames!r}")
    for c in kinds[kind]:
        p = root / c
        if c == "." and subfolders(root) or c != "." and _is_dir(p):
            return (root if c == "." else p), kind
    tried = ", ".join(str(root / c) for c in kinds[kind])
    others = []
    for other, cands in kinds.items():
        if other == kind:
            continue
        for c in cands:
            if c != "." and _is_dir(root / c):
                others.append(f"the {other} frames are at {root / c}: pass frames={other!r} to use them")
                break
    hint = ("; " + "; ".join(others)) if others else ""
    raise DatasetError(f"{manifest['title']} {kind} frame folder not found; looked for: {tried}{hint}", path=root)


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
        (table, header_row actually used). The table keeps the spreadsheet's row order; completely
        blank rows are dropped (their numbers are skipped, not reused).
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
    except PermissionError as exc:
        raise _os_error(exc, path, "read the annotation file") from None
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
    # drop completely empty rows (trailing blank lines of spreadsheets); the index keeps positions
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


def _read_coded(root: Path, manifest: dict, frames_root: Path, *, header_search: int = 0
                ) -> tuple[pd.DataFrame, list]:
    ann = manifest["annotation"]
    fields = ann["fields"]
    sheet = find_first(root, ann["files"], f"{manifest['title']} annotation file", want_dir=False)
    required = [fields[k] for k in ("subject", "clip", "onset", "apex", "offset", "emotion")]
    table, header_row = read_sheet(sheet, ann.get("header_row"), required, header_search=header_search)
    aliases = ann.get("emotion_aliases", {}) or {}
    clip_pattern = manifest["layout"]["clip_dir"]
    rows, errors = [], []
    for i, r in zip(table.index, table.to_dict("records")):
        where = _excel_row(header_row, int(i))
        clip = "" if _is_blank(r[fields["clip"]]) else str(r[fields["clip"]]).strip()
        try:
            subject = parse_subject(r[fields["subject"]], path=sheet, row=where)
        except DatasetError as exc:
            errors.append((None, exc))
            continue
        key = (subject, clip)
        try:
            if not clip:
                raise DatasetError("clip name (column %r) is empty" % fields["clip"], path=sheet, row=where)
            emotion = "" if _is_blank(r[fields["emotion"]]) else str(r[fields["emotion"]]).strip().lower()
            emotion = aliases.get(emotion, emotion)
            au_col = fields.get("action_units")
            aus = "" if au_col is None or au_col not in r or _is_blank(r[au_col]) else str(r[au_col])
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
        except DatasetError as exc:
            errors.append((key if clip else None, exc))
    out = pd.DataFrame(rows, columns=RAW_COLUMNS)
    dup = out.duplicated(subset=["subject_number", "clip"], keep="first")
    if dup.any():
        first_rows = out[~dup].set_index(["subject_number", "clip"])["row"].to_dict()
        for _, d in out[dup].iterrows():
            key = (int(d["subject_number"]), d["clip"])
            errors.append((key, DatasetError(
                f"clip {d['clip']!r} of subject {d['subject_number']} is listed twice (first on "
                f"{first_rows.get(key)})", path=sheet, row=d["row"])))
        out = out[~dup]
    out.attrs["annotation_file"] = str(sheet)
    out.attrs["annotation_rows"] = int(len(table))
    return out.reset_index(drop=True), sorted(errors, key=lambda e: _row_order(e[1].row))


def _row_order(row) -> int:
    m = re.search(r"\d+", row or "")
    return int(m.group(0)) if m else 0


def read_casme2(root: Path, manifest: dict, frames_root: Path) -> tuple[pd.DataFrame, list]:
    """CASME II (and the synthetic set): ``CASME2-coding-20140508.xlsx`` + ``sub01/EP02_01f/img46.jpg``."""
    return _read_coded(root, manifest, frames_root)


def read_samm(root: Path, manifest: dict, frames_root: Path) -> tuple[pd.DataFrame, list]:
    """SAMM: ``SAMM_Micro_FACS_Codes_v2.xlsx`` (header after 13 note rows) + ``006/006_1_2/006_05562.jpg``."""
    return _read_coded(root, manifest, frames_root, header_search=30)


_SMIC_CLIP = re.compile(r"s0*(\d+)_([a-z]+?)_0*(\d+)$", flags=re.IGNORECASE)


def scan_smic_hs(root: Path, manifest: dict, frames_root: Path) -> tuple[pd.DataFrame, list]:
    """SMIC-HS: no sheet; ``HS/s1/micro/negative/s1_ne_01/image046810.bmp``.

    Onset and offset are the first and last frame numbers in the folder; the apex is missing
    (-1) and filled in by :mod:`merlib.data.datasets`. Extra columns: ``frame_files`` (number ->
    file, ``{}`` for an empty clip folder).

    The clip name codes the emotion too (``s1_po_01``: po = positive, ne = negative, sur = surprise)
    and the subject; a name that disagrees with its emotion folder or its subject folder is a row
    error (the two records of one clip contradict each other, and SMIC has no sheet to settle it).
    """
    allowed = set(manifest["annotation"]["emotions"])
    rows, errors = [], []
    subject_dirs = [p for p in subfolders(frames_root) if re.fullmatch(r"s\d+", p.name, re.I)]
    if not subject_dirs:
        raise DatasetError("no subject folder (s1, s2, ...) found", path=frames_root)
    subject_dirs.sort(key=lambda p: int(p.name[1:]))
    for sdir in subject_dirs:
        subject = int(sdir.name[1:])
        micro = sdir / "micro"
        if not _is_dir(micro):
            continue  # subjects without micro-expressions have no micro/ folder
        for edir in subfolders(micro):
            emotion = edir.name.lower()
            if emotion not in allowed:
                raise DatasetError(f"unknown emotion folder {edir.name!r}; expected one of {sorted(allowed)}",
                                   path=edir)
            for cdir in subfolders(edir):
                key = (subject, cdir.name)
                try:
                    frames = list_frames(cdir, allow_empty=True)
                except DatasetError as exc:
                    errors.append((key, exc))
                    continue
                m = _SMIC_CLIP.match(cdir.name)
                if m is not None:
                    code = m.group(2).lower()
                    coded = SMIC_CODES.get(code)
                    if coded is not None and coded != emotion:
                        errors.append((key, DatasetError(
                            f"clip {cdir.name!r} is in the emotion folder {edir.name!r}, but its name codes "
                            f"{code!r} ({coded}); the folder and the name disagree about the label "
                            f"(move the clip to {coded}/ or check the copy)", path=cdir)))
                        continue
                    if int(m.group(1)) != subject:
                        errors.append((key, DatasetError(
                            f"clip {cdir.name!r} names subject {int(m.group(1))} but is in the folder "
                            f"{sdir.name!r}", path=cdir)))
                        continue
                numbers = list(frames)
                rows.append({
                    "subject_number": subject, "clip": cdir.name, "onset": numbers[0] if numbers else -1,
                    "apex": -1, "offset": numbers[-1] if numbers else -1, "emotion": emotion, "action_units": "",
                    "folder": cdir, "source": str(cdir), "row": None, "frame_files": frames,
                })
    out = pd.DataFrame(rows, columns=RAW_COLUMNS + ["frame_files"])
    out.attrs["annotation_file"] = None
    out.attrs["annotation_rows"] = len(out) + len(errors)
    return out, errors


def read_megc2019_csv(path: Path) -> pd.DataFrame:
    """The official MEGC2019 ground truth ``combined_3class_gt.csv`` (no header).

    Returns a table with columns dataset (casme2|samm|smic_hs), subject_number (int),
    clip_key (str: a normalised clip name for matching), clip (as written), label (0..2), row
    (``"row N"``: the line of the file). Blank lines and lines of empty cells (``,,,``: the second
    version of the file the challenge site distributed has one after every row) are skipped and
    counted in ``attrs["blank_rows"]``; rows keep their line numbers.

    Raises:
        DatasetError: unreadable file, a row without 4 cells, an unknown dataset or label, a row
            that repeats an earlier one, or a clip listed twice with different labels (both rows named).
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            lines = list(csv.reader(fh))
    except PermissionError as exc:
        raise _os_error(exc, path, "read the MEGC2019 CSV") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read the MEGC2019 CSV: {type(exc).__name__}: {exc}", path=path) from exc
    names = {"casme2": "casme2", "samm": "samm", "smic": "smic_hs", "smic_hs": "smic_hs"}
    rows, blank = [], 0
    seen: dict[tuple, dict] = {}
    for i, cells in enumerate(lines):
        where = f"row {i + 1}"
        if all(not c.strip() for c in cells):
            blank += 1
            continue
        while len(cells) > 4 and not cells[-1].strip():  # a trailing comma
            cells = cells[:-1]
        if len(cells) != 4:
            raise DatasetError(f"expected 4 columns (dataset, subject, clip, label), found {len(cells)}",
                               path=path, row=where)
        ds = cells[0].strip().lower()
        if ds not in names:
            raise DatasetError(f"dataset is {cells[0]!r}; expected casme2, samm or smic", path=path, row=where)
        label = cells[3].strip()
        if label not in ("0", "1", "2"):
            raise DatasetError(f"label is {cells[3]!r}; expected 0 (negative), 1 (positive) or 2 (surprise)",
                               path=path, row=where)
        clip = cells[2].strip()
        r = {"dataset": names[ds], "subject_number": parse_subject(cells[1], path=path, row=where),
             "clip": clip, "clip_key": clip_key(names[ds], clip), "label": int(label), "row": where}
        key = (r["dataset"], r["subject_number"], r["clip_key"])
        if key in seen:
            first = seen[key]
            what = f"{r['dataset']} subject {r['subject_number']} clip {clip!r}"
            if first["label"] == r["label"]:
                raise DatasetError(f"{where} repeats {first['row']} ({what}, label {r['label']}); each clip "
                                   "must be listed once", path=path, row=where)
            raise DatasetError(f"{first['row']} and {where} give {what} two labels ({first['label']} and "
                               f"{r['label']}); which one is right cannot be told", path=path, row=where)
        seen[key] = r
        rows.append(r)
    if not rows:
        raise DatasetError("the MEGC2019 CSV has no rows", path=path)
    out = pd.DataFrame(rows)
    out.attrs["blank_rows"] = blank
    return out


def clip_key(dataset: str, clip: str) -> str:
    """A clip name normalised for matching across spellings (SMIC: ``s01_ne_01`` == ``s1_ne_1``)."""
    if dataset == "smic_hs":
        m = _SMIC_CLIP.match(clip)
        if m:
            return f"s{int(m.group(1))}_{m.group(2).lower()}_{int(m.group(3))}"
    return clip.strip()
