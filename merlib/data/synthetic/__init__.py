"""The embedded synthetic micro-expression dataset: the default everywhere in merlib.

Procedural faces (:mod:`.face`) move with FACS-like action units (:mod:`.action_units`) along an
onset -> apex -> offset profile (:mod:`.spec`), rendered in the continuous domain (:mod:`.render`)
with switchable nuisances, drawn per preset (:mod:`.presets`) and written in CASME II's layout
(:mod:`.writer`; read back by :mod:`.store`). Ground truth no licensed set has: the true displacement field of every frame
and the exactly magnified clip (merlib's α convention: AU motion scaled by ``1 + alpha``).

Typical use::

    from merlib.data import synthetic
    root = synthetic.generate("small")                     # cached under merlib.paths.cache_dir("synthetic")
    spec = synthetic.load_spec(root, "sub01", "EP02_01f")
    frames, flow = synthetic.render_clip(spec)             # (T, C, H, W) in [0, 1], (T, 2, H, W) pixels
    truth = synthetic.render_magnified(spec, alpha=10)     # what an ideal magnifier returns
"""
from merlib.data.synthetic.action_units import (
    AU_NAMES, BASE_AMPLITUDE, CLASS_AU_SETS, CLASS_AUS, CLASSES, MEGC3_CLASSES, MEGC3_MAP, AUActivation,
    au_field, format_aus, parse_aus,
)
from merlib.data.synthetic.face import Identity, sample_identity, shade
from merlib.data.synthetic.presets import (
    CASME2_CLASS_COUNTS, PRESETS, RUN_SIZE_PRESETS, SyntheticConfig, get_config, preset_for, sample_specs,
)
from merlib.data.synthetic.render import blink_curve, flicker_gain, head_pose, render_clip, render_magnified
from merlib.data.synthetic.spec import ClipSpec, NuisanceParams, intensity_profile
from merlib.data.synthetic.store import CODING_SHEET, RAW_DIR, load_spec, load_specs, spec_from_clip_dir
from merlib.data.synthetic.writer import CODING_COLUMNS, GENERATOR_VERSION, dataset_key, generate

__all__ = [
    "generate", "PRESETS", "SyntheticConfig", "get_config", "sample_specs", "ClipSpec", "NuisanceParams",
    "render_clip", "render_magnified", "load_spec", "load_specs", "spec_from_clip_dir", "intensity_profile",
    "Identity", "sample_identity", "shade", "AUActivation", "parse_aus", "format_aus", "au_field",
    "AU_NAMES", "BASE_AMPLITUDE", "CLASSES", "CLASS_AUS", "CLASS_AU_SETS", "MEGC3_CLASSES", "MEGC3_MAP",
    "CASME2_CLASS_COUNTS", "GENERATOR_VERSION", "CODING_SHEET", "CODING_COLUMNS", "RAW_DIR", "dataset_key",
    "head_pose", "blink_curve", "flicker_gain", "RUN_SIZE_PRESETS", "preset_for",
]
