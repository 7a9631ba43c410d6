"""tqdm progress bars that stay quiet where nobody watches (no terminal, papermill, CI, other ranks)."""

from __future__ import annotations

import os
import sys
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
