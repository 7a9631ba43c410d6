"""Figures and tables of the book's chapters, drawn from finished run folders (results.json, checkpoints).

The chapter notebooks stay thin: they train or reuse runs through ``ma52lib.experiments`` and call these
helpers. Every number shown comes from a run; the paper's numbers come only from
``experiments.PAPER_RESULTS`` and are labelled as the paper's.
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
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ma52lib.engine.evaluate import scored_results
from ma52lib.experiments import COLUMN_TITLES, DISPLAY_NAMES, PAPER_RESULTS, load_results
from ma52lib.labels import BODY_PARTS, FINE_CLASSES, FINE_TO_BODY, NUM_BODY_PARTS, NUM_CLASSES

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

NOT_PUBLIC = "not public"

# Packages whose versions the reproducibility chapter lists (distribution names on PyPI).
ENV_PACKAGES: tuple[str, ...] = (
    "torch", "torchvision", "numpy", "decord", "av", "scikit-learn", "torchmetrics", "grad-cam", "pandas",
    "matplotlib", "seaborn", "papermill", "nbformat", "jupyter-book", "sphinx", "ma52lib",
)


# -- run results ------------------------------------------------------------------------------------------


def split_metrics(run_dir: str | Path, split: str = "test") -> tuple[dict[str, Any], str]:
    """(metrics of ``split``, split used): falls back to val where the split has no labels (real MA-52 test)."""
    return scored_results(Path(run_dir), split)


def display_name(label: str) -> str:
    """Table name of a run label (``"manet"`` -> ``"MANet"``; other labels unchanged)."""
    return DISPLAY_NAMES.get(label, label)


def class_counts(data_root: str | Path, split: str = "train") -> np.ndarray:
    """Clips per fine class ``[52]`` in ``split`` of a dataset folder (from its list file)."""
    from ma52lib.data.lists import read_list

    path = Path(data_root) / f"{split}_list_videos.txt"
    labels = [clip.label for clip in read_list(path)]
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=NUM_CLASSES)


def echo_brief(line: str) -> None:
    """An ``echo`` for ``run_configs`` that prints one line per run (its label and outcome), not every epoch."""
    if line.startswith(("== ", "reusing finished run", "done:", "resumed from")):
        print(line, flush=True)


def compact_table(runs: Mapping[str, str | Path], *, split: str = "test",
                  columns: Sequence[str] = ("body_top1", "action_top1", "action_top5", "body_f1_macro",
                                            "action_f1_macro", "f1_mean"),
                  paper_column: str | None = "paper") -> pd.DataFrame:
    """One row per run with our metrics (percent) and, when asked, a ``paper`` column saying "not public".

    For the ablations: the paper's ablation numbers were never made public, so the column says so.
    """
    import pandas as pd

    rows = []
    for label, run_dir in runs.items():
        metrics, used = split_metrics(run_dir, split)
        row = {"run": label, "split": used, **{COLUMN_TITLES[c]: round(float(metrics[c]), 2) for c in columns}}
        if paper_column:
            row[paper_column] = NOT_PUBLIC
        rows.append(row)
    return pd.DataFrame(rows).set_index("run")


# -- benchmark figures ------------------------------------------------------------------------------------


def bar_chart(runs: Mapping[str, str | Path], *, split: str = "test",
              metrics: Sequence[str] = ("body_top1", "action_top1", "f1_mean"), with_paper: bool = True) -> Figure:
    """Grouped bars of ``metrics`` per model; the paper's published values as black markers where public."""
    import matplotlib.pyplot as plt

    names = list(runs)
    scored = [split_metrics(runs[n], split) for n in names]
    ours = np.array([[metrics_[m] for m in metrics] for metrics_, _ in scored])  # [models, metrics]
    used = "/".join(sorted({u for _, u in scored}))  # "val" where the test labels are withheld
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(names) + 2), 5.0))
    x = np.arange(len(names))
    paper_drawn = False
    for j, metric in enumerate(metrics):
        pos = x - 0.4 + width * (j + 0.5)
        ax.bar(pos, ours[:, j], width, label=f"{COLUMN_TITLES[metric]} (this run)")
        if with_paper:
            pub = [PAPER_RESULTS.get(n, {}).get(metric) for n in names]
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
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

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
    import pandas as pd

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
    import matplotlib.pyplot as plt
    import seaborn as sns

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
    import pandas as pd

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
    import pandas as pd

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


# -- feature space ----------------------------------------------------------------------------------------


def clip_features(run_dir: str | Path, split: str = "test", *,
                  data_root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(pooled clip features ``[N, F]``, fine labels ``[N]``, split used) of a run's best checkpoint.

    Falls back to val where ``split`` has no labels (the real MA-52 test split).
    """
    from ma52lib.engine.run import load_run, predict_split

    _, used = split_metrics(run_dir, split)
    run = load_run(run_dir)
    _, pred = predict_split(run, used, data_root=data_root, features=True)
    return np.asarray(pred["features"], dtype=np.float32), np.asarray(pred["labels"], dtype=np.int64), used


def tsne_2d(features: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """A 2-D t-SNE map ``[N, 2]`` of features (PCA to 50 dimensions first when wider)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

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
    import matplotlib.pyplot as plt
    import seaborn as sns

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
    import pandas as pd
    from sklearn.metrics import silhouette_score

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


# -- ablation figures -------------------------------------------------------------------------------------


def sweep_figure(runs: Mapping[str, str | Path], values: Sequence[float], *, xlabel: str, split: str = "test",
                 metrics: Sequence[str] = ("action_top1", "body_top1", "f1_mean")) -> Figure:
    """Metrics of a one-knob sweep (runs in the order of ``values``) as lines."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    styles = [("o", "-"), ("s", "--"), ("^", ":"), ("D", "-.")]
    for i, metric in enumerate(metrics):
        ys = [split_metrics(run_dir, split)[0][metric] for run_dir in runs.values()]
        marker, line = styles[i % len(styles)]  # equal values of two metrics stay visible
        ax.plot(list(values), ys, marker=marker, linestyle=line, label=COLUMN_TITLES[metric])
    ax.set_xticks(list(values))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{split} metric (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# -- reproducibility --------------------------------------------------------------------------------------


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    from ma52lib.paths import project_root

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
    import pandas as pd
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() \
        else []
    rows = [
        ("python", sys.version.split()[0]),
        ("platform", platform.platform()),
        ("CPU", _cpu_name()),
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
                import ma52lib

                rows.append((dist, f"{ma52lib.__version__} (source tree)"))
            else:
                rows.append((dist, "not installed"))
    return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")


def runs_on(data_root: str | Path, profile: str, runs_root: str | Path | None = None) -> dict[str, Path]:
    """Every finished run under the runs folder trained on ``data_root`` with ``profile``, by folder name."""
    from ma52lib.paths import runs_dir

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
    import pandas as pd

    rows = []
    for label, run_dir in runs.items():
        res = load_results(Path(run_dir))
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


def _flatten(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{section}.{name}": value for section, sub in cfg.items() if isinstance(sub, Mapping)
            for name, value in sub.items()}


def config_tables(runs: Mapping[str, str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fields every run shares with their value, per-run values of the fields that differ) of the resolved configs."""
    import pandas as pd

    flat = {label: _flatten(load_results(Path(d))["config"]) for label, d in runs.items()}
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


def reproduce_runs_table(path: str | Path) -> pd.DataFrame:
    """Earlier `ma52 reproduce` runs (book/generated/reproduce_runs.jsonl): when, profile, seconds, chapter outcomes."""
    import pandas as pd

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
    import pandas as pd

    rows = []
    for record in sorted(Path(generated_dir, ".cache").glob("*.json")):
        try:
            data = json.loads(record.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        rows.append({"chapter": record.stem, "seconds": round(float(data.get("seconds", 0.0)), 1),
                     "executed": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(data.get("finished", 0))))})
    return pd.DataFrame(rows, columns=["chapter", "seconds", "executed"]).set_index("chapter")


def _cli_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def train_commands(configs: Mapping[str, Any], *, nproc: int = 8, runs_root: str | Path | None = None) -> list[str]:
    """``torchrun`` command lines that train exactly ``configs`` (same config hash, so the chapters reuse them)."""
    from ma52lib.config import make_config, to_dict

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


__all__ = [
    "bar_chart", "body_confusion_figure", "chapter_times_table", "class_counts", "clip_features", "compact_table",
    "config_tables", "confused_pairs", "echo_brief", "environment_table", "feature_map_figure", "long_tail_table",
    "per_class_figure", "reproduce_runs_table", "reversal_table", "run_times_table", "runs_on", "separation_table",
    "split_metrics", "sweep_figure", "train_commands", "tsne_2d", "wrap_command",
]
