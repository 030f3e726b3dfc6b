"""CMNet's losses (Wei et al., AAAI 2023): Intensity Distillation (Eq. 1) and the total loss (Eq. 10).

Eq. 1, with ``sim(a, b) = exp(a . b / tau)``, the two augmented views ``z~_1^(n)``, ``z~_2^(n)`` of frame n
(the positives) and its M negatives ``z_mn^(-)`` (other frames of the same clip, see
:mod:`.sampling`)::

    L_ID = -1/N sum_n [ log sim(z1, z2) / (sim(z1, z2) + sum_m sim(z1, z_m))
                      + log sim(z1, z2) / (sim(z1, z2) + sum_m sim(z2, z_m)) ]

merlib's choices, the paper being silent: the features are L2-normalised before the dot product (as in
the contrastive losses the paper builds on, Tian et al. 2020 and Khosla et al. 2020), ``tau = 0.1``,
the negatives are the ICE features of the *un-augmented* frames, and the loss is averaged over the
clips of a batch. It is computed in log space (``log_softmax``), which is the same number without
overflow.

Eq. 10: ``L = lambda_1 L_ID + lambda_2 L_Wrst + lambda_3 L_C`` with ``(lambda_1, lambda_2, lambda_3) =
(0.07, 0.71, 0.22)`` (grid-searched on CASME II by the authors) and ``L_C`` the cross-entropy. The
ablation of Table 3 "set[s] the weight coefficient corresponding to a loss to 0 ... the classifier
along with its weight coefficient is retained": :data:`ABLATIONS` lists the four weight sets.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["LAMBDAS", "ABLATIONS", "TAU", "id_loss", "total_loss"]

#: (lambda_1, lambda_2, lambda_3) for (L_ID, L_Wrst, L_C), Eq. 10.
LAMBDAS = {"L_ID": 0.07, "L_Wrst": 0.71, "L_C": 0.22}
#: Table 3's rows: which weights are kept (the others are set to 0).
ABLATIONS = {
    "L_C": {"L_ID": 0.0, "L_Wrst": 0.0, "L_C": LAMBDAS["L_C"]},
    "L_C + L_Wrst": {"L_ID": 0.0, "L_Wrst": LAMBDAS["L_Wrst"], "L_C": LAMBDAS["L_C"]},
    "L_C + L_ID": {"L_ID": LAMBDAS["L_ID"], "L_Wrst": 0.0, "L_C": LAMBDAS["L_C"]},
    "L_C + L_ID + L_Wrst": dict(LAMBDAS),
}
#: merlib's temperature of sim(a, b) = exp(a . b / tau) (the paper gives none).
TAU = 0.1


def id_loss(z1: torch.Tensor, z2: torch.Tensor, z_neg: torch.Tensor, tau: float = TAU,
            normalize: bool = True) -> torch.Tensor:
    """Eq. 1, averaged over the batch.

    Args:
        z1, z2: ``(B, N, d)`` ICE features of the two augmented views of each frame.
        z_neg: ``(B, N, M, d)`` the M negatives of each anchor frame.
        tau: temperature.
        normalize: L2-normalise every feature first (merlib's default).

    Returns:
        A scalar tensor.
    """
    if z1.shape != z2.shape or z1.ndim != 3:
        raise ValueError(f"id_loss: `z1` and `z2` must both be (B, N, d), got {tuple(z1.shape)}, {tuple(z2.shape)}")
    if z_neg.ndim != 4 or z_neg.shape[:2] != z1.shape[:2] or z_neg.shape[-1] != z1.shape[-1]:
        raise ValueError(f"id_loss: `z_neg` must be (B, N, M, d) matching z1 {tuple(z1.shape)}, got {tuple(z_neg.shape)}")
    if not tau > 0:
        raise ValueError(f"id_loss: `tau` must be positive, got {tau!r}")
    if normalize:
        z1, z2, z_neg = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1), F.normalize(z_neg, dim=-1)
    pos = (z1 * z2).sum(-1, keepdim=True) / tau                                # (B, N, 1)
    neg1 = torch.einsum("bnd,bnmd->bnm", z1, z_neg) / tau                      # (B, N, M)
    neg2 = torch.einsum("bnd,bnmd->bnm", z2, z_neg) / tau
    term1 = torch.log_softmax(torch.cat([pos, neg1], -1), -1)[..., 0]          # log s12 / (s12 + sum_m s1m)
    term2 = torch.log_softmax(torch.cat([pos, neg2], -1), -1)[..., 0]
    return -(term1 + term2).mean(-1).mean()


def total_loss(terms: dict, weights: dict | None = None) -> torch.Tensor:
    """Eq. 10: ``sum_k weights[k] * terms[k]`` over ``L_ID``, ``L_Wrst``, ``L_C`` (default :data:`LAMBDAS`).

    A term whose weight is 0 is skipped (it may be absent from ``terms``).
    """
    w = dict(LAMBDAS if weights is None else weights)
    unknown = set(w) - set(LAMBDAS)
    if unknown:
        raise ValueError(f"total_loss: unknown loss names {sorted(unknown)}; expected {sorted(LAMBDAS)}")
    out = None
    for name, lam in w.items():
        if lam == 0:
            continue
        if name not in terms:
            raise ValueError(f"total_loss: weight {name}={lam} but no such term (have {sorted(terms)})")
        out = lam * terms[name] if out is None else out + lam * terms[name]
    if out is None:
        raise ValueError("total_loss: every weight is 0")
    return out
