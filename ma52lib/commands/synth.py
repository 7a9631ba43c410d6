"""``ma52 synth``: generate (or reuse) MA-52-Synth in the official MA-52 layout, or its emotion sessions."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from ma52lib.synth.emotion import synthesize_emotion
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


def parse_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` (``80x96``) as ``(80, 96)``; an argparse type."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 80x96, got {text!r}") from None
    return w, h


def int_tuple(n: int, example: str) -> Callable[[str], tuple[int, ...]]:
    """An argparse type reading ``n`` comma-separated integers; ``example`` shows the expected form."""
    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(x) for x in text.split(","))
        except ValueError:
            values = ()
        if len(values) != n:
            raise argparse.ArgumentTypeError(f"expected {example}, got {text!r}")
        return values
    return parse


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
    p.add_argument("--size", type=parse_size, metavar="WxH", help="frame size, even numbers (default: the profile's)")
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


def add_emotion_arguments(parser: argparse.ArgumentParser, *, flag: bool = True) -> None:
    """Add the emotion-set options to a ``ma52 synth``-style parser (``--emotion`` itself when ``flag``)."""
    if flag:
        parser.add_argument("--emotion", action="store_true",
                            help="render interview sessions with session emotion labels (emotion_labels.csv) "
                            "instead of MA-52-Synth; profiles smoke and cpu")
    parser.add_argument("--sessions", type=int_tuple(3, "TRAIN,VAL,TEST such as 60,12,48"), metavar="TR,VA,TE",
                        help="emotion set: sessions per split (default: the profile's; cpu 60,12,48)")
    parser.add_argument("--clips-per-session", type=int_tuple(2, "LO,HI such as 5,8"), metavar="LO,HI",
                        help="emotion set: clips per session, inclusive range (default: the profile's; cpu 8,10)")
    parser.add_argument("--action-effect", type=float, default=1.0, metavar="X",
                        help="emotion set: strength of the state's effect on micro-actions "
                        "(1 as documented, 0 none) (default: 1)")
    parser.add_argument("--direct-effect", type=float, default=1.0, metavar="X",
                        help="emotion set: strength of the weak direct cues, posture and idle motion (default: 1)")


def run(args: argparse.Namespace) -> int:
    """Run ``ma52 synth`` with parsed arguments; prints the dataset folder."""
    if getattr(args, "emotion", False):
        return run_emotion(args)
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


def run_emotion(args: argparse.Namespace) -> int:
    """Render the emotion sessions from parsed ``ma52 synth --emotion`` (or ``ma52 emotion synth``) flags."""
    if getattr(args, "participants", None):
        print("ma52 synth --emotion: error: --participants does not apply (one participant per session); "
              "use --sessions TRAIN,VAL,TEST", file=sys.stderr)
        return 2
    try:
        root = synthesize_emotion(
            args.out, profile=args.profile, seed=args.seed, size=args.size, fps=args.fps,
            sessions=args.sessions, clips_per_session=args.clips_per_session,
            action_effect=args.action_effect, direct_effect=args.direct_effect,
            workers=args.workers, progress=not args.quiet, force=args.force,
        )
    except (ValueError, FileExistsError) as exc:
        print(f"ma52 synth --emotion: error: {exc}", file=sys.stderr)
        return 2
    print(root)
    return 0

