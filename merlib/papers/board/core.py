"""The board's machinery: method registry, resumable runs, the table, the note and the figure.

See :mod:`merlib.papers.board` for the overview and how to add a method.
"""
from __future__ import annotations

import json
import re
import shutil
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from merlib.eval.cache import key_of
from merlib.eval.policy import OPTIMISTIC_LABEL
from merlib.eval.result import Result
from merlib.eval.significance import bootstrap_ci, mcnemar, paired_bootstrap, resample_indices

__all__ = ["BOARD_VERSION", "CLEAN", "OPTIMISTIC", "Reported", "reported_from_table", "Method", "BoardContext",
           "REGISTRY", "register", "registered", "MethodRun", "Board", "run_board", "board_table", "board_note",
           "board_figure", "metric_ci", "measure_cost", "load_board_dataset"]

#: Bump when the board's own computation changes what a stored method run means.
BOARD_VERSION = "1"
#: The clean policy (nothing selected on the test subject) and the OPTIMISTIC one.
CLEAN, OPTIMISTIC = "last", "oracle_test"
POLICIES = (CLEAN, OPTIMISTIC)


# ------------------------------------------------------------------------------------------------
# what a paper reports
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reported:
    """One reported headline number (a fraction), where it comes from and on which data.

    ``table_ref = (paper, table, row, column)`` when it is a cell of a room's ``reported.yaml``
    (then the board computes paper vs. ours with :func:`merlib.eval.compare`); ``optimistic_value`` is a
    number the source measured with test-set epoch selection (MEB), when it did.
    """

    value: float
    metric: str
    dataset: str
    source: str
    label: str = ""
    optimistic_value: float | None = None
    table_ref: tuple | None = None
    note: str = ""


def reported_from_table(paper: str, table: str, row, column: str, note: str = "") -> Reported:
    """The cell ``(row, column)`` of ``merlib.papers.table(paper, table)`` as a :class:`Reported`."""
    from merlib import papers

    t = papers.table(paper, table)
    frac = t.as_fraction()
    if row not in frac.index or column not in t.metric_columns():
        raise ValueError(f"reported_from_table: {paper}/{table} has no metric cell ({row!r}, {column!r})")
    meta = t.columns[column]
    dataset = meta.get("dataset") or t.meta.get("dataset") or "?"
    return Reported(value=float(frac.loc[row, column]), metric=str(meta["merlib_metric"]), dataset=str(dataset),
                    source=f"{papers.paper_info(paper)['short_name']} ({paper}), {table}, row {row!r}",
                    label=str(meta.get("label", column)), table_ref=(paper, table, row, column), note=note)


# ------------------------------------------------------------------------------------------------
# the registry
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Method:
    """One board entry.

    Attributes:
        name: the row label.
        run: ``run(ctx, settings, policies, results_dir, on_fold_end) -> {policy: Result}``: trains through
            :func:`merlib.eval.run` with ``policy=policies`` (one training run, every policy scored),
            ``results_dir`` (per-fold resume) and ``on_fold_end`` (the board measures parameters and GMACs
            of the first trained fold model) passed on. A module-level function (process pools pickle it).
        settings: run size (``"quick"``, ``"standard"``) -> JSON-able settings, part of the run's identity;
            ``"full"`` uses ``"standard"``'s unless given.
        paper: the room's key (``None`` for a baseline without a paper).
        reported: zero-argument callable returning a :class:`Reported` (or ``None``): where the paper's number is.
        description: what runs, incl. what stands in for what.
        version: bump when ``run`` changes its numbers.
        magnifiers: the shipped learned magnifiers ``run`` reads (``"oh2018"``, ``"stmemm"``); their file digests
            (:func:`merlib.magnify.load.shipped_digest`) are part of the run's identity, so a new checkpoint
            reruns the method instead of reading back numbers made with the old one.
    """

    name: str
    run: Callable
    settings: dict
    paper: str | None = None
    reported: Callable | None = None
    description: str = ""
    version: str = "1"
    magnifiers: tuple = ()

    def settings_for(self, run_size: str) -> dict:
        if run_size in self.settings:
            return dict(self.settings[run_size])
        if run_size == "full" and "standard" in self.settings:
            return dict(self.settings["standard"])
        raise ValueError(f"board: method {self.name!r} has no settings for run size {run_size!r}")

    def reported_number(self) -> Reported | None:
        return self.reported() if self.reported is not None else None


#: name -> Method, in board order.
REGISTRY: dict[str, Method] = {}


def register(method: Method, replace: bool = False) -> Method:
    """Add ``method`` to :data:`REGISTRY` (``replace=True`` to overwrite an entry of the same name)."""
    if not isinstance(method, Method):
        raise ValueError(f"register: expected a board Method, got {type(method).__name__}")
    if method.name in REGISTRY and not replace:
        raise ValueError(f"register: a method named {method.name!r} is already on the board")
    REGISTRY[method.name] = method
    return method


def registered() -> list[str]:
    return list(REGISTRY)


@dataclass
class BoardContext:
    """What every method run shares: the one dataset, run size, seed, device; ``shared`` holds heavy
    objects (backbones) built once per process."""

    dataset: Any
    run_size: str
    seed: int = 0
    device: Any = "auto"
    progress: bool = False
    shared: dict = field(default_factory=dict)


def load_board_dataset(run_size: str, data_seed: int = 0):
    """The synthetic benchmark of ``run_size`` (``preset_for(run_size)``) with the MEGC2019 3 classes."""
    from merlib.data import load_dataset
    from merlib.data.synthetic import preset_for

    return load_dataset("synthetic", preset=preset_for(run_size), seed=data_seed, classes="megc3", progress=False)


# ------------------------------------------------------------------------------------------------
# cost
# ------------------------------------------------------------------------------------------------
def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    ps = list(model.parameters())
    return int(sum(p.numel() for p in ps if p.requires_grad)), int(sum(p.numel() for p in ps))


def measure_cost(model: torch.nn.Module, inputs: list | None) -> dict:
    """Parameters and GMACs of one forward pass on one sample.

    ``inputs``: ``[(shape without batch, dtype), ...]`` of the model's arguments (zeros are fed; the count
    does not depend on values). GMACs = FLOPs / 2 / 1e9 from :class:`torch.utils.flop_counter.FlopCounterMode`
    (matmul / conv / attention ops; ops it has no formula for, e.g. recurrent cells, are not counted).
    """
    trainable, total = count_parameters(model)
    out = {"params_trainable": trainable, "params_total": total, "gmacs": None, "gmacs_note": ""}
    if not inputs:
        out["gmacs_note"] = "no recorded input shape"
        return out
    try:
        from torch.utils.flop_counter import FlopCounterMode

        dev = next(iter(model.parameters())).device if any(True for _ in model.parameters()) else torch.device("cpu")
        args = [torch.zeros((1, *shape), dtype=dtype, device=dev) for shape, dtype in inputs]
        was = model.training
        model.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            model(*args)
        model.train(was)
        out["gmacs"] = fc.get_total_flops() / 2 / 1e9
        out["gmacs_note"] = "torch.utils.flop_counter, one sample as trained (cached frozen stages not counted)"
    except Exception as exc:  # a model the counter cannot trace: parameters still count
        out["gmacs_note"] = f"not counted: {type(exc).__name__}: {exc}"[:200]
    return out


class _CostProbe:
    """Records every module's first input shapes (a global forward pre-hook) until the first fold's model is
    handed to :meth:`on_fold_end`, then measures it (:func:`measure_cost`)."""

    def __init__(self):
        self.shapes: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
        self.cost: dict | None = None
        self._handle = None

    def _pre(self, module, args):
        if self.cost is None and module not in self.shapes:
            self.shapes[module] = [(tuple(a.shape[1:]), a.dtype) for a in args if isinstance(a, torch.Tensor)]

    def __enter__(self):
        from torch.nn.modules.module import register_module_forward_pre_hook

        self._handle = register_module_forward_pre_hook(self._pre)
        return self

    def __exit__(self, *exc):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def on_fold_end(self, fold_name, model, record):
        if self.cost is None:
            self.__exit__()
            self.cost = measure_cost(model, self.shapes.get(model))
            self.shapes = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------------
@dataclass
class MethodRun:
    """One method's stored run: ``{policy: Result}``, cost, identity; ``resumed`` when read back from disk."""

    name: str
    paper: str | None
    results: dict
    cost: dict
    identity: dict
    key: str
    resumed: bool = False
    seconds: float = 0.0


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))


def _dataset_identity(ds) -> dict:
    c = ds.clips
    cols = [x for x in ("dataset", "subject", "clip", "label") if x in c.columns]
    return {"name": str(getattr(ds, "name", "?")), "n": len(c), "clips": key_of(c[cols].astype(str).to_numpy().tolist())}


def method_identity(method: Method, ctx: BoardContext, policies=POLICIES) -> dict:
    ident = {"board": BOARD_VERSION, "method": method.name, "version": method.version, "run_size": ctx.run_size,
             "settings": method.settings_for(ctx.run_size), "dataset": _dataset_identity(ctx.dataset),
             "seed": int(ctx.seed), "policies": list(policies)}
    if method.magnifiers:  # absent otherwise, so the identities of methods without one are unchanged
        from merlib.magnify.load import shipped_digest

        ident["magnifier_weights"] = {m: shipped_digest(m) for m in method.magnifiers}
    return ident


def method_dir(results_dir, method: Method, ctx: BoardContext) -> tuple[Path | None, dict, str]:
    ident = method_identity(method, ctx)
    key = key_of(ident)
    d = Path(results_dir) / f"{_safe(method.name)}-{key[:12]}" if results_dir is not None else None
    return d, ident, key


def _load_stored(d: Path, key: str, method: Method) -> MethodRun | None:
    entry = d / "board_entry.json"
    if not entry.exists():
        return None
    rec = json.loads(entry.read_text())
    if rec.get("key") != key or not all((d / f"result_{p}.json").exists() for p in POLICIES):
        return None
    return MethodRun(method.name, method.paper, {p: Result.load(d / f"result_{p}.json") for p in POLICIES},
                     rec.get("cost", {}), rec.get("identity", {}), key, resumed=True, seconds=0.0)


def run_method(method: Method, ctx: BoardContext, results_dir=None, resume: bool = True) -> MethodRun:
    """Run (or read back) one method: policies ``last`` and ``oracle_test`` from one training run.

    With ``results_dir`` the run lives in ``results_dir/<name>-<identity key>/``: ``board_entry.json``
    (identity, cost), ``result_<policy>.json`` and the runner's fold records ``run/`` (a killed run resumes
    at the fold and epoch it stopped). A finished method with the same identity is read back, not rerun.
    """
    from merlib.results import atomic_write_json

    d, ident, key = method_dir(results_dir, method, ctx)
    if d is not None:
        if not resume and d.exists():
            shutil.rmtree(d)
        stored = _load_stored(d, key, method) if d.exists() else None
        if stored is not None:
            return stored
        d.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with _CostProbe() as probe:
        results = method.run(ctx, method.settings_for(ctx.run_size), POLICIES,
                             str(d / "run") if d is not None else None, probe.on_fold_end)
    missing = [p for p in POLICIES if p not in results]
    if missing:
        raise ValueError(f"board: method {method.name!r} returned no result for policies {missing}")
    cost = dict(probe.cost or {})
    cost_file = d / "cost.json" if d is not None else None
    if cost_file is not None:
        if probe.cost is not None:
            atomic_write_json(cost_file, cost)
        elif cost_file.exists():  # every fold was read back from an earlier, killed session
            cost = json.loads(cost_file.read_text())
    cost["train_seconds"] = float(np.sum(results[CLEAN].timings.get("fold_seconds", [np.nan])))
    seconds = time.perf_counter() - t0
    if d is not None:
        for p in POLICIES:
            results[p].save(d / f"result_{p}.json")
        atomic_write_json(d / "board_entry.json", {"key": key, "identity": ident, "cost": cost,
                                                   "seconds_this_session": seconds})
    return MethodRun(method.name, method.paper, {p: results[p] for p in POLICIES}, cost, ident, key, False, seconds)


def _worker(method: Method, dataset, run_size, seed, device, results_dir, resume) -> MethodRun:
    torch.set_num_threads(1)
    ctx = BoardContext(dataset, run_size, seed, device)
    return run_method(method, ctx, results_dir, resume)


def _resolve(methods) -> list[Method]:
    if methods is None:
        return list(REGISTRY.values())
    out = []
    for m in methods:
        if isinstance(m, Method):
            out.append(m)
        elif m in REGISTRY:
            out.append(REGISTRY[m])
        else:
            raise ValueError(f"board: unknown method {m!r}; registered: {registered()}")
    if len({m.name for m in out}) != len(out):
        raise ValueError("board: a method is listed twice")
    return out


def run_board(run_size: str = "quick", *, methods=None, dataset=None, seed: int = 0, device="auto",
              results_dir=None, resume: bool = True, workers: int = 1, executor: str = "local",
              address: str | None = None, n_boot: int = 1000, progress: bool = False) -> "Board":
    """Every method on the same dataset, LOSO folds and seed; see :mod:`merlib.papers.board`.

    Args:
        run_size: ``quick`` | ``standard`` | ``full`` (methods' settings and the synthetic preset
            ``merlib.data.synthetic.preset_for(run_size)``).
        methods: names or :class:`Method` objects (default: every registered one).
        dataset: another dataset (a licensed copy, the MEGC2019 composite); default the synthetic benchmark.
        results_dir: where each method's run is stored (resumable; finished methods are read back).
        workers: >1 runs methods in a process pool (``spawn``, one torch thread each); ``executor="ray"``
            runs one Ray task per method (``address``: a cluster; ``results_dir`` must be storage every node
            sees). Numbers are the same on every executor (fold seeds depend only on seed and fold name).
        n_boot: bootstrap resamples of the CIs and paired tests.
    """
    from merlib.run_size import check_run_size

    run_size = check_run_size(run_size)
    ms = _resolve(methods)
    if not ms:
        raise ValueError("board: no methods to run")
    ds = dataset if dataset is not None else load_board_dataset(run_size)
    ctx = BoardContext(ds, run_size, int(seed), device, progress)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"board: `workers` must be a positive int, got {workers!r}")
    if executor not in ("local", "ray"):
        raise ValueError(f"board: `executor` must be 'local' or 'ray', got {executor!r}")
    runs: dict[str, MethodRun] = {}
    if executor == "local" and workers == 1:
        from tqdm.auto import tqdm

        for m in tqdm(ms, desc="board", disable=not progress):
            runs[m.name] = run_method(m, ctx, results_dir, resume)
    elif executor == "local":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            futs = {m.name: pool.submit(_worker, m, ds, run_size, int(seed), device, results_dir, resume) for m in ms}
            runs = {n: f.result() for n, f in futs.items()}
    else:
        try:
            import ray
        except ImportError as exc:  # pragma: no cover
            raise ValueError("board: executor='ray' needs `pip install ray` (merlib[scale])") from exc
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
        remote = ray.remote(_worker).options(num_cpus=1)
        refs = {m.name: remote.remote(m, ds, run_size, int(seed), device, results_dir, resume) for m in ms}
        runs = {n: ray.get(r) for n, r in refs.items()}
    reported = {m.name: m.reported_number() for m in ms}
    table = board_table(runs, reported, n_boot=n_boot, seed=int(seed))
    return Board(run_size=run_size, dataset=ds, seed=int(seed), runs=runs, reported=reported, table=table,
                 note=board_note(table, ds))


# ------------------------------------------------------------------------------------------------
# the table
# ------------------------------------------------------------------------------------------------
def metric_ci(result: Result, key: str, n_boot: int = 1000, seed: int = 0) -> dict:
    """A merlib metric key (``pooled_uf1``, ``fold_mean_accuracy`` ...) of ``result`` with a 95 % CI from a
    bootstrap over subjects: pooled metrics via :func:`merlib.eval.bootstrap_ci`; fold means by resampling
    the folds (one subject each under LOSO)."""
    value = float(result.metrics[key])
    if key.startswith("pooled_"):
        ci = bootstrap_ci(result, key[len("pooled_"):], n_boot=n_boot, seed=seed, by="subject")
        return {"value": value, "ci_low": ci["ci_low"], "ci_high": ci["ci_high"]}
    if key.startswith("fold_mean_"):
        vals = result.folds[key[len("fold_mean_"):]].to_numpy(dtype=np.float64)
        boots = resample_indices(np.arange(len(vals)), n_boot, seed, by="clip")
        lo, hi = np.quantile([vals[b].mean() for b in boots], [0.025, 0.975])
        return {"value": value, "ci_low": float(lo), "ci_high": float(hi)}
    return {"value": value, "ci_low": np.nan, "ci_high": np.nan}


_SHOWN = {"uf1": "pooled_uf1", "uar": "pooled_uar", "accuracy_pooled": "pooled_accuracy",
          "accuracy_fold_mean": "fold_mean_accuracy"}


def _paper_vs_ours(rep: Reported, result: Result) -> tuple[float, float]:
    """(paper, ours) in the paper's metric; through merlib.eval.compare for a reported.yaml cell."""
    if rep.table_ref is not None:
        from merlib import papers
        from merlib.eval.compare import compare

        paper, table, row, column = rep.table_ref
        cmp = compare(result, papers.table(paper, table), paper_row=row, columns=[column])
        t = cmp.table
        return float(t["paper (reported)"].iloc[0]), float(t[t.attrs["ours_column"]].iloc[0])
    return float(rep.value), float(result.metrics[rep.metric])


def board_table(runs: dict, reported: dict | None = None, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per method (fractions); see the module docstring for the columns.

    The best clean method is the highest clean pooled UF1 (the first in board order on ties); every other
    method is compared with it on the same clips: paired bootstrap over subjects of ΔUF1 (this − best) and
    McNemar's exact test (``b``: best right and this wrong, ``c``: the reverse).
    """
    reported = reported or {}
    rows = []
    for name, r in runs.items():
        clean, opt = r.results[CLEAN], r.results[OPTIMISTIC]
        row = {"method": name, "paper": r.paper}
        rep = reported.get(name)
        row.update({"reported_source": rep.source if rep else None, "reported_dataset": rep.dataset if rep else None,
                    "reported_metric": rep.metric if rep else None, "reported_value": np.nan,
                    "reported_OPTIMISTIC_value": np.nan, "clean_on_reported_metric": np.nan,
                    "clean_on_reported_ci_low": np.nan, "clean_on_reported_ci_high": np.nan,
                    "OPTIMISTIC_on_reported_metric": np.nan, "OPTIMISTIC_on_reported_ci_low": np.nan,
                    "OPTIMISTIC_on_reported_ci_high": np.nan, "delta_clean_vs_reported": np.nan})
        if rep is not None:
            pv, cv = _paper_vs_ours(rep, clean)
            c_ci, o_ci = metric_ci(clean, rep.metric, n_boot, seed), metric_ci(opt, rep.metric, n_boot, seed)
            row.update({"reported_value": pv, "clean_on_reported_metric": cv,
                        "clean_on_reported_ci_low": c_ci["ci_low"], "clean_on_reported_ci_high": c_ci["ci_high"],
                        "OPTIMISTIC_on_reported_metric": o_ci["value"], "OPTIMISTIC_on_reported_ci_low": o_ci["ci_low"],
                        "OPTIMISTIC_on_reported_ci_high": o_ci["ci_high"], "delta_clean_vs_reported": cv - pv,
                        "reported_OPTIMISTIC_value": rep.optimistic_value if rep.optimistic_value is not None else np.nan})
        for tag, res in (("clean", clean), ("OPTIMISTIC", opt)):
            for short, key in _SHOWN.items():
                row[f"{tag}_{short}"] = float(res.metrics[key])
            ci = bootstrap_ci(res, "uf1", n_boot=n_boot, seed=seed, by="subject")
            row[f"{tag}_uf1_ci_low"], row[f"{tag}_uf1_ci_high"] = ci["ci_low"], ci["ci_high"]
        for short in _SHOWN:
            row[f"inflation_{short}"] = row[f"OPTIMISTIC_{short}"] - row[f"clean_{short}"]
        cost = r.cost or {}
        row.update({"train_seconds": cost.get("train_seconds", np.nan),
                    "params_trainable": cost.get("params_trainable"), "params_total": cost.get("params_total"),
                    "gmacs": cost.get("gmacs"), "resumed": bool(r.resumed)})
        rows.append(row)
    df = pd.DataFrame(rows).set_index("method")
    best = str(df["clean_uf1"].idxmax())
    df["rank_clean"] = df["clean_uf1"].rank(ascending=False, method="min").astype(int)
    df["rank_OPTIMISTIC"] = df["OPTIMISTIC_uf1"].rank(ascending=False, method="min").astype(int)
    for c in ("vs_best_d_uf1", "vs_best_ci_low", "vs_best_ci_high", "vs_best_p_bootstrap", "mcnemar_b",
              "mcnemar_c", "mcnemar_p"):
        df[c] = np.nan
    ref = runs[best].results[CLEAN]
    for name in df.index:
        if name == best:
            continue
        pb = paired_bootstrap(ref, runs[name].results[CLEAN], "uf1", n_boot=n_boot, seed=seed, by="subject")
        mc = mcnemar(ref, runs[name].results[CLEAN])
        df.loc[name, ["vs_best_d_uf1", "vs_best_ci_low", "vs_best_ci_high", "vs_best_p_bootstrap", "mcnemar_b",
                      "mcnemar_c", "mcnemar_p"]] = [pb["diff"], pb["ci_low"], pb["ci_high"], pb["pvalue"], mc["b"],
                                                    mc["c"], mc["pvalue"]]
    df.attrs.update({"best_clean": best, "clean_policy": CLEAN, "optimistic_policy": OPTIMISTIC,
                     "optimistic_label": OPTIMISTIC_LABEL, "unit": "fraction", "n_boot": int(n_boot),
                     "ci": "95 % percentile bootstrap over subjects"})
    return df


def _fmt(v, ci=None):
    s = f"{v:.3f}"
    return s + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci is not None else "")


def board_note(table: pd.DataFrame, dataset=None) -> str:
    """What the board says, computed from ``table``: the clean ranking with CIs, which differences are
    significant, the inflation of test-set epoch selection, and what the clean column changes against the
    papers' column."""
    t = table
    lines = []
    if dataset is not None:
        c = dataset.clips
        lines.append(f"Data: {getattr(dataset, 'name', '?')} ({len(c)} clips, {c['subject'].nunique()} subjects, "
                     f"{dataset.num_classes} classes), LOSO, the same folds and seed for every method; clean = policy "
                     f"'{CLEAN}', OPTIMISTIC = '{OPTIMISTIC}' (epoch chosen on the test subject).")
    order = t.sort_values("clean_uf1", ascending=False)
    lines.append("Clean ranking by pooled UF1 (95 % CI over subjects): " + " > ".join(
        f"{n} {_fmt(r.clean_uf1, (r.clean_uf1_ci_low, r.clean_uf1_ci_high))}" for n, r in order.iterrows()) + ".")
    best = t.attrs.get("best_clean", order.index[0])
    others = t.drop(index=best)
    worse = [n for n, r in others.iterrows() if r.vs_best_ci_high < 0]
    if len(others):
        lines.append(f"Best clean method: {best}. Paired subject bootstrap of ΔUF1 vs {best}: CI below 0 for "
                     f"{len(worse)} of {len(others)} ({', '.join(worse) or 'none'})"
                     + ("" if len(worse) == len(others) else "; the rest are not distinguishable from it here")
                     + ". McNemar p < 0.05 for "
                     f"{int((others['mcnemar_p'] < 0.05).sum())} of {len(others)}.")
    infl = t["inflation_uf1"]
    opt_best = str(t["OPTIMISTIC_uf1"].idxmax())
    moved = [n for n in t.index if t.loc[n, "rank_clean"] != t.loc[n, "rank_OPTIMISTIC"]]
    lines.append(f"Selecting the epoch on the test subject (OPTIMISTIC) changes pooled UF1 by {infl.mean():+.3f} on "
                 f"average (from {infl.min():+.3f} to {infl.max():+.3f}; it picks each fold's best epoch, so pooled "
                 f"UF1 can still drop). The OPTIMISTIC column's best is {opt_best}"
                 + (" (the same as the clean best)." if opt_best == best else f" (clean best: {best}).")
                 + (f" Ranks that move: {', '.join(moved)}." if moved else " No rank moves."))
    rep = t[t["reported_value"].notna()]
    if len(rep):
        below = rep[rep["delta_clean_vs_reported"] < 0]
        gaps = (rep["reported_value"] - rep["clean_on_reported_metric"])
        part = [f"{n}: paper {r.reported_value:.3f} ({r.reported_metric}, {r.reported_dataset}) vs clean "
                f"{r.clean_on_reported_metric:.3f}, OPTIMISTIC {r.OPTIMISTIC_on_reported_metric:.3f}"
                for n, r in rep.iterrows()]
        lines.append("What the clean column changes against the paper column: " + "; ".join(part) + ". "
                     f"Clean is below the reported number for {len(below)} of {len(rep)} methods "
                     f"(mean gap {gaps.mean():+.3f} = paper − clean)"
                     + (f"; where clean is below, test-set selection closes "
                        f"{np.mean((rep['OPTIMISTIC_on_reported_metric'] - rep['clean_on_reported_metric'])[gaps > 1e-9] / gaps[gaps > 1e-9]):.0%} "
                        "of the gap on average." if (gaps > 1e-9).any() else "."))
        po = list(rep.sort_values("reported_value", ascending=False).index)
        co = list(rep.sort_values("clean_on_reported_metric", ascending=False).index)
        lines.append(f"Order by the papers' numbers: {' > '.join(po)}; by ours (clean, same metrics): {' > '.join(co)}"
                     + (" — the same order." if po == co else " — a different order.")
                     + " The papers' numbers come from other (licensed) datasets, other metrics and their own "
                     "backbones and schedules, so the paper − clean gap mixes data, stand-ins and protocol; only the "
                     "inflation column isolates the protocol, on the same data.")
        meb = rep[rep["reported_OPTIMISTIC_value"].notna()]
        for n, r in meb.iterrows():
            lines.append(f"{n}: the source measured test-set selection adding "
                         f"{r.reported_OPTIMISTIC_value - r.reported_value:+.3f} UF1 on its data; here "
                         f"{r.inflation_uf1:+.3f}.")
    return "\n".join(lines)


def board_figure(table: pd.DataFrame):
    """The dot plot: methods × {paper, clean, OPTIMISTIC} with 95 % CIs — left: pooled UF1 (paper where it
    reports UF1), right: each paper's own headline metric. Returns a matplotlib figure."""
    import matplotlib.pyplot as plt

    t = table.sort_values("clean_uf1")
    y = np.arange(len(t))
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.55 * len(t) + 1.8), sharey=True)
    panels = [("pooled UF1", "clean_uf1", "OPTIMISTIC_uf1", "clean_uf1_ci", "OPTIMISTIC_uf1_ci"),
              ("the paper's own metric (named per row)", "clean_on_reported_metric", "OPTIMISTIC_on_reported_metric",
               "clean_on_reported_ci", "OPTIMISTIC_on_reported_ci")]
    for ax, (title, c, o, cci, oci) in zip(axes, panels):
        for dy, col, ci, style, label in ((-0.12, c, cci, dict(color="tab:blue", marker="o"), "ours, clean (last)"),
                                          (0.12, o, oci, dict(color="tab:red", marker="o", mfc="white"),
                                           "ours, OPTIMISTIC (oracle_test)")):
            v = t[col].to_numpy(dtype=float)
            lo, hi = t[f"{ci}_low"].to_numpy(dtype=float), t[f"{ci}_high"].to_numpy(dtype=float)
            ax.errorbar(v, y + dy, xerr=[np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)], ls="none", capsize=3,
                        label=label, **style)
        pv = t["reported_value"].to_numpy(dtype=float)
        if c == "clean_uf1":
            pv = np.where(t["reported_metric"].to_numpy() == "pooled_uf1", pv, np.nan)
        ax.plot(pv, y, "k*", ms=11, label="paper (reported; its own dataset)")
        ax.set_title(title)
        ax.set_xlim(0, 1)
        ax.grid(axis="x", alpha=0.3)
    labels = [n if pd.isna(r.reported_metric) else f"{n}\n({r.reported_metric}, {r.reported_dataset})"
              for n, r in t.iterrows()]
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[1].legend(fontsize=8, loc="lower right")
    fig.suptitle("The clean board: paper vs. clean vs. OPTIMISTIC (95 % CIs over subjects)")
    fig.tight_layout()
    return fig


@dataclass
class Board:
    """The result of :func:`run_board`: ``table`` (one row per method), ``note``, ``runs`` (the Results)."""

    run_size: str
    dataset: Any
    seed: int
    runs: dict
    reported: dict
    table: pd.DataFrame
    note: str

    def figure(self):
        return board_figure(self.table)

    def metrics(self) -> dict:
        out = {}
        for n, r in self.table.iterrows():
            for col in ("clean_uf1", "OPTIMISTIC_uf1", "inflation_uf1", "clean_uar", "clean_accuracy_pooled",
                        "clean_accuracy_fold_mean"):
                out[f"{n}/{col}"] = r[col]
        out["best_clean"] = self.table.attrs["best_clean"]
        return out

    def save(self, out_dir) -> Path:
        """``board.json`` (the :func:`merlib.save_results` record), ``board.csv`` and ``board.png`` in ``out_dir``."""
        import matplotlib.pyplot as plt

        from merlib.results import save_results

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.table.to_csv(out / "board.csv")
        fig = self.figure()
        fig.savefig(out / "board.png", dpi=120)
        plt.close(fig)
        save_results(out / "board.json", metrics=self.metrics(), tables={"board": self.table.reset_index()},
                     note=self.note, run_size=self.run_size, seed=self.seed, attrs=dict(self.table.attrs),
                     dataset=str(self.dataset))
        return out
