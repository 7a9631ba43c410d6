"""Train in this process and die by SIGKILL at a chosen point: the fault suite's stand-in for a killed job.

Usage: ``python killchild.py SPEC.json`` where SPEC holds ``root`` (dataset), ``out`` (run folder),
``resume`` (bool), ``kill`` and optionally ``step_sleep``:

- ``{"at": "step", "n": N}``: SIGKILL at the N-th training step this process runs (before its update);
- ``{"at": "write", "name": "last.pt", "nth": 1, "fraction": 0.4}``: at the nth atomic write of a file
  of that name, write only that fraction of the bytes into the temporary file, then SIGKILL;
- ``{"at": "none"}``: no self-kill (the parent kills from outside).

``step_sleep`` seconds are slept after each step so that an outside kill lands inside the run.
Nothing here is library code: only tests use it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import torch

torch.set_num_threads(1)  # as the parent test process, so the numbers are bit-for-bit the same

from ma52lib import files as files_mod  # noqa: E402
from ma52lib.config import make_config  # noqa: E402
from ma52lib.engine import step as step_mod  # noqa: E402
from ma52lib.engine import train as train_mod  # noqa: E402


def die() -> None:
    """What a job scheduler's kill -9 does: no cleanup, no atexit, no flush."""
    os.kill(os.getpid(), signal.SIGKILL)


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    kill = spec["kill"]
    counters = {"steps": 0, "writes": 0}

    real_loss = step_mod.compute_loss

    def counted_loss(*args):
        counters["steps"] += 1
        if kill["at"] == "step" and counters["steps"] == kill["n"]:
            die()
        if spec.get("step_sleep"):
            time.sleep(spec["step_sleep"])
        return real_loss(*args)

    real_write_temp = files_mod.write_temp

    def partial_write_temp(path: Path, data: bytes) -> Path:
        if kill["at"] == "write" and path.name == kill["name"]:
            counters["writes"] += 1
            if counters["writes"] == kill.get("nth", 1):
                # The same temporary name the real writer uses, cut short as by a kill mid-write.
                fd, _ = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
                os.write(fd, data[: int(len(data) * kill["fraction"])])
                os.fsync(fd)
                die()
        return real_write_temp(path, data)

    step_mod.compute_loss = counted_loss
    files_mod.write_temp = partial_write_temp
    cfg = make_config("smoke", {"data.root": spec["root"], **spec["overrides"]})
    train_mod.train(cfg, out=spec["out"], resume=spec["resume"], echo=None)
    print("finished without being killed")


if __name__ == "__main__":
    main(sys.argv[1])
