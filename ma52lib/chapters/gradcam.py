"""The Grad-CAM chapter: which runs it explains, and its closing lines on where the maps fall.

The maps, the region check and the panel are library code (``ma52lib.explain``); this module picks the
benchmark's MANet, TSN and TSM runs (trained once, shared with the benchmark chapter) and words the
region check's outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from ma52lib import stats
from ma52lib.chapters.benchmark import benchmark_configs
from ma52lib.chapters.common import ChapterRuns
from ma52lib.engine.run import LoadedRun, load_run
from ma52lib.explain.mass import mass_summary
from ma52lib.models import display_name

MODELS: tuple[str, ...] = ("manet", "tsn", "tsm")  # MANet beside the two networks it builds on


def chapter_runs(profile: str, data_root: str | None = None, seed: int = 0) -> ChapterRuns:
    """The runs of the Grad-CAM chapter: the benchmark's runs of ``MODELS`` (trained once, shared with it)."""
    configs = benchmark_configs(profile, data_root, seed, models=MODELS)
    return ChapterRuns(configs)


def loaded_runs(profile: str, data_root: str | None, seed: int = 0,
                runs: Mapping[str, str | Path] | None = None) -> dict[str, LoadedRun]:
    """The loaded runs to explain: ``runs`` (name -> run folder), else ``chapter_runs``, trained or reused."""
    if runs is None:
        runs, _ = chapter_runs(profile, data_root, seed).train(echo=lambda line: None)
    return {name: load_run(Path(folder)) for name, folder in runs.items()}


def region_lines(study: Any, profile: str) -> list[str]:
    """One sentence per model: CAM mass on the acting body part against chance, and its top-1 on the clips."""
    lines = []
    for name, row in mass_summary(study).iterrows():
        lines.append(f"{display_name(name)}: {row['CAM mass on region %']}% of the map on the acting body part, "
                     f"chance {row['region area % (chance)']}% (x{row['mass / area']}), top-1 {row['top-1 %']}% "
                     f"on these {int(row['clips'])} clips")
    if profile == "smoke":
        lines.append("smoke profile: tiny models trained for 2 epochs on 32 px crops; expect chance-level numbers.")
    return lines


def headline(study: Any, profile: str) -> str:
    """The region check in sentences (``region_lines``), for the top of the chapter."""
    return " ".join(line.rstrip(".") + "." for line in region_lines(study, profile))


# The acting body part must cover at least this many cells of a map, on average, for the map to say where the
# model looks (fixed before the runs): on fewer, every map is a wash over the figure, for or against.
MIN_REGION_CELLS = 4.0


def cam_grid(run: LoadedRun) -> tuple[int, int]:
    """(h, w) cells of ``run``'s CAM per frame at its input size: the resolution its maps can have."""
    model, crop = run.model, run.cfg.data.crop_size
    seen: dict[str, torch.Tensor] = {}
    hook = model.cam_target_layer.register_forward_hook(lambda m, i, out: seen.update(out=out))
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, model.num_frames, 3, crop, crop, device=run.device))
    finally:
        hook.remove()
    reshape = model.cam_reshape
    out = reshape(seen["out"]) if reshape is not None else seen["out"]  # [N, C, (t,) h, w]
    return int(out.shape[-2]), int(out.shape[-1])


def cam_evidence(study: Any, loaded: Mapping[str, LoadedRun], model: str = "manet") -> dict[str, Any]:
    """For the ledger: ``model``'s CAM mass on the acting body part minus that part's area (chance), per clip,
    averaged with its 95% bootstrap interval over the clips (points); the map's grid and how many of its cells the
    acting part covers on average (the ledger decides only at ``MIN_REGION_CELLS`` or more)."""
    rows = study[(study["model"] == model)].dropna(subset=["mass"])
    effect = stats.mean_interval(100.0 * (rows["mass"].to_numpy() - rows["area"].to_numpy()))
    h, w = cam_grid(loaded[model])
    crop = loaded[model].cfg.data.crop_size
    return {"model": model, "clips": len(rows), "manet_mass_minus_area": [effect.value, effect.low, effect.high],
            "cells": [h, w], "cell_px": crop / h, "crop_px": crop,
            "region_cells": float(rows["area"].mean()) * h * w, "min_region_cells": MIN_REGION_CELLS}


__all__ = ["headline", "MODELS", "cam_evidence", "chapter_runs", "loaded_runs", "region_lines"]
