"""Worker processes that never hang or crash a caller's own program: where the library's pools start.

The renderer (MA-52-Synth, the emotion sessions, the pretraining stills), ``ma52 data prepare`` and
the data loaders spread work over processes. With the ``spawn`` and ``forkserver`` start methods
(the render pool always; the loaders and ``prepare`` where it is Python's default: macOS, and Linux
from Python 3.14) each new process first re-imports the caller's main module. Two failures follow,
and the design answers each where it can be seen:

- A script whose calls are not under ``if __name__ == "__main__":`` runs again in every worker: its
  call waits on the folder lock the parent holds while the parent waits for these very workers (a
  silent, endless hang), or starts a pool of its own (a crash). The parent cannot tell a guarded
  script from an unguarded one; the worker can, since it is still importing main
  (``bootstrapping``). So each entry point calls ``refuse_in_bootstrap``: the worker prints one line
  naming the missing guard and ends, and the parent's pool reports ``WorkersStopped`` in one line. As
  a second net, a lock held by our own parent process is refused at once (``files.file_lock``).
- Code read from stdin (``python - <<EOF``, a pipe) names a main "file" that does not exist: workers
  would die with a multiprocessing traceback. The parent sees this up front (``main_unimportable``)
  and works in this process, with a one-line notice. Every clip and every loader item depends on
  its own seed only, so this changes speed, never results. ``python -c``, the interactive prompt and
  notebooks have no main file: workers skip the import and run as usual.

Not chosen: hiding ``__main__`` from the workers while a pool starts (the standard library reads
``sys.modules["__main__"]``; swapping it is a race with the caller's threads and a dependence on
internals); the ``fork`` method for the renderer (children would inherit torch's and a notebook's
threads, and fork is unsafe on macOS). Data loaders keep PyTorch's default start method (fork on
Linux up to Python 3.13 never re-imports main) and read in this process where workers could not start.

A pool is a ``ProcessPoolExecutor``, not a ``multiprocessing.Pool``: a Pool replaces a worker that
dies while starting with a new one, for ever (another hang); the executor reports a broken pool.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import process as mp_process
from typing import Any

from ma52lib.interrupt import deferred_interrupt, ignore_in_worker, stop_fork_server

GUARD = 'if __name__ == "__main__":'
_SAID: set[str] = set()


class WorkersStopped(RuntimeError):
    """Worker processes ended before their work was done (a worker that refused to start, or a crash)."""


def main_file() -> str | None:
    """The file that spawn/forkserver workers run before anything else (the main script), or None."""
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None):  # `python -m`: imported by name
        return None
    path = getattr(main, "__file__", None)
    if path is None:  # interactive, `python -c`, notebooks: workers leave the main module alone
        return None
    # The standard library resolves a relative main path against the directory the program began in.
    return os.path.normpath(os.path.join(mp_process.ORIGINAL_DIR or os.getcwd(), path))


def main_unimportable() -> str | None:
    """Why spawn/forkserver workers could not start from this program (code read from stdin), or None."""
    path = main_file()
    if path is None or os.path.isfile(path):
        return None
    return f"the main program ({os.path.basename(path)}) is not a file that worker processes can import"


def bootstrapping() -> bool:
    """True in a worker process that is still importing its parent's main module (before its own work).

    The flag is the one the standard library's own check reads before it refuses to start a process.
    """
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def refuse_in_bootstrap(what: str) -> None:
    """End this process with one line naming the missing guard when ``what`` runs while a worker imports main."""
    if not bootstrapping():
        return
    script = main_file() or sys.argv[0] or "the main program"
    print(f"ma52: {script} calls ma52lib ({what}) when it is imported, and each worker process imports it again: "
          f"put the script's calls under `{GUARD}`", file=sys.stderr, flush=True)
    raise SystemExit(1)


def notice(message: str) -> None:
    """Say ``message`` once per process on stderr (silent with MA52_QUIET=1)."""
    if message in _SAID or os.environ.get("MA52_QUIET") == "1":
        return
    _SAID.add(message)
    print(f"ma52: {message}", file=sys.stderr, flush=True)


def _default_start_method() -> str:
    """The start method a pool without an explicit context uses (without fixing it as a side effect)."""
    return multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]


def usable_workers(workers: int, *, method: str | None = None, what: str = "workers") -> int:
    """``workers``, or 0 (work in this process, with a notice) when workers of ``method`` could not start here."""
    if workers <= 1 or (method or _default_start_method()) == "fork":
        return max(0, workers)
    reason = main_unimportable()
    if reason is None:
        return workers
    notice(f"{reason}: {what} in this process instead of {workers} worker processes (same results; save the "
           "code to a .py file to use workers)")
    return 0


def _start_worker(initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """A pool worker's start: Ctrl-C left to the main process, then the caller's initializer."""
    ignore_in_worker()
    if initializer is not None:
        initializer(*initargs)


def _run_chunk(func: Callable[[Any], Any], chunk: Sequence[Any]) -> list[Any]:
    return [func(item) for item in chunk]


def _submit_all(pool: ProcessPoolExecutor, func: Callable[[Any], Any], chunks: list[list[Any]]) -> set[Future]:
    try:
        return {pool.submit(_run_chunk, func, chunk) for chunk in chunks}
    except BrokenPipeError:  # a worker ended while it was being started (it refused to run, or crashed)
        raise BrokenProcessPool("a worker process ended while it was being started") from None


def map_in_workers(func: Callable[[Any], Any], items: Iterable[Any], *, workers: int,
                   initializer: Callable[..., None] | None = None, initargs: tuple = (), chunksize: int = 1,
                   method: str | None = "forkserver", preload: Sequence[str] = (),
                   what: str = "workers") -> Iterator[Any]:
    """``func`` over ``items`` in this process (``workers <= 1``, or workers cannot start here) or in a
    pool of ``method`` (None: Python's default), results in any order.
    """
    refuse_in_bootstrap(what)
    if usable_workers(workers, method=method or _default_start_method(), what=what) <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield from map(func, items)
        return
    ctx = multiprocessing.get_context(method)
    if preload and method == "forkserver":
        ctx.set_forkserver_preload(list(preload))
    items = list(items)
    chunks = [items[i:i + chunksize] for i in range(0, len(items), max(1, chunksize))]
    # Ctrl-C is the main process's to handle: a worker interrupted inside the pool's queue would hang it.
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start_worker, initargs=(initializer, initargs))
    try:
        with deferred_interrupt():  # a worker half-started when Ctrl-C lands would outlive us and fail loudly
            pending = _submit_all(pool, func, chunks)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield from future.result()
    except KeyboardInterrupt:
        # Ctrl-C: the work in flight is dropped, not waited for (the workers ignore SIGINT, see _start_worker)
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        if method == "forkserver":
            stop_fork_server()
        raise
    except BrokenProcessPool:
        raise WorkersStopped(
            f"{what}: the worker processes stopped before the work was done (see the message above, if any); "
            "pass workers=1 (--workers 1) to work in this process") from None
    finally:
        # An error or an interrupt: drop the chunks not started instead of waiting for all of them.
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = [
    "GUARD", "WorkersStopped", "bootstrapping", "main_file", "main_unimportable", "map_in_workers", "notice",
    "refuse_in_bootstrap", "usable_workers",
]
