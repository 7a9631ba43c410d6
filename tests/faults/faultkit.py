"""Helpers of the fault suite: the message recorder, the tiny training config, run comparison, child processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from ma52lib.config import Config, make_config
from ma52lib.metrics import SCALAR_KEYS

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent.parent

# The tiny training every training fault starts from: 12 train clips in batches of 4 (3 steps per
# epoch), 2 epochs, fp32, no loader processes, so a run takes seconds and is bit-for-bit repeatable.
FAULT_OVERRIDES: dict[str, Any] = {
    "data.num_workers": 0, "optim.epochs": 2, "optim.batch_size": 4, "runtime.precision": "fp32",
    "runtime.channels_last": False, "model.num_segments": 4,
}
STEPS_PER_EPOCH = 3


class Fault:
    """Records the messages a fault case shows the user (temporary paths shortened to ``…``)."""

    def __init__(self, node: pytest.Item, base: Path):
        self._node = node
        self._base = re.compile(re.escape(str(base)) + r"/[^/\s'\"]+")

    def saw(self, message: object) -> str:
        """Record ``message`` (an exception or text) and return its full text for assertions."""
        text = str(message)
        short = self._base.sub("…", text).replace(str(PROJECT) + "/", "")
        self._node.user_properties.append(("fault_sees", short))
        return text


def fault_cfg(root: Path, **overrides: Any) -> Config:
    """The tiny training config on ``root``."""
    return make_config("smoke", {"data.root": str(root), **FAULT_OVERRIDES, **overrides})


def copy_run(src: Path, dst: Path, *, drop: tuple[str, ...] = ()) -> Path:
    """A copy of run folder ``src`` at ``dst`` without the files named in ``drop``."""
    shutil.copytree(src, dst)
    for name in drop:
        (dst / name).unlink()
    return dst


def assert_same_run(reference: Path, run: Path) -> None:
    """Equal metrics, losses and final weights: the interrupted run lost nothing."""
    a = json.loads((reference / "results.json").read_text())
    b = json.loads((run / "results.json").read_text())
    for split in ("val", "test"):
        assert {k: a[split][k] for k in SCALAR_KEYS} == {k: b[split][k] for k in SCALAR_KEYS}, split
    assert a["best_epoch"] == b["best_epoch"]
    losses = [[json.loads(line)["loss"] for line in (r / "metrics.jsonl").read_text().splitlines()]
              for r in (reference, run)]
    assert losses[0] == losses[1]
    wa = torch.load(reference / "checkpoints" / "last.pt", weights_only=True)["model"]
    wb = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def child_env() -> dict[str, str]:
    """Environment of a child Python running the package from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MA52_QUIET"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    return env


def start_training_child(spec: dict[str, Any], tmp_path: Path) -> subprocess.Popen:
    """Start tests/faults/killchild.py with ``spec`` (see there) in a new process."""
    spec_path = tmp_path / f"spec-{time.monotonic_ns()}.json"
    spec_path.write_text(json.dumps(spec))
    return subprocess.Popen([sys.executable, str(HERE / "killchild.py"), str(spec_path)], cwd=PROJECT,
                            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def run_training_child(spec: dict[str, Any], tmp_path: Path, timeout: float = 300) -> tuple[int, str]:
    """Run the child to its end (normally its own SIGKILL); returns (return code, output)."""
    proc = start_training_child(spec, tmp_path)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out
