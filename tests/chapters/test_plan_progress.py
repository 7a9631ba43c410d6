"""`ma52 reproduce --plan`, the progress lines of trainings inside kernels, and resuming after Ctrl-C."""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import pytest

from ma52lib.chapters import plan as pl
from ma52lib.chapters import watch as wt
from ma52lib.chapters.benchmark import benchmark_configs
from ma52lib.config import make_config
from ma52lib.engine import progress
from ma52lib.engine import train as train_mod
from ma52lib.engine.precision import Choice
from ma52lib.engine.train import default_run_dir, train
from ma52lib.synth.writer import split_counts

from tinydata import make_tiny_dataset

STEP_S, FACTOR = 0.1, 2.0


@pytest.fixture()
def timed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Runs under tmp_path; no timing or precision probe: every step takes STEP_S, the machine FACTOR x slower."""
    monkeypatch.setenv("MA52_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(pl, "step_seconds", lambda cfg: STEP_S)
    monkeypatch.setattr(pl, "speed_factor", lambda: FACTOR)

    def fp32(cfg, **kw):
        return replace(cfg, runtime=replace(cfg.runtime, precision="fp32")), Choice("fp32", "test")

    monkeypatch.setattr(pl, "resolve", fp32)
    monkeypatch.setattr(train_mod, "resolve", fp32)
    return tmp_path / "runs"


def _folder(label: str) -> Path:
    cfg = benchmark_configs("smoke", None)[label]
    return default_run_dir(replace(cfg, runtime=replace(cfg.runtime, precision="fp32")))


def test_plan_lists_reused_resumed_and_new_runs_with_their_arithmetic(timed: Path, tmp_path: Path) -> None:
    finished, unfinished = _folder("tsn"), _folder("tsm")
    finished.mkdir(parents=True)
    (finished / "results.json").write_text("{}")
    (unfinished / "checkpoints").mkdir(parents=True)
    (unfinished / "checkpoints" / "last.pt").write_bytes(b"x")
    (unfinished / "metrics.jsonl").write_text('{"epoch": 1}\n')
    params = {name: {"profile": "smoke", "data_root": None, "seed": 0} for name in ("benchmark", "gradcam", "study")}
    plan = pl.make_plan("smoke", tmp_path / "absent", params, cached=["study"], render=True)

    bench = plan.chapter("benchmark")
    states = {r.label: r.state for r in bench.runs}
    assert states["tsn"] == "reuse" and states["tsm"] == "resume" and states["manet"] == "train"
    assert states["tsn@1"] == "train" and states["tsn@0"] == "shared"  # seed 0 is the benchmark's own run
    assert {r.state for r in plan.chapter("gradcam").runs} == {"shared"}  # the benchmark's, whatever their state
    assert plan.chapter("study").cached and plan.chapter("study").seconds == 0.0
    # The arithmetic: epochs x steps x step x K_TRAIN, + scored clips / batch x step x K_EVAL, + the run's setup.
    counts = {k: sum(v) for k, v in split_counts("smoke").items()}
    manet = next(r for r in bench.runs if r.label == "manet")
    cfg = manet.cfg
    train_s = cfg.optim.epochs * math.ceil(counts["train"] / cfg.optim.batch_size) * STEP_S * pl.K_TRAIN
    assert (cfg.optim.epochs, cfg.runtime.eval_every) == (2, 1)
    scored = counts["val"] * 2 + counts["test"]  # smoke validates after each of its 2 epochs
    ref = pl.REFERENCE["smoke"]
    assert manet.train_seconds == pytest.approx(train_s)
    assert manet.seconds == pytest.approx(train_s + scored / cfg.optim.batch_size * STEP_S * pl.K_EVAL
                                          + ref["run"] * FACTOR)
    tsm = next(r for r in bench.runs if r.label == "tsm")
    assert tsm.done_epochs == 1 and tsm.train_seconds == pytest.approx(train_s / cfg.optim.epochs)
    assert len(bench.pretrain) == len({r.cfg.model.pretrained for r in bench.runs if r.cfg.model.pretrained})
    render = plan.chapters[0]
    assert render.name == pl.RENDER and render.seconds == pytest.approx(plan.render_clips * ref["render_per_clip"]
                                                                           * FACTOR)
    assert plan.seconds == pytest.approx(sum(c.seconds for c in plan.chapters))
    text = "\n".join(pl.format_plan(plan))
    assert "resume at epoch 2 tsm: tsm, 1 of 2 epochs" in text
    assert f"reuse 1 finished run(s): {finished.name}" in text
    assert "study: cached" in text and "estimate: ~" in text


def test_watch_says_model_epoch_rate_and_etas_in_plain_lines(timed: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    params = {"benchmark": {"profile": "smoke", "data_root": None, "seed": 0, "models": None}}
    plan = pl.make_plan("smoke", tmp_path / "absent", params, cached=[], render=False)
    lines: list[str] = []
    watch = wt.Watch(plan, tty=False, echo=lines.append)
    run = next(r for r in plan.chapter("benchmark").runs if r.label == "manet")
    events = [{"event": "run", "run": run.run_dir.name, "model": "manet", "epochs": 2, "start_epoch": 0, "clips": 100},
              {"event": "step", "model": "manet", "epoch": 1, "epochs": 2, "seen": 50, "clips": 100, "clips_s": 25.0},
              {"event": "step", "model": "manet", "epoch": 1, "epochs": 2, "seen": 60, "clips": 100, "clips_s": 25.0},
              {"event": "step", "model": "manet", "epoch": 2, "epochs": 2, "seen": 10, "clips": 100, "clips_s": 20.0},
              {"event": "done", "run": run.run_dir.name, "model": "manet"}]
    with watch.chapter("benchmark", tmp_path / "progress.jsonl"):
        for event in events:  # what the engine in the kernel writes, through the variable the watch set
            progress.report(event.pop("event"), **event)
        time.sleep(2.5 * wt.POLL_S)
    assert lines[0].startswith("  benchmark: manet training (2 epochs, 100 clips)")
    epoch_lines = [line for line in lines if "clips/s" in line]
    assert len(epoch_lines) == 2  # one per epoch: the second step of epoch 1 is within LINE_EVERY_S
    assert "manet epoch 1/2, 25 clips/s, run ETA" in epoch_lines[0] and "book ETA" in epoch_lines[0]
    # run ETA: (1 epoch x 100 + 100 - 50) clips at 25 clips/s = 6 s, plus the run's planned scoring
    scoring = run.seconds - run.train_seconds
    assert f"run ETA {wt.clock(150 / 25 + scoring)}" in epoch_lines[0]
    assert "manet done" in lines[-1]


def test_heartbeat_after_silence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wt, "QUIET_S", 0.5)
    out = io.StringIO()
    watch = wt.Watch(None, stream=out, tty=False)
    with watch.chapter("gradcam", tmp_path / "p.jsonl"):
        time.sleep(2.5 * wt.POLL_S)
    assert "  gradcam: still running (0:0" in out.getvalue()


def test_progress_report_is_silent_without_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    progress.report("run", model="x")  # nowhere to write: nothing happens
    path = tmp_path / "p.jsonl"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(path))
    progress.report("run", model="x", epochs=2)
    assert json.loads(path.read_text())["model"] == "x"


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("ma52tiny"))


def test_ctrl_c_mid_epoch_then_rerun_resumes_and_matches(tiny_root: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_config("smoke", {"data.root": str(tiny_root), "data.num_workers": 0, "optim.epochs": 3,
                                "optim.batch_size": 4, "runtime.precision": "fp32", "runtime.channels_last": False,
                                "model.num_segments": 4})
    full = train(cfg, out=tmp_path / "full", echo=None)

    def ctrl_c(**step):  # Ctrl-C arrives during the second epoch's first step
        if step["epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "report_step", ctrl_c)
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out=part, resume=True, echo=None)
    assert not (part / "results.json").exists()
    assert [json.loads(line)["epoch"] for line in (part / "metrics.jsonl").read_text().splitlines()] == [1]
    assert not list(part.rglob("*.tmp")), "a half-written file was left behind"
    monkeypatch.undo()
    log: list[str] = []
    train(cfg, out=part, resume=True, echo=log.append)
    assert any(line.startswith("resumed from") and "epoch 1 done" in line for line in log)
    a, b = (json.loads((d / "results.json").read_text()) for d in (full, part))
    assert a["val"]["action_top1"] == b["val"]["action_top1"] and a["test"] == b["test"]
    losses = [[json.loads(line)["loss"] for line in (d / "metrics.jsonl").read_text().splitlines()]
              for d in (full, part)]
    assert losses[0] == losses[1]
