"""A content-addressed disk cache for preprocessed clips, magnified frames and frozen features.

An entry's key is the SHA-256 of a canonical JSON of its *key parts*: what identifies the input
(:func:`clip_fingerprint`: dataset, clip, and the size and modification time of its files) and
what identifies the computation (:func:`fn_identity`: the function's qualified name, a version
string and its parameters; :func:`module_digest` for a frozen network's weights). Change any of
them — a file on disk, a parameter, the version string after editing the function — and the key
changes, so the stale entry is simply not found (invalidation by construction).

Values are tensors, or dicts/lists of tensors and plain numbers; they are written with
``torch.save`` to a temporary file and moved into place with ``os.replace`` (a killed process
never leaves a half-written entry) and read back with ``torch.load(weights_only=True)``.

Usage::

    cache = Cache("features")                        # under merlib.paths.cache_dir("features")
    feats = cache.get_or_compute({"clip": clip_fingerprint(ds, i), "fn": fn_identity(f, "1", p)},
                                 lambda: f(x, **p))
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from merlib.results import atomic_torch_save

__all__ = ["Cache", "key_of", "clip_fingerprint", "fn_identity", "tensor_digest", "module_digest",
           "path_fingerprint"]


def tensor_digest(t) -> str:
    """SHA-256 of a tensor/array's dtype, shape and bytes (device-independent)."""
    a = t.detach().cpu().contiguous().numpy() if isinstance(t, torch.Tensor) else np.ascontiguousarray(t)
    h = hashlib.sha256(f"{a.dtype}|{a.shape}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


_DIGESTS = None  # weakref.WeakKeyDictionary: module -> (signature, digest); created on first use


def module_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's class and its state dict (parameters and buffers, in order).

    Memoised per live module (weakly referenced) on its tensors' storage pointers and version
    counters: an in-place update of any weight bumps its version, so a changed module is hashed again.
    """
    import weakref

    global _DIGESTS
    if _DIGESTS is None:
        _DIGESTS = weakref.WeakKeyDictionary()
    state = module.state_dict()
    signature = tuple((n, v.data_ptr(), v._version, tuple(v.shape)) for n, v in state.items())
    memo = _DIGESTS.get(module)
    if memo is not None and memo[0] == signature:
        return memo[1]
    h = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    for name, value in state.items():
        h.update(name.encode())
        h.update(tensor_digest(value).encode())
    _DIGESTS[module] = (signature, h.hexdigest())
    return h.hexdigest()
    h = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    for name, value in state.items():
        h.update(name.encode())
        h.update(tensor_digest(value).encode())
    if len(_DIGESTS) > 256:
        _DIGESTS.clear()
    _DIGESTS[memo] = h.hexdigest()
    return _DIGESTS[memo]


def _canonical(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        return {"__tensor__": tensor_digest(obj)}
    if isinstance(obj, torch.nn.Module):
        return {"__module__": module_digest(obj)}
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return repr(float(obj))  # exact: 0.1 and 0.1000000001 differ
    if isinstance(obj, (np.bool_, bool)) or obj is None or isinstance(obj, (str, int)):
        return obj if not isinstance(obj, np.bool_) else bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    if callable(obj):
        return fn_identity(obj)
    raise ValueError(f"cache key: cannot hash a {type(obj).__name__} ({obj!r}); use numbers, strings, "
                     "tensors, modules, lists or dicts")


def key_of(key_parts: Any) -> str:
    """The hex SHA-256 key of ``key_parts`` (any nesting of dicts, lists, numbers, strings, tensors)."""
    text = json.dumps(_canonical(key_parts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def fn_identity(fn: Callable, version: str = "1", params: dict | None = None) -> dict:
    """What identifies a computation: qualified name + ``version`` + ``params``.

    Bump ``version`` when the function's code changes in a way that changes its output.
    ``functools.partial`` objects contribute their function and bound arguments.
    """
    import functools

    if isinstance(fn, functools.partial):
        inner = fn_identity(fn.func)
        return {"fn": inner["fn"], "version": str(version), "params": _canonical(
            {"args": list(fn.args), "kwargs": dict(fn.keywords), **(params or {})})}
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"
    return {"fn": name, "version": str(version), "params": _canonical(params or {})}


def path_fingerprint(path: str | os.PathLike) -> dict:
    """Size and modification time (ns) of a file, or of every file under a folder (sorted).

    Cheap (no reading of file contents): a changed, added or removed file changes the result.
    A path that does not exist fingerprints as ``{"missing": path}``.
    """
    p = Path(path)
    if p.is_file():
        st = p.stat()
        return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if p.is_dir():
        h = hashlib.sha256()
        n = 0
        for root, dirs, files in os.walk(p):
            dirs.sort()
            for f in sorted(files):
                q = Path(root) / f
                st = q.stat()
                h.update(f"{q.relative_to(p)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
                n += 1
        return {"path": str(p), "files": n, "digest": h.hexdigest()}
    return {"missing": str(p)}


def clip_fingerprint(dataset, i: int) -> dict:
    """What identifies clip ``i`` of a duck-typed dataset and its data on disk.

    Uses ``dataset.fingerprint(i)`` when the dataset provides one (e.g. a content hash of
    in-memory frames); otherwise the dataset name, the clip's annotation row (dataset, subject,
    clip, onset, apex, offset, label, n_frames) and :func:`path_fingerprint` of its ``path``.
    """
    if hasattr(dataset, "fingerprint"):
        return {"dataset": str(getattr(dataset, "name", "?")), "fingerprint": dataset.fingerprint(i)}
    row = dataset.clips.iloc[int(i)]
    cols = ("dataset", "subject", "clip", "onset", "apex", "offset", "label", "n_frames")
    ident = {c: (row[c].item() if hasattr(row[c], "item") else row[c]) for c in cols if c in row.index}
    out = {"dataset": str(getattr(dataset, "name", "?")), "row": ident}
    if "path" in row.index and row["path"] is not None and str(row["path"]) not in ("", "nan"):
        out["files"] = path_fingerprint(row["path"])
    return out


class Cache:
    """A folder of ``<key>.pt`` files (two-level fan-out) with hit/miss counters.

    Args:
        root: a folder, or a plain name resolved with :func:`merlib.paths.cache_dir`
            (e.g. ``"features"``); default ``cache_dir("eval")``.
        enabled: ``False`` turns every call into a plain computation (nothing read or written).
    """

    def __init__(self, root: str | os.PathLike | None = None, enabled: bool = True):
        from merlib.paths import cache_dir

        if root is None:
            root = cache_dir("eval")
        elif isinstance(root, str) and "/" not in root and not root.startswith("."):
            root = cache_dir(root)
        self.root = Path(root)
        self.enabled = bool(enabled)
        if self.enabled:
            self.root.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r}, hits={self.hits}, misses={self.misses})"

    def path_for(self, key_parts: Any) -> Path:
        key = key_of(key_parts)
        return self.root / key[:2] / f"{key}.pt"

    def __contains__(self, key_parts: Any) -> bool:
        return self.enabled and self.path_for(key_parts).exists()

    def get(self, key_parts: Any, default=None):
        """The stored value, or ``default`` when absent (or unreadable: a corrupt entry is a miss)."""
        if not self.enabled:
            return default
        path = self.path_for(key_parts)
        if not path.exists():
            return default
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # truncated by a crash outside our atomic write, or a foreign file
            return default

    def put(self, key_parts: Any, value) -> Path | None:
        """Store ``value`` atomically (``torch.save`` to a temp file, then ``os.replace``)."""
        if not self.enabled:
            return None
        return atomic_torch_save(_to_cpu(value), self.path_for(key_parts))

    def get_or_compute(self, key_parts: Any, fn: Callable[[], Any]):
        """Return the cached value for ``key_parts``, computing and storing it with ``fn()`` on a miss."""
        _MISSING = object()
        value = self.get(key_parts, _MISSING)
        if value is not _MISSING:
            self.hits += 1
            return value
        self.misses += 1
        value = fn()
        self.put(key_parts, value)
        return value

    def clear(self) -> int:
        """Delete every entry; returns how many files were removed."""
        n = 0
        if self.root.exists():
            for p in self.root.glob("*/*.pt"):
                p.unlink()
                n += 1
        return n

    def __getstate__(self):  # counters are per process
        return {"root": str(self.root), "enabled": self.enabled}

    def __setstate__(self, state):
        self.root = Path(state["root"])
        self.enabled = state["enabled"]
        self.hits = self.misses = 0


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value
