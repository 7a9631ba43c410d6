"""The paper's experiments as lists of configs, the runs that answer them, and tables beside the paper.

Notebooks stay thin: they call these functions and display what comes back.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from ma52lib.config import Config, make_config
from ma52lib.engine.evaluate import scored_results

# Published numbers on MA-52 (percent; the authors' README table). Keys match compute_metrics.
# Models the paper benchmarks without public numbers are absent: tables show "not public".
PAPER_RESULTS: dict[str, dict[str, float]] = {
    "c3d": {"body_top1": 74.04, "action_top1": 52.22, "action_top5": 86.97, "body_f1_macro": 66.60,
            "action_f1_macro": 40.86, "f1_mean": 58.43},
    "i3d": {"body_top1": 78.16, "action_top1": 57.07, "action_top5": 88.67, "body_f1_macro": 71.56,
            "action_f1_macro": 39.84, "f1_mean": 61.66},
    "slowfast": {"body_top1": 77.18, "action_top1": 59.60, "action_top5": 88.54, "body_f1_macro": 70.61,
                 "action_f1_macro": 44.96, "f1_mean": 63.09},
    "tsm": {"body_top1": 77.64, "action_top1": 56.75, "action_top5": 87.47, "body_f1_macro": 70.98,
            "action_f1_macro": 40.19, "f1_mean": 61.39},
    "manet": {"body_top1": 78.95, "action_top1": 61.33, "action_top5": 88.83, "body_f1_macro": 72.87,
              "action_f1_macro": 49.22, "f1_mean": 65.59},
}
PAPER_SOURCE = "Guo et al. (TCSVT 2024), authors' README table; split not stated"

# The benchmark's models in table order: the nine baselines, then MANet.
BENCHMARK_MODELS: tuple[str, ...] = ("tsn", "tsm", "tin", "c3d", "i3d", "r2plus1d", "slowfast", "timesformer",
                                     "vswin", "manet")
DISPLAY_NAMES = {"tsn": "TSN", "tsm": "TSM", "tin": "TIN", "c3d": "C3D", "i3d": "I3D", "r2plus1d": "R(2+1)D",
                 "slowfast": "SlowFast", "timesformer": "TimeSformer", "vswin": "Video Swin", "manet": "MANet"}

# Columns of the main table, in the paper's order.
TABLE_COLUMNS: tuple[str, ...] = ("body_top1", "action_top1", "action_top5", "body_f1_macro", "body_f1_micro",
                                  "action_f1_macro", "action_f1_micro", "f1_mean")
COLUMN_TITLES = {"body_top1": "Body top-1", "action_top1": "Action top-1", "action_top5": "Action top-5",
                 "body_f1_macro": "Body F1 macro", "body_f1_micro": "Body F1 micro",
                 "action_f1_macro": "Action F1 macro", "action_f1_micro": "Action F1 micro", "f1_mean": "F1_mean"}


def base_config(profile: str, data_root: str | None, seed: int = 0, **overrides: Any) -> Config:
    """The profile's config on ``data_root`` (None -> MA-52-Synth) with dotted overrides."""
    over = {"data.root": data_root, "runtime.seed": seed, **{k.replace("__", "."): v for k, v in overrides.items()}}
    return make_config(profile, over)


def benchmark_configs(profile: str, data_root: str | None, seed: int = 0) -> dict[str, Config]:
    """One config per benchmark model: same data, same epochs, same evaluation (honest comparison).

    Baselines train with plain cross-entropy as in their papers; MANet with its joint-embedding loss.
    """
    configs = {}
    for name in BENCHMARK_MODELS:
        over: dict[str, Any] = {"model.name": name}
        if name != "manet":
            over["loss.weight"] = 0.0
        configs[name] = base_config(profile, data_root, seed, **over)
    return configs


def ablation_configs(profile: str, data_root: str | None, seed: int = 0, *,
                     lambdas: tuple[float, ...] = (0.0, 10.0, 50.0, 100.0),
                     segments: tuple[int, ...] = (4, 8, 12),
                     embedding_sources: tuple[str, ...] = ("default", "random")) -> dict[str, dict[str, Config]]:
    """The ablation studies: components, loss weight lambda, number of segments, label-embedding source."""
    def manet(**over: Any) -> Config:
        return base_config(profile, data_root, seed, **{"model.name": "manet", **over})

    # TSN and TSM of the benchmark are MANet's network without SE/TSM/embedding and without
    # SE/embedding (same modules, same parameters, same results): their benchmark runs are reused.
    benchmark = benchmark_configs(profile, data_root, seed)
    components = {
        "ResNet-TSN (base)": benchmark["tsn"],
        "+TSM": benchmark["tsm"],
        "+SE": manet(**{"model.se": True, "model.tsm": False, "loss.weight": 0.0}),
        "+TSM+SE": manet(**{"model.se": True, "model.tsm": True, "loss.weight": 0.0}),
        "+TSM+SE+joint embedding (MANet)": manet(),
    }
    return {
        "components": components,
        "lambda": {f"lambda={lam:g}": manet(**{"loss.weight": lam}) for lam in lambdas},
        "segments": {f"T={t}": manet(**{"model.num_segments": t}) for t in segments},
        "embeddings": {src: manet(**{"loss.embeddings": src}) for src in embedding_sources},
    }


# Sweep values of the ablation chapter per profile. The cpu values keep `make book` near its budget:
# with the benchmark's ten runs, 5 more trainings (the other points coincide with benchmark runs).
ABLATION_DEFAULTS: dict[str, dict[str, tuple]] = {
    "smoke": {"lambdas": (0.0, 50.0), "segments": (4, 8), "embedding_sources": ("default", "random")},
    "cpu": {"lambdas": (0.0, 10.0, 50.0), "segments": (4, 8), "embedding_sources": ("default", "random")},
    "paper": {"lambdas": (0.0, 10.0, 50.0, 100.0), "segments": (4, 8, 12), "embedding_sources": ("default", "random")},
}


def ablation_defaults(profile: str) -> dict[str, tuple]:
    """The ablation chapter's default sweeps (lambdas, segments, embedding_sources) for ``profile``."""
    if profile not in ABLATION_DEFAULTS:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(ABLATION_DEFAULTS)}")
    return dict(ABLATION_DEFAULTS[profile])


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
    from ma52lib.engine.train import TrainingError, train

    runs = RunSet()
    for label, cfg in configs.items():
        echo(f"== {label}")
        try:
            runs[label] = train(cfg, resume=True, echo=echo)
        except TrainingError as exc:
            runs.failed[label] = str(exc).split(";")[0]
            echo(f"!! {label} failed: {exc}")
    return runs


def load_results(run_dir: Path) -> dict[str, Any]:
    """results.json of a run."""
    from ma52lib.engine.evaluate import read_results

    return read_results(run_dir)


def results_table(runs: dict[str, Path], *, split: str = "test", with_paper: bool = True,
                  columns: tuple[str, ...] = TABLE_COLUMNS):
    """A DataFrame: one row per run (``this run``) and, when asked, the paper's row beside it."""
    import pandas as pd

    rows = []
    for label, run_dir in runs.items():
        metrics, used = scored_results(Path(run_dir), split)
        name = DISPLAY_NAMES.get(label, label)
        rows.append({"model": name, "source": f"this run ({used})",
                     **{COLUMN_TITLES[c]: round(float(metrics[c]), 2) for c in columns}})
        if with_paper:
            rows.append(_paper_row(label, name, columns))
    for label, why in getattr(runs, "failed", {}).items():
        name = DISPLAY_NAMES.get(label, label)
        rows.append({"model": name, "source": "this run", **{COLUMN_TITLES[c]: f"failed: {why}" for c in columns[:1]},
                     **{COLUMN_TITLES[c]: "-" for c in columns[1:]}})
        if with_paper:
            rows.append(_paper_row(label, name, columns))
    return pd.DataFrame(rows).set_index(["model", "source"])


def _paper_row(label: str, name: str, columns: tuple[str, ...]) -> dict[str, Any]:
    paper = PAPER_RESULTS.get(label)
    return {"model": name, "source": "paper",
            **{COLUMN_TITLES[c]: (paper[c] if paper and c in paper else "not public") for c in columns}}


def timing_table(runs: dict[str, Path]):
    """Parameters, epochs, train time and clips/s of each run."""
    import pandas as pd

    rows = []
    for label, run_dir in runs.items():
        res = load_results(run_dir)
        rows.append({"run": label, "folder": Path(run_dir).name, "parameters": res["num_params"],
                     "epochs": res["config"]["optim"]["epochs"], "best epoch": res["best_epoch"],
                     "train s": round(res["timings"]["train_seconds"], 1),
                     "clips/s": round(res["timings"]["clips_per_s"], 1),
                     "data wait": f"{100 * res['timings']['data_wait_fraction']:.0f}%"})
    return pd.DataFrame(rows).set_index("run")


def with_overrides(cfg: Config, **over: Any) -> Config:
    """A copy of ``cfg`` with dotted overrides (``optim__lr=0.1``)."""
    from ma52lib.config import set_field

    for key, value in over.items():
        cfg = set_field(cfg, key.replace("__", "."), value)
    return cfg


__all__ = [
    "PAPER_RESULTS", "BENCHMARK_MODELS", "benchmark_configs", "ablation_configs", "ablation_defaults", "run_configs",
    "results_table", "timing_table", "base_config", "with_overrides",
]
