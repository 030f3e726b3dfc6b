"""Procedural faces: an identity is a handful of numbers; a face is a smooth analytic colour field.

Why hand-written: no library renders parametric faces as *continuous* functions, and that is the
point here -- the colour at any real-valued point ``q`` is defined (features have logistic edges,
the skin a sum of sinusoids), so a frame is the face sampled at warped, supersampled coordinates
and a sub-pixel motion is reproduced exactly (see :mod:`merlib.data.synthetic.render`).

Face coordinates: x to the image right, y down, the image width spans [-1, 1] and the face is
centred near the origin. The subject's left side is x > 0 (the image right).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from merlib.configs import check_known_keys

__all__ = ["Identity", "sample_identity", "shade"]

#: Logistic edge width of features, in face units (0.3 px at 128 px, 0.6 px at 256 px).
EDGE = 0.005


@dataclass
class Identity:
    """Everything that makes one synthetic subject look like themselves (face units, RGB in [0, 1])."""
    face_a: float = 0.58          # half-width of the head
    face_b: float = 0.76          # half-height of the head
    face_cy: float = 0.04         # head centre (y)
    jaw_taper: float = 0.15       # narrowing towards the chin
    face_power: float = 2.3       # superellipse exponent (2 = ellipse, larger = squarer)
    eye_y: float = -0.18
    eye_dx: float = 0.23
    eye_rx: float = 0.095
    eye_ry: float = 0.042
    iris_r: float = 0.036
    brow_gap: float = 0.11        # brow height above the eye centre
    brow_len: float = 0.11        # half-length of a brow
    brow_arch: float = 0.02
    brow_thick: float = 0.024
    nose_y: float = 0.12
    nose_w: float = 0.075
    mouth_y: float = 0.34
    mouth_w: float = 0.18         # half-width of the mouth
    lip_h: float = 0.032
    hairline: float = -0.50
    skin_rgb: list = field(default_factory=lambda: [0.85, 0.68, 0.56])
    hair_rgb: list = field(default_factory=lambda: [0.15, 0.10, 0.08])
    iris_rgb: list = field(default_factory=lambda: [0.30, 0.20, 0.12])
    lip_rgb: list = field(default_factory=lambda: [0.70, 0.38, 0.36])
    brow_rgb: list = field(default_factory=lambda: [0.20, 0.14, 0.10])
    bg_rgb: list = field(default_factory=lambda: [[0.55, 0.58, 0.62], [0.40, 0.42, 0.46]])
    tex_freq: list = field(default_factory=lambda: [[6.0, 3.0]])      # (K, 2) cycles per unit
    tex_phase: list = field(default_factory=lambda: [0.0])           # (K,)
    tex_amp: list = field(default_factory=lambda: [0.02])            # (K,)
    light_dir: list = field(default_factory=lambda: [0.3, -0.3])      # light from (x, y)
    ambient: float = 0.65
    zoom: float = 1.3             # face size in the frame (the renderer divides image coords by it)
    # Realism (generator 2.0): hair volume around the head, ears, neck and clothing, eye sockets,
    # resting upper lid, cheek colour, teeth behind the lip seam.
    hair_volume: float = 0.06     # how far the hair stands out of the head outline (face units)
    hair_side: float = 0.05       # how low the hair reaches on the sides, relative to the eye line
    hair_strand: float = 0.08     # contrast of the hair's strand texture
    ear_y: float = -0.08          # ear centre (y); ears sit at the head's sides
    ear_r: float = 0.085          # ear half-height
    neck_w: float = 0.30          # half-width of the neck
    cloth_rgb: list = field(default_factory=lambda: [0.25, 0.30, 0.40])
    socket: float = 0.18          # darkening of the eye sockets (0 = none)
    lid_rest: float = 0.45        # resting upper lid, as a fraction of eye_ry below the eye's top
    blush: float = 0.04           # redness of the cheeks

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Identity":
        check_known_keys(cls, d)
        return cls(**d)


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw a random identity: face shape, feature positions, skin texture and tone, lighting."""
    u = rng.uniform
    tone = u(0.0, 1.0)  # 0 = light, 1 = dark skin
    light, dark = np.array([0.93, 0.78, 0.66]), np.array([0.42, 0.28, 0.20])
    skin = (1 - tone) * light + tone * dark + rng.normal(0, 0.02, 3)
    hair = np.clip(np.array([0.12, 0.09, 0.07]) * u(0.6, 3.5) + rng.normal(0, 0.02, 3), 0.02, 0.8)
    k = 14
    freq = rng.uniform(1.5, 16.0, (k, 2)) * rng.choice([-1.0, 1.0], (k, 2))
    amp = rng.uniform(0.002, 0.009, k) * u(0.5, 1.5)
    bg0 = rng.uniform(0.25, 0.8, 3)
    bg1 = np.clip(bg0 + rng.normal(0, 0.08, 3), 0.05, 0.95)
    angle = u(-math.pi, math.pi)
    strength = u(0.1, 0.6)
    return Identity(
        face_a=u(0.52, 0.64), face_b=u(0.70, 0.82), face_cy=u(0.0, 0.08), jaw_taper=u(0.0, 0.28),
        face_power=u(2.0, 2.7),
        eye_y=u(-0.23, -0.14), eye_dx=u(0.20, 0.26), eye_rx=u(0.08, 0.105), eye_ry=u(0.035, 0.05),
        iris_r=u(0.030, 0.040),
        brow_gap=u(0.09, 0.14), brow_len=u(0.09, 0.13), brow_arch=u(0.0, 0.035), brow_thick=u(0.016, 0.032),
        nose_y=u(0.07, 0.15), nose_w=u(0.06, 0.09),
        mouth_y=u(0.30, 0.38), mouth_w=u(0.15, 0.22), lip_h=u(0.025, 0.04),
        hairline=u(-0.58, -0.42),
        skin_rgb=np.clip(skin, 0.1, 0.97).tolist(), hair_rgb=hair.tolist(),
        iris_rgb=np.clip(rng.uniform(0.05, 0.45, 3), 0, 1).tolist(),
        lip_rgb=np.clip(skin * np.array([0.85, 0.55, 0.58]) + rng.normal(0, 0.02, 3), 0.05, 0.95).tolist(),
        brow_rgb=np.clip(hair * u(0.8, 1.2), 0.02, 0.8).tolist(),
        bg_rgb=[bg0.tolist(), bg1.tolist()],
        tex_freq=freq.tolist(), tex_phase=rng.uniform(0, 2 * math.pi, k).tolist(), tex_amp=amp.tolist(),
        light_dir=[strength * math.cos(angle), strength * math.sin(angle)], ambient=u(0.55, 0.78),
        zoom=u(1.2, 1.45),
        hair_volume=u(0.02, 0.12), hair_side=u(-0.05, 0.25), hair_strand=u(0.03, 0.12),
        ear_y=u(-0.14, -0.04), ear_r=u(0.07, 0.10), neck_w=u(0.24, 0.34),
        cloth_rgb=np.clip(rng.uniform(0.1, 0.8, 3), 0, 1).tolist(),
        socket=u(0.10, 0.28), lid_rest=u(0.3, 0.6), blush=u(0.0, 0.08),
    )


def _sig(z: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(z / EDGE)


def _mix(channels: list, colour: list, mask: torch.Tensor) -> None:
    """Alpha-composite ``colour`` (3 scalars or tensors) over ``channels`` in place, weight ``mask``."""
    for ch, c in zip(channels, colour):
        ch.lerp_(c if isinstance(c, torch.Tensor) else torch.tensor(float(c), dtype=ch.dtype, device=ch.device),
                 mask)


def shade(identity: Identity, q: torch.Tensor, blink: torch.Tensor | None = None) -> torch.Tensor:
    """The face's colour at face points ``q``.

    Args:
        identity: the subject.
        q: ``(T, N, 2)`` face coordinates (any real values; x right, y down).
        blink: ``(T,)`` eyelid closure in [0, 1] (0 open, 1 closed); ``None`` = open.

    Returns:
        ``(T, 3, N)`` RGB (not clamped here; the renderer clamps to [0, 1]).
    """
    i = identity
    x, y = q[..., 0], q[..., 1]
    dt = dict(dtype=q.dtype, device=q.device)
    # Background: a vertical gradient.
    tb = ((y + 1) / 2).clamp(0, 1)
    ch = [b0 + tb * (b1 - b0) for b0, b1 in zip(i.bg_rgb[0], i.bg_rgb[1])]
    # Clothing and neck below the head (painted first: the head covers them).
    cloth = _sig(y - (i.face_cy + i.face_b * 0.92) - 0.12 * (1 - (x / 0.9).clamp(-1, 1) ** 2))
    _mix(ch, i.cloth_rgb, cloth)
    neck_shade = 0.55 + 0.35 * (1 - (x / i.neck_w).clamp(-1, 1) ** 2)
    neck = _sig(i.neck_w - x.abs()) * _sig(y - i.face_cy)
    _mix(ch, [c * neck_shade for c in i.skin_rgb], neck)
    # Hair volume behind the head: a larger outline, down to about the eye line on the sides.
    yy = (y - i.face_cy) / i.face_b
    a_eff = i.face_a * (1 - i.jaw_taper * yy.clamp(0, 1) ** 2)
    r = ((x.abs() / a_eff) ** i.face_power + yy.abs() ** i.face_power) ** (1 / i.face_power)
    strands = 1 + i.hair_strand * torch.sin(90.0 * x + 7.0 * torch.sin(9.0 * y))
    back_hair = _sig((1 + i.hair_volume / i.face_a - r) * i.face_a) * _sig(i.eye_y + i.hair_side - y)
    _mix(ch, [c * 0.8 * strands for c in i.hair_rgb], back_hair)
    # Ears at the sides (darker skin), partly behind the hair.
    ear_x = i.face_a * (1 - i.jaw_taper * min(1.0, max(0.0, (i.ear_y - i.face_cy) / i.face_b)) ** 2)
    ear = _sig(1 - (((x.abs() - ear_x) / (0.45 * i.ear_r)) ** 2 + ((y - i.ear_y) / i.ear_r) ** 2).sqrt())
    _mix(ch, [c * 0.78 for c in i.skin_rgb], ear * (1 - back_hair))
    # Head: a superellipse narrowing towards the chin.
    head = _sig((1 - r) * i.face_a)
    # Skin with texture and Lambertian shading of an ellipsoid.
    freq = torch.tensor(i.tex_freq, **dt)
    phase = torch.tensor(i.tex_phase, **dt)
    amp = torch.tensor(i.tex_amp, **dt)
    tex = torch.zeros_like(x)
    for k in range(freq.shape[0]):
        tex.add_(torch.sin(x * (2 * math.pi * freq[k, 0]) + y * (2 * math.pi * freq[k, 1]) + phase[k]), alpha=float(amp[k]))
    nx, ny = (x / i.face_a).clamp(-1, 1), yy.clamp(-1, 1)
    nz = (1 - nx ** 2 - ny ** 2).clamp(min=0.02).sqrt()
    lx, ly = i.light_dir
    lz = math.sqrt(max(1e-6, 1 - lx * lx - ly * ly))
    light = i.ambient + (1 - i.ambient) * (nx * lx + ny * ly + nz * lz).clamp(min=0)
    # Soft self-shadowing: eye sockets, under the nose, under the lower lip; redder cheeks.
    ax = x.abs()
    sock = torch.exp(-0.5 * (((ax - i.eye_dx) / (1.5 * i.eye_rx)) ** 2 + ((y - i.eye_y + 0.01) / (2.6 * i.eye_ry)) ** 2))
    under_nose = torch.exp(-0.5 * ((x / (1.2 * i.nose_w)) ** 2 + ((y - i.nose_y - 0.035) / 0.018) ** 2))
    under_lip = torch.exp(-0.5 * ((x / (0.8 * i.mouth_w)) ** 2 + ((y - i.mouth_y - 1.6 * i.lip_h - 0.012) / 0.016) ** 2))
    shadow = 1 - i.socket * sock - 0.22 * under_nose - 0.15 * under_lip
    lit = (1 + tex) * light * shadow
    cheek = i.blush * torch.exp(-0.5 * (((ax - i.eye_dx - 0.02) / 0.09) ** 2 + ((y - i.nose_y) / 0.07) ** 2))
    skin = [i.skin_rgb[0] * lit * (1 + cheek), i.skin_rgb[1] * lit * (1 - 0.6 * cheek),
            i.skin_rgb[2] * lit * (1 - 0.6 * cheek)]
    _mix(ch, skin, head)
    # Hair above the hairline (inside the head), with strands.
    hair = head * _sig(i.hairline + 0.03 * torch.cos(6 * x) - y)
    _mix(ch, [c * (0.8 + 0.2 * light) * strands for c in i.hair_rgb], hair)
    # Brows: curved bands.
    xb = ax - i.eye_dx
    yb = i.eye_y - i.brow_gap - i.brow_arch * (1 - (xb / i.brow_len) ** 2)
    taper = (1.15 - 0.5 * ((xb / i.brow_len + 0.3).clamp(-1, 1.3)) ** 2).clamp(min=0.3)  # thick inner end
    brow = _sig(i.brow_thick / 2 * taper - (y - yb).abs()) * _sig(i.brow_len - xb.abs())
    _mix(ch, i.brow_rgb, 0.9 * brow)
    # Eyes: sclera ellipse, iris, pupil, an upper-lid crease; the lid closes with `blink`.
    xe, ye = ax - i.eye_dx, y - i.eye_y
    e = ((xe / i.eye_rx) ** 2 + (ye / i.eye_ry) ** 2).sqrt()
    sclera = _sig((1 - e) * i.eye_ry)
    crease = _sig(0.006 - (((xe / (i.eye_rx * 1.1)) ** 2 + ((ye + 0.012) / (i.eye_ry * 1.5)) ** 2).sqrt() - 1).abs()
                  * i.eye_ry) * (ye < 0).to(q.dtype)
    _mix(ch, [c * 0.6 * light for c in i.skin_rgb], 0.6 * crease)
    lid_y = i.eye_y - i.eye_ry * (1 - i.lid_rest)
    if blink is not None:
        lid_y = lid_y + (2.0 - i.lid_rest) * i.eye_ry * blink.to(q.dtype).reshape((-1,) + (1,) * (y.dim() - 1))
    visible = sclera * _sig(y - lid_y)
    dist = (xe ** 2 + ye ** 2).sqrt()
    eye = [c * light for c in (0.93, 0.92, 0.90)]
    _mix(eye, i.iris_rgb, _sig(i.iris_r - dist))
    _mix(eye, (0.03, 0.03, 0.03), _sig(0.4 * i.iris_r - dist))
    glint = _sig(0.3 * i.iris_r - ((xe + 0.3 * i.iris_r) ** 2 + (ye + 0.35 * i.iris_r) ** 2).sqrt())
    _mix(eye, (0.95, 0.95, 0.95), 0.8 * glint)
    _mix(ch, eye, visible)
    lid_shadow = _sig(0.012 - (y - lid_y + 0.006).abs()) * sclera * _sig(y - lid_y + 0.012)
    _mix(ch, [c * 0.5 * light for c in i.skin_rgb], 0.5 * lid_shadow)
    lash = _sig(0.0075 - (y - lid_y).abs()) * _sig(1.05 - e)
    _mix(ch, (0.07, 0.05, 0.04), 0.85 * lash)
    # Nose: shaded sides and nostrils; nasolabial folds from the nose to the mouth corners.
    side = _sig(0.012 - (ax - i.nose_w * (0.5 + 0.5 * ((y - i.eye_y) / (i.nose_y - i.eye_y)).clamp(0, 1))).abs())
    side = side * _sig(y - i.eye_y - 0.05) * _sig(i.nose_y + 0.02 - y)
    _mix(ch, [c * 0.65 * light for c in i.skin_rgb], 0.35 * side)
    nostril = _sig(1 - (((ax - 0.6 * i.nose_w) / 0.022) ** 2 + ((y - i.nose_y - 0.01) / 0.012) ** 2).sqrt())
    _mix(ch, (0.12, 0.07, 0.06), 0.85 * nostril)
    t = ((y - i.nose_y) / (i.mouth_y - i.nose_y)).clamp(0, 1.3)
    fold_x = i.nose_w * 1.3 + t * (i.mouth_w + 0.03 - i.nose_w * 1.3)
    fold = _sig(0.006 - (ax - fold_x).abs()) * _sig(y - i.nose_y) * _sig(i.mouth_y + 0.05 - y)
    _mix(ch, [c * 0.7 * light for c in i.skin_rgb], 0.45 * fold)
    # Mouth: lips (an ellipse), a dark seam between them, a chin shadow.
    xm, ym = x / i.mouth_w, y - i.mouth_y
    lips = _sig((1 - (xm ** 2 + (ym / (i.lip_h * (1.0 + 0.2 * (ym > 0).to(q.dtype)))) ** 2).sqrt()) * i.lip_h)
    seam_y = 0.25 * i.lip_h * (1 - xm ** 2)
    lip_tone = 0.82 + 0.18 * _sig(ym - seam_y)            # the upper lip is darker than the lower
    _mix(ch, [c * light * lip_tone for c in i.lip_rgb], lips)
    seam = _sig(0.0045 - (ym - seam_y).abs()) * _sig(1.02 - xm.abs())
    _mix(ch, (0.18, 0.06, 0.06), 0.9 * seam)
    teeth = _sig(0.0022 - (ym - seam_y + 0.0012).abs()) * _sig(0.75 - xm.abs())
    _mix(ch, [0.85 * light, 0.82 * light, 0.74 * light], 0.8 * teeth)
    chin = _sig(0.008 - (y - i.mouth_y - 0.13 - 0.1 * x ** 2).abs()) * _sig(0.12 - ax)
    _mix(ch, [c * 0.75 * light for c in i.skin_rgb], 0.3 * chin)
    return torch.stack(ch, dim=-2)
