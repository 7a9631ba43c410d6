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


# The folder _toc.yml lists and jupyter-book builds: `ma52 reproduce` writes the chapters there.
BOOK_GENERATED = Path("book", "generated")
# Set by `ma52 reproduce` for the chapters' kernels, and by tests for a private folder.
GENERATED_ENV = "MA52_GENERATED"


def generated_dir() -> Path:
    """The book's generated folder: executed chapters, their evidence, bench.json (``$MA52_GENERATED`` or
    ``<project>/book/generated``)."""
    return Path(os.environ.get(GENERATED_ENV, project_root() / BOOK_GENERATED))
