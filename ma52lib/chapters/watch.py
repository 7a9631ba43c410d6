"""Progress of `ma52 reproduce` while a chapter executes: the trainings inside the papermill kernel, seen from outside.

The kernel's engine appends JSON lines to the file named by ``MA52_PROGRESS`` (``engine.progress.report``); a
thread here tails it and says, per training, the model, the epoch, clips/s and the ETA of the run, the chapter
and the book (from the plan, ``chapters.plan``). On a terminal one live tqdm bar; elsewhere (a log, CI) plain
lines, one per run and epoch and at most every ``LINE_EVERY_S`` in between; never more than ``QUIET_S`` silent.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

from tqdm import tqdm

from ma52lib.chapters.plan import ChapterPlan, Plan, PlannedRun
from ma52lib.engine.progress import PROGRESS_ENV

LINE_EVERY_S = 20.0  # plain lines within an epoch
QUIET_S = 30.0  # the longest silence: a "still running" line after it
POLL_S = 1.0


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) of a duration."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Watch:
    """Says how a build goes: ``chapter(name)`` watches one chapter's execution (a context manager)."""

    def __init__(self, plan: Plan | None, *, stream: TextIO | None = None, tty: bool | None = None,
                 echo: Callable[[str], None] | None = None) -> None:
        self.plan, self.stream = plan, stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.echo = echo or (lambda line: print(line, file=self.stream, flush=True))
        self.done_chapters: set[str] = set()
        self._reset("")

    def _reset(self, chapter: str) -> None:
        self.name, self.t0, self.last_out, self.last_step = chapter, time.monotonic(), time.monotonic(), 0.0
        self.finished: set[str] = set()  # run folders done (trained, or reused) in this chapter
        self.current: dict[str, Any] | None = None  # the latest step of the training under way
        self.epoch_key: tuple[str, int] | None = None
        self.bar: tqdm | None = None

    # -- the ETAs ---------------------------------------------------------------------------------------
    def _chapter_plan(self) -> ChapterPlan | None:
        return self.plan.chapter(self.name) if self.plan else None

    def _planned(self, run: str) -> PlannedRun | None:
        chapter = self._chapter_plan()
        return next((r for r in chapter.runs if r.run_dir.name == run), None) if chapter else None

    def run_eta(self) -> float | None:
        """Seconds left of the training under way: its clips at the measured rate, plus its planned scoring."""
        step = self.current
        if not step or not step.get("clips_s"):
            return None
        left = (step["epochs"] - step["epoch"]) * step["clips"] + step["clips"] - step["seen"]
        planned = self._planned(step.get("run", ""))
        scoring = planned.seconds - planned.train_seconds if planned else 0.0
        return left / step["clips_s"] + max(scoring, 0.0)

    def chapter_eta(self) -> float:
        """Seconds left of this chapter: the run under way, the runs not started, the chapter's own work."""
        chapter = self._chapter_plan()
        if chapter is None or chapter.cached:
            return 0.0
        current = self.current.get("run") if self.current else None
        pending = sum(r.seconds for r in chapter.runs if r.state in ("train", "resume")
                      and r.run_dir.name not in self.finished and r.run_dir.name != current)
        now = self.run_eta()
        if now is None:  # no training under way: the plan's time less what has passed
            return max(chapter.seconds - (time.monotonic() - self.t0), pending)
        return now + pending + chapter.own_seconds

    def book_eta(self) -> float:
        """Seconds left of the build: this step, the steps after it (jupyter-book the last)."""
        if self.plan is None:
            return 0.0
        names = [c.name for c in self.plan.chapters]
        later = names[names.index(self.name) + 1:] if self.name in names else []
        rest = sum(c.seconds for c in self.plan.chapters if c.name in later)
        return self.chapter_eta() + rest

    def etas(self) -> str:
        run = self.run_eta()
        parts = [f"run ETA {clock(run)}"] if run is not None else []
        if self.plan is not None:
            parts += [f"chapter ETA {clock(self.chapter_eta())}", f"book ETA {clock(self.book_eta())}"]
        return ", ".join(parts)

    # -- the events -------------------------------------------------------------------------------------
    def handle(self, event: dict[str, Any]) -> None:
        """One line of the progress file: say it (or update the bar) as it deserves."""
        kind = event.get("event")
        if kind == "run":
            start = event.get("start_epoch", 0)
            self.current = {**event, "epoch": start, "seen": 0, "clips_s": 0.0}
            what = f"resumed at epoch {start + 1}" if start else "training"
            self._say(f"{event['model']} {what} ({event['epochs']} epochs, {event['clips']} clips) -> {event['run']}")
        elif kind == "step" and self.current:
            self.current.update({k: event[k] for k in ("epoch", "epochs", "seen", "clips", "clips_s") if k in event})
            self._step()
        elif kind in ("done", "reused"):
            self.finished.add(event.get("run", ""))
            if kind == "done":
                self._close_bar()
                self.current = None
                self._say(f"{event['model']} done -> {event['run']}; {self.etas()}")
        elif kind == "pretrain":
            stage = "rendering stills" if not event.get("epoch") else f"epoch {event['epoch']}/{event['epochs']}"
            self._say(f"pretraining the ImageNet analogue {event['run']}: {stage}")

    def _step(self) -> None:
        step = self.current or {}
        line = (f"{step['model']} epoch {step['epoch']}/{step['epochs']}, {step['clips_s']:.0f} clips/s, "
                f"{self.etas()}")
        if self.tty:
            self._draw(step, line)
            return
        key = (step.get("run", ""), step["epoch"])
        if key != self.epoch_key or time.monotonic() - self.last_step >= LINE_EVERY_S:
            self.epoch_key, self.last_step = key, time.monotonic()
            self._say(line)

    def _draw(self, step: dict[str, Any], line: str) -> None:
        total = step["epochs"] * step["clips"]
        if self.bar is None or self.bar.total != total:
            self._close_bar()
            self.bar = tqdm(total=total, file=self.stream, unit="clip", dynamic_ncols=True, leave=False)
        self.bar.set_description_str(f"{self.name}: {line}", refresh=False)
        self.bar.n = (step["epoch"] - 1) * step["clips"] + step["seen"]
        self.bar.refresh()
        self.last_out = time.monotonic()

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _say(self, text: str) -> None:
        line = f"  {self.name}: {text}"
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            self.echo(line)
        self.last_out = time.monotonic()

    def heartbeat(self) -> None:
        """A line (or a redrawn bar) when nothing was said for ``QUIET_S``."""
        if time.monotonic() - self.last_out < QUIET_S:
            return
        if self.bar is not None:
            self.bar.refresh()
            self.last_out = time.monotonic()
            return
        etas = self.etas()
        self._say(f"still running ({clock(time.monotonic() - self.t0)} so far{', ' + etas if etas else ''})")

    # -- the thread -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def chapter(self, name: str, progress_file: Path) -> Iterator[None]:
        """Watch chapter ``name``: ``MA52_PROGRESS`` names ``progress_file`` for the block (the kernel inherits it)."""
        self._reset(name)
        progress_file.parent.mkdir(parents=True, exist_ok=True)
        progress_file.write_text("")
        saved = os.environ.get(PROGRESS_ENV)
        os.environ[PROGRESS_ENV] = str(progress_file)
        stop = threading.Event()
        thread = threading.Thread(target=self._tail, args=(progress_file, stop), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self._close_bar()
            self.done_chapters.add(name)
            if saved is None:
                os.environ.pop(PROGRESS_ENV, None)
            else:
                os.environ[PROGRESS_ENV] = saved

    def _tail(self, path: Path, stop: threading.Event) -> None:
        offset, partial = 0, ""
        while True:
            finished = stop.wait(POLL_S)
            with contextlib.suppress(OSError):
                with open(path) as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                    offset = fh.tell()
                lines = (partial + chunk).split("\n")
                partial = lines.pop()  # a line still being written
                for line in lines:
                    with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
                        self.handle(json.loads(line))
            if finished:
                return
            self.heartbeat()
