"""Per-task seeds: derived from the base seed and names, so a fold's numbers do not depend on
which folds ran before it, in which process, or whether the run was resumed."""
from __future__ import annotations

import hashlib

__all__ = ["derive_seed"]


def derive_seed(base_seed: int, *names) -> int:
    """A 31-bit seed from ``base_seed`` and any names (fold name, sweep point ...), stable across runs.

    Uses SHA-256 of the text, not Python's ``hash`` (which is salted per process).
    """
    if isinstance(base_seed, bool) or not isinstance(base_seed, int) or base_seed < 0:
        raise ValueError(f"derive_seed: `base_seed` must be a non-negative int, got {base_seed!r}")
    text = "\x1f".join([str(base_seed)] + [str(n) for n in names])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF
