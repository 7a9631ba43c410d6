"""Files that survive kills and full disks: atomic writes, locks, and folders published when complete.

The bottom of the package: it imports nothing from ``ma52lib``, so config, data, engine and the
chapters all write through it.

- ``atomic_write_bytes`` / ``atomic_write_text``: the new bytes go to a fsynced temporary file beside the
  target (``.<name>.*.tmp``, never a finished file; ``remove_stale_temps`` clears those a kill left),
  then replace it in one rename, so a reader sees the old file or the new one, never half of one. A
  full disk raises ``DiskFullError`` and leaves the old file as it was.
- ``file_lock``: an exclusive ``flock`` on a lock file naming its holder; waits, or raises ``LockHeld``.
  A lock held by the asking process's own parent is refused at once (``LockHeldByParent``): the parent
  is waiting for this process, so the wait would never end (a worker re-running an unguarded script).
- ``publish_folder``: a folder built under ``.<name>.partial-<pid>`` and renamed to its name only once
  complete; ``folder_lock`` is the lock beside it that makes two processes asking for the same folder
  build it once.
- ``resumable_folder``: the same under ``.<name>.partial``, kept when the build is interrupted so that the next
  build continues it (MA-52-Synth's render).
- ``publish_file``: the same for one file written by another tool (an encoder, a child process).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

STALE_TEMP = ".*.tmp"  # what write_temp names its files: never a finished file


class DiskFullError(OSError):
    """The disk filled up while a file was written; the previous version of the file is untouched."""

    def __str__(self) -> str:
        return str(self.strerror)  # the whole message, without OSError's "[Errno 28]" prefix


class LockHeld(RuntimeError):
    """Another process holds a lock that was asked for without waiting; ``holder`` says who."""

    def __init__(self, path: Path, holder: str, message: str | None = None) -> None:
        super().__init__(message or f"{path} is held by {holder}")
        self.path = path
        self.holder = holder


class LockHeldByParent(LockHeld):
    """The lock is held by this process's parent, which waits for this process: a wait would never end."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(path, holder, f"{path} is held by this process's parent ({holder}), which waits for this "
                         "process: is this a worker re-running a script whose calls are not under "
                         "`if __name__ == \"__main__\":`? Put them under it")


def _held_by_parent(holder: str) -> bool:
    """Whether a lock file's holder line (``pid N since ...``) names our multiprocessing parent."""
    parent = multiprocessing.parent_process()
    return parent is not None and holder.split()[:2] == ["pid", str(parent.pid)]


def _disk_full(path: Path, err: OSError) -> DiskFullError:
    kept = f"the previous {path.name} is kept unchanged" if path.exists() else f"no partial {path.name} was left"
    return DiskFullError(
        err.errno, f"disk full while writing {path} ({os.strerror(err.errno or errno.ENOSPC)}); {kept}. Free "
        "space on that disk, then run the same command again (`ma52 train --resume` continues a run from its "
        "last checkpoint)", str(path))


def write_temp(path: Path, data: bytes) -> Path:
    """``data`` in a fsynced temporary file beside ``path`` (removed again on any failure)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _disk_full(path, exc) from None
        raise
    return Path(tmp)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash or a full disk leaves either the old or the new file."""
    path = Path(path)
    tmp = write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of ``atomic_write_bytes``."""
    atomic_write_bytes(path, text.encode())


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temporary files that killed writers left in ``folder``; returns what was removed."""
    removed = []
    for tmp in Path(folder).glob(STALE_TEMP):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block; the file names the holder.

    With ``wait=False`` a lock another process holds raises ``LockHeld`` (carrying the holder's line)
    instead of waiting; a lock our own parent process holds always does (``LockHeldByParent``). The lock
    goes with the process: a killed holder never blocks the next one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            if _held_by_parent(holder):
                raise LockHeldByParent(path, holder) from None
            if not wait:
                raise LockHeld(path, holder) from None
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}\n")
            fh.flush()
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def folder_lock(folder: Path) -> contextlib.AbstractContextManager[None]:
    """The lock of everything that writes ``folder``: ``.<name>.lock`` beside it; one writer at a time."""
    folder = Path(folder)
    return file_lock(folder.parent / f".{folder.name}.lock")


@contextlib.contextmanager
def publish_folder(folder: Path) -> Iterator[Path]:
    """An empty ``.<name>.partial-<pid>`` folder to build ``folder`` in; it becomes ``folder`` when the block ends.

    A previous ``folder`` is replaced only then; when the block raises, the partial folder is removed and
    ``folder`` stays as it was. Call it holding ``folder_lock(folder)``: partial folders of killed runs
    are removed first, since no other process can be writing one.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(f".{folder.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = folder.parent / f".{folder.name}.partial-{os.getpid()}"
    tmp.mkdir()
    try:
        yield tmp
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def resumable_folder(folder: Path) -> Iterator[Path]:
    """``.<name>.partial`` to build ``folder`` in; it becomes ``folder`` when the block ends and is kept when the
    block raises or is interrupted, so the next call continues what it holds. Whoever writes it makes sure its
    files are complete (``publish_file``) and belong to the same build. Call it holding ``folder_lock(folder)``.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(f".{folder.name}.partial-*"):  # publish_folder's, which nothing continues
        shutil.rmtree(stale, ignore_errors=True)
    work = folder.parent / f".{folder.name}.partial"
    work.mkdir(exist_ok=True)
    yield work
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(work, folder)


@contextlib.contextmanager
def publish_file(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) for another tool to write; renamed to ``path`` on success.

    When the block raises, the temporary file is deleted and ``path`` keeps its previous content.
    """
    path = Path(path)
    # The suffix stays last: encoders pick the container format from it.
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


__all__ = [
    "DiskFullError", "LockHeld", "LockHeldByParent", "STALE_TEMP", "atomic_write_bytes", "atomic_write_text",
    "resumable_folder",
    "file_lock", "folder_lock", "publish_file", "publish_folder", "remove_stale_temps", "write_temp",
]
