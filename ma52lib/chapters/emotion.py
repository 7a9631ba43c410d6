"""The emotion chapter: the generative assumptions, the sessions per split, and cue frequencies per state.

The experiment itself is library code (``ma52lib.emotion``); this module lays its inputs and outputs
out as the chapter shows them.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import seaborn as sns

from ma52lib.emotion import EMOTIONS, Session, assumptions
from ma52lib.emotion.experiment import EmotionResult


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




def emotion_evidence(result: EmotionResult) -> dict[str, object]:
    """For the ledger: accuracy of visual + micro-action cues minus visual only, with the 95% interval over test
    sessions (percentage points)."""
    c = result.comparison("fused", "visual", "accuracy")
    low, high = c["ci_test"]
    return {"fused_minus_visual": [100.0 * c["diff"], 100.0 * low, 100.0 * high], "test_sessions": result.n_test,
            "seeds": result.n_seeds}


__all__ = ["cue_figure", "emotion_evidence", "rate_table", "session_table", "style_table"]
