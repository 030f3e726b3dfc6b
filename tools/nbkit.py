"""Authoring helper for merlib notebooks (a dev tool, not part of the package).

Write a notebook as a Python list of cells and get the standard first cells for free::

    import sys; sys.path.insert(0, "tools")
    from nbkit import md, code, standard_header, write_notebook

    cells = standard_header(
        stem="01_motion_magnification",
        title="Motion magnification: Eulerian and phase-based",
        citation="Wu et al., SIGGRAPH 2012; Wadhwa et al., SIGGRAPH 2013",
        runtime="quick ≈ 1 min, full ≈ 5 min on 2 CPU cores",
        extra_parameters='ALPHA = 10.0',
    )
    cells += [md("## 1. ..."), code("x = 1")]
    write_notebook("notebooks/01_motion_magnification.ipynb", cells)

The result passes tests/test_notebook_conventions.py: no outputs, badges, Colab guard,
one `parameters` cell, seeding and environment in the next cell.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from merlib._version import REPOSITORY  # noqa: E402


def md(text: str):
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str, tags: list[str] | None = None):
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def badges(stem: str) -> str:
    colab = f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/notebooks/{stem}.ipynb"
    binder = f"https://mybinder.org/v2/gh/{REPOSITORY}/main?labpath=notebooks%2F{stem}.ipynb"
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
            f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder})")


COLAB_GUARD = f'''
# Colab guard: on Google Colab install merlib (Colab's own torch is kept: merlib pins no torch version).
# Everywhere else merlib is already installed (`make setup`, or `pip install -e .`).
import sys
if "google.colab" in sys.modules:
    %pip install -q "merlib @ git+https://github.com/{REPOSITORY}"
'''


def standard_header(stem: str, title: str, citation: str, runtime: str, intro: str = "",
                    dataset: str = "synthetic", extra_parameters: str = "", derived: str = "") -> list:
    """The first cells every merlib notebook starts with."""
    first = f"""# {title}

{badges(stem)}

**Cite:** {citation}

**Run time:** {runtime}. Three run sizes (`RUN_SIZE` in the parameters cell, or
`python -m merlib reproduce {stem} --size quick|standard|full`): `quick` (CI and Binder, ≤ 3 min),
`standard` (the default: the synthetic benchmark at its operating point, ≤ 20 min on 2 CPU cores) and
`full` (the paper's setup on a licensed dataset, usually a GPU).

{intro}"""
    params = f'''
# Parameters (papermill injects overrides after this cell; derived values go in the next cell).
import os

RUN_SIZE = os.environ.get("MERLIB_RUN_SIZE") or ("quick" if os.environ.get("MERLIB_QUICK") == "1" else "standard")  # "quick" | "standard" | "full"
SEED = 0                                        # one seed for everything
DATA_ROOT = None                                # folder of a licensed dataset copy (None: synthetic data)
DATASET = "{dataset}"                           # "synthetic", "casme2", "samm", "smic_hs", "megc2019_composite"
RESULTS_PATH = None                             # where merlib.save_results writes (set by `merlib reproduce`)
DEVICE = "auto"                                 # "auto" picks CUDA when present
{extra_parameters}
'''
    setup = f'''
import merlib

RUN_SIZE = merlib.check_run_size(RUN_SIZE)
QUICK = RUN_SIZE == "quick"                     # CI / nbval / Binder size; "standard" is the synthetic benchmark
SEED = merlib.seed_everything(SEED)
DEV = merlib.device(DEVICE)
_ = merlib.environment(verbose=True, device_spec=DEVICE)
{derived}
'''
    return [md(first), code(COLAB_GUARD), code(params, tags=["parameters"]), code(setup)]


def write_notebook(path: str | Path, cells: list) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:  # nbformat >= 5.1 adds ids; keep them stable for clean diffs
        cell.pop("id", None)
    nb.nbformat_minor = 4
    path = Path(path)
    nbformat.write(nb, str(path))
    return path
