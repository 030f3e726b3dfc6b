"""Reproducibility helpers: seeding, device choice and an environment record.

Every notebook calls these in the cell after its ``parameters`` cell, so that a
run's JSON (see :mod:`merlib.results`) says exactly what produced it.
"""
from __future__ import annotations

import os
import platform
import random
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

__all__ = ["seed_everything", "device", "environment", "git_commit", "package_versions"]

#: Packages whose versions go into every results record.
TRACKED_PACKAGES = (
    "torch", "torchvision", "numpy", "scipy", "pandas", "scikit-learn", "scikit-image",
    "opencv-python-headless", "papermill", "nbval", "plotly", "seaborn",
)


def seed_everything(seed: int, deterministic: bool = True) -> int:
    """Seed Python, NumPy and torch (CPU and every CUDA device).

    Args:
        seed: a non-negative integer.
        deterministic: also ask torch for deterministic kernels
            (``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN
            deterministic, no cuDNN benchmark). Slower on GPU, identical reruns.

    Returns:
        The seed, so ``SEED = merlib.seed_everything(SEED)`` reads naturally.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed_everything: `seed` must be a non-negative int, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        # Needed by cuBLAS for deterministic matmuls on CUDA >= 10.2.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
    return seed


def device(spec: str | torch.device | None = "auto") -> torch.device:
    """Resolve a device specification to a :class:`torch.device`.

    ``"auto"`` (or ``None``) picks CUDA when available, then Apple MPS, else CPU.
    An explicit ``"cuda"``/``"cuda:N"``/``"mps"`` that is not available raises
    ``ValueError`` instead of failing later inside a kernel.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device: `spec` must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {spec!r}"
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: {spec!r} was asked for but CUDA is not available here; use 'auto' or 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device: {spec!r} was asked for but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device: {spec!r} was asked for but MPS is not available here")
    return dev


def git_commit(path: str | Path | None = None) -> str | None:
    """The git commit of the merlib checkout (``None`` outside a git checkout)."""
    here = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    commit = out.stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True
    )
    return commit + ("-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def package_versions(names=TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (``None`` for a package that is absent)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment(verbose: bool = False, device_spec: str | torch.device | None = "auto") -> dict:
    """A record of what is running: Python, packages, device, threads, git commit.

    Args:
        verbose: also print it as an aligned table (what notebooks show).
        device_spec: the device the run will use (resolved with :func:`device`).
    """
    from merlib._version import __version__

    dev = device(device_spec)
    info = {
        "merlib": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.machine(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "git_commit": git_commit(),
        "packages": package_versions(),
    }
    if verbose:
        flat = {k: v for k, v in info.items() if k != "packages"}
        flat.update({f"  {k}": v for k, v in info["packages"].items() if v is not None})
        width = max(len(k) for k in flat)
        print("\n".join(f"{k:<{width}}  {v}" for k, v in flat.items()))
    return info
