"""CMNet's inputs: N = 16 frames per clip and two augmented views of each (Wei et al., AAAI 2023).

* :func:`resample_clip` -- "we unify its length into N = 16 by extracting frames at regular intervals ...
  For the videos with number of frames less than 16, we use temporal interpolation (Bao et al. 2019)".
  Clips of at least N frames: the frames nearest to N evenly spaced positions from the first to the last
  frame. Shorter clips: merlib's choice is *linear* interpolation in time between the two neighbouring
  frames (Bao et al.'s DAIN is a trained network whose weights merlib cannot ship; for the sub-pixel
  motion of a micro-expression a linear blend is close to it). :func:`sample_positions` gives the
  (fractional) positions, so the true intensity of synthetic clips can be read at the same instants.
* :func:`augment_views` -- "The data augmentation strategy used for augmenting anchor samples are
  ColorJitter, RandomGrayscale and GaussianBlur" (torchvision). The strengths are not stated; merlib's
  choice follows SimCLR (Chen et al., ICML 2020): ColorJitter(0.4, 0.4, 0.4, 0.1) with probability 0.8,
  RandomGrayscale(p=0.2), GaussianBlur(kernel 3, sigma in [0.1, 1.0]) with probability 0.5 (kernel and
  sigma scaled down for merlib's small frames). Each frame gets its own two independent draws: the
  views of a frame share its intensity and differ in colour, contrast and sharpness.
* :func:`cmnet_views` -- the preprocessing :class:`merlib.eval.Step` function: a clip ``(T, C, H, W)`` →
  ``(3N, C, H, W)`` = N frames, then their first views, then their second views, float in [0, 1].
  The draws are seeded (``seed``), so the cached views are reproducible; the same views serve every
  epoch (merlib's choice for CPU budgets: features of a fixed set of views are computed once and
  cached; fresh views per epoch would need the backbone inside the training loop).
"""
from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms import v2 as T

__all__ = ["N_FRAMES", "sample_positions", "resample_clip", "view_transform", "augment_views", "cmnet_views",
           "split_views"]

#: The paper's clip length.
N_FRAMES = 16


def sample_positions(n_source: int, n: int = N_FRAMES) -> np.ndarray:
    """``(n,)`` float positions in ``[0, n_source - 1]`` of the frames :func:`resample_clip` returns.

    Integers (nearest frame of an even spacing) when ``n_source >= n``, evenly spaced fractions otherwise.
    """
    if isinstance(n_source, bool) or not isinstance(n_source, (int, np.integer)) or n_source < 1:
        raise ValueError(f"sample_positions: `n_source` must be a positive int, got {n_source!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"sample_positions: `n` must be an int >= 2, got {n!r}")
    pos = np.linspace(0.0, n_source - 1.0, int(n))
    return np.round(pos) if n_source >= n else pos


def resample_clip(frames: torch.Tensor, n: int = N_FRAMES) -> torch.Tensor:
    """``(T, C, H, W)`` → ``(n, C, H, W)``: regular-interval frames, linear interpolation when ``T < n``."""
    if frames.ndim != 4:
        raise ValueError(f"resample_clip: `frames` must be (T, C, H, W), got shape {tuple(frames.shape)}")
    pos = sample_positions(int(frames.shape[0]), n)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, frames.shape[0] - 1)
    w = torch.as_tensor(pos - lo, dtype=frames.dtype).reshape(-1, 1, 1, 1)
    return frames[lo] * (1 - w) + frames[hi] * w


def view_transform(blur_kernel: int = 3, blur_sigma=(0.1, 1.0), jitter=(0.4, 0.4, 0.4, 0.1),
                   p_jitter: float = 0.8, p_gray: float = 0.2, p_blur: float = 0.5) -> T.Compose:
    """The view augmentation (torchvision v2) applied to one frame ``(C, H, W)`` in [0, 1]."""
    return T.Compose([
        T.RandomApply([T.ColorJitter(*jitter)], p=p_jitter),
        T.RandomGrayscale(p=p_gray),
        T.RandomApply([T.GaussianBlur(blur_kernel, sigma=blur_sigma)], p=p_blur),
    ])


def augment_views(frames: torch.Tensor, seed: int = 0, transform=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independently augmented views of every frame: ``(N, C, H, W)`` → two ``(N, C, H, W)``.

    Grey frames (C = 1) are repeated to 3 channels for the colour transforms and averaged back.
    The draws use torch's global generator inside ``torch.random.fork_rng`` seeded by ``seed``, so the
    caller's random state is untouched and the same seed gives the same views.
    """
    if frames.ndim != 4 or frames.shape[1] not in (1, 3):
        raise ValueError(f"augment_views: `frames` must be (N, C, H, W) with C = 1 or 3, got {tuple(frames.shape)}")
    tf = transform or view_transform()
    grey = frames.shape[1] == 1
    x = frames.expand(-1, 3, -1, -1) if grey else frames
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        v1 = torch.stack([tf(f) for f in x])
        v2 = torch.stack([tf(f) for f in x])
    if grey:
        v1, v2 = v1.mean(1, keepdim=True), v2.mean(1, keepdim=True)
    return v1.clamp(0, 1), v2.clamp(0, 1)


def cmnet_views(frames: torch.Tensor, n: int = N_FRAMES, seed: int = 0, blur_kernel: int = 3) -> torch.Tensor:
    """Preprocessing step: clip ``(T, C, H, W)`` → ``(3n, C, H, W)`` = [frames; view 1; view 2], in [0, 1].

    The view seed mixes ``seed`` with the clip's length and a coarse digest of its onset frame, so clips
    get different draws but a clip always gets the same ones.
    """
    x = resample_clip(frames.float(), n)
    digest = int((x[0].double().mean() * 1e6).round().item()) % 1_000_003
    v1, v2 = augment_views(x, seed=int(seed) * 1_000_003 + digest + int(frames.shape[0]),
                           transform=view_transform(blur_kernel=blur_kernel))
    return torch.cat([x, v1, v2], dim=0)


def split_views(x: torch.Tensor, n: int = N_FRAMES) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(B, 3n, ...)`` → frames, view 1, view 2, each ``(B, n, ...)`` (the layout of :func:`cmnet_views`).

    ``(B, n, ...)`` (frames only, e.g. at test time) returns ``(x, None, None)``.
    """
    if x.ndim < 3:
        raise ValueError(f"split_views: expected (B, 3N, ...) or (B, N, ...), got shape {tuple(x.shape)}")
    if x.shape[1] == n:
        return x, None, None
    if x.shape[1] != 3 * n:
        raise ValueError(f"split_views: dimension 1 must be N = {n} or 3N = {3 * n}, got {x.shape[1]}")
    return x[:, :n], x[:, n:2 * n], x[:, 2 * n:]
