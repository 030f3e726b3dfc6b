"""The α convention of merlib — the one place where it is defined and converted.

merlib's convention (used by every magnifier: Eulerian, phase-based, learned, Swin)
----------------------------------------------------------------------------------
A video is modelled as ``I(x, t) = f(x + δ(x, t))`` (Wu et al. 2012, "Eulerian video
magnification"; Bai et al. 2021, Eq. 1). A magnifier with factor ``alpha`` returns::

    Î(x, t) = f(x + (1 + alpha) · δ(x, t))

so

* ``alpha = 0`` returns the input unchanged (identity),
* ``alpha = -1`` cancels the motion (every frame looks like the reference),
* ``alpha = 9`` shows ten times the original displacement.

The factor that multiplies the displacement is therefore ``1 + alpha``
(:func:`displacement_gain`).

Oh et al. 2018 ("Learning-based video motion magnification", ECCV) — and their
official code, which multiplies the encoded shape difference by ``(amp - 1)`` and
adds it back to the reference — call the *total* displacement gain the
amplification factor: ``amp = 1 + alpha``. Their ``amp = 1`` is the identity.
MMFRN (Complex & Intelligent Systems 2022) and AMAN (ICASSP 2022) quote Oh's factor.
Convert only with :func:`to_oh_factor` and :func:`from_oh_factor`.
"""
from __future__ import annotations

import math
from numbers import Real

__all__ = ["displacement_gain", "to_oh_factor", "from_oh_factor", "check_alpha", "CONVENTION",
           "MANIPULATOR_FACTORS", "manipulator_multiplier"]

#: One line naming the convention, for docstrings and result records.
CONVENTION = "merlib alpha: output shows f(x + (1 + alpha)·δ); alpha=0 identity, alpha=-1 cancels; Oh et al.'s amp = 1 + alpha"


def check_alpha(alpha, name: str = "alpha") -> float:
    """Return ``alpha`` as a finite float, or raise ``ValueError`` naming the argument."""
    if isinstance(alpha, bool) or not isinstance(alpha, Real):
        try:  # 0-d tensors / numpy scalars
            alpha = float(alpha)
        except (TypeError, ValueError):
            raise ValueError(f"`{name}` must be a real number (merlib convention: "
                             f"output shows f(x + (1+{name})·δ)), got {alpha!r}") from None
    alpha = float(alpha)
    if not math.isfinite(alpha):
        raise ValueError(f"`{name}` must be finite, got {alpha!r}")
    return alpha


def displacement_gain(alpha: float) -> float:
    """Factor that multiplies the displacement under merlib's convention: ``1 + alpha``."""
    return 1.0 + check_alpha(alpha)


def to_oh_factor(alpha: float) -> float:
    """merlib ``alpha`` -> Oh et al. 2018 amplification factor ``amp = alpha + 1``."""
    return check_alpha(alpha) + 1.0


def from_oh_factor(amp: float) -> float:
    """Oh et al. 2018 amplification factor ``amp`` -> merlib ``alpha = amp - 1``."""
    return check_alpha(amp, "amp") - 1.0


#: What a learned manipulator ``M_b + h(c·g(M_b − M_a))`` multiplies by, as a function of Oh's ``amp``:
#: ``"amp_minus_1"`` — c = amp − 1 = merlib alpha (12dmodel/deep_motion_mag ``modules.py``
#: ``res_manipulator``; weimengting/AMAN ``mag_imple/network.py`` ``Manipulator``; merlib's own
#: networks); ``"amp"`` — c = amp = 1 + alpha (postech-ami/Deep-Motion-Mag-Pytorch ``module.py``
#: ``res_manipulator`` multiplies by the dataset's factor itself, so the ``h`` it learned expects it).
MANIPULATOR_FACTORS = ("amp_minus_1", "amp")


def manipulator_multiplier(alpha, form: str = "amp_minus_1"):
    """The factor a manipulator of convention ``form`` must multiply by to show f(x + (1+alpha)·δ).

    ``alpha`` is merlib's (a float or a tensor); returns ``alpha`` for ``"amp_minus_1"`` and
    ``alpha + 1`` (= Oh's amp) for ``"amp"``.
    """
    if form == "amp_minus_1":
        return alpha
    if form == "amp":
        return alpha + 1.0
    raise ValueError(f"manipulator convention must be one of {MANIPULATOR_FACTORS}, got {form!r}")
