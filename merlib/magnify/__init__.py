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
``temporal`` (Wu et al.'s ideal / IIR / first-order Butterworth pair, Butterworth band-pass, FIR window, with the authors' semantics), ``testsignals``
(ground-truth harness), ``validation`` (argument checks), ``learned`` (Oh et al. 2018 and
ST-MEMM, split into oh2018 / stmemm / weight_files / load / inference; ``load_magnifier``,
``magnify_learned``, ``OhMagnifier``, ``STMEMM`` ... are importable from here, loaded lazily).
"""
from merlib.magnify.api import METHODS, MODES, magnify, magnify_pair
from merlib.magnify.convention import CONVENTION, displacement_gain, from_oh_factor, to_oh_factor

__all__ = [
    "magnify", "magnify_pair", "load_magnifier", "displacement_gain", "to_oh_factor", "from_oh_factor",
    "CONVENTION", "METHODS", "MODES",
]


#: Learned-magnifier names served lazily from merlib.magnify.learned (heavier imports, weights on disk).
_LEARNED = ("load_magnifier", "magnify_learned", "save_magnifier", "OhMagnifier", "OhConfig", "STMEMM",
            "STMEMMConfig")


def __getattr__(name):
    # Learned magnifiers pull in heavier code (and possibly weights): import them on first use.
    if name in _LEARNED:
        import importlib

        module = "merlib.magnify.stmemm" if name in ("STMEMM", "STMEMMConfig") else "merlib.magnify.learned"
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'merlib.magnify' has no attribute {name!r}")
