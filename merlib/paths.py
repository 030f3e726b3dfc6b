"""Where merlib keeps generated data and caches.

One place for every on-disk location merlib chooses by itself:

* ``MERLIB_CACHE`` (env) or ``~/.cache/merlib`` — the root of everything below;
* ``cache_dir("synthetic")`` — generated synthetic datasets;
* ``cache_dir("features")``, ``cache_dir("magnified")`` ... — content-addressed caches
  (see :mod:`merlib.eval.cache`).

Nothing here downloads anything.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root", "cache_dir", "repo_root"]


def cache_root() -> Path:
    """The cache root: ``$MERLIB_CACHE`` if set, else ``~/.cache/merlib``."""
    root = os.environ.get("MERLIB_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "merlib"


def cache_dir(kind: str) -> Path:
    """A sub-folder of :func:`cache_root` for one kind of cached object (created on demand)."""
    if not kind or "/" in kind or kind.startswith("."):
        raise ValueError(f"cache_dir: `kind` must be a plain folder name, got {kind!r}")
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def repo_root() -> Path | None:
    """The merlib checkout (``None`` when merlib is installed from a wheel)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").exists() else None
