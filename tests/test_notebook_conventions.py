"""Every committed notebook follows the conventions in CONTRIBUTING.md.

These tests read the .ipynb files as JSON (no kernel): outputs stripped, badges and
citation in the first markdown cell, the Colab guard first, one `parameters` cell with
the six standard names (RUN_SIZE read from the environment as merlib.run_size says), the run size checked and
QUICK derived, seeding and the environment print in the next cell.
"""
import ast
import json
import re
from pathlib import Path

import pytest

from merlib._version import REPOSITORY

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
PARAMETERS = {"RUN_SIZE", "SEED", "DATA_ROOT", "DATASET", "RESULTS_PATH", "DEVICE"}
RUN_SIZE_LINE = ('RUN_SIZE = os.environ.get("MERLIB_RUN_SIZE") or '
                 '("quick" if os.environ.get("MERLIB_QUICK") == "1" else "standard")')


def _load(path):
    with open(path) as fh:
        return json.load(fh)


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"
    assert (NOTEBOOK_DIR / "00_start_here.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = _load(path)
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; strip them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_markdown_cell(path):
    nb = _load(path)
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown", f"{path.name}: the first cell must be markdown"
    text = _source(first)
    assert re.search(r"^# \S", text, re.M), f"{path.name}: first cell needs a '# Title'"
    colab = f"colab.research.google.com/github/{REPOSITORY}/blob/main/notebooks/{path.name}"
    binder = f"mybinder.org/v2/gh/{REPOSITORY}/main?labpath=notebooks%2F{path.name}"
    assert colab in text, f"{path.name}: Colab badge must link to {colab}"
    assert binder in text, f"{path.name}: Binder badge must link to {binder}"
    assert re.search(r"\bcit(e|ation)\b", text, re.I), f"{path.name}: first cell needs a citation"
    assert all(re.search(size, text, re.I) for size in ("quick", "standard", "full")) and re.search(r"\bmin", text), \
        f"{path.name}: first cell must state the run times of the three sizes (quick, standard, full)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_colab_guard_is_first_code_cell(path):
    src = _source(_code_cells(_load(path))[0])
    assert '"google.colab" in sys.modules' in src or "'google.colab' in sys.modules" in src, \
        f"{path.name}: the first code cell must be the Colab guard"
    assert "pip install" in src, f"{path.name}: the Colab guard must install merlib"
    assert not re.search(r"pip install[^\n]*\btorch\b", src), f"{path.name}: the Colab guard must not reinstall torch"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell(path):
    nb = _load(path)
    cells = nb["cells"]
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: exactly one cell must be tagged 'parameters', found {len(tagged)}"
    i = tagged[0]
    assert cells[i]["cell_type"] == "code"
    tree = ast.parse(_source(cells[i]))
    names = {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
             for t in (node.targets if isinstance(node, ast.Assign) else [node.target]) if isinstance(t, ast.Name)}
    missing = PARAMETERS - names
    assert not missing, f"{path.name}: parameters cell lacks {sorted(missing)}"
    assert RUN_SIZE_LINE in _source(cells[i]), \
        f"{path.name}: RUN_SIZE must be read in the parameters cell as `{RUN_SIZE_LINE}`"
    assert "QUICK" not in names, f"{path.name}: QUICK is derived from RUN_SIZE in the next cell, not a parameter"
    nxt = next(c for c in cells[i + 1:] if c["cell_type"] == "code")
    src = _source(nxt)
    assert "check_run_size(RUN_SIZE)" in src and 'QUICK = RUN_SIZE == "quick"' in src, \
        f"{path.name}: the cell after 'parameters' must check RUN_SIZE and derive QUICK from it"
    assert "seed_everything(" in src and "environment(" in src, \
        f"{path.name}: the cell after 'parameters' must seed and print the environment via merlib"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_results_recorded(path):
    src = "\n".join(_source(c) for c in _code_cells(_load(path)))
    assert "save_results(RESULTS_PATH" in src, f"{path.name}: must record its numbers with merlib.save_results"
