"""Where generated data and runs live by default (outside git; override with environment variables)."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout holding this package when run from the repo, else the current directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def data_dir() -> Path:
    """Cache folder for generated datasets (``$MA52_DATA_DIR`` or ``<project>/data``)."""
    return Path(os.environ.get("MA52_DATA_DIR", project_root() / "data"))


def runs_dir() -> Path:
    """Folder for training runs (``$MA52_RUNS_DIR`` or ``<project>/runs``)."""
    return Path(os.environ.get("MA52_RUNS_DIR", project_root() / "runs"))
