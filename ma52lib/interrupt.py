"""Ctrl-C for the command line: one press stops with one line, a second press stops at once; never a traceback.

``install`` (done by ``ma52lib/__init__.py`` when the process is the ``ma52`` command, before torch is
imported, so a press during the slow imports is covered too):

- the first SIGINT raises ``KeyboardInterrupt`` as Python would; ``cli.main`` catches it, lets the
  ``finally`` blocks release locks and remove partial files, and prints ``stopped_message`` of the command;
- a second SIGINT (cleanup taking too long: a pool finishing its clips, a loader joining its workers)
  ends the child processes and this one at once with status 130 (partial files a rerun removes);
- a ``KeyboardInterrupt`` nobody caught (a press during the imports) prints one line instead of the
  import machinery's traceback.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from multiprocessing import forkserver, resource_tracker
from pathlib import Path
from types import FrameType, TracebackType

_presses = 0
_previous_hook = sys.excepthook

# What one press keeps, per command; the rest get DEFAULT.
STOPPED: dict[str, str] = {
    "train": "the checkpoints of finished epochs are kept: the same command with --resume continues the run "
             "(without a checkpoint yet, the same command starts it again)",
    "synth": "the clips rendered so far are kept: run the same command again and it continues from them",
    "reproduce": "finished runs and chapters are kept: run the same command again and it continues from them",
    "pretrain": "a finished pretraining is kept, an unfinished one is not: run the same command again",
}
DEFAULT = "nothing partial was written: run the same command again"


def stopped_message(command: str | None) -> str:
    """The one line printed when ``command`` is stopped by Ctrl-C."""
    return f"interrupted (Ctrl-C): {STOPPED.get(command or '', DEFAULT)}"


def is_cli() -> bool:
    """Whether this process is the ``ma52`` command (the console script or ``python -m ma52lib.cli``)."""
    if Path(sys.argv[0]).name == "ma52":
        return True
    orig = getattr(sys, "orig_argv", [])
    return orig[1:3] == ["-m", "ma52lib.cli"]


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _presses
    _presses += 1
    if _presses == 1 or multiprocessing.parent_process() is not None:
        raise KeyboardInterrupt
    os.write(2, b"\ninterrupted again: stopped at once (partial files are removed by the next run)\n")
    _kill_children()
    os._exit(130)


def _kill_children() -> None:
    """End this process's workers, and the fork server and resource tracker that would otherwise print
    tracebacks and leak warnings once we are gone (multiprocessing keeps their pids in private fields)."""
    for child in multiprocessing.active_children():
        child.kill()
    stop_fork_server()
    pid = getattr(getattr(resource_tracker, "_resource_tracker", None), "_pid", None)
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def stop_fork_server() -> None:
    """Kill the fork server and the processes it forked (a worker forked for a pool that an interrupt ended is
    no child of ours and would wait for its orders forever; the server itself outlives an interrupted pool)."""
    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    if not pid:
        return
    children = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError, ValueError):
        for child in children.read_text().split():
            os.kill(int(child), signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def _excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        os.write(2, b"interrupted (Ctrl-C) while starting: nothing was done\n")
        return
    _previous_hook(kind, value, tb)


def install() -> None:
    """Take over SIGINT and uncaught ``KeyboardInterrupt`` for this process (the CLI's main thread only)."""
    signal.signal(signal.SIGINT, _on_sigint)
    sys.excepthook = _excepthook


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C back for the block (starting worker processes), and deliver it right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def ignore_in_worker() -> None:
    """For worker processes: leave Ctrl-C to the main process, which stops the pool and the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


__all__ = [
    "STOPPED", "deferred_interrupt", "ignore_in_worker", "install", "is_cli", "stop_fork_server", "stopped_message",
]
