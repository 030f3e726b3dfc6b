"""Sweeps: (parameter values × folds) as independent fold jobs on a local or a Ray executor.

``merlib.eval.sweep(grid, model_fn, dataset, ...)`` runs every grid point under the same protocol
and returns one :class:`~merlib.eval.Result` per point. The unit of work is one fold of one point
(:class:`~merlib.eval.runner.FoldJob`), so the executor can spread ``points × folds`` jobs:

* ``executor="local"`` (default): ``workers=1`` runs them in this process; ``workers>1`` uses a
  process pool (``spawn`` start method, safe with torch threads);
* ``executor="ray"``: one Ray task per job (``address=`` an existing cluster, or a local instance;
  ``gpus_per_task`` may be a fraction, e.g. 0.25 puts four jobs on one GPU).

Results are identical across executors: fold seeds depend only on the base seed and the fold name,
every job runs with the same number of torch threads (``cpus_per_task`` unless the TrainConfig
sets ``num_threads``), and the shared disk cache makes magnified frames and frozen features of a clip
computed once per point, whichever worker needs them first.

A grid point's keys are applied this way: a :class:`TrainConfig` field replaces that field;
anything else becomes a parameter of the ``preprocess`` :class:`Step` (e.g. ``{"alpha": [0, 5, 10]}``
sets ``alpha`` of a magnification step — merlib's convention ``f(x + (1 + alpha)·δ)``). Pass
``configure(point) -> dict`` to decide otherwise (keys ``model_fn``, ``preprocess``, ``backbone``,
``train_cfg``).
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from merlib.eval.cache import Cache
from merlib.eval.pipeline import Step
from merlib.eval.policy import OPTIMISTIC_LABEL, check_policy, is_optimistic
from merlib.eval.protocols import get_folds
from merlib.eval.result import Result
from merlib.eval.runner import (TrainConfig, _assemble, _check_dataset, _fingerprints, _make_jobs, _prepare_dir,
                                _run_identity, _safe, run_fold, with_overrides)

__all__ = ["sweep", "SweepResult", "grid_points"]

_CFG_FIELDS = {f.name for f in fields(TrainConfig)}


def grid_points(grid: dict[str, list]) -> list[dict]:
    """The cartesian product of ``grid`` (name -> list of values) as a list of dicts, in order."""
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"sweep: `grid` must be a non-empty dict name -> list of values, got {grid!r}")
    for k, v in grid.items():
        if not isinstance(v, (list, tuple)) or len(v) == 0:
            raise ValueError(f"sweep: grid[{k!r}] must be a non-empty list of values, got {v!r}")
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def _default_configure(point, model_fn, preprocess, backbone, cfg):
    cfg_kw = {k: v for k, v in point.items() if k in _CFG_FIELDS}
    step_kw = {k: v for k, v in point.items() if k not in _CFG_FIELDS}
    if step_kw and preprocess is None:
        raise ValueError(f"sweep: grid keys {sorted(step_kw)} are not TrainConfig fields and there is no "
                         "`preprocess` Step to receive them; pass `configure=`")
    return {"model_fn": model_fn, "preprocess": preprocess.with_params(**step_kw) if step_kw else preprocess,
            "backbone": backbone, "train_cfg": with_overrides(cfg, **cfg_kw) if cfg_kw else cfg}


@dataclass
class SweepResult:
    """One :class:`Result` per grid point, plus the timings of the whole sweep."""

    points: list[dict]
    results: list[Result]
    seconds: float
    executor: str

    def table(self, metrics: list[str] | None = None) -> pd.DataFrame:
        """Metrics per grid point (rows indexed by the point's parameters). Labelled optimistic when it is."""
        metrics = metrics or ["pooled_uf1", "pooled_uar", "pooled_accuracy", "fold_mean_accuracy",
                              "fold_mean_macro_f1"]
        rows = [{**p, **{m: r.metrics[m] for m in metrics}} for p, r in zip(self.points, self.results)]
        df = pd.DataFrame(rows).set_index(list(self.points[0]))
        policy = self.results[0].policy
        df.attrs["policy"] = policy
        df.attrs["optimistic"] = is_optimistic(policy)
        if is_optimistic(policy):
            df.columns = [f"{c} [OPTIMISTIC]" for c in df.columns]
            df.attrs["label"] = OPTIMISTIC_LABEL
        return df

    def __getitem__(self, i) -> Result:
        return self.results[i]


def _run_fold_quiet(job):
    return run_fold(job, progress=False)


def _execute(jobs, executor, workers, address, gpus_per_task, cpus_per_task, progress) -> list[dict]:
    from tqdm.auto import tqdm

    if executor == "local":
        if workers <= 1:
            return [run_fold(j, progress=False) for j in tqdm(jobs, desc="sweep jobs", disable=not progress)]
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            return list(tqdm(pool.map(_run_fold_quiet, jobs), total=len(jobs), desc="sweep jobs",
                             disable=not progress))
    if executor == "ray":
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - ray is in the `scale` extra
            raise ValueError("sweep: executor='ray' needs `pip install ray` (merlib[scale])") from exc
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
        remote = ray.remote(_run_fold_quiet).options(num_cpus=cpus_per_task, num_gpus=gpus_per_task)
        refs = [remote.remote(j) for j in jobs]
        order = {r: i for i, r in enumerate(refs)}
        out: list[Any] = [None] * len(refs)
        pending = list(refs)
        with tqdm(total=len(refs), desc="sweep jobs (ray)", disable=not progress) as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for r in done:
                    out[order[r]] = ray.get(r)
                    bar.update(1)
        return out
    raise ValueError(f"sweep: `executor` must be 'local' or 'ray', got {executor!r}")


def sweep(grid: dict[str, list], model_fn: Callable, dataset, protocol="loso", train_cfg: TrainConfig | None = None,
          *, preprocess: Step | None = None, backbone=None, configure: Callable[[dict], dict] | None = None,
          policy: str = "last", seed: int = 0, device="auto", cache: Cache | None = None,
          executor: str = "local", workers: int = 1, address: str | None = None, gpus_per_task: float = 0.0,
          cpus_per_task: int = 1, results_dir=None, resume: bool = True, progress: bool = True,
          name: str | None = None) -> SweepResult:
    """Run ``protocol`` for every point of ``grid``; see the module docstring.

    Args:
        grid: name -> list of values, e.g. ``{"alpha": [0, 10, 20]}``.
        model_fn, dataset, protocol, train_cfg, preprocess, backbone, policy, seed, device, cache:
            as in :func:`merlib.eval.run`.
        configure: ``point -> {"model_fn"?, "preprocess"?, "backbone"?, "train_cfg"?}`` overrides.
        executor: ``"local"`` or ``"ray"``; ``workers`` processes for local (1: this process).
        address: Ray cluster address (``None``: start or reuse a local instance).
        gpus_per_task: GPUs per job on Ray (fractions allowed); ``cpus_per_task``: CPUs per job and
            torch threads per job on every executor.
        results_dir: one sub-folder per point (fold records + checkpoints), so a killed sweep resumes.
            On a multi-machine Ray cluster, ``results_dir`` and the cache root must be on storage every
            node sees (or leave them ``None``: results still come back to the driver).

    Returns:
        :class:`SweepResult` (``.results[i]`` for ``.points[i]``, ``.table()``).
    """
    check_policy(policy)
    _check_dataset(dataset, "sweep")
    cfg = train_cfg or TrainConfig()
    if preprocess is not None and not isinstance(preprocess, Step):
        preprocess = Step(preprocess)
    if isinstance(cpus_per_task, bool) or not isinstance(cpus_per_task, int) or cpus_per_task < 1:
        raise ValueError(f"sweep: `cpus_per_task` must be a positive int, got {cpus_per_task!r}")
    if not (isinstance(gpus_per_task, (int, float)) and gpus_per_task >= 0):
        raise ValueError(f"sweep: `gpus_per_task` must be a number >= 0, got {gpus_per_task!r}")
    points = grid_points(grid)
    folds = get_folds(protocol, dataset.clips)
    all_jobs, spans, meta = [], [], []
    fingerprints = _fingerprints(dataset, cache)
    for point in points:
        conf = _default_configure(point, model_fn, preprocess, backbone, cfg)
        if configure is not None:
            conf.update(configure(dict(point)) or {})
        pcfg = conf["train_cfg"]
        if pcfg.num_threads is None:
            pcfg = with_overrides(pcfg, num_threads=cpus_per_task)
        pre = conf["preprocess"]
        if pre is not None and not isinstance(pre, Step):
            pre = Step(pre)
        identity = _run_identity(conf["model_fn"], dataset, folds, pcfg, policy, seed, pre, conf["backbone"], point)
        slug = _safe("_".join(f"{k}={v}" for k, v in point.items()))
        rdir = _prepare_dir(Path(results_dir) / slug, identity, resume) if results_dir is not None else None
        jobs = _make_jobs(conf["model_fn"], dataset, folds, pcfg, policy, seed, device, pre, conf["backbone"],
                          cache, rdir, point, fingerprints)
        spans.append((len(all_jobs), len(all_jobs) + len(jobs)))
        meta.append((point, pcfg, identity, rdir))
        all_jobs.extend(jobs)
    t0 = time.perf_counter()
    records = _execute(all_jobs, executor, int(workers), address, float(gpus_per_task), cpus_per_task, progress)
    seconds = time.perf_counter() - t0
    results = []
    for (a, b), (point, pcfg, identity, rdir) in zip(spans, meta):
        label = f"{name or getattr(dataset, 'name', 'sweep')} " + " ".join(f"{k}={v}" for k, v in point.items())
        res = _assemble(label, dataset, records[a:b], policy, pcfg, identity, point, seconds)
        if rdir is not None:
            res.save(rdir / "result.json")
        results.append(res)
    return SweepResult(points=points, results=results, seconds=seconds, executor=executor)
