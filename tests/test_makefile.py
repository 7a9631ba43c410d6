"""The Makefile's own checks, run in a scratch copy (no environment is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    for name in ("Makefile", "requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    # PYTHON=echo: past the disk check, "creating" the venv prints a line and the install then fails at once.
    return subprocess.run(["make", "setup", "PYTHON=echo CREATE", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_new_venv_stops_early_without_disk_space(tmp_path):
    done = _make(tmp_path, "VENV_NEED_GB=100000000")
    assert done.returncode != 0
    assert "a new .venv needs about 100000000 GB free" in done.stderr
    assert "CREATE -m venv" not in done.stdout and not (tmp_path / ".venv").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_disk_check_passes_with_enough_space(tmp_path):
    done = _make(tmp_path, "VENV_NEED_GB=0")
    assert "needs about" not in done.stderr
    assert "CREATE -m venv .venv" in done.stdout  # it went on to create the environment


def test_ci_runs_the_test_command_the_readme_gives():
    """.ci/run calls the README's test command by name: renaming one without the other is caught here."""
    block = (ROOT / "README.md").read_text().split("## Two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    command = next(line.split("#")[0].strip() for line in block.splitlines() if line.startswith("make test"))
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command == "make test" and command in ci_lines


def _core_runs(n_seeds: int | None) -> set[str]:
    """Run names of the cpu book's core contrasts (the benchmark's seeded models, MANet without the loss)."""
    from ma52lib.chapters.ablations import noemb_seeds
    from ma52lib.chapters.benchmark import seeded_configs
    from ma52lib.config import run_name

    seeded = [cfg for seeds in seeded_configs("cpu", None, n_seeds=n_seeds).values() for cfg in seeds.values()]
    return {run_name(cfg) for cfg in [*seeded, *noemb_seeds("cpu", None, n_seeds=n_seeds).values()]}


def test_the_seeds_help_counts_what_the_code_trains():
    """The Makefile's SEEDS comment and help state the cpu book's seeds and the runs more seeds add: the code's."""
    import re

    from ma52lib.chapters.common import SEEDS

    text = (ROOT / "Makefile").read_text()
    assert f"(default: the profile's, {len(SEEDS['cpu'])} for cpu)" in text
    stated = re.findall(r"SEEDS=(\d+)\D[^\n]*?(\d+) more runs", text)
    assert len(stated) == 2, "the SEEDS comment and the help line each say how many runs more seeds add"
    for seeds, more in stated:
        assert int(more) == len(_core_runs(int(seeds)) - _core_runs(None)), (seeds, more)
