"""``python -m merlib board --size quick|standard --out DIR``: the clean board (notebook 90's computation).

Writes ``DIR/board.json`` (the :func:`merlib.save_results` record: metrics, the table, the note),
``DIR/board.csv``, ``DIR/board.png`` (the dot plot) and ``DIR/runs/`` (every method's resumable run: a
killed board continues where it stopped; a finished method is read back).
"""
from __future__ import annotations

import argparse

from merlib.run_size import RUN_SIZES

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", choices=RUN_SIZES, default="standard", help="run size (default: standard)")
    parser.add_argument("--out", default="runs/board", help="output folder (default: runs/board)")
    parser.add_argument("--methods", nargs="*", default=None, help="method names (default: every registered one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=1, help="processes (one method each; default 1)")
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--address", default=None, help="Ray cluster address (executor ray)")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--dataset", default=None, help="a licensed dataset name instead of the synthetic benchmark")
    parser.add_argument("--data-root", default=None, help="its folder (with --dataset)")
    parser.add_argument("--no-resume", action="store_true", help="rerun every method")
    parser.add_argument("--list", action="store_true", help="list the registered methods and exit")


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    import torch

    from merlib.papers import board

    if args.list:
        for name, m in board.REGISTRY.items():
            print(f"{name:28s} {m.paper or '-':16s} {m.description}")
        return 0
    torch.set_num_threads(1)
    dataset = None
    if args.dataset:
        if not args.data_root:
            print("board: --dataset needs --data-root", file=sys.stderr)
            return 2
        from merlib.data import load_dataset

        dataset = load_dataset(args.dataset, root=args.data_root, classes="megc3")
    try:
        b = board.run_board(args.size, methods=args.methods, dataset=dataset, seed=args.seed, device=args.device,
                            results_dir=Path(args.out) / "runs", resume=not args.no_resume, workers=args.workers,
                            executor=args.executor, address=args.address, n_boot=args.n_boot, progress=True)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    out = b.save(args.out)
    cols = ["reported_value", "reported_dataset", "clean_uf1", "clean_uf1_ci_low", "clean_uf1_ci_high",
            "OPTIMISTIC_uf1", "inflation_uf1", "vs_best_d_uf1", "mcnemar_p", "train_seconds"]
    print(b.table[cols].round(3).to_string())
    print()
    print(b.note)
    print(f"\nboard written to {out.resolve()}")
    return 0
