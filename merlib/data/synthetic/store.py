"""Reading a written synthetic dataset back: where each clip's ground truth lives and how to load it.

The read side of :mod:`merlib.data.synthetic.writer`, kept in its own module so that the renderer
(which accepts a clip folder and needs its spec) and the writer (which needs the renderer) do not
import each other: ``spec -> store -> render -> writer``.

::

    ROOT/CASME2-RAW/subXX/EPxx_yyz/img{N}.jpg        the frames (written by the writer)
    ROOT/ground_truth/subXX/EPxx_yyz.json            the ClipSpec, read here
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from merlib.data.errors import DatasetError
from merlib.data.synthetic.spec import ClipSpec

__all__ = ["RAW_DIR", "CODING_SHEET", "GROUND_TRUTH_DIR", "subject_dir", "load_spec", "load_specs",
           "spec_from_clip_dir"]

RAW_DIR = "CASME2-RAW"
CODING_SHEET = "CASME2-coding-20140508.xlsx"
GROUND_TRUTH_DIR = "ground_truth"


def subject_dir(subject: int) -> str:
    """``"subXX"``: the folder name of subject number ``subject``."""
    return f"sub{int(subject):02d}"


def _resolve_subject(subject) -> int:
    if isinstance(subject, (int, np.integer)) and not isinstance(subject, bool):
        return int(subject)
    m = re.fullmatch(r"(?:.*_)?sub(\d+)", str(subject))
    if not m:
        raise ValueError(f"load_spec: `subject` must be an int or 'subXX' (optionally prefixed), got {subject!r}")
    return int(m.group(1))


def load_spec(root, subject, clip: str) -> ClipSpec:
    """Read the :class:`ClipSpec` of clip ``clip`` of ``subject`` (1, ``"sub01"`` or
    ``"synthetic_sub01"``) from a dataset written by :func:`merlib.data.synthetic.generate`.

    Raises:
        merlib.data.DatasetError: no ground truth for that clip under ``root``.
    """
    path = Path(root) / GROUND_TRUTH_DIR / subject_dir(_resolve_subject(subject)) / f"{clip}.json"
    if not path.is_file():
        raise DatasetError(f"synthetic: no ground truth for clip {clip!r} of subject {subject!r} (is {root} a "
                           "synthetic dataset written by merlib.data.synthetic.generate?)", path=path)
    with open(path) as fh:
        d = json.load(fh)
    d.pop("generator_version", None)
    return ClipSpec.from_dict(d)


def load_specs(root) -> list[ClipSpec]:
    """Every clip's spec of a written dataset, sorted by subject then clip."""
    gt = Path(root) / GROUND_TRUTH_DIR
    if not gt.is_dir():
        raise DatasetError("synthetic: the ground-truth folder is missing (not a synthetic dataset root?)", path=gt)
    return [load_spec(root, int(p.parent.name[3:]), p.stem) for p in sorted(gt.glob("sub*/*.json"))]


def spec_from_clip_dir(clip_dir) -> ClipSpec:
    """The spec of a written clip folder ``ROOT/CASME2-RAW/subXX/CLIP``."""
    clip_dir = Path(clip_dir)
    if clip_dir.parent.parent.name != RAW_DIR:
        raise ValueError(f"synthetic: {clip_dir} is not a clip folder ROOT/{RAW_DIR}/subXX/CLIP")
    return load_spec(clip_dir.parents[2], clip_dir.parent.name, clip_dir.name)
