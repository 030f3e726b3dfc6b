"""Training loop for the learned magnifiers (Oh et al. 2018 and ST-MEMM).

As in Oh et al. 2018 (Sec. 3.3-4): Adam, learning rate 1e-4, batch size 4, loss L1 + λ·(texture +
shape regularisers) with λ = 0.1 (:mod:`merlib.magnify.losses`). Training pairs stream from
:class:`~merlib.magnify.synth_pairs.PairGenerator` (sample ``i`` of step ``s`` is
``s·batch + i``, so a resumed run sees exactly the batches an uninterrupted one would). Every
``val_every`` steps the model is scored on a fixed generated validation set (another seed); every
``checkpoint_every`` steps the full training state (model, optimiser, step, curves) goes to
``<out>.state.pt`` and the current weights to ``<out>`` (a merlib checkpoint with the curves in
``extra``). ``resume=True`` continues from ``<out>.state.pt`` when it exists.

``cpu_pair_config(patch)`` is the reduced recipe merlib's shipped CPU checkpoints use: small patches
and motions scaled to the patch (the paper's 384 px patches with motion up to 30 px are far beyond
a one-hour CPU budget).
"""
from __future__ import annotations

import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from merlib.magnify.losses import LAMBDA, magnifier_losses
from merlib.magnify.synth_pairs import PairConfig, PairGenerator

__all__ = ["TrainConfig", "cpu_pair_config", "train_magnifier", "build_model"]


def cpu_pair_config(patch: int = 64) -> PairConfig:
    """Oh et al.'s recipe scaled to ``patch``-pixel samples for CPU training.

    Motion bounds scale with the patch (input ≤ patch/16 px, magnified ≤ patch/8 px), alpha in
    [0.5, 30] (Oh's amp 1.5-31), 2× supersampling, input noise std ≤ 0.01; subsets as the paper.
    """
    return PairConfig(size=patch, supersample=2, alpha_range=(0.5, 30.0), max_motion=patch / 16,
                      max_magnified_motion=patch / 8, noise_std=(0.0, 0.01))


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (defaults: Oh et al.'s optimiser settings)."""

    arch: str = "oh2018"
    steps: int = 4000
    batch_size: int = 4
    lr: float = 1e-4
    weight: float = LAMBDA           #: λ of the texture and shape regularisers
    seed: int = 0
    patch: int = 64
    val_every: int = 100
    val_size: int = 16
    checkpoint_every: int = 100
    max_minutes: float | None = None  #: stop (and save) when the wall-clock budget is spent
    threads: int | None = None        #: torch.set_num_threads for this run
    half: bool = True                 #: store the final weights as float16
    model: dict = field(default_factory=dict)   #: overrides of OhConfig / STMEMMConfig
    pair: dict = field(default_factory=dict)    #: overrides of cpu_pair_config(patch)

    def to_dict(self) -> dict:
        return asdict(self)


def build_model(arch: str, overrides: dict | None = None):
    """A freshly initialised magnifier: ``"oh2018"`` or ``"stmemm"``."""
    from merlib.magnify.learned import OhMagnifier
    from merlib.magnify.swin import STMEMM

    if arch == "oh2018":
        return OhMagnifier(**(overrides or {}))
    if arch == "stmemm":
        return STMEMM(**(overrides or {}))
    raise ValueError(f"unknown architecture {arch!r}; expected 'oh2018' or 'stmemm'")


@torch.no_grad()
def _validate(model, val_batches, weight) -> dict:
    model.eval()
    sums: dict[str, float] = {}
    for b in val_batches:
        for k, v in magnifier_losses(model, b, weight).items():
            sums[k] = sums.get(k, 0.0) + float(v)
    model.train()
    return {k: v / len(val_batches) for k, v in sums.items()}


def train_magnifier(out, config: TrainConfig | None = None, *, resume: bool = True, progress: bool = True,
                    device="auto", log=print, **overrides) -> dict:
    """Train a magnifier and write its checkpoint to ``out``. Returns the training record.

    ``overrides`` replace fields of ``config`` (e.g. ``steps=20``). The record holds the curves
    (``history``: step, train loss terms averaged since the last validation, validation loss
    terms, wall seconds), the configs, the total wall time and the command line.
    """
    from merlib.env import device as resolve_device
    from merlib.env import seed_everything
    from merlib.magnify.learned import save_magnifier

    cfg = replace(config or TrainConfig(), **overrides)
    if cfg.steps < 1 or cfg.batch_size < 1:
        raise ValueError(f"train_magnifier: steps and batch_size must be >= 1, got {cfg.steps}, {cfg.batch_size}")
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    out = Path(out)
    state_path = out.with_name(out.name + ".state.pt")
    seed_everything(cfg.seed)
    dev = resolve_device(device)
    model = build_model(cfg.arch, cfg.model).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
    pair_cfg = replace(cpu_pair_config(cfg.patch), **cfg.pair)
    train_gen = PairGenerator(pair_cfg, seed=cfg.seed)
    val_gen = PairGenerator(pair_cfg, seed=cfg.seed + 10_000)
    val_batches = [{k: v.to(dev) for k, v in val_gen.batch(range(i, min(i + cfg.batch_size, cfg.val_size))).items()}
                   for i in range(0, cfg.val_size, cfg.batch_size)]
    history = {"step": [], "wall_s": [], "train": [], "val": []}
    step, wall_before = 0, 0.0
    if resume and state_path.exists():
        state = torch.load(state_path, map_location=dev, weights_only=True)
        if state["train_config"]["arch"] != cfg.arch:
            raise ValueError(f"train_magnifier: {state_path} is a {state['train_config']['arch']!r} run, "
                             f"not {cfg.arch!r}; remove it or choose another --out")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, history, wall_before = int(state["step"]), state["history"], float(state["wall_s"])
        log(f"resumed {cfg.arch} from {state_path} at step {step}")

    def record():
        return {"train_config": cfg.to_dict(), "pair_config": pair_cfg.to_dict(), "history": history,
                "steps_done": step, "wall_s": wall_before + (time.time() - t0),
                "command": shlex.join(sys.argv), "torch_threads": torch.get_num_threads(),
                "device": str(dev)}

    def save_state():
        tmp = state_path.with_name(state_path.name + ".tmp")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                    "history": history, "wall_s": wall_before + (time.time() - t0),
                    "train_config": cfg.to_dict()}, tmp)
        tmp.replace(state_path)
        save_magnifier(model, out, extra=record(), half=cfg.half)

    t0 = time.time()
    model.train()
    stream = train_gen.stream(cfg.batch_size, start=step * cfg.batch_size)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.steps, initial=step, desc=f"train {cfg.arch}", mininterval=5.0)
    window: dict[str, list[float]] = {}
    stopped_early = False
    while step < cfg.steps:
        batch = {k: v.to(dev) for k, v in next(stream).items()}
        losses = magnifier_losses(model, batch, cfg.weight)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()
        step += 1
        for k, v in losses.items():
            window.setdefault(k, []).append(float(v.detach()))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{float(losses['total'].detach()):.4f}", refresh=False)
        if not math.isfinite(float(losses["total"].detach())):
            raise FloatingPointError(f"train_magnifier: loss became {float(losses['total'])} at step {step}")
        out_of_time = cfg.max_minutes is not None and (time.time() - t0) / 60 >= cfg.max_minutes
        if step % cfg.val_every == 0 or step == cfg.steps or out_of_time:
            val = _validate(model, val_batches, cfg.weight)
            history["step"].append(step)
            history["wall_s"].append(round(wall_before + time.time() - t0, 2))
            history["train"].append({k: sum(v) / len(v) for k, v in window.items()})
            history["val"].append(val)
            window = {}
            log(f"step {step}: train {history['train'][-1]['total']:.4f} val {val['total']:.4f} "
                f"(val L1 {val['reconstruction']:.4f})")
        if step % cfg.checkpoint_every == 0 or step == cfg.steps or out_of_time:
            save_state()
        if out_of_time:
            stopped_early = True
            log(f"stopping at step {step}: the {cfg.max_minutes}-minute budget is spent")
            break
    if bar is not None:
        bar.close()
    save_state()
    rec = record()
    rec["stopped_early"] = stopped_early
    save_magnifier(model, out, extra=rec, half=cfg.half)
    return rec


def write_curves(record: dict, path) -> Path:
    """Write a training record's curves and settings as JSON (for ``merlib/weights/``)."""
    from merlib.results import atomic_write_json

    path = Path(path)
    atomic_write_json(path, record)
    return path


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(TrainConfig().to_dict(), indent=2))
