"""The ablations chapter: MANet's components, the loss weight lambda, segments per clip, label embeddings.

``ablation_configs`` is the experiment; its base and +TSM points are the benchmark's TSN and TSM runs
and its full MANet is the benchmark's MANet (same configs, so the same runs are reused). The paper's
ablation numbers were never made public: the tables say so in their ``paper`` column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ma52lib import stats
from ma52lib.chapters.benchmark import benchmark_configs, seeded_configs
from ma52lib.chapters.common import (
    COLUMN_TITLES,
    HEADLINE,
    NOT_PUBLIC,
    ChapterRuns,
    RunSet,
    base_config,
    interval_of,
    scored,
    seeds_of,
    with_seed,
)
from ma52lib.config import Config
from ma52lib.engine.evaluate import scored_results

# Sweep values of the ablation chapter per profile. The cpu values keep `make book` near its budget:
# with the benchmark's ten runs, 4 more trainings (the other points coincide with benchmark runs).
# The cpu book leaves out the random-embedding control (one training) to stay within its budget.
ABLATION_DEFAULTS: dict[str, dict[str, tuple]] = {
    "smoke": {"lambdas": (0.0, 10.0, 50.0), "segments": (4, 8), "embedding_sources": ("default", "random")},
    "cpu": {"lambdas": (0.0, 10.0, 50.0), "segments": (4, 8), "embedding_sources": ("default",)},
    "paper": {"lambdas": (0.0, 10.0, 50.0, 100.0), "segments": (4, 8, 12), "embedding_sources": ("default", "random")},
}


def ablation_defaults(profile: str) -> dict[str, tuple]:
    """The ablation chapter's default sweeps (lambdas, segments, embedding_sources) for ``profile``."""
    if profile not in ABLATION_DEFAULTS:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(ABLATION_DEFAULTS)}")
    return dict(ABLATION_DEFAULTS[profile])


def sweeps_for(profile: str, *, lambdas: Sequence[float] | None = None, segments: Sequence[int] | None = None,
               embedding_sources: Sequence[str] | None = None,
               extra_embeddings: str | None = None) -> dict[str, tuple]:
    """The chapter's sweeps: the profile's defaults, each replaced where given, plus another embedding table."""
    sweeps = ablation_defaults(profile)
    if lambdas is not None:
        sweeps["lambdas"] = tuple(float(v) for v in lambdas)
    if segments is not None:
        sweeps["segments"] = tuple(int(v) for v in segments)
    if embedding_sources is not None:
        sweeps["embedding_sources"] = tuple(embedding_sources)
    if extra_embeddings:
        sweeps["embedding_sources"] += (str(Path(extra_embeddings).expanduser().resolve()),)
    return sweeps


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


# The components study's seeded configurations by label, with the name the ledger knows each by.
COMPONENTS: dict[str, str] = {"ResNet-TSN (base)": "tsn", "+TSM": "tsm", "+TSM+SE": "manet_noemb",
                              "+TSM+SE+joint embedding (MANet)": "manet"}
# Its contrasts as (better, worse): each step adds one module (the ledger's claims), the last is the whole of MANet
# over its base.
STEPS: tuple[tuple[str, str], ...] = (("+TSM", "ResNet-TSN (base)"), ("+TSM+SE", "+TSM"),
                                      ("+TSM+SE+joint embedding (MANet)", "+TSM+SE"))
CONTRASTS: tuple[tuple[str, str], ...] = (*STEPS, ("+TSM+SE+joint embedding (MANet)", "ResNet-TSN (base)"))


def noemb_seeds(profile: str, data_root: str | None, seed: int = 0, n_seeds: int | None = None) -> dict[int, Config]:
    """MANet without the joint-embedding loss (+TSM+SE) at each seed: the fourth core contrast."""
    cfg = base_config(profile, data_root, seed, **{"model.name": "manet", "loss.weight": 0.0})
    return {s: with_seed(cfg, s) for s in seeds_of(profile, seed, n_seeds)}


def seeded_contrasts(profile: str, data_root: str | None, seed: int = 0,
                     n_seeds: int | None = None) -> dict[str, dict[int, Config]]:
    """The core contrasts at each seed (None: the profile's) by name: the benchmark's TSN, TSM and MANet, and MANet
    without the joint-embedding loss."""
    return {**seeded_configs(profile, data_root, seed, n_seeds), "manet_noemb": noemb_seeds(profile, data_root, seed,
                                                                                           n_seeds)}


def seeded_components(profile: str, data_root: str | None, seed: int = 0,
                      n_seeds: int | None = None) -> dict[str, dict[int, Config]]:
    """The components study's seeded rows (``COMPONENTS``): TSN, +TSM, +TSM+SE and MANet at each seed."""
    by_name = seeded_contrasts(profile, data_root, seed, n_seeds)
    return {label: by_name[name] for label, name in COMPONENTS.items()}


def chapter_runs(profile: str, data_root: str | None = None, seed: int = 0, *, n_seeds: int | None = None,
                 lambdas: Sequence[float] | None = None, segments: Sequence[int] | None = None,
                 embedding_sources: Sequence[str] | None = None, extra_embeddings: str | None = None) -> ChapterRuns:
    """The runs of the ablations chapter (its notebook's parameters): every study's points by ``study/label`` (the
    profile's sweeps, each replaced where given: ``sweeps_for``), and the components at each seed by label."""
    sweeps = sweeps_for(profile, lambdas=lambdas, segments=segments, embedding_sources=embedding_sources,
                        extra_embeddings=extra_embeddings)
    studies = ablation_configs(profile, data_root, seed, **sweeps)
    configs = {f"{study}/{label}": cfg for study, by_label in studies.items() for label, cfg in by_label.items()}
    return ChapterRuns(configs, seeded_components(profile, data_root, seed, n_seeds))


def by_study(runs: RunSet) -> dict[str, RunSet]:
    """``study/label`` run folders (and failures) of ``chapter_runs`` grouped as study -> label -> folder."""
    grouped: dict[str, RunSet] = {}
    for key, folder in runs.items():
        study, label = key.split("/", 1)
        grouped.setdefault(study, RunSet())[label] = folder
    for key, why in runs.failed.items():
        study, label = key.split("/", 1)
        grouped.setdefault(study, RunSet()).failed[label] = why
    return grouped


def _mean_sd(values: Sequence[float]) -> str:
    """``mean ± sd`` over seeds; a single seed has no spread (``ma52 reproduce --seeds 1``)."""
    if len(values) < 2:
        return f"{values[0]:.1f} (one seed)"
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}"


def seed_table(runs: Mapping[str, Mapping[int, str | Path]], *, split: str = "test",
               metrics: Sequence[str] = HEADLINE) -> pd.DataFrame:
    """Per seeded configuration: mean ± sd over its seeds of each metric, and each seed's value."""
    rows = []
    for label, by_seed in runs.items():
        values = {m: [float(scored_results(Path(d), split)[0][m]) for d in by_seed.values()] for m in metrics}
        rows.append({"configuration": label, "seeds": len(by_seed),
                     **{f"{COLUMN_TITLES[m]} (mean ± sd)": _mean_sd(v) for m, v in values.items()},
                     **{f"{COLUMN_TITLES[m]} per seed": ", ".join(f"{x:.1f}" for x in v) for m, v in values.items()}})
    return pd.DataFrame(rows).set_index("configuration")


def contrast_table(runs: Mapping[str, Mapping[int, str | Path]], contrasts: Sequence[tuple[str, str]], *,
                   split: str = "test", metrics: Sequence[str] = HEADLINE) -> pd.DataFrame:
    """Each (better, worse) pair of seeded configurations: the difference of their seed means with the paired
    bootstrap interval over test clips and the t-interval over per-seed differences, and the verdict."""
    rows = []
    for better, worse in contrasts:
        a = [scored(d, split)[0] for d in runs[better].values()]
        b = [scored(d, split)[0] for d in runs[worse].values()]
        for metric in metrics:
            clips, seeds = stats.difference(a, b, metric)
            rows.append({"contrast": f"{better} minus {worse}", "metric": COLUMN_TITLES[metric],
                         "difference (points)": round(clips.value, 1),
                         "95% CI over clips": f"[{clips.low:+.1f}, {clips.high:+.1f}]",
                         "95% CI over seeds": "-" if seeds is None else f"[{seeds.low:+.1f}, {seeds.high:+.1f}]",
                         "verdict": stats.verdict(clips, seeds)})
    return pd.DataFrame(rows).set_index(["contrast", "metric"])


def headline(contrasts: pd.DataFrame, metric: str = "Action top-1") -> str:
    """Two sentences on a ``contrast_table``: the last contrast (the whole of MANet against its base) and the
    single step that moves ``metric`` most."""
    rows = contrasts.xs(metric, level="metric")
    if rows.empty:
        return f"No contrast of {metric} was measured in this build."
    whole, name = rows.iloc[-1], rows.index[-1]
    text = (f"{name}: {whole['difference (points)']:+.1f} points of {metric} (95% interval over the clips "
            f"{whole['95% CI over clips']}, over the seeds {whole['95% CI over seeds']}), {whole['verdict']}.")
    steps = rows.iloc[:-1]
    if len(steps):
        big = steps["difference (points)"].abs().idxmax()
        text += f" The largest single step is {big}, {steps.loc[big, 'difference (points)']:+.1f} points."
    return text


def compact_table(runs: Mapping[str, str | Path], *, split: str = "test",
                  columns: Sequence[str] = ("body_top1", "action_top1", "action_top5", "body_f1_macro",
                                            "action_f1_macro", "f1_mean"),
                  paper_column: str | None = "paper") -> pd.DataFrame:
    """One row per run with our metrics (percent) and, when asked, a ``paper`` column saying "not public".

    For the ablations: the paper's ablation numbers were never made public, so the column says so.
    """
    rows = []
    for label, run_dir in runs.items():
        metrics, used = scored_results(Path(run_dir), split)
        row = {"run": label, "split": f"{used} (one seed, 95% CI)",
               **{COLUMN_TITLES[c]: round(float(metrics[c]), 2) for c in columns}}
        row.update({COLUMN_TITLES[c]: str(interval_of(run_dir, c, split)) for c in HEADLINE if c in columns})
        if paper_column:
            row[paper_column] = NOT_PUBLIC
        rows.append(row)
    return pd.DataFrame(rows).set_index("run")


def sweep_figure(runs: Mapping[str, str | Path], values: Sequence[float], *, xlabel: str, split: str = "test",
                 metrics: Sequence[str] = ("action_top1", "body_top1", "f1_mean")) -> Figure:
    """Metrics of a one-knob sweep (runs in the order of ``values``) as lines."""
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    styles = [("o", "-"), ("s", "--"), ("^", ":"), ("D", "-.")]
    for i, metric in enumerate(metrics):
        ys = [scored_results(Path(run_dir), split)[0][metric] for run_dir in runs.values()]
        marker, line = styles[i % len(styles)]  # equal values of two metrics stay visible
        ax.plot(list(values), ys, marker=marker, linestyle=line, label=COLUMN_TITLES[metric])
    ax.set_xticks(list(values))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{split} metric (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["headline", "ABLATION_DEFAULTS", "COMPONENTS", "CONTRASTS", "STEPS", "ablation_configs",
           "ablation_defaults", "by_study", "chapter_runs", "compact_table", "contrast_table", "noemb_seeds",
           "seed_table", "seeded_components", "seeded_contrasts", "sweep_figure", "sweeps_for"]
