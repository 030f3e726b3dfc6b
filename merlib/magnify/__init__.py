"""Motion magnification: Eulerian (amplitude), phase-based, and learned magnifiers.

One entry point for all of them::

    from merlib.magnify import magnify, magnify_pair
    out = magnify(frames, alpha=10, method="phase", mode="static")      # (T, C, H, W) or (B, T, C, H, W)
    apex_mag = magnify_pair(onset, apex, alpha=10, method="eulerian")  # (C, H, W)

α convention (the only one in merlib, defined in :mod:`merlib.magnify.convention`): the
output shows ``f(x + (1 + alpha)·δ(x, t))``; ``alpha = 0`` is the identity, ``alpha = -1``
cancels the motion. Oh et al. 2018's factor is ``amp = 1 + alpha`` (:func:`to_oh_factor`).

Modules: ``api`` (magnify, magnify_pair), ``eulerian`` (Wu et al. 2012), ``phase``
(Wadhwa et al. 2013), ``pyramids`` (Laplacian and complex steerable pyramids in torch),
``temporal`` (ideal / Butterworth / difference-of-IIR band-passes), ``testsignals``
(ground-truth harness), ``validation`` (argument checks), ``learned`` (Oh et al. 2018 and
ST-MEMM; loaded lazily through :func:`load_magnifier`).
"""
from merlib.magnify.api import METHODS, MODES, magnify, magnify_pair
from merlib.magnify.convention import CONVENTION, displacement_gain, from_oh_factor, to_oh_factor

__all__ = [
    "magnify", "magnify_pair", "load_magnifier", "displacement_gain", "to_oh_factor", "from_oh_factor",
    "CONVENTION", "METHODS", "MODES",
]


def __getattr__(name):
    # Learned magnifiers pull in heavier code (and possibly weights): import them on first use.
    if name == "load_magnifier":
        from merlib.magnify.learned import load_magnifier

        return load_magnifier
    raise AttributeError(f"module 'merlib.magnify' has no attribute {name!r}")
