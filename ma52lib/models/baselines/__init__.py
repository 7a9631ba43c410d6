"""The nine general action-recognition baselines of the benchmark (filled in by the baselines work)."""

from __future__ import annotations

from typing import Callable

from torch import nn

BASELINES: dict[str, Callable[..., nn.Module]] = {}
