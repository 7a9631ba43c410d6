"""What several chapters share: the experiments' base config, training a set of configs, names and columns.

Every number a chapter shows comes from a run folder (``results.json``); the paper's numbers come only
from ``chapters.benchmark.PAPER_RESULTS`` and are labelled as the paper's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ma52lib.config import Config, make_config
from ma52lib.data.lists import labels_path, list_path, read_list
from ma52lib.engine.train import TrainingError, train
from ma52lib.labels import NUM_CLASSES

NOT_PUBLIC = "not public"

DISPLAY_NAMES = {"tsn": "TSN", "tsm": "TSM", "tin": "TIN", "c3d": "C3D", "i3d": "I3D", "r2plus1d": "R(2+1)D",
                 "slowfast": "SlowFast", "timesformer": "TimeSformer", "vswin": "Video Swin", "manet": "MANet"}

# Columns of the main table, in the paper's order.
TABLE_COLUMNS: tuple[str, ...] = ("body_top1", "action_top1", "action_top5", "body_f1_macro", "body_f1_micro",
                                  "action_f1_macro", "action_f1_micro", "f1_mean")
COLUMN_TITLES = {"body_top1": "Body top-1", "action_top1": "Action top-1", "action_top5": "Action top-5",
                 "body_f1_macro": "Body F1 macro", "body_f1_micro": "Body F1 micro",
                 "action_f1_macro": "Action F1 macro", "action_f1_micro": "Action F1 micro", "f1_mean": "F1_mean"}


def display_name(label: str) -> str:
    """Table name of a run label (``"manet"`` -> ``"MANet"``; other labels unchanged)."""
    return DISPLAY_NAMES.get(label, label)


def base_config(profile: str, data_root: str | None, seed: int = 0, **overrides: Any) -> Config:
    """The profile's config on ``data_root`` (None -> MA-52-Synth) with dotted overrides."""
    over = {"data.root": data_root, "runtime.seed": seed, **{k.replace("__", "."): v for k, v in overrides.items()}}
    return make_config(profile, over)


class RunSet(dict):
    """Run folders by label (a dict), plus ``failed``: label -> why a run stopped (e.g. a NaN loss)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failed: dict[str, str] = {}


def run_configs(configs: dict[str, Config], *, echo: Callable[[str], None] = print) -> RunSet:
    """Train each config in turn (a finished identical run is reused; an unfinished one resumed).

    A run that stops with a TrainingError (a diverging loss) does not stop the others: it is left out
    of the returned runs and listed in ``.failed``, so the tables show it as failed, not as a number.
    """
    runs = RunSet()
    for label, cfg in configs.items():
        echo(f"== {label}")
        try:
            runs[label] = train(cfg, resume=True, echo=echo)
        except TrainingError as exc:
            runs.failed[label] = str(exc).split(";")[0]
            echo(f"!! {label} failed: {exc}")
    return runs


def echo_brief(line: str) -> None:
    """An ``echo`` for ``run_configs`` that prints one line per run (its label and outcome), not every epoch."""
    if line.startswith(("== ", "reusing finished run", "done:", "resumed from")):
        print(line, flush=True)


def labelled(root: str | Path, split: str) -> list[tuple[str, int]]:
    """(file, true label) of a split; test labels come from test_labels.txt when present."""
    path = labels_path(root, split) or list_path(root, split)
    return [(c.path, c.label) for c in read_list(path)]


def class_counts(root: str | Path, split: str = "train") -> np.ndarray:
    """Clips per fine class ``[52]`` of ``split`` of a dataset folder (test: its true labels where present)."""
    labels = np.asarray([label for _, label in labelled(root, split)], dtype=np.int64)
    return np.bincount(labels, minlength=NUM_CLASSES)


__all__ = [
    "COLUMN_TITLES", "DISPLAY_NAMES", "NOT_PUBLIC", "TABLE_COLUMNS", "RunSet", "base_config", "class_counts",
    "display_name", "echo_brief", "labelled", "run_configs",
]
