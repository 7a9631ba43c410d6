"""ma52lib.stats on constructed predictions with known answers: metrics, intervals, differences, verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from ma52lib import stats
from ma52lib.labels import NUM_CLASSES
from ma52lib.metrics import compute_metrics


def scored_with_accuracy(labels: np.ndarray, accuracy: float, rng: np.random.Generator) -> tuple[stats.Scored,
                                                                                                 np.ndarray]:
    """Probabilities right on a random ``accuracy`` share of the clips, else on a random wrong class."""
    n = len(labels)
    right = rng.random(n) < accuracy
    wrong = (labels + rng.integers(1, NUM_CLASSES, n)) % NUM_CLASSES
    probs = rng.random((n, NUM_CLASSES)) * 0.1
    probs[np.arange(n), np.where(right, labels, wrong)] = 1.0
    return stats.Scored.from_probs(probs, labels), probs


def test_vectorised_metrics_equal_the_paper_metrics() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, NUM_CLASSES, 300)
    probs = rng.random((300, NUM_CLASSES))
    probs[np.arange(300), labels] += rng.random(300)  # better than chance, not perfect
    reference = compute_metrics(probs, labels)
    run = stats.Scored.from_probs(probs, labels)
    for name in stats.METRICS:
        assert stats.metric_values(name, run.pred, run.top5, run.labels) == pytest.approx(reference[name]), name
    # Leading axes are batches (what the bootstrap passes).
    batch = stats.metric_values("f1_mean", np.stack([run.pred] * 3), np.stack([run.top5] * 3), np.stack([labels] * 3))
    assert batch.shape == (3,) and batch == pytest.approx(reference["f1_mean"])
    with pytest.raises(ValueError, match="unknown metric"):
        stats.metric_values("top7", run.pred, run.top5, run.labels)


def test_interval_contains_the_estimate_and_narrows_with_more_clips() -> None:
    rng = np.random.default_rng(1)
    small, _ = scored_with_accuracy(rng.integers(0, NUM_CLASSES, 100), 0.6, rng)
    large, _ = scored_with_accuracy(rng.integers(0, NUM_CLASSES, 1600), 0.6, rng)
    a, b = stats.interval(small, "action_top1"), stats.interval(large, "action_top1")
    assert a.low < a.value < a.high and b.low < b.value < b.high
    assert 50 < b.value < 70 and (b.high - b.low) < 0.5 * (a.high - a.low)  # ~1/sqrt(16) as wide
    assert stats.interval(large, "action_top1") == b


def test_a_true_difference_is_found_and_a_null_one_is_inconclusive() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, NUM_CLASSES, 400)
    good, _ = scored_with_accuracy(labels, 0.8, rng)
    bad, _ = scored_with_accuracy(labels, 0.5, rng)
    twin, _ = scored_with_accuracy(labels, 0.8, rng)
    clips, seeds = stats.difference(good, bad, "action_top1")
    assert seeds is None and 20 < clips.value < 40 and clips.low > 0
    assert stats.verdict(clips) == stats.SUPPORTED
    assert stats.verdict(stats.difference(bad, good, "action_top1")[0]) == stats.CONTRADICTED
    null, _ = stats.difference(good, twin, "action_top1")
    assert null.low < 0 < null.high and stats.verdict(null) == stats.INCONCLUSIVE


def test_seeded_differences_add_a_t_interval_over_seeds() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, NUM_CLASSES, 300)
    good = [scored_with_accuracy(labels, 0.7, rng)[0] for _ in range(3)]
    bad = [scored_with_accuracy(labels, 0.4, rng)[0] for _ in range(3)]
    clips, seeds = stats.difference(good, bad, "body_top1")
    assert seeds is not None and seeds.low < seeds.value < seeds.high
    assert clips.value == pytest.approx(seeds.value)  # both centre on the difference of the seed means
    assert stats.verdict(clips, seeds) == stats.SUPPORTED
    mean, sd = stats.spread(good, "action_top1")
    assert 60 < mean < 80 and sd > 0
    with pytest.raises(ValueError, match="same clips"):
        stats.difference(good[0], stats.Scored.from_probs(np.eye(NUM_CLASSES)[:3], np.arange(3)), "action_top1")


def test_verdict_rule() -> None:
    up, down, across = stats.Interval(2, 1, 3), stats.Interval(-2, -3, -1), stats.Interval(0.5, -1, 2)
    assert stats.verdict(up) == stats.SUPPORTED and stats.verdict(down) == stats.CONTRADICTED
    assert stats.verdict(up, across) == stats.INCONCLUSIVE  # every interval must agree
    assert stats.verdict(up, None) == stats.SUPPORTED
    with pytest.raises(ValueError):
        stats.verdict(None)


def test_order_accuracy_of_reversed_pairs() -> None:
    pairs = [(5, 6), (17, 18)]
    labels = np.array([5] * 30 + [6] * 10 + [17] * 20 + [18] * 20 + [9] * 5)
    perfect = np.eye(NUM_CLASSES)[labels]
    correct, which = stats.pair_order_accuracy(perfect, labels, pairs)
    assert correct.tolist() == [1.0] * 80 and sorted(set(which.tolist())) == [0, 1]  # class 9 is in no pair
    assert stats.order_interval(perfect, labels, pairs).value == pytest.approx(100.0)
    # Order-blind: always the first member of each pair. Raw accuracy would be 50/80; balanced it is chance.
    blind = np.zeros((len(labels), NUM_CLASSES))
    blind[:, [5, 17]] = 1.0
    blind[:, [6, 18]] = 0.5
    result = stats.order_interval(blind, labels, pairs)
    assert result.value == pytest.approx(50.0) and result.low <= 50.0 <= result.high
    # Tied scores (an untrained model, or both members at zero) are chance, not errors: 50%, not 0%.
    tied = np.zeros((len(labels), NUM_CLASSES))
    assert stats.pair_order_accuracy(tied, labels, pairs)[0].tolist() == [0.5] * 80
    assert stats.order_interval(tied, labels, pairs).value == pytest.approx(50.0)
    with pytest.raises(ValueError, match="no clip"):
        stats.order_interval(perfect[-5:], labels[-5:], pairs)


def test_paired_p_bootstrap_p_and_percentile_interval() -> None:
    assert stats.paired_p([0.6, 0.7, 0.65], [0.5, 0.55, 0.6]) == pytest.approx(
        sps.ttest_rel([0.6, 0.7, 0.65], [0.5, 0.55, 0.6]).pvalue)
    assert np.isnan(stats.paired_p([0.6], [0.5])) and np.isnan(stats.paired_p([0.6, 0.7], [0.5, 0.6]))
    assert stats.bootstrap_p(np.array([1.0, 2.0, 3.0, -1.0])) == pytest.approx(0.5)
    assert stats.bootstrap_p(np.ones(10)) == 0.0
    low, high = stats.percentile_interval(np.arange(1001.0))
    assert (low, high) == pytest.approx((25.0, 975.0))
    same = stats.seed_interval([0.5, 0.5, 0.5])  # no spread: the point, without scipy's warning
    assert (same.value, same.low, same.high) == (0.5, 0.5, 0.5)
