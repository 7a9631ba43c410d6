"""The reproducibility chapter: the machine and packages, the runs and their configs, timings, the
fault suite's table, and the commands that rerun the paper profile on GPUs.

Every table is read from what exists (run folders, the reproduce log, the cache records); nothing is
typed by hand.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import torch

import ma52lib
from ma52lib.chapters.ablations import ablation_configs, ablation_defaults
from ma52lib.chapters.benchmark import benchmark_configs
from ma52lib.config import Config, make_config, run_name, to_dict
from ma52lib.engine.evaluate import read_results
from ma52lib.machine import cpu_name
from ma52lib.models import display_name
from ma52lib.paths import project_root, runs_dir

# Packages whose versions the reproducibility chapter lists (distribution names on PyPI).
ENV_PACKAGES: tuple[str, ...] = (
    "torch", "torchvision", "numpy", "decord", "av", "scikit-learn", "torchmetrics", "grad-cam", "pandas",
    "matplotlib", "seaborn", "papermill", "nbformat", "jupyter-book", "sphinx", "ma52lib",
)


# -- the machine ------------------------------------------------------------------------------------------


def _git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=project_root(), capture_output=True,
                              text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=project_root(),
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git not available)"
    if head.returncode != 0:
        return "unknown (not a git checkout)"
    return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def environment_table() -> pd.DataFrame:
    """Python, OS, CPU, GPU and the versions of the packages the book depends on."""
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() \
        else []
    rows = [
        ("python", sys.version.split()[0]),
        ("platform", platform.platform()),
        ("CPU", cpu_name()),
        ("CPU cores (visible)", str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                    else os.cpu_count())),
        ("torch threads", str(torch.get_num_threads())),
        ("GPU", ", ".join(gpus) if gpus else "none"),
        ("CUDA (torch build)", torch.version.cuda or "none (CPU build)"),
        ("ma52 commit", _git_commit()),
    ]
    for dist in ENV_PACKAGES:
        if dist == "torch":
            rows.append((dist, torch.__version__))  # with the build tag (+cpu, +cu130), unlike the metadata
            continue
        try:
            rows.append((dist, metadata.version(dist)))
        except metadata.PackageNotFoundError:
            if dist == "ma52lib":  # run from the source tree without `pip install -e .`
                rows.append((dist, f"{ma52lib.__version__} (source tree)"))
            else:
                rows.append((dist, "not installed"))
    return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")


# -- runs and configs --------------------------------------------------------------------------------------


def runs_on(data_root: str | Path, profile: str, runs_root: str | Path | None = None) -> dict[str, Path]:
    """Every finished run under the runs folder trained on ``data_root`` with ``profile``, by folder name."""
    root = Path(runs_root) if runs_root else runs_dir()
    want = Path(data_root).expanduser().resolve()
    found = {}
    for results in sorted(root.glob("*/results.json")):
        try:
            res = json.loads(results.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a run being written by another process
        if res.get("config", {}).get("profile") == profile and Path(res.get("data_root", "")).resolve() == want:
            found[results.parent.name] = results.parent
    return found


def run_times_table(runs: Mapping[str, str | Path]) -> pd.DataFrame:
    """Model, parameters, device, epochs, train and eval seconds, and clips/s of each run."""
    rows = []
    for label, run_dir in runs.items():
        res = read_results(Path(run_dir))
        t = res["timings"]
        rows.append({
            "run": label, "model": display_name(res["model"]), "parameters": res["num_params"],
            "device": res.get("environment", {}).get("device", "?"),
            "processes": res.get("environment", {}).get("world_size", 1),
            "epochs": res["config"]["optim"]["epochs"], "best epoch": res["best_epoch"],
            "train s": round(t["train_seconds"], 1), "eval s": round(t["eval_seconds"], 1),
            "train clips/s": round(t["clips_per_s"], 1), "data wait": f"{100 * t['data_wait_fraction']:.0f}%",
        })
    return pd.DataFrame(rows).set_index("run")


def headline(times: pd.DataFrame) -> str:
    """Two sentences on a ``run_times_table``: how many runs, their training time in all, the longest."""
    if times.empty:
        return "No finished run of this profile on this data yet: `make book` trains them."
    longest = times["train s"].idxmax()
    return (f"This book rests on {len(times)} finished runs, {times['train s'].sum() / 60:.1f} minutes of training "
            f"in all on {', '.join(sorted(set(times['device'].astype(str))))}. The longest is {longest}, "
            f"{times.loc[longest, 'train s']:.0f} s for {times.loc[longest, 'epochs']} epochs.")


def _flatten(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{section}.{name}": value for section, sub in cfg.items() if isinstance(sub, Mapping)
            for name, value in sub.items()}


def config_tables(runs: Mapping[str, str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fields every run shares with their value, per-run values of the fields that differ) of the resolved configs."""
    flat = {label: _flatten(read_results(Path(d))["config"]) for label, d in runs.items()}
    if not flat:
        empty = pd.DataFrame(columns=["field", "value"]).set_index("field")
        return empty, pd.DataFrame()
    fields = sorted(set().union(*flat.values()))
    def show(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, default=str)

    # Compare as JSON (so "1" and 1 differ), show strings without quotes.
    text = {label: {f: json.dumps(cfg.get(f), default=str) for f in fields} for label, cfg in flat.items()}
    shown = {label: {f: show(cfg.get(f)) for f in fields} for label, cfg in flat.items()}
    shared = [f for f in fields if len({t[f] for t in text.values()}) == 1]
    differ = [f for f in fields if f not in shared]
    first = next(iter(shown.values()))
    common = pd.DataFrame([(f, first[f]) for f in shared], columns=["field", "value"]).set_index("field")
    diffs = pd.DataFrame([{"run": label, **{f: shown[label][f] for f in differ}} for label in shown]).set_index("run")
    return common, diffs


# -- book timings -----------------------------------------------------------------------------------------


def reproduce_runs_table(path: str | Path) -> pd.DataFrame:
    """Earlier `ma52 reproduce` runs (book/generated/reproduce_runs.jsonl): when, profile, seconds, chapter outcomes."""
    path = Path(path)
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            chapters = row.get("chapters", {})
            rows.append({
                "finished": row.get("time", "?"), "profile": row.get("profile", "?"),
                "total s": round(float(row.get("seconds", 0.0)), 1),
                **{name: f"{status} ({seconds:.0f} s)" if seconds else status
                   for name, (status, seconds) in chapters.items()},
            })
    return pd.DataFrame(rows)


def chapter_times_table(generated_dir: str | Path) -> pd.DataFrame:
    """Seconds of the latest successful execution of each chapter notebook (the reproduce cache records)."""
    rows = []
    for record in sorted(Path(generated_dir, ".cache").glob("*.json")):
        try:
            data = json.loads(record.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        rows.append({"chapter": record.stem, "seconds": round(float(data.get("seconds", 0.0)), 1),
                     "executed": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(data.get("finished", 0))))})
    return pd.DataFrame(rows, columns=["chapter", "seconds", "executed"]).set_index("chapter")


# -- the paper profile on GPUs ----------------------------------------------------------------------------


def paper_configs(data_root: str, seed: int = 0) -> dict[str, Config]:
    """Every config the benchmark and ablation chapters train with the paper profile, once each, by run name."""
    configs = {**benchmark_configs("paper", data_root, seed)}
    for study in ablation_configs("paper", data_root, seed, **ablation_defaults("paper")).values():
        configs.update(study)
    return {run_name(cfg): cfg for cfg in configs.values()}  # studies share runs: train each once


def _cli_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def train_commands(configs: Mapping[str, Config], *, nproc: int = 8, runs_root: str | Path | None = None) -> list[str]:
    """``torchrun`` command lines that train exactly ``configs`` (same config hash, so the chapters reuse them)."""
    lines = []
    for cfg in configs.values():
        base = _flatten(to_dict(make_config(cfg.profile)))
        sets = [f"--set {key}={_cli_value(value)}" for key, value in _flatten(to_dict(cfg)).items()
                if key not in ("model.name", "data.root") and value != base.get(key)]
        cmd = [f"torchrun --nproc_per_node {nproc} -m ma52lib.cli train",
               f"--profile {cfg.profile} --model {cfg.model.name}"]
        if cfg.data.root:
            cmd.append(f"--data-root {cfg.data.root}")
        prefix = f"MA52_RUNS_DIR={runs_root} " if runs_root else ""
        lines.append(prefix + " ".join(cmd + sets))
    return lines


def wrap_command(line: str, width: int = 88) -> str:
    """A long command as shell lines continued with backslashes, broken only before an option."""
    parts = line.split(" --")
    parts = parts[:1] + ["--" + p for p in parts[1:]]  # each option keeps its value
    lines, current = [], parts[0]
    for part in parts[1:]:
        if len(current) + 1 + len(part) > width:
            lines.append(current)
            current = "    " + part
        else:
            current += " " + part
    lines.append(current)
    return " \\\n".join(lines)


__all__ = ["headline",
    "ENV_PACKAGES", "chapter_times_table", "config_tables", "environment_table", "paper_configs",
    "reproduce_runs_table", "run_times_table", "runs_on", "train_commands", "wrap_command",
]
