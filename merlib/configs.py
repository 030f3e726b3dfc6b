"""One check shared by every config/spec dataclass that round-trips through a dict (JSON on disk).

``from_dict`` of a dataclass must refuse keys it does not know — a typo in a checkpoint's or a dataset's
recorded config would otherwise be dropped silently — and say which keys are wrong and which exist.
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any

__all__ = ["check_known_keys"]


def check_known_keys(cls: type, d: dict[str, Any], ignore: tuple[str, ...] = ()) -> None:
    """Raise ``ValueError`` naming ``cls`` and the unknown keys if ``d`` has keys that are not fields of ``cls``."""
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names - set(ignore)
    if unknown:
        raise ValueError(f"{cls.__name__}.from_dict: unknown keys {sorted(unknown)}; expected some of {sorted(names)}")
