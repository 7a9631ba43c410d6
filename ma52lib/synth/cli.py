"""``ma52 synth``: generate (or reuse) MA-52-Synth in the official MA-52 layout."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from ma52lib.emotion.sessions import add_emotion_arguments, run_synth_args
from ma52lib.synth.writer import PROFILES, split_counts, synthesize

_DESCRIPTION = """\
Render MA-52-Synth, the procedural stand-in for the gated MA-52: one seated person per clip making one
of the 52 micro-actions, written exactly like the real download (CRLF *_list_videos.txt, videos_{split}/
h264 mp4, label_name.txt; test files renamed testNNNN.mp4 with dummy labels, the true ones in
test_labels.txt) plus meta.json with every clip's parameters.

profiles (override with --size/--fps), clips train / val / test:
{profiles}

The same arguments always give the same files (byte for byte); asking again reuses the cached folder.
"""


def _profiles() -> str:
    """One line per generation profile, its clip counts computed, not typed."""
    lines = []
    for name, prof in PROFILES.items():
        counts = " / ".join(f"{sum(c):,}" for c in split_counts(name).values())
        lines.append(f"  {name:<6}  {counts}: {prof.description}")
    return "\n".join(lines)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 80x96, got {text!r}") from None
    return w, h


def add_parser(subparsers: Any) -> None:
    """Register the ``synth`` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser(
        "synth",
        help="generate MA-52-Synth (procedural MA-52 in the official format), cached",
        description=_DESCRIPTION.replace("{profiles}", _profiles()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default: <data dir>/ma52-synth-<profile>-<seed>[-suffix]; "
                   "the data dir is $MA52_DATA_DIR or <project>/data)")
    p.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "full"], help="size preset (default: cpu)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same dataset (default: 0)")
    p.add_argument("--size", type=_size, metavar="WxH", help="frame size, even numbers (default: the profile's)")
    p.add_argument("--fps", type=int, help="frames per second (default: the profile's)")
    p.add_argument("--split", default="stratified", choices=["stratified", "cross-subject"],
                   help="stratified: class-stratified 2:1:1 like MA-52 (default); "
                   "cross-subject: participants disjoint across train/val/test")
    p.add_argument("--participants", type=int, metavar="N", help="number of participants (default: 205)")
    p.add_argument("--workers", type=int, default=2, help="parallel render processes (default: 2)")
    p.add_argument("--force", action="store_true", help="regenerate even if the folder already holds data")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add_emotion_arguments(p)  # --emotion: interview sessions with emotion labels (the emotion chapter)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``ma52 synth`` with parsed arguments; prints the dataset folder."""
    if getattr(args, "emotion", False):
        return run_synth_args(args)
    try:
        root = synthesize(
            args.out,
            profile=args.profile,
            seed=args.seed,
            size=args.size,
            fps=args.fps,
            split=args.split,
            num_participants=args.participants,
            workers=args.workers,
            progress=not args.quiet,
            force=args.force,
        )
    except (ValueError, FileExistsError) as exc:
        print(f"ma52 synth: error: {exc}", file=sys.stderr)
        return 2
    print(root)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ma52lib.synth.cli ...`` (same flags as ``ma52 synth``)."""
    parser = argparse.ArgumentParser(prog="ma52")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["synth", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
