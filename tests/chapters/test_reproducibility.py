"""The reproducibility chapter (ma52lib.chapters.reproducibility): environment, run times, configs, commands."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ma52lib.chapters import ablations as ab
from ma52lib.chapters import benchmark as bm
from ma52lib.chapters import reproducibility as rep
from ma52lib.cli import build_parser, config_from_args
from ma52lib.config import config_hash, run_name

from fakeruns import fake_run, stated_numbers


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
    mine = fake_run(tmp_path / "runs", "tsn", data_root=data)
    fake_run(tmp_path / "runs", "manet", data_root=other)
    fake_run(tmp_path / "runs", "c3d", data_root=data, profile="cpu")
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


def test_wrap_command_breaks_only_before_options() -> None:
    line = "torchrun --nproc_per_node 8 -m ma52lib.cli train --profile paper --model manet --set model.se=false"
    wrapped = rep.wrap_command(line, width=50)
    assert wrapped.splitlines() == ["torchrun --nproc_per_node 8 -m ma52lib.cli train \\",
                                    "    --profile paper --model manet \\", "    --set model.se=false"]
    assert " ".join(part.strip(" \\") for part in wrapped.splitlines()) == line
    assert rep.wrap_command("ma52 reproduce --profile paper") == "ma52 reproduce --profile paper"


def test_paper_configs_lists_each_run_once() -> None:
    configs = rep.paper_configs("/data/MA-52")
    studies = ab.ablation_configs("paper", "/data/MA-52", **ab.ablation_defaults("paper"))
    every = [*bm.benchmark_configs("paper", "/data/MA-52").values(),
             *(cfg for study in studies.values() for cfg in study.values())]
    assert set(configs) == {run_name(cfg) for cfg in every} and len(configs) < len(every)


def test_reproducibility_headline_sums_the_training(runs) -> None:
    text = rep.headline(rep.run_times_table(runs))
    said = stated_numbers(text)  # 2 runs, 24 s of training in all (0.4 min), 12 s each
    assert said[:2] == [2, 0.4] and 12 in said[2:] and "cpu" in text
    assert "No finished run" in rep.headline(pd.DataFrame())

