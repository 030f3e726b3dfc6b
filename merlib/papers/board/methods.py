"""The board's built-in entries: what merlib implements today.

Each entry's ``run`` trains through :func:`merlib.eval.run` with the room's own pieces (model, inputs,
schedule of its notebook at that run size) on the board's one dataset; settings marked "board" are
merlib's choices for the board, with the reason beside them.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

from merlib.eval import Cache, Step, TrainConfig, linear_head, run

from .core import Method, Reported, register, reported_from_table

__all__ = ["motion_feature", "run_lr", "run_flow", "run_bai", "run_cmnet", "run_mmfrn", "run_aman", "run_gam",
           "meb_reported_number"]


# --------------------------------------------------------------------------- non-deep baseline
def motion_feature(frames: torch.Tensor, grid: int = 8) -> torch.Tensor:
    """Notebook 00's feature: ``(2, C, H, W)`` onset and apex -> grey -> ``|apex − onset|`` average-pooled on a
    ``grid × grid`` grid -> ``(grid²,)`` (as :func:`merlib.eval.benchmark.lr_features`)."""
    g = frames.float().mean(1, keepdim=True)
    return F.adaptive_avg_pool2d((g[-1] - g[0]).abs(), grid).flatten()


def run_lr(ctx, s, policies, results_dir, on_fold_end):
    """Multinomial logistic regression (a linear layer on standardised features; statistics of the training
    subjects) trained by the runner with Adam and L2 weight decay, so epoch policies apply to it (board
    choice: sklearn's lbfgs fit, as in notebook 00, has no epochs to select)."""
    cfg = TrainConfig(epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"], weight_decay=s["weight_decay"],
                      frames="onset_apex", size=64, normalize=True, num_threads=1)
    return run(linear_head, ctx.dataset, "loso", cfg, preprocess=Step(motion_feature, "1", {"grid": s["grid"]}),
               policy=policies, seed=ctx.seed, device=ctx.device, cache=Cache("board_features"),
               results_dir=results_dir, progress=ctx.progress, name="LR |apex-onset|",
               on_fold_end=on_fold_end, params={"board": "lr"})


_LR = {"epochs": 150, "batch_size": 512, "lr": 0.05, "weight_decay": 1e-2, "grid": 8}


# --------------------------------------------------------------------------- flow baselines
def run_flow(ctx, s, policies, results_dir, on_fold_end, model: str):
    """STSTNet / OFF-ApexNet on the 28 × 28 TV-L1 (u, v, strain) stack, the room's schedule (notebook 03)."""
    from merlib.papers import flow_baselines as FB

    cfg = FB.train_config(model, "quick", **s)  # s holds the whole schedule of the run size
    return run(FB.MODELS[model][0], ctx.dataset, "loso", cfg, preprocess=FB.flow_step(), policy=policies,
               seed=ctx.seed, device=ctx.device, cache=Cache("flow_baselines"), results_dir=results_dir,
               progress=ctx.progress, name=model, on_fold_end=on_fold_end, params={"model": model})


def meb_reported_number(model: str) -> Reported:
    """MEB's re-run of ``model`` on the MEGC2019 composite (fixed epochs; and with test-set epoch selection)."""
    from merlib.papers import flow_baselines as FB

    df = FB.meb_reported()
    return Reported(value=float(df.loc[model, "fixed_epochs"]), metric="pooled_uf1", dataset="megc2019_composite",
                    source="MEB re-run (Varanka et al. 2023, tvaranka/meb), not the original paper",
                    label="UF1 (fixed epochs)", optimistic_value=float(df.loc[model, "test_selected"]))


def _flow_settings(model):
    from merlib.papers import flow_baselines as FB

    return {size: dict(FB.RUN_SIZES[size]["train"][model]) for size in ("quick", "standard", "full")}


# --------------------------------------------------------------------------- Bai et al. 2021
def run_bai(ctx, s, policies, results_dir, on_fold_end):
    """Bai et al.: AMM (α = 10, merlib's convention) → frozen face CNN per frame → Bi-LSTM on N = 14 frame
    segments (the paper's best N), notebook 10's run settings; FER2013 mini-Xception stands in for VGGFace2."""
    import warnings

    from merlib.models import backbones
    from merlib.papers import bai2021 as bai

    key = ("bai_backbone", s["face_backbone"], str(s["freeze_until"]))
    if key not in ctx.shared:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", backbones.PretrainedWeightsWarning)
            ctx.shared[key] = backbones.load(s["face_backbone"], freeze=s["freeze_until"], device=ctx.device)
    cfg = bai.BaiConfig(n=s["n"], epochs=s["epochs"], hidden=s["hidden"], lr=s["lr"], batch_size=s["batch_size"],
                        num_threads=1)
    return bai.loso_bai2021(ctx.dataset, ctx.shared[key], cfg, method="amm", alpha=s["alpha"], size=s["frame_size"],
                            policies=policies, seed=ctx.seed, device=ctx.device, cache=Cache("bai2021_features"),
                            results_dir=results_dir, progress=ctx.progress, name="Bai et al. 2021",
                            on_fold_end=on_fold_end)


def _bai_settings():
    from merlib.papers import bai2021 as bai

    out = {}
    for size in ("quick", "standard"):
        r = bai.run_settings(size)
        out[size] = {k: r[k] for k in ("face_backbone", "freeze_until", "frame_size", "epochs", "hidden", "lr",
                                       "batch_size")}
        out[size].update(n=14, alpha=10.0)
    return out


# --------------------------------------------------------------------------- CMNet 2023
def run_cmnet(ctx, s, policies, results_dir, on_fold_end):
    """CMNet, all three losses, probabilistic negatives, notebook 13's clean schedule (Adam, fixed epochs) on a
    frozen, cached ResNet-18 prefix (ImageNet weights when cached, else a fixed random init)."""
    import warnings

    from merlib.eval.runner import with_overrides
    from merlib.papers.cmnet2023 import experiment as X
    from merlib.papers.cmnet2023.features import FrozenTrunk
    from merlib.papers.cmnet2023.losses import ABLATIONS

    if "cmnet_trunk" not in ctx.shared:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ctx.shared["cmnet_trunk"] = FrozenTrunk(until=s["trunk_until"], pool=2)
    weights = ABLATIONS[s["variant"]]
    factory = X.CMNetFactory(sampler=s["sampler"], weights=dict(weights))
    train = with_overrides(X.CLEAN_TRAIN, epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"],
                           size=s["frame_size"])
    return run(factory, X.ApexTagged(ctx.dataset), "loso", train, policy=policies, seed=ctx.seed, device=ctx.device,
               cache=Cache(X.default_cache_dir()), results_dir=results_dir, progress=ctx.progress, name="CMNet",
               params={"variant": s["variant"], "sampler": s["sampler"], "weights": dict(weights)},
               task=X.make_task(ctx.shared["cmnet_trunk"], weights), on_fold_end=on_fold_end)


_CMNET = {"variant": "L_C + L_ID + L_Wrst", "sampler": "probabilistic", "trunk_until": "B4", "frame_size": 64,
          "lr": 3e-3}


# --------------------------------------------------------------------------- MMFRN 2022
def run_mmfrn(ctx, s, policies, results_dir, on_fold_end):
    """MMFRN at the paper's headline factor α_oh = 80 (its "MMSTMN-80" row; the factor is the paper's, not
    chosen on our test subjects), notebook 11's clean schedule and model sizes at that run size; frozen,
    cached encoders (Oh's trunk from merlib's checkpoint, a seeded ResNet-50 stand-in)."""
    from dataclasses import replace

    from merlib.papers.mmfrn2022 import experiment as X
    from merlib.papers.mmfrn2022 import model as M

    key = ("mmfrn_task", ctx.seed)
    if key not in ctx.shared:
        ctx.shared[key] = X.make_task(X.EncoderSpec(init_seed=ctx.seed).build())
    train = replace(X.CLEAN_TRAIN, epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"], size=s["frame_size"])
    factory = M.MMFRNFactory(num_heads=s["num_heads"], key_dim=s["key_dim"], geo_dim=s["geo_dim"],
                             g_kernel=s["g_kernel"])
    return X.run_mmfrn(ctx.dataset, s["alpha_oh"], train, factory=factory, task=ctx.shared[key], policy=policies,
                       seed=ctx.seed, device=ctx.device, cache=Cache("mmfrn2022_features"), results_dir=results_dir,
                       progress=ctx.progress, name="MMFRN", on_fold_end=on_fold_end)


def _mmfrn_settings():
    from merlib.papers.mmfrn2022 import experiment as X

    keys = ("frame_size", "epochs", "batch_size", "lr", "num_heads", "key_dim", "geo_dim", "g_kernel")
    return {size: dict({k: X.run_settings(size)[k] for k in keys}, alpha_oh=80.0) for size in ("quick", "standard")}


# --------------------------------------------------------------------------- AMAN 2022
def run_aman(ctx, s, policies, results_dir, on_fold_end):
    """AMAN (MA + FA) at the paper's n = 11 frames (quick: 6) and k = 9 factors, notebook 12's clean schedule, on
    notebook 12's cached bank (merlib's Oh network against the onset, frozen ResNet-18 prefix; AMAN's FER+
    ResNet-18 when ``$MERLIB_AMAN_FERPLUS_RESNET18`` points at it)."""
    from merlib.eval.runner import with_overrides
    from merlib.papers.aman2022 import experiment as X

    key = ("aman_bank", s["n_max"], s["k_max"], s["frame_size"], s["align"])
    if key not in ctx.shared:
        stage = X.make_stage(magnifier="oh2018", backbone="auto")
        ctx.shared[key] = X.make_bank(stage, n_max=s["n_max"], k_max=s["k_max"], size=s["frame_size"],
                                      align=s["align"])
    train = with_overrides(X.CLEAN_TRAIN, epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"])
    return X.run_aman(ctx.dataset, ctx.shared[key], n=s["n"], k=s["k"], variant="MA+FA", train=train,
                      policy=policies, seed=ctx.seed, device=ctx.device, cache=Cache(X.default_cache_dir()),
                      results_dir=results_dir, progress=ctx.progress, name="AMAN", keep_attention=False,
                      on_fold_end=on_fold_end)


# the bank's depth (n_max, k_max) is notebook 12's at each size (the largest n of its Fig. 3 sweep, the largest k
# of its Table 1: quick 8 x 11, standard 11 x 9) so the board reads the notebook's cached bank
_AMAN = {"k": 9, "frame_size": 32, "align": "dlib", "batch_size": 16, "lr": 1e-3}


# --------------------------------------------------------------------------- GAM-MM-MER 2024
def run_gam(ctx, s, policies, results_dir, on_fold_end):
    """GAM-MM-MER's baseline (2 GAT layers, selected regions, optimised graph) at its α = 5, merlib's shipped
    ST-MEMM magnifier, notebook 14's clean schedule (under the board's LOSO, also at standard size where
    notebook 14 uses 5 subject folds)."""
    from merlib.eval.runner import with_overrides
    from merlib.magnify.load import load_magnifier
    from merlib.papers.gammmer2024 import experiment as X

    if "stmemm" not in ctx.shared:
        ctx.shared["stmemm"] = load_magnifier("stmemm", device="cpu")
    train = with_overrides(X.CLEAN_TRAIN, epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"],
                           size=s["frame_size"])
    cfg = X.variant_config("Baseline", alpha=s["alpha"])
    return X.run_gam(ctx.dataset, cfg, train, magnifier=ctx.shared["stmemm"], policy=policies, seed=ctx.seed,
                     device=ctx.device, cache=Cache(X.default_cache_dir()), results_dir=results_dir,
                     progress=ctx.progress, name="GAM-MM-MER", on_fold_end=on_fold_end)


_GAM = {"alpha": 5, "batch_size": 8, "frame_size": 128}


# --------------------------------------------------------------------------- the registry
register(Method(
    name="LR |apex-onset| (nb00)", run=run_lr, paper=None,
    settings={"quick": dict(_LR, epochs=100), "standard": dict(_LR)},
    description="non-deep baseline: notebook 00's pooled |apex − onset| features, logistic regression"))
register(Method(
    name="STSTNet", run=partial(run_flow, model="STSTNet"), paper="flow_baselines",
    settings=_flow_settings("STSTNet"), reported=partial(meb_reported_number, "STSTNet"),
    description="Liong et al. 2019, TV-L1 flow + strain (merlib.papers.flow_baselines)"))
register(Method(
    name="OFF-ApexNet", run=partial(run_flow, model="OFF-ApexNet"), paper="flow_baselines",
    settings=_flow_settings("OFF-ApexNet"), reported=partial(meb_reported_number, "OFF-ApexNet"),
    description="Gan et al. 2019, TV-L1 flow (merlib.papers.flow_baselines)"))
register(Method(
    name="Bai et al. 2021", run=run_bai, paper="bai2021", settings=_bai_settings(),
    reported=partial(reported_from_table, "bai2021", "comparison", "EVM+VGGFace2+Bi-LSTM (proposed)", "accuracy"),
    description="AMM + frozen face CNN + Bi-LSTM (merlib.papers.bai2021)"))
register(Method(
    name="CMNet", run=run_cmnet, paper="cmnet2023",
    settings={"quick": dict(_CMNET, epochs=8, batch_size=16), "standard": dict(_CMNET, epochs=10, batch_size=32)},
    reported=partial(reported_from_table, "cmnet2023", "table1", "CMNet (ours)", "smic_hs_accuracy"),
    description="contrastive intensity distillation + Wilcoxon loss (merlib.papers.cmnet2023)"))
register(Method(
    name="MMFRN", run=run_mmfrn, paper="mmfrn2022", settings=_mmfrn_settings(),
    reported=partial(reported_from_table, "mmfrn2022", "table3", "MMSTMN-80", "f1"),
    magnifiers=("oh2018",),
    description="feature-space magnification + ResNet-50 + frame relation modules (merlib.papers.mmfrn2022)"))
register(Method(
    name="AMAN", run=run_aman, paper="aman2022",
    settings={"quick": dict(_AMAN, n=6, n_max=8, k_max=11, epochs=15),
              "standard": dict(_AMAN, n=11, n_max=11, k_max=9, epochs=20)},
    reported=partial(reported_from_table, "aman2022", "table2", "AMAN (ours)", "casme2_f1"),
    magnifiers=("oh2018",),
    description="magnification attention over k factors + frame attention (merlib.papers.aman2022)"))
register(Method(
    name="GAM-MM-MER", run=run_gam, paper="gammmer2024",
    settings={"quick": dict(_GAM, epochs=10, lr=1e-2), "standard": dict(_GAM, epochs=15, lr=3e-3)},
    reported=partial(reported_from_table, "gammmer2024", "table1", "GAM-MM-MER (Ours)", "casme2_f1"),
    magnifiers=("stmemm",),
    description="ST-MEMM magnification + landmark-region graph attention (merlib.papers.gammmer2024)"))
