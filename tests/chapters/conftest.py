"""Fixtures of the chapters' tests: two finished runs (TSN at 25% on test, MANet at 75% scored on val only) and
figures closed after each test. Helpers that tests import live in fakeruns.py."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from fakeruns import fake_run  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data"
    data.mkdir()
    return {
        "tsn": fake_run(tmp_path / "runs", "tsn", data_root=data, correct=0.25, overrides={"loss.weight": 0.0}),
        "manet": fake_run(tmp_path / "runs", "manet", data_root=data, correct=0.75, test=False),
    }
