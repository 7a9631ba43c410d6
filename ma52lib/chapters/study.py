"""The recipe study (appendix): each lever tried for the cpu profile, its effect on val, and what the profile keeps.

Every lever is the profile's MANet run with one thing changed (``study_levers``), scored on **val** (the recipe
is chosen on val, never on test). The lever runs cost about as much again as the benchmark (``ma52 reproduce
--study --plan`` says how long here), so the book only reads the ones that exist; ``ma52 reproduce --study`` (or
``make book-study``) trains the missing ones first. The smoke profile trains them always (seconds), so CI executes
the whole page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ma52lib.chapters.common import COLUMN_TITLES, ChapterRuns, base_config
from ma52lib.config import Config, make_config
from ma52lib.engine.evaluate import read_results
from ma52lib.engine.train import default_run_dir


@dataclass(frozen=True)
class Lever:
    """One change to the profile's recipe: a name, its dotted overrides, and whether the profile keeps it."""

    name: str
    overrides: dict[str, Any]
    kept: str  # "reference", "not kept", or the reason beside the measured effect (the budget)


# The study tries the cpu recipe: its levers are the cpu profile's values changed, and every profile runs the same
# ones (the smoke book at its own size, in seconds, so that CI executes the page).
STUDIED = "cpu"
SHORT_EPOCHS = 2  # the short lever: the fewest epochs tried


def study_levers(profile: str = STUDIED) -> tuple[Lever, ...]:
    """The study's levers of ``profile``'s recipe, the reference first; each label states its values and the
    profile's from the same config its overrides are made from (the table shows each run's epochs and seconds)."""
    cfg = make_config(profile)
    optim, frozen = cfg.optim, cfg.model.frozen_stages
    step_at, long = optim.epochs * 3 // 4, 2 * optim.epochs
    lr = np.format_float_scientific  # 4e-3, as the recipe's tables write a learning rate
    found = [
        Lever(f"the {profile} profile as kept (reference)", {}, "reference"),
        Lever("without the ImageNet analogue (random init, every layer trained)",
              {"model.pretrained": None, "model.frozen_stages": -1}, "not kept"),
    ]
    if optim.schedule != "step":  # the paper's schedule, decaying at three quarters of the profile's epochs
        found.append(Lever(f"step schedule (x{optim.gamma:g} at epoch {step_at} of {optim.epochs}) instead of "
                           f"{optim.schedule}", {"optim.schedule": "step", "optim.milestones": (step_at,),
                                                 "optim.warmup_epochs": 0.0}, "not kept"))
    if frozen >= 0:  # the profile fixes early stages: train them all (the paper), or fix one stage fewer
        found.append(Lever("every layer trained (the paper)", {"model.frozen_stages": -1}, "not kept: the budget"))
    if frozen >= 1:
        found.append(Lever(f"{frozen_words(frozen - 1)} frozen (the profile: {frozen_words(frozen)})",
                           {"model.frozen_stages": frozen - 1}, "not kept: the budget"))
    return (*found,
            Lever(f"learning rate {lr(2 * optim.lr, trim='-', exp_digits=1)} (2x the profile's)",
                  {"optim.lr": 2 * optim.lr}, "not kept: I3D and SlowFast fall to the prior"),
            Lever(f"learning rate {lr(optim.lr / 2, trim='-', exp_digits=1)} (0.5x the profile's)",
                  {"optim.lr": optim.lr / 2}, "not kept"),
            Lever(f"batch {optim.batch_size // 2} against the profile's {optim.batch_size} (twice the steps)",
                  {"optim.batch_size": optim.batch_size // 2}, "not kept"),
            Lever(f"{SHORT_EPOCHS} epochs", _epochs(SHORT_EPOCHS), "not kept"),
            Lever(f"{long} epochs (2x the profile's {optim.epochs})", _epochs(long), "not kept: the budget"),
            Lever("the paper's MultiScaleCrop and flip", {"data.train_crop": "multiscale", "data.flip": True},
                  "not kept"),
            Lever("square-root class sampling (the long tail)", {"data.sampler": "sqrt"}, "not kept"),
            Lever("class-balanced sampling (the long tail)", {"data.sampler": "class"}, "not kept"))


def _epochs(n: int) -> dict[str, Any]:
    # validated once, after the last epoch, as the cpu profile's runs are (runtime.eval_every)
    return {"optim.epochs": n, "runtime.eval_every": n}


def frozen_words(stages: int) -> str:
    """What ``model.frozen_stages=stages`` fixes, in words: "stem", "stem and layer1", "stem and layer1-2"."""
    return "stem" + ("" if stages < 1 else " and layer1" if stages == 1 else f" and layer1-{stages}")


COLUMNS = ("action_top1", "body_top1", "action_top5", "f1_mean")


def lever_configs(profile: str, data_root: str | None, seed: int = 0,
                  levers: Sequence[Lever] | None = None) -> dict[str, Config]:
    """MANet of ``profile`` with each lever's change (``study_levers()`` unless given)."""
    return {lever.name: base_config(profile, data_root, seed, **{"model.name": "manet", **lever.overrides})
            for lever in levers or study_levers()}


def chapter_runs(profile: str, data_root: str | None = None, seed: int = 0, *,
                 train: bool | None = None) -> ChapterRuns:
    """The runs the study chapter trains: every lever's when ``train`` (None: only for the smoke profile, where
    they take seconds), else none (``ma52 reproduce --study`` asks for them; the page reads those that exist)."""
    if train is None:
        train = profile == "smoke"
    return ChapterRuns(lever_configs(profile, data_root, seed) if train else {})


def study_runs(profile: str, data_root: str | None = None, seed: int = 0, *, train: bool | None = None,
               echo: Callable[[str], None] = print) -> dict[str, Path | None]:
    """Each lever's finished run (None where there is none): ``chapter_runs`` trained or reused first."""
    trained, _ = chapter_runs(profile, data_root, seed, train=train).train(echo=echo)
    found: dict[str, Path | None] = {}
    for name, cfg in lever_configs(profile, data_root, seed).items():
        folder = trained.get(name) or default_run_dir(cfg)
        found[name] = folder if (folder / "results.json").exists() else None
    return found


def study_table(runs: dict[str, Path | None], levers: Sequence[Lever] | None = None) -> pd.DataFrame:
    """One row per lever: its val metrics and their difference to the reference, and what the profile keeps."""
    levers = levers or study_levers()
    reference = runs.get(levers[0].name)
    base = read_results(reference)["val"] if reference else None
    rows = []
    for lever in levers:
        folder = runs.get(lever.name)
        row: dict[str, Any] = {"lever": lever.name, "the profile": lever.kept}
        if folder is None:
            row["val"] = "not run in this build (ma52 reproduce --study)"
        else:
            res = read_results(folder)
            val = res["val"]
            row["epochs"] = res["config"]["optim"]["epochs"]
            row["train s"] = round(res["timings"]["train_seconds"])
            for metric in COLUMNS:
                row[f"val {COLUMN_TITLES[metric]}"] = round(val[metric], 1)
                if base is not None and lever is not levers[0]:
                    row[f"vs reference: {COLUMN_TITLES[metric]}"] = f"{val[metric] - base[metric]:+.1f}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("lever").astype(object).fillna("")  # a lever not run: blank, not NaN


def headline(runs: dict[str, Path | None], levers: Sequence[Lever] | None = None) -> str:
    """Two sentences on the study table: how many lever runs this build has, and the lever that moves action
    top-1 on val most from the reference."""
    levers = levers or study_levers()
    done = {lever.name: runs[lever.name] for lever in levers if runs.get(lever.name) is not None}
    first = f"{len(done)} of the {len(levers)} lever runs are in this build."
    reference = done.get(levers[0].name)
    others = {name: read_results(folder)["val"]["action_top1"] for name, folder in done.items()
              if name != levers[0].name}
    if reference is None or not others:
        return first + " Without the reference and one lever beside it there is no difference to read (--study)."
    base = read_results(reference)["val"]["action_top1"]
    big = max(others, key=lambda name: abs(others[name] - base))
    return first + (f" The lever that moves val action top-1 most from the reference ({base:.1f}%) is "
                    f"{big}: {others[big] - base:+.1f} points.")


__all__ = ["headline", "Lever", "STUDIED", "chapter_runs", "frozen_words", "lever_configs", "study_levers",
           "study_runs", "study_table"]
