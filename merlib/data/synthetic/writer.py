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
Reading a written dataset back (``load_spec``, ``load_specs``, ``spec_from_clip_dir``) lives in
:mod:`merlib.data.synthetic.store` (re-exported here), so that the renderer can take a clip folder
without importing this module.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from merlib.data.synthetic.presets import SyntheticConfig, get_config, sample_specs
from merlib.data.synthetic.render import _render, _size
from merlib.data.synthetic.spec import ClipSpec
from merlib.data.synthetic.store import CODING_SHEET, GROUND_TRUTH_DIR, RAW_DIR, load_spec, load_specs
from merlib.data.synthetic.store import spec_from_clip_dir
from merlib.data.synthetic.store import subject_dir as _subject_dir
from merlib.env import device as resolve_device
from merlib.paths import cache_dir
from merlib.results import atomic_write_json

__all__ = ["GENERATOR_VERSION", "generate", "load_spec", "load_specs", "spec_from_clip_dir", "dataset_key",
           "write_clip_frames", "jpeg_round_trip", "CODING_SHEET", "RAW_DIR", "CODING_COLUMNS"]

#: Bump when the rendering or the drawing of specs changes (it is part of the cache key).
GENERATOR_VERSION = "2.0"
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


def _jpeg_params(quality: int | None) -> list[int]:
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality) if quality is not None else 100]
    if quality is None and hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR"):
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    return params


def _to_uint8(frames) -> np.ndarray:
    return (frames.detach().cpu().clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def jpeg_round_trip(frames, quality: int | None):
    """``frames`` ``(T, C, H, W)`` in [0, 1] as :func:`write_clip_frames` stores and a reader reads them
    back (8-bit, JPEG at ``quality``; ``None`` = quality 100, 4:4:4), without touching the disk.

    For studies that need a few frames of many clips (``benchmarks/operating_point.py``): the frames
    equal what ``cv2.imread`` of the written files returns, divided by 255.
    """
    import torch

    params = _jpeg_params(quality)
    out = []
    for img in _to_uint8(frames):
        img = img.transpose(1, 2, 0)
        img = img[..., 0] if img.shape[-1] == 1 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", img, params)
        if not ok:
            raise OSError("synthetic: JPEG encoding failed")
        dec = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        dec = dec[..., None] if dec.ndim == 2 else cv2.cvtColor(dec, cv2.COLOR_BGR2RGB)
        out.append(torch.from_numpy(dec.transpose(2, 0, 1).copy()))
    return torch.stack(out).float() / 255


def write_clip_frames(folder: Path, spec: ClipSpec, frames) -> None:
    """Write ``frames`` ``(T, C, H, W)`` in [0, 1] as ``img{N}.jpg`` for N = onset..offset."""
    folder.mkdir(parents=True, exist_ok=True)
    params = _jpeg_params(spec.nuisance.jpeg_quality)
    arr = _to_uint8(frames)
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
    allowed = {RAW_DIR, CODING_SHEET, _META, GROUND_TRUTH_DIR, _MARKER}
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
        atomic_write_json(root / GROUND_TRUTH_DIR / _subject_dir(spec.subject) / f"{spec.clip}.json",
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
