"""Result figures: confusion matrices, per-class recall, paper-vs-ours comparisons.

Every function returns a figure and draws nothing by itself: ``backend="plotly"`` gives an
interactive ``plotly.graph_objects.Figure``; ``backend="seaborn"`` a static matplotlib ``Figure``.
A result selected with ``policy="oracle_test"`` is titled OPTIMISTIC.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["confusion_figure", "per_class_recall_figure", "comparison_figure"]


def _title(result, title):
    if title is not None:
        return title
    label = getattr(result, "label", None)
    return label or ""


def _check_backend(backend):
    if backend not in ("plotly", "seaborn"):
        raise ValueError(f"backend must be 'plotly' or 'seaborn', got {backend!r}")


def confusion_figure(result_or_matrix, class_names=None, normalize: bool = True, title: str | None = None,
                     backend: str = "plotly"):
    """Confusion matrix heat map (rows: true class, columns: predicted; row-normalised by default).

    Args:
        result_or_matrix: a :class:`merlib.eval.Result` or a ``(K, K)`` count matrix.
        class_names: axis labels (default: the result's class names, or 0..K-1).
    """
    _check_backend(backend)
    if hasattr(result_or_matrix, "confusion"):
        cm = result_or_matrix.confusion()
        class_names = class_names or list(result_or_matrix.class_names)
    else:
        cm = np.asarray(result_or_matrix)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion_figure: need a square (K, K) matrix, got shape {cm.shape}")
    k = cm.shape[0]
    names = [str(c) for c in (class_names or range(k))]
    if len(names) != k:
        raise ValueError(f"confusion_figure: {len(names)} class names for a {k}x{k} matrix")
    counts = cm.astype(float)
    rows = counts.sum(axis=1, keepdims=True)
    shown = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0) if normalize else counts
    text = [[f"{shown[i, j]:.2f}<br>({int(counts[i, j])})" if normalize else f"{int(counts[i, j])}"
             for j in range(k)] for i in range(k)]
    title = _title(result_or_matrix, title)
    if backend == "plotly":
        import plotly.graph_objects as go

        fig = go.Figure(go.Heatmap(z=shown, x=names, y=names, colorscale="Blues", zmin=0,
                                   zmax=1 if normalize else None, text=text, texttemplate="%{text}",
                                   hovertemplate="true %{y}<br>pred %{x}<br>%{z:.3f}<extra></extra>"))
        fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true",
                          yaxis_autorange="reversed", width=420 + 30 * k, height=380 + 30 * k)
        return fig
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(2.5 + 0.8 * k, 2 + 0.7 * k))
    sns.heatmap(pd.DataFrame(shown, index=names, columns=names), annot=True, fmt=".2f" if normalize else ".0f",
                cmap="Blues", vmin=0, vmax=1 if normalize else None, ax=ax, cbar=True)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig


def per_class_recall_figure(results: dict, backend: str = "plotly", title: str = "per-class recall"):
    """Grouped bars of per-class recall for several results (``{"alpha=10": result, ...}``).

    MMFRN Fig. 9 style. Labels of optimistic results are suffixed with ``[OPTIMISTIC]``.
    """
    _check_backend(backend)
    if not isinstance(results, dict) or not results:
        raise ValueError("per_class_recall_figure: `results` must be a non-empty dict name -> Result")
    rows = []
    for name, r in results.items():
        label = f"{name} [OPTIMISTIC]" if getattr(r, "optimistic", False) else str(name)
        for cls, v in r.per_class_recall().items():
            rows.append({"result": label, "class": str(cls), "recall": float(v)})
    df = pd.DataFrame(rows)
    if backend == "plotly":
        import plotly.express as px

        fig = px.bar(df, x="class", y="recall", color="result", barmode="group", title=title, range_y=[0, 1])
        return fig
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7, 3.5))
    sns.barplot(df, x="class", y="recall", hue="result", ax=ax)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


def comparison_figure(comparison, backend: str = "plotly"):
    """Paper (reported) vs. ours per metric and row, from :func:`merlib.eval.compare`."""
    _check_backend(backend)
    t = comparison.table
    ours_col = t.attrs.get("ours_column") or [c for c in t.columns if c.startswith("ours")][0]
    long = pd.concat([
        pd.DataFrame({"row": t["row"].astype(str), "metric": t["metric"], "value": t["paper (reported)"],
                      "source": "paper (reported)"}),
        pd.DataFrame({"row": t["row"].astype(str), "metric": t["metric"], "value": t[ours_col], "source": ours_col}),
    ], ignore_index=True)
    many_rows = t["row"].nunique() > 1
    if backend == "plotly":
        import plotly.express as px

        if many_rows:
            fig = px.line(long, x="row", y="value", color="source", facet_col="metric", markers=True,
                          title=comparison.title)
        else:
            fig = px.bar(long, x="metric", y="value", color="source", barmode="group", title=comparison.title)
        fig.update_yaxes(range=[0, 1])
        return fig
    import matplotlib.pyplot as plt
    import seaborn as sns

    if many_rows:
        g = sns.relplot(long, x="row", y="value", hue="source", col="metric", kind="line", marker="o",
                        height=3, aspect=1.2)
        g.figure.suptitle(comparison.title, fontsize=9)
        g.figure.tight_layout()
        plt.close(g.figure)
        return g.figure
    fig, ax = plt.subplots(figsize=(6, 3.5))
    sns.barplot(long, x="metric", y="value", hue="source", ax=ax)
    ax.set_ylim(0, 1)
    ax.set_title(comparison.title, fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig
