"""tqdm progress bars that stay quiet where nobody watches (no terminal, papermill, CI, other ranks)."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Iterable, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    """Bars only on an interactive terminal, on rank 0, and unless MA52_QUIET=1."""
    if os.environ.get("MA52_QUIET") == "1" or int(os.environ.get("RANK", "0")) != 0:
        return False
    return sys.stderr.isatty()


def progress_bar(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it", **kw) -> "tqdm[T]":
    """A tqdm over ``iterable``, disabled when ``progress_enabled()`` is False."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=not progress_enabled(), leave=False,
                dynamic_ncols=True, **kw)


# -- the side channel to `ma52 reproduce` ------------------------------------------------------------------
# A training inside a papermill kernel cannot draw on the terminal of the `ma52 reproduce` that started it: when
# that process names a file in MA52_PROGRESS, the engine appends one JSON line per event to it (a run starts,
# every few seconds of an epoch, a run ends) and reproduce tails the file. Unset, reporting costs nothing.
PROGRESS_ENV = "MA52_PROGRESS"
STEP_EVERY_S = 5.0  # at most one step line per this many seconds: the file stays small, the ETA fresh
_last_step = [0.0]


def report(event: str, **fields: object) -> None:
    """Append ``{"event": event, "time": ..., **fields}`` to ``$MA52_PROGRESS`` (one line; nothing when unset)."""
    path = os.environ.get(PROGRESS_ENV)
    if not path or int(os.environ.get("RANK", "0")) != 0:
        return
    line = json.dumps({"event": event, "time": time.time(), **fields}, default=str) + "\n"
    # One write of one short line with O_APPEND: a reader never sees half a line of another writer.
    with open(path, "a") as fh:
        fh.write(line)


def report_step(**fields: object) -> None:
    """``report("step", ...)``, at most once per ``STEP_EVERY_S`` seconds."""
    now = time.monotonic()
    if now - _last_step[0] >= STEP_EVERY_S:
        _last_step[0] = now
        report("step", **fields)
