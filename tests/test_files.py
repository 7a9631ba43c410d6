"""ma52lib.files: atomic writes, locks naming their holder, folders and files published only when complete."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from ma52lib import files


class _Boom(Exception):
    pass


def test_atomic_write_replaces_whole_files_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "a.json"
    files.atomic_write_text(path, "one\n")
    files.atomic_write_bytes(path, b"two\n")
    assert path.read_text() == "two\n"
    assert not list(path.parent.glob(files.STALE_TEMP))


def test_a_failed_rename_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "a.txt"
    path.write_text("old")

    def replace(src, dst):
        raise _Boom

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(_Boom):
        files.atomic_write_text(path, "new")
    assert path.read_text() == "old" and not list(tmp_path.glob(files.STALE_TEMP))


def test_remove_stale_temps_removes_only_temporaries(tmp_path: Path) -> None:
    (tmp_path / ".last.pt.abc.tmp").write_bytes(b"half")
    (tmp_path / "last.pt").write_bytes(b"whole")
    assert files.remove_stale_temps(tmp_path) == [tmp_path / ".last.pt.abc.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def _hold(path: str, ready, release) -> None:
    with files.file_lock(Path(path)):
        ready.set()
        release.wait(30)


def test_a_held_lock_names_its_holder_or_is_waited_for(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold, args=(str(lock), ready, release))
    child.start()
    try:
        assert ready.wait(60)
        with pytest.raises(files.LockHeld) as info:
            with files.file_lock(lock, wait=False):
                pass
        assert info.value.holder.startswith(f"pid {child.pid} since")
    finally:
        release.set()
        child.join(30)
    with files.file_lock(lock, wait=False):  # free again once the holder is gone
        assert lock.read_text().startswith(f"pid {os.getpid()} ")


def _ask(path: str, outcome) -> None:
    try:
        with files.file_lock(Path(path)):
            outcome.put("got it")
    except files.LockHeldByParent as exc:
        outcome.put(str(exc))


def test_a_lock_held_by_the_parent_is_refused_at_once(tmp_path: Path) -> None:
    """The parent waits for its child: a child waiting for the parent's lock would wait for ever."""
    lock = tmp_path / "x.lock"
    ctx = multiprocessing.get_context("fork")
    outcome = ctx.Queue()
    with files.file_lock(lock):
        child = ctx.Process(target=_ask, args=(str(lock), outcome))
        child.start()
        said = outcome.get(timeout=30)
        child.join(30)
    assert said.startswith(f"{lock} is held by this process's parent (pid {os.getpid()} since ")
    assert 'if __name__ == "__main__":' in said
    # Another process (not the parent) holding it is still waited for: the lock is free now.
    child = ctx.Process(target=_ask, args=(str(lock), outcome))
    child.start()
    assert outcome.get(timeout=30) == "got it"
    child.join(30)


def test_publish_folder_renames_only_a_complete_folder(tmp_path: Path) -> None:
    out = tmp_path / "data"
    (tmp_path / ".data.partial-1").mkdir()  # left by a killed run
    with files.folder_lock(out), files.publish_folder(out) as tmp:
        assert tmp.name == f".data.partial-{os.getpid()}" and tmp.is_dir() and not out.exists()
        (tmp / "a.txt").write_text("1")
    assert (out / "a.txt").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".data.lock", "data"]

    with pytest.raises(_Boom), files.publish_folder(out) as tmp:
        (tmp / "b.txt").write_text("2")
        raise _Boom
    assert [p.name for p in out.iterdir()] == ["a.txt"]  # the previous folder, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == [".data.lock", "data"]

    with files.publish_folder(out) as tmp:  # a new version replaces the old one as a whole
        (tmp / "c.txt").write_text("3")
    assert [p.name for p in out.iterdir()] == ["c.txt"]


def test_publish_file_keeps_the_suffix_and_the_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with files.publish_file(path) as tmp:
        assert tmp.suffix == ".mp4" and tmp.parent == tmp_path
        tmp.write_bytes(b"v1")
    assert path.read_bytes() == b"v1"
    with pytest.raises(_Boom), files.publish_file(path) as tmp:
        tmp.write_bytes(b"half")
        raise _Boom
    assert path.read_bytes() == b"v1" and [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]

