"""One process per run folder, and a run folder that says why it stopped.

``run_lock``: two identical trainings (two shells, two ``make book`` in one clone, a book and a
``ma52 train``) share one run folder, named by the config hash. The first holds ``.<name>.lock`` beside
the folder (``flock``: a crashed or killed holder releases it with its process); the second says who
holds it, waits, and then finds the run finished and reuses it, or finds it unfinished and is told so.

``logged_on_failure``: a run that fails or is interrupted says so in its train.log, with what a rerun does
(continue from the last checkpoint with --resume, or start again from the beginning when there is none).
Values and videos are checked before the folder is made, so a mistake in the command leaves no folder.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

from ma52lib.engine import dist
from ma52lib.files import LockHeld, file_lock


def lock_path(run_dir: Path) -> Path:
    """The lock of ``run_dir``: a hidden file beside it, so taking it creates no run folder."""
    run_dir = Path(run_dir)
    return run_dir.parent / f".{run_dir.name}.lock"


@contextlib.contextmanager
def run_lock(run_dir: Path, *, echo: Callable[[str], None] | None = print) -> Iterator[None]:
    """Hold the lock of ``run_dir`` for the block (rank 0 only: the other ranks follow rank 0)."""
    if not dist.is_main():
        yield
        return
    path = lock_path(run_dir)
    try:
        with file_lock(path, wait=False):
            yield
        return
    except LockHeld as held:
        if echo:
            echo(f"waiting: {Path(run_dir).name} is being trained by {held.holder} (same config); this run waits "
                 "for it and then reuses it (Ctrl-C stops waiting)")
    with file_lock(path, wait=True):
        yield


def _has_checkpoint(run_dir: Path) -> bool:
    return any((run_dir / "checkpoints").glob("*.pt"))


@contextlib.contextmanager
def logged_on_failure(run_dir: Path) -> Iterator[None]:
    """When the block fails or is interrupted, say in ``run_dir``'s train.log why, and what a rerun does."""
    run_dir = Path(run_dir)
    try:
        yield
    except BaseException as exc:
        if dist.is_main() and run_dir.is_dir():
            why = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            after = "the last checkpoint is kept; --resume continues from it" if _has_checkpoint(run_dir) else \
                "no checkpoint was written, so the same command starts the run again from the beginning"
            with open(run_dir / "train.log", "a") as fh:
                fh.write(time.strftime("%Y-%m-%d %H:%M:%S ") + f"stopped: {why}; {after}\n")
        raise


__all__ = ["lock_path", "logged_on_failure", "run_lock"]
