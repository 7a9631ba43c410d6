"""Checkpoints that survive kills and full disks: atomic writes, a digest, and a previous good copy.

A checkpoint is written to a temporary file, fsynced, then renamed over the old one; the old one is
kept as ``<name>.prev.pt``. Each file has a ``.sha256`` sidecar written after it, so a truncated or
tampered file is detected and the previous good checkpoint is used instead. Everything is loaded with
``weights_only=True``: a checkpoint from elsewhere can never run code.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be trusted or read; the message names the file and what to do."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash or a full disk leaves either the old or the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of ``atomic_write_bytes``."""
    atomic_write_bytes(path, text.encode())


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_checkpoint(state: dict[str, Any], path: Path, *, keep_previous: bool = True) -> None:
    """Serialise ``state`` and install it atomically at ``path`` (old copy -> ``*.prev.pt``)."""
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    path = Path(path)
    if keep_previous and path.exists() and _verify(path):
        prev = previous_of(path)
        os.replace(path, prev)
        digest = _digest_path(path)
        if digest.exists():
            os.replace(digest, _digest_path(prev))
    atomic_write_bytes(path, data)
    atomic_write_text(_digest_path(path), hashlib.sha256(data).hexdigest() + "\n")


def previous_of(path: Path) -> Path:
    """The previous good copy kept beside ``path``."""
    return path.with_name(path.stem + ".prev" + path.suffix)


def _verify(path: Path) -> bool:
    digest = _digest_path(path)
    if not digest.exists():
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == digest.read_text().strip()


def load_checkpoint(path: Path, *, map_location: str | torch.device = "cpu", verify: bool = True) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; a bad digest or unreadable file -> CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if verify and _digest_path(path).exists() and not _verify(path):
        raise CheckpointError(
            f"checkpoint {path} does not match its digest {_digest_path(path).name}: it was truncated or "
            "modified after it was written. Delete it to fall back to the previous checkpoint."
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"refusing to load {path}: it contains objects other than tensors and plain data "
            f"(weights_only=True). Only load checkpoints you trust; details: {str(exc).splitlines()[0]}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is unreadable (truncated or not a checkpoint): {exc}") from None


def load_latest_good(path: Path, *, map_location: str | torch.device = "cpu") -> tuple[dict[str, Any], Path, list[str]]:
    """Load ``path`` or, if it is bad, its previous copy; returns (state, file used, warnings)."""
    warnings: list[str] = []
    for candidate in (Path(path), previous_of(Path(path))):
        if not candidate.exists():
            continue
        try:
            return load_checkpoint(candidate, map_location=map_location), candidate, warnings
        except CheckpointError as exc:
            warnings.append(str(exc))
    raise CheckpointError(
        f"no usable checkpoint at {path} or {previous_of(Path(path))}" + (": " + " | ".join(warnings) if warnings else "")
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
