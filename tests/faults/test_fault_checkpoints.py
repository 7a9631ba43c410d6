"""Checkpoint faults: code hidden in a pickle, files from elsewhere, a crash at every step of a save."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from ma52lib.engine.checkpoint import CheckpointError, load_checkpoint, load_latest_good, previous_of, save_checkpoint


class _Payload:
    """Unpickling this would create a folder: the harmless stand-in for code in a checkpoint."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return os.mkdir, (self.target,)


def _evil_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"model": {"w": torch.zeros(2)}, "meta": _Payload(marker)}, path)
    return path


@pytest.mark.fault_case(
    group="checkpoints", case="checkpoint from elsewhere with code in its pickle",
    kept="nothing runs (loaded with weights_only=True): refused by every loader (resume, `ma52 eval`, "
         "the official-checkpoint converter, pretrained weights)")
def test_pickle_with_code_is_refused_everywhere(fault, reference_run, tmp_path):
    from ma52lib.engine.run import load_run
    from ma52lib.models.baselines.common import load_pretrained
    from ma52lib.models.convert import read_state_dict

    marker = tmp_path / "code-ran"
    evil = _evil_checkpoint(tmp_path / "evil.pt", marker)
    with pytest.raises(CheckpointError, match="refusing to load") as info:
        load_checkpoint(evil)
    assert "posix.mkdir" in fault.saw(info.value) and "nothing was executed" in str(info.value)

    run = tmp_path / "copied-run"  # a run folder copied from another machine, its best.pt swapped
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(reference_run / "config.json", run / "config.json")
    shutil.copy(evil, run / "checkpoints" / "best.pt")
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_run(run)
    with pytest.raises(ValueError):
        read_state_dict(evil)
    with pytest.raises(Exception):  # noqa: B017 - torch's own refusal, whatever its type
        load_pretrained(torch.nn.Linear(2, 2), evil)
    assert not marker.exists()


@pytest.mark.fault_case(
    group="checkpoints", case="checkpoint from elsewhere holding only tensors (no .sha256 digest beside it)",
    kept="it loads (weights_only=True accepts tensors and plain data); nothing needs converting")
def test_plain_checkpoint_from_elsewhere_loads(fault, tmp_path):
    path = tmp_path / "from-a-colleague.pt"
    torch.save({"model": {"w": torch.arange(3.0)}, "epoch": 4}, path)
    state = load_checkpoint(path)
    assert state["epoch"] == 4 and torch.equal(state["model"]["w"], torch.arange(3.0))
    fault.saw(f"(accepted) loaded epoch {state['epoch']} with weights_only=True")


class _Crash(BaseException):
    """Stops save_checkpoint at a chosen instant, as a kill would (not an Exception: nothing catches it)."""


def _state(epoch: int) -> dict:
    return {"model": {"w": torch.full((64,), float(epoch))}, "epoch": epoch}


@pytest.mark.fault_case(
    group="checkpoints",
    case="kill at each of the 5 steps of a checkpoint save (temp write, rotation, rename, digests)",
    kept="at every instant a complete checkpoint under its own name (the new one or the one before), which "
         "load_latest_good finds; the next save recovers")
def test_a_crash_at_any_step_of_a_save_leaves_a_good_checkpoint(fault, tmp_path, monkeypatch):
    import ma52lib.files as files_mod

    real_replace, real_write_temp = os.replace, files_mod.write_temp
    seen = []
    for crash_at in range(6):  # 0: inside the temporary write; 1..4: before each rename; 5: no crash
        folder = tmp_path / f"crash{crash_at}"
        path = folder / "last.pt"
        save_checkpoint(_state(1), path)
        save_checkpoint(_state(2), path)  # now last.pt (2) and last.prev.pt (1)
        calls = {"replace": 0}

        def replace(src, dst, crash_at=crash_at, calls=calls):
            calls["replace"] += 1
            if calls["replace"] == crash_at:
                raise _Crash
            real_replace(src, dst)

        def write_temp(p, data, crash_at=crash_at):
            if crash_at == 0 and p.name == "last.pt":
                raise _Crash
            return real_write_temp(p, data)

        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(files_mod, "write_temp", write_temp)
        try:
            save_checkpoint(_state(3), path)
        except _Crash:
            pass
        monkeypatch.undo()
        state, used, _ = load_latest_good(path)
        assert state["epoch"] in (2, 3) and torch.equal(state["model"]["w"], _state(state["epoch"])["model"]["w"])
        assert crash_at < 5 or (state["epoch"] == 3 and used == path)
        seen.append(f"{crash_at}:{used.name}@{state['epoch']}")
        save_checkpoint(_state(4), path)  # the next save works from whatever was left
        assert load_checkpoint(path)["epoch"] == 4 and load_latest_good(path)[0]["epoch"] == 4
        assert previous_of(path).exists()
    fault.saw("(no message; each crash point -> checkpoint loaded afterwards) " + ", ".join(seen))
