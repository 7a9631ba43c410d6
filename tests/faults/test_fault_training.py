"""Training faults: SIGKILL at random points and mid-write, damaged checkpoints, a full disk.

Each interrupted run is continued with ``resume=True`` and must end bit-for-bit equal to the
uninterrupted reference run (CPU, one thread, fp32).
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from ma52lib.engine import train as train_mod
from ma52lib.engine.checkpoint import CheckpointError, load_checkpoint
from ma52lib.engine.train import TrainingError, train
from ma52lib.files import DiskFullError

from faultkit import (
    FAULT_OVERRIDES,
    STEPS_PER_EPOCH,
    assert_same_run,
    copy_run,
    fault_cfg,
    run_training_child,
    start_training_child,
)

SEED = 20240601  # picks the kill points; fixed so a failure can be replayed


def _child_spec(root: Path, out: Path, kill: dict, *, resume: bool, **extra) -> dict:
    return {"root": str(root), "out": str(out), "overrides": FAULT_OVERRIDES, "resume": resume, "kill": kill,
            **extra}


def _log(run: Path) -> str:
    return (run / "train.log").read_text()


def _resume_line(run: Path) -> str:
    return next(line.split(" ", 2)[2] for line in _log(run).splitlines() if "resumed from" in line)


@pytest.mark.fault_case(
    group="training", case="process killed (SIGKILL) at a random step of an epoch, then --resume",
    kept="the checkpoint of the last finished epoch; --resume redoes the cut epoch and ends equal to an "
         "uninterrupted run (metrics, losses, weights)")
def test_sigkill_at_a_random_step(fault, fault_data, epoch1_run, reference_run, tmp_path):
    run = copy_run(epoch1_run, tmp_path / "run")
    step = random.Random(SEED).randint(1, STEPS_PER_EPOCH)  # a step of epoch 2
    code, out = run_training_child(_child_spec(fault_data, run, {"at": "step", "n": step}, resume=True), tmp_path)
    assert code == -signal.SIGKILL, out
    assert not (run / "results.json").exists()
    with pytest.raises(TrainingError, match="--resume") as info:
        train(fault_cfg(fault_data), out=run, echo=None)  # forgetting --resume never overwrites the run
    fault.saw(info.value)
    train(fault_cfg(fault_data), out=run, resume=True, echo=None)
    assert "checkpoints/last.pt (epoch 1 done" in fault.saw(_resume_line(run))
    assert_same_run(reference_run, run)


@pytest.mark.fault_case(
    group="training", case="process killed (SIGKILL) from outside at a random moment after the first "
    "checkpoint (training, validation or a write), then --resume",
    kept="whatever was last checkpointed; --resume ends equal to an uninterrupted run")
def test_sigkill_after_a_random_delay(fault, fault_data, reference_run, tmp_path):
    run = tmp_path / "run"
    # 0.4 s of sleep after each step keeps epoch 2 and the final scoring longer than the longest delay.
    proc = start_training_child(
        _child_spec(fault_data, run, {"at": "none"}, resume=False, step_sleep=0.4), tmp_path)
    deadline = time.monotonic() + 240
    while not (run / "checkpoints" / "last.pt.sha256").exists():  # epoch 1 is safely on disk
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0] if proc.poll() else "slow"
        time.sleep(0.02)
    time.sleep(random.Random(SEED).uniform(0.0, 1.2))
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the child finished before the kill: {out}"
    assert not (run / "results.json").exists()
    train(fault_cfg(fault_data), out=run, resume=True, echo=None)
    assert "(epoch " in fault.saw(_resume_line(run))
    assert_same_run(reference_run, run)


@pytest.mark.fault_case(
    group="training", case="process killed while writing a checkpoint (half of last.pt written)",
    kept="the previous complete last.pt: the half-written temporary file is never loaded and is deleted on "
         "--resume, which ends equal to an uninterrupted run")
def test_sigkill_while_writing_a_checkpoint(fault, fault_data, epoch1_run, reference_run, tmp_path):
    run = copy_run(epoch1_run, tmp_path / "run")
    fraction = random.Random(SEED).uniform(0.1, 0.9)
    kill = {"at": "write", "name": "last.pt", "nth": 1, "fraction": fraction}
    code, out = run_training_child(_child_spec(fault_data, run, kill, resume=True), tmp_path)
    assert code == -signal.SIGKILL, out
    partial = list((run / "checkpoints").glob(".last.pt.*.tmp"))
    assert len(partial) == 1 and partial[0].stat().st_size > 0
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 0  # still epoch 1's, intact
    train(fault_cfg(fault_data), out=run, resume=True, echo=None)
    assert "checkpoints/last.pt (epoch 1 done" in fault.saw(_resume_line(run))
    assert not list((run / "checkpoints").glob(".*.tmp"))
    assert_same_run(reference_run, run)


@pytest.mark.fault_case(
    group="training", case="process killed while writing results.json",
    kept="all checkpoints and metrics.jsonl; no partial results.json; --resume only re-scores the best "
         "checkpoint (no epoch is retrained)")
def test_sigkill_while_writing_results(fault, fault_data, reference_run, tmp_path):
    run = copy_run(reference_run, tmp_path / "run", drop=("results.json",))  # trained, not yet scored
    metrics = (run / "metrics.jsonl").read_bytes()
    fraction = random.Random(SEED + 1).uniform(0.1, 0.9)
    kill = {"at": "write", "name": "results.json", "nth": 1, "fraction": fraction}
    code, out = run_training_child(_child_spec(fault_data, run, kill, resume=True), tmp_path)
    assert code == -signal.SIGKILL, out
    assert not (run / "results.json").exists() and list(run.glob(".results.json.*.tmp"))
    with pytest.raises(TrainingError) as info:
        train(fault_cfg(fault_data), out=run, echo=None)
    fault.saw(info.value)
    train(fault_cfg(fault_data), out=run, resume=True, echo=None)
    assert "(epoch 2 done" in fault.saw(_resume_line(run))
    assert (run / "metrics.jsonl").read_bytes() == metrics  # nothing retrained
    assert not list(run.glob(".*.tmp"))
    assert_same_run(reference_run, run)


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:
        data[len(data) // 2] ^= 0xFF  # one flipped byte inside the tensor data
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", [
    pytest.param("truncated", marks=pytest.mark.fault_case(
        group="training", case="truncated checkpoint (last.pt cut in half), then --resume",
        kept="last.prev.pt, the previous good checkpoint: --resume falls back to it by itself and ends equal "
             "to an uninterrupted run")),
    pytest.param("tampered", marks=pytest.mark.fault_case(
        group="training", case="tampered checkpoint (one byte of last.pt changed), then --resume",
        kept="last.prev.pt: the change is caught by the .sha256 digest, --resume falls back and ends equal "
             "to an uninterrupted run")),
])
def test_damaged_checkpoint_falls_back_to_the_previous_one(how, fault, fault_data, reference_run, tmp_path):
    run = copy_run(reference_run, tmp_path / "run", drop=("results.json",))
    _damage(run / "checkpoints" / "last.pt", how)
    with pytest.raises(CheckpointError, match="does not match its digest") as info:
        load_checkpoint(run / "checkpoints" / "last.pt")
    assert "last.pt" in fault.saw(info.value)
    train(fault_cfg(fault_data), out=run, resume=True, echo=None)
    assert "checkpoints/last.prev.pt (epoch 1 done" in fault.saw(_resume_line(run))
    assert "warning: checkpoint" in _log(run)
    assert_same_run(reference_run, run)


@pytest.mark.fault_case(
    group="training", case="both checkpoints damaged (last.pt and last.prev.pt), then --resume",
    kept="every file as it was (nothing is overwritten); the message says how to start over")
def test_no_usable_checkpoint_is_a_clear_error(fault, fault_data, reference_run, tmp_path):
    run = copy_run(reference_run, tmp_path / "run", drop=("results.json",))
    for name in ("last.pt", "last.prev.pt"):
        _damage(run / "checkpoints" / name, "truncated")
    before = {p: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    with pytest.raises(CheckpointError, match="no usable checkpoint") as info:
        train(fault_cfg(fault_data), out=run, resume=True, echo=None)
    assert "--force" in fault.saw(info.value)
    assert {p: p.read_bytes() for p in (run / "checkpoints").iterdir()} == before


def _fail_writes_of(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Make fsync of temporary files for ``name`` fail with ENOSPC, as a full disk does; returns a hit log."""
    hits: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        if os.path.basename(target).startswith(f".{name}."):
            hits.append(target)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return hits


@pytest.mark.fault_case(
    group="training", case="disk full while writing a checkpoint (simulated failing write)",
    kept="the previous last.pt, untouched, and no temporary file; after freeing space --resume ends equal "
         "to an uninterrupted run")
def test_disk_full_while_writing_a_checkpoint(fault, fault_data, epoch1_run, reference_run, tmp_path, monkeypatch):
    run = copy_run(epoch1_run, tmp_path / "run")
    good = (run / "checkpoints" / "last.pt").read_bytes()
    hits = _fail_writes_of(monkeypatch, "last.pt")
    with pytest.raises(DiskFullError) as info:
        train(fault_cfg(fault_data), out=run, resume=True, echo=None)
    message = fault.saw(info.value)
    assert hits and "disk full while writing" in message and "last.pt is kept unchanged" in message
    assert (run / "checkpoints" / "last.pt").read_bytes() == good
    assert not list((run / "checkpoints").glob(".*.tmp"))
    monkeypatch.undo()  # space freed
    train(fault_cfg(fault_data), out=run, resume=True, echo=None)
    assert_same_run(reference_run, run)


@pytest.mark.fault_case(
    group="training", case="disk full while writing results.json of a retraining (--force)",
    kept="the previous results (moved to results.replaced.json byte for byte), all checkpoints; after "
         "freeing space --resume writes results.json without retraining")
def test_disk_full_while_writing_results(fault, fault_data, reference_run, tmp_path, monkeypatch):
    run = copy_run(reference_run, tmp_path / "run")
    previous = (run / "results.json").read_bytes()
    hits = _fail_writes_of(monkeypatch, "results.json")
    said: list[str] = []
    with pytest.raises(DiskFullError) as info:
        train(fault_cfg(fault_data), out=run, force=True, echo=said.append)
    assert "results.replaced.json" in fault.saw(said[0])
    assert hits and "disk full while writing" in fault.saw(info.value)
    assert (run / "results.replaced.json").read_bytes() == previous
    assert not (run / "results.json").exists() and not list(run.glob(".*.tmp"))
    metrics = (run / "metrics.jsonl").read_bytes()
    monkeypatch.undo()
    train(fault_cfg(fault_data), out=run, resume=True, echo=None)
    assert (run / "metrics.jsonl").read_bytes() == metrics  # scored, not retrained
    assert_same_run(reference_run, run)


@pytest.mark.fault_case(
    group="lists", case="a video listed in train and val: warned when training starts",
    kept="the run goes on; train.log and the console carry the warning with the first leaked file")
def test_leak_is_warned_when_training_starts(fault, fault_data, tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(fault_data, root)
    train_list = (root / "train_list_videos.txt").read_text().splitlines()
    name, label = train_list[0].split()
    leaked = f"leaked_{name}"
    shutil.copy(root / "videos_train" / name, root / "videos_train" / leaked)
    shutil.copy(root / "videos_train" / name, root / "videos_val" / leaked)
    with open(root / "train_list_videos.txt", "a") as fh:
        fh.write(f"{leaked} {label}\r\n")
    with open(root / "val_list_videos.txt", "a") as fh:
        fh.write(f"{leaked} {label}\r\n")

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop  # the warning comes before the first epoch: no need to train

    monkeypatch.setattr(train_mod, "_train_one_epoch", stop)
    seen: list[str] = []
    with pytest.raises(Stop):
        train(fault_cfg(root), out=tmp_path / "run", echo=seen.append)
    warning = [line for line in seen if "leakage" in line]
    assert len(warning) == 1 and leaked in fault.saw(warning[0]) and "1 videos" in warning[0]
    assert "leakage" in json.dumps((tmp_path / "run" / "train.log").read_text())
