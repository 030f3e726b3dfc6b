"""Train a learned magnifier (Oh et al. 2018 or ST-MEMM) on generated pairs and save a checkpoint.

    python -m merlib train-magnifier oh2018 --out runs/oh2018.pt --steps 4000 --max-minutes 55

Adam (lr 1e-4), batch 4, L1 + 0.1·(texture + shape regularisers) for oh2018 (Oh et al. 2018);
reconstruction L1 for stmemm. Pairs stream from merlib.magnify.synth_pairs (nothing is read from
disk). Validation on a fixed generated set every --val-every steps; the training state is saved to
OUT.state.pt every --checkpoint-every steps and the run resumes from it (use --no-resume to start
over). The checkpoint loads with merlib.magnify.load_magnifier(path=OUT).
"""
from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("arch", choices=["oh2018", "stmemm"], help="network to train")
    parser.add_argument("--out", required=True, help="checkpoint path to write (e.g. merlib/weights/oh2018.pt)")
    parser.add_argument("--steps", type=int, default=4000, help="optimiser steps (default 4000)")
    parser.add_argument("--batch-size", type=int, default=4, help="batch size (Oh et al.: 4)")
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (Oh et al.: 1e-4)")
    parser.add_argument("--weight", type=float, default=0.1,
                        help="λ of the texture and shape regularisers (Oh et al.: 0.1)")
    parser.add_argument("--patch", type=int, default=64, help="training patch side in px (default 64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-every", type=int, default=100)
    parser.add_argument("--val-size", type=int, default=16)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--max-minutes", type=float, default=None, help="stop and save after this wall time")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    parser.add_argument("--float32", action="store_true", help="store weights as float32 (default float16)")
    parser.add_argument("--model", default="{}", help="JSON overrides of the network config, e.g. '{\"dim\": 48}'")
    parser.add_argument("--pair", default="{}", help="JSON overrides of the pair recipe, e.g. '{\"noise_std\": [0, 0.02]}'")
    parser.add_argument("--curves", default=None, help="also write the training record (curves) as JSON here")
    parser.add_argument("--no-resume", action="store_true", help="ignore OUT.state.pt and start from scratch")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _json_arg(text: str, name: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"train-magnifier: {name} must be a JSON object: {exc}")
    if not isinstance(value, dict):
        raise SystemExit(f"train-magnifier: {name} must be a JSON object, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from merlib.magnify.train import TrainConfig, train_magnifier, write_curves

    cfg = TrainConfig(arch=args.arch, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      weight=args.weight, seed=args.seed, patch=args.patch, val_every=args.val_every,
                      val_size=args.val_size, checkpoint_every=args.checkpoint_every,
                      max_minutes=args.max_minutes, threads=args.threads, half=not args.float32,
                      model=_json_arg(args.model, "--model"), pair=_json_arg(args.pair, "--pair"))
    record = train_magnifier(args.out, cfg, resume=not args.no_resume, progress=not args.no_progress,
                             device=args.device)
    if args.curves:
        write_curves(record, args.curves)
    last = record["history"]["val"][-1] if record["history"]["val"] else {}
    print(f"wrote {args.out}: {record['steps_done']} steps in {record['wall_s'] / 60:.1f} min, "
          f"final validation loss {last.get('total', float('nan')):.4f}")
    return 0
