"""Bai, Goecke & Herath (ICIP 2021): motion magnification + pre-trained face CNN + Bi-LSTM — this paper's room.

M. Bai, R. Goecke, D. Herath, "Micro-expression recognition based on video motion magnification and
pre-trained neural network", ICIP 2021 (paper 004 in ``shared/papers``). The template every paper's room
copies:

* :mod:`~merlib.papers.bai2021.model` — :class:`Bai2021` (backbone per frame → Bi-LSTM → linear),
  :class:`CachedBai2021` (the same from cached frozen-block inputs), :data:`PAPER_SETTINGS` (what the paper
  states) and :data:`MERLIB_CHOICES` (what merlib chose where it is silent, with reasons);
* :mod:`~merlib.papers.bai2021.pipeline` — onset-relative AMM/PMM magnification, N-frame segments (the
  paper's reading by default), cached frame inputs of the frozen blocks;
* :mod:`~merlib.papers.bai2021.experiment` — LOSO / N-sweep / ablations, all through :func:`merlib.eval.run`;
* ``reported.yaml`` — the paper's printed tables (``merlib.papers.table("bai2021", "n_sweep")``).

Usage (notebook ``10_bai2021_evm_vggface2_bilstm``)::

    from merlib.papers import bai2021 as bai
    res = bai.loso_bai2021(ds, backbone, bai.BaiConfig(n=14), method="amm", alpha=10, size=64,
                           policies=("last", "oracle_test"), cache=E.Cache("bai2021_features"))
    res["last"].metrics["pooled_accuracy"]
"""
from merlib.papers.bai2021.experiment import (FEATURE_VERSION, RUN_SETTINGS, BaiConfig, BaiModel, bai_task,
                                              clip_inputs, feature_stage, frozen_copy, loso_bai2021,
                                              magnification_step, n_sweep_row, reference_length_of, run_settings,
                                              train_on_all_clips)
from merlib.papers.bai2021.model import (LSTM_HIDDEN, MERLIB_CHOICES, PAPER_SETTINGS, Bai2021, CachedBai2021,
                                         aggregate_segments)
from merlib.papers.bai2021.pipeline import (MAGNIFIERS, Segments, cache_bytes_per_frame, forward_cached,
                                            frame_inputs, magnify_clip, make_segments, segment_indices)

__all__ = ["Bai2021", "CachedBai2021", "PAPER_SETTINGS", "MERLIB_CHOICES", "LSTM_HIDDEN", "aggregate_segments",
           "MAGNIFIERS", "Segments", "cache_bytes_per_frame", "forward_cached", "frame_inputs", "magnify_clip",
           "make_segments", "segment_indices", "BaiConfig", "BaiModel", "RUN_SETTINGS", "run_settings", "bai_task",
           "clip_inputs", "feature_stage", "frozen_copy", "loso_bai2021", "magnification_step", "n_sweep_row",
           "reference_length_of", "train_on_all_clips", "FEATURE_VERSION"]
