"""`ma52 reproduce` faults: two at once, a notebook that raises, one that hangs, Ctrl-C in the middle.

Tiny throwaway notebooks run through ``execute_chapter`` (papermill, a real kernel); the book is not built.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from ma52lib.chapters.reproduce import ReproduceLocked, book_lock, execute_chapter

from faultkit import PROJECT, child_env

PARAMS = {"profile": "smoke", "data_root": "unused", "seed": 0}


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("profile = 'cpu'\ndata_root = None\nseed = 0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(c) for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _execute(name: str, src: Path, out: Path, *, force: bool = False, timeout: int | None = 120):
    return execute_chapter(name, PARAMS, source_dir=src, out_dir=out, pkg="pkg", data="data", force=force,
                           timeout=timeout)


HOLD_LOCK = """
import sys, time
from pathlib import Path
from ma52lib.chapters.reproduce import book_lock
with book_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin: an event, not a time that a loaded machine outruns
"""


def _hold_lock(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder)], cwd=PROJECT,
                            env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.fault_case(
    group="reproduce", case="two `ma52 reproduce` at once on the same book folder",
    kept="the first run, undisturbed; the second refuses at once naming the holder (exit code 3), or with "
         "--wait queues behind it")
def test_second_reproduce_refuses_or_waits(fault, tmp_path):
    folder = tmp_path / "generated"
    holder = _hold_lock(folder)
    with pytest.raises(ReproduceLocked) as info:
        with book_lock(folder):
            pass
    message = fault.saw(info.value)
    assert str(folder) in message and f"pid {holder.pid}" in message and "--wait" in message
    release = threading.Timer(0.5, holder.stdin.close)  # the first run ends while the second one waits
    release.start()
    t0 = time.monotonic()
    with book_lock(folder, wait=True):  # queues until the first one finishes
        assert time.monotonic() - t0 > 0.3
    release.join()
    assert holder.wait(timeout=120) == 0  # generous: a loaded machine may take long to end a torch process


@pytest.mark.fault_case(
    group="reproduce", case="a `ma52 reproduce` killed with SIGKILL while holding the lock",
    kept="no stale lock: the kernel releases it with the process, the next run starts at once")
def test_killed_reproduce_leaves_no_stale_lock(fault, tmp_path):
    folder = tmp_path / "generated"
    holder = _hold_lock(folder)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    t0 = time.monotonic()
    with book_lock(folder):
        assert time.monotonic() - t0 < 2
    fault.saw("(nothing to see) the next run takes the lock at once; the lock file still names the dead "
              f"holder: {(folder / '.reproduce.lock').read_text().strip()!r} until it is overwritten")


@pytest.mark.notebook
@pytest.mark.fault_case(
    group="reproduce", case="a notebook that raises",
    kept="the other chapters (still cached); the failing notebook's executed copy with the traceback is "
         "published but never cached, so the next run executes it again")
def test_failing_notebook(fault, tmp_path):
    src, out = tmp_path / "notebooks", tmp_path / "generated"
    _notebook(src / "good.ipynb", ["x = 1"])
    _notebook(src / "broken.ipynb", ["y = 2", "raise ValueError('val split has no clips')"])
    assert _execute("good", src, out).status == "executed"
    result = _execute("broken", src, out)
    assert result.status == "failed"
    message = fault.saw(result.message)
    # [4]: the parameters cell, the cell papermill injects after it, then the two cells above.
    assert "notebooks/broken.ipynb, cell [4] raised ValueError: val split has no clips" in message
    assert str(out / "broken.ipynb") in message
    errors = [o for c in nbformat.read(out / "broken.ipynb", as_version=4).cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "ValueError"
    assert not (out / ".cache" / "broken.json").exists() and not (out / ".broken.running.ipynb").exists()
    assert _execute("good", src, out).status == "cached"


@pytest.mark.notebook
@pytest.mark.fault_case(
    group="reproduce", case="a notebook that hangs past the timeout (--timeout 2)",
    kept="the other chapters; the hung cell is stopped after the timeout, the executed copy shows where, "
         "nothing is cached")
def test_hanging_notebook_times_out(fault, tmp_path):
    src, out = tmp_path / "notebooks", tmp_path / "generated"
    _notebook(src / "slow.ipynb", ["import time", "time.sleep(300)"])
    t0 = time.monotonic()
    result = _execute("slow", src, out, timeout=2)
    assert time.monotonic() - t0 < 120 and result.status == "failed"
    assert "cell 'time.sleep(300)' ran longer than the --timeout of 2 s" in fault.saw(result.message)
    assert (out / "slow.ipynb").exists() and not (out / ".cache" / "slow.json").exists()


INTERRUPTIBLE = """
import signal, sys
from pathlib import Path
# A terminal delivers Ctrl-C as SIGINT -> KeyboardInterrupt; a test runner may have set SIGINT to ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
from ma52lib.chapters.reproduce import execute_chapter
try:
    execute_chapter("slow", {params!r}, source_dir=Path(sys.argv[1]), out_dir=Path(sys.argv[2]), pkg="pkg",
                    data="data", force=True, timeout=None)
except KeyboardInterrupt as exc:
    print(exc, flush=True)
    sys.exit(130)
print("not interrupted")
"""


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the notebook kernel of a reproduce)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.notebook
@pytest.mark.fault_case(
    group="reproduce", case="Ctrl-C in the middle of a notebook",
    kept="the previous complete executed notebook, unchanged; the partial one is deleted, no cache record is "
         "left, the kernel is shut down, and the next run executes the notebook again")
def test_ctrl_c_leaves_nothing_cached(fault, tmp_path, monkeypatch):
    src, out = tmp_path / "notebooks", tmp_path / "generated"
    _notebook(src / "slow.ipynb", [
        "import os, pathlib, time",
        "pathlib.Path(os.environ['MA52_FAULT_MARK']).touch()\n"
        "time.sleep(float(os.environ.get('MA52_FAULT_DELAY', '0')))",
    ])
    monkeypatch.setenv("MA52_FAULT_MARK", str(tmp_path / "mark-first"))
    assert _execute("slow", src, out).status == "executed"  # a complete, cached copy from an earlier run
    previous = (out / "slow.ipynb").read_bytes()

    mark = tmp_path / "mark"
    env = {**child_env(), "MA52_FAULT_MARK": str(mark), "MA52_FAULT_DELAY": "300"}
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTIBLE.format(params=PARAMS), str(src), str(out)],
                            cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 120
    while not mark.exists():  # the kernel is inside the long cell
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    kernels = _children(proc.pid)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "interrupted while executing notebooks/slow.ipynb" in fault.saw(output.strip())
    assert not (out / ".cache" / "slow.json").exists() and not (out / ".slow.running.ipynb").exists()
    assert (out / "slow.ipynb").read_bytes() == previous
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() for pid in kernels) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert kernels and not any(Path(f"/proc/{pid}").exists() for pid in kernels), "kernel left running"
    monkeypatch.setenv("MA52_FAULT_MARK", str(tmp_path / "mark-again"))
    assert _execute("slow", src, out).status == "executed"  # not taken as cached
