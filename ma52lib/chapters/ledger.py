"""The findings ledger: each claim of the paper, the paper's evidence, ours with its interval, and a verdict.

One row per claim. The effect is always "what the paper says is better" minus the alternative, in
percentage points, with 95% intervals (``ma52lib.stats``): a paired bootstrap over the test clips, and
where the contrast was trained with several seeds also a t-interval over the per-seed differences. The
verdict is computed from the intervals alone (``stats.verdict``): supported when every interval lies
above zero, contradicted when every one lies below, otherwise inconclusive at this size. A contrast with a
run that did not learn materially (``stats.learned``: 10 points above the class prior and an action macro F1
of 10, on every seed) is "not comparable": beating a model that names a few classes says nothing about the
claim.

Evidence comes from this build's runs (found by their configs, trained by the benchmark and ablation
chapters) and from what the Grad-CAM and emotion chapters saved (``save_evidence``); a claim whose
chapter did not run says so instead of a number.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ma52lib import stats
from ma52lib.chapters import ablations as ab
from ma52lib.chapters import benchmark as bm
from ma52lib.chapters.ablations import ablation_defaults
from ma52lib.chapters.common import NOT_PUBLIC, ChapterRuns, scored
from ma52lib.engine.evaluate import load_predictions
from ma52lib.files import atomic_write_text
from ma52lib.models import BENCHMARK_MODELS, display_name, paper_results
from ma52lib.paths import generated_dir
from ma52lib.synth import REVERSED_PAIRS

CLAIM_METRICS = ("action_top1", "body_top1")  # "at both granularities"
CONFUSED_PAIRS = 5  # the most confused action pairs of the claim on the joint-embedding loss
NOT_COMPARABLE = "not comparable"
NOT_MEASURED = "not measured in this build"
NOT_MEASURABLE = "not measurable here"
SEEDED_NAMES = {"manet_noemb": "MANet without the embedding loss"}
# The paper's claim of each step of the components study (``ablations.STEPS``, in its order).
STEP_CLAIMS = ("TSM helps: ResNet + temporal shift over TSN",
               "SE helps: +SE on top of TSM (MANet without the embedding loss over TSM)",
               "The joint-embedding loss helps: MANet over MANet without it")


def evidence_dir() -> Path:
    """Where chapters leave evidence for the ledger (beside the executed notebooks)."""
    return generated_dir() / "evidence"


def save_evidence(chapter: str, evidence: Mapping[str, Any]) -> Path:
    """Write a chapter's evidence for the ledger as JSON (``evidence/<chapter>.json``)."""
    path = evidence_dir() / f"{chapter}.json"
    atomic_write_text(path, json.dumps(evidence, indent=1, default=float) + "\n")
    return path


def load_evidence(chapter: str) -> dict[str, Any] | None:
    """A chapter's saved evidence, or None when that chapter has not run in this book."""
    path = evidence_dir() / f"{chapter}.json"
    return json.loads(path.read_text()) if path.exists() else None


@dataclass
class Row:
    """One claim: the paper's evidence, our effect (text), its intervals and the verdict they give."""

    claim: str
    paper: str
    ours: str
    intervals: tuple[stats.Interval | None, ...]
    basis: str  # what the intervals are over (clips, seeds, sessions)
    unlearned: tuple[str, ...] = ()  # the compared models below the bar of stats.learned
    margin: float | None = stats.NO_EFFECT_MARGIN  # "no effect" within +-margin (None: effects not in top-1 points)
    unmeasurable: str = ""  # why the evidence cannot carry the claim here (then no verdict from its intervals)

    @property
    def decision(self) -> str:
        """The verdict without its hint: what ``counts`` counts."""
        if self.unlearned:
            return NOT_COMPARABLE
        if self.unmeasurable:
            return NOT_MEASURABLE
        given = [i for i in self.intervals if i is not None]
        return stats.verdict(*given, margin=self.margin) if given else NOT_MEASURED

    @property
    def verdict(self) -> str:
        decision = self.decision
        if decision == NOT_COMPARABLE:
            return f"{NOT_COMPARABLE}: {' and '.join(self.unlearned)} did not learn"
        if decision == NOT_MEASURABLE:
            return f"{NOT_MEASURABLE}: {self.unmeasurable}"
        if decision == stats.INCONCLUSIVE and self.margin is not None:
            factor = stats.narrowing_factor(self.intervals, self.margin)
            return f"{decision} (deciding it would take about {factor:.1f}x the {_unit(self.basis)})"
        return decision


def _unit(basis: str) -> str:
    """What more of would narrow an interval over ``basis``: the seeds where seeds decide, else the clips."""
    return "seeds" if "seed" in basis and "one seed" not in basis else "test clips"


def chapter_runs(profile: str, data_root: str | None = None, seed: int = 0, *, extra_models: Sequence[str] = (),
                 n_seeds: int | None = None) -> ChapterRuns:
    """The runs the claims read, as the benchmark and ablations chapters train them (the ablations at the profile's
    sweeps): every benchmark model and ablation point by key (``tsn``, ``lambda/lambda=50``), and the core contrasts
    (tsn, tsm, manet, manet_noemb) at ``n_seeds`` seeds (None: the profile's)."""
    benchmark = bm.chapter_runs(profile, data_root, seed, extra_models=extra_models, n_seeds=n_seeds)
    studies = ab.chapter_runs(profile, data_root, seed)
    return ChapterRuns({**benchmark.configs, **studies.configs}, ab.seeded_contrasts(profile, data_root, seed, n_seeds))


class Runs:
    """The runs a ledger reads: run folders by key (benchmark model names, ``study/label`` of the ablations) and
    by seed (``seeded[name]``: tsn, tsm, manet, manet_noemb), plus the models of your own."""

    def __init__(self, dirs: Mapping[str, Path], seeded: Mapping[str, Sequence[Path]],
                 extra: Sequence[str] = ()) -> None:
        self.dirs, self.seeded, self.extra = dict(dirs), {k: list(v) for k, v in seeded.items()}, tuple(extra)
        self._scored: dict[Path, stats.Scored] = {}  # each run's predictions are read once for all claims

    @classmethod
    def train(cls, profile: str, data_root: str | None, seed: int, extra_models: Sequence[str] = (), *,
              n_seeds: int | None = None, echo: Callable[[str], None] = print) -> Runs:
        """Every run the claims need (``chapter_runs``), trained or (mostly) reused from the benchmark and ablation
        chapters."""
        needed = chapter_runs(profile, data_root, seed, extra_models=extra_models, n_seeds=n_seeds)
        dirs, by_seed = needed.train(echo=echo)
        return cls(dirs, {name: list(folders.values()) for name, folders in by_seed.items()}, extra_models)

    def scored(self, key: str) -> stats.Scored:
        return self._read(self.dirs[key])

    def seeds(self, name: str) -> list[stats.Scored]:
        return [self._read(d) for d in self.seeded[name]]

    def unlearned(self, *keys: str) -> tuple[str, ...]:
        """Display names of the runs among ``keys`` (seeded names, else run keys) below the bar of ``stats.learned``
        on any seed."""
        out = []
        for key in keys:
            scored = self.seeds(key) if key in self.seeded and self.seeded[key] else [self.scored(key)]
            if not all(stats.learned(s) for s in scored):
                out.append(SEEDED_NAMES.get(key) or display_name(key.split("/")[-1]))
        return tuple(out)

    def _read(self, run_dir: Path) -> stats.Scored:
        if run_dir not in self._scored:
            self._scored[run_dir] = scored(run_dir)[0]
        return self._scored[run_dir]


def _fmt(clips: stats.Interval, seeds: stats.Interval | None) -> str:
    text = f"{clips.signed()} (clips)"
    return text + (f"; {seeds.signed()} (seeds)" if seeds is not None else "")


def _seeds(n_seeds: int) -> str:
    """"3 seeds", or "one seed" (``ma52 reproduce --seeds 1`` leaves one seed per contrast)."""
    return f"{n_seeds} seeds" if n_seeds > 1 else "one seed"


def _basis(n_seeds: int) -> str:
    """What a seeded row's intervals are over: the seeds, or with one seed the test clips only."""
    return _seeds(n_seeds) if n_seeds > 1 else "one seed, test clips"


def _paper_gap(better: str, worse: str) -> str:
    a, b = paper_results(better), paper_results(worse)
    if not (a and b):
        return NOT_PUBLIC
    return "; ".join(f"{m.split('_')[0]} {a[m]:.2f} vs {b[m]:.2f} ({a[m] - b[m]:+.2f})" for m in CLAIM_METRICS)


def beats_rows(runs: Runs) -> list[Row]:
    """MANet beats each baseline (and each model of your own) at both granularities."""
    rows = []
    for other in [m for m in (*BENCHMARK_MODELS, *runs.extra) if m != "manet"]:
        if other not in runs.dirs or "manet" not in runs.dirs:
            continue
        seeded = other in runs.seeded and len(runs.seeded[other]) > 1
        a = runs.seeds("manet") if seeded else runs.scored("manet")
        b = runs.seeds(other) if seeded else runs.scored(other)
        cells, intervals = [], []
        for metric in CLAIM_METRICS:
            clips, seeds = stats.difference(a, b, metric)
            cells.append(f"{metric.split('_')[0]}: {_fmt(clips, seeds)}")
            intervals += [clips, seeds]
        rows.append(Row(f"MANet beats {display_name(other)} (action and body top-1)", _paper_gap("manet", other),
                        "; ".join(cells), tuple(intervals),
                        f"{len(runs.seeded['manet'])} seeds" if seeded else "one seed, test clips",
                        runs.unlearned("manet", other)))
    return rows


def contrast_row(runs: Runs, claim: str, better: str, worse: str, metric: str = "action_top1") -> Row:
    """A seeded contrast of the ablations (e.g. TSM vs TSN), on ``metric``."""
    clips, seeds = stats.difference(runs.seeds(better), runs.seeds(worse), metric)
    return Row(claim, NOT_PUBLIC, f"{metric.replace('_', ' ')}: {_fmt(clips, seeds)}", (clips, seeds),
               _basis(len(runs.seeded[better])), runs.unlearned(better, worse))


def confused_pairs_row(runs: Runs, k: int = CONFUSED_PAIRS) -> Row:
    """The joint-embedding loss on the most confused action pairs: the pairs are chosen on val (where the
    models without the loss confuse most), the effect is measured on the test clips of those classes."""
    confusion = np.zeros((52, 52), dtype=np.int64)
    for run_dir in runs.seeded["manet_noemb"]:
        probs, labels, _ = load_predictions(Path(run_dir), "val")
        np.add.at(confusion, (labels, probs.argmax(1)), 1)
    sym = confusion + confusion.T
    np.fill_diagonal(sym, 0)
    picks = np.argsort(-np.triu(sym), axis=None, kind="stable")[:k]
    classes = np.unique(np.concatenate(np.unravel_index(picks, sym.shape)))
    a, b = runs.seeds("manet"), runs.seeds("manet_noemb")
    keep = np.isin(a[0].labels, classes)
    subset = [stats.Scored(r.pred[keep], r.top5[keep], r.labels[keep]) for r in a + b]
    clips, seeds = stats.difference(subset[:len(a)], subset[len(a):], "action_top1")
    return Row(f"... and on the {k} most confused action pairs (chosen on val, {int(keep.sum())} test clips)",
               NOT_PUBLIC, f"action top-1: {_fmt(clips, seeds)}", (clips, seeds), _basis(len(a)),
               runs.unlearned("manet", "manet_noemb"))


def single_row(runs: Runs, claim: str, better: str, worse: str, metric: str = "action_top1") -> Row:
    """A one-seed contrast between two ablation runs (by their study/label keys)."""
    if better not in runs.dirs or worse not in runs.dirs:
        return Row(claim, NOT_PUBLIC, "not trained in this build", (), "-")
    clips, _ = stats.difference(runs.scored(better), runs.scored(worse), metric)
    return Row(claim, NOT_PUBLIC, f"{metric.replace('_', ' ')}: {_fmt(clips, None)}", (clips,), "one seed, test clips",
               runs.unlearned(better, worse))


def order_row(runs: Runs) -> Row:
    """Temporal modules tell a movement from its reverse: TSM's order accuracy on the reversed pairs over TSN's
    (seeds), and TSM's over chance (50%, clips of the pairs)."""
    def order(name: str) -> list[stats.Interval]:
        return [stats.order_interval(*load_predictions(Path(d))[:2], REVERSED_PAIRS) for d in runs.seeded[name]]

    claim = "A temporal module tells a movement from its time reverse (TSM over TSN, and above chance)"
    if not np.isin(load_predictions(Path(runs.seeded["tsm"][0]))[1], np.ravel(REVERSED_PAIRS)).any():
        return Row(claim, "not in the paper", "no clip of a reversed pair in the scored split", (), "-")
    tsm, tsn = order("tsm"), order("tsn")
    over_tsn = stats.seed_interval([a.value - b.value for a, b in zip(tsm, tsn)])
    over_chance = stats.Interval(tsm[0].value - 50.0, tsm[0].low - 50.0, tsm[0].high - 50.0)
    ours = f"TSM - TSN: {over_tsn.signed()} (seeds); " if over_tsn else ""
    return Row(claim, "not in the paper (MA-52-Synth's built-in test)",
               ours + f"TSM - 50%: {over_chance.signed()} (clips of the pairs)", (over_tsn, over_chance),
               f"{_seeds(len(tsm))}; clips of the reversed pairs", runs.unlearned("tsm", "tsn"), margin=None)


def evidence_rows(runs: Runs) -> list[Row]:
    """The claims whose evidence another chapter saved: Grad-CAM's regions (of the benchmark's MANet) and the
    emotion experiment."""
    rows = []
    cam = load_evidence("gradcam")
    if cam is None:
        rows.append(Row("MANet's Grad-CAM falls on the acting body part", "qualitative figures", "Grad-CAM chapter "
                        "not run in this build", (), "-"))
    else:
        effect = stats.Interval(*cam["manet_mass_minus_area"])
        h, w = cam["cells"]
        grid = (f"maps of {h} x {w} cells of {cam['cell_px']:g} px on a {cam['crop_px']} px crop; the acting part "
                f"covers {cam['region_cells']:.1f} cells on average")
        coarse = cam["region_cells"] < cam["min_region_cells"]
        rows.append(Row("MANet's Grad-CAM falls on the acting body part (map mass on the part minus its area)",
                        "qualitative figures", f"{effect.signed()} points ({cam['clips']} clips; {grid})", (effect,),
                        "test clips", runs.unlearned("manet") if "manet" in runs.dirs else (), margin=None,
                        unmeasurable=f"{grid}, under {cam['min_region_cells']:g}" if coarse else ""))
    emo = load_evidence("emotion")
    if emo is None:
        rows.append(Row("Micro-action cues improve emotion recognition", "claimed; MA-52-Pro numbers not public",
                        "emotion chapter not run in this build", (), "-"))
    else:
        effect = stats.Interval(*emo["fused_minus_visual"])
        rows.append(Row("Micro-action cues improve emotion recognition (accuracy, visual + cues minus visual)",
                        "claimed; MA-52-Pro numbers not public", f"{effect.signed()} points", (effect,),
                        f"{emo['test_sessions']} test sessions", margin=None))
    return rows


def ledger_rows(runs: Runs, profile: str) -> list[Row]:
    """Every claim, in the paper's order."""
    sweeps = ablation_defaults(profile)
    rows = beats_rows(runs)
    rows += [contrast_row(runs, claim, ab.COMPONENTS[better], ab.COMPONENTS[worse])
             for claim, (better, worse) in zip(STEP_CLAIMS, ab.STEPS, strict=True)]
    rows.append(confused_pairs_row(runs))
    if 10.0 in sweeps["lambdas"]:
        rows.append(single_row(runs, "The paper's loss weight (lambda = 50) beats a smaller one (10)",
                               "lambda/lambda=50", "lambda/lambda=10"))
    if 4 in sweeps["segments"]:
        rows.append(single_row(runs, "8 segments beat 4", "segments/T=8", "segments/T=4"))
    rows += evidence_rows(runs)
    rows.append(order_row(runs))
    return rows


def ledger_table(rows: Sequence[Row]) -> pd.DataFrame:
    """The ledger as a DataFrame: claim, the paper's evidence, ours (points, 95% CI), basis, verdict."""
    return pd.DataFrame([{"claim": r.claim, "paper's evidence": r.paper, "ours (points, 95% CI)": r.ours,
                          "intervals over": r.basis, "verdict": r.verdict} for r in rows]).set_index("claim")


def counts(rows: Sequence[Row]) -> dict[str, int]:
    """How many claims got each verdict (without its hint: the "not comparable: ..." ones counted together)."""
    out: dict[str, int] = {}
    for r in rows:
        out[r.decision] = out.get(r.decision, 0) + 1
    return out


DECIDED = (stats.SUPPORTED, stats.CONTRADICTED, stats.NO_EFFECT)


def summary_markdown(rows: Sequence[Row], profile: str) -> str:
    """The sentence the introduction quotes (written to ``book/generated/ledger_summary.md``)."""
    c = counts(rows)
    parts = [f"**{c.get(v, 0)} supported**" if v == stats.SUPPORTED else f"{c.get(v, 0)} {v}"
             for v in (*DECIDED, stats.INCONCLUSIVE)]
    others = [(NOT_COMPARABLE, "not comparable (a compared model did not learn)"),
              (NOT_MEASURABLE, "not measurable here"), (NOT_MEASURED, "not measured")]
    parts += [f"{c[key]} {words}" for key, words in others if c.get(key)]
    decided = sum(c.get(v, 0) for v in DECIDED)
    return (f"In this build ({profile} profile), the [findings ledger](generated/ledger) checks {len(rows)} claims "
            f"and decides {decided}: {', '.join(parts)}.\n")


def write_summary(rows: Sequence[Row], profile: str) -> Path:
    """Write the introduction's sentence beside the executed notebooks."""
    path = generated_dir() / "ledger_summary.md"
    atomic_write_text(path, summary_markdown(rows, profile))
    return path


__all__ = ["Row", "Runs", "chapter_runs", "counts", "evidence_dir", "ledger_rows", "ledger_table", "load_evidence",
           "save_evidence", "summary_markdown", "write_summary"]
