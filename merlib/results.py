"""The results record a notebook writes, and that ``python -m merlib reproduce`` collects.

A notebook ends with::

    merlib.save_results(RESULTS_PATH, metrics={"uf1": 0.61, ...}, tables={"n_sweep": df})

``RESULTS_PATH`` comes from the notebook's ``parameters`` cell (``None`` in an
interactive session: nothing is written). Values are converted to plain JSON
(NumPy scalars and arrays, tensors, pandas frames) and the file is written
atomically, so a killed run never leaves half a JSON behind.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["save_results", "to_jsonable", "atomic_write", "atomic_write_json", "atomic_torch_save", "load_results"]


def to_jsonable(obj: Any) -> Any:
    """Convert ``obj`` to something :func:`json.dumps` accepts (NaN becomes ``None``)."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if pd is not None and isinstance(obj, pd.DataFrame):
        return {"columns": [str(c) for c in obj.columns], "index": to_jsonable(list(obj.index)),
                "data": to_jsonable(obj.to_numpy().tolist())}
    if pd is not None and isinstance(obj, pd.Series):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if torch is not None and isinstance(obj, torch.Tensor):
        return to_jsonable(obj.detach().cpu().numpy())
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int)):
        return obj
    return repr(obj)


def atomic_write(path: str | Path, write: Callable[[str], None], mode: int = 0o644) -> Path:
    """Write a file atomically: ``write(tmp_path)`` fills a temporary file beside ``path``, which
    then replaces ``path`` with ``os.replace``. A process killed midway leaves the old file (or none),
    never half a file. The one implementation behind every atomic write in merlib."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, mode)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_json(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as JSON (via :func:`to_jsonable`) to ``path`` atomically."""
    text = json.dumps(to_jsonable(payload), indent=2, sort_keys=False) + "\n"

    def write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            fh.write(text)

    return atomic_write(path, write)


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (checkpoints, cache entries)."""
    import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def save_results(path: str | Path | None, metrics: dict | None = None, tables: dict | None = None,
                 **extra: Any) -> dict:
    """Record a notebook's computed numbers (and the environment that produced them).

    Args:
        path: where to write; ``None`` or ``""`` writes nothing (interactive use).
        metrics: flat name -> number mapping (what the summary table of
            ``merlib reproduce`` prints).
        tables: name -> DataFrame/dict/list, for whole tables (e.g. paper vs. ours).
        **extra: anything else worth keeping (policy, notes, ...).

    Returns:
        The record as a plain dict.
    """
    from merlib.env import environment

    record = {
        "metrics": to_jsonable(metrics or {}),
        "tables": to_jsonable(tables or {}),
        "environment": environment(),
        **to_jsonable(extra),
    }
    if path:
        atomic_write_json(path, record)
    return record


def load_results(path: str | Path) -> dict:
    """Read a results JSON written by :func:`save_results` or ``merlib reproduce``."""
    with open(path) as fh:
        return json.load(fh)
