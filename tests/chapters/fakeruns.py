"""Finished runs made without training, for the chapters' tables and figures: a results.json and predictions whose
accuracy is set (``correct``), under the run folder its config names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ma52lib.config import config_hash, make_config, run_name, to_dict
from ma52lib.engine.evaluate import save_predictions
from ma52lib.labels import NUM_CLASSES
from ma52lib.metrics import compute_metrics


def probs_for(labels: np.ndarray, correct: float, seed: int = 0) -> np.ndarray:
    """Scores [N, 52] whose argmax is the label for the first ``correct`` share of clips, else label+1."""
    rng = np.random.default_rng(seed)
    probs = rng.random((len(labels), NUM_CLASSES)) * 0.1
    n_ok = int(round(correct * len(labels)))
    for i, y in enumerate(labels):
        probs[i, y if i < n_ok else (y + 1) % NUM_CLASSES] = 1.0
    return probs


def fake_run(runs: Path, name: str, *, data_root: Path, profile: str = "smoke", test: bool = True,
             correct: float = 0.5, overrides: dict | None = None, seconds: float = 12.0) -> Path:
    """A finished run of model ``name``: two clips per class, val scored at seed 1 and test (unless not) at seed 2."""
    cfg = make_config(profile, {"model.name": name, "data.root": str(data_root), **(overrides or {})})
    run = runs / run_name(cfg)
    run.mkdir(parents=True)
    labels = np.repeat(np.arange(NUM_CLASSES), 2)
    res = {
        "run": run.name, "config_hash": config_hash(cfg), "config": to_dict(cfg), "model": name, "num_params": 1234,
        "best_epoch": 2, "data_root": str(data_root),
        "timings": {"train_seconds": seconds, "eval_seconds": 1.5, "clips_per_s": 8.25, "data_wait_fraction": 0.1},
        "environment": {"torch": "x", "device": "cpu", "cpu": "x", "threads": 1, "world_size": 1},
    }
    for split, seed in (("val", 1), ("test", 2)) if test else (("val", 1),):
        probs = probs_for(labels, correct, seed)
        res[split] = compute_metrics(probs, labels)
        save_predictions(run, split, {"probs": probs, "labels": labels, "indices": np.arange(len(labels))})
    (run / "results.json").write_text(json.dumps(res))
    return run


def stated_numbers(text: str) -> list[float]:
    """The numbers a chapter's sentences state, in order: what a test of its prose holds, not its wording (the 1 of
    "top-1" is part of a name, not a number)."""
    return [float(n) for n in re.findall(r"(?<![\w.-])[-+]?\d+(?:\.\d+)?", text)]
