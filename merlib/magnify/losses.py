"""Training losses of the learned magnifiers (Oh et al. 2018, Sec. 3.3).

Oh et al. train with the L1 reconstruction loss plus λ times two regularisers that separate the
representation into *texture* (colour) and *shape* (motion), λ = 0.1. With the colour-perturbed
copies of :mod:`merlib.magnify.synth_pairs` (``frameA`` = X_a, ``frameB`` = X_b' perturbed,
``frameC`` = X_b unperturbed, ``amplified`` = Y' perturbed), the four terms are::

    L = L1(Ŷ, Y')                                   reconstruction, Ŷ = D(V_b', G_m(M_a, M_b', α))
        + λ·( L1(V_a, V_c)                          texture of A = texture of C (same colours)
            + L1(V_b', V_Y')                        texture of B' = texture of Y' (same colours)
            + L1(M_b', M_c) )                       shape of B' = shape of C (same geometry)

ST-MEMM (paper 002) has no separate texture/shape representation, so only the reconstruction
term applies to it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["oh_losses", "reconstruction_losses", "magnifier_losses", "LAMBDA"]

#: Oh et al.'s weight of the texture and shape regularisers.
LAMBDA = 0.1

_KEYS = ("frameA", "frameB", "frameC", "amplified", "alpha")


def _check(batch: dict):
    missing = [k for k in _KEYS if k not in batch]
    if missing:
        raise ValueError(f"training batch lacks {missing}; expected the keys of PairGenerator.batch: {_KEYS}")


def oh_losses(model, batch: dict, weight: float = LAMBDA) -> dict:
    """All four loss terms for :class:`~merlib.magnify.learned.OhMagnifier` on a training batch.

    ``batch``: tensors (B, C, S, S) in [0, 1] and ``alpha`` (B,) in merlib's convention.
    Returns a dict of 0-d tensors: ``total``, ``reconstruction``, ``texture_ac``, ``texture_by``,
    ``shape_bc``.
    """
    _check(batch)
    a, b, c, y = (batch[k] for k in ("frameA", "frameB", "frameC", "amplified"))
    n = a.shape[0]
    texture, shape = model.encoder(torch.cat([a, b, c, y]))  # one batched pass, shared weights
    va, vb, vc, vy = texture.split(n)
    ma, mb, mc, _ = shape.split(n)
    y_hat = model.decoder(vb, model.manipulator(ma, mb, batch["alpha"]))
    terms = {
        "reconstruction": F.l1_loss(y_hat, y),
        "texture_ac": F.l1_loss(va, vc),
        "texture_by": F.l1_loss(vb, vy),
        "shape_bc": F.l1_loss(mb, mc),
    }
    terms["total"] = terms["reconstruction"] + weight * (terms["texture_ac"] + terms["texture_by"]
                                                          + terms["shape_bc"])
    return terms


def reconstruction_losses(model, batch: dict, weight: float = LAMBDA) -> dict:
    """L1(model(frameA, frameB, alpha), amplified) for networks without a texture/shape split."""
    _check(batch)
    y_hat = model(batch["frameA"], batch["frameB"], batch["alpha"])
    rec = F.l1_loss(y_hat, batch["amplified"])
    return {"reconstruction": rec, "total": rec}


def magnifier_losses(model, batch: dict, weight: float = LAMBDA) -> dict:
    """The losses that apply to ``model``: :func:`oh_losses` for Oh et al., else reconstruction."""
    if getattr(model, "arch", None) == "oh2018":
        return oh_losses(model, batch, weight)
    return reconstruction_losses(model, batch, weight)
