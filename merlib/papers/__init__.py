"""One room per paper: ``merlib/papers/<paper>/`` holds the paper's model, pipeline, experiment driver
and ``reported.yaml`` — **the paper's numbers, not merlib's**.

Layout (Bai et al. is the template every paper copies)::

    merlib/papers/bai2021/
        __init__.py      what a notebook imports (``from merlib.papers import bai2021 as bai``)
        model.py         the paper's network(s) (built from the shared blocks in ``merlib.models``)
        pipeline.py      its pre-processing (magnification, segments, cached backbone inputs)
        experiment.py    its experiments (LOSO / sweeps / ablations) run through ``merlib.eval.run``
        reported.yaml    the paper's printed tables

The flow reads one way: ``merlib.data``, ``merlib.magnify`` -> ``merlib.models`` -> ``merlib.eval`` ->
``merlib.papers`` -> notebooks (``tests/test_layering.py`` fails on an upward import). This package
itself (:func:`table` & co.) only reads YAML: it imports no paper's code.

Each paper's ``reported.yaml`` (transcribed from the plain-text copies in ``shared/papers/``) holds per
table: caption, dataset(s), number of classes, protocol, unit (``percent``, ``fraction`` or
``ms``), the index column(s), and per column the paper's label, what the metric is and the merlib
metric it is compared with (``merlib_metric``; ``recall:<class>`` for per-class rows), plus notes
on anything ambiguous or inconsistent in the paper. Missing entries (N/A) are ``None``/NaN.

Usage::

    from merlib import papers
    papers.list_tables()                         # [('aman2022', 'table1'), ...]
    t = papers.table("mmfrn2022", "table4")
    t.data.loc[80, "macro_f1"]                   # 0.63277, as printed (unit: t.unit)
    t.as_fraction()                              # percent tables divided by 100

Papers: ``mmfrn2022`` (MMFRN), ``aman2022`` (AMAN), ``gammmer2024`` (GAM-MM-MER), ``cmnet2023`` (CMNet),
``bai2021`` (Bai et al.).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

__all__ = ["PAPERS", "PaperTable", "load", "table", "list_tables", "paper_info"]

_HERE = Path(__file__).resolve().parent
PAPERS = ("mmfrn2022", "aman2022", "gammmer2024", "cmnet2023", "bai2021")
UNITS = ("percent", "fraction", "ms")


@dataclass
class PaperTable:
    """One table as a paper reports it.

    Attributes:
        paper, name: e.g. ``"mmfrn2022"``, ``"table4"``.
        data: the rows, indexed by the table's index column(s); values as printed (see ``unit``).
        unit: ``"percent"``, ``"fraction"`` or ``"ms"``.
        columns: column -> {label, metric, merlib_metric?, dataset?, classes?}.
        caption, notes, meta: the rest of the YAML entry.
    """

    paper: str
    name: str
    data: pd.DataFrame
    unit: str
    columns: dict
    caption: str = ""
    notes: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"{paper_info(self.paper)['short_name']} ({self.paper}), {self.name}: reported by the paper"

    def as_fraction(self) -> pd.DataFrame:
        """Numeric metric columns as fractions in [0, 1] (percent / 100); other columns unchanged."""
        df = self.data.copy()
        if self.unit == "percent":
            for c in self.metric_columns():
                df[c] = pd.to_numeric(df[c], errors="coerce") / 100.0
        return df

    def metric_columns(self) -> list[str]:
        """Columns that hold a metric merlib can compute (those with a ``merlib_metric``)."""
        return [c for c, m in self.columns.items() if m.get("merlib_metric")]

    def merlib_metric(self, column: str) -> str | None:
        return self.columns.get(column, {}).get("merlib_metric")


def _path(paper: str) -> Path:
    if paper not in PAPERS:
        raise ValueError(f"merlib.papers: unknown paper {paper!r}; choose one of {PAPERS}")
    return _HERE / paper / "reported.yaml"


@lru_cache(maxsize=None)
def _raw(paper: str) -> dict:
    with open(_path(paper)) as fh:
        return yaml.safe_load(fh)


def paper_info(paper: str) -> dict:
    """The paper-level fields of its YAML (citation, source file, alpha convention ...), without tables."""
    return {k: v for k, v in _raw(paper).items() if k != "tables"}


def table(paper: str, name: str) -> PaperTable:
    """One reported table of ``paper`` (see :func:`list_tables`)."""
    raw = _raw(paper)["tables"]
    if name not in raw:
        raise ValueError(f"merlib.papers: {paper!r} has no table {name!r}; it has {sorted(raw)}")
    t = raw[name]
    unit = t.get("unit")
    if unit not in UNITS:
        raise ValueError(f"merlib.papers: {paper}/{name} has unit {unit!r}, expected one of {UNITS}")
    index = list(t["index"])
    cols = dict(t["columns"])
    df = pd.DataFrame(t["rows"])
    missing = [c for c in index + list(cols) if c not in df.columns]
    if missing:
        raise ValueError(f"merlib.papers: {paper}/{name} rows lack columns {missing}")
    df = df[index + list(cols)]
    for c, m in cols.items():
        if m.get("metric") != "none":
            df[c] = pd.to_numeric(df[c], errors="coerce")
    df = df.set_index(index if len(index) > 1 else index[0])
    meta = {k: v for k, v in t.items() if k not in ("rows", "columns", "index", "unit", "caption", "notes")}
    return PaperTable(paper=paper, name=name, data=df, unit=unit, columns=cols, caption=t.get("caption", ""),
                      notes=list(t.get("notes", [])), meta=meta)


def load(paper: str) -> dict[str, PaperTable]:
    """Every table of ``paper`` by name."""
    return {name: table(paper, name) for name in _raw(paper)["tables"]}


def list_tables() -> list[tuple[str, str]]:
    """``(paper, table)`` pairs of every transcribed table, sorted."""
    return sorted((p, n) for p in PAPERS for n in _raw(p)["tables"])
