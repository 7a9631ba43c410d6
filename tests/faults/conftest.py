"""Fixtures of the fault suite: the `fault` recorder, a tiny dataset, and reference runs.

Every test here is marked ``fault_case(group=..., case=..., kept=...)`` and records what the user is
shown through ``fault.saw(message)``; tests/conftest.py turns that into the JSON behind the book's table
(``pytest tests/faults --fault-report PATH``, or ``ma52lib.chapters.faults.run_fault_suite``). Helpers that tests
import live in faultkit.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from faultkit import Fault, fault_cfg
from tinydata import make_tiny_dataset


@pytest.fixture
def fault(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Fault:
    return Fault(request.node, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def fault_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny official-layout dataset (4 classes, real h264 clips)."""
    return make_tiny_dataset(tmp_path_factory.mktemp("fault-data"))


@pytest.fixture(scope="session")
def reference_run(fault_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run: what every interrupted one must end up equal to."""
    from ma52lib.engine.train import train

    return train(fault_cfg(fault_data), out=tmp_path_factory.mktemp("reference") / "run", echo=None)


@pytest.fixture(scope="session")
def epoch1_run(fault_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run stopped cleanly after epoch 1 (checkpointed), to be continued by the tests."""
    from ma52lib.engine.train import train

    out = tmp_path_factory.mktemp("epoch1") / "run"
    return train(fault_cfg(fault_data), out=out, echo=None, stop_after_epoch=1)
