"""Dataset presets and the deterministic drawing of every clip's :class:`ClipSpec`.

``tiny`` (tests: 10 clips of 5-11 frames at 64 px, 100 fps), ``small`` (quick notebooks: 40 clips,
8 subjects, 128 px, 200 fps; durations 1/25 to 1/4 s to keep it quick) and ``casme2`` (CASME II's shape: 26 subjects, 246 clips with its five-class
balance -- happiness 32, disgust 63, surprise 25, repression 27, others 99, as MMFRN's table 1
and CMNet's section 4 list it -- at 200 fps, durations 1/25 s to 1/2 s).

Everything is drawn from ``numpy.random.SeedSequence([seed, ...])``: the same preset, seed and
overrides give the same specs on every machine.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from merlib.data.synthetic.action_units import CLASSES, parse_aus, sample_combo
from merlib.data.synthetic.face import sample_identity
from merlib.data.synthetic.spec import ClipSpec, NuisanceParams

__all__ = ["SyntheticConfig", "PRESETS", "get_config", "sample_specs", "CASME2_CLASS_COUNTS", "RUN_SIZE_PRESETS",
           "preset_for"]

#: CASME II's five-class balance (MMFRN table 1; CMNet section 4.1): 246 clips.
CASME2_CLASS_COUNTS = {"happiness": 32, "disgust": 63, "surprise": 25, "repression": 27, "others": 99}


@dataclass(frozen=True)
class SyntheticConfig:
    """How a synthetic dataset is drawn. Every field can be overridden in ``generate(**overrides)``.

    Nuisance switches: ``head_motion``, ``blinks``, ``noise``, ``flicker``, ``jpeg``.
    ``intensity``: global AU gain (a multiplier of every clip's AU intensities; the knob the
    operating-point study of ``benchmarks/operating_point.py`` sweeps; 1 = the preset's calibrated
    default). ``subject_intensity_sd``: log-normal spread of the per-subject intensity scale (AMAN's
    premise: subjects differ in how strongly they express); ``clip_intensity``: range of the
    per-clip factor; ``duration_s``: onset-to-offset duration range in seconds;
    ``onset_to_apex_s``: onset-to-apex range in seconds (``None``: the apex sits at 25-60 % of the
    drawn duration); with it, apex-to-offset is 1-2x the rise and the total is clipped to
    ``duration_s``. ``noise_sigma``: range of the per-clip sensor-noise standard deviation
    (in [0, 1] grey levels). ``head_motion_scale``: multiplies the head's drift, sway and rotation
    rate (1 = unregistered frames; smaller = the residual motion after face registration).
    ``flicker_amp``: range of the illumination flicker's relative amplitude. ``blink_rate_hz``:
    spontaneous blinks per second; a clip then has a blink with probability
    ``rate * (duration + 0.2 s)`` (``None``: 30 % of clips, generator 1.x's rule).
    """
    name: str
    n_subjects: int
    class_counts: dict
    fps: float = 200.0
    size: tuple = (128, 128)
    channels: int = 3
    duration_s: tuple = (1 / 25, 1 / 2)
    onset_to_apex_s: tuple | None = None
    supersample: int = 3
    intensity: float = 1.0
    subject_intensity_sd: float = 0.35
    clip_intensity: tuple = (0.7, 1.3)
    head_motion: bool = True
    blinks: bool = True
    noise: bool = True
    flicker: bool = True
    jpeg: bool = True
    jpeg_quality: int = 92
    noise_sigma: tuple = (0.003, 0.012)
    head_motion_scale: float = 1.0
    flicker_amp: tuple = (0.005, 0.025)
    blink_rate_hz: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["size"] = list(self.size)
        d["duration_s"] = list(self.duration_s)
        d["clip_intensity"] = list(self.clip_intensity)
        d["noise_sigma"] = list(self.noise_sigma)
        d["flicker_amp"] = list(self.flicker_amp)
        if self.onset_to_apex_s is not None:
            d["onset_to_apex_s"] = list(self.onset_to_apex_s)
        return d

    @property
    def n_clips(self) -> int:
        return int(sum(self.class_counts.values()))


PRESETS: dict[str, SyntheticConfig] = {
    "tiny": SyntheticConfig(
        name="tiny", n_subjects=4, class_counts={c: 2 for c in CLASSES}, fps=100.0, size=(64, 64),
        duration_s=(0.04, 0.10), supersample=2),
    "small": SyntheticConfig(
        name="small", n_subjects=8,
        class_counts={"happiness": 6, "disgust": 10, "surprise": 6, "repression": 6, "others": 12},
        fps=200.0, size=(128, 128), duration_s=(0.04, 0.25), supersample=2),
    "casme2": SyntheticConfig(
        name="casme2", n_subjects=26, class_counts=dict(CASME2_CLASS_COUNTS), fps=200.0, size=(128, 128),
        duration_s=(1 / 25, 1 / 2), onset_to_apex_s=(0.05, 0.20), supersample=2,
        flicker=False, head_motion_scale=0.25, blink_rate_hz=17 / 60),
}


#: The synthetic preset of each run size (``merlib.run_size``): ``quick`` is the small CI set, ``standard`` the
#: benchmark at its operating point (``benchmarks/operating_point.py``, notebook 02), ``full`` the same preset when no
#: licensed copy is given (a ``full`` run is meant for a licensed dataset). Every notebook asks :func:`preset_for`
#: rather than naming a preset, so that a new operating point reaches all of them at once.
RUN_SIZE_PRESETS: dict[str, str] = {"quick": "small", "standard": "casme2", "full": "casme2"}


def preset_for(run_size: str) -> str:
    """The synthetic preset name for ``run_size`` (``"quick"`` / ``"standard"`` / ``"full"``).

    Raises:
        ValueError: ``run_size`` is not one of merlib's run sizes.
    """
    if run_size not in RUN_SIZE_PRESETS:
        raise ValueError(f"synthetic.preset_for: `run_size` must be one of {sorted(RUN_SIZE_PRESETS)}, got {run_size!r}")
    return RUN_SIZE_PRESETS[run_size]


def get_config(preset: str | SyntheticConfig = "small", **overrides) -> SyntheticConfig:
    """The config of ``preset`` with ``overrides`` applied (validated).

    Raises:
        ValueError: unknown preset or override name, or a value out of range.
    """
    if isinstance(preset, SyntheticConfig):
        cfg = preset
    elif preset in PRESETS:
        cfg = PRESETS[preset]
    else:
        raise ValueError(f"synthetic: unknown `preset` {preset!r}; choose one of {sorted(PRESETS)}")
    names = {f.name for f in fields(SyntheticConfig)} - {"name"}
    unknown = set(overrides) - names
    if unknown:
        raise ValueError(f"synthetic: unknown override(s) {sorted(unknown)}; allowed: {sorted(names)}")
    if "size" in overrides and isinstance(overrides["size"], int):
        overrides["size"] = (overrides["size"], overrides["size"])
    for key in ("size", "duration_s", "clip_intensity", "noise_sigma", "onset_to_apex_s", "flicker_amp"):
        if key in overrides and overrides[key] is not None:
            overrides[key] = tuple(overrides[key])
    cfg = replace(cfg, **overrides)
    _validate(cfg)
    return cfg


def _validate(cfg: SyntheticConfig) -> None:
    def bad(name, expected):
        raise ValueError(f"synthetic config {cfg.name!r}: `{name}` must be {expected}, got {getattr(cfg, name)!r}")
    if not isinstance(cfg.n_subjects, int) or cfg.n_subjects < 1:
        bad("n_subjects", "a positive int")
    if set(cfg.class_counts) - set(CLASSES) or any(int(v) < 0 for v in cfg.class_counts.values()):
        bad("class_counts", f"a mapping from {CLASSES} to non-negative counts")
    if cfg.n_clips < cfg.n_subjects:
        bad("n_subjects", f"at most the number of clips ({cfg.n_clips})")
    if not (cfg.fps > 0):
        bad("fps", "positive")
    if len(cfg.size) != 2 or min(cfg.size) < 16:
        bad("size", "(H, W) with both >= 16")
    if cfg.channels not in (1, 3):
        bad("channels", "1 or 3")
    lo, hi = cfg.duration_s
    if not (0 < lo <= hi) or round(lo * cfg.fps) < 2:
        bad("duration_s", "(min, max) seconds with min * fps >= 2 frames")
    if not 1 <= int(cfg.supersample) <= 8:
        bad("supersample", "an int in 1..8")
    if not 1 <= cfg.jpeg_quality <= 100:
        bad("jpeg_quality", "in 1..100")
    if isinstance(cfg.intensity, bool) or not isinstance(cfg.intensity, (int, float)) or not cfg.intensity >= 0:
        bad("intensity", "a number >= 0")
    if len(cfg.noise_sigma) != 2 or not 0 <= cfg.noise_sigma[0] <= cfg.noise_sigma[1] <= 0.5:
        bad("noise_sigma", "(min, max) with 0 <= min <= max <= 0.5")
    if len(cfg.flicker_amp) != 2 or not 0 <= cfg.flicker_amp[0] <= cfg.flicker_amp[1] <= 0.5:
        bad("flicker_amp", "(min, max) with 0 <= min <= max <= 0.5")
    if cfg.blink_rate_hz is not None and (isinstance(cfg.blink_rate_hz, bool) or not cfg.blink_rate_hz >= 0):
        bad("blink_rate_hz", "None or a number >= 0")
    if isinstance(cfg.head_motion_scale, bool) or not isinstance(cfg.head_motion_scale, (int, float)) \
            or not cfg.head_motion_scale >= 0:
        bad("head_motion_scale", "a number >= 0")
    if cfg.onset_to_apex_s is not None:
        a0, a1 = cfg.onset_to_apex_s
        if not (0 < a0 <= a1) or round(a0 * cfg.fps) < 1 or 2 * a1 > cfg.duration_s[1] * 1.0001 + 1 / cfg.fps:
            bad("onset_to_apex_s", "(min, max) seconds, min * fps >= 1 frame and 2 * max <= max duration")


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *[int(k) for k in keys]]))


def _blink_probability(cfg: SyntheticConfig, duration: float) -> float:
    if cfg.blink_rate_hz is None:
        return 0.3
    return min(1.0, float(cfg.blink_rate_hz) * (duration + 0.2))


def _nuisance(cfg: SyntheticConfig, rng: np.random.Generator, duration: float) -> NuisanceParams:
    n = NuisanceParams()
    u = rng.uniform
    # Always draw every number (even for switched-off nuisances) so that switching one
    # nuisance off leaves the others -- and the faces and AUs -- unchanged.
    drift = rng.normal(0, 0.02, 2)                 # face units / s (~1.3 px/s at 128 px)
    sway = (u(0.0, 0.006), u(0.5, 3.0), u(0, 2 * math.pi), u(-math.pi, math.pi))
    rot = (u(-0.01, 0.01), rng.normal(0, 0.01))     # rad, rad/s (about 0.5 degrees)
    blink = (u(0, 1) < _blink_probability(cfg, duration), u(-0.05, duration + 0.05), u(0.10, 0.30))
    noise = (u(0.0, 1.0), int(rng.integers(0, 2**31 - 1)))
    flick = (u(0.0, 1.0), u(1.0, 15.0), u(0, 2 * math.pi))
    if cfg.head_motion:
        k = float(cfg.head_motion_scale)
        n.drift = (k * drift).tolist()
        n.sway_amp, n.sway_hz, n.sway_phase = k * sway[0], sway[1], sway[2]
        n.sway_dir = [math.cos(sway[3]), math.sin(sway[3])]
        n.rot0, n.rot_rate = rot[0], k * rot[1]
    if cfg.blinks and blink[0]:
        n.blink_t, n.blink_dur = blink[1], blink[2]
    if cfg.noise:
        lo, hi = cfg.noise_sigma
        n.noise_sigma, n.noise_seed = lo + noise[0] * (hi - lo), noise[1]
    if cfg.flicker:
        lo, hi = cfg.flicker_amp
        n.flicker_amp, n.flicker_hz, n.flicker_phase = lo + flick[0] * (hi - lo), flick[1], flick[2]
    n.jpeg_quality = int(cfg.jpeg_quality) if cfg.jpeg else None
    return n


def _clip_names(rng: np.random.Generator, n: int) -> list[str]:
    names: set[str] = set()
    while len(names) < n:
        names.add(f"EP{int(rng.integers(1, 20)):02d}_{int(rng.integers(1, 13)):02d}{'f' if rng.uniform() < 0.5 else ''}")
    return sorted(names)


def sample_specs(config: str | SyntheticConfig = "small", seed: int = 0, **overrides) -> list[ClipSpec]:
    """Draw every clip of a dataset (no rendering): identities, labels, AUs, timing, nuisances.

    Subjects get unequal clip counts (as in CASME II, where a subject has 2 to 30+ clips); each
    subject has at least one clip. Returns specs sorted by subject, then clip name.
    """
    cfg = get_config(config, **overrides)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"synthetic: `seed` must be a non-negative int, got {seed!r}")
    rng = _rng(seed, 0)
    labels = [c for c in CLASSES for _ in range(int(cfg.class_counts.get(c, 0)))]
    labels = [labels[i] for i in rng.permutation(len(labels))]
    weights = rng.dirichlet(np.full(cfg.n_subjects, 2.0))
    subjects = list(range(1, cfg.n_subjects + 1)) + [
        int(s) + 1 for s in rng.choice(cfg.n_subjects, size=len(labels) - cfg.n_subjects, p=weights)]
    subject_scale = np.exp(rng.normal(0, cfg.subject_intensity_sd, cfg.n_subjects))
    specs = []
    for subj in range(1, cfg.n_subjects + 1):
        idx = [i for i, s in enumerate(subjects) if s == subj]
        identity = sample_identity(_rng(seed, 1, subj))
        names = _clip_names(_rng(seed, 2, subj), len(idx))
        for k, (i, name) in enumerate(zip(idx, names)):
            r = _rng(seed, 3, subj, k)
            label = labels[i]
            combo = sample_combo(label, r)
            lo, hi = cfg.duration_s
            duration = r.uniform(lo, hi)
            span = max(2, int(round(duration * cfg.fps)))       # offset - onset, in frames
            onset = int(r.integers(1, 300))
            apex_frac = r.uniform(0.25, 0.6)
            if cfg.onset_to_apex_s is None:
                apex = onset + int(np.clip(round(span * apex_frac), 1, span - 1))
            else:  # rise drawn in seconds; the fall is 1-2x the rise; the total within duration_s
                rise = max(1, int(round(r.uniform(*cfg.onset_to_apex_s) * cfg.fps)))
                fall = max(1, int(round(rise * r.uniform(1.0, 2.0))))
                lo_f, hi_f = max(2, int(round(lo * cfg.fps))), max(2, int(round(hi * cfg.fps)))
                span = int(np.clip(rise + fall, max(lo_f, rise + 1), hi_f))
                apex = onset + rise
            offset = onset + span
            clip_gain = r.uniform(*cfg.clip_intensity)
            aus = [a.__class__(a.au, a.side, float(cfg.intensity * clip_gain * r.uniform(0.7, 1.2)))
                   for a in parse_aus(combo)]
            specs.append(ClipSpec(
                subject=subj, clip=name, label=label, aus=aus, identity=identity,
                onset=onset, apex=apex, offset=offset, fps=float(cfg.fps), size=tuple(cfg.size),
                channels=int(cfg.channels), subject_intensity=float(subject_scale[subj - 1]),
                supersample=int(cfg.supersample), nuisance=_nuisance(cfg, r, span / cfg.fps)))
    return specs
