"""Paper vs. ours vs. Δ: put merlib's numbers next to a paper's reported table.

``compare(ours, paper_table)`` accepts as ``ours``:

* a :class:`~merlib.eval.Result` (or a dict of metrics) — compared with one row of the paper's table
  (``paper_row``; default: the last row, which is the paper's own method in every transcribed table);
* a :class:`~merlib.eval.sweep.SweepResult` or a DataFrame indexed like the paper's table (e.g. α),
  whose columns are merlib metric keys (``pooled_uf1`` ...) — compared row by row; ``index_map``
  translates our index to the paper's (e.g. merlib ``alpha`` -> Oh's ``alpha_oh = 1 + alpha``).

Paper numbers are converted to fractions; the paper's value is always labelled as reported by the
paper, ours with the policy that produced it — ``OPTIMISTIC`` when it is ``oracle_test``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from merlib.eval.metrics import METRIC_LABELS
from merlib.eval.policy import OPTIMISTIC_LABEL

__all__ = ["compare", "Comparison"]


@dataclass
class Comparison:
    """The comparison table (``.table``) and a figure of it (``.figure()``)."""

    table: pd.DataFrame
    paper: Any
    optimistic: bool
    title: str

    def figure(self, backend: str = "plotly"):
        """Grouped bars paper vs. ours per metric (and per row); plotly (interactive) or seaborn (static)."""
        from merlib.viz.results import comparison_figure

        return comparison_figure(self, backend=backend)

    def _repr_html_(self):  # pragma: no cover - notebook display
        return f"<b>{self.title}</b>" + self.table.to_html(float_format=lambda v: f"{v:.4f}")


def _ours_value(source, key: str, class_names) -> float:
    if key.startswith("recall:"):
        name = key.split(":", 1)[1]
        if not hasattr(source, "per_class_recall"):
            return float("nan")
        rec = source.per_class_recall()
        return float(rec[name]) if name in rec.index else float("nan")
    metrics = source.metrics if hasattr(source, "metrics") else source
    v = metrics.get(key, float("nan")) if isinstance(metrics, dict) else float("nan")
    return float("nan") if v is None else float(v)


def _select_columns(paper_table, dataset: str | None, columns):
    cols = paper_table.metric_columns()
    if columns is not None:
        bad = [c for c in columns if c not in cols]
        if bad:
            raise ValueError(f"compare: columns {bad} are not metric columns of {paper_table.paper}/{paper_table.name} "
                             f"({cols})")
        return list(columns)
    per_ds = {c: paper_table.columns[c].get("dataset") for c in cols}
    if any(per_ds.values()):
        if dataset is None:
            raise ValueError(f"compare: {paper_table.paper}/{paper_table.name} reports several datasets "
                             f"{sorted({d for d in per_ds.values() if d})}; pass dataset= (or columns=)")
        chosen = [c for c in cols if per_ds[c] == dataset]
        if not chosen:
            raise ValueError(f"compare: {paper_table.paper}/{paper_table.name} has no columns for dataset {dataset!r}")
        return chosen
    return cols


def compare(ours, paper_table, *, paper_row=None, dataset: str | None = None, columns: list[str] | None = None,
            index_map: Callable | None = None, ours_label: str | None = None) -> Comparison:
    """Paper vs. ours vs. Δ (ours − paper), all as fractions.

    Args:
        ours: a Result, a dict of metrics, a SweepResult or a DataFrame of metrics (see module doc).
        paper_table: a :class:`merlib.papers.PaperTable` (``merlib.papers.table(paper, name)``).
        paper_row: which row to compare a single result with (an index value; default: the last row).
        dataset: for tables that report several datasets, which dataset's columns (``"casme2"`` ...).
        columns: restrict to these paper columns.
        index_map: maps our row index to the paper's (row-by-row comparisons only).

    Returns:
        :class:`Comparison` whose ``table`` has one row per (paper row, metric) with columns
        ``row``, ``metric``, ``merlib_metric``, ``paper (reported)``, ``ours``, ``delta``.
    """
    from merlib.eval.result import Result
    from merlib.eval.sweep import SweepResult

    if not hasattr(paper_table, "metric_columns"):
        raise ValueError(f"compare: `paper_table` must be a merlib.papers.PaperTable, got {type(paper_table).__name__}")
    cols = _select_columns(paper_table, dataset, columns)
    paper = paper_table.as_fraction()
    policy = None
    rows = []
    if isinstance(ours, SweepResult):
        policy = ours.results[0].policy
        keys = sorted({paper_table.merlib_metric(c) for c in cols if not paper_table.merlib_metric(c).startswith("recall:")})
        df = ours.table(metrics=keys)
        df.columns = keys  # undo the OPTIMISTIC suffix, it goes into the labels below
        ours = df
    if isinstance(ours, pd.DataFrame):
        policy = policy or ours.attrs.get("policy")
        for idx, r in ours.iterrows():
            pidx = index_map(idx) if index_map else idx
            if pidx not in paper.index:
                continue
            for c in cols:
                key = paper_table.merlib_metric(c)
                rows.append({"row": pidx, "metric": paper_table.columns[c].get("label", c), "merlib_metric": key,
                             "paper (reported)": paper.loc[pidx, c],
                             "ours": float(r[key]) if key in r.index else np.nan})
        if not rows:
            raise ValueError(f"compare: none of our rows {list(ours.index)} match the paper's index "
                             f"{list(paper.index)}; pass index_map=")
    elif isinstance(ours, (Result, dict)):
        if isinstance(ours, Result):
            policy = ours.policy
        pr = paper.index[-1] if paper_row is None else paper_row
        if pr not in paper.index:
            raise ValueError(f"compare: paper_row {pr!r} not in {paper_table.paper}/{paper_table.name} "
                             f"(rows: {list(paper.index)})")
        for c in cols:
            key = paper_table.merlib_metric(c)
            rows.append({"row": pr, "metric": paper_table.columns[c].get("label", c), "merlib_metric": key,
                         "paper (reported)": paper.loc[pr, c], "ours": _ours_value(ours, key, None)})
    else:
        raise ValueError(f"compare: `ours` must be a Result, dict, SweepResult or DataFrame, got {type(ours).__name__}")
    table = pd.DataFrame(rows)
    table["paper (reported)"] = pd.to_numeric(table["paper (reported)"], errors="coerce")
    table["delta"] = table["ours"] - table["paper (reported)"]
    optimistic = policy == "oracle_test"
    label = ours_label or (f"ours [{OPTIMISTIC_LABEL}]" if optimistic else f"ours (merlib, policy={policy or '?'})")
    table = table.rename(columns={"ours": label, "delta": "delta (ours - paper)"})
    table["metric_definition"] = [METRIC_LABELS.get(k, k) for k in table["merlib_metric"]]
    table.attrs.update({"optimistic": optimistic, "policy": policy, "paper": paper_table.paper,
                        "table": paper_table.name, "unit": "fraction", "ours_column": label})
    title = (f"{paper_table.source} vs. {label}" + (f" — {dataset}" if dataset else ""))
    return Comparison(table=table, paper=paper_table, optimistic=optimistic, title=title)
