"""The library called from a user's own program: a script without the main guard stops at once with one
line naming the guard, code read from stdin renders in this process, a guarded script uses workers; none
of them hangs (each child Python runs under a timeout). That the worker count never changes the bytes
is test_synth's."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from ma52lib import workers
from ma52lib.config import make_config
from ma52lib.engine.build import build_loader
from ma52lib.synth import read_meta

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 90  # a hang fails the test here instead of blocking the suite; a run takes a few seconds
GUARD = 'if __name__ == "__main__":'

# Three clips of 16x16 at 4 fps with two workers: the smallest render that starts a pool.
CALL = """from ma52lib.synth import synthesize
from ma52lib.labels import NUM_CLASSES

counts = {{s: [1] + [0] * (NUM_CLASSES - 1) for s in ("train", "val", "test")}}
{guard}
{indent}print(synthesize({out!r}, profile="smoke", size=(16, 16), fps=4, counts=counts, workers=2))
"""


def _code(out: Path, *, guard: bool) -> str:
    return CALL.format(out=str(out), guard=GUARD if guard else "", indent="    " if guard else "")


def _python(args: list[str], tmp_path: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MA52_DATA_DIR": str(tmp_path / "data"), "MA52_QUIET": "0"}
    return subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=TIMEOUT_S)


def _videos(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("videos_*/*.mp4"))}


def test_a_script_without_the_guard_stops_at_once_naming_it(tmp_path: Path) -> None:
    script = tmp_path / "noguard.py"
    script.write_text(_code(tmp_path / "a", guard=False))
    done = _python([str(script)], tmp_path)
    assert done.returncode != 0
    said = done.stderr.splitlines()
    # The worker that re-ran the script says what to do, in one line; the parent's error follows it.
    assert f"ma52: {script} calls ma52lib (synthesize) when it is imported, and each worker process imports it " \
           f"again: put the script's calls under `{GUARD}`" in said
    assert said[-1].startswith("ma52lib.workers.WorkersStopped: rendering MA-52-Synth: the worker processes stopped")
    assert "Broken" not in done.stderr and "FileNotFoundError" not in done.stderr
    assert not (tmp_path / "a").exists()  # nothing half-written published


def test_stdin_renders_in_this_process_with_a_notice(tmp_path: Path) -> None:
    piped = _python(["-"], tmp_path, stdin=_code(tmp_path / "piped", guard=False))
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.strip() == str(tmp_path / "piped")
    assert piped.stderr.splitlines()[0] == (
        "ma52: the main program (<stdin>) is not a file that worker processes can import: rendering MA-52-Synth "
        "in this process instead of 2 worker processes (same results; save the code to a .py file to use workers)")
    assert "(1 workers)" in piped.stderr
    meta = read_meta(tmp_path / "piped")
    assert meta is not None and meta["complete"] and len(meta["clips"]) == 3
    assert len(_videos(tmp_path / "piped")) == 3


def test_the_same_code_under_the_guard_renders_in_workers(tmp_path: Path) -> None:
    script = tmp_path / "guarded.py"
    script.write_text(_code(tmp_path / "guarded", guard=True))
    guarded = _python([str(script)], tmp_path)
    assert guarded.returncode == 0, guarded.stderr
    assert guarded.stdout.strip() == str(tmp_path / "guarded")
    assert "(2 workers)" in guarded.stderr and "instead of" not in guarded.stderr
    assert len(_videos(tmp_path / "guarded")) == 3


@pytest.fixture
def stdin_main(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as if its main program were read from stdin, and spawn the default start method."""
    main = types.ModuleType("__main__")
    main.__file__ = "<stdin>"
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(workers, "_default_start_method", lambda: "spawn")
    monkeypatch.setattr(workers, "_SAID", set())
    monkeypatch.setenv("MA52_QUIET", "0")


def test_workers_fall_back_only_where_they_could_not_start(stdin_main: None, monkeypatch, capsys) -> None:
    assert workers.usable_workers(3, method="fork") == 3  # fork does not import the main module
    assert workers.usable_workers(1, method="spawn") == 1  # no pool anyway
    assert capsys.readouterr().err == ""
    assert workers.usable_workers(3, method="spawn", what="testing") == 0
    assert workers.usable_workers(3, method="forkserver", what="testing") == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["ma52: the main program (<stdin>) is not a file that worker processes can import: testing in "
                   "this process instead of 3 worker processes (same results; save the code to a .py file to use "
                   "workers)"]  # said once
    for main_file in (__file__, None):  # a script file; an interactive session, `python -c`, a notebook
        main = types.ModuleType("__main__")
        if main_file:
            main.__file__ = main_file
        monkeypatch.setitem(sys.modules, "__main__", main)
        assert workers.usable_workers(3, method="spawn") == 3


def test_data_loaders_read_in_this_process_where_workers_could_not_start(stdin_main: None) -> None:
    cfg = make_config("smoke", {"data.num_workers": 2})
    loader = build_loader(cfg, list(range(8)), train=False)
    assert loader.num_workers == 0 and loader.prefetch_factor is None


def test_no_refusal_outside_a_starting_worker() -> None:
    assert not workers.bootstrapping()
    workers.refuse_in_bootstrap("anything")  # returns: this is no worker importing a main module
