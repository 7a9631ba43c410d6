"""``ma52 emotion``: session-level emotion recognition with and without micro-action cues.

``ma52 emotion --data-root DIR --run RUN`` runs the experiment; ``ma52 emotion synth`` renders the
synthetic interview sessions; ``ma52 emotion check --data-root DIR`` validates an emotion_labels.csv.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ma52lib.commands.synth import add_emotion_arguments, parse_size, run_emotion
from ma52lib.emotion.experiment import format_result, manet_run_for, run_emotion_experiment
from ma52lib.emotion.labels import EMOTIONS, EmotionLabelError, load_sessions
from ma52lib.synth.emotion import EMOTION_PROFILES, emotion_profile_for, synthesize_emotion

_DESCRIPTION = """\
Does knowing the micro-actions help to recognise a person's emotional state? Each session (one
participant, one emotion, several clips) is classified from (a) MANet's pooled visual features,
(b) MANet's predicted micro-action distribution, (c) both, with a logistic regression trained on the
train sessions and scored on the test sessions over several seeds (mean, 95% CIs, paired tests).

DATA_ROOT is a folder in the official MA-52 layout plus DATA_ROOT/emotion_labels.csv
(split,session,emotion,clips; see ma52lib/emotion/labels.py): MA-52-Synth emotion sessions
(`ma52 emotion synth`), or your own data such as MA-52-Pro (pass its emotion set with --emotions).

examples:
  ma52 emotion --profile smoke                       # everything generated and trained, seconds
  ma52 emotion --data-root DIR --run runs/manet-cpu-XXXX --seeds 10 --out emotion.json
  ma52 emotion synth --profile cpu                   # only render the sessions
"""


def _csv(text: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    if len(items) < 2:
        raise argparse.ArgumentTypeError(f"expected at least two comma-separated emotions, got {text!r}")
    return items


def add_parser(subparsers: Any) -> None:
    """Register ``ma52 emotion`` (and its ``synth`` / ``check`` actions) on an argparse subparsers object."""
    p = subparsers.add_parser("emotion", help="emotion from visual features vs micro-action cues (MA-52-Pro analogue)",
                              description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", help="emotion dataset (official layout + emotion_labels.csv); default: "
                   "MA-52-Synth emotion sessions of the profile, generated once and cached")
    p.add_argument("--run", help="MANet run folder made by `ma52 train`; default: the benchmark's MANet run of "
                   "the profile (trained once on --train-data, reused afterwards)")
    p.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "paper"],
                   help="preset for the defaults of --data-root and --run (default: cpu)")
    p.add_argument("--train-data", metavar="DIR", help="micro-action data to train the default MANet run on "
                   "(default: MA-52-Synth of the profile)")
    p.add_argument("--seeds", type=int, default=5, help="classifier refits on bootstrapped train sessions (default: 5)")
    p.add_argument("--seed", type=int, default=0, help="base seed of the data, the run and the bootstraps (default: 0)")
    p.add_argument("--emotions", type=_csv, metavar="A,B,...",
                   help="allowed emotion labels in class order (default: negative,neutral,positive)")
    p.add_argument("--labels", metavar="CSV", help="emotion labels file (default: DATA_ROOT/emotion_labels.csv)")
    p.add_argument("--train-split", default="train", help="sessions the classifier is fit on (default: train)")
    p.add_argument("--eval-split", default="test", help="sessions it is scored on (default: test)")
    p.add_argument("--device", default="auto", help="device for MANet inference (default: auto)")
    p.add_argument("--out", metavar="JSON", help="also write every number to this JSON file")
    p.set_defaults(func=_cmd_emotion)

    actions = p.add_subparsers(dest="emotion_action", metavar="ACTION")
    s = actions.add_parser("synth", help="render MA-52-Synth emotion sessions (same as `ma52 synth --emotion`)",
                           description="Render synthetic interview sessions: the official MA-52 layout plus "
                           "emotion_labels.csv; cached by its arguments. Profiles: " + "; ".join(
                               f"{k}: {v.description}" for k, v in EMOTION_PROFILES.items()))
    s.add_argument("--out", metavar="DIR", help="output folder (default: <data dir>/ma52-emotion-<profile>-<seed>)")
    s.add_argument("--profile", default="cpu", choices=sorted(EMOTION_PROFILES), help="size preset (default: cpu)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    s.add_argument("--size", type=parse_size, metavar="WxH", help="frame size, even numbers (default: the profile's)")
    s.add_argument("--fps", type=int, help="frames per second (default: the profile's)")
    add_emotion_arguments(s, flag=False)
    s.add_argument("--workers", type=int, default=2, help="parallel render processes (default: 2)")
    s.add_argument("--force", action="store_true", help="regenerate even if the folder already holds data")
    s.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    s.set_defaults(func=run_emotion)

    c = actions.add_parser("check", help="validate DATA_ROOT/emotion_labels.csv against the lists and count sessions")
    c.add_argument("--data-root", required=True, help="dataset folder holding the lists and emotion_labels.csv")
    c.add_argument("--labels", metavar="CSV", help="labels file (default: DATA_ROOT/emotion_labels.csv)")
    c.add_argument("--emotions", type=_csv, metavar="A,B,...",
                   help="allowed emotions (default: negative,neutral,positive)")
    c.set_defaults(func=_cmd_check)


def _cmd_check(args: argparse.Namespace) -> int:
    try:
        sessions = load_sessions(args.data_root, emotions=args.emotions or EMOTIONS, labels_file=args.labels)
    except (EmotionLabelError, FileNotFoundError) as exc:
        print(f"ma52 emotion check: error: {exc}", file=sys.stderr)
        return 1
    counts = Counter((s.split, s.emotion) for s in sessions)
    clips: Counter[str] = Counter()
    for s in sessions:
        clips[s.split] += len(s.clips)
    for split in sorted({s.split for s in sessions}):
        per = ", ".join(f"{e} {n}" for (sp, e), n in sorted(counts.items()) if sp == split)
        total = sum(n for (sp, _), n in counts.items() if sp == split)
        print(f"{split}: {total} sessions ({per}), {clips[split]} clips")
    return 0


def _cmd_emotion(args: argparse.Namespace) -> int:
    def echo(msg: str) -> None:
        print(msg, file=sys.stderr)

    try:
        root = args.data_root or synthesize_emotion(profile=emotion_profile_for(args.profile), seed=args.seed)
        run = args.run or manet_run_for(args.profile, args.train_data, args.seed, echo=echo)
        result = run_emotion_experiment(
            run, root, n_seeds=args.seeds, seed=args.seed, emotions=args.emotions or EMOTIONS,
            labels_file=args.labels, train_split=args.train_split, eval_split=args.eval_split, device=args.device,
        )
    except (EmotionLabelError, FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"ma52 emotion: error: {exc}", file=sys.stderr)
        return 1
    print(f"MANet run {Path(run).name} on {root}")
    print(format_result(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result.to_dict(), indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0
