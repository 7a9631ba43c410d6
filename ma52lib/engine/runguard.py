"""One process per run folder, and no empty run folder after a failure.

``run_lock``: two identical trainings (two shells, two ``make book`` in one clone, a book and a
``ma52 train``) share one run folder, named by the config hash. The first holds ``.<name>.lock`` beside
the folder (``flock``: a crashed or killed holder releases it with its process); the second says who
holds it, waits, and then finds the run finished and reuses it, or finds it unfinished and is told so.

``cleaned_on_failure``: a run that fails or is interrupted before its first checkpoint leaves nothing (the
folder is removed when this run made it); a later failure leaves the folder with the reason in train.log.
"""

from __future__ import annotations

import contextlib
import shutil
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
def cleaned_on_failure(run_dir: Path, *, existed: bool) -> Iterator[None]:
    """Remove ``run_dir`` when the block fails before its first checkpoint and the folder was not there before
    (``existed``); else say in its train.log why it stopped."""
    run_dir = Path(run_dir)
    try:
        yield
    except BaseException as exc:
        if not dist.is_main() or not run_dir.exists():
            raise
        if not existed and not _has_checkpoint(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing worth keeping: a rerun starts clean
        else:
            why = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            after = "the last checkpoint is kept; --resume continues from it" if _has_checkpoint(run_dir) else \
                "no checkpoint was written; a rerun with --force starts clean"
            with open(run_dir / "train.log", "a") as fh:
                fh.write(time.strftime("%Y-%m-%d %H:%M:%S ") + f"stopped: {why}; {after}\n")
        raise


__all__ = ["cleaned_on_failure", "lock_path", "run_lock"]
