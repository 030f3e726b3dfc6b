"""Write a synthetic dataset in CASME II's on-disk layout (so the CASME II reader reads it unchanged).

::

    ROOT/CASME2-RAW/subXX/EPxx_yyz/img{N}.jpg        N = original frame numbers onset..offset
    ROOT/CASME2-coding-20140508.xlsx                 Subject, Filename, (empty), OnsetFrame, ApexFrame,
                                                     OffsetFrame, (empty), Action Units, Estimated Emotion
    ROOT/synthetic_meta.json                         preset, seed, generator version, fps, size, config
    ROOT/ground_truth/subXX/EPxx_yyz.json            the ClipSpec: re-renders frames, flow, magnification
    ROOT/.complete                                   written last: a killed generation is redone

The column layout follows CASME II's coding sheet (Yan et al., PLoS ONE 2014), whose third and
seventh columns have empty headers (pandas reads them as ``Unnamed: 2`` / ``Unnamed: 6``).
Dense flow fields are not stored: :func:`~merlib.data.synthetic.render.render_clip` re-renders them.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from merlib.data.errors import DatasetError
from merlib.data.synthetic.presets import SyntheticConfig, get_config, sample_specs
from merlib.data.synthetic.render import _render, _size
from merlib.data.synthetic.spec import ClipSpec
from merlib.env import device as resolve_device
from merlib.paths import cache_dir
from merlib.results import atomic_write_json

__all__ = ["GENERATOR_VERSION", "generate", "load_spec", "load_specs", "spec_from_clip_dir", "dataset_key",
           "write_clip_frames", "CODING_SHEET", "RAW_DIR", "CODING_COLUMNS"]

#: Bump when the rendering or the drawing of specs changes (it is part of the cache key).
GENERATOR_VERSION = "1.0"
RAW_DIR = "CASME2-RAW"
CODING_SHEET = "CASME2-coding-20140508.xlsx"
#: The coding sheet's columns as pandas reads them back.
CODING_COLUMNS = ("Subject", "Filename", "Unnamed: 2", "OnsetFrame", "ApexFrame", "OffsetFrame",
                  "Unnamed: 6", "Action Units", "Estimated Emotion")
_MARKER = ".complete"
_META = "synthetic_meta.json"


def dataset_key(cfg: SyntheticConfig, seed: int) -> str:
    """Cache folder name: preset, seed, generator version and a hash of the full config."""
    blob = json.dumps({"config": cfg.to_dict(), "seed": int(seed), "version": GENERATOR_VERSION}, sort_keys=True)
    digest = hashlib.sha1(blob.encode()).hexdigest()[:10]
    return f"{cfg.name}-seed{int(seed)}-v{GENERATOR_VERSION}-{digest}"


def _subject_dir(subject: int) -> str:
    return f"sub{int(subject):02d}"


def write_clip_frames(folder: Path, spec: ClipSpec, frames) -> None:
    """Write ``frames`` ``(T, C, H, W)`` in [0, 1] as ``img{N}.jpg`` for N = onset..offset."""
    folder.mkdir(parents=True, exist_ok=True)
    q = spec.nuisance.jpeg_quality
    params = [cv2.IMWRITE_JPEG_QUALITY, int(q) if q is not None else 100]
    if q is None and hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR"):
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    arr = (frames.detach().cpu().clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    for t, number in enumerate(spec.frame_numbers):
        if not spec.onset <= number <= spec.offset:
            continue
        img = arr[t].transpose(1, 2, 0)
        img = img[..., 0] if img.shape[-1] == 1 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        path = folder / f"img{int(number)}.jpg"
        if not cv2.imwrite(str(path), img, params):
            raise OSError(f"synthetic: could not write {path}")


def _coding_sheet(specs: list[ClipSpec]) -> pd.DataFrame:
    rows = [[s.subject, s.clip, None, s.onset, s.apex, s.offset, None, s.action_units, s.label] for s in specs]
    cols = ["Subject", "Filename", "", "OnsetFrame", "ApexFrame", "OffsetFrame", "", "Action Units",
            "Estimated Emotion"]
    df = pd.DataFrame(rows, columns=cols)
    for c in ("Subject", "OnsetFrame", "ApexFrame", "OffsetFrame"):
        df[c] = df[c].astype(int)
    return df


def _looks_like_ours(root: Path) -> bool:
    allowed = {RAW_DIR, CODING_SHEET, _META, "ground_truth", _MARKER}
    return all(p.name in allowed or p.name.startswith(".") for p in root.iterdir())


def generate(preset: str = "small", root=None, seed: int = 0, overwrite: bool = False, progress: bool = True,
             device="auto", **overrides) -> Path:
    """Write (or find cached) a synthetic micro-expression dataset in CASME II's layout; return ROOT.

    Args:
        preset: ``"tiny"``, ``"small"`` or ``"casme2"`` (see :data:`PRESETS`).
        root: where to write; ``None`` = ``merlib.paths.cache_dir("synthetic") / dataset_key(...)``.
        seed: the dataset's seed (same preset + seed + overrides + generator version = same files).
        overwrite: regenerate even when a complete copy exists.
        progress: show a ``tqdm`` bar over clips.
        device: where to render (``"auto"``: CUDA when present). CPU and GPU renders agree up to
            float rounding, so a JPEG byte may differ between machines; the specs never do.
        **overrides: any :class:`SyntheticConfig` field, e.g. ``size=(96, 96)``, ``noise=False``,
            ``channels=1`` (grey), ``fps=100``.

    A folder counts as done only when its ``.complete`` marker exists and records the same key;
    a half-written folder (killed run) is removed and written again.

    Raises:
        ValueError: unknown preset/override, bad seed, or ``root`` holding files that are not a
            synthetic dataset (merlib never deletes those), or a different complete dataset
            there without ``overwrite=True``.
    """
    cfg = get_config(preset, **overrides)
    specs = sample_specs(cfg, seed)
    key = dataset_key(cfg, seed)
    root = Path(root).expanduser() if root is not None else cache_dir("synthetic") / key
    marker = root / _MARKER
    if marker.exists() and not overwrite:
        try:
            done = json.loads(marker.read_text()).get("key")
        except (OSError, ValueError):
            done = None
        if done == key:
            return root
        raise ValueError(f"synthetic.generate: {root} holds another synthetic dataset ({done!r}, wanted {key!r}); "
                         "pass overwrite=True or another `root`")
    if root.exists():
        if not root.is_dir():
            raise ValueError(f"synthetic.generate: `root` {root} exists and is not a folder")
        if not _looks_like_ours(root):
            raise ValueError(f"synthetic.generate: `root` {root} holds files that are not a synthetic dataset; "
                             "refusing to overwrite it -- choose an empty or new folder")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    dev = resolve_device(device)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        tqdm = None
    it = tqdm(specs, desc=f"synthetic:{cfg.name}", unit="clip") if (progress and tqdm) else specs
    t0 = time.perf_counter()
    n_frames = 0
    for spec in it:
        frames, _ = _render(spec, _size(spec, None), 1.0, dev, frames=True)
        write_clip_frames(root / RAW_DIR / _subject_dir(spec.subject) / spec.clip, spec, frames)
        atomic_write_json(root / "ground_truth" / _subject_dir(spec.subject) / f"{spec.clip}.json",
                          {"generator_version": GENERATOR_VERSION, **spec.to_dict()})
        n_frames += spec.n_frames
    _coding_sheet(specs).to_excel(root / CODING_SHEET, index=False, engine="openpyxl")
    meta = {
        "preset": cfg.name, "seed": int(seed), "generator_version": GENERATOR_VERSION, "key": key,
        "fps": cfg.fps, "size": list(cfg.size), "channels": cfg.channels, "n_subjects": cfg.n_subjects,
        "n_clips": len(specs), "n_frames": n_frames, "class_counts": cfg.class_counts,
        "config": cfg.to_dict(), "layout": "casme2",
        "render_seconds": round(time.perf_counter() - t0, 3),
    }
    atomic_write_json(root / _META, meta)
    atomic_write_json(marker, {"key": key})
    return root


def _resolve_subject(subject) -> int:
    if isinstance(subject, (int, np.integer)) and not isinstance(subject, bool):
        return int(subject)
    m = re.fullmatch(r"(?:.*_)?sub(\d+)", str(subject))
    if not m:
        raise ValueError(f"load_spec: `subject` must be an int or 'subXX' (optionally prefixed), got {subject!r}")
    return int(m.group(1))


def load_spec(root, subject, clip: str) -> ClipSpec:
    """Read the :class:`ClipSpec` of clip ``clip`` of ``subject`` (1, ``"sub01"`` or
    ``"synthetic_sub01"``) from a dataset written by :func:`generate`.

    Raises:
        merlib.data.DatasetError: no ground truth for that clip under ``root``.
    """
    path = Path(root) / "ground_truth" / _subject_dir(_resolve_subject(subject)) / f"{clip}.json"
    if not path.is_file():
        raise DatasetError(f"synthetic: no ground truth for clip {clip!r} of subject {subject!r} (is {root} a "
                           "synthetic dataset written by merlib.data.synthetic.generate?)", path=path)
    with open(path) as fh:
        d = json.load(fh)
    d.pop("generator_version", None)
    return ClipSpec.from_dict(d)


def load_specs(root) -> list[ClipSpec]:
    """Every clip's spec of a written dataset, sorted by subject then clip."""
    gt = Path(root) / "ground_truth"
    if not gt.is_dir():
        raise DatasetError("synthetic: the ground-truth folder is missing (not a synthetic dataset root?)", path=gt)
    return [load_spec(root, int(p.parent.name[3:]), p.stem) for p in sorted(gt.glob("sub*/*.json"))]


def spec_from_clip_dir(clip_dir) -> ClipSpec:
    """The spec of a written clip folder ``ROOT/CASME2-RAW/subXX/CLIP``."""
    clip_dir = Path(clip_dir)
    if clip_dir.parent.parent.name != RAW_DIR:
        raise ValueError(f"synthetic: {clip_dir} is not a clip folder ROOT/{RAW_DIR}/subXX/CLIP")
    return load_spec(clip_dir.parents[2], clip_dir.parent.name, clip_dir.name)
