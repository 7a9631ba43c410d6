"""`ma52 reproduce`: the command line of the book's build (``ma52lib.chapters.reproduce``), argparse glue only."""

from __future__ import annotations

import argparse
import shlex
import sys

from ma52lib.chapters.common import SEEDS
from ma52lib.chapters.plan import format_plan
from ma52lib.chapters.reproduce import CHAPTERS, ReproduceLocked, plan_book, reproduce


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `ma52 reproduce`."""
    p = sub.add_parser(
        "reproduce", help="regenerate every table and figure into the HTML book (cached)",
        description="Make the data, execute the chapter notebooks with papermill (skipping unchanged ones) "
        "and build the Jupyter Book. `make book` runs `ma52 reproduce --profile cpu`. While it runs, each "
        "training says its model, epoch, clips/s and the ETA of the chapter and the book (a live bar on a "
        "terminal, plain lines in a log). Ctrl-C stops it; run the same command again to continue: finished "
        "chapters and runs are reused and an interrupted training resumes from its last epoch's checkpoint.",
        epilog="The estimate (--plan, and the ETAs): a few training steps of each model to train are timed here "
        "and now (forward and backward at its batch, input size and precision); times its steps (epochs x train "
        "clips / batch) and the clips it scores gives each run. Rendering, pretraining, the chapters' figures and "
        "jupyter-book are the seconds a cold cpu build took on the reference machine (AMD EPYC, 2 cores, AVX512 "
        "with native bf16), scaled by how much slower this machine runs MANet's step now. On a loaded machine "
        "both the estimate and the build are slower.",
    )
    p.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "paper"])
    p.add_argument("--plan", action="store_true",
                   help="say what would be rendered, pretrained, trained and reused, with an estimate in minutes "
                   "on this machine, then exit (nothing is trained; see below for the estimate)")
    p.add_argument("--data-root", help="a real MA-52 folder instead of MA-52-Synth")
    p.add_argument("--only", action="append", choices=CHAPTERS, metavar="CHAPTER",
                   help=f"execute only this chapter (repeatable): {', '.join(CHAPTERS)}")
    p.add_argument("--force", action="store_true", help="re-execute notebooks even when cached")
    p.add_argument("--timeout", type=int, default=None,
                   help="seconds a single notebook cell may run (default: no limit)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-build", action="store_true", help="execute notebooks but do not build the book")
    p.add_argument("--wait", action="store_true", help="wait for another running reproduce instead of refusing")
    p.add_argument("--extra-model", action="append", default=[], metavar="PKG.MODULE:FACTORY",
                   help="a model of your own (see examples/temporal_cnn.py) for the benchmark and the ledger "
                   "(repeatable)")
    p.add_argument("--study", action="store_true",
                   help="also train the recipe study's lever runs (the appendix)")
    p.add_argument("--seeds", type=_at_least_one, default=None, metavar="N",
                   help="train TSN, TSM, MANet and MANet without the loss at N seeds for the intervals over seeds "
                   f"(default: the profile's, {len(SEEDS['cpu'])} for cpu; with one seed the ledger has clip "
                   "intervals only)")
    p.set_defaults(func=_cmd)


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _cmd(args: argparse.Namespace) -> int:
    if args.plan:
        plan = plan_book(args.profile, data_root=args.data_root, only=args.only, force=args.force, seed=args.seed,
                         build=not args.no_build, extra_models=args.extra_model, study=args.study,
                         n_seeds=args.seeds)
        print("\n".join(format_plan(plan)))
        return 0
    try:
        report = reproduce(args.profile, data_root=args.data_root, only=args.only, force=args.force,
                           timeout=args.timeout, seed=args.seed, build=not args.no_build, wait=args.wait,
                           extra_models=args.extra_model, study=args.study, n_seeds=args.seeds)
    except ReproduceLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt as exc:
        again = " ".join(["ma52", *(shlex.quote(a) for a in sys.argv[1:])]) if sys.argv[1:2] == ["reproduce"] \
            else "ma52 reproduce"
        what = str(exc) or "interrupted: finished chapters and runs are kept"
        print(f"\n{what}. To continue, run the same command again (`{again}`).", file=sys.stderr)
        return 130
    print(f"finished in {report.seconds:.0f} s")
    if not args.no_build:
        if report.book_ok:
            print(f"book: {report.index_html}")
        else:
            print(f"book build failed; see book/generated/logs/jupyter-book.log (partial book: {report.index_html})")
    if report.failed:
        print(f"failed chapters: {', '.join(report.failed)} (logs in book/generated/logs/)", file=sys.stderr)
        return 1
    return 0 if (args.no_build or report.book_ok) else 1
