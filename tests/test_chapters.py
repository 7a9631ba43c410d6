"""The chapters' tables and figures (ma52lib.chapters), on hand-made run folders (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection

from ma52lib.chapters import ablations as ab
from ma52lib.chapters import benchmark as bm
from ma52lib.chapters import common
from ma52lib.chapters import dataset as dataset_chapter
from ma52lib.chapters import emotion as emotion_chapter
from ma52lib.chapters import reproducibility as rep
from ma52lib.cli import build_parser, config_from_args
from ma52lib.config import config_hash, make_config, run_name, to_dict
from ma52lib.emotion import Session, manet_config
from ma52lib.engine.evaluate import save_predictions, scored_results
from ma52lib.labels import BODY_PARTS, FINE_CLASSES, NUM_CLASSES
from ma52lib.metrics import compute_metrics


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _probs(labels: np.ndarray, correct: float, seed: int = 0) -> np.ndarray:
    """Scores [N, 52] whose argmax is the label for the first ``correct`` share of clips, else label+1."""
    rng = np.random.default_rng(seed)
    probs = rng.random((len(labels), NUM_CLASSES)) * 0.1
    n_ok = int(round(correct * len(labels)))
    for i, y in enumerate(labels):
        probs[i, y if i < n_ok else (y + 1) % NUM_CLASSES] = 1.0
    return probs


def _fake_run(runs: Path, name: str, *, data_root: Path, profile: str = "smoke", test: bool = True,
              correct: float = 0.5, overrides: dict | None = None, seconds: float = 12.0) -> Path:
    cfg = make_config(profile, {"model.name": name, "data.root": str(data_root), **(overrides or {})})
    run = runs / run_name(cfg)
    run.mkdir(parents=True)
    labels = np.repeat(np.arange(NUM_CLASSES), 2)
    res = {
        "run": run.name, "config_hash": config_hash(cfg), "config": to_dict(cfg), "model": name, "num_params": 1234,
        "best_epoch": 2, "data_root": str(data_root),
        "timings": {"train_seconds": seconds, "eval_seconds": 1.5, "clips_per_s": 8.25, "data_wait_fraction": 0.1},
        "environment": {"torch": "x", "device": "cpu", "cpu": "x", "threads": 1, "world_size": 1},
    }
    for split, seed in (("val", 1), ("test", 2)) if test else (("val", 1),):
        probs = _probs(labels, correct, seed)
        res[split] = compute_metrics(probs, labels)
        save_predictions(run, split, {"probs": probs, "labels": labels, "indices": np.arange(len(labels))})
    (run / "results.json").write_text(json.dumps(res))
    return run


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data"
    data.mkdir()
    return {
        "tsn": _fake_run(tmp_path / "runs", "tsn", data_root=data, correct=0.25, overrides={"loss.weight": 0.0}),
        "manet": _fake_run(tmp_path / "runs", "manet", data_root=data, correct=0.75, test=False),
    }


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


def test_compact_table_says_not_public_for_the_paper(runs) -> None:
    table = ab.compact_table(runs, split="test")
    assert list(table.index) == ["tsn", "manet"]
    assert table.loc["tsn", "split"].startswith("test") and table.loc["manet", "split"].startswith("val")
    assert table.loc["manet", "Action top-1"].startswith("75.0 [")  # with its bootstrap interval
    labels = np.repeat(np.arange(NUM_CLASSES), 2)
    top5 = compute_metrics(_probs(labels, 0.75, 1), labels)["action_top5"]
    assert table.loc["manet", "Action top-5"] == pytest.approx(top5, abs=0.005)  # other columns: rounded numbers
    assert set(table["paper"]) == {"not public"}


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


def test_sweep_figure_plots_one_line_per_metric(runs) -> None:
    fig = ab.sweep_figure(runs, [0, 50], xlabel="loss weight lambda", split="test")
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and ax.get_xlabel() == "loss weight lambda"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [25.0, 75.0])  # action top-1 (MANet falls back to val)


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


def test_environment_table_lists_torch_and_the_device() -> None:
    import torch

    table = rep.environment_table()
    assert table.loc["torch", "value"] == torch.__version__
    if not torch.cuda.is_available():
        assert table.loc["GPU", "value"] == "none"
    assert table.loc["ma52lib", "value"] != "not installed"


def test_runs_on_keeps_this_profile_and_data(tmp_path: Path) -> None:
    data, other = tmp_path / "d1", tmp_path / "d2"
    data.mkdir()
    other.mkdir()
    mine = _fake_run(tmp_path / "runs", "tsn", data_root=data)
    _fake_run(tmp_path / "runs", "manet", data_root=other)
    _fake_run(tmp_path / "runs", "c3d", data_root=data, profile="cpu")
    (tmp_path / "runs" / "unfinished").mkdir()
    assert rep.runs_on(data, "smoke", tmp_path / "runs") == {mine.name: mine}


def test_run_times_table(runs) -> None:
    table = rep.run_times_table(runs)
    row = table.loc["tsn"]
    assert row["model"] == "TSN" and row["train s"] == 12.0 and row["train clips/s"] == 8.2
    assert row["data wait"] == "10%" and row["device"] == "cpu" and row["epochs"] == 2


def test_config_tables_split_shared_and_differing_fields(runs) -> None:
    common, differing = rep.config_tables(runs)
    assert common.loc["optim.epochs", "value"] == "2" and common.loc["data.on_error", "value"] == "raise"
    assert set(differing.columns) == {"model.name", "loss.weight"}
    assert differing.loc["tsn", "model.name"] == "tsn" and differing.loc["manet", "loss.weight"] == "50.0"


def test_reproduce_history_tolerates_a_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "reproduce_runs.jsonl"
    row = {"profile": "cpu", "seconds": 61.23, "time": "2026-01-01 10:00:00",
           "chapters": {"benchmark": ["executed", 40.0], "ablations": ["cached", 0.0]}}
    path.write_text(json.dumps(row) + "\n" + '{"profile": "cp')
    table = rep.reproduce_runs_table(path)
    assert len(table) == 1 and table.loc[0, "benchmark"] == "executed (40 s)" and table.loc[0, "ablations"] == "cached"
    assert rep.reproduce_runs_table(tmp_path / "absent.jsonl").empty


def test_chapter_times_table(tmp_path: Path) -> None:
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "benchmark.json").write_text(json.dumps({"key": "k", "seconds": 12.345, "finished": 0}))
    table = rep.chapter_times_table(tmp_path)
    assert table.loc["benchmark", "seconds"] == 12.3


def test_train_commands_rebuild_the_same_config() -> None:
    """The torchrun lines, parsed by the real CLI, give configs with the same hash (so runs are reused)."""
    configs = {**bm.benchmark_configs("paper", "/data/MA-52"),
               **ab.ablation_configs("paper", "/data/MA-52")["components"],
               "t4": ab.ablation_configs("paper", "/data/MA-52", segments=(4,))["segments"]["T=4"]}
    lines = rep.train_commands(configs, nproc=4)
    assert len(lines) == len(configs)
    for cfg, line in zip(configs.values(), lines):
        assert line.startswith("torchrun --nproc_per_node 4 -m ma52lib.cli train ")
        args = build_parser().parse_args(line.split()[5:])
        assert config_hash(config_from_args(args)) == config_hash(cfg), line


def test_echo_brief_keeps_one_line_per_run(capsys) -> None:
    for line in ("== manet", "run manet-smoke-x: manet (1 parameters)", "epoch 1/2: loss 3.9",
                 "reusing finished run runs/x (same config)", "done: best epoch 2, val action top-1 7.55"):
        common.echo_brief(line)
    assert capsys.readouterr().out.splitlines() == [
        "== manet", "reusing finished run runs/x (same config)", "done: best epoch 2, val action top-1 7.55"]


def test_wrap_command_breaks_only_before_options() -> None:
    line = "torchrun --nproc_per_node 8 -m ma52lib.cli train --profile paper --model manet --set model.se=false"
    wrapped = rep.wrap_command(line, width=50)
    assert wrapped.splitlines() == ["torchrun --nproc_per_node 8 -m ma52lib.cli train \\",
                                    "    --profile paper --model manet \\", "    --set model.se=false"]
    assert " ".join(part.strip(" \\") for part in wrapped.splitlines()) == line
    assert rep.wrap_command("ma52 reproduce --profile paper") == "ma52 reproduce --profile paper"


def test_motion_table_averages_per_body_part_in_label_order() -> None:
    rows = [{"label": 0, "class": "x", "body part": BODY_PARTS[1], "inside": 4.0, "outside": 0.5, "share inside": 0.6,
             "region area": 0.1, "changed pixels": 0.02},
            {"label": 1, "class": "y", "body part": BODY_PARTS[1], "inside": 2.0, "outside": 0.5, "share inside": 0.4,
             "region area": 0.3, "changed pixels": 0.04},
            {"label": 2, "class": "z", "body part": BODY_PARTS[0], "inside": 1.0, "outside": 0.0, "share inside": 1.0,
             "region area": 0.2, "changed pixels": 0.01}]
    table = dataset_chapter.motion_table(rows)
    assert list(table.index) == [BODY_PARTS[0], BODY_PARTS[1]]
    assert list(table.columns) == ["inside", "outside", "ratio", "share", "area", "changed"]
    assert table.loc[BODY_PARTS[1], "inside"] == 3.0 and table.loc[BODY_PARTS[1], "ratio"] == 6.0
    assert table.loc[BODY_PARTS[0], "ratio"] == pytest.approx(1e9)  # no motion outside: divided by 1e-9


def test_sweeps_for_replaces_only_what_is_given(tmp_path: Path) -> None:
    assert ab.sweeps_for("smoke") == ab.ablation_defaults("smoke")
    extra = tmp_path / "glove.npy"
    sweeps = ab.sweeps_for("cpu", lambdas=[1, 2], extra_embeddings=str(extra))
    assert sweeps["lambdas"] == (1.0, 2.0) and sweeps["segments"] == ab.ABLATION_DEFAULTS["cpu"]["segments"]
    assert sweeps["embedding_sources"] == (*ab.ABLATION_DEFAULTS["cpu"]["embedding_sources"], str(extra.resolve()))


def test_paper_configs_lists_each_run_once() -> None:
    configs = rep.paper_configs("/data/MA-52")
    studies = ab.ablation_configs("paper", "/data/MA-52", **ab.ablation_defaults("paper"))
    every = [*bm.benchmark_configs("paper", "/data/MA-52").values(),
             *(cfg for study in studies.values() for cfg in study.values())]
    assert set(configs) == {run_name(cfg) for cfg in every} and len(configs) < len(every)


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_the_emotion_chapter_and_the_benchmark_share_one_manet_run(profile: str) -> None:
    root = None if profile != "paper" else "/data/MA-52"
    assert config_hash(manet_config(profile, root, 3)) == config_hash(bm.benchmark_configs(profile, root, 3)["manet"])


def test_emotion_chapter_tables() -> None:
    rates = emotion_chapter.rate_table()
    assert list(rates.columns) == ["fine ids", "negative", "neutral", "positive"]
    assert (rates["neutral"] == 1.0).all()
    assert list(emotion_chapter.style_table().index) == ["negative", "neutral", "positive"]
    sessions = [Session(split, f"s{i}", emotion, ("a", "b")) for i, (split, emotion) in enumerate(
        [("train", "negative"), ("train", "positive"), ("val", "neutral"), ("test", "neutral")])]
    table = emotion_chapter.session_table(sessions)
    assert list(table.index) == ["train", "val", "test"] and list(table["clips"]) == [4, 2, 2]



def test_seed_count_sets_the_seeded_configs() -> None:
    assert common.seeds_of("cpu") == (0,) and common.seeds_of("cpu", 5, 2) == (5, 6)
    assert common.seeds_of("smoke") == (0, 1) and common.seeds_of("paper", 1) == (1, 2, 3)
    assert common.seeds_of("smoke", n_seeds=1) == (0,)
    with pytest.raises(ValueError, match="at least 1"):
        common.seeds_of("cpu", n_seeds=0)
    one = ab.seeded_components("cpu", None, 0, n_seeds=1)
    assert list(one) == ["ResNet-TSN (base)", "+TSM", "+TSM+SE", "+TSM+SE+joint embedding (MANet)"]
    assert all(list(by_seed) == [0] for by_seed in one.values())
    # Seed 0 of the seeded rows is the benchmark's own run: one seed trains nothing beyond the benchmark.
    bench = bm.benchmark_configs("cpu", None, 0)
    assert config_hash(one["+TSM"][0]) == config_hash(bench["tsm"])
    assert [list(v) for v in bm.seeded_configs("cpu", None, 0).values()] == [[0]] * 3
    assert [list(v) for v in bm.seeded_configs("cpu", None, 0, n_seeds=3).values()] == [[0, 1, 2]] * 3


# -- the two sentences at the top of each chapter: computed, never typed ------------------------------------


def test_benchmark_headline_names_the_best_model_and_where_manet_stands(runs) -> None:
    text = bm.headline(runs, split="test")
    # TSN scores 25% on test, MANet (no test split) falls back to val: 75%
    assert text.startswith("Of the 2 models trained here, MANet has the highest action top-1")
    assert "75.0% (95% interval over the clips " in text
    assert "MANet is first, as in the paper; next is TSN at 25.0%." in text
    without = bm.headline({"tsn": runs["tsn"]}, split="test")
    assert "MANet did not finish" in without
    assert "No model finished" in bm.headline({}, split="test")


def test_benchmark_headline_ranks_a_manet_that_is_not_first(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    runs = {"tsn": _fake_run(tmp_path / "runs", "tsn", data_root=data, correct=0.75),
            "manet": _fake_run(tmp_path / "runs", "manet", data_root=data, correct=0.25)}
    text = bm.headline(runs, split="test")
    assert "TSN has the highest action top-1" in text and "MANet ranks 2 of 2 with 25.0% (" in text
    assert "intervals overlap" not in text


def test_ablations_headline_reads_the_whole_contrast_and_the_largest_step() -> None:
    import pandas as pd

    rows = [("+TSM minus base", "Action top-1", 3.0, "[+1.0, +5.0]", "-", "supported"),
            ("+TSM+SE minus +TSM", "Action top-1", -6.0, "[-9.0, -3.0]", "-", "contradicted"),
            ("MANet minus base", "Action top-1", -3.0, "[-4.0, -2.0]", "[-8.0, +1.0]", "inconclusive at this size"),
            ("MANet minus base", "Body top-1", 9.0, "[+1.0, +5.0]", "-", "supported")]
    table = pd.DataFrame(rows, columns=["contrast", "metric", "difference (points)", "95% CI over clips",
                                        "95% CI over seeds", "verdict"]).set_index(["contrast", "metric"])
    text = ab.headline(table)
    assert text.startswith("MANet minus base: -3.0 points of Action top-1 (95% interval over the clips [-4.0, -2.0], "
                           "over the seeds [-8.0, +1.0]), inconclusive at this size.")
    assert text.endswith("The largest single step is +TSM+SE minus +TSM, -6.0 points.")


def test_dataset_headline_counts_the_splits_and_the_tail(tmp_path: Path) -> None:
    (tmp_path / "train_list_videos.txt").write_bytes(b"a.mp4 3\r\nb.mp4 3\r\nc.mp4 3\r\nd.mp4 51")
    (tmp_path / "val_list_videos.txt").write_bytes(b"e.mp4 3\r\n")
    (tmp_path / "test_list_videos.txt").write_bytes(b"f.mp4 3\r\ng.mp4 5\r\n")
    text = dataset_chapter.headline(tmp_path)
    assert text.startswith("This data has 4 training, 1 validation and 2 test clips of 52 actions in 7 body parts.")
    assert "(3 to 1)" not in text  # the rarest class has none: no ratio
    assert f'"{FINE_CLASSES[3]}", has 3 training clips' in text and f'"{FINE_CLASSES[0]}", 0.' in text


def test_reproducibility_headline_sums_the_training(runs) -> None:
    import pandas as pd

    text = rep.headline(rep.run_times_table(runs))
    assert text.startswith("This book rests on 2 finished runs, 0.4 minutes of training in all on cpu.")
    assert "12 s for" in text
    assert "No finished run" in rep.headline(pd.DataFrame())



def test_performance_headline_counts_the_targets_met() -> None:
    import pandas as pd

    from ma52lib.chapters import performance as perf

    targets = pd.DataFrame({"target": ["a", "b", "c"], "met": ["yes", "no", "-"]}).set_index("target")
    bench = {"mode": "quick", "created": "2026-01-01", "machine": {"cpu": "X", "cores": 2}}
    assert perf.headline(bench, targets) == ("This bench meets 1 of its 2 measured targets; it misses b. It ran in "
                                             "quick mode on X (2 cores), 2026-01-01.")


def test_study_headline_names_the_lever_that_moves_most(runs) -> None:
    from ma52lib.chapters import study as st

    levers = [st.Lever("reference", {}, "reference"), st.Lever("fewer epochs", {}, "kept"),
              st.Lever("no flip", {}, "not kept")]
    text = st.headline({"reference": runs["tsn"], "fewer epochs": runs["manet"], "no flip": None}, levers)
    # val action top-1: 25% (reference) and 75%
    assert text == ("2 of the 3 lever runs are in this build. The lever that moves val action top-1 most from the "
                    "reference (25.0%) is fewer epochs: +50.0 points.")
    assert "no difference to read" in st.headline({"reference": runs["tsn"]}, levers)
