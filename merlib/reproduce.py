"""Run notebooks in batch with papermill and collect one results JSON per notebook.

Usage::

    python -m merlib reproduce [NOTEBOOK ...] [--size quick|standard|full | --quick] [--out DIR] [-p NAME VALUE]

``NOTEBOOK`` is a path, a file stem (``10_bai2021_evm_vggface2_bilstm``) or a
unique prefix (``10``); with none, every notebook in ``notebooks/`` runs, in
name order. For each notebook the command writes

* ``DIR/<stem>.ipynb`` — the executed notebook (papermill injects the parameters
  after the cell tagged ``parameters``), and
* ``DIR/<stem>.json`` — what the notebook recorded with :func:`merlib.save_results`
  (metrics, tables) plus the parameters, git commit, package versions, device,
  wall time and status.

A notebook that raises is reported with the index and execution count of the
failing cell; the remaining notebooks still run and the command exits 1.
``--size`` injects ``RUN_SIZE`` (see :mod:`merlib.run_size`; ``--quick`` is ``--size quick``); without it each
notebook uses its own default (``$MERLIB_RUN_SIZE``, else ``standard``).
``-p NAME VALUE`` values are parsed as YAML (``-p SEED 3`` is an int,
``-p DATASET casme2`` a string, ``-p DATA_ROOT null`` is ``None``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from merlib.run_size import RUN_SIZES, check_run_size, default_run_size

__all__ = ["find_notebooks", "reproduce", "add_arguments", "run"]


def default_notebook_dir() -> Path:
    """``notebooks/`` of the checkout merlib runs from, else of the working directory."""
    repo = Path(__file__).resolve().parents[1] / "notebooks"
    return repo if repo.is_dir() else Path.cwd() / "notebooks"


def find_notebooks(names: list[str] | None = None, notebook_dir: str | Path | None = None) -> list[Path]:
    """Resolve notebook names (paths, stems or unique prefixes) to paths, in name order."""
    nb_dir = Path(notebook_dir) if notebook_dir else default_notebook_dir()
    available = sorted(p for p in nb_dir.glob("*.ipynb") if not p.name.startswith("."))
    if not names:
        if not available:
            raise FileNotFoundError(f"reproduce: no notebooks found in {nb_dir}")
        return available
    chosen: list[Path] = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.exists():
            chosen.append(path.resolve())
            continue
        stem = path.stem if path.suffix == ".ipynb" else name
        exact = [p for p in available if p.stem == stem]
        matches = exact or [p for p in available if p.stem.startswith(stem)]
        if len(matches) != 1:
            listing = ", ".join(p.stem for p in available) or "(none)"
            why = "matches no notebook" if not matches else f"is ambiguous ({', '.join(p.stem for p in matches)})"
            raise FileNotFoundError(f"reproduce: notebook {name!r} {why} in {nb_dir}; available: {listing}")
        chosen.append(matches[0])
    return chosen


def _parse_value(text: str):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


#: Default per-cell time limit (s): well above the slowest cell of any notebook at "standard" size, so a
#: stalled cell (e.g. a widget waiting on a client that never answers, jupyter/nbclient#312) fails, named.
DEFAULT_CELL_TIMEOUT_S = 1800


def _stalled_cell(out_nb: Path) -> dict:
    """The cell papermill marked as running in a partly executed notebook (index, execution count, source)."""
    try:
        import nbformat

        nb = nbformat.read(str(out_nb), as_version=4)
    except Exception:
        return {}
    for i, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            return {"cell_index": i, "execution_count": cell.get("execution_count"),
                    "source": cell.source.splitlines()[:3]}
    return {}


def _cell_from_preview(nb_path: Path, message: str) -> dict:
    """Find the cell whose source nbclient quoted in a CellTimeoutError ("preview of the cell contents")."""
    import re

    m = re.search(r"preview of the cell contents:\s*-+\s*(.*?)\s*-+", message, re.S)
    if not m:
        return {}
    first = m.group(1).strip().splitlines()[0] if m.group(1).strip() else ""
    try:
        import nbformat

        nb = nbformat.read(str(nb_path), as_version=4)
    except Exception:
        return {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and first and first in cell.source:
            return {"cell_index": i, "execution_count": None, "source": cell.source.splitlines()[:3]}
    return {}


def _run_one(nb_path: Path, out_dir: Path, parameters: dict, kernel: str | None,
             cell_timeout: int | None, progress: bool) -> dict:
    import papermill as pm

    from merlib.env import environment
    from merlib.results import atomic_write_json, load_results

    stem = nb_path.stem
    out_nb = out_dir / f"{stem}.ipynb"
    out_json = out_dir / f"{stem}.json"
    if out_json.exists():
        out_json.unlink()  # never report a stale result as this run's
    params = dict(parameters)
    params["RESULTS_PATH"] = str(out_json.resolve())
    start = time.perf_counter()
    status, error = "ok", None
    try:
        pm.execute_notebook(
            str(nb_path), str(out_nb), parameters=params, cwd=str(nb_path.parent),
            kernel_name=kernel, progress_bar=progress, execution_timeout=cell_timeout,
        )
    except pm.PapermillExecutionError as exc:
        status = "failed"
        error = {"cell_index": exc.cell_index, "execution_count": exc.exec_count,
                 "ename": exc.ename, "evalue": exc.evalue,
                 "source": exc.source.splitlines()[:3] if exc.source else []}
    except Exception as exc:  # kernel died, bad notebook JSON, timeout ...
        status = "failed"
        error = {"cell_index": None, "execution_count": None, "ename": type(exc).__name__, "evalue": str(exc)}
        error.update(_stalled_cell(out_nb) or _cell_from_preview(nb_path, str(exc)))
        if "timeout" in type(exc).__name__.lower() or "timed out" in str(exc).lower():
            status = "timeout"
            error["evalue"] = (f"cell {error.get('cell_index')} ran past the per-cell limit of {cell_timeout} s: "
                               f"{error.get('source', [''])[:1]} — {exc}")
    wall = time.perf_counter() - start
    recorded = {}
    if out_json.exists():
        try:
            recorded = load_results(out_json)
        except ValueError:
            recorded = {}
    env = recorded.get("environment") or environment()
    record = {
        "notebook": stem,
        "status": status,
        "error": error,
        "run_size": parameters.get("RUN_SIZE") or default_run_size(),
        "quick": (parameters.get("RUN_SIZE") or default_run_size()) == "quick",
        "parameters": params,
        "metrics": recorded.get("metrics", {}),
        "tables": recorded.get("tables", {}),
        "git_commit": env.get("git_commit"),
        "packages": env.get("packages"),
        "device": env.get("device"),
        "environment": env,
        "wall_time_s": round(wall, 2),
        "executed_notebook": str(out_nb),
    }
    for key, value in recorded.items():
        record.setdefault(key, value)
    atomic_write_json(out_json, record)
    return record


def _summary(records: list[dict]) -> str:
    rows = []
    for r in records:
        metrics = r.get("metrics") or {}
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in list(metrics.items())[:4])
        if r["status"] != "ok" and r.get("error"):
            e = r["error"]
            cell = f"cell {e['cell_index']}" if e.get("cell_index") is not None else "before any cell"
            shown = f"{cell}: {e['ename']}: {str(e['evalue'])[:80]}"
        rows.append((r["notebook"], r["status"], f"{r['wall_time_s']:.1f}", shown))
    header = ("notebook", "status", "wall s", "metrics / error")
    widths = [max(len(str(x[i])) for x in rows + [header]) for i in range(3)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header[:3], widths)) + "  " + header[3]]
    lines.append("-" * (sum(widths) + 6 + len(header[3])))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3])
    return "\n".join(lines)


def reproduce(notebooks: list[str] | None = None, quick: bool = False, out: str | Path = "runs",
              size: str | None = None,
              parameters: dict | None = None, notebook_dir: str | Path | None = None,
              kernel: str | None = None, cell_timeout: int | None = DEFAULT_CELL_TIMEOUT_S, progress: bool = True) -> list[dict]:
    """Execute notebooks and return one record per notebook (see module docstring)."""
    from tqdm.auto import tqdm

    paths = find_notebooks(notebooks, notebook_dir)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if quick:
        if size not in (None, "quick"):
            raise ValueError(f"reproduce: quick=True contradicts size={size!r}")
        size = "quick"
    params = dict(parameters or {})
    if size is not None:
        params["RUN_SIZE"] = check_run_size(size, source="reproduce: size")
        os.environ["MERLIB_RUN_SIZE"] = size  # the kernel inherits it; the RUN_SIZE parameter wins anyway
        if size == "quick":
            os.environ["MERLIB_QUICK"] = "1"
    records = []
    bar = tqdm(paths, desc="notebooks", unit="nb", disable=not progress)
    for path in bar:
        bar.set_postfix_str(path.stem)
        record = _run_one(path, out_dir, params, kernel, cell_timeout, progress)
        if record["status"] != "ok":
            e = record["error"] or {}
            tqdm.write(f"FAILED {path.stem}: cell {e.get('cell_index')} (execution count "
                       f"{e.get('execution_count')}): {e.get('ename')}: {e.get('evalue')}", file=sys.stderr)
        records.append(record)
    return records


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                        help="paths, stems or unique prefixes (default: every notebook in notebooks/)")
    parser.add_argument("--size", choices=RUN_SIZES, default=None,
                        help="run size injected as RUN_SIZE (default: each notebook's own, i.e. $MERLIB_RUN_SIZE "
                             "or 'standard')")
    parser.add_argument("--quick", action="store_true", help="the quick size (same as --size quick)")
    parser.add_argument("--out", default="runs", help="output folder for executed notebooks and JSON (default: runs)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override a parameters-cell value (VALUE parsed as YAML); repeatable")
    parser.add_argument("--notebook-dir", default=None, help="where to look for notebooks (default: notebooks/)")
    parser.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    parser.add_argument("--cell-timeout", type=int, default=DEFAULT_CELL_TIMEOUT_S,
                        help=f"seconds per cell before the run fails naming the cell (default {DEFAULT_CELL_TIMEOUT_S})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    params = {name: _parse_value(value) for name, value in args.parameter}
    try:
        if args.quick and args.size not in (None, "quick"):
            raise ValueError(f"reproduce: --quick contradicts --size {args.size}")
        records = reproduce(args.notebooks, quick=args.quick, size=args.size, out=args.out, parameters=params,
                            notebook_dir=args.notebook_dir, kernel=args.kernel,
                            cell_timeout=args.cell_timeout, progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print()
    print(_summary(records))
    failed = [r["notebook"] for r in records if r["status"] != "ok"]
    if failed:
        print(f"\n{len(failed)} of {len(records)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"\nAll {len(records)} notebook(s) ran; results in {Path(args.out).resolve()}")
    return 0
