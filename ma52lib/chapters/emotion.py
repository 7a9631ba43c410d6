"""The emotion chapter: the generative assumptions, the sessions per split, cue frequencies per state, and the
experiment's results as tables.

The experiment itself is library code (``ma52lib.emotion``, computing with ``ma52lib.stats``); this module lays
its inputs and outputs out as the chapter shows them.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import seaborn as sns

from ma52lib import stats
from ma52lib.chapters.common import NOT_PUBLIC, ChapterRuns
from ma52lib.emotion import CUE_GROUPS, EMOTIONS, ClipOutputs, Session, assumptions
from ma52lib.emotion.experiment import (
    METRICS,
    SET_SHORT,
    SET_TITLES,
    EmotionResult,
    ci_text,
    manet_config,
    p_text,
    pct,
)

METRIC_TITLES = {"accuracy": "Accuracy", "macro_f1": "Macro-F1"}


def chapter_runs(profile: str, data_root: str | None = None, seed: int = 0) -> ChapterRuns:
    """The run of the emotion chapter: the benchmark's MANet (one run, shared), whose clip outputs give the cues."""
    return ChapterRuns({"manet": manet_config(profile, data_root, seed)})


def rate_table() -> pd.DataFrame:
    """Rate factors per cue group (rows) and state (columns), with the group's fine ids first."""
    a = assumptions()
    rates = pd.DataFrame(a["rate_factors"]).loc[list(a["cue_groups"])]
    rates.insert(0, "fine ids", [", ".join(map(str, ids)) for ids in a["cue_groups"].values()])
    return rates


def style_table() -> pd.DataFrame:
    """Manner and direct cues per state (rows): speed, amplitude, extra-movement chance, intensity, lean."""
    return pd.DataFrame(assumptions()["styles"]).T


def session_table(sessions: Sequence[Session]) -> pd.DataFrame:
    """Sessions per split (rows: train, val, test) and state, with the split's clips in the last column."""
    table = pd.DataFrame([{"split": s.split, "emotion": s.emotion, "clips": len(s.clips)} for s in sessions])
    summary = table.pivot_table(index="split", columns="emotion", values="clips", aggfunc="count", fill_value=0)
    summary["clips"] = table.groupby("split")["clips"].sum()
    return summary.loc[["train", "val", "test"]]


def cue_figure(freq: pd.DataFrame, *, seed: int = 0) -> sns.FacetGrid:
    """Share of each session's clips per cue group and state (95% CI), annotated beside MANet's predictions."""
    sources = [c for c in ("annotated", "MANet") if c in set(freq["source"])]
    g = sns.catplot(data=freq, x="group", y="fraction", hue="emotion", hue_order=list(EMOTIONS), col="source",
                    col_order=sources, kind="bar", errorbar=("ci", 95), seed=seed, height=3.6, aspect=1.4,
                    palette="coolwarm_r")
    g.set_titles("{col_name}")
    g.set_axis_labels("", "share of the session's clips")
    for ax in g.axes.flat:
        ax.tick_params(axis="x", labelrotation=35)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    return g


def cue_frequencies(sessions: Sequence[Session], *, labels: dict[str, int] | None = None,
                    clips: ClipOutputs | None = None, groups: dict[str, Sequence[int]] | None = None) -> pd.DataFrame:
    """Long DataFrame: per session and cue group, the fraction of clips in the group.

    ``source`` is "annotated" (from ``labels``) and/or "MANet" (the mean predicted probability mass of the
    group over the session's clips, from ``clips``).
    """
    groups = dict(groups or CUE_GROUPS)
    row = {cid: i for i, cid in enumerate(clips.ids)} if clips is not None else {}
    records = []
    for s in sessions:
        for group, ids in groups.items():
            ids = set(ids)
            base = {"session": s.session, "split": s.split, "emotion": s.emotion, "group": group}
            known = [labels[c] for c in s.clips if labels is not None and c in labels]
            if known:
                records.append({**base, "source": "annotated", "fraction": float(np.mean([y in ids for y in known]))})
            idx = [row[c] for c in s.clips if c in row]
            if idx:
                mass = clips.probs[idx][:, sorted(ids)].sum(1).mean()
                records.append({**base, "source": "MANet", "fraction": float(mass)})
    return pd.DataFrame.from_records(records, columns=["session", "split", "emotion", "group", "source", "fraction"])


def result_table(result: EmotionResult) -> pd.DataFrame:
    """Percent: one row per feature set (mean over seeds, 95% CI over seeds and over test sessions)."""
    rows = []
    for name in result.summary:
        row: dict[str, Any] = {"feature set": SET_TITLES.get(name, name), "dims": result.dims[name]}
        for metric in METRICS:
            s, title = result.summary[name][metric], METRIC_TITLES[metric]
            row[f"{title} %"] = pct(s["mean"])
            row[f"{title} 95% CI (seeds)"] = ci_text(s["ci_seeds"])
            row[f"{title} 95% CI (test sessions)"] = ci_text(s["ci_test"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("feature set")


def comparison_table(result: EmotionResult) -> pd.DataFrame:
    """Percentage points: paired differences between feature sets with both kinds of test."""
    rows = [{"comparison": f"{SET_SHORT[c['a']]} - {SET_SHORT[c['b']]}", "metric": METRIC_TITLES[c["metric"]],
             "difference (points)": pct(c["diff"]), "95% CI (seeds)": ci_text(c["ci_seeds"]),
             "paired t-test p (seeds)": p_text(c["p_seeds"]), "95% CI (test sessions)": ci_text(c["ci_test"]),
             "bootstrap p (test sessions)": p_text(c["p_test"])} for c in result.comparisons]
    return pd.DataFrame(rows).set_index(["comparison", "metric"])


def claim_table(result: EmotionResult) -> pd.DataFrame:
    """The paper's claim beside ours (percent): the paper's MA-52-Pro numbers are not public."""
    c = result.comparison("fused", "visual", "accuracy")
    effect = stats.verdict(stats.Interval(100 * c["diff"], 100 * c["ci_test"][0], 100 * c["ci_test"][1]))
    ours_direction = {stats.SUPPORTED: "yes", stats.CONTRADICTED: "no (worse)"}.get(effect,
                                                                                   "not settled (CI includes 0)")
    ours = "ours (MA-52-Synth emotion)"
    rows = [
        {"quantity": "accuracy, visual only (a)", "paper (MA-52-Pro)": NOT_PUBLIC,
         ours: pct(result.summary["visual"]["accuracy"]["mean"])},
        {"quantity": "accuracy, visual + micro-action cues (c)", "paper (MA-52-Pro)": NOT_PUBLIC,
         ours: pct(result.summary["fused"]["accuracy"]["mean"])},
        {"quantity": "(c) - (a), points", "paper (MA-52-Pro)": NOT_PUBLIC,
         ours: f"{pct(c['diff']):+.1f} {ci_text(c['ci_test'])}"},
        {"quantity": "micro-action cues improve emotion recognition", "paper (MA-52-Pro)": "yes (claimed)",
         ours: ours_direction},
    ]
    return pd.DataFrame(rows).set_index("quantity")


def emotion_evidence(result: EmotionResult) -> dict[str, object]:
    """For the ledger: accuracy of visual + micro-action cues minus visual only, with the 95% interval over test
    sessions (percentage points)."""
    c = result.comparison("fused", "visual", "accuracy")
    low, high = c["ci_test"]
    return {"fused_minus_visual": [100.0 * c["diff"], 100.0 * low, 100.0 * high], "test_sessions": result.n_test,
            "seeds": result.n_seeds}


__all__ = ["chapter_runs", "claim_table", "comparison_table", "cue_figure", "cue_frequencies", "emotion_evidence",
           "rate_table", "result_table", "session_table", "style_table"]
