"""Shared test settings: two cores, so one intra-op thread per test process; fixed seeds; no network."""

from __future__ import annotations

import os
import random
import tempfile
import urllib.error

import numpy as np
import pytest
import torch
import torch.hub

os.environ.setdefault("MA52_QUIET", "1")
# Runs (and the per-machine memory of precision choices) of tests never land in the checkout's runs/.
os.environ.setdefault("MA52_RUNS_DIR", tempfile.mkdtemp(prefix="ma52-test-runs-"))
# torch's cache of downloaded weights: an empty one of the tests' own, never the developer's (which may hold
# the ImageNet weights the paper profile starts from).
os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="ma52-test-torch-")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _no_download(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Tests never reach the network: torch.hub's downloader (torchvision's weights use it) fails at once, as
    on an offline machine; the URLs asked for are listed."""
    asked: list[str] = []

    def offline(url: str, *args: object, **kwargs: object) -> None:
        asked.append(url)
        raise urllib.error.URLError("no network in the tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return asked


# --- Fault-suite report (tests/faults) --------------------------------------------------------------
# Tests marked `fault_case(group=, case=, kept=)` record what the user saw through the `fault` fixture
# (tests/faults/conftest.py); with `--fault-report PATH` (or MA52_FAULT_REPORT=PATH) every case's
# outcome is written to PATH as JSON, which ma52lib.chapters.faults turns into the book's table.

_FAULT_CASES = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fault-report", metavar="PATH", default=None,
                     help="write the outcome of every fault_case test as JSON to PATH (see ma52lib.chapters.faults)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fault_case(group, case, kept): a case of the fault suite, reported "
                            "in the reproducibility chapter")
    config.stash[_FAULT_CASES] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    marker = item.get_closest_marker("fault_case")
    if marker is not None:
        entry = item.config.stash[_FAULT_CASES].setdefault(
            item.nodeid, {"id": item.nodeid, **marker.kwargs, "sees": [], "outcome": "passed", "error": ""})
        entry["sees"] = [value for key, value in item.user_properties if key == "fault_sees"]
        if report.failed or (report.skipped and entry["outcome"] == "passed"):
            entry["outcome"] = "failed" if report.failed else "skipped"
            if isinstance(report.longrepr, tuple):  # a skip: (file, line, reason)
                entry["error"] = str(report.longrepr[2])[:300]
            else:
                lines = [line for line in str(report.longrepr).splitlines() if line.startswith("E ")]
                text = lines[0][1:].strip() if lines else str(report.longrepr).strip().splitlines()[-1]
                entry["error"] = text[:300]
        if report.when == "call":
            entry["seconds"] = round(report.duration, 2)
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--fault-report") or os.environ.get("MA52_FAULT_REPORT")
    cases = session.config.stash.get(_FAULT_CASES, {})
    if path and cases:
        import json
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(list(cases.values()), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)  # a report is never half written
