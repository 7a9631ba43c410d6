"""How sure a number is: bootstrap intervals over clips, paired differences, seeds, and a verdict rule.

One test clip moves a top-1 by 100 / N points (0.28 at 353 clips, 0.05 at 1,861), a training seed moves it
by several points, so every comparison in the book carries an interval:

- ``interval``: a metric of one run with its 95% bootstrap interval over the scored clips;
- ``difference``: metric(A) - metric(B) of models scored on the same clips, resampling clips jointly
  (paired); with several seeds per model, the difference of the seed means, plus a t-interval over
  the per-seed differences (the training-seed spread);
- ``verdict``: "supported" when every interval of an effect lies above zero, "contradicted" when every
  one lies below, "no effect of the paper's size" when every one lies within +-1 point (for effects in top-1
  points), "inconclusive at this size" otherwise;
- ``learned``: whether a run learned materially (action top-1 at least 10 points above the majority-class
  rate of the clips it is scored on, action macro F1 at least 10): a comparison with a run that did not is no
  finding.

Resampling is scipy's ``stats.bootstrap`` (percentile intervals) on vectorised metrics that match
``ma52lib.metrics.compute_metrics`` exactly (macro F1 over the classes present in labels or predictions,
as the official scoring does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ma52lib.labels import FINE_TO_BODY, NUM_BODY_PARTS, NUM_CLASSES

LEVEL = 0.95
N_RESAMPLES = 2000
METRICS = ("action_top1", "body_top1", "action_top5", "action_f1_macro", "body_f1_macro", "f1_mean")
# The bar a run must clear before a comparison with it counts (``learned``), fixed before the runs: action top-1
# points above the class prior, and action macro F1 (percent).
LEARNED_MARGIN, LEARNED_MACRO_F1 = 10.0, 10.0
SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive at this size"
NO_EFFECT = "no effect of the paper's size"
# A difference of top-1 points whose whole interval lies within this many points is "no effect of the paper's size"
# (the paper's gaps between models are 2-5 points); fixed before the runs, printed on the ledger page.
NO_EFFECT_MARGIN = 1.0
_TO_BODY = np.asarray(FINE_TO_BODY, dtype=np.int64)


@dataclass(frozen=True)
class Scored:
    """One run's predictions on a split: top-1 class, whether the label is in the top 5, and the labels."""

    pred: np.ndarray  # [N] argmax fine class
    top5: np.ndarray  # [N] bool: label among the 5 highest scores
    labels: np.ndarray  # [N] fine labels

    @classmethod
    def from_probs(cls, probs: np.ndarray, labels: np.ndarray) -> Scored:
        """From class scores ``[N, 52]`` and labels ``[N]`` (ties broken towards the lower id, as the metrics)."""
        probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
        ranked = np.argsort(-probs, axis=1, kind="stable")[:, :5]
        return cls(ranked[:, 0], (ranked == labels[:, None]).any(axis=1), labels)


@dataclass(frozen=True)
class Interval:
    """A point estimate and its interval (percent points)."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.1f} [{self.low:.1f}, {self.high:.1f}]"

    def signed(self) -> str:
        """As a difference: ``+4.2 [+1.0, +7.5]``."""
        return f"{self.value:+.1f} [{self.low:+.1f}, {self.high:+.1f}]"


def _f1_per_class(true: np.ndarray, pred: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """F1 of each class ``[..., C]`` along the last axis of ``[..., N]`` arrays, and whether the class is present
    in ``true`` or ``pred`` (an absent class has F1 0)."""
    one_t = true[..., None] == np.arange(classes)  # [..., N, C]
    one_p = pred[..., None] == np.arange(classes)
    tp = (one_t & one_p).sum(-2)
    support = one_t.sum(-2) + one_p.sum(-2)  # [..., C]: 2tp + fp + fn
    present = support > 0
    return np.where(present, 2 * tp / np.maximum(support, 1), 0.0), present


def macro_f1(true: np.ndarray, pred: np.ndarray, classes: int, *, over: str = "present") -> np.ndarray:
    """Macro F1 (a fraction) along the last axis of ``[..., N]`` arrays; leading axes are batches (resamples, seeds).

    ``over="present"`` averages over the classes present in ``true`` or ``pred`` (the official scoring, as
    scikit-learn's ``f1_score`` without ``labels=``); ``over="all"`` over all ``classes``, an absent class
    counting 0 (``f1_score(labels=range(classes), zero_division=0)``).
    """
    if over not in ("present", "all"):
        raise ValueError(f"over must be 'present' or 'all', got {over!r}")
    f1, present = _f1_per_class(true, pred, classes)
    return f1.sum(-1) / (np.maximum(present.sum(-1), 1) if over == "present" else classes)


def _macro_f1(true: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    """Macro F1 in percent over the present classes (as ``compute_metrics``)."""
    f1, present = _f1_per_class(true, pred, classes)
    return 100.0 * f1.sum(-1) / np.maximum(present.sum(-1), 1)


def metric_values(name: str, pred: np.ndarray, top5: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Metric ``name`` (percent) along the last axis of arrays ``[..., N]``; any leading axes are batches."""
    body_pred, body_true = _TO_BODY[pred], _TO_BODY[labels]
    if name == "action_top1":
        return 100.0 * (pred == labels).mean(-1)
    if name == "body_top1":
        return 100.0 * (body_pred == body_true).mean(-1)
    if name == "action_top5":
        return 100.0 * top5.mean(-1)
    if name == "action_f1_macro":
        return _macro_f1(labels, pred, NUM_CLASSES)
    if name == "body_f1_macro":
        return _macro_f1(body_true, body_pred, NUM_BODY_PARTS)
    if name == "f1_mean":  # micro F1 equals top-1 for single-label data
        return (metric_values("action_top1", pred, top5, labels) + metric_values("body_top1", pred, top5, labels)
                + _macro_f1(labels, pred, NUM_CLASSES) + _macro_f1(body_true, body_pred, NUM_BODY_PARTS)) / 4.0
    raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")


def _bootstrap(data: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray], seed: int) -> tuple[float, float]:
    """Percentile interval of ``statistic`` resampling the clips of every array in ``data`` jointly."""
    res = sps.bootstrap(data, statistic, paired=True, vectorized=True, n_resamples=N_RESAMPLES,
                        confidence_level=LEVEL, method="percentile", random_state=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return float(low), float(high)


def interval(run: Scored, metric: str, *, seed: int = 0) -> Interval:
    """``metric`` of one run with its bootstrap interval over the clips."""
    def statistic(pred: np.ndarray, top5: np.ndarray, labels: np.ndarray, axis: int = -1) -> np.ndarray:
        return metric_values(metric, pred, top5, labels)

    data = (run.pred, run.top5, run.labels)
    return Interval(float(statistic(*data)), *_bootstrap(data, statistic, seed))


def _same_clips(runs: Sequence[Scored]) -> np.ndarray:
    labels = runs[0].labels
    if any(len(r.labels) != len(labels) or not np.array_equal(r.labels, labels) for r in runs):
        raise ValueError("paired comparisons need every run scored on the same clips in the same order")
    return labels


def difference(a: Sequence[Scored] | Scored, b: Sequence[Scored] | Scored, metric: str, *,
               seed: int = 0) -> tuple[Interval, Interval | None]:
    """mean metric(A) - mean metric(B) over their runs (seeds), scored on the same clips.

    Returns (the difference with its paired bootstrap interval over clips, the t-interval over the
    per-seed differences or None with fewer than two seeds per side). Seeds pair up in order.
    """
    a, b = ([a] if isinstance(a, Scored) else list(a)), ([b] if isinstance(b, Scored) else list(b))
    labels = _same_clips(a + b)
    k = len(a)

    def statistic(*arrays: np.ndarray, axis: int = -1) -> np.ndarray:
        preds, top5s = arrays[: len(arrays) // 2], arrays[len(arrays) // 2: -1]
        values = [metric_values(metric, p, t, arrays[-1]) for p, t in zip(preds, top5s)]
        return np.mean(values[:k], axis=0) - np.mean(values[k:], axis=0)

    data = tuple(r.pred for r in a + b) + tuple(r.top5 for r in a + b) + (labels,)
    clips = Interval(float(statistic(*data)), *_bootstrap(data, statistic, seed))
    if min(len(a), len(b)) < 2:
        return clips, None
    per_seed = [float(metric_values(metric, x.pred, x.top5, labels) - metric_values(metric, y.pred, y.top5, labels))
                for x, y in zip(a, b)]
    return clips, seed_interval(per_seed)


def seed_interval(values: Sequence[float]) -> Interval | None:
    """Mean of per-seed values (e.g. differences) with its t-interval; None with fewer than two seeds."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return None
    if np.allclose(values, values[0], rtol=0, atol=0):  # no spread: the interval is the point (scipy would warn)
        return Interval(float(values.mean()), float(values.mean()), float(values.mean()))
    low, high = sps.ttest_1samp(values, 0.0).confidence_interval(LEVEL)
    return Interval(float(values.mean()), float(low), float(high))


def paired_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided paired t-test p-value of ``a`` against ``b`` (e.g. per seed); NaN when undefined (fewer than
    two pairs, or every difference the same)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(d) < 2 or np.allclose(d, d[0]):
        return float("nan")
    return float(sps.ttest_rel(a, b).pvalue)


def percentile_interval(samples: np.ndarray) -> tuple[float, float]:
    """The ``LEVEL`` percentile interval of resampled values (e.g. bootstrap differences)."""
    low, high = np.quantile(samples, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    return float(low), float(high)


def bootstrap_p(diffs: np.ndarray) -> float:
    """Two-sided p-value that resampled differences ``diffs`` are centred on zero: twice the smaller tail."""
    diffs = np.asarray(diffs)
    return float(min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0))))


def mean_interval(values: Sequence[float], *, seed: int = 0) -> Interval:
    """Mean of per-item values (e.g. per-clip differences) with its bootstrap interval over the items."""
    values = np.asarray(values, dtype=np.float64)

    def statistic(v: np.ndarray, axis: int = -1) -> np.ndarray:
        return v.mean(axis)

    return Interval(float(values.mean()), *_bootstrap((values,), statistic, seed))


def spread(runs: Sequence[Scored], metric: str) -> tuple[float, float]:
    """(mean, sample standard deviation) of ``metric`` over runs (e.g. seeds); sd 0 for one run."""
    values = np.array([metric_values(metric, r.pred, r.top5, r.labels) for r in runs])
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def verdict(*intervals: Interval | None, margin: float | None = None) -> str:
    """supported / contradicted / no effect of the paper's size / inconclusive at this size, from the intervals of
    one effect (None ignored). "No effect" needs a ``margin`` (in the effect's units, fixed before the runs) and
    every interval inside ``[-margin, margin]``."""
    given = [i for i in intervals if i is not None]
    if not given:
        raise ValueError("verdict needs at least one interval")
    if all(i.low > 0 for i in given):
        return SUPPORTED
    if all(i.high < 0 for i in given):
        return CONTRADICTED
    if margin is not None and all(-margin <= i.low and i.high <= margin for i in given):
        return NO_EFFECT
    return INCONCLUSIVE


def narrowing_factor(intervals: Sequence[Interval | None], margin: float) -> float:
    """About how many times the clips (or seeds) would decide an inconclusive effect: each interval narrowed (as one
    over the root of the sample) until it excludes zero or fits inside ``[-margin, margin]``, whichever comes first;
    the largest factor over the intervals."""
    factors = []
    for i in (i for i in intervals if i is not None):
        half, centre = (i.high - i.low) / 2, abs((i.high + i.low) / 2)
        room = max(centre, margin - centre)  # the half-width that decides: past zero, or inside the margin
        factors.append((half / room) ** 2 if room > 0 else float("inf"))
    return max(factors)


def majority_rate(labels: np.ndarray) -> float:
    """Action top-1 (percent) of always predicting the most frequent class of ``labels``: the class prior."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=NUM_CLASSES)
    return 100.0 * float(counts.max()) / max(len(labels), 1)


def learned(run: Scored) -> bool:
    """Whether ``run`` learned materially, the bar a comparison needs to say anything: action top-1 at least
    ``LEARNED_MARGIN`` points above the majority-class rate of its clips and an action macro F1 of at least
    ``LEARNED_MACRO_F1`` (it predicts many classes, not the head of the long tail)."""
    top1 = 100.0 * float((run.pred == run.labels).mean())
    macro = float(_macro_f1(run.labels[None], run.pred[None], NUM_CLASSES)[0])
    return top1 >= majority_rate(run.labels) + LEARNED_MARGIN and macro >= LEARNED_MACRO_F1


def pair_order_accuracy(probs: np.ndarray, labels: np.ndarray,
                        pairs: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Per clip of a time-reversed pair's classes: 1 if the model scores its class above the reversed partner,
    0.5 on a tie (a model that scores both alike cannot tell them apart: chance, not an error).

    Returns (correct [M] 0/1, pair index [M]) for the M clips whose label is in a pair; a model blind to
    frame order sits at 50% (balanced over the two classes of each pair, see ``order_interval``).
    """
    probs, labels = np.asarray(probs), np.asarray(labels)
    partner = {a: b for a, b in pairs} | {b: a for a, b in pairs}
    which = {c: i for i, pair in enumerate(pairs) for c in pair}
    rows = np.array([i for i, y in enumerate(labels) if int(y) in partner], dtype=np.int64)
    if rows.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    own = probs[rows, labels[rows]]
    other = probs[rows, [partner[int(y)] for y in labels[rows]]]
    correct = (own > other).astype(np.float64) + 0.5 * (own == other)
    return correct, np.array([which[int(y)] for y in labels[rows]])


def order_interval(probs: np.ndarray, labels: np.ndarray, pairs: Sequence[tuple[int, int]], *,
                   seed: int = 0) -> Interval:
    """Order accuracy (percent): recall within each reversed pair, balanced over its two classes, averaged
    over the pairs; chance is 50% whatever the class frequencies. Bootstrap interval over the pair clips."""
    correct, _ = pair_order_accuracy(probs, labels, pairs)
    if correct.size == 0:
        raise ValueError("no clip of a time-reversed pair in this split")
    cls = np.asarray(labels)[np.isin(labels, [c for pair in pairs for c in pair])]
    present = np.unique(cls)

    def statistic(correct: np.ndarray, cls: np.ndarray, axis: int = -1) -> np.ndarray:
        recalls = []
        for c in present:  # a resample missing a class leaves it at chance (0.5), not undefined
            mask = cls == c
            hits = (correct * mask).sum(-1)
            recalls.append(np.where(mask.sum(-1) > 0, hits / np.maximum(mask.sum(-1), 1), 0.5))
        return 100.0 * np.mean(recalls, axis=0)

    return Interval(float(statistic(correct, cls)), *_bootstrap((correct, cls), statistic, seed))
