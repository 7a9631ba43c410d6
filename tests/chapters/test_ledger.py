"""The findings ledger on constructed runs with known answers: verdicts, seeds, evidence, the intro's sentence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ma52lib import stats
from ma52lib.chapters import ledger as lg
from ma52lib.engine.evaluate import save_predictions
from ma52lib.labels import FINE_TO_BODY, NUM_CLASSES
from ma52lib.metrics import compute_metrics
from ma52lib.models import BENCHMARK_MODELS
from ma52lib.synth import REVERSED_PAIRS

RNG_LABELS = np.random.default_rng(7)
LABELS = {split: RNG_LABELS.integers(0, NUM_CLASSES, 500) for split in ("val", "test")}


def fake_run(folder: Path, accuracy: float, seed: int, *, order_aware: bool = True) -> Path:
    """A finished run whose predictions are right on ``accuracy`` of the clips (per split), with results.json.

    ``order_aware=False``: for clips of a time-reversed pair it scores both members alike, the second above.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    results = {}
    partner = {a: b for a, b in REVERSED_PAIRS} | {b: a for a, b in REVERSED_PAIRS}
    for split, labels in LABELS.items():
        n = len(labels)
        probs = rng.random((n, NUM_CLASSES)) * 0.1
        right = rng.random(n) < accuracy
        wrong = (labels + rng.integers(1, NUM_CLASSES, n)) % NUM_CLASSES
        probs[np.arange(n), np.where(right, labels, wrong)] = 1.0
        if not order_aware:
            for i, y in enumerate(labels):
                if int(y) in partner:
                    a, b = sorted((int(y), partner[int(y)]))
                    probs[i, a], probs[i, b] = 0.9, 0.95
        results[split] = compute_metrics(probs, labels)
        save_predictions(folder, split, {"probs": probs, "labels": labels, "indices": np.arange(n)})
    (folder / "results.json").write_text(json.dumps(results))
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> lg.Runs:
    """MANet clearly best, TSM over TSN, SE helping, the embedding loss helping; lambda/segments a tie."""
    acc = {"manet": 0.8, "manet_noemb": 0.6, "tsm": 0.5, "tsn": 0.3}
    seeded = {name: [fake_run(tmp_path / f"{name}@{s}", a, 100 * s + len(name), order_aware=name != "tsn")
                     for s in range(3)] for name, a in acc.items()}
    dirs = {name: seeded[name][0] for name in ("manet", "tsm", "tsn")}
    for i, name in enumerate(m for m in BENCHMARK_MODELS if m not in dirs):
        dirs[name] = fake_run(tmp_path / name, 0.3, 1000 + i)
    for i, (key, a) in enumerate((("lambda/lambda=50", 0.5), ("lambda/lambda=10", 0.5), ("segments/T=8", 0.5),
                                  ("segments/T=4", 0.5))):
        dirs[key] = fake_run(tmp_path / key.replace("/", "_"), a, 2000 + i)  # fixed seeds: str hash() is salted
    return lg.Runs(dirs, seeded)


def test_verdicts_follow_the_constructed_effects(runs: lg.Runs, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MA52_GENERATED", str(tmp_path / "generated"))
    rows = {r.claim: r for r in lg.ledger_rows(runs, "cpu")}
    beats = [r for claim, r in rows.items() if claim.startswith("MANet beats")]
    assert len(beats) == len(BENCHMARK_MODELS) - 1
    assert all(r.verdict == stats.SUPPORTED for r in beats)
    tsm_row = next(r for claim, r in rows.items() if claim.startswith("MANet beats TSM"))
    assert "56.75" in tsm_row.paper and "seeds" in tsm_row.basis  # the paper's gap; TSM is seeded
    assert rows["TSM helps: ResNet + temporal shift over TSN"].verdict == stats.SUPPORTED
    assert rows["The joint-embedding loss helps: MANet over MANet without it"].verdict == stats.SUPPORTED
    # Equal accuracy: the sweep claims cannot be settled.
    segments = rows["8 segments beat 4"]
    assert segments.decision == stats.INCONCLUSIVE and "x the test clips" in segments.verdict
    # TSN scores every pair member alike: TSM (order-aware) beats it on order accuracy.
    order = next(r for claim, r in rows.items() if "time reverse" in claim)
    assert order.verdict == stats.SUPPORTED
    # The evidence chapters did not run: said so, not a number.
    cam = next(r for claim, r in rows.items() if "Grad-CAM" in claim)
    assert cam.verdict == "not measured in this build" and "not run" in cam.ours


def test_a_contradicted_claim_and_saved_evidence(runs: lg.Runs, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MA52_GENERATED", str(tmp_path / "generated"))
    runs.seeded["tsm"], runs.seeded["tsn"] = runs.seeded["tsn"], runs.seeded["tsm"]  # TSM now the worse
    fine = {"cells": [7, 7], "cell_px": 8, "crop_px": 56, "region_cells": 9.8, "min_region_cells": 4.0}
    lg.save_evidence("gradcam", {"model": "manet", "clips": 200, "manet_mass_minus_area": [4.0, 1.5, 6.5], **fine})
    lg.save_evidence("emotion", {"fused_minus_visual": [1.0, -3.0, 5.0], "test_sessions": 48, "seeds": 5})
    rows = {r.claim: r for r in lg.ledger_rows(runs, "cpu")}
    assert rows["TSM helps: ResNet + temporal shift over TSN"].verdict == stats.CONTRADICTED
    cam = next(r for claim, r in rows.items() if "Grad-CAM" in claim)
    emotion = next(r for claim, r in rows.items() if "emotion" in claim)
    assert cam.verdict == stats.SUPPORTED and emotion.verdict == stats.INCONCLUSIVE
    table = lg.ledger_table(list(rows.values()))
    assert list(table.columns) == ["paper's evidence", "ours (points, 95% CI)", "intervals over", "verdict"]
    text = lg.summary_markdown(list(rows.values()), "cpu")
    counts = lg.counts(list(rows.values()))
    assert f"checks {len(rows)} claims" in text and f"**{counts[stats.SUPPORTED]} supported**" in text
    assert counts[stats.CONTRADICTED] >= 1 and f"{counts[stats.CONTRADICTED]} contradicted" in text
    assert lg.write_summary(list(rows.values()), "cpu").read_text() == text


def test_order_table_marks_single_seed_models(tmp_path: Path) -> None:
    from ma52lib.chapters.benchmark import order_table

    seeds = {"tsm": {s: fake_run(tmp_path / f"tsm{s}", 0.9, 50 + s) for s in range(2)}}
    runs = {"tsm": seeds["tsm"][0], "tsn": fake_run(tmp_path / "tsn", 0.9, 60, order_aware=False)}
    table = order_table(runs, REVERSED_PAIRS, seeds=seeds)
    column = "seeds (mean ± sd, n=2)"
    assert table.loc["TSN", column] == "one seed" and "±" in table.loc["TSM", column]
    # Scoring both members alike, the second above: 100% on one member, 0% on the other: chance, balanced.
    assert table.loc["TSN", "order accuracy % (95% CI)"].startswith("50.0")
    assert table.loc["TSM", "above chance (50%)"] == "yes"


def test_one_seed_book_has_clip_intervals_only(runs: lg.Runs, tmp_path: Path, monkeypatch) -> None:
    """`ma52 reproduce --seeds 1`: every contrast has one run a side; rows say so and still reach verdicts."""
    monkeypatch.setenv("MA52_GENERATED", str(tmp_path / "generated"))
    one = lg.Runs(runs.dirs, {name: dirs[:1] for name, dirs in runs.seeded.items()})
    rows = {r.claim: r for r in lg.ledger_rows(one, "cpu")}
    tsm = rows["TSM helps: ResNet + temporal shift over TSN"]
    assert tsm.basis == "one seed, test clips" and "(seeds)" not in tsm.ours and tsm.intervals[1] is None
    assert tsm.verdict == stats.SUPPORTED  # the clip interval alone decides
    beats = next(r for claim, r in rows.items() if claim.startswith("MANet beats TSM"))
    assert beats.basis == "one seed, test clips"
    order = next(r for claim, r in rows.items() if "time reverse" in claim)
    assert order.basis.startswith("one seed;") and "(seeds)" not in order.ours
    assert not any("1 seeds" in r.basis for r in rows.values())


def test_seed_table_with_one_seed_has_no_spread(runs: lg.Runs) -> None:
    from ma52lib.chapters.ablations import seed_table

    table = seed_table({"TSM": {0: runs.seeded["tsm"][0]}, "TSN": dict(enumerate(runs.seeded["tsn"]))})
    column = "Action top-1 (mean ± sd)"
    assert table.loc["TSM", column].endswith("(one seed)") and "nan" not in table.loc["TSM", column]
    assert "±" in table.loc["TSN", column] and table.loc["TSN", "seeds"] == 3


def prior_run(folder: Path) -> Path:
    """A run that predicts the most frequent class of each split for every clip: it never left the prior."""
    folder.mkdir(parents=True)
    results = {}
    for split, labels in LABELS.items():
        probs = np.full((len(labels), NUM_CLASSES), 0.01)
        probs[:, np.bincount(labels).argmax()] = 1.0
        results[split] = compute_metrics(probs, labels)
        save_predictions(folder, split, {"probs": probs, "labels": labels, "indices": np.arange(len(labels))})
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_a_model_at_the_prior_makes_its_claims_not_comparable(runs: lg.Runs, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MA52_GENERATED", str(tmp_path / "generated"))
    runs.dirs["c3d"] = prior_run(tmp_path / "c3d_prior")
    runs.seeded["tsn"][1] = prior_run(tmp_path / "tsn_prior")  # one seed of three at the prior is enough
    rows = {r.claim: r for r in lg.ledger_rows(runs, "cpu")}
    c3d = next(r for claim, r in rows.items() if claim.startswith("MANet beats C3D"))
    assert min(i.low for i in c3d.intervals if i is not None) > 0  # the intervals alone would say "supported"
    assert c3d.verdict == "not comparable: C3D did not learn"
    assert rows["TSM helps: ResNet + temporal shift over TSN"].verdict == "not comparable: TSN did not learn"
    assert next(r for claim, r in rows.items() if claim.startswith("MANet beats TSM")).verdict == stats.SUPPORTED
    counts = lg.counts(list(rows.values()))
    assert counts[lg.NOT_COMPARABLE] == 4  # C3D, TSN (beats and TSM helps), the time-reversal row (TSM over TSN)
    text = lg.summary_markdown(list(rows.values()), "cpu")
    assert "4 not comparable (a compared model did not learn)" in text


def test_learned_is_material_top1_above_the_prior_and_many_classes() -> None:
    labels = np.repeat(np.arange(10), [40] + [20] * 9)  # 220 clips; the prior: 18.2% for always class 0
    prior = stats.Scored.from_probs(np.eye(NUM_CLASSES)[np.zeros(220, dtype=int)], labels)
    assert stats.majority_rate(labels) == 100 * 40 / 220 and not stats.learned(prior)
    # 60 right (27.3%: +9.1 points) over many classes: below the top-1 bar
    near = stats.Scored(np.where(np.arange(220) % 11 < 3, labels, 51), np.zeros(220, bool), labels)
    # 60 right of each class in proportion: +21.8 points over all ten classes
    far = stats.Scored(np.where(np.arange(220) % 11 < 5, labels, 51), np.zeros(220, bool), labels)
    assert not stats.learned(near) and stats.learned(far)
    # Ten clips of each of the 52 classes; a model that knows the body part only and always names its first class:
    # 13.5% action top-1 (+11.5 points over the 1.9% prior) but an action macro F1 of 3.6: not a finding's partner.
    labels = np.repeat(np.arange(NUM_CLASSES), 10)
    first_of_part = {b: FINE_TO_BODY.index(b) for b in set(FINE_TO_BODY)}
    part_only = stats.Scored(np.array([first_of_part[FINE_TO_BODY[y]] for y in labels]), np.zeros(520, bool), labels)
    assert 100 * (part_only.pred == labels).mean() >= stats.majority_rate(labels) + stats.LEARNED_MARGIN
    assert not stats.learned(part_only)


def test_coarse_maps_are_not_measurable_and_a_tight_null_is_no_effect(runs: lg.Runs, tmp_path: Path,
                                                                      monkeypatch) -> None:
    monkeypatch.setenv("MA52_GENERATED", str(tmp_path / "generated"))
    coarse = {"cells": [2, 2], "cell_px": 28, "crop_px": 56, "region_cells": 0.8, "min_region_cells": 4.0}
    lg.save_evidence("gradcam", {"model": "manet", "clips": 200, "manet_mass_minus_area": [-0.1, -0.2, -0.0],
                                 **coarse})
    rows = {r.claim: r for r in lg.ledger_rows(runs, "cpu")}
    cam = next(r for claim, r in rows.items() if "Grad-CAM" in claim)
    # An interval below zero, but from maps whose cells are larger than the acting part: no verdict from it.
    assert cam.decision == lg.NOT_MEASURABLE and "2 x 2 cells of 28 px" in cam.verdict
    null = lg.Row("a claim", "x", "y", (stats.Interval(0.1, -0.6, 0.8),), "one seed, test clips")
    wide = lg.Row("a claim", "x", "y", (stats.Interval(0.1, -2.9, 3.1),), "one seed, test clips")
    assert null.verdict == stats.NO_EFFECT
    # Centre 0.1, half-width 3.0: inside +-1 needs a half-width of 0.9, (3.0 / 0.9)^2 = 11.1x the clips.
    assert wide.decision == stats.INCONCLUSIVE and "about 11.1x the test clips" in wide.verdict
    near = lg.Row("a claim", "x", "y", (stats.Interval(0.9, -0.3, 2.1),), "one seed, test clips")
    assert "about 1.8x the test clips" in near.verdict  # (1.2 / 0.9)^2: past zero decides first
    small = lg.Row("a claim", "x", "y", (stats.Interval(0.5, 0.2, 0.8),), "one seed, test clips")
    assert small.verdict == stats.SUPPORTED  # inside the margin, but above zero: the direction holds
    text = lg.summary_markdown(list(rows.values()), "cpu")
    assert "1 not measurable here" in text and "decides" in text
