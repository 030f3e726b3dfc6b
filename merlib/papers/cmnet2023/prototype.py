"""CMNet's intensity-tendency prototype (Wei et al., AAAI 2023, Eq. 2-4, Fig. 4a).

Every one of the N frames gets a Gaussian "intensity vacancy" instead of a fixed value. With the apex
at 1-based position ``N_1 + 1`` (``N_1`` frames before it, ``N_2`` after, ``N_1 + N_2 + 1 = N``) and the
minimum mean ``eps`` (the paper: 0.2):

* Eq. 2, On-A segment (``n = 1..N_1``):   ``mean = eps + (n - 1)(1 - eps)/N_1``,       ``sd = (1 - eps)/(3 N_1) * eta_n``
* Eq. 3, A-Off segment (``n = N_1+2..N``): ``mean = 1 - (n - N_1 - 1)(1 - eps)/N_2``,  ``sd = (1 - eps)/(3 N_2) * eta_n``
* Eq. 4, apex (``n = N_1 + 1``):          ``mean = 1``, ``sd = min((1-eps)/(3N_1), (1-eps)/(3N_2)) * eta_n``

so the onset has mean ``eps``, the apex 1 and the offset (``n = N``) ``eps`` again; the "3 sigma
principle" makes neighbouring vacancies overlap little. The paper calls the second argument of
``N(., .)`` "the variance" but derives it from ``3 sigma = (1 - eps)/N_1``: it is a standard deviation,
and merlib uses it as one.

``eta_n`` (``0 < eta_n < 1``, "a learnable variable to refrain outliers"): merlib keeps one per frame
position as ``eta = sigmoid(theta)`` (so it stays in (0, 1)), initialised at ``eta_init`` (merlib's
choice: 0.5; the paper gives none), and samples ``q_n = mean_n + sd_n * e_n`` with ``e_n ~ N(0, 1)``
(reparameterised, so a loss on ``q`` reaches ``eta``).

Degenerate positions (not covered by the paper): an apex on the first sampled frame has no On-A segment
(``N_1 = 0``) and one on the last no A-Off segment; Eq. 4's ``min`` then runs over the segment that
exists.

Shapes: ``apex`` is an int or ``(B,)`` long tensor of 0-based apex positions among the N frames;
``means``/``stds``/``sample`` return ``(N,)`` or ``(B, N)``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["EPSILON", "IntensityPrototype", "prototype_means", "prototype_base_stds", "apex_position"]

#: The paper's minimum mean intensity.
EPSILON = 0.2


def _apex(apex, n: int) -> torch.Tensor:
    a = torch.as_tensor(apex)
    if a.is_floating_point() or a.ndim > 1:
        raise ValueError(f"prototype: `apex` must be an int or a (B,) integer tensor of positions, got {apex!r}")
    if (a < 0).any() or (a >= n).any():
        raise ValueError(f"prototype: apex positions must lie in [0, {n}), got {a.tolist()}")
    return a.long()


def prototype_means(apex, n_frames: int = 16, eps: float = EPSILON) -> torch.Tensor:
    """Eq. 2-4 means: ``(N,)`` or ``(B, N)`` float32, ``eps`` at onset and offset, 1 at the apex."""
    if not 0 < eps < 1:
        raise ValueError(f"prototype: `eps` must be in (0, 1), got {eps!r}")
    a = _apex(apex, n_frames)
    batched = a.ndim == 1
    a = a.reshape(-1, 1).float()
    n = torch.arange(1, n_frames + 1, dtype=torch.float32).reshape(1, -1)   # 1-based frame index
    n1, n2 = a, (n_frames - 1) - a                                          # frames before / after the apex
    rise = eps + (n - 1) * (1 - eps) / n1.clamp_min(1)
    fall = 1 - (n - n1 - 1) * (1 - eps) / n2.clamp_min(1)
    out = torch.where(n < n1 + 1, rise, torch.where(n > n1 + 1, fall, torch.ones_like(rise)))
    return out if batched else out[0]


def prototype_base_stds(apex, n_frames: int = 16, eps: float = EPSILON) -> torch.Tensor:
    """Eq. 2-4 standard deviations before the ``eta_n`` factor: ``(1 - eps)/(3 N_1)``, ``(1 - eps)/(3 N_2)``, min at the apex."""
    a = _apex(apex, n_frames)
    batched = a.ndim == 1
    a = a.reshape(-1, 1).float()
    n = torch.arange(1, n_frames + 1, dtype=torch.float32).reshape(1, -1)
    n1, n2 = a, (n_frames - 1) - a
    s1 = torch.where(n1 > 0, (1 - eps) / (3 * n1.clamp_min(1)), torch.full_like(n1, math.inf))
    s2 = torch.where(n2 > 0, (1 - eps) / (3 * n2.clamp_min(1)), torch.full_like(n2, math.inf))
    apex_sd = torch.minimum(s1, s2)
    out = torch.where(n < n1 + 1, s1, torch.where(n > n1 + 1, s2, apex_sd)).expand(-1, n_frames)
    return out if batched else out[0]


def apex_position(onset, apex, offset, frame_numbers) -> int:
    """0-based position, among the sampled ``frame_numbers``, of the frame nearest to the annotated apex.

    ``onset``/``offset`` are only checked (``onset <= apex <= offset``); a missing apex (NaN) falls back to
    the middle position (SMIC-HS has none; merlib's datasets estimate one on loading).
    """
    import numpy as np

    f = np.asarray(frame_numbers, dtype=np.float64)
    if f.ndim != 1 or f.size < 1:
        raise ValueError("apex_position: `frame_numbers` must be a non-empty 1-D sequence")
    if apex is None or (isinstance(apex, float) and math.isnan(apex)):
        return int(f.size // 2)
    if not onset <= apex <= offset:
        raise ValueError(f"apex_position: need onset <= apex <= offset, got {onset}, {apex}, {offset}")
    return int(np.argmin(np.abs(f - float(apex))))


class IntensityPrototype(nn.Module):
    """The prototype with learnable ``eta_n = sigmoid(theta_n)`` per frame position (Eq. 2-4).

    Args:
        n_frames: N (the paper: 16).
        eps: minimum mean (the paper: 0.2).
        eta_init: initial ``eta_n`` in (0, 1) (merlib's choice: 0.5).
        learn_eta: ``False`` keeps ``eta`` fixed (a buffer).
    """

    def __init__(self, n_frames: int = 16, eps: float = EPSILON, eta_init: float = 0.5, learn_eta: bool = True):
        super().__init__()
        if not isinstance(n_frames, int) or n_frames < 3:
            raise ValueError(f"IntensityPrototype: `n_frames` must be an int >= 3, got {n_frames!r}")
        if not 0 < eps < 1:
            raise ValueError(f"IntensityPrototype: `eps` must be in (0, 1), got {eps!r}")
        if not 0 < eta_init < 1:
            raise ValueError(f"IntensityPrototype: `eta_init` must be in (0, 1), got {eta_init!r}")
        self.n_frames, self.eps = n_frames, float(eps)
        theta = torch.full((n_frames,), math.log(eta_init / (1 - eta_init)))
        if learn_eta:
            self.theta = nn.Parameter(theta)
        else:
            self.register_buffer("theta", theta)

    @property
    def eta(self) -> torch.Tensor:
        """``(N,)`` in (0, 1)."""
        return torch.sigmoid(self.theta)

    def means(self, apex) -> torch.Tensor:
        return prototype_means(apex, self.n_frames, self.eps).to(self.theta.device)

    def stds(self, apex) -> torch.Tensor:
        """Eq. 2-4 standard deviations including ``eta_n`` (differentiable in ``theta``)."""
        return prototype_base_stds(apex, self.n_frames, self.eps).to(self.theta.device) * self.eta

    def sample(self, apex, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw ``q = mean + sd * e`` per vacancy: ``(N,)`` or ``(B, N)`` (reparameterised)."""
        mu, sd = self.means(apex), self.stds(apex)
        e = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
        return mu + sd * e

    def extra_repr(self) -> str:
        return f"n_frames={self.n_frames}, eps={self.eps}, learn_eta={isinstance(self.theta, nn.Parameter)}"
