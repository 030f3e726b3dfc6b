"""Epoch / model-selection policies, recorded with every result.

* ``"last"`` (default): train a fixed number of epochs, report the last one. Nothing is chosen.
* ``"inner_val"``: hold out validation subjects carved from the *training* subjects of each fold
  (:func:`merlib.eval.protocols.inner_split`), keep the epoch that scores best on them, report that
  model's test predictions.
* ``"oracle_test"``: for each fold, keep the epoch that scores best **on the test subject itself**.
  Several published MER codes do this, and it inflates results by several points (DESIGN.md). merlib
  runs it only when asked for by name, and every result and table it produces carries
  :data:`OPTIMISTIC_LABEL`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["POLICIES", "OPTIMISTIC_LABEL", "check_policy", "is_optimistic", "policy_label", "select_epoch"]

POLICIES = ("last", "inner_val", "oracle_test")
OPTIMISTIC_LABEL = "OPTIMISTIC: epoch selected on the test subject (policy='oracle_test')"


def check_policy(policy: str) -> str:
    """Return ``policy`` if it is one of :data:`POLICIES`, else raise ``ValueError``."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    return policy


def is_optimistic(policy: str) -> bool:
    """True for policies that look at the test subject when selecting (``oracle_test``)."""
    return check_policy(policy) == "oracle_test"


def policy_label(policy: str) -> str:
    """A short label for tables: the policy name, plus :data:`OPTIMISTIC_LABEL` when it applies."""
    return OPTIMISTIC_LABEL if is_optimistic(policy) else f"policy={policy} (no selection on test subjects)"


def select_epoch(scores: Sequence[float]) -> int:
    """Index of the best score (the earliest epoch on ties); ``scores`` must be non-empty and finite."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"select_epoch: `scores` must be a non-empty 1-D sequence, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("select_epoch: `scores` contains NaN or inf")
    return int(np.argmax(s))
