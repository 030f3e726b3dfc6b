"""Temporal preprocessing of micro-expression clips: which frames a model sees.

All functions take clips as ``(T, C, H, W)`` float tensors in [0, 1] (any device) or frame
counts, and return tensors or index tensors. What each paper uses:

* :func:`tim_interpolate` — the temporal interpolation model (TIM) of Zhou, Zhao & Pietikainen
  (2011, "Towards a practical lipreading system", CVPR) as used for micro-expressions by
  Pfister et al. (2011, ICCV): AMAN (paper 001) normalises every clip's length with it.
* :func:`resample_frames` / :func:`uniform_indices` — N evenly spaced frames, interpolated when the
  clip is shorter (CMNet, paper 003: N = 16; AMAN: n = 11).
* :func:`key_frame_indices` — onset, mid, apex, offset (MMFRN, paper 000, Fig. 3b).
* :func:`ssim` and :func:`difference_frame_indices` — the SSIM "difference frame" that replaces the
  labelled apex (MMFRN Eq. 14, Table 6).
* :func:`sliding_window_indices` / :func:`sliding_windows` — overlapping windows of N evenly spaced
  frames (Bai et al. 2021, paper 004).
* :func:`estimate_apex` — an apex where the annotation has none (SMIC-HS).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "tim_interpolate", "tim_weights", "path_graph_embedding", "uniform_indices", "resample_frames",
    "key_frame_indices", "key_frames", "ssim", "ssim_to_first", "difference_frame_indices",
    "sliding_window_indices", "sliding_windows", "estimate_apex",
]


def _check_clip(clip, name: str = "clip") -> torch.Tensor:
    if not isinstance(clip, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (T, C, H, W), got {type(clip).__name__}")
    if clip.ndim != 4 or clip.shape[0] < 1:
        raise ValueError(f"{name} must have shape (T, C, H, W) with T >= 1, got {tuple(clip.shape)}")
    if not clip.is_floating_point():
        raise ValueError(f"{name} must be a float tensor in [0, 1], got dtype {clip.dtype}")
    return clip


def _check_count(n, name: str, minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {n!r}")
    return int(n)


# ------------------------------------------------------------------------------------------
# TIM: graph embedding of the frame path, then interpolation along the embedded curve
# ------------------------------------------------------------------------------------------
def path_graph_embedding(n: int, positions=None, dtype=torch.float64) -> torch.Tensor:
    """The low-dimensional curve of TIM: eigenvectors of the path graph's Laplacian.

    The frames of a clip are the nodes of a path graph (frame i linked to frame i+1). The
    eigenvectors of its Laplacian ``L = D - W`` with non-zero eigenvalue are, in closed form,
    ``y_k(i) = cos(pi * k * (i - 1/2) / n)`` for ``k = 1 .. n-1`` and node ``i = 1 .. n``
    (Zhou et al. 2011 write the same curve as ``sin(pi k t + pi (n - k) / (2n))``, ``t = i / n``).
    The formula is continuous in ``i``, which is what makes interpolation possible.

    Args:
        n: number of frames (nodes).
        positions: 1-based positions in ``[1, n]`` to evaluate the curve at (default ``1..n``).

    Returns:
        ``(len(positions), n - 1)`` tensor: the embedding of each position.
    """
    n = _check_count(n, "n")
    pos = torch.arange(1, n + 1, dtype=dtype) if positions is None else torch.as_tensor(positions, dtype=dtype)
    k = torch.arange(1, n, dtype=dtype)
    return torch.cos(math.pi * torch.outer(pos - 0.5, k) / n)


def tim_weights(n_in: int, n_out: int, dtype=torch.float64) -> torch.Tensor:
    """Weights ``(n_out, n_in)`` so that ``tim_weights(...) @ frames`` is the TIM output.

    TIM (Zhou et al. 2011; Pfister et al. 2011): centre the vectorised frames, find the linear map
    ``M`` from the graph embedding ``Y`` (:func:`path_graph_embedding`) to the frames (``X - mean =
    Y M``; exact, because centred frames and the embedding both lie in the space orthogonal to the
    constant vector, and ``Y`` has full column rank), then evaluate the curve at ``n_out`` evenly
    spaced positions in ``[1, n_in]`` and map back: ``x(u) = mean + y(u) M``. Since the columns of
    ``Y`` are orthogonal with squared norm ``n/2``, ``M = (2/n) Y^T X`` and the weights are
    ``1/n + (2/n) y(u) Y^T`` — band-limited (DCT-II) interpolation of the frame sequence.
    """
    n_in = _check_count(n_in, "n_in")
    n_out = _check_count(n_out, "n_out")
    if n_in == 1:
        return torch.ones(n_out, 1, dtype=dtype)
    y = path_graph_embedding(n_in, dtype=dtype)                               # (n_in, n_in - 1)
    u = torch.linspace(1.0, float(n_in), n_out, dtype=dtype)
    yu = path_graph_embedding(n_in, positions=u, dtype=dtype)                 # (n_out, n_in - 1)
    return 1.0 / n_in + (2.0 / n_in) * yu @ y.T


def tim_interpolate(clip: torch.Tensor, length: int, clamp: bool = True) -> torch.Tensor:
    """Temporal interpolation model: resample a clip to ``length`` frames along its TIM curve.

    Args:
        clip: ``(T, C, H, W)`` float tensor in [0, 1].
        length: number of output frames ``N`` (larger or smaller than ``T``).
        clamp: clip the result to [0, 1] (the cosine curve can overshoot slightly at edges).

    Returns:
        ``(N, C, H, W)`` tensor on ``clip``'s device. With ``N == T`` the input comes back
        unchanged (up to float rounding); the first and last frames are always kept.
    """
    clip = _check_clip(clip)
    length = _check_count(length, "length")
    w = tim_weights(clip.shape[0], length).to(device=clip.device)
    out = torch.einsum("ot,tchw->ochw", w, clip.to(torch.float64)).to(clip.dtype)
    return out.clamp_(0.0, 1.0) if clamp else out


# ------------------------------------------------------------------------------------------
# uniform resampling and key frames
# ------------------------------------------------------------------------------------------
def uniform_indices(n_frames: int, n: int) -> torch.Tensor:
    """``n`` evenly spaced frame indices in ``0 .. n_frames-1`` (first and last included).

    Requires ``n <= n_frames`` (use :func:`resample_frames` to interpolate short clips).
    """
    n_frames = _check_count(n_frames, "n_frames")
    n = _check_count(n, "n")
    if n > n_frames:
        raise ValueError(f"cannot pick n={n} distinct frames from a clip of {n_frames}; "
                         f"use resample_frames(..., short='tim') to interpolate")
    return torch.round(torch.linspace(0, n_frames - 1, n, dtype=torch.float64)).to(torch.long)


def resample_frames(clip: torch.Tensor, n: int, short: str = "tim") -> torch.Tensor:
    """A clip with exactly ``n`` frames: evenly spaced frames, interpolated when the clip is short.

    CMNet (paper 003) "unif[ies] its length into N = 16 by extracting frames at regular
    intervals ... for the videos with number of frames less than 16, we use temporal
    interpolation"; AMAN (paper 001) samples n = 11 frames after TIM.

    Args:
        clip: ``(T, C, H, W)``.
        n: output length.
        short: how to lengthen a clip with ``T < n``: ``"tim"`` (:func:`tim_interpolate`),
            ``"linear"`` (linear interpolation between neighbours) or ``"repeat"`` (nearest frame).
    """
    clip = _check_clip(clip)
    n = _check_count(n, "n")
    t = clip.shape[0]
    if t >= n:
        return clip[uniform_indices(t, n).to(clip.device)]
    if short == "tim":
        return tim_interpolate(clip, n)
    if short == "linear":
        pos = torch.linspace(0, t - 1, n, dtype=torch.float64, device=clip.device)
        lo = pos.floor().long().clamp(max=t - 1)
        hi = (lo + 1).clamp(max=t - 1)
        a = (pos - lo).to(clip.dtype).view(-1, 1, 1, 1)
        return clip[lo] * (1 - a) + clip[hi] * a
    if short == "repeat":
        return clip[torch.round(torch.linspace(0, t - 1, n, dtype=torch.float64)).long().to(clip.device)]
    raise ValueError(f"short must be 'tim', 'linear' or 'repeat', got {short!r}")


def key_frame_indices(n_frames: int, apex: int) -> torch.Tensor:
    """MMFRN's four input frames: onset, mid, apex, offset (paper 000, Fig. 3b).

    The mid-frame is "the middle frame between the onset frame and the apex frame".

    Args:
        n_frames: clip length (onset = 0, offset = ``n_frames - 1``).
        apex: apex position relative to the onset.

    Returns:
        ``LongTensor [0, apex // 2, apex, n_frames - 1]`` (repeats allowed, e.g. when apex = onset).
    """
    n_frames = _check_count(n_frames, "n_frames")
    if isinstance(apex, bool) or not isinstance(apex, (int, np.integer)) or not 0 <= apex < n_frames:
        raise ValueError(f"apex must be an int in 0..{n_frames - 1}, got {apex!r}")
    return torch.tensor([0, int(apex) // 2, int(apex), n_frames - 1], dtype=torch.long)


def key_frames(clip: torch.Tensor, apex: int) -> torch.Tensor:
    """``clip[key_frame_indices(T, apex)]``: a ``(4, C, H, W)`` tensor."""
    clip = _check_clip(clip)
    return clip[key_frame_indices(clip.shape[0], apex).to(clip.device)]


# ------------------------------------------------------------------------------------------
# SSIM (MMFRN Eq. 14) and the difference frame (MMFRN Table 6)
# ------------------------------------------------------------------------------------------
def ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0, win_size: int | None = 7,
         k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Structural similarity, MMFRN Eq. 14 / Wang et al. (2004).

    ``SSIM(x, y) = (2 mu_x mu_y + c1)(2 sigma_xy + c2) / ((mu_x^2 + mu_y^2 + c1)(sigma_x^2 + sigma_y^2 + c2))``
    with ``c1 = (k1 L)^2``, ``c2 = (k2 L)^2``.

    With ``win_size`` (default 7) the statistics are local (a uniform ``win_size x win_size``
    window, sample covariance) and the map is averaged over the valid region and the channels —
    the same definition as ``skimage.metrics.structural_similarity(..., gaussian_weights=False)``.
    With ``win_size=None`` the statistics are global over the image, Eq. 14 read literally.
    Written in torch (rather than calling scikit-image) so it runs batched on the GPU.

    Args:
        x, y: ``(..., C, H, W)`` or ``(H, W)`` float tensors of the same shape.
        data_range: ``L``, the value range (1 for images in [0, 1]).

    Returns:
        The SSIM per image: shape ``x.shape[:-3]`` (a 0-d tensor for one image).
    """
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError("ssim: x and y must be torch tensors")
    if x.shape != y.shape:
        raise ValueError(f"ssim: x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.ndim < 2:
        raise ValueError(f"ssim: expected images of shape (..., C, H, W) or (H, W), got {tuple(x.shape)}")
    if x.ndim == 2:
        x, y, lead = x[None], y[None], ()
    else:
        lead = tuple(x.shape[:-3])
    c, h, w = x.shape[-3:]
    xx = x.reshape(-1, c, h, w).to(torch.float64)
    yy = y.reshape(-1, c, h, w).to(torch.float64)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    if win_size is None:
        mx, my = xx.mean(dim=(-2, -1)), yy.mean(dim=(-2, -1))
        npx = h * w
        vx = xx.var(dim=(-2, -1), unbiased=npx > 1)
        vy = yy.var(dim=(-2, -1), unbiased=npx > 1)
        vxy = ((xx - mx[..., None, None]) * (yy - my[..., None, None])).sum(dim=(-2, -1)) / max(npx - 1, 1)
        s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
        out = s.mean(dim=-1)
    else:
        if win_size < 2 or win_size % 2 == 0:
            raise ValueError(f"ssim: win_size must be an odd int >= 3 or None, got {win_size!r}")
        if min(h, w) < win_size:
            raise ValueError(f"ssim: images of {h}x{w} are smaller than win_size={win_size}")
        pool = lambda t: F.avg_pool2d(t, win_size, stride=1)  # noqa: E731 - valid region only
        npx = win_size * win_size
        cov = npx / (npx - 1)
        mx, my = pool(xx), pool(yy)
        vx = cov * (pool(xx * xx) - mx * mx)
        vy = cov * (pool(yy * yy) - my * my)
        vxy = cov * (pool(xx * yy) - mx * my)
        s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
        out = s.mean(dim=(-3, -2, -1))
    return out.reshape(lead).to(x.dtype if x.is_floating_point() else torch.float32)


def ssim_to_first(clip: torch.Tensor, **kwargs) -> torch.Tensor:
    """``(T,)`` SSIM of every frame with the first (onset) frame (MMFRN Sec. "SSIM experiment")."""
    clip = _check_clip(clip)
    return ssim(clip, clip[:1].expand_as(clip), **kwargs)


def difference_frame_indices(clip: torch.Tensor, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """MMFRN's SSIM-selected inputs: start, new mid, difference frame, end (paper 000, Table 6).

    "We used the micro-expression data to calculate the SSIM parameters of each frame and the
    first frame ... the difference frame [is the frame] with the lowest SSIM ... we calculated
    the distance between the difference frame and the start and end frames. The middle frame
    between the greater distance frame and the difference frame was selected as the mid-frame."

    Returns:
        ``(indices, ssim_values)``: ``LongTensor [0, mid, d, T-1]`` in the paper's order and the
        ``(T,)`` SSIM curve. Ties in distance go to the start frame.
    """
    clip = _check_clip(clip)
    s = ssim_to_first(clip, **kwargs)
    t = clip.shape[0]
    d = int(torch.argmin(s[1:]).item()) + 1 if t > 1 else 0
    mid = d // 2 if d >= (t - 1 - d) else (d + t - 1) // 2
    return torch.tensor([0, mid, d, t - 1], dtype=torch.long), s


# ------------------------------------------------------------------------------------------
# sliding windows (Bai et al. 2021)
# ------------------------------------------------------------------------------------------
def sliding_window_indices(n_frames: int, n: int, interval: int | str = 1, stride: int | None = None
                           ) -> torch.Tensor:
    """Overlapping windows of ``n`` frames taken every ``interval`` frames (Bai et al., paper 004).

    "Extracting the fixed-length video segments {S_0, ..., S_n} from original video by overlapping
    sliding window on both continuous frames and extracts frames at even intervals; the size of
    intervals is based on the length of the original video."

    Args:
        n_frames: clip length ``T``.
        n: frames per window ``N`` (the paper sweeps 7..14).
        interval: spacing between the frames of a window; 1 = continuous frames; ``"auto"`` =
            ``max(1, floor((T - 1) / (2 (N - 1))))`` so every window spans about half the clip whatever N
            is (an alternative reading of "based on the length of the original video", kept as an option:
            with it N no longer changes the temporal extent a window covers). The paper's reading -- an
            interval fixed per clip from its length, independent of N -- is ``interval="length"`` of
            ``merlib.papers.bai2021.pipeline.segment_indices``, the default there.
        stride: shift between window starts (default ``max(1, N // 2)``: windows overlap by half).

    Returns:
        ``(S, N)`` LongTensor of frame indices. The last window always ends at the last frame, so
        the whole clip is covered. Requires ``(N - 1) * interval + 1 <= T``.
    """
    n_frames = _check_count(n_frames, "n_frames")
    n = _check_count(n, "n")
    if interval == "auto":
        interval = max(1, (n_frames - 1) // (2 * max(n - 1, 1)))
    interval = _check_count(interval, "interval")
    stride = max(1, n // 2) if stride is None else _check_count(stride, "stride")
    span = (n - 1) * interval + 1
    if span > n_frames:
        raise ValueError(f"a window of n={n} frames at interval {interval} spans {span} frames, more than the "
                         f"clip's {n_frames}; use sliding_windows(), which interpolates short clips")
    starts = list(range(0, n_frames - span + 1, stride))
    if starts[-1] != n_frames - span:
        starts.append(n_frames - span)
    base = torch.arange(n, dtype=torch.long) * interval
    return torch.stack([s + base for s in starts])


def sliding_windows(clip: torch.Tensor, n: int, interval: int | str = 1, stride: int | None = None
                    ) -> torch.Tensor:
    """The windows of :func:`sliding_window_indices` as a ``(S, N, C, H, W)`` tensor.

    A clip shorter than one window is first lengthened with :func:`tim_interpolate`.
    """
    clip = _check_clip(clip)
    n = _check_count(n, "n")
    t = clip.shape[0]
    step = max(1, (t - 1) // (2 * max(n - 1, 1))) if interval == "auto" else _check_count(interval, "interval")
    span = (n - 1) * step + 1
    if span > t:
        clip = tim_interpolate(clip, span)
        t = span
    idx = sliding_window_indices(t, n, step, stride).to(clip.device)
    return clip[idx]


# ------------------------------------------------------------------------------------------
# apex estimation (SMIC-HS has no apex label)
# ------------------------------------------------------------------------------------------
def estimate_apex(clip: torch.Tensor, method: str = "onset_offset", smooth: int = 3) -> int:
    """Estimate the apex of a clip that spans onset..offset, as an index relative to the onset.

    A micro-expression leaves the neutral face at the onset and returns to it at the offset, so
    the apex is the frame farthest from both ends. merlib scores each frame by its mean absolute
    difference (on greyscale) from the first frame plus that from the last frame
    (``method="onset_offset"``), or from the first only (``method="onset"``), smooths the score
    over ``smooth`` frames (box filter, suppresses sensor noise), and takes the arg-max. Frame
    differences are a common apex-spotting baseline (cf. Liong et al. 2015, who spot the apex from
    feature differences inside onset..offset); merlib's is a simple, explainable version.

    Args:
        clip: ``(T, C, H, W)`` float tensor in [0, 1] covering onset..offset.

    Returns:
        The apex position in ``0 .. T-1``.
    """
    clip = _check_clip(clip)
    if method not in ("onset_offset", "onset"):
        raise ValueError(f"method must be 'onset_offset' or 'onset', got {method!r}")
    smooth = _check_count(smooth, "smooth")
    t = clip.shape[0]
    if t <= 2:
        return t - 1  # one frame: itself; two: the one that is not the onset
    g = clip.to(torch.float32).mean(dim=1)
    score = (g - g[0]).abs().mean(dim=(1, 2))
    if method == "onset_offset":
        score = score + (g - g[-1]).abs().mean(dim=(1, 2))
    if smooth > 1:
        k = torch.ones(1, 1, smooth, dtype=score.dtype, device=score.device) / smooth
        score = F.conv1d(F.pad(score.view(1, 1, -1), (smooth // 2, (smooth - 1) // 2), mode="replicate"), k).view(-1)
    return int(torch.argmax(score).item())
