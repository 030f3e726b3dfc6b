"""Regenerate merlib/weights/README.md from the training records beside the checkpoints.

Usage: ``python tools/weights_readme.py`` after copying a new ``<name>.pt`` and ``<name>_training.json``
(written by ``python -m merlib train-magnifier NAME --out PATH --curves JSON``) into merlib/weights/.
Everything in the README is read from those records; nothing is typed in.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parents[1] / "merlib" / "weights"

HEADER = """# Shipped learned-magnifier checkpoints

Trained by `python -m merlib train-magnifier` on merlib's generated pairs (`merlib.magnify.synth_pairs`,
`cpu_pair_config(64)`: 64² patches, input motion ≤ 4 px, magnified motion ≤ 8 px, α ∈ [0.5, 30] in merlib's
convention), Adam lr 1e-4, batch 4, L1 + 0.1·(texture + shape regularisers) for oh2018 (reconstruction L1 for
ST-MEMM, which has no texture/shape split), on CPU. Weights are stored as float16 and load as float32 with
`merlib.magnify.load_magnifier("oh2018" | "stmemm")` (`torch.load(weights_only=True)`).
The full curves (every 200 steps: train and validation loss terms, wall seconds) are in `<name>_training.json`;
this file is generated from them by `tools/weights_readme.py`.
"""


def _command(rec: dict) -> str:
    args = shlex.split(rec["command"])  # recorded with shlex.join
    if args and args[0].endswith("__main__.py"):
        args = args[1:]
    return "python -m merlib " + " ".join(shlex.quote(a) for a in args)


def main() -> str:
    lines = [HEADER]
    for path in sorted(WEIGHTS.glob("*_training.json")):
        name = path.name[: -len("_training.json")]
        rec = json.loads(path.read_text())
        h = rec["history"]
        lines += [f"## {name}", "", f"Command: `{_command(rec)}` (then copied here).", "",
                  f"Network config overrides: `{rec['train_config'].get('model')}`. Steps done: {rec['steps_done']}; "
                  f"wall time: {rec['wall_s'] / 60:.1f} min; torch threads: {rec['torch_threads']}; "
                  f"device: {rec['device']}; stopped by the time budget: {rec.get('stopped_early')}.", "",
                  "| step | wall (min) | train loss | val loss | val L1 (reconstruction) |", "|---|---|---|---|---|"]
        for s, w, tr, va in zip(h["step"], h["wall_s"], h["train"], h["val"]):
            lines.append(f"| {s} | {w / 60:.1f} | {tr['total']:.4f} | {va['total']:.4f} | {va['reconstruction']:.4f} |")
        lines.append("")
    text = "\n".join(lines)
    (WEIGHTS / "README.md").write_text(text)
    return text


if __name__ == "__main__":
    print(main()[:2000])
