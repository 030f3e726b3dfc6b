"""What one synthetic clip is: :class:`ClipSpec` (identity, AUs, timing, nuisances) and the
onset -> apex -> offset intensity profile.

A :class:`ClipSpec` is plain data (it round-trips through JSON: ``ground_truth/subXX/CLIP.json``)
and holds *everything* needed to re-render the clip bit for bit: frames, the true flow, or the
exactly magnified clip (:func:`merlib.data.synthetic.render.render_clip`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from merlib.configs import check_known_keys
from merlib.data.synthetic.action_units import AUActivation, format_aus
from merlib.data.synthetic.face import Identity

__all__ = ["ClipSpec", "NuisanceParams", "intensity_profile"]


def intensity_profile(frames, onset: int, apex: int, offset: int) -> np.ndarray:
    """AU intensity at (original) frame numbers: 0 at the onset, 1 at the apex, 0 at the offset.

    A raised-cosine rise ``(1 - cos(pi s)) / 2`` from onset to apex and the mirror fall to the
    offset (smooth, zero velocity at all three key frames); 0 outside [onset, offset].

    Returns:
        ``(len(frames),)`` float64 array in [0, 1].
    """
    if not onset < apex < offset:
        raise ValueError(f"intensity_profile: need onset < apex < offset, got {onset}, {apex}, {offset}")
    f = np.asarray(frames, dtype=np.float64)
    rise = np.clip((f - onset) / (apex - onset), 0, 1)
    fall = np.clip((offset - f) / (offset - apex), 0, 1)
    s = np.where(f <= apex, rise, fall)
    return 0.5 * (1 - np.cos(math.pi * s))


@dataclass
class NuisanceParams:
    """Per-clip nuisances; each is off at its neutral value (what ``off()`` returns).

    Head motion (rigid, NOT magnified): translation ``drift`` (face units per second, (x, y))
    plus a sway ``sway_amp * sin(2 pi sway_hz t + sway_phase)`` along ``sway_dir``, rotation
    ``rot0 + rot_rate * t`` (radians) about the origin. Blink: eyelid closure peaking at
    ``blink_t`` seconds after the first frame over ``blink_dur`` seconds (``blink_t = None``:
    no blink). Sensor noise: Gaussian, ``noise_sigma`` (in [0, 1] units), seeded by
    ``noise_seed``. Illumination flicker: gain ``1 + flicker_amp sin(2 pi flicker_hz t + phase)``.
    JPEG: ``jpeg_quality`` when written to disk (``None``: quality 100, 4:4:4).
    """
    drift: list = field(default_factory=lambda: [0.0, 0.0])
    sway_amp: float = 0.0
    sway_hz: float = 0.0
    sway_phase: float = 0.0
    sway_dir: list = field(default_factory=lambda: [1.0, 0.0])
    rot0: float = 0.0
    rot_rate: float = 0.0
    blink_t: float | None = None
    blink_dur: float = 0.15
    noise_sigma: float = 0.0
    noise_seed: int = 0
    flicker_amp: float = 0.0
    flicker_hz: float = 0.0
    flicker_phase: float = 0.0
    jpeg_quality: int | None = None

    @classmethod
    def off(cls) -> "NuisanceParams":
        return cls()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "NuisanceParams":
        check_known_keys(cls, d)
        return cls(**d)


@dataclass
class ClipSpec:
    """Everything needed to render one synthetic clip.

    Frame numbers are CASME II-style original sequence numbers: the clip holds frames
    ``first_frame .. first_frame + n_frames - 1`` and ``onset <= apex <= offset`` lie among them
    (the written folder spans onset .. offset, as CASME II's folders do).
    """
    subject: int
    clip: str
    label: str
    aus: list                      # list[AUActivation]
    identity: Identity
    onset: int
    apex: int
    offset: int
    fps: float
    size: tuple = (128, 128)       # (H, W)
    channels: int = 3
    subject_intensity: float = 1.0
    supersample: int = 3
    first_frame: int | None = None
    n_frames: int | None = None
    nuisance: NuisanceParams = field(default_factory=NuisanceParams)

    def __post_init__(self):
        if self.first_frame is None:
            self.first_frame = self.onset
        if self.n_frames is None:
            self.n_frames = self.offset - self.first_frame + 1
        self.size = tuple(int(s) for s in self.size)
        self.aus = [a if isinstance(a, AUActivation) else AUActivation(**a) for a in self.aus]
        if self.channels not in (1, 3):
            raise ValueError(f"ClipSpec: `channels` must be 1 or 3, got {self.channels!r}")
        if not self.onset < self.apex < self.offset:
            raise ValueError(f"ClipSpec {self.clip!r}: need onset < apex < offset, got "
                             f"{self.onset}, {self.apex}, {self.offset}")

    @property
    def frame_numbers(self) -> np.ndarray:
        """``(T,)`` original frame numbers of the rendered frames."""
        return np.arange(self.first_frame, self.first_frame + self.n_frames)

    @property
    def action_units(self) -> str:
        """The CASME II "Action Units" string (``"4+L10"``)."""
        return format_aus(self.aus)

    def profile(self) -> np.ndarray:
        """``(T,)`` AU intensity per frame (see :func:`intensity_profile`)."""
        return intensity_profile(self.frame_numbers, self.onset, self.apex, self.offset)

    def with_nuisances_off(self) -> "ClipSpec":
        """The same clip without head motion, blinks, noise, flicker or JPEG."""
        return replace(self, nuisance=NuisanceParams.off())

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["aus"] = [asdict(a) for a in self.aus]
        d["identity"] = self.identity.to_dict()
        d["nuisance"] = self.nuisance.to_dict()
        d["size"] = list(self.size)
        d["action_units"] = self.action_units  # informative; ignored by from_dict
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ClipSpec":
        d = dict(d)
        d.pop("action_units", None)
        check_known_keys(cls, d)
        d["identity"] = Identity.from_dict(d["identity"])
        d["nuisance"] = NuisanceParams.from_dict(d.get("nuisance", {}))
        d["aus"] = [AUActivation(**a) for a in d["aus"]]
        return cls(**d)
