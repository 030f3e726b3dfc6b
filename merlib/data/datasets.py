"""Micro-expression datasets as objects: a pandas table of clips plus lazy frame access.

``load_dataset(name, root, classes)`` reads a local copy of CASME II, SAMM, SMIC-HS, the
MEGC2019 composite, or merlib's synthetic dataset (generated on first use and then read
with the *same* CASME II reader), applies the known annotation fixes that the dataset's
manifest lists (each recorded per clip in the ``fixes`` column), maps emotions to class
indices, and returns a :class:`MERDataset`.

The design follows MEB (github.com/tvaranka/meb): datasets are objects with a data frame of
clips and lazily loaded frames; annotation fixes are code with a reason; validators are
separate from models. The code here is merlib's own.

Every malformed case raises :class:`~merlib.data.errors.DatasetError` naming the file or
annotation row. :func:`verify_dataset` runs the same checks but collects every problem
instead of stopping at the first (``python -m merlib data verify NAME --root PATH``).
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from merlib.data import readers
from merlib.data.errors import DatasetError
from merlib.data.manifest import load_manifest

__all__ = ["MERDataset", "load_dataset", "verify_dataset", "VerifyReport", "read_image", "CLIP_COLUMNS",
           "CLASS_SETTINGS"]

#: Columns of ``MERDataset.clips`` (in this order; the last ones are extras merlib adds).
CLIP_COLUMNS = ["dataset", "subject", "clip", "onset", "apex", "offset", "label", "label_name",
                "n_frames", "path", "emotion", "apex_source", "fixes", "fps", "action_units"]
#: Accepted values of ``classes``.
CLASS_SETTINGS = ("5class", "megc3")
_LICENSED = ("casme2", "samm", "smic_hs")
_READERS: dict[str, Callable] = {"casme2": readers.read_casme2, "samm": readers.read_samm,
                                 "smic_hs": readers.scan_smic_hs}


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
        DatasetError: the file is missing or cannot be decoded.
    """
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DatasetError("frame file not found", path=path)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DatasetError("cannot decode the image file (corrupt or not an image)", path=path)
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
            numbers as annotated), label (int), label_name, n_frames (= offset - onset + 1),
            path (the clip folder), and extras: emotion (the annotated emotion), apex_source
            (``annotation`` | ``estimated`` | ``middle``), fixes (quirk fixes applied, ``;``-joined),
            fps, action_units.
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
                 size=None, manifest: dict | None = None):
        self.name = name
        self.clips = clips.reset_index(drop=True)
        self.class_names = list(class_names)
        self.fps = fps
        self.channels = channels
        self.size = size
        self.manifest = manifest
        self._frame_files = frame_files

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

    def __repr__(self) -> str:
        counts = Counter(self.clips["label_name"])
        parts = ", ".join(f"{c}: {counts.get(c, 0)}" for c in self.class_names)
        return (f"MERDataset({self.name!r}, {len(self)} clips, {len(self.subjects)} subjects, "
                f"{self.num_classes} classes [{parts}])")

    def class_counts(self) -> dict[str, int]:
        counts = Counter(self.clips["label_name"])
        return {c: int(counts.get(c, 0)) for c in self.class_names}

    def subset(self, rows) -> "MERDataset":
        """A dataset of some clips: ``rows`` is a boolean mask or a sequence of positions."""
        rows = np.asarray(rows)
        sub = self.clips[rows] if rows.dtype == bool else self.clips.iloc[rows]
        return MERDataset(self.name, sub, self.class_names, self.fps, self._frame_files,
                          channels=self.channels, size=self.size, manifest=self.manifest)

    # -- frames ------------------------------------------------------------------------------
    def _check_index(self, i) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise ValueError(f"clip index must be an int, got {i!r}")
        n = len(self)
        if not -n <= i < n:
            raise ValueError(f"clip index {i} out of range for a dataset of {n} clips")
        return int(i) % n

    def frame_paths(self, i: int) -> list[Path]:
        """The image files of clip ``i`` from onset to offset."""
        i = self._check_index(i)
        row = self.clips.iloc[i]
        files = self._frame_files[row["path"]]
        return [files[n] for n in range(int(row["onset"]), int(row["offset"]) + 1)]

    def frames(self, i: int, indices=None, size=None) -> torch.Tensor:
        """Frames of clip ``i`` as a ``(T, C, H, W)`` float32 tensor in [0, 1].

        Args:
            i: clip position in ``clips``.
            indices: frame positions relative to the onset (0 = onset, ``n_frames - 1`` = offset);
                ``None`` loads every frame from onset to offset.
            size: ``int`` or ``(H, W)`` to resize (antialiased bilinear); ``None`` keeps the size.

        Raises:
            ValueError: ``i``, ``indices`` or ``size`` is invalid.
            DatasetError: a frame file is missing or cannot be decoded, or the frames of the
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
        onset = int(row["onset"])
        images = []
        for k in idx:
            number = onset + int(k)
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
# building the clip table
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


def _fill_apex(files: dict[int, Path], onset: int, offset: int, method: str) -> int:
    if method == "middle":
        return (onset + offset) // 2
    from merlib.data.frames import estimate_apex

    numbers = list(range(onset, offset + 1))
    if len(numbers) <= 2:
        return numbers[-1]
    # greyscale at about 64 px on the short side: enough for frame differences, and fast
    images, size = [], None
    for n in numbers:
        img = read_image(files[n], 1)
        if size is None:
            h, w = img.shape[-2:]
            s = min(1.0, 64 / min(h, w))
            size = (max(1, round(h * s)), max(1, round(w * s)))
        images.append(_resize(img[None], size)[0])
    return onset + int(estimate_apex(torch.stack(images)))


def _process(name: str, raw: pd.DataFrame, manifest: dict, sink: _Sink, *, fix_quirks: bool,
             missing_apex: str, class_map: dict | None, fps) -> tuple[pd.DataFrame, dict]:
    """Validate rows, apply quirk fixes, map labels. Returns (clips, frame files per folder)."""
    subject_format = manifest["annotation"]["subject_format"]
    rows, frame_files = [], {}
    if class_map is not None:
        names = class_map["names"]
        mapping = class_map["map"]
        exclude = set(class_map.get("exclude") or [])
    known = set(manifest["annotation"].get("emotions") or [])
    for _, r in raw.iterrows():
        folder = Path(r["folder"])
        err_kw = {"path": r["source"], "row": r["row"]}
        label_name = r["emotion"]
        if class_map is not None:
            if label_name in exclude:
                continue
            if label_name not in mapping:
                sink.fail(DatasetError(
                    f"unknown label {r['emotion']!r}; expected one of {sorted(set(mapping) | exclude)}", **err_kw))
                continue
            label_name = mapping[label_name]
            label = names.index(label_name)
        else:  # raw mode (used by the composite): keep every known emotion
            if known and label_name not in known:
                sink.fail(DatasetError(f"unknown label {r['emotion']!r}; expected one of {sorted(known)}", **err_kw))
                continue
            label = -1
        try:
            files = readers.list_frames(folder)
        except DatasetError as exc:
            sink.fail(DatasetError(f"{exc.message}: {exc.path} (clip {r['clip']}, subject {r['subject_number']})",
                                   **err_kw))
            continue
        onset, apex, offset = int(r["onset"]), int(r["apex"]), int(r["offset"])
        fixes = []
        if offset < onset:
            last = max(files)
            if fix_quirks and last >= onset and (apex < 0 or apex <= last):
                fixes.append(f"offset_before_onset({offset}->{last})")
                offset = last
            else:
                sink.fail(DatasetError(f"onset {onset} > offset {offset}; expected onset <= offset", **err_kw))
                continue
        missing = [n for n in range(onset, offset + 1) if n not in files]
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
            sink.fail(DatasetError(
                f"{len(missing)} frame(s) of onset..offset {onset}..{offset} missing from the clip folder "
                f"{folder}: {shown}", **err_kw))
            continue
        apex_source = "annotation"
        if apex < 0 or not onset <= apex <= offset:
            kind = "apex_missing" if apex < 0 else "apex_outside_clip"
            if not fix_quirks:
                msg = ("apex is missing" if apex < 0 else
                       f"apex {apex} outside onset..offset {onset}..{offset}")
                sink.fail(DatasetError(msg + "; expected an apex within onset..offset", **err_kw))
                continue
            try:
                new = _fill_apex(files, onset, offset, missing_apex)
            except DatasetError as exc:
                sink.fail(exc)
                continue
            fixes.append(f"{kind}({apex}->{new})" if apex >= 0 else f"{kind}(->{new})")
            apex, apex_source = new, ("middle" if missing_apex == "middle" else "estimated")
        elif apex == onset:
            fixes.append("onset_equals_apex(kept)")
        frame_files[str(folder)] = files
        subj = subject_format.format(subject=int(r["subject_number"]))
        rows.append({
            "dataset": name, "subject": f"{name}_{subj}", "clip": r["clip"], "onset": onset, "apex": apex,
            "offset": offset, "label": label, "label_name": label_name, "n_frames": offset - onset + 1,
            "path": str(folder), "emotion": r["emotion"], "apex_source": apex_source,
            "fixes": ";".join(fixes), "fps": fps, "action_units": r["action_units"],
            "_subject_number": int(r["subject_number"]),
        })
    clips = pd.DataFrame(rows, columns=CLIP_COLUMNS + ["_subject_number"])
    return clips, frame_files


def _check_root(root, name: str, manifest: dict) -> Path:
    if root is None:
        raise DatasetError(
            f"{manifest['title']} is licensed and not part of merlib; pass root=PATH to your local copy. "
            f"How to request it: {manifest['request'].strip()}"
        )
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset root for {name!r} not found", path=root)
    if not root.is_dir():
        raise DatasetError(f"dataset root for {name!r} must be a folder", path=root)
    return root


def _class_map(manifest: dict, classes: str) -> dict:
    if classes not in CLASS_SETTINGS:
        raise ValueError(f"classes must be one of {CLASS_SETTINGS}, got {classes!r}")
    maps = manifest["class_maps"]
    if classes not in maps:
        raise ValueError(f"dataset {manifest['name']!r} offers the class settings {sorted(maps)}, not {classes!r}")
    return maps[classes]


def _build_single(name: str, root: Path, manifest: dict, sink: _Sink, *, classes: str | None,
                  fix_quirks: bool, missing_apex: str, fps) -> tuple[pd.DataFrame, dict]:
    reader = _READERS[manifest.get("reader", name)]
    raw = reader(root, manifest)
    if raw.empty:
        raise DatasetError(f"the {manifest['title']} annotation lists no clip", path=root)
    class_map = None if classes is None else _class_map(manifest, classes)
    return _process(name, raw, manifest, sink, fix_quirks=fix_quirks, missing_apex=missing_apex,
                    class_map=class_map, fps=fps)


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


def load_dataset(name: str, root: str | Path | None = None, classes: str = "5class", *,
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
        missing_apex: how a missing or out-of-clip apex is filled when ``fix_quirks``:
            ``"estimate"`` (:func:`merlib.data.frames.estimate_apex` on the frames) or ``"middle"``.
        fix_quirks: apply the manifest's quirk fixes; ``False`` raises on every quirk instead.
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
            or annotation row).
    """
    manifest = load_manifest(name)
    if missing_apex not in ("estimate", "middle"):
        raise ValueError(f"missing_apex must be 'estimate' or 'middle', got {missing_apex!r}")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be None, 1 or 3, got {channels!r}")
    if size is not None:
        _size_arg(size)
    if synthetic_options and name != "synthetic":
        raise ValueError(f"load_dataset: unexpected arguments {sorted(synthetic_options)} for {name!r} "
                         "(generator options apply to name='synthetic' only)")
    if name == "megc2019_composite":
        return _load_composite(manifest, root, csv=csv, roots=roots, classes=classes, fix_quirks=fix_quirks,
                               missing_apex=missing_apex, channels=3 if channels is None else channels,
                               size=size, sink=_Sink(False))[0]
    class_map = _class_map(manifest, classes)
    if name == "synthetic":
        root = _synthetic_root(root, preset, seed, synthetic_options)
        fps = _synthetic_fps(root, manifest["fps"])
    else:
        root = _check_root(root, name, manifest)
        fps = manifest["fps"]
    clips, files = _build_single(name, root, manifest, _Sink(False), classes=classes, fix_quirks=fix_quirks,
                                 missing_apex=missing_apex, fps=fps)
    if clips.empty:
        raise DatasetError(f"no clip of the classes {class_map['names']} is left in {manifest['title']} "
                           f"(every row was excluded); the dataset is empty", path=root)
    return MERDataset(name, clips.drop(columns="_subject_number"), class_map["names"], fps, files,
                      channels=channels, size=size, manifest=manifest)


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


def _load_composite(manifest: dict, root, *, csv, roots, classes, fix_quirks, missing_apex, channels, size,
                    sink: _Sink):
    if classes not in ("megc3", "5class"):
        raise ValueError(f"classes must be one of {CLASS_SETTINGS}, got {classes!r}")
    if root is not None:
        root = _check_root(root, "megc2019_composite", manifest)
    csv_path = Path(csv) if csv is not None else (None if root is None else root / manifest["layout"]["csv"])
    if csv_path is None or not csv_path.is_file():
        raise DatasetError(
            "the official MEGC2019 ground-truth CSV (combined_3class_gt.csv) is needed and was not found. "
            + manifest["request"].strip(), path=csv_path)
    gt = readers.read_megc2019_csv(csv_path)
    sources = _composite_sources(manifest, root, roots)
    names = manifest["class_maps"]["megc3"]["names"]
    parts, files = [], {}
    for ds, ds_root in sources.items():
        m = load_manifest(ds)
        clips, f = _build_single(ds, ds_root, m, sink, classes=None, fix_quirks=fix_quirks,
                                 missing_apex=missing_apex, fps=m["fps"])
        clips["_key"] = [readers.clip_key(ds, c) for c in clips["clip"]]
        want = gt[gt["dataset"] == ds]
        index = {(s, k): i for i, (s, k) in enumerate(zip(clips["_subject_number"], clips["_key"]))}
        take = []
        for _, g in want.iterrows():
            pos = index.get((g["subject_number"], g["clip_key"]))
            if pos is None:
                sink.fail(DatasetError(
                    f"the CSV lists {ds} clip {g['clip']!r} of subject {g['subject_number']}, which is not in "
                    f"the {ds} copy at {ds_root}", path=csv_path, row=g["row"]))
                continue
            take.append((pos, g["label"]))
        sel = clips.iloc[[p for p, _ in take]].copy()
        sel["label"] = [lab for _, lab in take]
        sel["label_name"] = [names[lab] for _, lab in take]
        parts.append(sel)
        files.update(f)
    clips = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=CLIP_COLUMNS)
    if clips.empty:
        raise DatasetError("no clip of the MEGC2019 CSV was found on disk; the dataset is empty", path=csv_path)
    fps = {ds: load_manifest(ds)["fps"] for ds in sources}
    ds_obj = MERDataset("megc2019_composite", clips[CLIP_COLUMNS], names, fps, files, channels=channels,
                        size=size, manifest=manifest)
    return ds_obj, sources, csv_path


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

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        lines = [f"merlib data verify: {self.name} at {self.root}"]
        for k, v in self.counts.items():
            lines.append(f"  {k:<22} {v}")
        for n in self.notes:
            lines.append(f"  note: {n}")
        if self.problems:
            lines.append(f"PROBLEMS ({len(self.problems)}):")
            lines.extend(f"  - {p}" for p in self.problems)
        else:
            lines.append("OK: no problem found")
        return "\n".join(lines)


def _compare(report: VerifyReport, what: str, found, expected, source: str = "manifest") -> None:
    report.counts[what] = f"{found} ({source}: {expected})" if expected is not None else found
    if expected is not None and found != expected:
        report.problems.append(f"{what}: found {found}, the {source} expects {expected}")


def verify_dataset(name: str, root: str | Path | None, *, read_frames: bool = True, classes: str = "5class",
                   csv=None, roots=None, progress: bool = True) -> VerifyReport:
    """Check a local copy against its manifest and collect every problem.

    Checks: the root and annotation file exist and have the manifest's columns; every annotation
    row has its folder and every onset..offset frame; apex and onset/offset are consistent; every
    label is known; clip folders without an annotation row; counts (rows, subjects, clips per class)
    against the manifest; with ``read_frames``, that every frame decodes.
    """
    from tqdm.auto import tqdm

    manifest = load_manifest(name)
    report = VerifyReport(name, str(root))
    sink = _Sink(True)
    try:
        if name == "megc2019_composite":
            ds, sources, csv_path = _load_composite(manifest, root, csv=csv, roots=roots, classes="megc3",
                                                    fix_quirks=True, missing_apex="middle", channels=3,
                                                    size=None, sink=sink)
            per = manifest["clips"]["per_dataset"]
            for d in per:
                _compare(report, f"clips[{d}]", int((ds.clips["dataset"] == d).sum()), per[d])
            _compare(report, "clips", len(ds), manifest["clips"]["total"])
            _compare(report, "subjects", len(ds.subjects), manifest["subjects"])
            for c, v in manifest["class_maps"]["megc3"]["expected_counts"].items():
                _compare(report, f"class {c}", ds.class_counts()[c], v)
        else:
            if name == "synthetic" and root is None:
                raise DatasetError("verify needs --root for the synthetic dataset (where it was generated)")
            root_p = _check_root(root, name, manifest)
            reader = _READERS[manifest.get("reader", name)]
            raw = reader(root_p, manifest)
            licensed = name in _LICENSED
            meta = _synthetic_meta(root_p) if name == "synthetic" else {}
            if meta:
                report.notes.append(f"synthetic preset {meta.get('preset')!r}, seed {meta.get('seed')}, "
                                    f"generator {meta.get('generator_version')}")
                _compare(report, "annotation rows", len(raw), meta.get("n_clips"), "generator record")
                _compare(report, "subjects", int(raw["subject_number"].nunique()), meta.get("n_subjects"),
                         "generator record")
            elif manifest["clips"].get("annotation_rows") is not None and licensed:
                _compare(report, "annotation rows", len(raw), manifest["clips"]["annotation_rows"])
            else:
                report.counts["annotation rows" if name != "smic_hs" else "clip folders"] = len(raw)
            if not meta:
                _compare(report, "subjects", int(raw["subject_number"].nunique()),
                         manifest["subjects"] if licensed else None)
            if licensed and name == "smic_hs":
                _compare(report, "clips", len(raw), manifest["clips"]["total"])
            # folders on disk without an annotation row
            if name != "smic_hs":
                frames_root = readers.find_first(root_p, manifest["layout"]["frames_dirs"], "frame folder",
                                                 want_dir=True)
                listed = {str(Path(p)) for p in raw["folder"]}
                extra = []
                for sdir in sorted(p for p in frames_root.iterdir() if p.is_dir()):
                    for cdir in sorted(p for p in sdir.iterdir() if p.is_dir()):
                        if str(cdir) not in listed:
                            extra.append(cdir)
                for cdir in extra:
                    report.problems.append(f"[{cdir}] clip folder has no annotation row")
            class_map = _class_map(manifest, classes)
            clips, files = _process(name, raw, manifest, sink, fix_quirks=True, missing_apex="middle",
                                    class_map=class_map, fps=manifest["fps"])
            report.counts["clips (" + classes + ")"] = len(clips)
            expected = class_map.get("expected_counts") if licensed else None
            if meta and classes == "5class" and isinstance(meta.get("class_counts"), dict):
                expected = {k: int(v) for k, v in meta["class_counts"].items()}
            counts = Counter(clips["label_name"])
            source = "generator record" if meta else "manifest"
            for c in class_map["names"]:
                _compare(report, f"class {c}", int(counts.get(c, 0)), None if not expected else expected.get(c),
                         source)
            fixed = clips[clips["fixes"] != ""]
            for _, r in fixed.iterrows():
                report.notes.append(f"{r['subject']}/{r['clip']}: quirk fixed: {r['fixes']}")
            ds = MERDataset(name, clips.drop(columns="_subject_number"), class_map["names"], manifest["fps"],
                            files)
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
    report.problems[:0] = sink.problems
    return report
