"""Scoring: run a model over a split, gather class probabilities, and compute the paper's metrics.

``read_results`` / ``scored_results`` read a finished run's results.json (the latter: the metrics of the
split asked for, or val where that split was not scored).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ma52lib.engine import dist
from ma52lib.engine.progress import progress_bar
from ma52lib.files import atomic_write_bytes
from ma52lib.metrics import SCALAR_KEYS


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CPU (AMX) or CUDA; a no-op when disabled."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@torch.no_grad()
def predict_loader(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    *,
    bf16: bool = True,
    features: bool = False,
    desc: str = "eval",
    gather: bool = True,
) -> dict[str, np.ndarray | int]:
    """Probabilities (and optionally pooled features) for every item of ``loader``, gathered over ranks.

    Returns ``probs [N, C]``, ``labels [N]``, ``indices [N]`` (dataset order), ``features [N, F]`` when
    asked, and ``skipped`` (videos that could not be read under on_error="skip"). ``gather=False`` when
    only this process evaluates (its loader is not sharded).
    """
    model.eval()
    probs, labels, indices, feats = [], [], [], []
    skipped = 0
    for clips, y, idx, n_skip in progress_bar(loader, desc=desc, unit="batch"):
        skipped += int(n_skip)
        if len(y) == 0:
            continue
        clips = clips.to(device, non_blocking=True)  # [N, T, 3, H, W]
        with autocast(device, bf16):
            if features:
                feats.append(model.features(clips).float().cpu())  # [N, F]
            logits = model(clips)  # [N, C]
        probs.append(torch.softmax(logits.float(), dim=1).cpu())
        labels.append(y.cpu())
        indices.append(idx.cpu())
    local = {
        "probs": torch.cat(probs).numpy() if probs else np.zeros((0, 0), np.float32),
        "labels": torch.cat(labels).numpy() if labels else np.zeros(0, np.int64),
        "indices": torch.cat(indices).numpy() if indices else np.zeros(0, np.int64),
        "features": torch.cat(feats).numpy() if feats else None,
        "skipped": skipped,
    }
    parts = dist.gather_objects(local) if gather else [local]
    return _merge(parts, features)


def _merge(parts: list[dict[str, Any]], features: bool) -> dict[str, Any]:
    """Concatenate rank shards and drop DistributedSampler's padding duplicates (keep dataset order)."""
    nonempty = [p for p in parts if len(p["indices"])]
    if not nonempty:
        return {"probs": np.zeros((0, 0), np.float32), "labels": np.zeros(0, np.int64),
                "indices": np.zeros(0, np.int64), "features": None, "skipped": sum(p["skipped"] for p in parts)}
    idx = np.concatenate([p["indices"] for p in nonempty])
    order = np.unique(idx, return_index=True)[1]
    out = {
        "indices": idx[order],
        "probs": np.concatenate([p["probs"] for p in nonempty])[order],
        "labels": np.concatenate([p["labels"] for p in nonempty])[order],
        "features": np.concatenate([p["features"] for p in nonempty])[order] if features else None,
        "skipped": sum(p["skipped"] for p in parts),
    }
    return out


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Only the table numbers of a ``compute_metrics`` result."""
    return {k: float(metrics[k]) for k in SCALAR_KEYS}


def read_results(run_dir: Path) -> dict[str, Any]:
    """The results.json of a finished run (clear error when the run has not finished)."""
    path = Path(run_dir) / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the run has not finished (train it, or resume with --resume)")
    return json.loads(path.read_text())


def scored_results(run_dir: Path, split: str = "test") -> tuple[dict[str, Any], str]:
    """(metrics of ``split``, split used) of a finished run: val where ``split`` was not scored.

    Training scores the test split only where its labels exist (``data.lists.labels_path``), so a run
    on the real MA-52 falls back to val here, as ``data.lists.scored_split`` does for its folder.
    """
    res = read_results(run_dir)
    if split in res:
        return res[split], split
    if "val" not in res:
        raise KeyError(f"{Path(run_dir) / 'results.json'} has neither {split!r} nor 'val' metrics; retrain the run")
    return res["val"], "val"


def save_predictions(run_dir: Path, split: str, pred: dict[str, Any]) -> Path:
    """Write a split's class probabilities, labels and dataset indices as ``predictions_<split>.npz``."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, probs=np.asarray(pred["probs"], dtype=np.float32),
                        labels=np.asarray(pred["labels"], dtype=np.int64),
                        indices=np.asarray(pred["indices"], dtype=np.int64))
    path = Path(run_dir) / f"predictions_{split}.npz"
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_predictions(run_dir: Path, split: str = "test") -> tuple[np.ndarray, np.ndarray, str]:
    """(probabilities [N, 52], labels [N], split used) of a finished run, in dataset order; val where ``split``
    was not scored (the real MA-52 test split), as ``scored_results``."""
    _, used = scored_results(run_dir, split)
    path = Path(run_dir) / f"predictions_{used}.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the run was made by a version that did not keep per-clip "
                                "predictions; retrain it (ma52 train --force) to get intervals")
    with np.load(path) as data:
        return data["probs"], data["labels"], used
