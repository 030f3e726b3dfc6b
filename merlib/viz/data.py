"""Dataset tours: frames, displacement fields, intensity profiles, class balance, LOSO folds.

Static figures use matplotlib/seaborn; :func:`clip_animation` is an interactive plotly animation.
Frames are ``(C, H, W)`` or ``(T, C, H, W)`` float tensors/arrays in [0, 1] (merlib's convention).
"""
from __future__ import annotations

import numpy as np

__all__ = ["to_image", "show_frames", "show_flow", "profile_figure", "class_balance_figure", "loso_figure",
           "clip_animation"]


def to_image(frame) -> np.ndarray:
    """``(C, H, W)`` in [0, 1] (tensor or array) -> ``(H, W, 3)`` float array for ``imshow``."""
    arr = frame.detach().cpu().numpy() if hasattr(frame, "detach") else np.asarray(frame)
    if arr.ndim != 3 or arr.shape[0] not in (1, 3):
        raise ValueError(f"to_image: `frame` must be (C, H, W) with C in (1, 3), got shape {arr.shape}")
    arr = np.clip(arr, 0, 1).transpose(1, 2, 0)
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def show_frames(frames, titles=None, ncols: int | None = None, size: float = 2.2, suptitle: str | None = None):
    """A grid of frames (a list of ``(C, H, W)``, or a ``(T, C, H, W)`` stack). Returns the figure."""
    import matplotlib.pyplot as plt

    frames = list(frames)
    n = len(frames)
    if n == 0:
        raise ValueError("show_frames: `frames` is empty")
    ncols = ncols or min(n, 6)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(to_image(frames[k]), interpolation="nearest")
            if titles is not None:
                ax.set_title(str(titles[k]), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_flow(ax, frame, flow, step: int = 6, gain: float = 1.0, color: str = "yellow", title: str | None = None):
    """Draw ``frame`` ``(C, H, W)`` with its displacement ``flow`` ``(2, H, W)`` (pixels) as arrows.

    ``gain`` lengthens the arrows for visibility (the title says by how much).
    """
    f = flow.detach().cpu().numpy() if hasattr(flow, "detach") else np.asarray(flow)
    ax.imshow(to_image(frame), interpolation="nearest")
    h, w = f.shape[-2:]
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    u, v = f[0, ys, xs], f[1, ys, xs]
    keep = np.hypot(u, v) > 0.02 * max(np.abs(f).max(), 1e-12)
    ax.quiver(xs[keep], ys[keep], gain * u[keep], gain * v[keep], color=color, angles="xy",
              scale_units="xy", scale=1.0, width=0.006)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def profile_figure(frame_numbers, profile, onset: int, apex: int, offset: int, peak_flow=None, fps=None):
    """The onset -> apex -> offset intensity profile (and, optionally, the measured peak |flow|)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid")
    x = np.asarray(frame_numbers)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(x, profile, marker="o", ms=3, label="AU intensity (profile)")
    if peak_flow is not None:
        pf = np.asarray(peak_flow, float)
        ax.plot(x, pf / max(pf.max(), 1e-12), ls="--", label="max |flow| (normalised)")
    for name, f in (("onset", onset), ("apex", apex), ("offset", offset)):
        ax.axvline(f, color="grey", lw=0.8)
        ax.text(f, 1.04, name, ha="center", fontsize=8)
    ax.set_xlabel("frame number" + (f" ({fps:g} fps)" if fps else ""))
    ax.set_ylabel("intensity")
    ax.set_ylim(-0.05, 1.12)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def class_balance_figure(table, x: str = "class", y: str = "count", hue: str = "source", title: str | None = None):
    """Grouped bars from a long table (columns ``x``, ``y``, ``hue``)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(7, 3))
    sns.barplot(data=table, x=x, y=y, hue=hue, ax=ax)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def loso_figure(folds, clips, subject_col: str = "subject", label_col: str = "label_name"):
    """One row per fold, one column per clip (sorted by subject): train / test / unused.

    Args:
        folds: objects with ``name``, ``train_idx``, ``test_idx`` (``merlib.eval.protocols.loso``).
        clips: the clip table the indices point into.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    order = np.argsort(clips[subject_col].to_numpy(), kind="stable")
    pos = np.empty_like(order)
    pos[order] = np.arange(len(order))
    grid = np.zeros((len(folds), len(clips)))
    for r, fold in enumerate(folds):
        grid[r, pos[np.asarray(fold.train_idx)]] = 1
        grid[r, pos[np.asarray(fold.test_idx)]] = 2
    fig, ax = plt.subplots(figsize=(9, 0.22 * len(folds) + 1.2))
    ax.imshow(grid, aspect="auto", interpolation="nearest",
              cmap=ListedColormap(["#eeeeee", "#9ecae1", "#e6550d"]), vmin=0, vmax=2)
    ax.grid(False)
    ax.set_yticks(range(len(folds)))
    ax.set_yticklabels([f.name for f in folds], fontsize=7)
    ax.set_xlabel(f"clips (sorted by {subject_col}); blue = train, orange = test")
    ax.set_title(f"{len(folds)} leave-one-subject-out folds")
    fig.tight_layout()
    return fig


def clip_animation(clips, titles=None, fps: float = 10.0):
    """An interactive plotly animation of one or more clips side by side.

    Args:
        clips: a list of ``(T, C, H, W)`` clips with the same ``T``, ``H``.
        titles: one title per clip (shown above it).
        fps: playback speed (the animation is slowed down: micro-expressions last < 0.5 s).
    """
    import plotly.express as px

    arrays = [np.stack([to_image(f) for f in clip]) for clip in clips]
    movie = np.concatenate(arrays, axis=2)  # (T, H, W * n, 3)
    fig = px.imshow((movie * 255).astype(np.uint8), animation_frame=0, binary_string=True,
                    labels={"animation_frame": "frame"})
    if titles:
        width = arrays[0].shape[2]
        for k, t in enumerate(titles):
            fig.add_annotation(x=width * (k + 0.5), y=-4, text=str(t), showarrow=False, yanchor="bottom")
    fig.update_layout(margin=dict(l=0, r=0, t=30, b=0), height=300)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    try:
        fig.layout.updatemenus[0].buttons[0].args[1]["frame"]["duration"] = int(1000 / fps)
    except (IndexError, KeyError, TypeError):  # pragma: no cover - plotly layout variations
        pass
    return fig
