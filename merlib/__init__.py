"""merlib — micro-expression recognition with motion magnification.

A teaching and reproduction library for five MER papers (see ``notebooks/``).
The package is thin on purpose: everything a notebook needs more than once.

Data flows one way (no module imports from a later stage)::

    merlib.data -> merlib.magnify -> merlib.models -> merlib.eval -> notebooks

Top-level helpers used by every notebook::

    merlib.seed_everything(seed, deterministic=True)
    merlib.device("auto")            # torch.device: cuda when present, else cpu
    merlib.environment()             # versions, device, git commit (a dict)
    merlib.save_results(path, ...)   # the JSON that `python -m merlib reproduce` collects
    merlib.check_run_size(RUN_SIZE)  # "quick" | "standard" | "full" (see merlib.run_size)
"""
from merlib._version import __version__
from merlib.env import device, environment, seed_everything
from merlib.results import save_results
from merlib.run_size import RUN_SIZES, check_run_size

__all__ = ["__version__", "device", "environment", "seed_everything", "save_results", "RUN_SIZES", "check_run_size"]
