"""Interactive controls whose figure is filled from the kernel side — safe under nbclient, nbconvert and papermill.

``ipywidgets.interact`` draws into an Output widget by *capturing* the cell's output messages; a batch
client (nbclient/nbconvert, papermill), standing in for the browser, then sends that output back on the
socket it is waiting on for the cell's reply, and the wait sometimes never ends (jupyter/nbclient#312;
notebook 01 hung in 4 of 7 nbconvert runs). :func:`interactive_figure` instead renders each figure to a PNG
in the kernel and sets the Output widget's ``outputs`` state directly (``append_display_data``), so no
captured output messages are involved: the same images in a live kernel and in batch runs.
"""
from __future__ import annotations

import io
from typing import Callable

__all__ = ["interactive_figure", "figure_png"]


def figure_png(fig, dpi: int = 80) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def interactive_figure(draw: Callable[..., object], controls: dict, dpi: int = 80):
    """A ``VBox`` of ``controls`` (``{name: ipywidgets widget}``) above an Output that shows ``draw(**values)``.

    ``draw`` returns a matplotlib figure; it is redrawn whenever a control's value changes. Returns the box
    (display it, or make it the cell's last expression). Needs ``ipywidgets``.
    """
    import ipywidgets as widgets
    from IPython.display import Image

    if not controls:
        raise ValueError("interactive_figure: `controls` must name at least one widget")
    out = widgets.Output()

    def redraw(_change=None):
        png = figure_png(draw(**{k: w.value for k, w in controls.items()}), dpi=dpi)
        out.outputs = ()
        out.append_display_data(Image(data=png, format="png"))

    for w in controls.values():
        w.observe(redraw, names="value")
    redraw()
    return widgets.VBox([*controls.values(), out])
