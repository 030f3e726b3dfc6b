"""Micro-expression datasets as objects: a pandas table of clips plus lazy frame access.

``load_dataset(name, root, classes, frames=...)`` reads a local copy of CASME II, SAMM, SMIC-HS,
the MEGC2019 composite, or merlib's synthetic dataset (generated on first use and then read
with the *same* CASME II reader), applies the known quirk repairs that the dataset's
manifest lists (each recorded per clip in the ``fixes`` column, clips that cannot be used are
listed with their reason in ``dataset.dropped``, and every repair is announced by one
:class:`~merlib.data.errors.QuirkWarning`), maps emotions to class indices, and returns a
:class:`MERDataset`.

Frames: every licensed release ships face crops and uncropped frames (CASME II ``Cropped/`` and
``CASME2_RAW_selected/``, SMIC ``SMIC_all_cropped/HS`` and ``HS/``); ``frames="cropped"`` (the
default, what the papers and MEB use) or ``frames="raw"`` chooses, never the folder order. The
choice is in the dataset's ``repr``, in ``dataset.frames_kind``, in :meth:`MERDataset.info` and
in the identity :func:`merlib.eval.run` records with every result.

Disagreements between the folders and the sheet follow one explicit policy, ``quirks=``:

* ``"repair"`` (default): the known defects of the releases (the manifest's ``quirks``, each with
  its source and reason) are repaired and announced; a disagreement that is not a known defect
  is a :class:`DatasetError` naming the file and row.
* ``"strict"``: every disagreement is a :class:`DatasetError` (``fix_quirks=False`` is the same).

The design follows MEB (github.com/tvaranka/meb): datasets are objects with a data frame of
clips and lazily loaded frames; annotation fixes are code with a reason; validators are
separate from models. The code here is merlib's own.

:func:`verify_dataset` (``python -m merlib data verify NAME --root PATH``) runs the very same
builder as :func:`load_dataset` (same repairs, same apex fill) but collects every problem instead
of stopping at the first, and its notes list exactly what :func:`load_dataset` returns.
"""
from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from merlib.data import readers
from merlib.data.errors import DatasetError, QuirkWarning
from merlib.data.manifest import load_manifest

__all__ = ["MERDataset", "load_dataset", "verify_dataset", "VerifyReport", "read_image", "CLIP_COLUMNS",
           "CLASS_SETTINGS", "QUIRK_POLICIES", "DROPPED_COLUMNS"]

#: Columns of ``MERDataset.clips`` (in this order; the last ones are extras merlib adds).
CLIP_COLUMNS = ["dataset", "subject", "clip", "onset", "apex", "offset", "label", "label_name",
                "n_frames", "path", "emotion", "apex_source", "fixes", "fps", "action_units"]
#: Columns of ``MERDataset.dropped`` (clips of the copy that a known defect makes unusable).
DROPPED_COLUMNS = ["dataset", "subject", "clip", "label_name", "path", "quirk", "known", "reason", "source", "row"]
#: Accepted values of ``classes``.
CLASS_SETTINGS = ("5class", "megc3")
#: Accepted values of ``quirks``: how a disagreement between folder and sheet is handled.
QUIRK_POLICIES = ("repair", "strict")
_LICENSED = ("casme2", "samm", "smic_hs")
_READERS: dict[str, Callable] = {"casme2": readers.read_casme2, "samm": readers.read_samm,
                                 "smic_hs": readers.scan_smic_hs}
#: fixes that record a property of every clip or a kept value, not a repair of a defect: they stay in
#: ``clips['fixes']`` but are not announced (SMIC-HS labels no apex at all: ``no_apex(->N)``)
_FLAGS = ("onset_equals_apex", "no_apex")


# ------------------------------------------------------------------------------------------
# frames on disk
# ------------------------------------------------------------------------------------------
def read_image(path: str | Path, channels: int | None = None) -> torch.Tensor:
    """One image file as a ``(C, H, W)`` float32 tensor in [0, 1] (RGB order for colour).

    Args:
        path: the file (any format OpenCV decodes).
        channels: ``None`` keeps the file's own (1 for greyscale, 3 for colour); 1 converts to
            luma (ITU-R BT.601, as OpenCV), 3 repeats a greyscale image.

    Raises:
        DatasetError: the file is missing, cannot be read (permission denied: "unreadable"), or
            its bytes do not decode as an image.
    """
    import cv2

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError("frame file not found", path=path) from None
    except PermissionError:
        raise DatasetError("frame file is unreadable: permission denied (check the file permissions of "
                           "your copy)", path=path) from None
    except IsADirectoryError:
        raise DatasetError("expected a frame file, found a folder", path=path) from None
    except OSError as exc:
        raise DatasetError(f"frame file is unreadable: {type(exc).__name__}: {exc.strerror or exc}",
                           path=path) from None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if img is None:
        raise DatasetError(f"cannot decode the image file ({len(data)} bytes that are not a complete image "
                           "in a format OpenCV reads)", path=path)
    scale = float(np.iinfo(img.dtype).max) if np.issubdtype(img.dtype, np.integer) else 1.0
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim == 3:
        if channels == 1:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
        else:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    else:
        img = img[:, :, None]
        if channels == 3:
            img = np.repeat(img, 3, axis=2)
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).to(torch.float32)
    return t / scale


def _resize(frames: torch.Tensor, size) -> torch.Tensor:
    """Resize ``(T, C, H, W)`` with antialiased bilinear interpolation (torch, any device)."""
    import torch.nn.functional as F

    h, w = _size_arg(size)
    if frames.shape[-2:] == (h, w):
        return frames
    return F.interpolate(frames, size=(h, w), mode="bilinear", antialias=True, align_corners=False).clamp_(0, 1)


def _size_arg(size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size > 0:
        return int(size), int(size)
    if (isinstance(size, (tuple, list)) and len(size) == 2
            and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in size)):
        return int(size[0]), int(size[1])
    raise ValueError(f"size must be a positive int or a (height, width) pair of positive ints, got {size!r}")


# ------------------------------------------------------------------------------------------
# the dataset object
# ------------------------------------------------------------------------------------------
class MERDataset(torch.utils.data.Dataset):
    """A micro-expression dataset: ``clips`` (one row per clip) and lazy frame access.

    Attributes:
        name: ``casme2``, ``samm``, ``smic_hs``, ``megc2019_composite`` or ``synthetic``.
        clips: pandas table with the columns :data:`CLIP_COLUMNS`: dataset, subject (prefixed
            with the dataset name, e.g. ``casme2_sub01``), clip, onset, apex, offset (frame
            numbers), label (int), label_name, n_frames (the frames loaded: offset - onset + 1, or
            fewer for a SMIC clip whose folder lacks frames), path (the clip folder), and extras:
            emotion (the annotated emotion), apex_source (``annotation`` | ``estimated`` |
            ``middle``), fixes (quirk repairs applied, ``;``-joined), fps, action_units.
        dropped: clips of the copy that a defect makes unusable (columns :data:`DROPPED_COLUMNS`,
            each with its quirk id and reason); empty for a copy without such defects.
        frames_kind: ``"cropped"`` (face crops), ``"raw"`` (uncropped frames) or ``"synthetic"``.
        class_names: label index -> name.
        fps: frames per second (a dict per source dataset for the composite).
        size: default frame size for ``dataset[i]`` (``None`` keeps the native size).
        channels: 1 or 3 to convert every frame, ``None`` for the files' own.

    ``dataset[i]`` returns ``(frames(i, size=self.size), label)`` so the object can feed a
    ``torch.utils.data.DataLoader`` (clips differ in length: batch with a collate function or
    resample first, see :mod:`merlib.data.frames`).
    """

    def __init__(self, name: str, clips: pd.DataFrame, class_names: Sequence[str], fps,
                 frame_files: dict[str, dict[int, Path]], *, channels: int | None = None,
                 size=None, manifest: dict | None = None, frame_lists: dict[str, list[int]] | None = None,
                 frames_kind: str | None = None, dropped: pd.DataFrame | None = None):
        self.name = name
        self.clips = clips.reset_index(drop=True)
        self.class_names = list(class_names)
        self.fps = fps
        self.channels = channels
        self.size = size
        self.manifest = manifest
        self.frames_kind = frames_kind
        self.dropped = (pd.DataFrame(columns=DROPPED_COLUMNS) if dropped is None
                        else dropped.reset_index(drop=True))
        self._frame_files = frame_files
        self._frame_lists = frame_lists or {}

    # -- basics ------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def subjects(self) -> list[str]:
        """Subject ids in order of first appearance."""
        return list(dict.fromkeys(self.clips["subject"]))

    @property
    def labels(self) -> np.ndarray:
        return self.clips["label"].to_numpy(dtype=np.int64)

    def __len__(self) -> int:
        return len(self.clips)

    def repairs(self) -> dict[str, int]:
        """How many clips each quirk repair touched (``{"apex_missing": 21, ...}``)."""
        out: Counter = Counter()
        for f in self.clips["fixes"]:
            for part in filter(None, str(f).split(";")):
                qid = part.split("(")[0]
                if qid not in _FLAGS:
                    out[qid] += 1
        return dict(out)

    def __repr__(self) -> str:
        counts = Counter(self.clips["label_name"])
        parts = ", ".join(f"{c}: {counts.get(c, 0)}" for c in self.class_names)
        extra = ""
        if self.frames_kind is not None:
            extra += f", frames={self.frames_kind!r}"
        n_rep = sum(1 for f in self.clips["fixes"]
                    if any(p.split("(")[0] not in _FLAGS for p in filter(None, str(f).split(";"))))
        if n_rep:
            extra += f", {n_rep} repaired"
        if len(self.dropped):
            extra += f", {len(self.dropped)} dropped"
        return (f"MERDataset({self.name!r}, {len(self)} clips, {len(self.subjects)} subjects, "
                f"{self.num_classes} classes [{parts}]{extra})")

    def info(self) -> dict:
        """What identifies this copy in a results record: name, frames kind, sizes, repairs, drops."""
        return {"name": self.name, "frames": self.frames_kind, "n_clips": len(self),
                "n_subjects": len(self.subjects), "class_counts": self.class_counts(),
                "repairs": self.repairs(),
                "dropped": [f"{r['subject']}/{r['clip']}: {r['quirk']}" for _, r in self.dropped.iterrows()]}

    def class_counts(self) -> dict[str, int]:
        counts = Counter(self.clips["label_name"])
        return {c: int(counts.get(c, 0)) for c in self.class_names}

    def subset(self, rows) -> "MERDataset":
        """A dataset of some clips: ``rows`` is a boolean mask or a sequence of positions."""
        rows = np.asarray(rows)
        sub = self.clips[rows] if rows.dtype == bool else self.clips.iloc[rows]
        return MERDataset(self.name, sub, self.class_names, self.fps, self._frame_files,
                          channels=self.channels, size=self.size, manifest=self.manifest,
                          frame_lists=self._frame_lists, frames_kind=self.frames_kind, dropped=self.dropped)

    # -- frames ------------------------------------------------------------------------------
    def _check_index(self, i) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise ValueError(f"clip index must be an int, got {i!r}")
        n = len(self)
        if not -n <= i < n:
            raise ValueError(f"clip index {i} out of range for a dataset of {n} clips")
        return int(i) % n

    def _numbers(self, row) -> list[int]:
        """Frame numbers of a clip, in order: onset..offset, less the frames its folder lacks."""
        numbers = self._frame_lists.get(row["path"])
        return list(range(int(row["onset"]), int(row["offset"]) + 1)) if numbers is None else numbers

    def frame_paths(self, i: int) -> list[Path]:
        """The image files of clip ``i`` from onset to offset."""
        i = self._check_index(i)
        row = self.clips.iloc[i]
        files = self._frame_files[row["path"]]
        return [files[n] for n in self._numbers(row)]

    def frames(self, i: int, indices=None, size=None) -> torch.Tensor:
        """Frames of clip ``i`` as a ``(T, C, H, W)`` float32 tensor in [0, 1].

        Args:
            i: clip position in ``clips``.
            indices: frame positions relative to the onset (0 = onset, ``n_frames - 1`` = offset);
                ``None`` loads every frame from onset to offset.
            size: ``int`` or ``(H, W)`` to resize (antialiased bilinear); ``None`` keeps the size.

        Raises:
            ValueError: ``i``, ``indices`` or ``size`` is invalid.
            DatasetError: a frame file is missing or cannot be read or decoded, or the frames of the
                clip differ in size and no ``size`` was given.
        """
        i = self._check_index(i)
        row = self.clips.iloc[i]
        n = int(row["n_frames"])
        if indices is None:
            idx = list(range(n))
        else:
            idx = np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices).reshape(-1)
            if idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
                raise ValueError(f"indices must be a non-empty sequence of ints, got {indices!r}")
            if idx.min() < 0 or idx.max() >= n:
                raise ValueError(
                    f"indices must lie in 0..{n - 1} (relative to the onset) for clip "
                    f"{row['subject']}/{row['clip']}, got min {idx.min()} max {idx.max()}"
                )
            idx = idx.tolist()
        if size is not None:
            _size_arg(size)
        files = self._frame_files[row["path"]]
        numbers = self._numbers(row)
        images = []
        for k in idx:
            number = numbers[int(k)]
            if number not in files:
                raise DatasetError(f"frame {number} of clip {row['clip']} is missing", path=row["path"])
            img = read_image(files[number], self.channels)
            if size is not None:
                img = _resize(img[None], size)[0]
            images.append(img)
        shapes = {tuple(im.shape) for im in images}
        if len(shapes) > 1:
            raise DatasetError(f"frames of clip {row['clip']} differ in shape {sorted(shapes)}; pass size=",
                               path=row["path"])
        return torch.stack(images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        i = self._check_index(i)
        return self.frames(i, size=self.size), int(self.clips.iloc[i]["label"])


# ------------------------------------------------------------------------------------------
# building the clip table (the one code path of load_dataset and verify_dataset)
# ------------------------------------------------------------------------------------------
class _Sink:
    """Raise at the first problem (loading) or collect them all (verifying)."""

    def __init__(self, collect: bool):
        self.collect = collect
        self.problems: list[str] = []

    def fail(self, err: DatasetError) -> None:
        if not self.collect:
            raise err
        self.problems.append(str(err))


@dataclass
class _Built:
    """What the builder made of one source dataset."""
    clips: pd.DataFrame
    files: dict
    lists: dict
    dropped: list
    raw: pd.DataFrame
    frames_root: Path
    kind: str
    failed: set = field(default_factory=set)   # keys of clips that raised (collect mode)


def _fill_apex(files: dict[int, Path], numbers: list[int], method: str) -> int:
    """The apex frame number of a clip whose apex is missing: the middle frame, or estimated from
    the frames (:func:`merlib.data.frames.estimate_apex`, greyscale at about 64 px)."""
    if method == "middle":
        if numbers[-1] - numbers[0] + 1 == len(numbers):
            return (numbers[0] + numbers[-1]) // 2
        return numbers[len(numbers) // 2]   # a folder with gaps: the middle frame present
    from merlib.data.frames import estimate_apex

    if len(numbers) <= 2:
        return numbers[-1]
    images, size = [], None
    for n in numbers:
        img = read_image(files[n], 1)
        if size is None:
            h, w = img.shape[-2:]
            s = min(1.0, 64 / min(h, w))
            size = (max(1, round(h * s)), max(1, round(w * s)))
        images.append(_resize(img[None], size)[0])
    return numbers[int(estimate_apex(torch.stack(images)))]


def _known_quirk(manifest: dict, qid: str, kind: str, subject: int, clip: str) -> dict | None:
    """The manifest's entry for a clip-specific known defect, or None when this clip is not listed."""
    for q in manifest.get("quirks") or []:
        if q.get("id") != qid:
            continue
        applies = q.get("applies") or {}
        if applies.get("frames") not in (None, kind):
            continue
        listed = {str(c) for c in applies.get("clips") or []}
        if f"{subject}/{clip}" in listed:
            return q
    return None


def _source_note(q: dict | None, name: str = "") -> str:
    if q is None:
        return "not a known defect of the release"
    return f"a known defect of the release (data_manifest/{name}.yaml, quirk {q['id']!r}, with its source)"


def _process(name: str, raw: pd.DataFrame, manifest: dict, sink: _Sink, *, policy: str, missing_apex: str,
             class_map: dict | None, fps, kind: str) -> tuple[pd.DataFrame, dict, dict, list, set]:
    """Validate rows, apply the quirk repairs, map labels.

    Returns (clips, frame files per folder, frame numbers per folder, dropped rows, failed keys).
    """
    subject_format = manifest["annotation"]["subject_format"]
    by_file = manifest["layout"].get("frame_numbers") == "file"   # SMIC: the folder is the only record
    repair = policy == "repair"
    rows, frame_files, frame_lists, dropped, failed = [], {}, {}, [], set()
    if class_map is not None:
        names = class_map["names"]
        mapping = class_map["map"]
        exclude = set(class_map.get("exclude") or [])
    known = set(manifest["annotation"].get("emotions") or [])
    for r in raw.to_dict("records"):
        folder = Path(r["folder"])
        subject_number = int(r["subject_number"])
        key = (subject_number, r["clip"])
        err_kw = {"path": r["source"], "row": r["row"]}
        subj = subject_format.format(subject=subject_number)

        def fail(err):
            failed.add(key)
            sink.fail(err)

        label_name = r["emotion"]
        if class_map is not None:
            if label_name in exclude:
                continue
            if label_name not in mapping:
                fail(DatasetError(
                    f"unknown label {r['emotion']!r}; expected one of {sorted(set(mapping) | exclude)}", **err_kw))
                continue
            label_name = mapping[label_name]
            label = names.index(label_name)
        else:  # raw mode (used by the composite): keep every known emotion
            if known and label_name not in known:
                fail(DatasetError(f"unknown label {r['emotion']!r}; expected one of {sorted(known)}", **err_kw))
                continue
            label = -1
        if "frame_files" in r and isinstance(r["frame_files"], dict):
            files = r["frame_files"]
        else:
            try:
                files = readers.list_frames(folder)
            except DatasetError as exc:
                fail(DatasetError(f"{exc.message}: {exc.path} (clip {r['clip']}, subject {subject_number})",
                                  **err_kw))
                continue
        if not files:  # an empty clip folder (SMIC_all_cropped's s18_sur_03)
            q = _known_quirk(manifest, "empty_clip_folder", kind, subject_number, r["clip"])
            if not repair:
                fail(DatasetError("clip folder holds no image file (quirks='strict'; the default drops it "
                                  "with a recorded reason)", path=folder))
                continue
            dropped.append({"dataset": name, "subject": f"{name}_{subj}", "clip": r["clip"], "path": str(folder),
                            "quirk": "empty_clip_folder", "known": q is not None,
                            "reason": f"the clip folder holds no frame; {_source_note(q, name)}",
                            "source": r["source"], "row": r["row"], "_key": key, "emotion": r["emotion"],
                            "label_name": label_name})
            continue
        onset, apex, offset = int(r["onset"]), int(r["apex"]), int(r["offset"])
        fixes = []
        if offset < onset:
            last = max(files)
            if repair and last >= onset and (apex < 0 or apex <= last):
                fixes.append(f"offset_before_onset({offset}->{last})")
                offset = last
            else:
                fail(DatasetError(f"onset {onset} > offset {offset}; expected onset <= offset", **err_kw))
                continue
        missing = [n for n in range(onset, offset + 1) if n not in files]
        numbers = None
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
            msg = (f"{len(missing)} frame(s) of onset..offset {onset}..{offset} missing from the clip folder "
                   f"{folder}: {shown}")
            present = [n for n in files if onset <= n <= offset]
            last = present[-1] if present else None
            tail = last is not None and missing == list(range(last + 1, offset + 1))
            q_short = _known_quirk(manifest, "cropped_clip_short", kind, subject_number, r["clip"])
            if by_file and repair:
                # SMIC: no sheet, the folder is the record: load the frames it has, say which are absent
                q = _known_quirk(manifest, "frames_missing", kind, subject_number, r["clip"])
                numbers = present
                fixes.append(f"frames_missing({len(missing)}: {','.join(map(str, missing))})"
                             + ("" if q is not None else "[unknown]"))
            elif repair and q_short is not None and tail and last >= onset:
                fixes.append(f"cropped_clip_short(offset {offset}->{last})")
                offset = last
            else:
                if q_short is not None and not repair:
                    msg += " (a known defect of this release: quirks='repair' clamps the offset)"
                fail(DatasetError(msg, **err_kw))
                continue
        if numbers is None:
            numbers = list(range(onset, offset + 1))
        apex_source = "annotation"
        if apex < 0 or not onset <= apex <= offset:
            kind_q = ("no_apex" if by_file else "apex_missing") if apex < 0 else "apex_outside_clip"
            if not repair and not (by_file and apex < 0):   # SMIC labels no apex: not a disagreement
                msg = ("apex is missing" if apex < 0 else
                       f"apex {apex} outside onset..offset {onset}..{offset}")
                fail(DatasetError(msg + "; expected an apex within onset..offset", **err_kw))
                continue
            try:
                new = _fill_apex(files, numbers, missing_apex)
            except DatasetError as exc:
                fail(exc)
                continue
            fixes.append(f"{kind_q}({apex}->{new})" if apex >= 0 else f"{kind_q}(->{new})")
            apex, apex_source = new, ("middle" if missing_apex == "middle" else "estimated")
        elif apex == onset:
            fixes.append("onset_equals_apex(kept)")
        frame_files[str(folder)] = files
        if len(numbers) != offset - onset + 1:
            frame_lists[str(folder)] = numbers
        rows.append({
            "dataset": name, "subject": f"{name}_{subj}", "clip": r["clip"], "onset": onset, "apex": apex,
            "offset": offset, "label": label, "label_name": label_name, "n_frames": len(numbers),
            "path": str(folder), "emotion": r["emotion"], "apex_source": apex_source,
            "fixes": ";".join(fixes), "fps": fps, "action_units": r["action_units"],
            "_subject_number": subject_number,
        })
    clips = pd.DataFrame(rows, columns=CLIP_COLUMNS + ["_subject_number"])
    return clips, frame_files, frame_lists, dropped, failed


def _check_root(root, name: str, manifest: dict) -> Path:
    if root is None:
        raise DatasetError(
            f"{manifest['title']} is licensed and not part of merlib; pass root=PATH to your local copy. "
            f"How to request it: {manifest['request'].strip()}"
        )
    root = Path(root).expanduser()
    try:
        exists, is_dir = root.exists(), root.is_dir()
    except PermissionError:
        raise DatasetError(f"permission denied: cannot look at the dataset root for {name!r}", path=root) from None
    if not exists:
        raise DatasetError(f"dataset root for {name!r} not found", path=root)
    if not is_dir:
        raise DatasetError(f"dataset root for {name!r} must be a folder", path=root)
    return root


def _class_map(manifest: dict, classes: str) -> dict:
    if classes not in CLASS_SETTINGS:
        raise ValueError(f"classes must be one of {CLASS_SETTINGS}, got {classes!r}")
    maps = manifest["class_maps"]
    if classes not in maps:
        raise ValueError(f"dataset {manifest['name']!r} offers the class settings {sorted(maps)}, not {classes!r}")
    return maps[classes]


def _build_single(name: str, root: Path, manifest: dict, sink: _Sink, *, classes: str | None, policy: str,
                  missing_apex: str, fps, frames: str | None, want: set | None = None) -> _Built:
    """Read, validate and repair one dataset. ``want``: only these ``(subject_number, clip_key)``
    (the composite validates only the clips its CSV uses); their row errors go to ``sink``."""
    reader = _READERS[manifest.get("reader", name)]
    frames_root, kind = readers.find_frames_root(root, manifest, frames)
    raw, row_errors = reader(root, manifest, frames_root)
    if raw.empty and not row_errors:
        raise DatasetError(f"the {manifest['title']} annotation lists no clip", path=root)
    src = manifest.get("reader", name) if name == "synthetic" else name

    def wanted(key) -> bool:
        return want is None or key is None or (key[0], readers.clip_key(src, key[1])) in want

    failed = set()
    for key, err in row_errors:
        if wanted(key):
            failed.add(key)
            sink.fail(err)
    if want is not None:
        raw = raw[[wanted((int(s), c)) for s, c in zip(raw["subject_number"], raw["clip"])]]
    class_map = None if classes is None else _class_map(manifest, classes)
    clips, files, lists, dropped, failed2 = _process(
        name, raw, manifest, sink, policy=policy, missing_apex=missing_apex, class_map=class_map, fps=fps,
        kind=kind)
    return _Built(clips, files, lists, dropped, raw, frames_root, kind, failed | failed2)


def _dropped_frame(dropped: list) -> pd.DataFrame:
    return pd.DataFrame([{k: d.get(k) for k in DROPPED_COLUMNS} for d in dropped], columns=DROPPED_COLUMNS)


def _announce(ds: MERDataset) -> None:
    """One QuirkWarning per load that lists every repair and drop (never a silent repair)."""
    parts = []
    per: dict[str, list[str]] = {}
    for _, r in ds.clips.iterrows():
        for p in filter(None, str(r["fixes"]).split(";")):
            qid = p.split("(")[0]
            if qid not in _FLAGS:
                per.setdefault(qid, []).append(f"{r['subject']}/{r['clip']}")
    for qid, clips in per.items():
        shown = ", ".join(clips[:3]) + (f" and {len(clips) - 3} more" if len(clips) > 3 else "")
        parts.append(f"{qid}: {len(clips)} clip(s) ({shown})")
    for _, d in ds.dropped.iterrows():
        parts.append(f"dropped {d['subject']}/{d['clip']}: {d['quirk']}")
    if parts:
        warnings.warn(f"{ds.name} ({ds.frames_kind} frames): repaired the copy's known quirks — "
                      + "; ".join(parts) + ". See dataset.clips['fixes'] and dataset.dropped; "
                      "quirks='strict' raises instead.", QuirkWarning, stacklevel=3)


def _synthetic_root(root, preset: str, seed: int, overrides: dict) -> Path:
    try:
        from merlib.data.synthetic import generate
    except ImportError as exc:  # pragma: no cover - the generator ships with merlib
        raise DatasetError(f"the synthetic generator is not available: {exc}") from exc
    overrides = dict(overrides)
    if "render_size" in overrides:  # `size` is load_dataset's own (resize on read)
        overrides["size"] = overrides.pop("render_size")
    out = generate(preset, root=root, seed=seed, **overrides)
    if isinstance(out, (str, os.PathLike)):
        return Path(out)
    for attr in ("root", "path"):
        if hasattr(out, attr):
            return Path(getattr(out, attr))
    if root is None:
        raise DatasetError("merlib.data.synthetic.generate returned no folder; pass root=")
    return Path(root)


def _synthetic_fps(root: Path, default):
    """The generator may record its fps beside the data; otherwise the manifest default."""
    meta = _synthetic_meta(root)
    return meta["fps"] if isinstance(meta.get("fps"), (int, float)) else default


def _synthetic_meta(root: Path) -> dict:
    """``ROOT/synthetic_meta.json`` written by the generator (``{}`` when absent or unreadable)."""
    import json

    p = root / "synthetic_meta.json"
    try:
        meta = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _policy(quirks: str, fix_quirks: bool) -> str:
    if quirks not in QUIRK_POLICIES:
        raise ValueError(f"quirks must be one of {QUIRK_POLICIES}, got {quirks!r}")
    return "strict" if not fix_quirks else quirks


def load_dataset(name: str, root: str | Path | None = None, classes: str = "5class", *,
                 frames: str | None = None, quirks: str = "repair",
                 missing_apex: str = "estimate", fix_quirks: bool = True, channels: int | None = None,
                 size=None, csv: str | Path | None = None, roots: dict | None = None,
                 preset: str = "small", seed: int = 0, **synthetic_options) -> MERDataset:
    """Load a micro-expression dataset from a local copy (or generate the synthetic one).

    Args:
        name: ``casme2``, ``samm``, ``smic_hs``, ``megc2019_composite`` or ``synthetic``.
        root: the folder holding the dataset as released (see its manifest's ``layout``).
            For ``synthetic``, where to generate (``None``: merlib's cache); for the composite,
            a folder with sub-folders CASME2/, SAMM/, SMIC/ and ``combined_3class_gt.csv``.
        classes: ``"5class"`` (the papers' 5 classes; SMIC-HS has only its 3) or ``"megc3"``
            (negative / positive / surprise, the MEGC2019 mapping). The composite is always megc3.
        frames: licensed datasets: ``"cropped"`` (the face crops the release ships: CASME II
            ``Cropped/``, SMIC ``SMIC_all_cropped/HS``, SAMM ``SAMM_CROP/``) or ``"raw"`` (the uncropped
            frames); ``None`` is ``"cropped"``, what the papers and MEB use. A missing folder of the
            chosen kind is a DatasetError that says where the other kind is (never a silent switch).
        quirks: ``"repair"`` (default): repair the known defects of the releases listed in the
            manifest (recorded in ``clips['fixes']`` / ``dataset.dropped`` and announced by one
            :class:`~merlib.data.errors.QuirkWarning`); a disagreement between folder and sheet that
            is not a known defect raises. ``"strict"``: every disagreement raises.
        missing_apex: how a missing or out-of-clip apex is filled when repairing:
            ``"estimate"`` (:func:`merlib.data.frames.estimate_apex` on the frames) or ``"middle"``.
        fix_quirks: ``False`` is ``quirks="strict"`` (kept for existing code).
        channels: 1 or 3 to convert every frame; ``None`` keeps the files' own
            (the composite defaults to 3).
        size: default frame size of ``dataset[i]``.
        csv: the MEGC2019 ground-truth CSV (composite only; default ``root/combined_3class_gt.csv``).
        roots: composite only: ``{"casme2": PATH, "samm": PATH, "smic_hs": PATH}``.
        preset, seed: synthetic only: passed to ``merlib.data.synthetic.generate``.
        **synthetic_options: synthetic only: generator overrides (``render_size=(96, 96)`` — the
            generator's ``size``, renamed because ``size`` above resizes on reading —, ``channels=1``,
            ``fps=100``, ``progress=False`` ...), see ``merlib.data.synthetic.generate``.

    Returns:
        A :class:`MERDataset`.

    Raises:
        ValueError: an argument is invalid.
        DatasetError: the copy on disk does not match its manifest (the message names the file
            or annotation row); a permission error names the file or folder.
    """
    manifest = load_manifest(name)
    policy = _policy(quirks, fix_quirks)
    if missing_apex not in ("estimate", "middle"):
        raise ValueError(f"missing_apex must be 'estimate' or 'middle', got {missing_apex!r}")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be None, 1 or 3, got {channels!r}")
    if size is not None:
        _size_arg(size)
    if frames not in (None, "cropped", "raw", "synthetic"):
        raise ValueError(f"frames must be 'cropped', 'raw' or None (the face crops), got {frames!r}")
    if synthetic_options and name != "synthetic":
        raise ValueError(f"load_dataset: unexpected arguments {sorted(synthetic_options)} for {name!r} "
                         "(generator options apply to name='synthetic' only)")
    try:
        if name == "megc2019_composite":
            ds = _load_composite(manifest, root, csv=csv, roots=roots, classes=classes, policy=policy,
                                 missing_apex=missing_apex, channels=3 if channels is None else channels,
                                 size=size, sink=_Sink(False), frames=frames)[0]
            _announce(ds)
            return ds
        class_map = _class_map(manifest, classes)
        if name == "synthetic":
            root = _synthetic_root(root, preset, seed, synthetic_options)
            fps = _synthetic_fps(root, manifest["fps"])
        else:
            root = _check_root(root, name, manifest)
            fps = manifest["fps"]
        b = _build_single(name, root, manifest, _Sink(False), classes=classes, policy=policy,
                          missing_apex=missing_apex, fps=fps, frames=frames)
    except PermissionError as exc:  # a last net: every listing/reading above names its path already
        raise DatasetError("permission denied (check the file permissions of your copy)",
                           path=exc.filename) from None
    if b.clips.empty:
        raise DatasetError(f"no clip of the classes {class_map['names']} is left in {manifest['title']} "
                           f"(every row was excluded); the dataset is empty", path=root)
    ds = MERDataset(name, b.clips.drop(columns="_subject_number"), class_map["names"], fps, b.files,
                    channels=channels, size=size, manifest=manifest, frame_lists=b.lists, frames_kind=b.kind,
                    dropped=_dropped_frame(b.dropped))
    _announce(ds)
    return ds


def _composite_sources(manifest: dict, root, roots: dict | None) -> dict[str, Path]:
    out = {}
    for ds, candidates in manifest["layout"]["sources"].items():
        if roots and ds in roots:
            out[ds] = _check_root(roots[ds], ds, load_manifest(ds))
            continue
        if root is None:
            raise DatasetError(f"the composite needs the {ds} copy: pass root= (with sub-folders "
                               f"{candidates}) or roots={{'{ds}': PATH}}")
        out[ds] = readers.find_first(Path(root), candidates, f"{ds} folder of the composite", want_dir=True)
    return out


def _composite_csv(manifest: dict, root: Path | None, csv) -> Path:
    if csv is not None:
        p = Path(csv)
    elif root is None:
        p = None
    else:
        p = root / manifest["layout"]["csv"]
        if not p.is_file():
            # the challenge's files carry suffixes (a second version has '-2'): accept exactly one
            alts = sorted(q for q in root.glob(Path(manifest["layout"]["csv"]).stem + "*.csv") if q.is_file())
            if len(alts) == 1:
                p = alts[0]
    if p is None or not p.is_file():
        raise DatasetError(
            "the official MEGC2019 ground-truth CSV (combined_3class_gt.csv) is needed and was not found. "
            + manifest["request"].strip(), path=p)
    return p


def _load_composite(manifest: dict, root, *, csv, roots, classes, policy, missing_apex, channels, size,
                    sink: _Sink, frames=None):
    if classes not in ("megc3", "5class"):
        raise ValueError(f"classes must be one of {CLASS_SETTINGS}, got {classes!r}")
    if root is not None:
        root = _check_root(root, "megc2019_composite", manifest)
    csv_path = _composite_csv(manifest, root, csv)
    gt = readers.read_megc2019_csv(csv_path)
    sources = _composite_sources(manifest, root, roots)
    names = manifest["class_maps"]["megc3"]["names"]
    parts, files, lists, dropped, kinds = [], {}, {}, [], set()
    for ds, ds_root in sources.items():
        m = load_manifest(ds)
        want_rows = gt[gt["dataset"] == ds]
        want = {(int(s), k) for s, k in zip(want_rows["subject_number"], want_rows["clip_key"])}
        b = _build_single(ds, ds_root, m, sink, classes=None, policy=policy, missing_apex=missing_apex,
                          fps=m["fps"], frames=frames, want=want)
        kinds.add(b.kind)
        clips = b.clips
        clips["_key"] = [readers.clip_key(ds, c) for c in clips["clip"]]
        index = {(s, k): i for i, (s, k) in enumerate(zip(clips["_subject_number"], clips["_key"]))}
        gone = {(d["_key"][0], readers.clip_key(ds, d["_key"][1])): d for d in b.dropped}
        failed = {(s, readers.clip_key(ds, c)) for s, c in b.failed}
        take = []
        for g in want_rows.to_dict("records"):
            k = (int(g["subject_number"]), g["clip_key"])
            pos = index.get(k)
            if pos is None:
                if k in gone:
                    d = dict(gone[k])
                    d.update(dataset=ds, reason=d["reason"] + f"; listed on {g['row']} of {csv_path.name}",
                             source=str(csv_path), row=g["row"], label_name=names[g["label"]])
                    dropped.append(d)
                elif k not in failed:
                    sink.fail(DatasetError(
                        f"the CSV lists {ds} clip {g['clip']!r} of subject {g['subject_number']}, which is not in "
                        f"the {ds} copy at {ds_root}", path=csv_path, row=g["row"]))
                continue
            take.append((pos, g["label"]))
        sel = clips.iloc[[p for p, _ in take]].copy()
        sel["label"] = [lab for _, lab in take]
        sel["label_name"] = [names[lab] for _, lab in take]
        parts.append(sel)
        files.update(b.files)
        lists.update(b.lists)
    clips = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=CLIP_COLUMNS)
    if clips.empty:
        raise DatasetError("no clip of the MEGC2019 CSV was found on disk; the dataset is empty", path=csv_path)
    fps = {ds: load_manifest(ds)["fps"] for ds in sources}
    kind = kinds.pop() if len(kinds) == 1 else "+".join(sorted(kinds))
    ds_obj = MERDataset("megc2019_composite", clips[CLIP_COLUMNS], names, fps, files, channels=channels,
                        size=size, manifest=manifest, frame_lists=lists, frames_kind=kind,
                        dropped=_dropped_frame(dropped))
    return ds_obj, sources, csv_path, gt


# ------------------------------------------------------------------------------------------
# verification
# ------------------------------------------------------------------------------------------
@dataclass
class VerifyReport:
    """What :func:`verify_dataset` found. ``ok`` is True when ``problems`` is empty."""
    name: str
    root: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    repaired: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        lines = [f"merlib data verify: {self.name} at {self.root}"]
        for k, v in self.counts.items():
            lines.append(f"  {k:<22} {v}")
        if self.repaired:
            lines.append("known quirks repaired (exactly what load_dataset returns):")
            lines.extend(f"  - {q}: {n} clip(s)" for q, n in self.repaired.items())
        for n in self.notes:
            lines.append(f"  note: {n}")
        if self.problems:
            lines.append(f"PROBLEMS ({len(self.problems)}):")
            lines.extend(f"  - {p}" for p in self.problems)
        else:
            lines.append("OK: no problem found")
        return "\n".join(lines)


def _compare(report: VerifyReport, what: str, found, expected, source: str = "manifest", less: int = 0,
             why: str = "") -> None:
    if expected is None:
        report.counts[what] = found
        return
    want = expected - less
    shown = f"{expected}" + (f", less {less} {why}" if less else "")
    report.counts[what] = f"{found} ({source}: {shown})"
    if found != want:
        report.problems.append(f"{what}: found {found}, the {source} expects {want}"
                               + (f" ({expected} less {less} {why})" if less else ""))


def _sheet_expectations(manifest: dict, annotation_file: str | None) -> dict:
    """Counts the manifest documents for this version of the sheet (``{}``: none documented)."""
    versions = manifest["clips"].get("sheet_versions") or {}
    if annotation_file is None:
        return {}
    return dict(versions.get(Path(annotation_file).name) or {})


def _note_repairs(report: VerifyReport, clips: pd.DataFrame, dropped: pd.DataFrame, manifest_of) -> None:
    counter: Counter = Counter()
    n_no_apex = int(clips["fixes"].str.contains("no_apex(", regex=False).sum())
    if n_no_apex:
        report.notes.append(f"{n_no_apex} clips: no_apex: the release labels no apex; load_dataset estimates "
                            "it from the frames (clips['fixes'] has no_apex(->N) per clip)")
    for _, r in clips[clips["fixes"] != ""].iterrows():
        shown = ";".join(p for p in str(r["fixes"]).split(";") if not p.startswith("no_apex("))
        if shown:
            report.notes.append(f"{r['subject']}/{r['clip']}: quirk fixed: {shown}")
        for p in filter(None, str(r["fixes"]).split(";")):
            qid = p.split("(")[0]
            if qid not in _FLAGS:
                counter[qid] += 1
            if p.endswith("[unknown]"):
                report.problems.append(f"{r['path']}: {p} repaired, but this clip is not a known defect of the "
                                       "release (the copy differs from the public facts)")
    for _, d in dropped.iterrows():
        report.notes.append(f"{d['subject']}/{d['clip']}: dropped ({d['quirk']}): {d['reason']}")
        counter[f"{d['quirk']} (dropped)"] += 1
        if not d["known"]:
            report.problems.append(f"[{d['path']}] {d['quirk']}: not a known defect of the release; "
                                   "load_dataset drops the clip")
    report.repaired = dict(counter)


def verify_dataset(name: str, root: str | Path | None, *, read_frames: bool = True, classes: str = "5class",
                   csv=None, roots=None, progress: bool = True, frames: str | None = None,
                   quirks: str = "repair", missing_apex: str = "estimate") -> VerifyReport:
    """Check a local copy against its manifest and collect every problem.

    Runs the builder of :func:`load_dataset` with the same arguments (``frames``, ``quirks``,
    ``missing_apex``), so every note about a repaired quirk or a dropped clip describes exactly
    the dataset :func:`load_dataset` returns. Checks: the root and annotation file exist and have
    the manifest's columns; every annotation row has its folder and every onset..offset frame; apex
    and onset/offset are consistent; every label is known; clip folders without an annotation row
    (``__MACOSX`` and hidden entries are skipped); counts (rows of the sheet version found,
    subjects coded, clips per class) against the manifest, less the clips a known defect drops;
    with ``read_frames``, that every frame reads and decodes. Never raises for a bad copy: a
    permission error is a problem naming the file or folder.
    """
    from tqdm.auto import tqdm

    manifest = load_manifest(name)
    report = VerifyReport(name, str(root))
    sink = _Sink(True)
    policy = _policy(quirks, True)
    ds = None
    try:
        if name == "megc2019_composite":
            ds, sources, csv_path, gt = _load_composite(
                manifest, root, csv=csv, roots=roots, classes="megc3", policy=policy, missing_apex=missing_apex,
                channels=3, size=None, sink=sink, frames=frames)
            report.counts["frames"] = ds.frames_kind
            report.counts["CSV"] = f"{csv_path.name} ({len(gt)} rows)"
            if gt.attrs.get("blank_rows"):
                report.notes.append(f"{csv_path.name}: skipped {gt.attrs['blank_rows']} blank line(s) (',,,')")
            lost = list(zip(ds.dropped["dataset"], ds.dropped["label_name"], ds.dropped["known"].astype(bool)))
            why = "dropped by known quirks"
            per = manifest["clips"]["per_dataset"]
            for d in per:
                _compare(report, f"clips[{d}]", int((ds.clips["dataset"] == d).sum()), per[d],
                         less=sum(1 for x, _, k in lost if x == d and k), why=why)
            _compare(report, "clips", len(ds), manifest["clips"]["total"], less=sum(1 for *_, k in lost if k),
                     why=why)
            _compare(report, "subjects", len(ds.subjects), manifest["subjects"])
            for c, v in manifest["class_maps"]["megc3"]["expected_counts"].items():
                _compare(report, f"class {c}", ds.class_counts()[c], v,
                         less=sum(1 for _, lab, k in lost if lab == c and k), why=why)
            _note_repairs(report, ds.clips, ds.dropped, load_manifest)
        else:
            if name == "synthetic" and root is None:
                raise DatasetError("verify needs --root for the synthetic dataset (where it was generated)")
            root_p = _check_root(root, name, manifest)
            licensed = name in _LICENSED
            meta = _synthetic_meta(root_p) if name == "synthetic" else {}
            fps = _synthetic_fps(root_p, manifest["fps"]) if name == "synthetic" else manifest["fps"]
            class_map = _class_map(manifest, classes)
            b = _build_single(name, root_p, manifest, sink, classes=classes, policy=policy,
                              missing_apex=missing_apex, fps=fps, frames=frames)
            raw = b.raw
            report.counts["frames"] = f"{b.kind} ({b.frames_root})"
            ann_file = raw.attrs.get("annotation_file")
            n_rows = int(raw.attrs.get("annotation_rows", len(raw)))
            expect = _sheet_expectations(manifest, ann_file) if licensed else {}
            if meta:
                report.notes.append(f"synthetic preset {meta.get('preset')!r}, seed {meta.get('seed')}, "
                                    f"generator {meta.get('generator_version')}")
                _compare(report, "annotation rows", n_rows, meta.get("n_clips"), "generator record")
                _compare(report, "subjects", int(raw["subject_number"].nunique()), meta.get("n_subjects"),
                         "generator record")
            elif name == "smic_hs":
                _compare(report, "clip folders", n_rows, manifest["clips"]["total"] if licensed else None)
            else:
                if ann_file is not None:
                    report.counts["annotation file"] = Path(ann_file).name
                if licensed and "rows" not in expect:
                    report.notes.append(f"{Path(ann_file).name}: no row count is documented for this sheet "
                                        "version (manifest clips.sheet_versions); rows counted, not checked")
                _compare(report, "annotation rows", n_rows, expect.get("rows") if licensed else None)
            if not meta:
                coded = manifest["clips"].get("subjects_coded", manifest["subjects"])
                _compare(report, "subjects", int(raw["subject_number"].nunique()), coded if licensed else None)
                if licensed and coded != manifest["subjects"]:
                    report.notes.append(f"{manifest['title']}: the sheet codes micro-expressions of {coded} "
                                        f"subjects; the dataset has {manifest['subjects']} participants")
            # folders on disk without an annotation row
            if name != "smic_hs":
                listed = {str(Path(p)) for p in raw["folder"]}
                for sdir in readers.subfolders(b.frames_root):
                    try:
                        cdirs = readers.subfolders(sdir)
                    except DatasetError as exc:
                        report.problems.append(str(exc))
                        continue
                    for cdir in cdirs:
                        if str(cdir) not in listed:
                            report.problems.append(f"[{cdir}] clip folder has no annotation row")
            dropped_df = _dropped_frame(b.dropped)
            report.counts["clips (" + classes + ")"] = len(b.clips)
            lost = [(d.get("label_name"), bool(d.get("known"))) for d in b.dropped]
            why = "dropped by known quirks"
            if name == "smic_hs" and licensed:
                _compare(report, "clips loaded", len(b.clips), manifest["clips"]["total"],
                         less=sum(1 for _, k in lost if k), why=why)
            expected = class_map.get("expected_counts") if licensed else None
            documented_for = class_map.get("counts_for_sheet")
            if expected and documented_for and ann_file and Path(ann_file).name != documented_for:
                report.notes.append(f"per-class counts are documented for {documented_for}; this copy has "
                                    f"{Path(ann_file).name}: classes counted, compared in total only")
                if expect.get(classes) is not None:
                    _compare(report, f"clips ({classes}) total", len(b.clips), expect.get(classes))
                expected = None
            if meta and classes == "5class" and isinstance(meta.get("class_counts"), dict):
                expected = {k: int(v) for k, v in meta["class_counts"].items()}
            counts = Counter(b.clips["label_name"])
            source = "generator record" if meta else "manifest"
            for c in class_map["names"]:
                _compare(report, f"class {c}", int(counts.get(c, 0)), None if not expected else expected.get(c),
                         source, less=sum(1 for lab, k in lost if lab == c and k), why=why)
            _note_repairs(report, b.clips, dropped_df, load_manifest)
            ds = MERDataset(name, b.clips.drop(columns="_subject_number"), class_map["names"], fps, b.files,
                            frame_lists=b.lists, frames_kind=b.kind, dropped=dropped_df)
        if read_frames:
            bad = 0
            for i in tqdm(range(len(ds)), desc=f"reading {name} frames", disable=not progress):
                for p in ds.frame_paths(i):
                    try:
                        read_image(p)
                    except DatasetError as exc:
                        bad += 1
                        report.problems.append(str(exc))
            report.counts["frames read"] = int(ds.clips["n_frames"].sum())
            report.counts["unreadable frames"] = bad
    except DatasetError as exc:
        report.problems.append(str(exc))
    except ValueError as exc:
        report.problems.append(f"invalid argument: {exc}")
    except OSError as exc:  # a last net: verify reports, it never crashes on a bad copy
        report.problems.append(f"[{exc.filename}] {type(exc).__name__}: {exc.strerror or exc}")
    report.problems[:0] = sink.problems
    return report
