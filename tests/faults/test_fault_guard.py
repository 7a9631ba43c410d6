"""Runs that cannot collide, checks before work, video gaps, and Ctrl-C that always ends (issue 41).

In-process cases use the shared tiny dataset and reference run; each Ctrl-C case is one child process
(the real command line, tests/faults/ctrlc_child.py) that is interrupted on an event it announces (a line it
prints, a file it writes, torch being loaded), never after a guessed sleep.
"""

from __future__ import annotations

import math
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ma52lib.cli import main
from ma52lib.config import make_config
from ma52lib.config_checks import check_config
from ma52lib.data import VideoError, check_dataset, read_list
from ma52lib.engine import step as step_module
from ma52lib.engine.runguard import lock_path
from ma52lib.engine.train import TrainingError, train
from ma52lib.files import file_lock
from ma52lib.models.convert import read_state_dict

from faultkit import FAULT_OVERRIDES, HERE, PROJECT, child_env, copy_run, fault_cfg
from videotools import gray_frames, write_test_video

WAIT_S = 120  # every wait on a child: generous for a loaded 2-core machine

HOLD_RUN_LOCK = """
import fcntl, os, sys
fh = open(sys.argv[1], "a+")
fcntl.flock(fh, fcntl.LOCK_EX)
fh.seek(0); fh.truncate(); fh.write(f"pid {os.getpid()} since now\\n"); fh.flush()
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def damaged_data(fault_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny dataset with its first val video emptied (0 bytes) and its first train video cut to 1 frame."""
    root = tmp_path_factory.mktemp("damaged") / "data"
    shutil.copytree(fault_data, root)
    (root / "videos_val" / read_list(root / "val_list_videos.txt")[0].path).write_bytes(b"")
    short = root / "videos_train" / read_list(root / "train_list_videos.txt")[0].path
    write_test_video(short, gray_frames(1, 40, 32))
    return root


@pytest.mark.fault_case(
    group="training", case="two identical trainings at once (two shells, two `make book`) on one run folder",
    kept="the first run, undisturbed; the second names the holder's pid, waits for it, then reuses its finished run")
def test_second_identical_run_waits_then_reuses(fault, fault_data, reference_run, tmp_path):
    run = copy_run(reference_run, tmp_path / "run")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_RUN_LOCK, str(lock_path(run))], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    said: list[str] = []

    def echo(message: str) -> None:
        said.append(fault.saw(message))
        if message.startswith("waiting"):
            holder.stdin.close()  # the first run ends while the second waits for it

    before = (run / "metrics.jsonl").read_text()
    assert train(fault_cfg(fault_data), out=run, echo=echo) == run
    assert holder.wait(timeout=WAIT_S) == 0
    assert f"pid {holder.pid}" in said[0] and said[1].startswith("reusing finished run")
    assert (run / "metrics.jsonl").read_text() == before  # epoch 1 recorded once, checkpoints untouched


BAD_KEPT = "everything: the error names the field the user set, before any pretraining, data read or run folder"
BAD_VALUES = [
    ({"data.crop_size": 64}, "data.crop_size=64 is larger than data.short_side=40", "--set data.crop_size=64 with "
     "short side 40 (it failed after an 83 s pretraining)"),
    ({"optim.batch_size": 0}, "optim.batch_size (--batch-size) must be at least 1", "--batch-size 0"),
    ({"model.num_segments": 0}, "model.num_segments must be at least 1", "--set model.num_segments=0"),
    ({"optim.lr": math.nan}, "optim.lr (--lr) must be a finite number above 0", "--lr nan"),
    ({"optim.epochs": -3}, "optim.epochs (--epochs) must be at least 1", "--epochs -3 (was blamed on warmup_epochs)"),
]


@pytest.mark.parametrize("overrides,expected", [
    pytest.param(overrides, expected, id=next(iter(overrides)),
                 marks=pytest.mark.fault_case(group="configuration", case=case, kept=BAD_KEPT))
    for overrides, expected, case in BAD_VALUES])
def test_bad_value_stops_before_any_work(fault, tmp_path, overrides, expected):
    out = tmp_path / "runs" / "run"
    with pytest.raises(ValueError) as info:  # the data root does not exist: nothing may read it first
        train(fault_cfg(tmp_path / "no-data", **overrides), out=out, echo=None)
    assert expected in fault.saw(info.value)
    assert not out.parent.exists()


@pytest.mark.fault_case(
    group="configuration", case="contradictions: train on the val split, milestones after the last epoch",
    kept="the run goes on, after a warning that says why the result would mislead")
def test_contradictions_are_said(fault):
    warnings = check_config(make_config("smoke", {"data.train_split": "val", "optim.milestones": "5,9",
                                                  "optim.epochs": 2, "optim.schedule": "step"}))
    text = fault.saw(" | ".join(warnings))
    assert "data.train_split='val' is also data.val_split" in text and "lr never decays" in text


@pytest.mark.fault_case(
    group="videos", case="a 0-byte val video",
    kept="everything: the run stops in seconds naming the file, before an epoch and before a run folder")
def test_empty_val_video_fails_before_training(fault, damaged_data, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(VideoError) as info:
        train(fault_cfg(damaged_data), out=out, echo=None)
    assert "is empty (0 bytes)" in fault.saw(info.value) and "videos_val" in str(info.value)
    assert not out.exists()


@pytest.mark.fault_case(
    group="training", case="a run that fails in its first epoch (loss nan)",
    kept="the run folder, whose train.log says why and that a rerun starts clean (no --resume: no checkpoint)")
def test_failed_first_epoch_leaves_no_folder(fault, fault_data, tmp_path, monkeypatch):
    real = step_module.compute_loss
    monkeypatch.setattr(step_module, "compute_loss", lambda *args: (real(*args)[0] * math.nan, real(*args)[1]))
    out = tmp_path / "run"
    with pytest.raises(TrainingError) as info:
        train(fault_cfg(fault_data), out=out, echo=None)
    text = fault.saw(info.value)
    assert "rerun" in text and "--resume" not in text
    assert "starts the run again from the beginning" in fault.saw((out / "train.log").read_text().splitlines()[-1])


@pytest.mark.fault_case(
    group="videos", case="a 1-frame clip: `data check`, and `predict` on a good, a 1-frame and a broken file",
    kept="data check flags the short clip; predict answers the good file, then lists the other two, exit 1")
def test_short_and_broken_clips_in_check_and_predict(fault, damaged_data, reference_run, tmp_path, capsys):
    report = check_dataset(damaged_data, max_probe=100)
    assert report.splits["train"].short and "short clips: 1" in fault.saw(report.format())
    good = damaged_data / "videos_test" / read_list(damaged_data / "test_list_videos.txt")[0].path
    short = damaged_data / "videos_train" / read_list(damaged_data / "train_list_videos.txt")[0].path
    broken = damaged_data / "videos_val" / read_list(damaged_data / "val_list_videos.txt")[0].path
    assert main(["predict", "--run", str(reference_run), str(good), str(short), str(broken)]) == 1
    out, err = capsys.readouterr()
    fault.saw(err)
    assert out.startswith(str(good)) and "  1. " in out
    assert "1 frame(s), fewer than the 4 the model samples" in err and "is empty (0 bytes)" in err


@pytest.mark.fault_case(
    group="checkpoints", case="`import-official` given a folder instead of the .pth file",
    kept="nothing is written; the message says it is a folder and names the .pth files in it")
def test_import_official_on_a_folder(fault, tmp_path):
    (tmp_path / "manet.pth").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as info:
        read_state_dict(tmp_path)
    assert "is a folder, not a file" in fault.saw(info.value) and "manet.pth" in str(info.value)


# -- Ctrl-C: one child process per case ---------------------------------------------------------------------

def _child(args: list[str], at: str = "") -> subprocess.Popen:
    env = dict(child_env(), PYTHONUNBUFFERED="1", CTRLC_AT=at)
    proc = subprocess.Popen([sys.executable, str(HERE / "ctrlc_child.py"), *args], cwd=PROJECT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(WAIT_S, proc.kill)  # a hang fails the test instead of the suite
    watchdog.daemon = True  # never keeps pytest waiting at its exit
    watchdog.start()
    return proc


def _wait_for_line(proc: subprocess.Popen, wanted: str) -> None:
    for line in proc.stdout:
        if line.strip() == wanted:
            return
    pytest.fail(f"the child ended before printing {wanted!r}: {proc.stderr.read()[-2000:]}")


def _wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT_S} s for {what}")
        time.sleep(0.05)


def _press(proc: subprocess.Popen, presses: int) -> tuple[int, str]:
    """Ctrl-C ``presses`` times (the second during the first's cleanup); (exit code, stderr)."""
    for n in range(presses):
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        if n + 1 < presses:
            time.sleep(0.2)
    _, err = proc.communicate(timeout=WAIT_S)
    return proc.returncode, err


def _assert_one_line(fault, rc: int, err: str, *expected: str) -> None:
    fault.saw(err.strip() or "(nothing)")
    assert rc in (130, -signal.SIGINT) and "Traceback" not in err and "Exception ignored" not in err
    assert len(err.strip().splitlines()) <= 2 and any(e in err for e in expected), err


def _train_args(data: Path, out: Path) -> list[str]:
    flags = [f"--set={key}={value}" for key, value in FAULT_OVERRIDES.items()]
    return ["train", "--profile", "smoke", "--data-root", str(data), "--out", str(out), *flags]


@pytest.mark.fault_case(
    group="Ctrl-C", case="Ctrl-C once while `ma52` starts (torch being imported)",
    kept="nothing was done; one line instead of the import machinery's traceback")
def test_ctrl_c_at_start_up(fault):
    env = dict(child_env(), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "ma52lib.cli", "models"], cwd=PROJECT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    maps = Path(f"/proc/{proc.pid}/maps")
    _wait_until(lambda: proc.poll() is not None or "libtorch" in maps.read_text(), "torch to load")
    rc, err = _press(proc, 1)
    _assert_one_line(fault, rc, err, "while starting", "interrupted (Ctrl-C)")


def _synth_interrupted(fault, tmp_path: Path, presses: int) -> str:
    out = tmp_path / "synth"
    proc = _child(["synth", "--profile", "smoke", "--out", str(out), "--workers", "2", "--quiet"])
    _wait_until(lambda: proc.poll() is not None or any(tmp_path.glob(".synth.partial/videos_*/*.mp4")),
                "the first rendered clip")
    workers = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    rc, err = _press(proc, presses)
    _wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), "the workers to end")
    _assert_one_line(fault, rc, err, "interrupted (Ctrl-C)", "interrupted again")
    assert not out.exists()
    return err


@pytest.mark.fault_case(
    group="Ctrl-C", case="Ctrl-C once while `ma52 synth` renders",
    kept="the clips rendered so far, no dataset that looks complete; one line: the same command continues")
def test_ctrl_c_once_mid_render(fault, tmp_path):
    err = _synth_interrupted(fault, tmp_path, 1)
    assert "run the same command again and it continues" in err and "--resume" not in err
    # What the next run continues from (test_synth: it ends with the bytes of an uninterrupted render).
    assert list(tmp_path.glob(".synth.partial/videos_*/*.mp4"))


@pytest.mark.fault_case(
    group="Ctrl-C", case="Ctrl-C twice while `ma52 synth` renders",
    kept="stops at once, workers included (no hang); the clips rendered so far, which the next run continues")
def test_ctrl_c_twice_mid_render(fault, tmp_path):
    _synth_interrupted(fault, tmp_path, 2)


def _train_interrupted(fault, data: Path, tmp_path: Path, at: str, line: str, presses: int,
                       *expected: str) -> tuple[Path, str]:
    """Ctrl-C ``presses`` times once the training child prints ``line``: one line out, the run's lock free after."""
    out = tmp_path / "run"
    proc = _child(_train_args(data, out), at=at)
    _wait_for_line(proc, line)
    rc, err = _press(proc, presses)
    _assert_one_line(fault, rc, err, *expected)
    with file_lock(lock_path(out), wait=False):
        pass
    return out, err


@pytest.mark.fault_case(
    group="Ctrl-C", case="Ctrl-C once in the middle of a training epoch (before the first checkpoint)",
    kept="no held lock; train.log says it was interrupted and that a rerun starts clean; one line on the console")
def test_ctrl_c_once_mid_epoch(fault, fault_data, tmp_path):
    out, err = _train_interrupted(fault, fault_data, tmp_path, "step", "step", 1, "interrupted (Ctrl-C)")
    assert "--resume" in err and "interrupted (Ctrl-C); no checkpoint" in (out / "train.log").read_text()


@pytest.mark.fault_case(
    group="Ctrl-C", case="Ctrl-C twice during a validation",
    kept="stops at once: no traceback, no 'Exception ignored'; the run's lock goes with the process")
def test_ctrl_c_twice_mid_evaluation(fault, fault_data, tmp_path):
    _train_interrupted(fault, fault_data, tmp_path, "eval", "evaluating", 2, "interrupted (Ctrl-C)",
                       "interrupted again")
