"""The ablations chapter's tables, sweeps and headline (ma52lib.chapters.ablations), on hand-made runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ma52lib.chapters import ablations as ab
from ma52lib.chapters import benchmark as bm
from ma52lib.config import config_hash
from ma52lib.labels import NUM_CLASSES
from ma52lib.metrics import compute_metrics

from fakeruns import probs_for, stated_numbers


def test_compact_table_says_not_public_for_the_paper(runs) -> None:
    table = ab.compact_table(runs, split="test")
    assert list(table.index) == ["tsn", "manet"]
    assert table.loc["tsn", "split"].startswith("test") and table.loc["manet", "split"].startswith("val")
    assert table.loc["manet", "Action top-1"].startswith("75.0 [")  # with its bootstrap interval
    labels = np.repeat(np.arange(NUM_CLASSES), 2)
    top5 = compute_metrics(probs_for(labels, 0.75, 1), labels)["action_top5"]
    assert table.loc["manet", "Action top-5"] == pytest.approx(top5, abs=0.005)  # other columns: rounded numbers
    assert set(table["paper"]) == {"not public"}


def test_sweep_figure_plots_one_line_per_metric(runs) -> None:
    fig = ab.sweep_figure(runs, [0, 50], xlabel="loss weight lambda", split="test")
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and ax.get_xlabel() == "loss weight lambda"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [25.0, 75.0])  # action top-1 (MANet falls back to val)


def test_sweeps_for_replaces_only_what_is_given(tmp_path: Path) -> None:
    assert ab.sweeps_for("smoke") == ab.ablation_defaults("smoke")
    extra = tmp_path / "glove.npy"
    sweeps = ab.sweeps_for("cpu", lambdas=[1, 2], extra_embeddings=str(extra))
    assert sweeps["lambdas"] == (1.0, 2.0) and sweeps["segments"] == ab.ABLATION_DEFAULTS["cpu"]["segments"]
    assert sweeps["embedding_sources"] == (*ab.ABLATION_DEFAULTS["cpu"]["embedding_sources"], str(extra.resolve()))


def test_ablations_headline_reads_the_whole_contrast_and_the_largest_step() -> None:
    rows = [("+TSM minus base", "Action top-1", 3.0, "[+1.0, +5.0]", "-", "supported"),
            ("+TSM+SE minus +TSM", "Action top-1", -6.0, "[-9.0, -3.0]", "-", "contradicted"),
            ("MANet minus base", "Action top-1", -3.0, "[-4.0, -2.0]", "[-8.0, +1.0]", "inconclusive at this size"),
            ("MANet minus base", "Body top-1", 9.0, "[+1.0, +5.0]", "-", "supported")]
    table = pd.DataFrame(rows, columns=["contrast", "metric", "difference (points)", "95% CI over clips",
                                        "95% CI over seeds", "verdict"]).set_index(["contrast", "metric"])
    text = ab.headline(table)
    # The whole contrast first (its difference, both intervals, its verdict), then the largest single step.
    assert stated_numbers(text) == [-3.0, 95, -4.0, -2.0, -8.0, 1.0, -6.0]
    assert text.startswith("MANet minus base") and "inconclusive at this size" in text
    assert text.index("+TSM+SE minus +TSM") > text.index("inconclusive") and "Body top-1" not in text


def test_one_seed_of_the_components_trains_nothing_beyond_the_benchmark() -> None:
    one = ab.seeded_components("cpu", None, 0, n_seeds=1)
    assert list(one) == ["ResNet-TSN (base)", "+TSM", "+TSM+SE", "+TSM+SE+joint embedding (MANet)"]
    assert all(list(by_seed) == [0] for by_seed in one.values())
    # Seed 0 of the seeded rows is the benchmark's own run.
    assert config_hash(one["+TSM"][0]) == config_hash(bm.benchmark_configs("cpu", None, 0)["tsm"])
