"""The benchmark chapter: the ten models on the same data, beside the paper's published numbers.

``benchmark_configs`` is the experiment (one config per model, same data, epochs and evaluation); the
tables and figures read the finished runs: the main table, bars beside the paper, per-class accuracy
against the long tail, body-level confusions, the most confused and the time-reversed class pairs,
and t-SNE maps of the clip features with their silhouettes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score

from ma52lib import stats
from ma52lib.chapters.common import (
    COLUMN_TITLES,
    HEADLINE,
    NOT_PUBLIC,
    TABLE_COLUMNS,
    ChapterRuns,
    base_config,
    interval_of,
    seeds_of,
    with_seed,
)
from ma52lib.config import Config
from ma52lib.engine.evaluate import load_predictions, scored_results
from ma52lib.engine.run import load_run, predict_split
from ma52lib.labels import BODY_PARTS, FINE_CLASSES, FINE_TO_BODY, NUM_BODY_PARTS, NUM_CLASSES
from ma52lib.models import BENCHMARK_MODELS, display_name, paper_results

# Where the published numbers on MA-52 (each model's ``facts.paper_results``) come from.
PAPER_SOURCE = "Guo et al. (TCSVT 2024), authors' README table; split not stated"


def benchmark_configs(profile: str, data_root: str | None, seed: int = 0,
                      models: Sequence[str] | None = None) -> dict[str, Config]:
    """One config per benchmark model: same data, same epochs, same evaluation (honest comparison).

    Baselines train with plain cross-entropy as in their papers; MANet with its joint-embedding loss.
    ``models`` picks a subset, or adds models of your own (``package.module:factory``, trained like a baseline).
    """
    configs = {}
    for name in BENCHMARK_MODELS if models is None else tuple(models):
        over: dict[str, Any] = {"model.name": name}
        if name != "manet":
            over["loss.weight"] = 0.0
        configs[name] = base_config(profile, data_root, seed, **over)
    return configs


# The benchmark's models trained at every seed of the profile: the ledger's core contrasts.
SEEDED_MODELS: tuple[str, ...] = ("tsn", "tsm", "manet")


def seeded_configs(profile: str, data_root: str | None, seed: int = 0,
                   n_seeds: int | None = None) -> dict[str, dict[int, Config]]:
    """TSN, TSM and MANet of the benchmark at each seed (``n_seeds`` of them; None: the profile's ``common.SEEDS``)."""
    base = benchmark_configs(profile, data_root, seed, models=SEEDED_MODELS)
    return {name: {s: with_seed(cfg, s) for s in seeds_of(profile, seed, n_seeds)} for name, cfg in base.items()}


def chapter_runs(profile: str, data_root: str | None = None, seed: int = 0, *, models: Sequence[str] | None = None,
                 extra_models: Sequence[str] = (), n_seeds: int | None = None) -> ChapterRuns:
    """The runs of the benchmark chapter (its notebook's parameters): one per model (``models``, None: all of
    ``BENCHMARK_MODELS``, then ``extra_models``), and the seeded contrasts of those among ``SEEDED_MODELS``."""
    configs = benchmark_configs(profile, data_root, seed, models=[*(models or BENCHMARK_MODELS), *extra_models])
    seeded = {name: by_seed for name, by_seed in seeded_configs(profile, data_root, seed, n_seeds).items()
              if name in configs}
    return ChapterRuns(configs, seeded)


def results_table(runs: Mapping[str, str | Path], *, split: str = "test", with_paper: bool = True,
                  columns: tuple[str, ...] = TABLE_COLUMNS,
                  seeds: Mapping[str, Mapping[int, str | Path]] | None = None) -> pd.DataFrame:
    """One row per run (``this run``, headline metrics with their 95% bootstrap interval over clips), the
    mean and sd over seeds where a model has several, and the paper's row beside them when asked."""
    rows = []
    for label, run_dir in runs.items():
        metrics, used = scored_results(Path(run_dir), split)
        name = display_name(label)
        ours = {COLUMN_TITLES[c]: round(float(metrics[c]), 2) for c in columns}
        ours.update({COLUMN_TITLES[c]: str(interval_of(run_dir, c, split)) for c in HEADLINE if c in columns})
        rows.append({"model": name, "source": f"this run ({used}, 95% CI)", **ours})
        if seeds and len(seeds.get(label, {})) > 1:
            rows.append(_seed_row(label, name, seeds[label], split, columns))
        if with_paper:
            rows.append(_paper_row(label, name, columns))
    for label, why in getattr(runs, "failed", {}).items():
        name = display_name(label)
        rows.append({"model": name, "source": "this run", **{COLUMN_TITLES[c]: f"failed: {why}" for c in columns[:1]},
                     **{COLUMN_TITLES[c]: "-" for c in columns[1:]}})
        if with_paper:
            rows.append(_paper_row(label, name, columns))
    return pd.DataFrame(rows).set_index(["model", "source"])


def _pct(i: stats.Interval) -> str:
    return f"{i.value:.1f}% (95% interval over the clips {i.low:.1f} to {i.high:.1f})"


def headline(runs: Mapping[str, str | Path], *, split: str = "test") -> str:
    """Two sentences on the main table, computed from the runs: the best action top-1 and where MANet stands."""
    if not runs:
        return "No model finished training in this build: the table lists only the failures and the paper's numbers."
    top1 = {label: float(scored_results(Path(d), split)[0]["action_top1"]) for label, d in runs.items()}
    used = scored_results(Path(next(iter(runs.values()))), split)[1]
    order = sorted(top1, key=top1.__getitem__, reverse=True)
    best = interval_of(runs[order[0]], "action_top1", split)
    first = (f"Of the {len(runs)} models trained here, {display_name(order[0])} has the highest action top-1 on the "
             f"{used} split, {_pct(best)}.")
    if "manet" not in runs:
        return first + " MANet did not finish in this build, so the paper's central comparison is open here."
    if order[0] == "manet":
        runner = f"; next is {display_name(order[1])} at {top1[order[1]]:.1f}%" if len(order) > 1 else ""
        return first + f" MANet is first, as in the paper{runner}."
    manet = interval_of(runs["manet"], "action_top1", split)
    overlap = " (the two intervals overlap: this test split cannot order them)" if manet.high >= best.low else ""
    return first + (f" MANet ranks {order.index('manet') + 1} of {len(order)} with {_pct(manet)}{overlap}, where the "
                    "paper has it first.")


def _seed_row(label: str, name: str, runs: Mapping[int, str | Path], split: str,
              columns: tuple[str, ...]) -> dict[str, Any]:
    values = {c: [float(scored_results(Path(d), split)[0][c]) for d in runs.values()] for c in columns}
    return {"model": name, "source": f"{len(runs)} seeds (mean ± sd)",
            **{COLUMN_TITLES[c]: f"{np.mean(v):.1f} ± {np.std(v, ddof=1):.1f}" for c, v in values.items()}}


def _paper_row(label: str, name: str, columns: tuple[str, ...]) -> dict[str, Any]:
    paper = paper_results(label)
    return {"model": name, "source": "paper",
            **{COLUMN_TITLES[c]: (paper[c] if paper and c in paper else NOT_PUBLIC) for c in columns}}


# -- figures and tables of the runs ------------------------------------------------------------------------


def bar_chart(runs: Mapping[str, str | Path], *, split: str = "test",
              metrics: Sequence[str] = ("body_top1", "action_top1", "f1_mean"), with_paper: bool = True) -> Figure:
    """Grouped bars of ``metrics`` per model with their 95% bootstrap intervals (error bars); the paper's
    published values as black markers where public."""
    names = list(runs)
    intervals = [[interval_of(runs[n], m, split) for m in metrics] for n in names]  # [models][metrics]
    used = "/".join(sorted({scored_results(Path(runs[n]), split)[1] for n in names}))  # val where test is withheld
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 2), 5.0))
    x = np.arange(len(names))
    paper_drawn = False
    for j, metric in enumerate(metrics):
        pos = x - 0.4 + width * (j + 0.5)
        values = np.array([row[j].value for row in intervals])
        errors = np.array([[row[j].value - row[j].low for row in intervals],
                           [row[j].high - row[j].value for row in intervals]])  # [2, models]
        ax.bar(pos, values, width, yerr=errors, capsize=2, error_kw={"elinewidth": 0.8},
               label=f"{COLUMN_TITLES[metric]} (this run, 95% CI)")
        if with_paper:
            pub = [(paper_results(n) or {}).get(metric) for n in names]
            px = [p for p, v in zip(pos, pub) if v is not None]
            py = [v for v in pub if v is not None]
            if px:
                ax.scatter(px, py, marker="D", s=22, color="black", zorder=3,
                           label=None if paper_drawn else "paper (real MA-52, published)")
                paper_drawn = True
    ax.set_xticks(x, [display_name(n) for n in names], rotation=30, ha="right")
    ax.set_ylabel("percent")
    ax.set_ylim(0, 100)
    ax.set_title(f"Benchmark on the {used} split")
    ax.grid(axis="y", alpha=0.3)
    # Below the axes, so it never hides a bar.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncols=2, frameon=False)
    fig.tight_layout()
    return fig


def per_class_figure(per_class: Mapping[str, Sequence[float]], train_counts: Sequence[int], *,
                     split: str = "test") -> Figure:
    """Per-class accuracy of each model (left) beside training clips per class (right), most frequent class on top."""
    counts = np.asarray(train_counts, dtype=np.int64)
    order = np.argsort(-counts, kind="stable")  # the long tail runs downwards
    models = list(per_class)
    height = 0.8 / max(len(models), 1)
    fig, (ax, right) = plt.subplots(1, 2, figsize=(9.0, 12.5), sharey=True, gridspec_kw={"width_ratios": (3, 1)})
    y = np.arange(NUM_CLASSES)
    for j, name in enumerate(models):
        acc = np.asarray(per_class[name], dtype=np.float64)[order]
        ax.barh(y - 0.4 + height * (j + 0.5), np.nan_to_num(acc, nan=0.0), height,
                label=f"{display_name(name)}")
    if models:
        missing = np.isnan(np.asarray(per_class[models[0]], dtype=np.float64)[order])
        if missing.any():
            ax.scatter(np.full(missing.sum(), 3.0), y[missing], marker="x", color="grey", zorder=3,
                       label=f"no {split} clips of the class")
    ax.set_yticks(y, [FINE_CLASSES[i] for i in order], fontsize=8)
    ax.set_ylim(NUM_CLASSES - 0.4, -0.6)  # most frequent class at the top
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"{split} accuracy of the class (%)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    right.barh(y, np.where(counts[order] > 0, counts[order], np.nan), 0.7, color="dimgray")
    positive = counts[counts > 0]
    if positive.size and positive.max() >= 10 * positive.min():  # a real long tail: log scale
        right.set_xscale("log")
        right.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        right.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        right.set_xlabel("train clips (log scale)")
    else:
        right.set_xlabel("train clips")
    right.grid(axis="x", alpha=0.3)
    fig.suptitle("Per-class accuracy against class frequency (the long tail)")
    fig.tight_layout()
    return fig


def long_tail_table(per_class: Mapping[str, Sequence[float]], train_counts: Sequence[int], *,
                    groups: int = 3) -> pd.DataFrame:
    """Mean per-class accuracy of each model over frequency groups of classes (head, middle, tail)."""
    counts = np.asarray(train_counts, dtype=np.int64)
    order = np.argsort(-counts, kind="stable")
    names = {3: ("head", "middle", "tail")}.get(groups, tuple(f"group {i + 1}" for i in range(groups)))
    rows = []
    for g, idx in enumerate(np.array_split(order, groups)):
        row: dict[str, Any] = {"classes": len(idx), "train clips per class": f"{counts[idx].min()}-{counts[idx].max()}"}
        for name, acc in per_class.items():
            values = np.asarray(acc, dtype=np.float64)[idx]
            present = values[~np.isnan(values)]
            # Mean over the classes that have evaluation clips; "-" when none of the group has any.
            row[f"{display_name(name)} mean class accuracy"] = round(float(present.mean()), 2) if present.size else "-"
        rows.append({"frequency group": names[g], **row})
    return pd.DataFrame(rows).set_index("frequency group")


def body_confusion_figure(confusions: Mapping[str, Sequence[Sequence[int]]], *, split: str = "test") -> Figure:
    """Row-normalised body-level confusion matrices (seaborn heatmaps), one per model."""
    # One matrix under the other: side by side they shrink below readable in the book's text column.
    fig, axes = plt.subplots(len(confusions), 1, figsize=(7.0, 5.6 * len(confusions)), squeeze=False)
    for ax, (name, conf) in zip(axes[:, 0], confusions.items()):
        cm = np.asarray(conf, dtype=np.float64)  # [true body, predicted body]
        rows = cm.sum(axis=1, keepdims=True)
        pct = np.divide(100.0 * cm, rows, out=np.full_like(cm, np.nan), where=rows > 0)
        sns.heatmap(pct, ax=ax, annot=True, fmt=".0f", cmap="Blues", vmin=0, vmax=100, square=True,
                    xticklabels=BODY_PARTS, yticklabels=BODY_PARTS, cbar_kws={"label": "% of the true body part"})
        ax.set_xlabel("predicted body part")
        ax.set_ylabel("true body part")
        ax.set_title(f"{display_name(name)}: body-level confusion ({split}, n={int(cm.sum())})")
        ax.tick_params(axis="x", rotation=45)
        ax.tick_params(axis="y", rotation=0)
    fig.tight_layout()
    return fig


def confused_pairs(confusions: Mapping[str, Sequence[Sequence[int]]], k: int = 10) -> pd.DataFrame:
    """The ``k`` most frequent action confusions (true -> predicted) of each model, largest first."""
    rows = []
    for name, confusion in confusions.items():
        cm = np.asarray(confusion, dtype=np.int64)  # [true action, predicted action]
        off = cm.copy()
        np.fill_diagonal(off, 0)
        flat = np.argsort(-off, axis=None, kind="stable")[:k]
        for rank, (true, pred) in enumerate(zip(*np.unravel_index(flat, off.shape)), start=1):
            n = int(off[true, pred])
            if n == 0:
                break
            rows.append({
                "model": display_name(name), "rank": rank, "true action": FINE_CLASSES[true],
                "predicted as": FINE_CLASSES[pred], "clips": n,
                "% of the true class": round(100.0 * n / cm[true].sum(), 1),
                "same body part": "yes" if FINE_TO_BODY[true] == FINE_TO_BODY[pred] else "no",
            })
    columns = ["model", "rank", "true action", "predicted as", "clips", "% of the true class", "same body part"]
    return pd.DataFrame(rows, columns=columns).set_index(["model", "rank"])


def reversal_table(confusions: Mapping[str, Sequence[Sequence[int]]], pairs: Sequence[tuple[int, int]]) -> pd.DataFrame:
    """For each time-reversed class pair, the share of its clips each model gives to the partner class.

    Frame-order-blind models cannot tell such a pair apart: their share approaches half of the clips
    that land in the pair.
    """
    rows = []
    for a, b in pairs:
        row: dict[str, Any] = {"pair": f"{FINE_CLASSES[a]} / {FINE_CLASSES[b]}"}
        for name, conf in confusions.items():
            cm = np.asarray(conf, dtype=np.int64)
            clips = int(cm[a].sum() + cm[b].sum())
            swapped = int(cm[a, b] + cm[b, a])
            row["clips"] = clips
            row[f"{display_name(name)}: % given to the partner"] = round(100.0 * swapped / clips, 1) if clips else "-"
        rows.append(row)
    return pd.DataFrame(rows).set_index("pair")


def order_table(runs: Mapping[str, str | Path], pairs: Sequence[tuple[int, int]], *, split: str = "test",
                seeds: Mapping[str, Mapping[int, str | Path]] | None = None) -> pd.DataFrame:
    """Order accuracy per model on the time-reversed class pairs: does the model score a clip's class above
    its reversed partner? Balanced over each pair's classes, so a model blind to frame order is at 50%
    whatever the class frequencies; 95% bootstrap interval over the pairs' clips (``stats.order_interval``)."""
    rows = []
    for label, run_dir in runs.items():
        probs, labels, used = load_predictions(Path(run_dir), split)
        if not np.isin(labels, np.ravel(pairs)).any():
            rows.append({"model": display_name(label), "clips in the pairs": 0,
                         "order accuracy % (95% CI)": f"no clip of a reversed pair in the {used} split"})
            continue
        result = stats.order_interval(probs, labels, pairs)
        row = {"model": display_name(label), "clips in the pairs": int(np.isin(labels, np.ravel(pairs)).sum()),
               "order accuracy % (95% CI)": str(result),
               "above chance (50%)": "yes" if result.low > 50 else "no" if result.high < 50 else "not shown"}
        if seeds and len(seeds.get(label, {})) > 1:
            per_seed = [stats.order_interval(*load_predictions(Path(d), split)[:2], pairs).value
                        for d in seeds[label].values()]
            row[f"seeds (mean ± sd, n={len(per_seed)})"] = f"{np.mean(per_seed):.1f} ± {np.std(per_seed, ddof=1):.1f}"
        rows.append(row)
    table = pd.DataFrame(rows).set_index("model")
    seeded = [c for c in table.columns if c.startswith("seeds")]
    table[seeded] = table[seeded].fillna("one seed")  # the models trained at one seed only
    return table


# -- feature space ----------------------------------------------------------------------------------------


def clip_features(run_dir: str | Path, split: str = "test", *,
                  data_root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(pooled clip features ``[N, F]``, fine labels ``[N]``, split used) of a run's best checkpoint.

    Falls back to val where ``split`` has no labels (the real MA-52 test split).
    """
    _, used = scored_results(Path(run_dir), split)
    run = load_run(run_dir)
    _, pred = predict_split(run, used, data_root=data_root, features=True)
    return np.asarray(pred["features"], dtype=np.float32), np.asarray(pred["labels"], dtype=np.int64), used


def tsne_2d(features: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """A 2-D t-SNE map ``[N, 2]`` of features (PCA to 50 dimensions first when wider)."""
    x = np.asarray(features, dtype=np.float64)
    if len(x) < 3:
        raise ValueError(f"t-SNE needs at least 3 clips, got {len(x)}; evaluate on a larger split")
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
    if x.shape[1] > 50 and len(x) > 50:
        x = PCA(n_components=50, random_state=seed).fit_transform(x)
    # sklearn requires perplexity < N; 30 is its default for large sets.
    perplexity = float(min(30.0, max(1.0, (len(x) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                random_state=seed).fit_transform(x)


def feature_map_figure(features: Mapping[str, tuple[np.ndarray, np.ndarray]], *, split: str = "test",
                       seed: int = 0) -> Figure:
    """t-SNE maps of each model's clip features, points coloured by the clip's body part."""
    palette = sns.color_palette("colorblind", NUM_BODY_PARTS)
    fig, axes = plt.subplots(1, len(features), figsize=(6.0 * len(features), 5.6), squeeze=False)
    for ax, (name, (feats, labels)) in zip(axes[0], features.items()):
        xy = tsne_2d(feats, seed=seed)
        body = np.asarray(FINE_TO_BODY)[labels]
        for b in range(NUM_BODY_PARTS):
            m = body == b
            if m.any():
                ax.scatter(xy[m, 0], xy[m, 1], s=20, color=palette[b], label=BODY_PARTS[b], alpha=0.85)
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
        ax.set_title(f"{display_name(name)} clip features ({split}, n={len(labels)})")
    handles, names = [], []
    for ax in axes[0]:
        for h, n in zip(*ax.get_legend_handles_labels()):
            if n not in names:
                handles.append(h)
                names.append(n)
    order = sorted(range(len(names)), key=lambda i: BODY_PARTS.index(names[i]))
    fig.legend([handles[i] for i in order], [names[i] for i in order], title="body part", loc="center right")
    fig.tight_layout(rect=(0, 0, 0.87, 1))
    return fig


def separation_table(features: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Silhouette (cosine) of the clip features grouped by body part and by action, per model.

    Measured in the full feature space, not on the t-SNE map; higher means tighter, better separated groups.
    """
    def silhouette(x: np.ndarray, y: np.ndarray) -> float | str:
        groups = len(np.unique(y))
        if groups < 2 or groups > len(y) - 1:
            return "-"  # undefined: sklearn needs 2 <= groups <= clips - 1
        return round(float(silhouette_score(x, y, metric="cosine")), 3)

    rows = []
    for name, (feats, labels) in features.items():
        body = np.asarray(FINE_TO_BODY)[labels]
        rows.append({"model": display_name(name), "clips": len(labels), "feature size": int(feats.shape[1]),
                     "silhouette by body part": silhouette(feats, body),
                     "silhouette by action": silhouette(feats, labels)})
    return pd.DataFrame(rows).set_index("model")


__all__ = ["headline",
    "PAPER_SOURCE", "bar_chart", "benchmark_configs", "body_confusion_figure", "chapter_runs",
    "clip_features", "confused_pairs", "feature_map_figure", "long_tail_table", "per_class_figure", "results_table",
    "reversal_table", "separation_table", "tsne_2d",
]
