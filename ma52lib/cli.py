"""The `ma52` command line: data, training, evaluation, and the book.

Each subcommand is a thin shell over a ma52lib function; every config field is a flag through
``--set section.field=value`` (see ``ma52 config``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

from ma52lib.commands import bench, reproduce
from ma52lib.commands import emotion as emotion_cli
from ma52lib.commands import synth as synth_cli
from ma52lib.config import Config, describe_fields, make_config, set_field, to_dict
from ma52lib.data import AnnotationError, VideoError, check_dataset
from ma52lib.data.prepare import add_prepare_parser
from ma52lib.engine.checkpoint import CheckpointError
from ma52lib.engine.pretrain import SYNTH, describe_start, ensure_pretrained, resolve_pretrained, start_pending
from ma52lib.engine.probe import linear_probe
from ma52lib.engine.run import evaluate_split, import_official, load_run, predict_each, submit
from ma52lib.engine.starts import check_shipped, record_probe, ship, shipped_starts
from ma52lib.engine.train import TrainingError, default_run_dir, train
from ma52lib.explain import cli as explain_cli
from ma52lib.files import atomic_write_text
from ma52lib.interrupt import stopped_message
from ma52lib.metrics import format_table
from ma52lib.models import available_models
from ma52lib.workers import WorkersStopped

# Subcommands registered by their own module (add_parser(subparsers)): ma52lib.commands for the renderer, the
# emotion experiment, the book's build and the bench, explain.cli for cam. They are imported above, so a subcommand
# whose module is broken stops `ma52` with its ImportError instead of quietly disappearing from the command list.
# `reproduce` and `bench` are the only commands that use the book's machinery (ma52lib.chapters).
SUBCOMMAND_MODULES = (synth_cli, reproduce, explain_cli, emotion_cli, bench)

# Errors whose message already tells the user what is wrong and what to do (no traceback needed).
USER_ERRORS: tuple[type[BaseException], ...] = (
    AnnotationError, VideoError, CheckpointError, TrainingError, FileNotFoundError, OSError, ValueError, WorkersStopped,
)


def _config_args(p: argparse.ArgumentParser, *, shortcuts: bool = True) -> None:
    """The flags that make a Config; ``shortcuts`` adds --data-root, --epochs, --batch-size, --lr and --seed."""
    p.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "paper"],
                   help="preset: smoke (seconds, tiny), cpu (laptop, MA-52-Synth), paper (official recipe, GPUs)")
    p.add_argument("--model", default="manet", help="manet or a baseline (see `ma52 models`)")
    if not shortcuts:
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="any config field, e.g. --set pretrain.epochs=8 --set pretrain.clips=4000 (repeatable)")
        return
    p.add_argument("--data-root", help="real MA-52 folder (train_list_videos.txt, videos_train/, ...); "
                   "default: MA-52-Synth of the profile, generated once and cached")
    p.add_argument("--epochs", type=int, help="shortcut for --set optim.epochs=N")
    p.add_argument("--batch-size", type=int, help="per-process batch; shortcut for optim.batch_size")
    p.add_argument("--lr", type=float, help="base learning rate; shortcut for optim.lr")
    p.add_argument("--seed", type=int, help="shortcut for runtime.seed")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="any config field, e.g. --set model.tsm=false --set loss.weight=10 (repeatable)")


def _set_flags(items: Sequence[str]) -> dict[str, Any]:
    """The ``--set KEY=VALUE`` flags as config overrides."""
    overrides: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set expects KEY=VALUE (e.g. optim.lr=0.01), got {item!r}")
        key, value = item.split("=", 1)
        overrides[key.strip()] = value.strip()
    return overrides


def config_from_args(args: argparse.Namespace) -> Config:
    """Build the Config a command's flags describe."""
    overrides = _set_flags(args.overrides)
    if getattr(args, "model", None):
        overrides["model.name"] = args.model
    for flag, key in (("data_root", "data.root"), ("epochs", "optim.epochs"), ("batch_size", "optim.batch_size"),
                      ("lr", "optim.lr"), ("seed", "runtime.seed")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    try:
        return make_config(args.profile, overrides)
    except ValueError as exc:
        raise SystemExit(f"config error: {exc}") from None


def _cmd_train(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.print_config:
        # As the run will use it: the start weights named (nothing is downloaded here), frozen stages only where
        # a 2-D ResNet has them.
        shown = resolve_pretrained(cfg)
        print(json.dumps(to_dict(shown), indent=2))
        if args.out or not start_pending(shown):
            print(f"run folder: {Path(args.out) if args.out else default_run_dir(cfg)}")
        else:  # the weights' sha256 is part of the config
            print("run folder: named once the start weights are on this machine")
        print(f"start: {describe_start(shown)}")
        return 0
    run_dir = train(cfg, out=args.out, resume=args.resume, force=args.force)  # errors: see main()
    print(f"run folder: {run_dir}")
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    if args.check:
        problems = check_shipped()
        for line in problems:
            print(f"error: {line}", file=sys.stderr)
        print(f"{len(shipped_starts())} shipped start(s), {len(problems)} problem(s)")
        return 1 if problems else 0
    if args.probe:
        return _probe(config_from_args(args))
    base = set_field(config_from_args(args), "model.pretrained", SYNTH)
    cfg = resolve_pretrained(base, use_shipped=not args.ship)
    if cfg.model.pretrained is None:
        raise ValueError(f"{cfg.model.name} has no start to pretrain: neither a 2-D ResNet nor its own 2-D twin "
                         "(README 'Models and profiles' lists each model's start)")
    path = ensure_pretrained(cfg)
    print(f"backbone: {path} (model.pretrained={cfg.model.pretrained})")
    if args.ship:
        command = "ma52 " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        shipped = ship(path.parent, command=command)
        print(f"shipped: {shipped}; its linear probe for the provenance record:")
        result = linear_probe(base)  # of the shipped float16 file, as the runs load it
        record_probe(shipped, result, command=command.replace(" --ship", " --probe"))
        _print_probe(result, cfg)
        print(f"commit {shipped.name} and {shipped.with_suffix('.json').name}")
    return 0


def _probe(cfg: Config) -> int:
    """Print the linear probe of ``cfg``'s start (``model.pretrained``; the profile's own by default)."""
    _print_probe(linear_probe(cfg), cfg)
    return 0


def _print_probe(result: dict, cfg: Config) -> None:
    print(f"linear probe of {result['start']}")
    print(f"  val action top-1: {result['val_top1_ordered']:.1f}% on the {cfg.model.num_segments} frame features "
          f"in order, {result['val_top1_averaged']:.1f}% on their average (majority class "
          f"{result['val_majority']:.1f}%; {result['train_clips']} train / {result['val_clips']} val clips, "
          f"{result['features']} features per frame)")


def _cmd_eval(args: argparse.Namespace) -> int:
    run = load_run(args.run, checkpoint=args.checkpoint, device=args.device)
    metrics = evaluate_split(run, args.split, data_root=args.data_root)
    print(f"{run.run_dir.name} on {args.split} ({metrics['n']} clips), percent:")
    print(format_table(metrics))
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(metrics, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    run = load_run(args.run, device=args.device)
    failed = []
    for video, top, problem in predict_each(run, args.videos, k=args.k):
        if top is None:
            failed.append(problem)
            continue
        print(video)
        for rank, item in enumerate(top, 1):
            print(f"  {rank}. {item['name']:<34} [{item['body']}]  {100 * item['prob']:5.1f}%")
    for problem in failed:  # after every answer: one bad file never hides the good ones
        print(f"error: {problem}", file=sys.stderr)
    return 1 if failed else 0


def _cmd_submit(args: argparse.Namespace) -> int:
    run = load_run(args.run, device=args.device)
    out = Path(args.out) if args.out else run.run_dir / "submission.csv"
    submit(run, out, split=args.split, data_root=args.data_root)
    print(f"wrote {out} (upload it to the MA-52 Codabench competition)")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    overrides = _set_flags(args.overrides)
    if args.data_root:
        overrides["data.root"] = args.data_root
    out, report = import_official(args.checkpoint, args.out, overrides=overrides)
    print(f"{report}\nrun folder: {out}\nnext: ma52 eval --run {out} --split val")
    return 0


def _cmd_data_check(args: argparse.Namespace) -> int:
    report = check_dataset(Path(args.root), max_probe=args.max_probe)
    print(report.format())
    if args.strict and not report.ok:
        print("data check failed (--strict)", file=sys.stderr)
        return 1
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    print("\n".join(available_models()))
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    if args.profile:
        print(json.dumps(to_dict(make_config(args.profile)), indent=2))
        return 0
    print(f"{'field':<24} {'type':<22} paper default")
    for name, kind, default in describe_fields():
        print(f"{name:<24} {kind:<22} {default}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full argparse tree (also used by the docs)."""
    parser = argparse.ArgumentParser(
        prog="ma52",
        description="MA-52 micro-action recognition: data, MANet and baselines, metrics, and the paper's book.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(sub)
    _add_run_commands(sub)
    _add_data(sub)
    p = sub.add_parser("models", help="list the model names")
    p.set_defaults(func=_cmd_models)
    p = sub.add_parser("config", help="list every config field (settable with --set) or show a profile")
    p.add_argument("--profile", choices=["smoke", "cpu", "paper"], help="print this profile's resolved config")
    p.set_defaults(func=_cmd_config)
    for module in SUBCOMMAND_MODULES:
        module.add_parser(sub)
    return parser


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (reuses a finished identical run)",
                       description="Train MANet or a baseline. The run folder is named by the config's hash; "
                       "an identical finished run is reused. Example: ma52 train --model manet --profile cpu")
    _config_args(p)
    p.add_argument("--out", help="run folder (default runs/<model>-<profile>-<hash>)")
    p.add_argument("--resume", action="store_true", help="continue an unfinished run from its last checkpoint")
    p.add_argument("--force", action="store_true", help="discard a previous run in the folder and retrain")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("pretrain", help="pretrain a model's start on rendered stills (the ImageNet analogue)",
                       description="Render still frames of new MA-52-Synth participants, train a network to "
                       "segment the body parts and locate 23 joints, and keep it as a cached run that "
                       "`model.pretrained=synth` names: a 2-D ResNet for TSN, TSM, TIN and MANet (I3D and SlowFast "
                       "inflate it), the model itself on single frames for C3D, R(2+1)D, TimeSformer and Video "
                       "Swin (its 2-D twin, then inflated). `ma52 train` does this by itself when needed, or finds "
                       "it shipped in ma52lib/starts/. The pretraining reads the pretrain.* fields (`ma52 config`; "
                       "a model's family recipe may set them), the model and its size, and the profile's input "
                       "size; the training flags of `ma52 train` do not apply. "
                       "Example: ma52 pretrain --profile cpu --model timesformer")
    p.add_argument("--ship", action="store_true",
                   help="train it here (even when shipped) and write it into ma52lib/starts/ as float16 with its "
                   "provenance: the command, the run's identity, the data seed, the minutes and this machine")
    p.add_argument("--probe", action="store_true",
                   help="measure the start instead: a linear classifier on its frozen per-frame features, fitted "
                   "on train and scored on val (--set model.pretrained=none probes random init)")
    p.add_argument("--check", action="store_true",
                   help="verify every shipped start (its sha256 is the recorded one and it loads) and exit")
    _config_args(p, shortcuts=False)
    p.set_defaults(func=_cmd_pretrain)


def _add_run_commands(sub: argparse._SubParsersAction) -> None:
    """The commands that use a finished run: eval, predict, submit, and import-official that makes one."""
    p = sub.add_parser("eval", help="score a run on a split and print the paper's metric table")
    p.add_argument("--run", required=True, help="run folder made by `ma52 train`")
    p.add_argument("--split", default="val", choices=["val", "test", "train"],
                   help="split to score (test only where labels exist: MA-52-Synth; the real test is scored on "
                   "Codabench)")
    p.add_argument("--data-root", help="dataset folder, if not the one the run was trained on")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"],
                   help="best: the validated epoch with the highest val action top-1 (default); last: the final epoch")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda when there is one; default)")
    p.add_argument("--json", help="also write the metrics to this JSON file")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("predict", help="top-5 micro-actions of any mp4 files")
    p.add_argument("--run", required=True, help="run folder made by `ma52 train`")
    p.add_argument("videos", nargs="+", help="video files")
    p.add_argument("-k", type=int, default=5, help="how many classes to show (default: 5)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("submit", help="write the Codabench CSV for the test split")
    p.add_argument("--run", required=True, help="run folder made by `ma52 train` or `ma52 import-official`")
    p.add_argument("--out", help="CSV path (default RUN/submission.csv)")
    p.add_argument("--split", default="test", choices=["test", "val"], help="split to predict (default: test)")
    p.add_argument("--data-root", help="dataset folder, if not the one the run was trained on")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda when there is one; default)")
    p.set_defaults(func=_cmd_submit)

    p = sub.add_parser("import-official", help="make a run folder from the authors' released MANet checkpoint",
                       description="Convert the official MANet checkpoint (mmcv's save_checkpoint file, read "
                       "as it is; mmaction2 key names; the unused ACTION-Net layers and the embedding branch are "
                       "dropped) into a run folder for eval/predict/submit. The model is the paper size; "
                       "--set model.depth/width/se where the file differs.")
    p.add_argument("checkpoint", help="the released .pth file")
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument("--data-root", help="the real MA-52 folder the run should evaluate on")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a config field where the file differs from the paper size, e.g. --set model.se=false")
    p.set_defaults(func=_cmd_import)


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="dataset tools (check, prepare)")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    c = data_sub.add_parser("check", help="count clips, find missing/unreadable videos, summarise frames/fps/size")
    c.add_argument("--root", required=True, help="folder in the official layout")
    c.add_argument("--strict", action="store_true", help="exit non-zero when anything is missing or unreadable")
    c.add_argument("--max-probe", type=int, default=200, help="videos decoded per split (spread evenly)")
    c.set_defaults(func=_cmd_data_check)
    add_prepare_parser(data_sub)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ma52` console script (MA52_DEBUG=1 shows full tracebacks)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        if os.environ.get("MA52_DEBUG") == "1":
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(stopped_message(args.command), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
