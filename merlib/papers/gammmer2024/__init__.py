"""GAM-MM-MER (Wu, Xia, Hu, Ma, Yang, Li, Heliyon 2024; paper 002 in ``shared/papers``): this paper's room.

ST-MEMM magnification (the magnifier itself is :mod:`merlib.magnify.stmemm`, shipped weights
``merlib/weights/stmemm.pt``) + 68 landmark regions + a graph attention network. Modules:

* :mod:`.landmarks` — the 68 points of a clip's onset frame: dlib on real data, the renderer's geometry on
  synthetic data (the clearly labelled synthetic-landmark path);
* :mod:`.graph` — Eq. 7's region selection and the raw / optimised facial graphs (the rule is stated there);
* :mod:`.pipeline` — the frozen, cached stage: ST-MEMM at the paper's factors (Eq. 1-6) and the regions (Eq. 6-7);
* :mod:`.model` — GAM-MER: a CNN per region (Eq. 8), PyG ``GATConv`` / ``GCNConv`` (Eq. 9), the classifier;
* :mod:`.experiment` — LOSO runs through :func:`merlib.eval.run` (Tables 3 and 4), subject-bootstrap summaries;
* :mod:`.timing` — Table 5: inference time, eager vs. ONNX Runtime vs. bf16 / fp16 vs. ``torch.compile``;
* ``reported.yaml`` — the paper's printed tables (``merlib.papers.table("gammmer2024", ...)``).

Notebook ``14_gammmer2024_graph_attention``.
"""
from merlib.papers.gammmer2024.experiment import (BASELINE_ALPHA, CLEAN_TRAIN, PAPER_TRAIN, POLICIES, TABLE3_VARIANTS, SubjectKFold,
                                                  TABLE4_ALPHAS, run_gam, summary_table, variant_config, verdict)
from merlib.papers.gammmer2024.graph import ALL_NODES, SELECTED_NODES, graph_for, optimised_pairs, raw_pairs
from merlib.papers.gammmer2024.model import GAMConfig, GAMFactory, GAMMER, MERLIB_CHOICES, PAPER_SETTINGS
from merlib.papers.gammmer2024.pipeline import ALPHA_SLOTS, LandmarkTagged, gam_inputs, magnify_apex, make_task

__all__ = ["SubjectKFold", "BASELINE_ALPHA", "CLEAN_TRAIN", "PAPER_TRAIN", "POLICIES", "TABLE3_VARIANTS", "TABLE4_ALPHAS", "run_gam",
           "summary_table", "variant_config", "verdict", "ALL_NODES", "SELECTED_NODES", "graph_for", "optimised_pairs",
           "raw_pairs", "GAMConfig", "GAMFactory", "GAMMER", "MERLIB_CHOICES", "PAPER_SETTINGS", "ALPHA_SLOTS",
           "LandmarkTagged", "gam_inputs", "magnify_apex", "make_task"]
