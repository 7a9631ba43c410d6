"""What the chapters share (ma52lib.chapters.common): scored splits, class counts, the brief echo, seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ma52lib.chapters import common
from ma52lib.engine.evaluate import scored_results
from ma52lib.labels import NUM_CLASSES


def test_scored_results_falls_back_to_val_without_test_labels(runs) -> None:
    metrics, used = scored_results(runs["tsn"], "test")
    assert used == "test" and metrics["action_top1"] == pytest.approx(25.0)
    metrics, used = scored_results(runs["manet"], "test")
    assert used == "val" and metrics["action_top1"] == pytest.approx(75.0)


def test_scored_results_names_the_file_when_nothing_is_scored(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"run": "x"}))
    with pytest.raises(KeyError, match="results.json"):
        scored_results(tmp_path, "test")


def test_class_counts_reads_the_train_list(tmp_path: Path) -> None:
    (tmp_path / "train_list_videos.txt").write_bytes(b"a.mp4 3\r\nb.mp4 3\r\nc.mp4 51")
    counts = common.class_counts(tmp_path)
    assert counts.shape == (NUM_CLASSES,) and counts[3] == 2 and counts[51] == 1 and counts.sum() == 3


def test_class_counts_of_test_use_the_true_labels_where_present(tmp_path: Path) -> None:
    (tmp_path / "test_list_videos.txt").write_bytes(b"test0000.mp4 0\r\ntest0001.mp4 0\r\n")
    assert common.class_counts(tmp_path, "test")[0] == 2  # withheld: the list's dummy labels
    (tmp_path / "test_labels.txt").write_bytes(b"test0000.mp4 7\r\ntest0001.mp4 9\r\n")
    counts = common.class_counts(tmp_path, "test")
    assert counts[0] == 0 and counts[7] == counts[9] == 1


def test_echo_brief_keeps_one_line_per_run(capsys) -> None:
    for line in ("== manet", "run manet-smoke-x: manet (1 parameters)", "epoch 1/2: loss 3.9",
                 "reusing finished run runs/x (same config)", "done: best epoch 2, val action top-1 7.55"):
        common.echo_brief(line)
    assert capsys.readouterr().out.splitlines() == [
        "== manet", "reusing finished run runs/x (same config)", "done: best epoch 2, val action top-1 7.55"]


def test_seed_count_sets_the_seeds() -> None:
    assert common.seeds_of("cpu") == (0,) and common.seeds_of("cpu", 5, 2) == (5, 6)
    assert common.seeds_of("smoke") == (0, 1) and common.seeds_of("paper", 1) == (1, 2, 3)
    assert common.seeds_of("smoke", n_seeds=1) == (0,)
    with pytest.raises(ValueError, match="at least 1"):
        common.seeds_of("cpu", n_seeds=0)

