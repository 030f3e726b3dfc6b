"""CMNet's Wilcoxon rank-sum test loss (Wei et al., AAAI 2023, Eq. 5-9), hard and differentiable.

The paper compares the prototype's sampled intensities ``S1 = (q_1..q_N)`` with the network's intensity
values ``S2 = (k_1..k_N)``:

* Eq. 5-6: ``r^q_n``, ``r^k_n`` = rank of ``q_n`` / ``k_n`` among the 2N pooled values;
* ``T_1 = sum_n r^q_n``, ``T_2 = sum_n r^k_n``;
* Eq. 7: ``T ~ N(mu_T, sigma_T)`` with ``mu_T = N(2N + 1)/2`` and ``sigma_T = sqrt(N^2 (2N + 1) / 12)``
  (the normal approximation for two samples of N each, "since N > 10");
* ``Z = (T_2 - mu_T) / sigma_T``;
* Eq. 8: ``p = exp(-Z^2 / 2) / sqrt(2 pi)`` -- as printed, this is the standard normal **density** at Z,
  not a tail probability. :func:`rank_sum_test` gives both: ``p_paper`` (Eq. 8 as printed; its maximum is
  ``1/sqrt(2 pi) = 0.399``) and ``p_two_sided = 2 (1 - Phi(|Z|))`` (what ``scipy.stats.ranksums``
  returns). At the paper's ``alpha = 0.05`` the two accept almost the same Z: ``|Z| < 2.04`` for
  Eq. 8 and ``|Z| < 1.96`` for the two-sided test. :func:`wrst_loss` uses Eq. 8 by default
  (``p_mode="paper"``); ``p_mode="two_sided"`` is merlib's alternative.
* Eq. 9: ``L_Wrst = max(0, xi - (p - alpha))`` with ``xi = 0.01`` and ``alpha = 0.05``.

Ranks are piecewise constant, so their gradient is zero almost everywhere. merlib's surrogate
(:func:`soft_rank`) is the **pairwise-sigmoid soft rank** ``r_i = 1 + sum_{j != i} sigmoid((x_i - x_j)/t)``
(the smooth rank of Qin, Liu & Li, "A general approximation framework for direct optimization of
information retrieval measures", Information Retrieval 2010). Why this one: (1) for 2N = 32 values the
O(n^2) pairwise form costs nothing; (2) it converges to the exact ranks as ``t -> 0``, and to the
*average* ranks at ties (``sigmoid(0) = 1/2``), i.e. exactly the mid-ranks ``scipy.stats.rankdata``
and ``ranksums`` use; the error of each rank is bounded by ``sum_j sigmoid(-|x_i - x_j| / t)``;
(3) every pair gets a gradient, so values the hard rank ignores still move. (The permutahedron
projection of Blondel et al., ICML 2020, is the O(n log n) alternative; it needs an extra package and
is exact only up to its own regularisation, with no gain at this size.)

Note what the test measures: a rank-sum statistic is a function of the two *sets* of values. It is
invariant to the order of ``k_1..k_N`` in time (``tests/test_cmnet2023_wilcoxon.py`` checks it), so
``L_Wrst`` pulls the distribution of the intensity values towards the prototype's (mainly their
location), not their temporal order. Whether it still teaches the tendency is an empirical question;
notebook 13 measures it (Fig. 5: rank correlation of the learned intensity with the true AU intensity
of the synthetic clips, with and without ``L_Wrst``).

Shapes: ``q``, ``k`` are ``(N,)`` or batched ``(B, N)``; results are ``()`` or ``(B,)``.
"""
from __future__ import annotations

import math

import torch

__all__ = ["ALPHA", "XI", "hard_rank", "soft_rank", "rank_sums", "rank_sum_z", "density_p", "two_sided_p",
           "rank_sum_test", "wrst_loss"]

#: The paper's significance level and hinge margin (Sec. "Parameter Settings").
ALPHA = 0.05
XI = 0.01


def _pair(q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    q, k = torch.as_tensor(q), torch.as_tensor(k)
    if q.shape != k.shape or q.ndim not in (1, 2) or q.shape[-1] < 1:
        raise ValueError(f"wilcoxon: `q` and `k` must have the same shape (N,) or (B, N), got "
                         f"{tuple(q.shape)} and {tuple(k.shape)}")
    if not (q.is_floating_point() and k.is_floating_point()):
        raise ValueError("wilcoxon: `q` and `k` must be float tensors")
    return q, k


def hard_rank(x: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n along the last axis, ties get their average rank (``scipy.stats.rankdata`` "average").

    ``(…, n)`` -> ``(…, n)`` float. Not differentiable (zero gradient almost everywhere).
    """
    d = x.unsqueeze(-1) - x.unsqueeze(-2)                  # d[..., i, j] = x_i - x_j
    less = (d > 0).to(x.dtype).sum(-1)
    ties = (d == 0).to(x.dtype).sum(-1) - 1                 # excluding i itself
    return 1.0 + less + 0.5 * ties


def soft_rank(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """Pairwise-sigmoid soft rank ``1 + sum_{j != i} sigmoid((x_i - x_j) / temperature)`` (``(…, n)``).

    Tends to :func:`hard_rank` (average ranks at ties) as ``temperature -> 0``; differentiable for
    ``temperature > 0``.
    """
    if not (isinstance(temperature, (int, float)) and temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"soft_rank: `temperature` must be a positive number, got {temperature!r}")
    d = (x.unsqueeze(-1) - x.unsqueeze(-2)) / float(temperature)
    return 1.0 + torch.sigmoid(d).sum(-1) - 0.5             # the diagonal contributes sigmoid(0) = 1/2


def rank_sums(q: torch.Tensor, k: torch.Tensor, temperature: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(T_1, T_2)``: rank sums of ``q`` and ``k`` among the pooled 2N values (Eq. 5-6).

    ``temperature=None`` uses hard ranks, a positive number the soft ranks. ``T_1 + T_2 = N(2N + 1)``.
    """
    q, k = _pair(q, k)
    n = q.shape[-1]
    pooled = torch.cat([q, k], dim=-1)
    r = hard_rank(pooled) if temperature is None else soft_rank(pooled, temperature)
    return r[..., :n].sum(-1), r[..., n:].sum(-1)


def rank_sum_z(q: torch.Tensor, k: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
    """``Z = (T_2 - mu_T) / sigma_T`` with Eq. 7's ``mu_T = N(2N+1)/2``, ``sigma_T = sqrt(N^2(2N+1)/12)``.

    Equals ``scipy.stats.ranksums(k, q).statistic`` for hard ranks (no tie correction, as scipy).
    """
    _, t2 = rank_sums(q, k, temperature)
    n = q.shape[-1]
    mu = n * (2 * n + 1) / 2.0
    sigma = math.sqrt(n * n * (2 * n + 1) / 12.0)
    return (t2 - mu) / sigma


def density_p(z: torch.Tensor) -> torch.Tensor:
    """Eq. 8 as printed: ``exp(-Z^2/2) / sqrt(2 pi)`` (the standard normal density at Z, at most 0.399)."""
    return torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def two_sided_p(z: torch.Tensor) -> torch.Tensor:
    """The two-sided p-value ``2 (1 - Phi(|Z|)) = erfc(|Z| / sqrt 2)`` (``scipy.stats.ranksums``)."""
    return torch.special.erfc(z.abs() / math.sqrt(2.0))


def rank_sum_test(q, k, temperature: float | None = None) -> dict:
    """Eq. 5-8 in one call: ``{"T1", "T2", "Z", "p_paper", "p_two_sided"}`` (tensors, ``()`` or ``(B,)``)."""
    t1, t2 = rank_sums(q, k, temperature)
    n = torch.as_tensor(q).shape[-1]
    mu = n * (2 * n + 1) / 2.0
    sigma = math.sqrt(n * n * (2 * n + 1) / 12.0)
    z = (t2 - mu) / sigma
    return {"T1": t1, "T2": t2, "Z": z, "p_paper": density_p(z), "p_two_sided": two_sided_p(z)}


def wrst_loss(q: torch.Tensor, k: torch.Tensor, temperature: float | None = 0.05, alpha: float = ALPHA,
              xi: float = XI, p_mode: str = "paper", reduction: str = "mean") -> torch.Tensor:
    """Eq. 9: ``L_Wrst = max(0, xi - (p - alpha))`` on the (soft) rank-sum test of ``k`` against ``q``.

    Args:
        q: ``(N,)`` or ``(B, N)`` prototype intensities (Eq. 2-4 samples); usually detached, but a
            gradient flows to them (and to the learnable eta) when they carry one.
        k: the network's intensity values, same shape.
        temperature: soft-rank temperature (merlib's choice, in the units of the intensities, which
            live in ``[eps, 1]``); ``None`` = hard ranks (no gradient).
        alpha, xi: significance level and margin (paper: 0.05 and 0.01).
        p_mode: ``"paper"`` (Eq. 8 as printed, the normal density) or ``"two_sided"``.
        reduction: ``"mean"`` over the batch, ``"none"``.
    """
    if p_mode not in ("paper", "two_sided"):
        raise ValueError(f"wrst_loss: `p_mode` must be 'paper' or 'two_sided', got {p_mode!r}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"wrst_loss: `reduction` must be 'mean' or 'none', got {reduction!r}")
    z = rank_sum_z(q, k, temperature)
    p = density_p(z) if p_mode == "paper" else two_sided_p(z)
    loss = torch.clamp(xi - (p - alpha), min=0.0)
    return loss.mean() if reduction == "mean" else loss
