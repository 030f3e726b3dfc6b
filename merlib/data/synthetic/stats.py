"""Measured properties of a synthetic dataset, to set beside the published figures of CASME II.

:func:`clip_statistics` gives one row per clip (timing in frames and milliseconds, the peak apex
displacement in pixels at the rendered size and scaled to a 200-pixel-wide face);
:func:`au_displacements` one row per (clip, action unit) with that AU's own peak apex displacement.
Both only evaluate the true displacement field at the apex (no shading), so they cost seconds for a
246-clip preset.

Known figures of CASME II (Yan et al., "CASME II: An improved spontaneous micro-expression database
and the baseline evaluation", PLoS ONE 9(1): e86041, 2014; http://fu.psych.ac.cn/CASME/casme2-en.php):
200 fps, a face area of about 280 x 340 pixels, 247 micro-expressions from 26 subjects selected
among nearly 3000 facial movements, micro-expressions lasting at most 500 ms; MMFRN (paper 000 of
this project) quotes 1/25 to 1/5 s for a micro-expression. :data:`CASME2_FIGURES` holds them.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch

from merlib.data.synthetic.render import _render, _size
from merlib.data.synthetic.spec import ClipSpec

__all__ = ["CASME2_FIGURES", "face_width_px", "apex_position", "clip_statistics", "au_displacements"]

#: Published figures the synthetic ``casme2`` preset is set beside (see the module docstring).
CASME2_FIGURES = {
    "fps": 200,
    "face_area_px": (280, 340),
    "clips": 247,
    "subjects": 26,
    "max_duration_ms": 500,
    "micro_expression_duration_s (MMFRN, paper 000)": (1 / 25, 1 / 5),
    "source": "Yan et al., PLoS ONE 9(1): e86041, 2014; fu.psych.ac.cn/CASME/casme2-en.php",
}


def face_width_px(spec: ClipSpec, size=None) -> float:
    """Width of the head outline in pixels at ``size`` (``2 * face_a * zoom`` face units)."""
    w = _size(spec, size)[1]
    return float(spec.identity.face_a * spec.identity.zoom * w)


def apex_position(spec: ClipSpec) -> int:
    """0-based position of the apex frame in the clip."""
    return int(spec.apex - spec.first_frame)


def _peak_apex(spec: ClipSpec, size, aus=None) -> float:
    s = spec if aus is None else dataclasses.replace(spec, aus=aus)
    _, flow = _render(s, _size(s, size), 1.0, torch.device("cpu"), frames=False, flow=True,
                      positions=[apex_position(s)])
    return float(flow[0].norm(dim=0).max())


def clip_statistics(specs, size=None) -> pd.DataFrame:
    """One row per clip: subject, clip, label, AUs, onset->apex and onset->offset in frames and ms,
    the peak apex displacement in px (at ``size``, default each spec's) and per 200 px of face width."""
    rows = []
    for s in specs:
        peak = _peak_apex(s, size)
        fw = face_width_px(s, size)
        rows.append({
            "subject": s.subject, "clip": s.clip, "label": s.label, "aus": s.action_units,
            "onset_to_apex_frames": s.apex - s.onset, "onset_to_offset_frames": s.offset - s.onset,
            "onset_to_apex_ms": 1000.0 * (s.apex - s.onset) / s.fps,
            "duration_ms": 1000.0 * (s.offset - s.onset) / s.fps,
            "apex_peak_px": peak, "face_width_px": fw, "apex_peak_px_200": peak * 200.0 / fw,
            "subject_intensity": s.subject_intensity,
        })
    return pd.DataFrame(rows)


def au_displacements(specs, size=None) -> pd.DataFrame:
    """One row per (clip, AU): that AU's own peak apex displacement in px and per 200 px of face."""
    rows = []
    for s in specs:
        fw = face_width_px(s, size)
        for act in s.aus:
            peak = _peak_apex(s, size, aus=[act])
            rows.append({"subject": s.subject, "clip": s.clip, "label": s.label, "au": act.au,
                         "code": act.code(), "apex_peak_px": peak, "apex_peak_px_200": peak * 200.0 / fw})
    return pd.DataFrame(rows)
