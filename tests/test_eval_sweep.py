"""Sweeps over (grid points × folds): serial, process pool and Ray give identical results."""
import pandas as pd
import pytest

import merlib.eval as E
from merlib.eval.datasets import toy_dataset
from merlib.eval.pipeline import intensity_amplify

CFG = E.TrainConfig(epochs=2, batch_size=8, lr=0.05, size=None)
GRID = {"alpha": [0.0, 3.0]}


@pytest.fixture(scope="module")
def ds():
    return toy_dataset(n_subjects=3, clips_per_subject=4, noise=0.3, seed=5)


def _sweep(ds, tmp_path=None, **kw):
    return E.sweep(GRID, E.linear_head, ds, "loso", CFG, preprocess=E.Step(intensity_amplify, "1"),
                   cache=E.Cache(tmp_path / "cache") if tmp_path else None, progress=False, **kw)


@pytest.fixture(scope="module")
def serial(ds):
    return _sweep(ds)


def test_grid_points_and_config_routing(ds):
    pts = E.sweep.__globals__["grid_points"]({"alpha": [0, 1], "epochs": [1, 2]})
    assert pts == [{"alpha": 0, "epochs": 1}, {"alpha": 0, "epochs": 2}, {"alpha": 1, "epochs": 1},
                   {"alpha": 1, "epochs": 2}]
    sw = E.sweep({"epochs": [1, 2]}, E.linear_head, ds, "loso", CFG, progress=False)
    assert [r.config["train"]["epochs"] for r in sw.results] == [1, 2]
    with pytest.raises(ValueError, match="preprocess"):
        E.sweep({"alpha": [1]}, E.linear_head, ds, "loso", CFG, progress=False)
    with pytest.raises(ValueError, match="grid"):
        E.sweep({}, E.linear_head, ds, progress=False)
    with pytest.raises(ValueError, match="executor"):
        E.sweep({"epochs": [1]}, E.linear_head, ds, executor="dask", progress=False)


def test_sweep_points_equal_single_runs(ds, serial):
    assert [r.params for r in serial.results] == [{"alpha": 0.0}, {"alpha": 3.0}]
    for point, res in zip(serial.points, serial.results):
        single = E.run(E.linear_head, ds, "loso", E.TrainConfig(**{**CFG.__dict__, "num_threads": 1}),
                       preprocess=E.Step(intensity_amplify, "1", point), progress=False)
        pd.testing.assert_frame_equal(single.predictions, res.predictions)
    table = serial.table()
    assert list(table.index) == [0.0, 3.0] and "pooled_uf1" in table.columns and not table.attrs["optimistic"]


def test_oracle_sweep_table_is_labelled(ds):
    sw = E.sweep({"epochs": [2]}, E.linear_head, ds, "loso", CFG, policy="oracle_test", progress=False)
    assert all("OPTIMISTIC" in c for c in sw.table().columns) and sw.table().attrs["optimistic"]


def test_sweep_resumes_from_results_dir(ds, serial, tmp_path):
    first = _sweep(ds, tmp_path, results_dir=tmp_path / "runs")
    again = _sweep(ds, tmp_path, results_dir=tmp_path / "runs")  # all folds read back from disk
    for a, b, c in zip(first.results, again.results, serial.results):
        pd.testing.assert_frame_equal(a.predictions, b.predictions)
        pd.testing.assert_frame_equal(a.predictions, c.predictions)  # the cache changes nothing


@pytest.mark.slow
def test_process_pool_matches_serial(ds, serial, tmp_path):
    pooled = _sweep(ds, tmp_path, executor="local", workers=2)
    for a, b in zip(serial.results, pooled.results):
        pd.testing.assert_frame_equal(a.predictions, b.predictions)


@pytest.mark.ray
@pytest.mark.slow
def test_ray_executor_matches_serial(ds, serial, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        viaray = _sweep(ds, tmp_path, executor="ray", gpus_per_task=0.0)
    finally:
        ray.shutdown()
    assert viaray.executor == "ray"
    for a, b in zip(serial.results, viaray.results):
        pd.testing.assert_frame_equal(a.predictions, b.predictions)
        assert a.metrics == b.metrics
