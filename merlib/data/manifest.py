"""Dataset manifests: one YAML file per dataset in the top-level ``data_manifest/`` folder.

A manifest is the single description merlib keeps of a dataset: how to request it,
its frame rate and resolution, subject and clip counts, the on-disk layout, the
annotation file and its columns, the class maps (the papers' 5-class setting and the
MEGC2019 3-class mapping) and the known annotation quirks with the fix merlib applies
and why. :mod:`merlib.data.datasets` reads layouts and class maps from here, so there
is one place for each convention.

The folder is found next to the checkout (``repo_root() / "data_manifest"``) and,
for an installed wheel, as package data ``merlib/data_manifest``.
"""
from __future__ import annotations

import importlib.resources
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from merlib.data.errors import DatasetError
from merlib.paths import repo_root

__all__ = ["load_manifest", "list_manifests", "manifest_dir", "REQUIRED_KEYS"]

#: Keys every manifest must have (checked on load; a test checks the shipped files).
REQUIRED_KEYS = (
    "name", "title", "citation", "request", "fps", "resolution", "subjects", "clips",
    "layout", "annotation", "class_maps", "quirks",
)


def manifest_dir() -> Path:
    """The folder holding the ``*.yaml`` manifests (checkout first, then package data)."""
    root = repo_root()
    if root is not None and (root / "data_manifest").is_dir():
        return root / "data_manifest"
    packaged = Path(str(importlib.resources.files("merlib") / "data_manifest"))
    if packaged.is_dir():
        return packaged
    raise DatasetError(
        "cannot find the data_manifest/ folder: neither next to the merlib checkout nor "
        "installed as package data merlib/data_manifest"
    )


def list_manifests() -> list[str]:
    """Names of the shipped manifests (``casme2``, ``samm``, ...), sorted."""
    return sorted(p.stem for p in manifest_dir().glob("*.yaml"))


@lru_cache(maxsize=None)
def _load(name: str) -> dict:
    path = manifest_dir() / f"{name}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DatasetError(f"manifest is not valid YAML: {exc}", path=path) from exc
    if not isinstance(data, dict):
        raise DatasetError("manifest must be a YAML mapping", path=path)
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DatasetError(f"manifest lacks the keys {missing}", path=path)
    if data["name"] != name:
        raise DatasetError(f"manifest's name is {data['name']!r}, expected {name!r}", path=path)
    return data


def load_manifest(name: str) -> dict[str, Any]:
    """The manifest of dataset ``name`` as a (fresh, mutable) dict.

    Args:
        name: one of :func:`list_manifests` (``casme2``, ``samm``, ``smic_hs``,
            ``megc2019_composite``, ``synthetic``).

    Raises:
        ValueError: ``name`` is not a shipped manifest.
        DatasetError: the manifest file is malformed.
    """
    import copy

    if not isinstance(name, str) or not name:
        raise ValueError(f"load_manifest: `name` must be a dataset name, got {name!r}")
    known = list_manifests()
    if name not in known:
        raise ValueError(f"load_manifest: unknown dataset {name!r}; known: {', '.join(known)}")
    return copy.deepcopy(_load(name))
