"""The benchmark chapter's tables, figures and headline (ma52lib.chapters.benchmark), on hand-made runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PathCollection

from ma52lib.chapters import benchmark as bm
from ma52lib.labels import BODY_PARTS, FINE_CLASSES, NUM_CLASSES

from fakeruns import fake_run, stated_numbers


def test_confused_pairs_ranks_the_largest_errors() -> None:
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), int)
    cm[9, 9], cm[9, 10], cm[43, 41], cm[17, 18] = 5, 3, 2, 1  # nodding->shaking head, nose->face, arms
    table = bm.confused_pairs({"manet": cm.tolist()}, k=2)
    assert list(table["true action"]) == ["nodding", "touching nose"]
    assert list(table["predicted as"]) == ["shaking head", "scratching or touching face"]
    first = table.iloc[0]
    assert first["clips"] == 3 and first["% of the true class"] == pytest.approx(37.5)
    assert first["same body part"] == "yes"
    assert list(table.index.get_level_values("model")) == ["MANet", "MANet"]
    # A model without errors adds no rows (zeros are not "confusions").
    assert len(bm.confused_pairs({"tsn": np.eye(NUM_CLASSES, dtype=int).tolist()})) == 0


def test_reversal_table_share_given_to_the_partner() -> None:
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), int)
    cm[5, 5], cm[5, 6], cm[6, 6], cm[6, 5] = 3, 1, 2, 2  # bowing head / head up: 3 of 8 swapped
    table = bm.reversal_table({"tsn": cm.tolist()}, [(5, 6), (17, 18)])
    assert table.loc["bowing head / head up", "TSN: % given to the partner"] == pytest.approx(37.5)
    assert table.loc["bowing head / head up", "clips"] == 8
    assert table.loc["stretching arms / retracting arms", "TSN: % given to the partner"] == "-"


def test_long_tail_table_groups_by_train_frequency() -> None:
    counts = np.arange(NUM_CLASSES)[::-1] + 1  # class 0 most frequent
    acc = np.full(NUM_CLASSES, np.nan)
    acc[:18], acc[18:35] = 90.0, 50.0  # the tail third has no evaluation clips
    table = bm.long_tail_table({"manet": acc.tolist()}, counts)
    assert list(table.index) == ["head", "middle", "tail"]
    assert list(table["classes"]) == [18, 17, 17]
    assert table.loc["head", "train clips per class"] == "35-52"
    assert list(table["MANet mean class accuracy"]) == [90.0, 50.0, "-"]


def test_bar_chart_labels_models_and_marks_public_paper_numbers(runs) -> None:
    fig = bm.bar_chart(runs, split="test")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["TSN", "MANet"]
    assert ax.get_ylabel() == "percent"
    labels = ax.get_legend_handles_labels()[1]
    assert "paper (real MA-52, published)" in labels and "Action top-1 (this run, 95% CI)" in labels
    # Only MANet has public numbers: three diamonds, one per metric.
    paper = [c for c in ax.collections if isinstance(c, PathCollection)]  # the diamonds (error bars are lines)
    assert sum(len(c.get_offsets()) for c in paper) == 3
    # Every bar carries its interval as an error bar.
    bars = [c for c in ax.containers if hasattr(c, "errorbar")]
    assert len(bars) == 3 and all(c.errorbar is not None for c in bars)


def test_per_class_figure_names_every_class_most_frequent_first() -> None:
    counts = np.ones(NUM_CLASSES, int)
    counts[9], counts[45] = 1283, 100  # nodding first, covering face second
    acc = np.full(NUM_CLASSES, 50.0)
    acc[3] = np.nan
    fig = bm.per_class_figure({"manet": acc.tolist(), "tsn": acc.tolist()}, counts)
    left, right = fig.axes[:2]
    names = [t.get_text() for t in left.get_yticklabels()]
    assert names[:2] == ["nodding", "covering face"] and sorted(names) == sorted(FINE_CLASSES)
    assert "accuracy" in left.get_xlabel() and "train clips" in right.get_xlabel()
    assert right.get_xscale() == "log"  # a real long tail
    assert any("no test clips" in label for label in left.get_legend_handles_labels()[1])


def test_body_confusion_figure_has_body_part_names_and_row_percentages() -> None:
    cm = np.diag([4, 2, 0, 1, 1, 1, 1])
    cm[0, 1] = 4
    fig = bm.body_confusion_figure({"manet": cm.tolist()})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(BODY_PARTS)
    assert ax.get_xlabel() == "predicted body part" and ax.get_ylabel() == "true body part"
    texts = [t.get_text() for t in ax.texts]
    assert texts[:2] == ["50", "50"]  # row "body": 4 right, 4 as head


def _clustered(n_per_body: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features [N, 16] around one random centre per body part, and one fine label of that part each."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(BODY_PARTS), 16)) * 5
    fine_of_body = [0, 5, 11, 24, 32, 38, 48]
    labels = np.repeat(fine_of_body, n_per_body)
    body = np.repeat(np.arange(len(BODY_PARTS)), n_per_body)
    return (centres[body] + rng.normal(size=(len(labels), 16)) * spread).astype(np.float32), labels


def test_separation_table_tells_grouped_from_mixed_features() -> None:
    grouped = _clustered(6, 0.1)
    mixed = (np.random.default_rng(1).normal(size=grouped[0].shape).astype(np.float32), grouped[1])
    table = bm.separation_table({"manet": grouped, "tsn": mixed})
    assert table.loc["MANet", "silhouette by body part"] > 0.8
    assert abs(table.loc["TSN", "silhouette by body part"]) < 0.2
    assert table.loc["MANet", "clips"] == 42 and table.loc["MANet", "feature size"] == 16
    # Undefined silhouettes (one clip per group) are shown as "-", not an error.
    few = bm.separation_table({"tsn": (grouped[0][:3], np.array([0, 5, 11]))})
    assert few.loc["TSN", "silhouette by body part"] == "-"


def test_feature_map_figure_colours_by_body_part() -> None:
    fig = bm.feature_map_figure({"manet": _clustered(4, 0.1), "tsn": _clustered(4, 3.0, seed=2)}, split="test")
    assert [ax.get_xlabel() for ax in fig.axes] == ["t-SNE 1", "t-SNE 1"]
    assert fig.axes[0].get_title() == "MANet clip features (test, n=28)"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(BODY_PARTS)


def test_tsne_needs_three_clips() -> None:
    assert bm.tsne_2d(np.random.default_rng(0).normal(size=(5, 8))).shape == (5, 2)
    with pytest.raises(ValueError, match="at least 3 clips"):
        bm.tsne_2d(np.zeros((2, 8)))


def test_benchmark_headline_names_the_best_model_and_where_manet_stands(runs) -> None:
    text = bm.headline(runs, split="test")
    # TSN scores 25% on test, MANet (no test split) falls back to val: 75%
    said = stated_numbers(text)  # 2 models; MANet's 75.0 with its 95% interval; TSN's 25.0
    assert said[:3] == [2, 75.0, 95] and said[3] < 75.0 < said[4] and said[5:] == [25.0]
    assert text.index("MANet") < text.index("TSN") and "as in the paper" in text
    without = bm.headline({"tsn": runs["tsn"]}, split="test")
    assert "MANet did not finish" in without
    assert "No model finished" in bm.headline({}, split="test")


def test_benchmark_headline_ranks_a_manet_that_is_not_first(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    runs = {"tsn": fake_run(tmp_path / "runs", "tsn", data_root=data, correct=0.75),
            "manet": fake_run(tmp_path / "runs", "manet", data_root=data, correct=0.25)}
    text = bm.headline(runs, split="test")
    said = stated_numbers(text)  # 2 models; TSN's 75.0 and its interval; MANet ranks 2 of 2 with 25.0 and its interval
    assert said[:3] == [2, 75.0, 95] and said[5:8] == [2, 2, 25.0] and said[9] < 25.0 < said[10]
    assert text.index("TSN") < text.index("MANet") and "where the paper has it first" in text
    assert "intervals overlap" not in text


def test_the_seeded_models_train_the_profile_s_seeds() -> None:
    assert [list(v) for v in bm.seeded_configs("cpu", None, 0).values()] == [[0]] * 3
    assert [list(v) for v in bm.seeded_configs("cpu", None, 0, n_seeds=3).values()] == [[0, 1, 2]] * 3
