"""CMNet's three ways of picking the negatives of the Intensity Distillation loss (Wei et al., AAAI 2023,
Fig. 3, Table 2).

For the anchor frame ``n`` of a clip of N frames the negatives come from the *other* frames of the same
clip (they differ from the anchor in intensity only):

* ``"deterministic"``: all ``M = N - 1`` other frames, once each (Fig. 3a);
* ``"random"``: ``M`` draws from the other frames, each with probability ``1 / (N - 1)`` (the paper: "sampling
  M = 15 times randomly in the left frames. Each frame has the chance of 1/M to be chosen"), with
  replacement (merlib's reading: independent draws, so a frame can come twice and another not at all);
* ``"probabilistic"``: ``M`` draws with replacement from the other frames with probabilities
  ``softmax_j(z_n . z_j / tau)`` -- frames closer to the anchor in the latent space of the intensity
  clues are picked more often (Fig. 3c), i.e. harder negatives. The similarity is computed on the
  detached features (picking is not differentiated); ``tau`` is the ID loss's temperature (merlib's
  choice; the paper names no temperature for this softmax).

All return ``(B, N, M)`` long indices into the clip's frames; no index equals its anchor.
"""
from __future__ import annotations

import torch

__all__ = ["SAMPLERS", "sample_negatives", "other_frames"]

SAMPLERS = ("deterministic", "random", "probabilistic")


def other_frames(n_frames: int, device=None) -> torch.Tensor:
    """``(N, N - 1)``: for each anchor, the indices of the other frames in increasing order."""
    idx = torch.arange(n_frames, device=device)
    full = idx.expand(n_frames, n_frames)
    return full[~torch.eye(n_frames, dtype=torch.bool, device=device)].reshape(n_frames, n_frames - 1)


def sample_negatives(z: torch.Tensor, method: str = "probabilistic", m: int | None = None, tau: float = 0.1,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of the negatives of every anchor frame.

    Args:
        z: ``(B, N, d)`` intensity features of the clip's frames (for ``"probabilistic"``; its shape
            only for the others). Expected L2-normalised, as the ID loss uses them.
        method: one of :data:`SAMPLERS`.
        m: negatives per anchor (default ``N - 1``, the paper's M = 15 for N = 16); ``"deterministic"``
            requires ``m = N - 1``.
        tau: temperature of the ``"probabilistic"`` softmax.
        generator: a CPU ``torch.Generator`` for reproducible draws.

    Returns:
        ``(B, N, M)`` long tensor on ``z``'s device.
    """
    if method not in SAMPLERS:
        raise ValueError(f"sample_negatives: `method` must be one of {SAMPLERS}, got {method!r}")
    if z.ndim != 3 or z.shape[1] < 2:
        raise ValueError(f"sample_negatives: `z` must be (B, N, d) with N >= 2, got {tuple(z.shape)}")
    b, n, _ = z.shape
    m = n - 1 if m is None else int(m)
    if m < 1:
        raise ValueError(f"sample_negatives: `m` must be >= 1, got {m}")
    others = other_frames(n)                                            # (N, N-1) on CPU
    if method == "deterministic":
        if m != n - 1:
            raise ValueError(f"sample_negatives: deterministic sampling takes all N - 1 = {n - 1} other frames, "
                             f"got m={m}")
        return others.expand(b, n, n - 1).to(z.device).clone()
    if method == "random":
        pos = torch.randint(0, n - 1, (b, n, m), generator=generator)
    else:
        if not tau > 0:
            raise ValueError(f"sample_negatives: `tau` must be positive, got {tau!r}")
        zd = z.detach().float().cpu()
        sim = torch.einsum("bnd,bkd->bnk", zd, zd) / tau                   # (B, N, N)
        cand = torch.gather(sim, 2, others.expand(b, n, n - 1))            # (B, N, N-1): similarity to the others
        probs = torch.softmax(cand, dim=-1).reshape(b * n, n - 1)
        pos = torch.multinomial(probs, m, replacement=True, generator=generator).reshape(b, n, m)
    return torch.gather(others.expand(b, n, n - 1), 2, pos).to(z.device)
