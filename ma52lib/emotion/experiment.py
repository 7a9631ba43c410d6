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

from ma52lib import stats
from ma52lib.config import Config, make_config
from ma52lib.data.lists import labels_path, read_list
from ma52lib.emotion.labels import EMOTIONS, SPLITS, Session, clip_id, load_sessions, sessions_of
from ma52lib.engine.run import LoadedRun, load_run, predict_split
from ma52lib.engine.train import train
from ma52lib.labels import NUM_CLASSES

# The statistics are ``ma52lib.stats``'s (scipy); the tables the book shows are ``ma52lib.chapters.emotion``'s.

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

# The hypothesis the experiment tests (printed by `ma52 emotion`, stored in its JSON, shown by the chapter).
PAPER_CLAIM = ("MA-52-Pro (emotion labels on MA-52 interviews): adding micro-action cues improves emotion "
               "recognition. Class set, protocol and numbers are not public.")


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
    from sklearn.linear_model import LogisticRegression  # imported where it fits: seconds, for `ma52 emotion` only
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant feature columns and slow convergence on tiny sets
        model.fit(x_train, y_train)
    return model.predict(x_test)


def scores(y: np.ndarray, pred: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Accuracy and macro-F1 (fractions; over all ``k`` emotions, an absent one counting 0) along the last axis of
    predictions ``[..., S]`` against labels ``[..., S]`` (or ``[S]``); leading axes are seeds and resamples."""
    return {"accuracy": (pred == y).mean(-1), "macro_f1": stats.macro_f1(y, pred, k, over="all")}


def _boot_scores(y: np.ndarray, preds: np.ndarray, idx: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Seed-averaged scores ``[B]`` of preds ``[n_seeds, S]`` on the test-session resamples ``idx [B, S]``."""
    return {metric: values.mean(0) for metric, values in scores(y[idx], preds[:, idx], k).items()}


def _ci(values: np.ndarray) -> list[float]:
    """95% t-interval over seeds as a list (NaN with fewer than two seeds)."""
    interval = stats.seed_interval(values)
    return [math.nan, math.nan] if interval is None else [interval.low, interval.high]


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
    per_seed = {name: {m: [float(v) for v in values] for m, values in scores(test.y, preds[name], k).items()}
                for name in names}
    # Test-session bootstrap: the same resamples for every set, so differences are paired.
    idx = np.random.default_rng([seed, 0xB007]).integers(0, len(test), (n_boot, len(test)))  # [B, S]
    boot = {name: _boot_scores(test.y, preds[name], idx, k) for name in names}
    summary = {name: {metric: {"mean": float(np.mean(per_seed[name][metric])),
                               "ci_seeds": _ci(np.asarray(per_seed[name][metric])),
                               "ci_test": list(stats.percentile_interval(boot[name][metric]))}
                      for metric in METRICS}
               for name in names}
    return EmotionResult(
        emotions=train.emotions, n_train=len(train), n_test=len(test), n_seeds=n_seeds, seed=seed,
        dims={name: int(train.sets[name].shape[1]) for name in names}, scores=per_seed, summary=summary,
        comparisons=_comparisons(names, per_seed, boot),
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
                "ci_seeds": _ci(va - vb),
                "p_seeds": stats.paired_p(va, vb),
                "ci_test": list(stats.percentile_interval(d_boot)),
                "p_test": stats.bootstrap_p(d_boot),
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
    """One sentence on the paper's direction: ``stats.verdict`` of the test-session CI of (c) - (a) accuracy."""
    c = result.comparison("fused", "visual", "accuracy")
    effect = stats.verdict(stats.Interval(100 * c["diff"], 100 * c["ci_test"][0], 100 * c["ci_test"][1]))
    diff = f"{pct(c['diff']):+.1f} points (95% CI over test sessions {ci_text(c['ci_test'])})"
    if effect == stats.SUPPORTED:
        return f"Adding micro-action cues raised accuracy by {diff}: the paper's direction holds here."
    if effect == stats.CONTRADICTED:
        return f"Adding micro-action cues changed accuracy by {diff}: worse here, against the paper's direction."
    return (f"Adding micro-action cues changed accuracy by {diff}: the interval includes zero, so this "
            f"data ({result.n_test} test sessions) does not settle the paper's claim either way.")


def pct(x: float) -> float:
    """A fraction as percent, one decimal (NaN stays NaN; no "-0.0")."""
    return math.nan if math.isnan(x) else round(100 * x, 1) + 0.0


def ci_text(ci: Sequence[float]) -> str:
    """``[lo, hi]`` in percent, or "n/a" where undefined."""
    return "n/a" if any(math.isnan(v) for v in ci) else f"[{pct(ci[0]):.1f}, {pct(ci[1]):.1f}]"


def p_text(p: float) -> str:
    """A p-value as the tables print it."""
    return "n/a" if math.isnan(p) else (f"{p:.3f}" if p >= 0.001 else "<0.001")


def format_result(result: EmotionResult) -> str:
    """The scores, the paired differences and the verdict as plain text (for the command line); percent."""
    k = len(result.emotions)
    lines = [(f"session-level emotion ({', '.join(result.emotions)}; chance {100 / k:.1f}%): {result.n_train} train "
              f"sessions, {result.n_test} test sessions, {result.n_seeds} seeds; percent")]
    known = {s: v for s, v in (result.info.get("manet_clip_top1") or {}).items() if v is not None}
    if known:
        lines.append("MANet micro-action top-1 on these clips: "
                     + ", ".join(f"{s} {100 * v:.1f}%" for s, v in known.items()))
    lines += ["", f"{'feature set':32s} {'dims':>5s}  metric    mean  95% CI (seeds)  95% CI (test sessions)"]
    for name, by_metric in result.summary.items():
        for metric, s in by_metric.items():
            lines.append(f"{SET_TITLES.get(name, name):32s} {result.dims[name]:5d}  {metric:8s} {pct(s['mean']):5.1f}  "
                         f"{ci_text(s['ci_seeds']):14s}  {ci_text(s['ci_test'])}")
    lines += ["", "paired differences (first minus second), points: mean, 95% CI and p over seeds (t-test), "
              "over test sessions (bootstrap)"]
    for c in result.comparisons:
        seeds = f"{ci_text(c['ci_seeds'])} p {p_text(c['p_seeds'])}"
        sessions = f"{ci_text(c['ci_test'])} p {p_text(c['p_test'])}"
        lines.append(f"{SET_SHORT[c['a']]} - {SET_SHORT[c['b']]:6s} {c['metric']:8s} {pct(c['diff']):+5.1f}  "
                     f"{seeds}  {sessions}")
    return "\n".join(lines + ["", verdict(result), f"paper: {PAPER_CLAIM}"])


# ---- labels of the clips ---------------------------------------------------------------------------------
def true_labels(root: str | os.PathLike[str]) -> dict[str, int]:
    """Fine label of every clip id with a real label (train/val lists, and test_labels.txt when present)."""
    out: dict[str, int] = {}
    for split in SPLITS:
        path = labels_path(root, split)
        if path is not None and path.is_file():
            out.update({clip_id(c.path): c.label for c in read_list(path)})
    return out


__all__ = [
    "COMPARISONS", "FEATURE_SETS", "METRICS", "PAPER_CLAIM", "REFERENCE_SET", "SET_SHORT", "SET_TITLES", "ClipOutputs",
    "EmotionResult", "SessionFeatures", "ci_text", "evaluate_feature_sets", "fit_predict", "format_result",
    "manet_config", "manet_run_for", "p_text", "pct", "predict_clips", "run_emotion_experiment", "scores",
    "session_features", "true_labels", "verdict",
]
