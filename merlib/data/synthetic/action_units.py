"""FACS-like action units as smooth local displacement fields, and the classes built from them.

Each action unit (AU) is a small sum of anisotropic Gaussian "bumps": a bump sits on a facial
anchor of the identity (a brow end, a lower lid, a mouth corner, the chin ...), has a radius
``(sx, sy)`` and a displacement vector. The field of an AU at unit intensity is

    d_AU(p) = A0 * sum_b v_b * exp(-((px - cx_b)^2 / (2 sx_b^2) + (py - cy_b)^2 / (2 sy_b^2)))

in face coordinates (x to the image right, y down, the image width spans [-1, 1]). Bilateral
bumps are mirrored about the face midline; an ``L``/``R`` prefix (``"L10"``) activates the
subject's left / right side only (the subject's left is the image right, x > 0).

Directions follow the FACS manual's appearance changes (Ekman, Friesen & Hager 2002): AU1 raises
the inner brow, AU4 lowers and draws the brows together, AU12 pulls the lip corners up and out,
AU15 pulls them down, AU17 pushes the chin and lower lip up, AU25/26 part the lips / drop the jaw.

Classes mirror CASME II's coding (Yan et al., PLoS ONE 2014; table 1 of MMFRN, paper 000):
an emotion is a distribution over AU combinations, with the ambiguity the papers discuss --
AU4 appears in both *disgust* (AU4 + AU9/AU10/AU7) and *others* (AU4 alone, AU4 + AU7),
AU12 in *happiness* and (weakly) *surprise*, AU14/AU15/AU17 in *repression* and *others*.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "AU_NAMES", "AU_BUMPS", "AUActivation", "parse_aus", "format_aus", "au_field", "anchors",
    "CLASSES", "CLASS_AUS", "CLASS_AU_SETS", "MEGC3_CLASSES", "MEGC3_MAP", "BASE_AMPLITUDE", "sample_combo",
]

#: Displacement at unit intensity, in face units (the image width is 2 units):
#: 0.012 units = 0.77 px at 128 px, 1.5 px at 256 px -- the sub-pixel to few-pixel motion of
#: real micro-expressions (Oh et al. 2018 and the papers here magnify such motion 5-100x).
BASE_AMPLITUDE = 0.012

AU_NAMES: dict[int, str] = {
    1: "inner brow raiser", 2: "outer brow raiser", 4: "brow lowerer", 5: "upper lid raiser",
    6: "cheek raiser", 7: "lid tightener", 9: "nose wrinkler", 10: "upper lip raiser",
    12: "lip corner puller", 14: "dimpler", 15: "lip corner depressor", 17: "chin raiser",
    25: "lips part", 26: "jaw drop", 38: "nostril dilator",
}


@dataclass(frozen=True)
class Bump:
    """One Gaussian displacement bump of an AU (subject's-left version; mirrored for the right).

    ``anchor`` names a point of :func:`anchors`; ``offset`` moves the centre from it;
    ``sigma`` = (sx, sy); ``vector`` = (vx, vy), y down; ``midline`` bumps are not mirrored.
    """
    anchor: str
    offset: tuple[float, float]
    sigma: tuple[float, float]
    vector: tuple[float, float]
    midline: bool = False


#: AU number -> its bumps (left side; mirrored to the right unless ``midline``).
AU_BUMPS: dict[int, tuple[Bump, ...]] = {
    1: (Bump("brow_inner", (0.0, 0.0), (0.06, 0.06), (0.0, -1.0)),),
    2: (Bump("brow_outer", (0.0, 0.0), (0.06, 0.06), (0.15, -1.0)),),
    4: (Bump("brow_mid", (-0.03, 0.0), (0.08, 0.06), (-0.55, 0.85)),
        Bump("brow_inner", (-0.03, 0.02), (0.04, 0.05), (-0.6, 0.3))),
    5: (Bump("upper_lid", (0.0, 0.0), (0.05, 0.025), (0.0, -0.8)),),
    6: (Bump("cheek", (0.0, 0.0), (0.08, 0.07), (0.1, -1.0)),
        Bump("lower_lid", (0.03, 0.01), (0.04, 0.03), (0.0, -0.5))),
    7: (Bump("lower_lid", (0.0, 0.0), (0.05, 0.025), (0.0, -0.9)),
        Bump("upper_lid", (0.0, 0.0), (0.05, 0.02), (0.0, 0.3))),
    9: (Bump("nose_side", (0.0, -0.08), (0.045, 0.07), (0.0, -1.0)),
        Bump("brow_inner", (0.0, 0.0), (0.04, 0.04), (-0.2, 0.5))),
    10: (Bump("upper_lip", (0.0, 0.0), (0.07, 0.04), (0.0, -1.0)),),
    12: (Bump("mouth_corner", (0.0, 0.0), (0.06, 0.05), (0.6, -0.8)),),
    14: (Bump("mouth_corner", (0.0, 0.0), (0.045, 0.04), (-0.8, -0.2)),),
    15: (Bump("mouth_corner", (0.0, 0.0), (0.06, 0.05), (0.1, 1.0)),),
    17: (Bump("chin", (0.0, 0.0), (0.10, 0.06), (0.0, -1.0), midline=True),
         Bump("lower_lip", (0.0, 0.0), (0.08, 0.03), (0.0, -0.5), midline=True)),
    25: (Bump("lower_lip", (0.0, 0.0), (0.10, 0.03), (0.0, 0.9), midline=True),
         Bump("upper_lip", (0.0, 0.0), (0.08, 0.025), (0.0, -0.3), midline=True)),
    26: (Bump("chin", (0.0, -0.04), (0.18, 0.10), (0.0, 1.5), midline=True),),
    38: (Bump("nostril", (0.0, 0.0), (0.025, 0.02), (1.0, 0.0)),),
}

_AU_TOKEN = re.compile(r"^\s*([LR]?)\s*(\d{1,2})\s*$", re.I)


@dataclass(frozen=True)
class AUActivation:
    """One AU in a clip: ``au`` number, ``side`` ('B' both, 'L' subject's left, 'R' right),
    ``intensity`` at the apex (a multiplier of :data:`BASE_AMPLITUDE`)."""
    au: int
    side: str = "B"
    intensity: float = 1.0

    def code(self) -> str:
        return f"{'' if self.side == 'B' else self.side}{self.au}"


def parse_aus(text: str, intensity: float = 1.0) -> list[AUActivation]:
    """Parse a CASME II "Action Units" string (``"4+L10"``, ``"1+2"``, ``"R12"``).

    Raises:
        ValueError: a token is not ``[L|R]<number>`` or the AU is not modelled here.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"parse_aus: `text` must be a non-empty AU string like '4+L10', got {text!r}")
    out = []
    for token in str(text).split("+"):
        m = _AU_TOKEN.match(token)
        if not m:
            raise ValueError(f"parse_aus: token {token!r} of {text!r} is not '[L|R]<AU number>'")
        au = int(m.group(2))
        if au not in AU_BUMPS:
            raise ValueError(f"parse_aus: AU{au} in {text!r} is not modelled; known: {sorted(AU_BUMPS)}")
        out.append(AUActivation(au, (m.group(1) or "B").upper(), float(intensity)))
    return out


def format_aus(activations) -> str:
    """The CASME II string of a list of :class:`AUActivation` (``"4+L10"``)."""
    return "+".join(a.code() for a in activations)


def anchors(identity) -> dict[str, tuple[float, float]]:
    """Facial anchor points (subject's left side, x > 0) of an identity, in face units."""
    i = identity
    brow_y = i.eye_y - i.brow_gap
    return {
        "brow_inner": (i.eye_dx - 0.75 * i.brow_len, brow_y),
        "brow_mid": (i.eye_dx, brow_y - i.brow_arch),
        "brow_outer": (i.eye_dx + 0.75 * i.brow_len, brow_y),
        "upper_lid": (i.eye_dx, i.eye_y - i.eye_ry),
        "lower_lid": (i.eye_dx, i.eye_y + i.eye_ry),
        "cheek": (i.eye_dx + 0.03, i.eye_y + 0.14),
        "nose_side": (i.nose_w, i.nose_y),
        "nostril": (0.6 * i.nose_w, i.nose_y + 0.01),
        "upper_lip": (0.35 * i.mouth_w, i.mouth_y - i.lip_h),
        "mouth_corner": (i.mouth_w, i.mouth_y),
        "lower_lip": (0.0, i.mouth_y + i.lip_h),
        "chin": (0.0, i.mouth_y + 0.17),
    }


def au_field(identity, activations, p: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Displacement field of ``activations`` at face points ``p``.

    Args:
        identity: a :class:`~merlib.data.synthetic.face.Identity` (gives the anchors).
        activations: list of :class:`AUActivation` (intensity = apex multiplier).
        p: ``(T, N, 2)`` or ``(N, 2)`` face coordinates (x right, y down).
        weights: ``(T,)`` temporal intensity (the onset-apex-offset profile); ``None`` = 1.

    Returns:
        ``p``-shaped displacement in face units (``BASE_AMPLITUDE`` per unit intensity).
    """
    anc = anchors(identity)
    d = torch.zeros_like(p)
    x, y = p[..., 0], p[..., 1]
    for act in activations:
        sides = (1.0, -1.0) if act.side == "B" else ((1.0,) if act.side == "L" else (-1.0,))
        gain = BASE_AMPLITUDE * act.intensity
        for bump in AU_BUMPS[act.au]:
            ax, ay = anc[bump.anchor]
            cx0, cy = ax + bump.offset[0], ay + bump.offset[1]
            vx, vy = bump.vector
            for s in ((1.0,) if bump.midline else sides):
                cx = s * cx0
                g = torch.exp(-0.5 * (((x - cx) / bump.sigma[0]) ** 2 + ((y - cy) / bump.sigma[1]) ** 2))
                d[..., 0] += gain * s * vx * g
                d[..., 1] += gain * vy * g
    if weights is not None:
        w = weights.to(d).reshape((-1,) + (1,) * (d.dim() - 1))
        d = d * w
    return d


# --------------------------------------------------------------------------- classes
CLASSES: tuple[str, ...] = ("happiness", "disgust", "surprise", "repression", "others")

#: class -> ((AU combination, relative frequency), ...). Combinations follow CASME II's coding
#: (MMFRN table 1 lists the AUs per class: happiness 1,6,7,12,14,15; disgust 2,4,5,6,7,9,10;
#: surprise 1,2,12,14,25,26,38; repression 12,14,15,17; others 4,6,7,12,14,15,17,38) and
#: keep its overlaps on purpose: "4+7" is drawn for disgust and for others, "14"/"15+17" for
#: repression and others, "12" in happiness and (with 1+2) in surprise.
CLASS_AUS: dict[str, tuple[tuple[str, float], ...]] = {
    "happiness": (("12", 3.0), ("6+12", 3.0), ("6+7+12", 1.0), ("1+6+12", 0.5), ("L12", 1.0),
                  ("12+14", 0.5), ("12+15", 0.3)),
    "disgust": (("4+9", 3.0), ("4+10", 2.0), ("4+L10", 1.0), ("4+7", 1.5), ("4+7+9", 1.0),
                ("2+4+5", 0.3), ("4+6+7+10", 0.5), ("9", 0.15), ("10", 0.15)),
    "surprise": (("1+2", 4.0), ("1+2+25", 1.0), ("1+2+26", 1.0), ("1+2+L12", 0.5), ("25+26", 0.5),
                 ("1+2+38", 0.3), ("1+2+14", 0.3)),
    "repression": (("14", 2.0), ("15", 2.0), ("17", 2.0), ("15+17", 2.0), ("12+15", 0.7),
                   ("14+17", 0.7)),
    "others": (("4", 5.0), ("4+7", 2.0), ("7", 1.0), ("6", 0.5), ("14", 0.5), ("15+17", 0.5),
               ("17", 0.5), ("4+38", 0.3), ("12+15", 0.3)),
}

#: class -> the set of AU numbers its combinations use (what MMFRN's table 1 lists).
CLASS_AU_SETS: dict[str, frozenset[int]] = {
    name: frozenset(a.au for combo, _ in combos for a in parse_aus(combo)) for name, combos in CLASS_AUS.items()
}

#: MEGC2019's three classes (See et al., FG 2019) and the CASME II mapping: happiness -> positive,
#: disgust and repression -> negative, surprise -> surprise; "others" is left out (``None``).
MEGC3_CLASSES: tuple[str, ...] = ("negative", "positive", "surprise")
MEGC3_MAP: dict[str, str | None] = {
    "happiness": "positive", "disgust": "negative", "repression": "negative",
    "surprise": "surprise", "others": None,
}


def sample_combo(label: str, rng: np.random.Generator) -> str:
    """Draw one AU combination of class ``label`` with the frequencies of :data:`CLASS_AUS`."""
    if label not in CLASS_AUS:
        raise ValueError(f"sample_combo: `label` must be one of {CLASSES}, got {label!r}")
    combos, weights = zip(*CLASS_AUS[label])
    p = np.asarray(weights, float)
    return combos[int(rng.choice(len(combos), p=p / p.sum()))]
