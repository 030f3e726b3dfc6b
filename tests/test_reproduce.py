"""`python -m merlib reproduce` on tiny notebooks written by the tests."""
import json
import os
import subprocess
import sys

import nbformat
import pytest

from merlib.reproduce import find_notebooks


def _notebook(path, body):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'import os\nRUN_SIZE = os.environ.get("MERLIB_RUN_SIZE") or '
        '("quick" if os.environ.get("MERLIB_QUICK") == "1" else "standard")\nSEED = 0\nRESULTS_PATH = None\nX = 2'
    )
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture()
def nbdir(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    _notebook(d / "01_good.ipynb",
              "import merlib\nQUICK = merlib.check_run_size(RUN_SIZE) == 'quick'\n"
              "merlib.save_results(RESULTS_PATH, metrics={'x_squared': X * X, 'quick': QUICK, 'seed': SEED, "
              "'size': RUN_SIZE})")
    _notebook(d / "02_bad.ipynb", "y = 1\nraise RuntimeError('boom from cell')")
    return d


def test_find_notebooks_by_stem_prefix_and_errors(nbdir):
    assert [p.stem for p in find_notebooks(None, nbdir)] == ["01_good", "02_bad"]
    assert find_notebooks(["01"], nbdir)[0].stem == "01_good"
    assert find_notebooks(["02_bad"], nbdir)[0].stem == "02_bad"
    with pytest.raises(FileNotFoundError, match="matches no notebook"):
        find_notebooks(["99"], nbdir)
    with pytest.raises(FileNotFoundError, match="ambiguous"):
        find_notebooks(["0"], nbdir)


@pytest.mark.slow
def test_reproduce_runs_all_reports_failing_cell_and_exits_nonzero(nbdir, tmp_path):
    out = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, "-m", "merlib", "reproduce", "--notebook-dir", str(nbdir), "--quick",
         "--out", str(out), "-p", "X", "7", "-p", "SEED", "3", "--no-progress"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    good = json.loads((out / "01_good.json").read_text())
    assert good["status"] == "ok"
    assert good["metrics"] == {"x_squared": 49, "quick": True, "seed": 3, "size": "quick"}   # computed in the kernel
    assert good["parameters"]["X"] == 7 and good["quick"] is True and good["run_size"] == "quick"
    for key in ("git_commit", "packages", "device", "wall_time_s", "environment"):
        assert key in good
    assert (out / "01_good.ipynb").exists()
    bad = json.loads((out / "02_bad.json").read_text())
    assert bad["status"] == "failed"
    assert bad["error"]["cell_index"] == 3          # md, parameters, injected-parameters, failing cell
    assert bad["error"]["ename"] == "RuntimeError" and "boom" in bad["error"]["evalue"]
    assert "02_bad" in proc.stderr and "cell 3" in proc.stderr
    assert "01_good" in proc.stdout and "x_squared=49" in proc.stdout  # summary table


@pytest.mark.slow
def test_reproduce_size_is_injected_and_checked(nbdir, tmp_path):
    out = tmp_path / "runs"
    base = [sys.executable, "-m", "merlib", "reproduce", "01_good", "--notebook-dir", str(nbdir), "--no-progress"]
    env = {k: v for k, v in os.environ.items() if k not in ("MERLIB_QUICK", "MERLIB_RUN_SIZE")}
    proc = subprocess.run(base + ["--size", "standard", "--out", str(out)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    good = json.loads((out / "01_good.json").read_text())
    assert good["metrics"]["size"] == "standard" and good["metrics"]["quick"] is False
    assert good["run_size"] == "standard" and good["parameters"]["RUN_SIZE"] == "standard"
    bad = subprocess.run(base + ["--size", "full", "--quick", "--out", str(out)], capture_output=True, text=True,
                         timeout=600, env=env)
    assert bad.returncode == 2 and "contradicts" in bad.stderr
    wrong = subprocess.run(base + ["-p", "RUN_SIZE", "huge", "--out", str(out)], capture_output=True, text=True,
                           timeout=600, env=env)
    assert wrong.returncode == 1 and "RUN_SIZE must be one of" in (wrong.stdout + wrong.stderr)


def test_run_size_defaults_and_errors():
    import merlib
    from merlib.run_size import default_run_size
    assert default_run_size({}) == "standard"
    assert default_run_size({"MERLIB_QUICK": "1"}) == "quick"
    assert default_run_size({"MERLIB_QUICK": "1", "MERLIB_RUN_SIZE": "full"}) == "full"
    with pytest.raises(ValueError, match="MERLIB_RUN_SIZE must be one of"):
        default_run_size({"MERLIB_RUN_SIZE": "medium"})
    assert merlib.check_run_size("standard") == "standard"
    with pytest.raises(ValueError, match="RUN_SIZE"):
        merlib.check_run_size(True)


def test_stalled_cell_fails_with_the_cell_named(tmp_path):
    """A cell that sleeps past the per-cell limit fails the run (status "timeout") and names the cell."""
    import nbformat

    from merlib.reproduce import reproduce

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("RUN_SIZE = 'quick'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("import time\ntime.sleep(60)  # stalls")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nb").mkdir()
    nbformat.write(nb, str(tmp_path / "nb" / "sleepy.ipynb"))
    [rec] = reproduce(["sleepy"], quick=True, out=tmp_path / "runs", notebook_dir=tmp_path / "nb", cell_timeout=3,
                      progress=False)
    assert rec["status"] == "timeout", rec["error"]
    assert rec["error"]["cell_index"] == 2 and "time.sleep(60)" in rec["error"]["source"][1]
    assert rec["wall_time_s"] < 45
