"""Command line: ``python -m merlib VERB ...``.

Each verb lives in the module that owns it; this file only lists them, so that
``python -m merlib --help`` documents every verb in one place. A verb module
provides ``add_arguments(parser)`` and ``run(args) -> int``.

Verbs:
    reproduce         run notebooks with papermill, write executed copies and results JSON
    env               print the environment record (versions, device, git commit)
    data              dataset tools: ``data verify NAME --root PATH``, ``data synth PRESET``
    train-magnifier   train a learned magnifier (oh2018 | stmemm) and save a checkpoint
    board             the clean board: every method, paper vs. clean vs. OPTIMISTIC (notebook 90)
"""
from __future__ import annotations

import argparse
import importlib
import sys

#: verb -> (module, one-line help). The module is imported only when needed.
VERBS: dict[str, tuple[str, str]] = {
    "reproduce": ("merlib.reproduce", "run notebooks (default: all) with papermill and collect results JSON"),
    "env": ("merlib.cli", "print versions, device and git commit as merlib records them"),
    "data": ("merlib.data.cli", "dataset tools: verify a licensed copy against its manifest, generate synthetic data"),
    "train-magnifier": ("merlib.magnify.train_cli", "train a learned magnifier (oh2018 | stmemm) and save a checkpoint"),
    "board": ("merlib.papers.board.cli", "the clean board: every method, paper vs. clean vs. OPTIMISTIC (notebook 90)"),
}


# -- the `env` verb lives here: it is two lines ---------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import json

    from merlib.env import environment

    if args.json:
        print(json.dumps(environment(), indent=2))
    else:
        environment(verbose=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m merlib",
        description="merlib: micro-expression recognition with motion magnification.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `python -m merlib VERB --help` for a verb's options.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (module_name, help_text) in VERBS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # a verb whose optional dependencies are missing
            p = sub.add_parser(verb, help=f"{help_text} [unavailable: {exc}]")
            p.set_defaults(_unavailable=f"{verb}: cannot import {module_name}: {exc}")
            continue
        p = sub.add_parser(verb, help=help_text, description=(module.__doc__ or help_text).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 0
    if getattr(args, "_unavailable", None):
        print(args._unavailable, file=sys.stderr)
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
