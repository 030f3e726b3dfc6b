"""Optical-flow baselines of MEGC2019: OFF-ApexNet (Gan et al. 2019) and STSTNet (Liong et al. 2019).

One room for notebook 03 (``notebooks/03_optical_flow.ipynb``):

* the flow itself lives in :mod:`merlib.data.flow` (TV-L1 onset→apex, optical strain, the 28 × 28
  (u, v, strain) stack), the networks in :mod:`merlib.models.flow_nets`;
* :mod:`.experiment` — the runs: flow error (EPE) against the synthetic renderer's true flow as a
  function of AU intensity, flow vs. phase-based magnification as the input of the same classifier
  (paired bootstrap CIs, McNemar), both networks under LOSO and the (synthetic) MEGC2019 composite
  with policies ``last`` and ``oracle_test`` (OPTIMISTIC) side by side;
* ``reported.yaml`` — numbers others measured (MEB's early-stopping inflation), never merlib's.

Sources: Gan, Liong, Yau, Huang & Tan, "OFF-ApexNet on micro-expression recognition system", Signal
Processing: Image Communication 74 (2019) 129-139; Liong, Gan, See, Khor & Huang, "Shallow Triple
Stream Three-dimensional CNN (STSTNet) for Micro-expression Recognition", FG 2019, code
``christy1206/STSTNet``; Varanka et al., MEB (``tvaranka/meb``).
"""
from merlib.papers.flow_baselines.experiment import (
    MODELS, RUN_SIZES, RelabelledDataset, compare_inputs, epe_benchmark, epe_summary, flow_step, inflation,
    load_synthetic, magnification_step, magnified_input, meb_reported, policy_table, resize_pitfall, run_model,
    settings, synthetic_composite, train_config,
)

__all__ = [
    "MODELS", "RUN_SIZES", "RelabelledDataset", "compare_inputs", "epe_benchmark", "epe_summary", "flow_step",
    "inflation", "load_synthetic", "magnification_step", "magnified_input", "meb_reported", "policy_table",
    "resize_pitfall", "run_model", "settings", "synthetic_composite", "train_config",
]
