"""Training loop: CPU, one GPU or torchrun DDP; checkpoint every epoch; resume gives the same numbers.

A run lives in one folder (``runs/<model>-<profile>-<config hash>/`` by default):
``config.json`` (resolved config), ``metrics.jsonl`` (one line per epoch: loss, lr, clips/s and the full
validation metrics), ``checkpoints/{last,best}.pt`` (+ ``.prev`` copies and digests), ``results.json``
(val and test metrics of the best-val checkpoint, timings) and ``train.log``. A finished run with the
same config is reused; an unfinished one is continued with ``resume=True``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ma52lib.config import Config, config_hash, load_config, run_name, save_config, to_dict
from ma52lib.config_checks import check_config
from ma52lib.data.check import find_leaks
from ma52lib.data.preflight import check_videos
from ma52lib.engine import dist
from ma52lib.engine.build import build_dataset, build_loader, default_threads, resolve_data_root
from ma52lib.engine.checkpoint import (
    load_checkpoint,
    load_latest_good,
    previous_of,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from ma52lib.engine.evaluate import predict_loader, save_predictions, scalar_metrics
from ma52lib.engine.optim import build_scheduler
from ma52lib.engine.precision import Choice, resolve, uses_bf16
from ma52lib.engine.pretrain import describe_start, ensure_pretrained, resolve_pretrained
from ma52lib.engine.progress import progress_bar, report, report_step
from ma52lib.engine.runguard import logged_on_failure, run_lock
from ma52lib.engine.step import NonFiniteLoss, Trainee, build_trainee, train_step
from ma52lib.files import atomic_write_text, remove_stale_temps
from ma52lib.metrics import compute_metrics
from ma52lib.paths import runs_dir
from ma52lib.workers import refuse_in_bootstrap


class TrainingError(RuntimeError):
    """A run that cannot start or continue; the message says what to do."""


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed python, numpy and torch; deterministic kernels where PyTorch offers them."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def default_run_dir(cfg: Config) -> Path:
    """Where a config's run goes unless told otherwise (named after the resolved config: precision, pretraining)."""
    cfg = resolve_pretrained(cfg)
    if cfg.runtime.precision == "auto":
        cfg, _ = resolve(cfg)
    return runs_dir() / run_name(cfg)


def resolve_for_run(cfg: Config) -> tuple[Config, Choice]:
    """``cfg`` made concrete, the same on every rank (rank 0 fetches and measures, the others follow): the
    weights it starts from (``model.pretrained``: torchvision's ImageNet file downloaded once if need be, named
    by its sha256) and its precision. Runs before any data is read: weights that cannot be had stop it here."""
    resolved = None
    if dist.is_main():
        resolved = resolve(resolve_pretrained(cfg, fetch_weights=True))
    return dist.broadcast_object(resolved)


class _Log:
    """Print on rank 0 and append to the run's train.log."""

    def __init__(self, path: Path | None, echo: Callable[[str], None] | None):
        self.path, self.echo = path, echo

    def __call__(self, msg: str) -> None:
        if not dist.is_main():
            return
        if self.echo:
            self.echo(msg)
        if self.path:
            with open(self.path, "a") as fh:
                fh.write(time.strftime("%Y-%m-%d %H:%M:%S ") + msg + "\n")


@dataclass
class _Session:
    """Everything one training process holds: the network, its optimiser and the data."""

    cfg: Config
    run_dir: Path
    root: Path
    device: torch.device
    world: int
    trainee: Trainee  # model, its DDP wrapper when world > 1, loss, optimiser, schedule
    train_loader: DataLoader
    val_loader: DataLoader
    log: Callable[[str], None]
    best_top1: float = -1.0
    best_epoch: int = -1
    best_val: dict[str, Any] | None = None  # val predictions of the best epoch (finalize need not recompute them)

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def model(self) -> nn.Module:
        return self.trainee.model

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.trainee.optimizer

    @property
    def scheduler(self) -> torch.optim.lr_scheduler.LRScheduler:
        return self.trainee.scheduler


def train(
    cfg: Config,
    *,
    out: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    echo: Callable[[str], None] | None = print,
    stop_after_epoch: int | None = None,
) -> Path:
    """Train (or reuse, or resume) the run ``cfg`` describes; returns its folder.

    ``stop_after_epoch`` ends the process's work after that epoch as if it had been killed there
    (used by tests of resume).
    """
    refuse_in_bootstrap("train")  # a loader worker re-running an unguarded script: not a second training
    for warning in check_config(cfg):  # every value, before anything is read, fetched or written
        if echo and dist.is_main():
            echo(f"warning: {warning}")
    device, rank, world = dist.setup(cfg.runtime.device)
    # The resolved precision is part of the config, hence of the run's hash: a run made in bf16 is
    # never reused as an fp32 one.
    cfg, precision = resolve_for_run(cfg)
    run_dir = Path(out) if out else default_run_dir(cfg)
    with run_lock(run_dir, echo=echo):  # one process per run folder; a second identical run waits, then reuses
        if _reuse_finished(run_dir, cfg, force=force, echo=echo):
            report("reused", run=run_dir.name, model=cfg.model.name)  # progress hook (`ma52 reproduce`)
            return run_dir
        return _train_locked(cfg, precision, run_dir, (device, rank, world), resume=resume, force=force, echo=echo,
                             stop_after_epoch=stop_after_epoch)


def _train_locked(cfg: Config, precision: Choice, run_dir: Path, where: tuple[torch.device, int, int], *,
                  resume: bool, force: bool, echo: Callable[[str], None] | None,
                  stop_after_epoch: int | None) -> Path:
    """``train`` once the run folder is this process's: data checked, folder made, epochs, results."""
    device, rank, world = where
    root = resolve_data_root(cfg) if dist.is_main() else None  # before any folder is made: a bad root stops here
    dist.barrier()
    root = root or resolve_data_root(cfg, progress=False)
    if dist.is_main():
        if cfg.data.on_error == "raise":  # a bad file fails the run now, with its path, not after an epoch
            check_videos(root, _splits_read(cfg))
        ensure_pretrained(cfg, echo=echo)  # the ImageNet analogue, trained once and reused; a start file checked
    dist.barrier()
    has_checkpoint = _prepare_run_dir(run_dir, cfg, resume=resume, force=force, echo=echo)
    with logged_on_failure(run_dir):  # train.log says why the run stopped and what a rerun does
        log = _Log(run_dir / "train.log", echo)
        log(f"precision: {precision.precision} ({precision.reason})")
        run = _start(cfg, run_dir, root, device, rank, world, log)
        start_epoch = _resume(run) if resume and has_checkpoint else 0
        if dist.is_main():
            _truncate_metrics(run_dir / "metrics.jsonl", start_epoch)
        report("run", run=run_dir.name, model=cfg.model.name, epochs=cfg.optim.epochs, start_epoch=start_epoch,
               clips=len(run.train_loader.dataset))  # progress hook (`ma52 reproduce`)
        for epoch in range(start_epoch, cfg.optim.epochs):
            _run_epoch(run, epoch)
            if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
                dist.cleanup()
                return run_dir
        if dist.is_main():
            results = finalize(run_dir, cfg, model=run.model, root=root, device=device, best_val=run.best_val,
                               n_params=sum(p.numel() for p in run.model.parameters()), log=log, precision=precision)
            log(f"done: best epoch {results['best_epoch']}, val action top-1 {results['val']['action_top1']:.2f}")
            report("done", run=run_dir.name, model=cfg.model.name)  # progress hook (`ma52 reproduce`)
    dist.barrier()
    dist.cleanup()
    return run_dir


def _splits_read(cfg: Config) -> list[str]:
    """The splits a run reads: train, val, and test when it is scored at the end."""
    return [cfg.data.train_split, cfg.data.val_split] + ([cfg.data.test_split] if cfg.runtime.eval_test else [])


def _reuse_finished(run_dir: Path, cfg: Config, *, force: bool, echo: Callable[[str], None] | None) -> bool:
    """True when ``run_dir`` holds a finished run of ``cfg`` (reuse it); an error when it holds another config's."""
    if force or not (run_dir / "results.json").exists():
        return False
    saved = run_dir / "config.json"
    if saved.exists() and config_hash(load_config(saved)) != config_hash(cfg):
        raise TrainingError(f"{run_dir} holds a finished run of a different config; choose another --out or pass --force")
    if echo and dist.is_main():
        echo(f"reusing finished run {run_dir} (same config; --force retrains)")
    return True


def _prepare_run_dir(run_dir: Path, cfg: Config, *, resume: bool, force: bool,
                     echo: Callable[[str], None] | None) -> bool:
    """Make (or, with ``force``, clear) the run folder and write config.json; returns whether a checkpoint is there."""
    ckpt_dir, results_path = run_dir / "checkpoints", run_dir / "results.json"
    last_path = ckpt_dir / "last.pt"
    # A kill between moving last.pt aside and renaming the new one in leaves only last.prev.pt.
    has_checkpoint = last_path.exists() or previous_of(last_path).exists()
    if has_checkpoint and not (resume or force):
        raise TrainingError(
            f"{run_dir} holds an unfinished run (checkpoint {last_path}). Continue it with --resume, "
            "or start over with --force."
        )
    if dist.is_main():
        if force and run_dir.exists():
            # Finished results are kept until the new run replaces them: a retraining that is killed
            # or runs out of disk must not leave the folder with no results at all.
            if results_path.exists():
                os.replace(results_path, run_dir / "results.replaced.json")
                if echo:
                    echo(f"--force: the previous results are kept as {run_dir / 'results.replaced.json'}")
            for name in ("metrics.jsonl", "train.log"):
                (run_dir / name).unlink(missing_ok=True)
            shutil.rmtree(ckpt_dir, ignore_errors=True)
            has_checkpoint = False
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        for folder in (run_dir, ckpt_dir):
            remove_stale_temps(folder)  # half-written files of a killed writer: never complete
        save_config(cfg, run_dir / "config.json")
    dist.barrier()
    return has_checkpoint


def _start(cfg: Config, run_dir: Path, root: Path, device: torch.device, rank: int, world: int,
           log: Callable[[str], None]) -> _Session:
    """Seed, build the model, loss, optimiser, schedule and loaders of a fresh run."""
    seed_everything(cfg.runtime.seed, cfg.runtime.deterministic)
    # Intra-op threads never oversubscribe the cores the loader workers use (see default_threads).
    torch.set_num_threads(default_threads(cfg, cuda=device.type == "cuda"))
    trainee = build_trainee(cfg, device)  # model, frozen stages, layout, loss, optimiser
    log(f"start: {'loaded ' if cfg.model.pretrained else ''}{describe_start(cfg)}")
    n_params = sum(p.numel() for p in trainee.model.parameters())
    if cfg.model.frozen_stages >= 0:
        # Without pretrained weights the frozen stages keep their random init: legal (a study lever), but said.
        note = "" if cfg.model.pretrained else "; their weights are random (no model.pretrained): " \
            "--set model.frozen_stages=-1 trains them"
        log(f"frozen stages: {cfg.model.frozen_stages} ({trainee.n_frozen:,} parameters not trained{note})")
    model = trainee.model
    train_ds = build_dataset(cfg, root, cfg.data.train_split, model, train=True)
    val_ds = build_dataset(cfg, root, cfg.data.val_split, model, train=False)
    pin = device.type == "cuda"
    train_loader = build_loader(cfg, train_ds, train=True, rank=rank, world=world, pin=pin)
    if world > 1:
        trainee.net = DistributedDataParallel(model)
    trainee.scheduler = build_scheduler(trainee.optimizer, cfg.optim, len(train_loader))
    run = _Session(cfg, run_dir, root, device, world, trainee, train_loader,
                   build_loader(cfg, val_ds, train=False, rank=rank, world=world, pin=pin), log)
    _warn_leaks(root, cfg, log)
    log(f"run {run_dir.name}: {cfg.model.name} ({n_params:,} parameters) on {device}, world {world}, "
        f"data {root}, {len(train_ds)} train / {len(val_ds)} val clips, {cfg.optim.epochs} epochs")
    return run


def _resume(run: _Session) -> int:
    """Load the newest good checkpoint into ``run``; returns the first epoch still to train."""
    state, used, warnings = load_latest_good(run.checkpoints / "last.pt")
    for w in warnings:
        run.log(f"warning: {w}")
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    run.best_top1, run.best_epoch = state["best_top1"], state["best_epoch"]
    run.log(f"resumed from {used} (epoch {state['epoch'] + 1} done, best val top-1 {run.best_top1:.2f})")
    return state["epoch"] + 1


def _run_epoch(run: _Session, epoch: int) -> None:
    """Train one epoch, validate when it is due, step the schedule, record the epoch (rank 0)."""
    cfg = run.cfg
    run.train_loader.dataset.set_epoch(epoch)
    run.train_loader.sampler.set_epoch(epoch)
    try:
        stats = _train_one_epoch(run, epoch)
    except TrainingError as exc:
        run.log(f"error: {exc}")  # the run folder says why it stopped
        raise
    # Validation every runtime.eval_every epochs and always after the last one; the best
    # checkpoint is chosen among the validated epochs.
    val, eval_s, val_skipped = None, 0.0, 0
    if (epoch + 1) % cfg.runtime.eval_every == 0 or epoch + 1 == cfg.optim.epochs:
        t0 = time.perf_counter()
        pred = predict_loader(run.model, run.val_loader, run.device, bf16=uses_bf16(cfg), desc=f"val {epoch + 1}")
        eval_s = time.perf_counter() - t0
        val, val_skipped = compute_metrics(pred["probs"], pred["labels"]), pred["skipped"]
        if val["action_top1"] > run.best_top1:
            run.best_val = pred
    lr = run.optimizer.param_groups[0]["lr"]  # where the schedule ended the epoch
    if dist.is_main():
        row = {"epoch": epoch + 1, "lr": lr, **stats, "eval_seconds": eval_s,
               **({"val_skipped": val_skipped, "val": val} if val is not None else {})}
        _record_epoch(run, epoch, row)
    dist.barrier()


def _record_epoch(run: _Session, epoch: int, row: dict[str, Any]) -> None:
    """Append the epoch to metrics.jsonl, write the best and last checkpoints, log one line."""
    cfg, val, stats = run.cfg, row.get("val"), row
    with open(run.run_dir / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps(row) + "\n")
    improved = val is not None and val["action_top1"] > run.best_top1
    if improved:
        run.best_top1, run.best_epoch = val["action_top1"], epoch + 1
        save_checkpoint({"model": run.model.state_dict(), "epoch": epoch, "config": to_dict(cfg)},
                        run.checkpoints / "best.pt")
    save_checkpoint(
        {
            "model": run.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "rng": rng_state(),
            "epoch": epoch,
            "best_top1": run.best_top1,
            "best_epoch": run.best_epoch,
            "config": to_dict(cfg),
        },
        run.checkpoints / "last.pt",
    )
    skipped = f", skipped {stats['skipped']} unreadable train videos" if stats["skipped"] else ""
    scores = "not validated this epoch" if val is None else (
        f"val action top-1 {val['action_top1']:.2f} body top-1 {val['body_top1']:.2f} F1_mean {val['f1_mean']:.2f}")
    run.log(f"epoch {epoch + 1}/{cfg.optim.epochs}: loss {stats['loss']:.4f}, "
            f"{stats['clips_per_s']:.1f} clips/s, {scores}{' (best)' if improved else ''}{skipped}")


def _train_one_epoch(run: _Session, epoch: int) -> dict[str, Any]:
    """One pass over the training loader (the schedule steps after every optimiser step); the epoch's stats."""
    device, cfg = run.device, run.cfg
    run.trainee.net.train()
    total_loss, parts_sum, seen, skipped, steps = 0.0, {}, 0, 0, 0
    wait_s = 0.0
    t_start = time.perf_counter()
    t_fetch = time.perf_counter()
    bar = progress_bar(run.train_loader, desc=f"epoch {epoch + 1}/{cfg.optim.epochs}", unit="batch")
    for clips, labels, _, n_skip in bar:
        wait_s += time.perf_counter() - t_fetch
        skipped += int(n_skip)
        if len(labels) == 0:
            t_fetch = time.perf_counter()
            continue
        clips = clips.to(device, non_blocking=True)  # [N, T, 3, H, W]
        labels = labels.to(device, non_blocking=True)
        try:
            loss, parts = train_step(run.trainee, clips, labels, bf16=uses_bf16(cfg))  # the schedule steps too
        except NonFiniteLoss as exc:
            raise TrainingError(
                f"{exc} at epoch {epoch + 1}, step {steps + 1}; stopped without saving. Lower optim.lr, or try "
                "--set runtime.precision=fp32, then " + ("--resume (the last good checkpoint is kept)." if epoch else
                                                         "rerun (no checkpoint yet: it starts clean).")
            ) from None
        n = len(labels)
        total_loss += float(loss.detach()) * n
        for k, v in parts.items():
            parts_sum[k] = parts_sum.get(k, 0.0) + v * n
        seen += n
        steps += 1
        elapsed = time.perf_counter() - t_start
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", clips_s=f"{seen / max(elapsed, 1e-9):.1f}")
        # progress hook (`ma52 reproduce`): a line every few seconds to the file it tails
        report_step(model=cfg.model.name, epoch=epoch + 1, epochs=cfg.optim.epochs, seen=seen,
                    clips=len(run.train_loader.dataset), clips_s=seen / max(elapsed, 1e-9))
        t_fetch = time.perf_counter()
    elapsed = time.perf_counter() - t_start
    seen_all = dist.all_reduce_sum(float(seen), device)
    loss_all = dist.all_reduce_sum(total_loss, device)
    return {
        "loss": loss_all / max(seen_all, 1),
        **{f"loss_{k}": v / max(seen, 1) for k, v in parts_sum.items()},
        "train_seconds": elapsed,
        "clips_per_s": seen_all / max(elapsed, 1e-9),
        "data_wait_fraction": wait_s / max(elapsed, 1e-9),
        "skipped": int(dist.all_reduce_sum(float(skipped), device)),
    }


def _warn_leaks(root: Path, cfg: Config, log: Callable[[str], None]) -> None:
    """Log a warning when the same clip is listed in the training split and an evaluation split."""

    splits = [cfg.data.train_split, cfg.data.val_split, cfg.data.test_split]
    leaks = {name: where for name, where in find_leaks(root, splits).items() if cfg.data.train_split in where}
    if leaks:
        first, where = next(iter(leaks.items()))
        log(f"warning: {len(leaks)} videos of {root} are listed in {cfg.data.train_split} and in an evaluation "
            f"split (first: {first} in {', '.join(where)}): their scores are inflated (leakage). Remove them from "
            f"one list; `ma52 data check --root {root}` lists them all")


def _truncate_metrics(path: Path, start_epoch: int) -> None:
    """Drop epoch lines a resumed run will redo (an epoch logged but not checkpointed before a kill)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["epoch"] <= start_epoch:
                keep.append(line)
        except (json.JSONDecodeError, KeyError):
            continue  # a line cut by a kill
    atomic_write_text(path, "".join(k + "\n" for k in keep))


def finalize(run_dir: Path, cfg: Config, *, model: nn.Module, root: Path, device: torch.device,
             best_val: dict[str, Any] | None = None,
             n_params: int, log: Callable[[str], None], precision: Choice | None = None) -> dict[str, Any]:
    """Score the best-val checkpoint on val (and test when labelled) and write results.json atomically."""

    best = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    model.load_state_dict(best["model"])
    epochs = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines() if l.strip()]
    results: dict[str, Any] = {
        "run": run_dir.name,
        "config_hash": config_hash(cfg),
        "config": to_dict(cfg),
        "model": cfg.model.name,
        "num_params": n_params,
        "best_epoch": best["epoch"] + 1,
        "data_root": str(root),
        "precision": {"used": cfg.runtime.precision, "reason": precision.reason if precision else "as configured"},
        "timings": {
            "train_seconds": sum(e["train_seconds"] for e in epochs),
            "eval_seconds": sum(e["eval_seconds"] for e in epochs),
            "clips_per_s": float(np.mean([e["clips_per_s"] for e in epochs])) if epochs else 0.0,
            "data_wait_fraction": float(np.mean([e["data_wait_fraction"] for e in epochs])) if epochs else 0.0,
        },
        "environment": {
            "torch": torch.__version__,
            "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
            "cpu": platform.processor() or platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads(),
            "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        },
    }
    splits = [cfg.data.val_split] + ([cfg.data.test_split] if cfg.runtime.eval_test else [])
    for split in splits:
        if split == cfg.data.val_split and best_val is not None:  # scored by this process with these weights
            _record_split(results, run_dir, "val", best_val, log)
            continue
        ds = build_dataset(cfg, root, split, model, train=False)
        if not getattr(ds, "has_labels", True):
            log(f"{split}: labels withheld (real MA-52 test split); use `ma52 submit` for Codabench")
            continue
        loader = build_loader(cfg, ds, train=False)
        pred = predict_loader(model, loader, device, bf16=uses_bf16(cfg), desc=split, gather=False)
        _record_split(results, run_dir, "val" if split == cfg.data.val_split else "test", pred, log)
    atomic_write_text(run_dir / "results.json", json.dumps(results, indent=1, default=_json_default) + "\n")
    return results


def _record_split(results: dict[str, Any], run_dir: Path, kind: str, pred: dict[str, Any],
                  log: Callable[[str], None]) -> None:
    """Metrics of one scored split into ``results``, its per-clip predictions beside them, one log line."""
    metrics = compute_metrics(pred["probs"], pred["labels"])
    results[kind] = metrics
    results[f"{kind}_skipped"] = pred["skipped"]
    save_predictions(run_dir, kind, pred)  # per-clip scores: intervals and paired comparisons need them
    log(f"{kind}: " + ", ".join(f"{k} {v:.2f}" for k, v in scalar_metrics(metrics).items()))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, float) and math.isnan(obj):
        return None
    raise TypeError(f"not JSON serialisable: {type(obj)}")
