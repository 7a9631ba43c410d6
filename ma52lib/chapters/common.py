"""What several chapters share: the experiments' base config, training a set of configs, names and columns.

Every number a chapter shows comes from a run folder (``results.json``); the paper's numbers come only
from ``chapters.benchmark.PAPER_RESULTS`` and are labelled as the paper's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ma52lib import stats
from ma52lib.config import Config, make_config, set_field
from ma52lib.data.lists import labels_path, list_path, read_list
from ma52lib.engine.evaluate import load_predictions
from ma52lib.engine.train import TrainingError, train
from ma52lib.labels import NUM_CLASSES

NOT_PUBLIC = "not public"
# Seeds of the claims' core contrasts (TSN, TSM, MANet, MANet without the joint-embedding loss); every
# other run is one seed and says so. Seed k changes the initialisation, the data order and augmentation.
# The cpu book keeps one seed so that it fits 30 minutes cold on 2 AVX2 cores; `--seeds 3` (`make book SEEDS=3`)
# trains 3 seeds, for intervals over the seed-to-seed spread (~7 more minutes there).
SEEDS: dict[str, tuple[int, ...]] = {"smoke": (0, 1), "cpu": (0,), "paper": (0, 1, 2)}
HEADLINE: tuple[str, ...] = ("action_top1", "body_top1", "f1_mean")  # metrics shown with intervals

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


def seeds_of(profile: str, seed: int = 0, n_seeds: int | None = None) -> tuple[int, ...]:
    """The seeds of the core contrasts, starting at the book's ``seed``: ``n_seeds`` of them (``ma52 reproduce
    --seeds N``), or the profile's default number (``SEEDS``)."""
    if n_seeds is None:
        return tuple(seed + k for k in SEEDS.get(profile, (0,)))
    if int(n_seeds) < 1:
        raise ValueError(f"n_seeds must be at least 1, got {n_seeds}")
    return tuple(seed + k for k in range(int(n_seeds)))


def with_seed(cfg: Config, seed: int) -> Config:
    """``cfg`` with another ``runtime.seed``."""
    return set_field(cfg, "runtime.seed", seed)


def scored(run_dir: str | Path, split: str = "test") -> tuple[stats.Scored, str]:
    """A finished run's per-clip predictions on ``split`` (val where test labels are withheld), and the split."""
    probs, labels, used = load_predictions(Path(run_dir), split)
    return stats.Scored.from_probs(probs, labels), used


def interval_of(run_dir: str | Path, metric: str, split: str = "test") -> stats.Interval:
    """``metric`` of a run with its 95% bootstrap interval over the scored clips."""
    return stats.interval(scored(run_dir, split)[0], metric)


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
    "COLUMN_TITLES", "DISPLAY_NAMES", "HEADLINE", "NOT_PUBLIC", "SEEDS", "TABLE_COLUMNS", "RunSet", "base_config",
    "class_counts", "display_name", "echo_brief", "interval_of", "labelled", "run_configs", "scored", "seeds_of",
    "with_seed",
]
