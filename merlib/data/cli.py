"""Dataset tools.

  python -m merlib data verify NAME --root PATH [--frames cropped|raw] [--strict] [--classes 5class|megc3]
                                 [--no-read] [--csv FILE]
      check a local copy of NAME (casme2, samm, smic_hs, megc2019_composite, synthetic) against its
      manifest with the very code load_dataset runs: counts, missing or unreadable frames, annotation
      rows without folders, folders without rows, apex and onset/offset consistency, unknown labels.
      Lists every known quirk of the release it repaired (as load_dataset returns it). Exit status 1
      when a problem is found, 0 for a copy that matches the public facts.
  python -m merlib data synth PRESET [--seed N] [--root PATH]
      generate the synthetic dataset (presets: tiny, small, casme2) and print where it is.
  python -m merlib data list
      list the manifests and how to request each licensed dataset.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_cmd", metavar="COMMAND")
    v = sub.add_parser("verify", help="check a local dataset copy against its manifest")
    v.add_argument("name", help="casme2 | samm | smic_hs | megc2019_composite | synthetic")
    v.add_argument("--root", required=True, help="the folder holding the dataset as released")
    v.add_argument("--classes", default="5class", choices=["5class", "megc3"], help="class setting to count")
    v.add_argument("--no-read", action="store_true", help="do not decode every frame (faster)")
    v.add_argument("--csv", default=None, help="megc2019_composite: the combined_3class_gt.csv file")
    v.add_argument("--frames", default=None, choices=["cropped", "raw"],
                   help="which frames of the release to check (default: cropped, the face crops)")
    v.add_argument("--strict", action="store_true",
                   help="treat the releases' known quirks as problems (load_dataset(quirks='strict'))")
    v.add_argument("--missing-apex", default="estimate", choices=["estimate", "middle"],
                   help="how a missing apex is filled, as load_dataset(missing_apex=...)")
    s = sub.add_parser("synth", help="generate the synthetic dataset")
    s.add_argument("preset", help="tiny | small | casme2")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--root", default=None, help="output folder (default: merlib's cache)")
    sub.add_parser("list", help="list the dataset manifests")


def run(args: argparse.Namespace) -> int:
    cmd = getattr(args, "data_cmd", None)
    if cmd == "verify":
        from merlib.data.datasets import verify_dataset
        from merlib.data.manifest import list_manifests

        if args.name not in list_manifests():
            print(f"data verify: unknown dataset {args.name!r}; known: {', '.join(list_manifests())}",
                  file=sys.stderr)
            return 2
        report = verify_dataset(args.name, args.root, read_frames=not args.no_read, classes=args.classes,
                                csv=args.csv, frames=args.frames, quirks="strict" if args.strict else "repair",
                                missing_apex=args.missing_apex)
        print(report.format())
        return 0 if report.ok else 1
    if cmd == "synth":
        from merlib.data.synthetic import generate

        out = generate(args.preset, root=args.root, seed=args.seed)
        print(f"synthetic dataset {args.preset!r} (seed {args.seed}) is at: {out if out is not None else args.root}")
        return 0
    if cmd == "list":
        from merlib.data.manifest import list_manifests, load_manifest

        for name in list_manifests():
            m = load_manifest(name)
            print(f"{name:<20} {m['title']}  (fps {m['fps']}, subjects {m['subjects']})")
            print(f"{'':<20} {' '.join(str(m['request']).split())}\n")
        return 0
    print("usage: python -m merlib data {verify,synth,list} ... (see --help)", file=sys.stderr)
    return 2
