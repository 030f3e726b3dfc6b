"""The three run sizes every notebook knows, named the same everywhere.

* ``"quick"``: CI, nbval and Binder — at most 3 min and 2 GiB on 2 CPU cores, yet still shows training learning
  something (training-subject accuracy above the majority class).
* ``"standard"``: the synthetic benchmark at its operating point — at most 20 min on 2 CPU cores; the default a
  student gets, whose numbers answer the paper's question with confidence intervals.
* ``"full"``: the paper's own setup on a licensed dataset, usually on a GPU; the notebook prints an estimated time.

A notebook's parameters cell reads ``RUN_SIZE`` with :func:`default_run_size` semantics (``$MERLIB_RUN_SIZE``, else
``"quick"`` when ``$MERLIB_QUICK=1``, else ``"standard"``); ``python -m merlib reproduce --size SIZE`` (``--quick``
is ``--size quick``) injects it with papermill, and the next cell checks it with :func:`check_run_size` and derives
``QUICK = RUN_SIZE == "quick"``.
"""
from __future__ import annotations

import os

__all__ = ["RUN_SIZES", "default_run_size", "check_run_size"]

RUN_SIZES = ("quick", "standard", "full")


def default_run_size(environ: dict | None = None) -> str:
    """``$MERLIB_RUN_SIZE`` if set, else ``"quick"`` when ``$MERLIB_QUICK == "1"``, else ``"standard"``."""
    env = os.environ if environ is None else environ
    size = env.get("MERLIB_RUN_SIZE") or ("quick" if env.get("MERLIB_QUICK") == "1" else "standard")
    return check_run_size(size, source="MERLIB_RUN_SIZE")


def check_run_size(value, source: str = "RUN_SIZE") -> str:
    """Return ``value`` if it names a run size, else raise ``ValueError`` naming where it came from."""
    if value not in RUN_SIZES:
        raise ValueError(f"{source} must be one of {', '.join(map(repr, RUN_SIZES))}; got {value!r}")
    return value
