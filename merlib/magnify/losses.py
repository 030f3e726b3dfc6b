"""Training losses of the learned magnifiers (Oh et al. 2018, Sec. 3.3, and their official code).

With the colour-perturbed copies of :mod:`merlib.magnify.synth_pairs` (``frameA`` = X_a,
``frameB`` = X_b' perturbed, ``frameC`` = X_b unperturbed, ``amplified`` = Y' perturbed), two forms:

``form="paper"`` — the paper's four terms, λ = 0.1::

    L = L1(Ŷ, Y')                                   reconstruction, Ŷ = D(V_b', G_m(M_a, M_b', α))
        + λ·( L1(V_a, V_c)                          texture of A = texture of C (same colours)
            + L1(V_b', V_Y')                        texture of B' = texture of Y' (same colours)
            + L1(M_b', M_c) )                       shape of B' = shape of C (same geometry)

``form="official"`` — what 12dmodel/deep_motion_mag's ``magnet.py`` (``_build_training_graph``)
optimises: ``L1(Ŷ, Y') + w_t·L1(V_c, V_a) + w_s·L1(M_c, M_b')`` with ``texture_loss_weight`` =
``shape_loss_weight`` = 1.0 (``configs/configspec.conf`` defaults, which the shipped config
``o3f_hmhm2_bg_qnoise_mix4_nl_n_t_ds3.conf`` does not override). No texture term on Y', so Y' is
never encoded (three encoder passes instead of four). Their ``weight_decay`` (5e-4) multiplies
an empty regulariser collection (``conv2d`` is built with ``weights_regularizer=None``): no decay.

ST-MEMM (paper 002) has no separate texture/shape representation, so only the reconstruction
term applies to it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["oh_losses", "reconstruction_losses", "magnifier_losses", "LAMBDA", "OFFICIAL_WEIGHT",
           "LOSS_FORMS", "default_weight"]

#: Oh et al.'s (paper) weight of the texture and shape regularisers.
LAMBDA = 0.1
#: The official code's ``texture_loss_weight`` and ``shape_loss_weight``.
OFFICIAL_WEIGHT = 1.0
LOSS_FORMS = ("paper", "official")

_KEYS = ("frameA", "frameB", "frameC", "amplified", "alpha")


def default_weight(form: str) -> float:
    """λ of ``form``: 0.1 for ``"paper"``, 1.0 for ``"official"``."""
    _check_form(form)
    return LAMBDA if form == "paper" else OFFICIAL_WEIGHT


def _check_form(form):
    if form not in LOSS_FORMS:
        raise ValueError(f"loss `form` must be one of {LOSS_FORMS}, got {form!r}")


def _check(batch: dict):
    missing = [k for k in _KEYS if k not in batch]
    if missing:
        raise ValueError(f"training batch lacks {missing}; expected the keys of PairGenerator.batch: {_KEYS}")


def oh_losses(model, batch: dict, weight: float | None = None, form: str = "paper") -> dict:
    """Loss terms for :class:`~merlib.magnify.oh2018.OhMagnifier` on a training batch.

    ``batch``: tensors (B, C, S, S) in [0, 1] and ``alpha`` (B,) in merlib's convention.
    ``weight``: λ (None: :func:`default_weight` of ``form``).
    Returns a dict of 0-d tensors: ``total``, ``reconstruction``, ``texture_ac``, ``shape_bc`` and,
    for ``form="paper"``, ``texture_by``.
    """
    _check(batch)
    _check_form(form)
    weight = default_weight(form) if weight is None else float(weight)
    a, b, c, y = (batch[k] for k in ("frameA", "frameB", "frameC", "amplified"))
    n = a.shape[0]
    frames = [a, b, c, y] if form == "paper" else [a, b, c]
    texture, shape = model.encoder(torch.cat(frames))  # one batched pass, shared weights
    textures, shapes = texture.split(n), shape.split(n)
    va, vb, vc = textures[:3]
    ma, mb, mc = shapes[:3]
    y_hat = model.decoder(vb, model.manipulator(ma, mb, batch["alpha"]))
    terms = {
        "reconstruction": F.l1_loss(y_hat, y),
        "texture_ac": F.l1_loss(va, vc),
        "shape_bc": F.l1_loss(mb, mc),
    }
    if form == "paper":
        terms["texture_by"] = F.l1_loss(vb, textures[3])
    terms["total"] = terms["reconstruction"] + weight * sum(v for k, v in terms.items() if k != "reconstruction")
    return terms


def reconstruction_losses(model, batch: dict, weight: float | None = None, form: str = "paper") -> dict:
    """L1(model(frameA, frameB, alpha), amplified) for networks without a texture/shape split."""
    _check(batch)
    y_hat = model(batch["frameA"], batch["frameB"], batch["alpha"])
    rec = F.l1_loss(y_hat, batch["amplified"])
    return {"reconstruction": rec, "total": rec}


def magnifier_losses(model, batch: dict, weight: float | None = None, form: str = "paper") -> dict:
    """The losses that apply to ``model``: :func:`oh_losses` for Oh et al., else reconstruction."""
    if getattr(model, "arch", None) == "oh2018":
        return oh_losses(model, batch, weight, form)
    return reconstruction_losses(model, batch, weight, form)
