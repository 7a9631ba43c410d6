"""Checkpoints that survive kills and full disks: atomic writes, a digest, and a previous good copy.

A checkpoint is written to a fsynced temporary file first (``ma52lib.files``); only then is the old one
moved to ``<name>.prev.pt`` and the new one renamed into place, so a kill or a full disk at any moment
leaves at least one complete checkpoint under its own name (temporary files, ``.<name>.*.tmp``, are
never loaded).
Each file has a ``.sha256`` sidecar written after it, so a truncated or tampered file is detected and
the previous good checkpoint is used instead. Everything is loaded with ``weights_only=True``: a
checkpoint from elsewhere can never run code.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ma52lib import files


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be trusted or read; the message names the file and what to do."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message  # a few words, for summaries naming several files


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_checkpoint(state: dict[str, Any], path: Path, *, keep_previous: bool = True) -> None:
    """Serialise ``state`` and install it atomically at ``path`` (old copy -> ``*.prev.pt``)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    path = Path(path)
    # The new bytes are on disk before anything is moved: a full disk or a kill while writing them
    # leaves the old checkpoint where it was.
    tmp = files.write_temp(path, data)  # looked up at call time: the fault tests replace it
    try:
        old_digest = _verified_digest(path) if keep_previous else None
        if old_digest is not None:
            # Each file is paired with its digest at every instant: the previous copy's stale digest
            # goes first, the file moves, then its digest is rewritten.
            prev = previous_of(path)
            _digest_path(prev).unlink(missing_ok=True)
            os.replace(path, prev)
            files.atomic_write_text(_digest_path(prev), old_digest + "\n")
        _digest_path(path).unlink(missing_ok=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    files.atomic_write_text(_digest_path(path), hashlib.sha256(data).hexdigest() + "\n")


def previous_of(path: Path) -> Path:
    """The previous good copy kept beside ``path``."""
    return path.with_name(path.stem + ".prev" + path.suffix)


def _verify(path: Path) -> bool:
    return _verified_digest(path) is not None


def _verified_digest(path: Path) -> str | None:
    """The digest of ``path`` when its sidecar exists and matches it, else None."""
    digest = _digest_path(path)
    if not path.exists() or not digest.exists():
        return None
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    return actual if actual == digest.read_text().strip() else None


def load_checkpoint(path: Path, *, map_location: str | torch.device = "cpu", verify: bool = True) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a bad digest or unreadable file -> CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if verify and _digest_path(path).exists() and not _verify(path):
        todo = "Restore it from a backup or retrain."
        if not path.stem.endswith(".prev"):
            todo = (f"`ma52 train --resume` falls back to {previous_of(path).name} by itself; "
                    "otherwise restore it or retrain.")
        raise CheckpointError(
            f"checkpoint {path} does not match its digest {_digest_path(path).name}: it was truncated or "
            f"modified after it was written (an interrupted copy, a full disk, an edit). {todo}",
            reason="does not match its digest: truncated or modified",
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message starts with generic advice; the line naming the offending global says why
        # ("Unsupported global: GLOBAL x" up to 2.5, "Trying to load unsupported GLOBAL x ..." later).
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = next((line for line in lines if "GLOBAL" in line), lines[0] if lines else "")
        raise CheckpointError(
            f"refusing to load {path}: it contains objects other than tensors and plain data, i.e. code "
            f"that would run on loading (loaded with weights_only=True; nothing was executed). Only load "
            f"checkpoints you trust; details: {detail}",
            reason="holds code, refused",
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is unreadable (truncated or not a checkpoint): {exc}",
                              reason="unreadable: truncated or not a checkpoint") from None


def load_latest_good(path: Path, *, map_location: str | torch.device = "cpu") -> tuple[dict[str, Any], Path, list[str]]:
    """Load ``path`` or, if it is bad, its previous copy; returns (state, file used, warnings)."""
    warnings: list[str] = []
    reasons: list[str] = []
    for candidate in (Path(path), previous_of(Path(path))):
        if not candidate.exists():
            reasons.append(f"{candidate.name} is missing")
            continue
        try:
            return load_checkpoint(candidate, map_location=map_location), candidate, warnings
        except CheckpointError as exc:
            warnings.append(str(exc))
            reasons.append(f"{candidate.name} {exc.reason}")
    raise CheckpointError(
        f"no usable checkpoint in {Path(path).parent} ({'; '.join(reasons)}). Start the run over with --force, "
        "or restore the checkpoints from a backup."
    )


def rng_state() -> dict[str, Any]:
    """All RNG states as tensors and plain data (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` captured."""
    torch.set_rng_state(state["torch"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
