"""Do micro-action cues help emotion recognition? Session-level emotion from three feature sets.

For every clip a trained MANet gives its pooled backbone feature ``[F]`` and its predicted
micro-action distribution ``[52]``. A session (one person, one state, K clips) is described by

- (a) ``visual``: the mean clip feature ``[F]`` (what a generic video model sees);
- (b) ``cues``: the mean predicted micro-action distribution ``[52]`` (which micro-actions occurred);
- (c) ``fused``: both concatenated ``[F + 52]``;
- and, where the clips carry micro-action labels, a reference ``annotated``: the histogram of the
  annotated micro-actions ``[52]`` (what (b) would be with a perfect recogniser).

Each set feeds the same standardised logistic regression (scikit-learn, fixed C, no tuning), trained
on the train split's sessions and scored on the test split's. Every seed refits on a class-stratified
bootstrap of the train sessions, so the spread over seeds is the classifier's sensitivity to its
training sessions; a bootstrap over test sessions gives the uncertainty due to the test set, and both
are reported, with paired comparisons between the sets.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ma52lib.config import Config, make_config
from ma52lib.data.lists import labels_path, read_list
from ma52lib.emotion.labels import EMOTIONS, SPLITS, Session, clip_id, load_sessions, sessions_of
from ma52lib.emotion.sessions import CUE_GROUPS
from ma52lib.engine.run import LoadedRun, load_run, predict_split
from ma52lib.engine.train import train
from ma52lib.labels import NUM_CLASSES

# scikit-learn, scipy and pandas are imported inside the functions that fit, test or tabulate: together
# they take seconds to import, and every `ma52` command imports this module to register `ma52 emotion`.

FEATURE_SETS: tuple[str, ...] = ("visual", "cues", "fused")
# Reference set where clip labels exist: the annotated micro-actions instead of MANet's (a perfect
# recogniser), i.e. how much the micro-action channel can carry at all on this data.
REFERENCE_SET = "annotated"
SET_TITLES = {"visual": "(a) visual features", "cues": "(b) micro-action cues", "fused": "(c) visual + cues",
              REFERENCE_SET: "(ref) annotated micro-actions"}
SET_SHORT = {"visual": "(a)", "cues": "(b)", "fused": "(c)", REFERENCE_SET: "(ref)"}
# Pairs compared (first minus second); the last one is what MANet's recognition errors cost.
COMPARISONS: tuple[tuple[str, str], ...] = (("fused", "visual"), ("fused", "cues"), ("cues", "visual"),
                                            ("cues", REFERENCE_SET))
METRICS: tuple[str, ...] = ("accuracy", "macro_f1")
METRIC_TITLES = {"accuracy": "Accuracy", "macro_f1": "Macro-F1"}

PAPER_CLAIM = ("MA-52-Pro (emotion labels on MA-52 interviews): adding micro-action cues improves emotion "
               "recognition. Class set, protocol and numbers are not public.")
NOT_PUBLIC = "not public"


# ---- per-clip outputs of a MANet run ---------------------------------------------------------------
@dataclass
class ClipOutputs:
    """What a run says about each clip of a split: ids (file stems), probabilities [N, 52], features [N, F]."""

    ids: list[str]
    probs: np.ndarray  # [N, 52]
    features: np.ndarray  # [N, F]
    labels: np.ndarray  # [N] fine labels; meaningless where has_labels is False
    has_labels: bool = True

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.probs.shape != (n, NUM_CLASSES) or self.features.ndim != 2 or len(self.features) != n:
            raise ValueError(f"ClipOutputs: expected probs [{n}, {NUM_CLASSES}] and features [{n}, F], got "
                             f"{self.probs.shape} and {self.features.shape}")

    @staticmethod
    def concat(parts: Sequence[ClipOutputs]) -> ClipOutputs:
        """One ClipOutputs holding the clips of several splits."""
        return ClipOutputs(
            [i for p in parts for i in p.ids],
            np.concatenate([p.probs for p in parts]),
            np.concatenate([p.features for p in parts]),
            np.concatenate([p.labels for p in parts]),
            all(p.has_labels for p in parts),
        )


def predict_clips(run: Any, root: str | os.PathLike[str], split: str, *, num_workers: int | None = None) -> ClipOutputs:
    """Run a ``LoadedRun`` over every clip of ``split`` under ``root``: probabilities and pooled features."""
    ds, pred = predict_split(run, split, data_root=root, features=True, num_workers=num_workers)
    if pred["features"] is None or len(pred["indices"]) == 0:
        raise RuntimeError(f"no clip of {root}/{split}_list_videos.txt could be read; check the videos")
    ids = [ds.video_ids[i] for i in pred["indices"]]
    return ClipOutputs(ids, np.asarray(pred["probs"], np.float64), np.asarray(pred["features"], np.float64),
                       np.asarray(pred["labels"]), bool(getattr(ds, "has_labels", True)))


# ---- session features --------------------------------------------------------------------------------
@dataclass
class SessionFeatures:
    """Session-level inputs of one split: ids, emotion index ``y [S]`` and each feature set ``[S, D]``."""

    sessions: list[str]
    emotions: tuple[str, ...]
    y: np.ndarray
    sets: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.sessions)


def session_features(sessions: Sequence[Session], clips: ClipOutputs, *,
                     emotions: Sequence[str] = EMOTIONS, annotated: bool = False) -> SessionFeatures:
    """Average each session's clips: mean feature (visual), mean micro-action distribution (cues), both (fused).

    With ``annotated`` (and clip labels present) also the histogram of the annotated micro-actions
    (``annotated`` [S, 52]). A clip that could not be read is left out of its session's means; a
    session with no readable clip is an error.
    """
    emotions = tuple(emotions)
    row = {cid: i for i, cid in enumerate(clips.ids)}
    onehot = np.eye(NUM_CLASSES)[clips.labels] if annotated and clips.has_labels else None  # [N, 52]
    visual, cues, hist, y, names = [], [], [], [], []
    for s in sessions:
        idx = [row[c] for c in s.clips if c in row]
        if not idx:
            raise ValueError(f"session {s.session!r} ({s.split}): none of its {len(s.clips)} clips has a prediction "
                             f"(first clip id {s.clips[0]!r}); are the videos readable and the ids right?")
        visual.append(clips.features[idx].mean(0))
        cues.append(clips.probs[idx].mean(0))
        if onehot is not None:
            hist.append(onehot[idx].mean(0))
        y.append(emotions.index(s.emotion))
        names.append(s.session)
    v = np.stack(visual) if visual else np.zeros((0, clips.features.shape[1]))
    c = np.stack(cues) if cues else np.zeros((0, NUM_CLASSES))
    sets = {"visual": v, "cues": c, "fused": np.concatenate([v, c], axis=1)}
    if onehot is not None:
        sets[REFERENCE_SET] = np.stack(hist) if hist else np.zeros((0, NUM_CLASSES))
    return SessionFeatures(names, emotions, np.asarray(y, np.int64), sets)


# ---- classification and statistics -------------------------------------------------------------------
def fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Standardised multinomial logistic regression (C=1, never tuned): predicted class per test row."""
    from sklearn.linear_model import LogisticRegression  # see the note on imports at the top
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant feature columns and slow convergence on tiny sets
        model.fit(x_train, y_train)
    return model.predict(x_test)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Macro-F1 over all ``num_classes`` classes, scikit-learn semantics (a class never seen nor predicted counts 0)."""
    from sklearn.metrics import f1_score  # see the note on imports at the top

    return float(f1_score(y_true, y_pred, labels=list(range(num_classes)), average="macro", zero_division=0))


def _boot_scores(y: np.ndarray, preds: np.ndarray, weights: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Seed-averaged accuracy and macro-F1 [B] of preds [n_seeds, S] under resampling counts weights [B, S]."""
    onehot_y = np.eye(k)[y]  # [S, K]
    onehot_p = np.eye(k)[preds]  # [n_seeds, S, K]
    n = weights.sum(1)  # [B]
    acc = np.einsum("bi,si->sb", weights, (preds == y[None]).astype(np.float64)) / n  # [n_seeds, B]
    tp = np.einsum("bi,sik,ik->sbk", weights, onehot_p, onehot_y)
    denom = np.einsum("bi,sik->sbk", weights, onehot_p) + np.einsum("bi,ik->bk", weights, onehot_y)[None]
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0).mean(-1)  # [n_seeds, B]
    return {"accuracy": acc.mean(0), "macro_f1": f1.mean(0)}


def _t_interval(values: np.ndarray) -> list[float]:
    """95% t-interval of the mean of ``values`` (NaN with fewer than two values)."""
    from scipy import stats  # see the note on imports at the top

    if len(values) < 2:
        return [math.nan, math.nan]
    half = float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values)))
    return [float(np.mean(values)) - half, float(np.mean(values)) + half]


def _paired_t(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided paired t-test p-value; NaN when undefined (one seed, or identical differences)."""
    from scipy import stats  # see the note on imports at the top

    d = a - b
    if len(d) < 2 or np.allclose(d, d[0]):
        return math.nan
    return float(stats.ttest_rel(a, b).pvalue)


@dataclass
class EmotionResult:
    """Per-seed scores, test predictions and the summary statistics of the three feature sets."""

    emotions: tuple[str, ...]
    n_train: int
    n_test: int
    n_seeds: int
    seed: int
    dims: dict[str, int]
    scores: dict[str, dict[str, list[float]]]  # set -> metric -> per-seed values (fractions)
    summary: dict[str, dict[str, dict[str, Any]]]  # set -> metric -> mean, ci_seeds, ci_test
    comparisons: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)  # run, data, MANet's clip accuracy...
    clip_outputs: dict[str, ClipOutputs] = field(default_factory=dict, repr=False)  # per split; not in to_dict

    def table(self):
        """DataFrame, percent: one row per feature set (mean over seeds, 95% CI over seeds and over test sessions)."""
        import pandas as pd  # see the note on imports at the top

        rows = []
        for name in self.summary:
            row: dict[str, Any] = {"feature set": SET_TITLES.get(name, name), "dims": self.dims[name]}
            for metric in METRICS:
                s = self.summary[name][metric]
                title = METRIC_TITLES[metric]
                row[f"{title} %"] = _pct(s["mean"])
                row[f"{title} 95% CI (seeds)"] = _ci(s["ci_seeds"])
                row[f"{title} 95% CI (test sessions)"] = _ci(s["ci_test"])
            rows.append(row)
        return pd.DataFrame(rows).set_index("feature set")

    def comparison_table(self):
        """DataFrame, percentage points: paired differences between feature sets with both kinds of test."""
        import pandas as pd  # see the note on imports at the top

        rows = []
        for c in self.comparisons:
            rows.append({
                "comparison": f"{SET_SHORT[c['a']]} - {SET_SHORT[c['b']]}",
                "metric": METRIC_TITLES[c["metric"]],
                "difference (points)": _pct(c["diff"]),
                "95% CI (seeds)": _ci(c["ci_seeds"]),
                "paired t-test p (seeds)": _p(c["p_seeds"]),
                "95% CI (test sessions)": _ci(c["ci_test"]),
                "bootstrap p (test sessions)": _p(c["p_test"]),
            })
        return pd.DataFrame(rows).set_index(["comparison", "metric"])

    def comparison(self, a: str, b: str, metric: str = "accuracy") -> dict[str, Any]:
        """The paired comparison ``a - b`` on ``metric``."""
        for c in self.comparisons:
            if (c["a"], c["b"], c["metric"]) == (a, b, metric):
                return c
        raise KeyError(f"no comparison {a} - {b} on {metric}; have {[(c['a'], c['b']) for c in self.comparisons]}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content."""
        return {
            "emotions": list(self.emotions), "n_train_sessions": self.n_train, "n_test_sessions": self.n_test,
            "n_seeds": self.n_seeds, "seed": self.seed, "dims": self.dims, "scores": self.scores,
            "summary": self.summary, "comparisons": self.comparisons, "info": self.info,
            "chance_accuracy": 1.0 / len(self.emotions), "paper_claim": PAPER_CLAIM,
        }


def _pct(x: float) -> float:
    return math.nan if math.isnan(x) else round(100 * x, 1) + 0.0  # + 0.0: no "-0.0" in tables


def _ci(ci: Sequence[float]) -> str:
    return "n/a" if any(math.isnan(v) for v in ci) else f"[{_pct(ci[0]):.1f}, {_pct(ci[1]):.1f}]"


def _p(p: float) -> str:
    return "n/a" if math.isnan(p) else (f"{p:.3f}" if p >= 0.001 else "<0.001")


def evaluate_feature_sets(train: SessionFeatures, test: SessionFeatures, *, n_seeds: int = 5, seed: int = 0,
                          n_boot: int = 2000, sets: Sequence[str] | None = None) -> EmotionResult:
    """Fit and score each feature set over ``n_seeds`` bootstraps of the train sessions; summarise and compare."""
    if train.emotions != test.emotions:
        raise ValueError(f"train and test use different emotion sets: {train.emotions} vs {test.emotions}")
    k = len(train.emotions)
    present = sorted(set(train.y.tolist()))
    if len(present) < 2:
        raise ValueError(f"the train sessions hold {len(present)} emotion(s); a classifier needs at least two")
    if len(test) == 0:
        raise ValueError("no test sessions to score")
    if n_seeds < 1:
        raise ValueError(f"n_seeds must be >= 1, got {n_seeds}")
    names = list(sets or [s for s in (*FEATURE_SETS, REFERENCE_SET) if s in train.sets and s in test.sets])
    preds = _bootstrap_predictions(train, test, names, present, n_seeds=n_seeds, seed=seed)
    scores: dict[str, dict[str, list[float]]] = {}
    for name in names:
        p = preds[name]
        scores[name] = {
            "accuracy": [float((row == test.y).mean()) for row in p],
            "macro_f1": [macro_f1(test.y, row, k) for row in p],
        }
    # Test-session bootstrap: the same resamples for every set, so differences are paired.
    brng = np.random.default_rng([seed, 0xB007])
    weights = np.stack([np.bincount(brng.integers(0, len(test), len(test)), minlength=len(test))
                        for _ in range(n_boot)]).astype(np.float64)  # [B, S]
    boot = {name: _boot_scores(test.y, preds[name], weights, k) for name in names}

    summary = {
        name: {
            metric: {
                "mean": float(np.mean(scores[name][metric])),
                "ci_seeds": _t_interval(np.asarray(scores[name][metric])),
                "ci_test": [float(v) for v in np.quantile(boot[name][metric], [0.025, 0.975])],
            }
            for metric in METRICS
        }
        for name in names
    }
    return EmotionResult(
        emotions=train.emotions, n_train=len(train), n_test=len(test), n_seeds=n_seeds, seed=seed,
        dims={name: int(train.sets[name].shape[1]) for name in names}, scores=scores, summary=summary,
        comparisons=_comparisons(names, scores, boot),
    )


def _bootstrap_predictions(train: SessionFeatures, test: SessionFeatures, names: Sequence[str],
                           present: Sequence[int], *, n_seeds: int, seed: int) -> dict[str, np.ndarray]:
    """Test predictions ``[n_seeds, S]`` of each feature set, refitted on a bootstrap of the train sessions per seed."""
    preds = {name: np.zeros((n_seeds, len(test)), np.int64) for name in names}
    for s in range(n_seeds):
        rng = np.random.default_rng([seed, s])
        # Class-stratified bootstrap: every emotion keeps its count, so every refit sees all classes.
        idx = np.concatenate([rng.choice(np.flatnonzero(train.y == c), size=int((train.y == c).sum()))
                              for c in present])
        for name in names:
            preds[name][s] = fit_predict(train.sets[name][idx], train.y[idx], test.sets[name], seed=s)
    return preds


def _comparisons(names: Sequence[str], scores: dict[str, dict[str, list[float]]],
                 boot: dict[str, dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Paired differences of ``COMPARISONS`` (both sets present): over seeds (t-test) and test sessions (bootstrap)."""
    comparisons = []
    for a, b in COMPARISONS:
        if a not in names or b not in names:
            continue
        for metric in METRICS:
            va, vb = np.asarray(scores[a][metric]), np.asarray(scores[b][metric])
            d_boot = boot[a][metric] - boot[b][metric]
            comparisons.append({
                "a": a, "b": b, "metric": metric,
                "diff": float(np.mean(va - vb)),
                "ci_seeds": _t_interval(va - vb),
                "p_seeds": _paired_t(va, vb),
                "ci_test": [float(v) for v in np.quantile(d_boot, [0.025, 0.975])],
                "p_test": float(min(1.0, 2 * min(np.mean(d_boot <= 0), np.mean(d_boot >= 0)))),
            })
    return comparisons


# ---- the experiment end to end ---------------------------------------------------------------------
def manet_config(profile: str, data_root: str | None = None, seed: int = 0) -> Config:
    """MANet as the benchmark trains it: the profile's config on ``data_root`` (None: MA-52-Synth).

    The same config as ``chapters.benchmark.benchmark_configs(...)["manet"]`` (a test checks the
    hashes agree), so the emotion experiment and the benchmark share one run.
    """
    return make_config(profile, {"data.root": data_root, "runtime.seed": seed, "model.name": "manet"})


def manet_run_for(profile: str, data_root: str | None = None, seed: int = 0, *,
                  echo: Callable[[str], None] = print) -> Path:
    """The benchmark's MANet run of ``profile`` on ``data_root`` (None: MA-52-Synth), trained once and reused."""
    return train(manet_config(profile, data_root, seed), resume=True, echo=echo)


def run_emotion_experiment(
    run: Any,
    emotion_root: str | os.PathLike[str],
    *,
    n_seeds: int = 5,
    seed: int = 0,
    emotions: Sequence[str] = EMOTIONS,
    labels_file: str | os.PathLike[str] | None = None,
    train_split: str = "train",
    eval_split: str = "test",
    device: str = "auto",
    n_boot: int = 2000,
    num_workers: int | None = None,
) -> EmotionResult:
    """Session-level emotion from visual features, micro-action cues and both, for a MANet run (folder or LoadedRun)."""
    loaded = run if isinstance(run, LoadedRun) else load_run(run, device=device)
    root = Path(emotion_root)
    sessions = load_sessions(root, emotions=emotions, labels_file=labels_file)
    parts = {}
    for split in (train_split, eval_split):
        if not sessions_of(sessions, split):
            raise ValueError(f"{labels_file or root / 'emotion_labels.csv'} has no {split} sessions; "
                             "the experiment trains on train_split and scores eval_split")
        parts[split] = predict_clips(loaded, root, split, num_workers=num_workers)
    train = session_features(sessions_of(sessions, train_split), parts[train_split], emotions=emotions, annotated=True)
    test = session_features(sessions_of(sessions, eval_split), parts[eval_split], emotions=emotions, annotated=True)
    result = evaluate_feature_sets(train, test, n_seeds=n_seeds, seed=seed, n_boot=n_boot)
    result.info = {
        "run": str(loaded.run_dir), "model": loaded.cfg.model.name, "emotion_root": str(root),
        "train_split": train_split, "eval_split": eval_split,
        # How well MANet recognises the micro-actions of these clips bounds what (b) can carry.
        "manet_clip_top1": {split: float((p.probs.argmax(1) == p.labels).mean()) if p.has_labels else None
                            for split, p in parts.items()},
        "clips": {split: len(p.ids) for split, p in parts.items()},
    }
    result.clip_outputs = parts
    return result


def verdict(result: EmotionResult) -> str:
    """One sentence on the paper's direction, read off the test-session CI of (c) - (a) accuracy."""
    c = result.comparison("fused", "visual", "accuracy")
    lo, hi = c["ci_test"]
    diff = f"{_pct(c['diff']):+.1f} points (95% CI over test sessions {_ci(c['ci_test'])})"
    if lo > 0:
        return f"Adding micro-action cues raised accuracy by {diff}: the paper's direction holds here."
    if hi < 0:
        return f"Adding micro-action cues changed accuracy by {diff}: worse here, against the paper's direction."
    return (f"Adding micro-action cues changed accuracy by {diff}: the interval includes zero, so this "
            f"data ({result.n_test} test sessions) does not settle the paper's claim either way.")


def claim_table(result: EmotionResult):
    """The paper's claim beside ours (percent): the paper's MA-52-Pro numbers are not public."""
    import pandas as pd  # see the note on imports at the top

    c = result.comparison("fused", "visual", "accuracy")
    lo, hi = c["ci_test"]
    ours_direction = "yes" if lo > 0 else ("no (worse)" if hi < 0 else "not settled (CI includes 0)")
    rows = [
        {"quantity": "accuracy, visual only (a)", "paper (MA-52-Pro)": NOT_PUBLIC,
         "ours (MA-52-Synth emotion)": _pct(result.summary["visual"]["accuracy"]["mean"])},
        {"quantity": "accuracy, visual + micro-action cues (c)", "paper (MA-52-Pro)": NOT_PUBLIC,
         "ours (MA-52-Synth emotion)": _pct(result.summary["fused"]["accuracy"]["mean"])},
        {"quantity": "(c) - (a), points", "paper (MA-52-Pro)": NOT_PUBLIC,
         "ours (MA-52-Synth emotion)": f"{_pct(c['diff']):+.1f} {_ci(c['ci_test'])}"},
        {"quantity": "micro-action cues improve emotion recognition", "paper (MA-52-Pro)": "yes (claimed)",
         "ours (MA-52-Synth emotion)": ours_direction},
    ]
    return pd.DataFrame(rows).set_index("quantity")


def format_result(result: EmotionResult) -> str:
    """The tables and the verdict as plain text (for the command line)."""
    import pandas as pd  # see the note on imports at the top

    k = len(result.emotions)
    lines = [
        (f"session-level emotion ({', '.join(result.emotions)}; chance {100 / k:.1f}%): {result.n_train} train "
         f"sessions, {result.n_test} test sessions, {result.n_seeds} seeds; percent"),
    ]
    top1 = result.info.get("manet_clip_top1") or {}
    known = {s: v for s, v in top1.items() if v is not None}
    if known:
        lines.append("MANet micro-action top-1 on these clips: "
                     + ", ".join(f"{s} {100 * v:.1f}%" for s, v in known.items()))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        lines += ["", result.table().to_string(), "", "paired differences (first minus second):",
                  result.comparison_table().to_string(), "", verdict(result),
                  f"paper: {PAPER_CLAIM}"]
    return "\n".join(lines)


# ---- micro-action frequencies per emotion (the chapter's plot) ----------------------------------------
def true_labels(root: str | os.PathLike[str]) -> dict[str, int]:
    """Fine label of every clip id with a real label (train/val lists, and test_labels.txt when present)."""
    out: dict[str, int] = {}
    for split in SPLITS:
        path = labels_path(root, split)
        if path is not None and path.is_file():
            out.update({clip_id(c.path): c.label for c in read_list(path)})
    return out


def cue_frequencies(sessions: Sequence[Session], *, labels: dict[str, int] | None = None,
                    clips: ClipOutputs | None = None, groups: dict[str, Sequence[int]] | None = None):
    """Long DataFrame: per session and cue group, the fraction of clips in the group.

    ``source`` is "annotated" (from ``labels``) and/or "MANet" (the mean predicted probability mass of the
    group over the session's clips, from ``clips``).
    """
    import pandas as pd  # see the note on imports at the top

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


__all__ = [
    "COMPARISONS", "FEATURE_SETS", "PAPER_CLAIM", "REFERENCE_SET", "SET_TITLES", "ClipOutputs", "EmotionResult",
    "SessionFeatures",
    "claim_table", "cue_frequencies", "evaluate_feature_sets", "fit_predict", "format_result", "macro_f1",
    "manet_config", "manet_run_for", "predict_clips", "run_emotion_experiment", "session_features", "true_labels",
    "verdict",
]
