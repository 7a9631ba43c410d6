"""The paper's metrics (action and body level top-k and F1), the results table and the Codabench CSV.

Predictions are the argmax of the 52 class scores; body-level predictions and labels are derived
with ``body_of`` (there is no separate body head). All scalars are in percent, like the paper.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, f1_score

from ma52lib.labels import FINE_TO_BODY, NUM_BODY_PARTS, NUM_CLASSES

# Paper-table order.
SCALAR_KEYS: tuple[str, ...] = (
    "body_top1",
    "action_top1",
    "action_top5",
    "body_f1_macro",
    "body_f1_micro",
    "action_f1_macro",
    "action_f1_micro",
    "f1_mean",
)

_HEADERS = {
    "body_top1": "Body Top-1",
    "action_top1": "Action Top-1",
    "action_top5": "Action Top-5",
    "body_f1_macro": "Body F1 macro",
    "body_f1_micro": "Body F1 micro",
    "action_f1_macro": "Action F1 macro",
    "action_f1_micro": "Action F1 micro",
    "f1_mean": "F1 mean",
}


def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        # numpy has no bfloat16/half support worth relying on: widen floating tensors first.
        x = (x.detach().float() if x.is_floating_point() else x.detach()).cpu().numpy()
    return np.asarray(x)


def _check_inputs(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    scores = _as_numpy(probs).astype(np.float64, copy=False)
    targets = _as_numpy(labels)
    if scores.ndim != 2 or scores.shape[1] != NUM_CLASSES:
        raise ValueError(
            f"probs must have shape [N, {NUM_CLASSES}] (one score per fine class), got {scores.shape}"
        )
    if scores.shape[0] == 0:
        raise ValueError("no predictions: probs and labels are empty, so no metric can be computed")
    if targets.ndim != 1 or targets.shape[0] != scores.shape[0]:
        raise ValueError(
            f"labels must have shape [N] matching probs {scores.shape}, got {targets.shape}"
        )
    if not np.issubdtype(targets.dtype, np.integer):
        if not np.all(np.equal(np.mod(targets, 1), 0)):
            raise ValueError("labels must be integer class ids 0..51")
    targets = targets.astype(np.int64)
    if targets.min() < 0 or targets.max() >= NUM_CLASSES:
        raise ValueError(f"labels must lie in 0..{NUM_CLASSES - 1}, got [{targets.min()}, {targets.max()}]")
    if not np.all(np.isfinite(scores)):
        raise ValueError("probs contain NaN or infinite values; check the model output")
    return scores, targets


def top5(probs: Any) -> np.ndarray:
    """The 5 highest-scoring fine classes per row ``[N, 5]``, best first (ties: lower id first)."""
    scores = _as_numpy(probs)
    return np.argsort(-scores, axis=1, kind="stable")[:, :5]


def _per_class_accuracy(true: np.ndarray, pred: np.ndarray, num: int) -> list[float]:
    """Recall of each class in percent; NaN where the class has no samples."""
    out = []
    for c in range(num):
        mask = true == c
        out.append(float(100.0 * np.mean(pred[mask] == c)) if mask.any() else math.nan)
    return out


def compute_metrics(probs: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> dict[str, Any]:
    """All paper metrics from scores ``[N, 52]`` (probabilities or logits) and fine labels ``[N]``."""
    scores, action_true = _check_inputs(probs, labels)
    ranked = top5(scores)  # [N, 5]
    action_pred = ranked[:, 0]  # the argmax (first index among ties, like np.argmax)
    to_body = np.asarray(FINE_TO_BODY, dtype=np.int64)
    body_true, body_pred = to_body[action_true], to_body[action_pred]

    # The official scoring calls sklearn f1_score without `labels=`: macro F1 averages over the
    # classes present in y_true or y_pred, not over all 52. We do the same so numbers compare.
    def f1(true: np.ndarray, pred: np.ndarray, average: str) -> float:
        return float(100.0 * f1_score(true, pred, average=average, zero_division=0))

    out: dict[str, Any] = {
        "body_top1": float(100.0 * np.mean(body_pred == body_true)),
        "action_top1": float(100.0 * np.mean(action_pred == action_true)),
        "action_top5": float(100.0 * np.mean((ranked == action_true[:, None]).any(axis=1))),
        "body_f1_macro": f1(body_true, body_pred, "macro"),
        "body_f1_micro": f1(body_true, body_pred, "micro"),
        "action_f1_macro": f1(action_true, action_pred, "macro"),
        "action_f1_micro": f1(action_true, action_pred, "micro"),
    }
    out["f1_mean"] = (
        out["body_f1_micro"] + out["body_f1_macro"] + out["action_f1_micro"] + out["action_f1_macro"]
    ) / 4.0
    out["action_per_class_acc"] = _per_class_accuracy(action_true, action_pred, NUM_CLASSES)
    out["body_per_class_acc"] = _per_class_accuracy(body_true, body_pred, NUM_BODY_PARTS)
    out["action_confusion"] = confusion_matrix(action_true, action_pred, labels=range(NUM_CLASSES)).tolist()
    out["body_confusion"] = confusion_matrix(body_true, body_pred, labels=range(NUM_BODY_PARTS)).tolist()
    out["n"] = int(len(action_true))
    return out


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (int, float, np.floating, np.integer)):
        return f"{float(value):.2f}"
    return str(value)


def format_table(
    metrics_or_rows: Mapping[str, Any] | Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]],
    keys: Sequence[str] = SCALAR_KEYS,
) -> str:
    """A plain-text table of the scalar metrics: one metrics dict, ``{name: metrics}``, or a list of dicts.

    Numbers print with two decimals, missing values as ``-``, and strings (e.g. ``"not public"``) as is.
    In a list, a row's ``name`` (or ``method``) entry labels it.
    """
    if isinstance(metrics_or_rows, Mapping) and any(k in metrics_or_rows for k in keys):
        rows = [("", metrics_or_rows)]
    elif isinstance(metrics_or_rows, Mapping):
        rows = [(str(name), row) for name, row in metrics_or_rows.items()]
    else:
        rows = [(str(row.get("name", row.get("method", ""))), row) for row in metrics_or_rows]
    if not rows:
        raise ValueError("format_table got no rows to print")
    named = any(name for name, _ in rows)
    header = (["Method"] if named else []) + [_HEADERS.get(k, k) for k in keys]
    body = [([name] if named else []) + [_cell(row.get(k)) for k in keys] for name, row in rows]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        # Names left-aligned, numbers right-aligned.
        parts = [c.ljust(w) if named and i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(header), rule] + [render(line) for line in body])


def write_submission(
    path: str | os.PathLike[str], video_ids: Sequence[str], probs: np.ndarray | torch.Tensor
) -> None:
    """Write the Codabench CSV ``vid,action_pred_1..5,body_pred_1..5`` (``vid`` is the ``.mp4`` file name)."""
    scores = _as_numpy(probs)
    if scores.ndim != 2 or scores.shape[1] != NUM_CLASSES:
        raise ValueError(f"probs must have shape [N, {NUM_CLASSES}], got {scores.shape}")
    if len(video_ids) != scores.shape[0]:
        raise ValueError(f"{len(video_ids)} video ids but {scores.shape[0]} rows of probs; they must match")
    if scores.shape[0] == 0:
        raise ValueError("no predictions to write: video_ids and probs are empty")
    ranked = top5(scores)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["vid"] + [f"action_pred_{k}" for k in range(1, 6)] + [f"body_pred_{k}" for k in range(1, 6)]
        )
        for vid, row in zip(video_ids, ranked):
            # Codabench identifies clips by file name ("test0000.mp4"); dataset.video_ids are stems.
            name = vid if str(vid).endswith(".mp4") else f"{vid}.mp4"
            writer.writerow([name] + [int(c) for c in row] + [FINE_TO_BODY[int(c)] for c in row])
