"""The fault suite behind the reproducibility chapter: run it, and turn its report into a table.

``tests/faults/`` breaks things on purpose (broken videos and lists, bad label embeddings, SIGKILL at
random points, full disks, damaged or hostile checkpoints, concurrent, failing, hanging or interrupted
notebook runs) and records for every case the message the user actually saw and what was kept.
``run_fault_suite`` runs it with pytest in a child process; ``fault_table`` reads the JSON report, so the
book's table is generated from the suite's outcome, never typed by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from ma52lib.files import publish_file
from ma52lib.paths import project_root

# Row order of the table: from the data a user copies in, to the book that comes out.
GROUPS: tuple[str, ...] = ("configuration", "videos", "lists", "label embeddings", "training", "checkpoints",
                           "reproduce", "Ctrl-C")
COLUMNS: tuple[str, ...] = ("group", "case", "what the user sees", "what is kept", "result")


class FaultSuiteError(RuntimeError):
    """The fault suite could not run or wrote no report; the message says why."""


def fault_suite_dir() -> Path:
    """``tests/faults`` of the source checkout."""
    folder = project_root() / "tests" / "faults"
    if not folder.is_dir():
        raise FaultSuiteError(
            f"{folder} not found: the fault suite ships with the source checkout (git clone), not with an "
            "installed package; run this from the repository"
        )
    return folder


def run_fault_suite(report_path: str | os.PathLike[str], *, timeout: float | None = 900) -> Path:
    """Run ``tests/faults`` with pytest in a child process; write its case report (JSON) to ``report_path``.

    Failing cases do not raise (the table shows them); a suite that cannot run at all does. pytest's
    output goes beside the report, as ``<report>.log``.
    """
    report = Path(report_path).resolve()
    report.parent.mkdir(parents=True, exist_ok=True)
    root = project_root()
    env = dict(os.environ, MA52_QUIET="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    env.pop("MA52_FAULT_REPORT", None)
    with publish_file(report) as running:  # the report appears only once the suite has finished
        cmd = [sys.executable, "-m", "pytest", str(fault_suite_dir()), "-q", "-p", "no:cacheprovider",
               "--fault-report", str(running)]
        try:
            proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise FaultSuiteError(
                f"the fault suite ran longer than {timeout} s and was stopped: {' '.join(cmd)}") from exc
        log = report.with_name(report.name + ".log")
        log.write_text(proc.stdout + proc.stderr)
        # pytest exits 0 when every case passed and 1 when some failed: both produce a full report.
        if proc.returncode not in (0, 1) or not running.exists():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
            raise FaultSuiteError(
                f"the fault suite did not complete (pytest exit code {proc.returncode}); see {log}:\n"
                + "\n".join(tail)
            )
    return report


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def fault_table(report_path: str | os.PathLike[str], *, max_chars: int = 320) -> pd.DataFrame:
    """One row per fault case: group, case, what the user sees (the captured message), what is kept, result."""
    path = Path(report_path)
    try:
        cases = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FaultSuiteError(f"{path} not found; make it with run_fault_suite({str(path)!r})") from None
    except json.JSONDecodeError as exc:
        raise FaultSuiteError(
            f"{path} is not a fault report (line {exc.lineno}: {exc.msg}); make it again with run_fault_suite"
        ) from None
    rows = []
    for order, case in enumerate(cases):
        if case["outcome"] == "passed":
            result = "pass"
        else:
            result = f"{case['outcome'].upper()}: {_shorten(case.get('error', ''), 160)}"
        sees = " | then: ".join(_shorten(m, max_chars) for m in case.get("sees", [])) or "(no message captured)"
        group = case.get("group", "other")
        rank = GROUPS.index(group) if group in GROUPS else len(GROUPS)
        rows.append((rank, order, group, case.get("case", case["id"]), sees, case.get("kept", ""), result))
    rows.sort(key=lambda row: row[:2])
    return pd.DataFrame([row[2:] for row in rows], columns=list(COLUMNS))
