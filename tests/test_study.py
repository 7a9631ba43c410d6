"""The recipe study's table on constructed runs: val only, differences to the reference, missing levers named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ma52lib.chapters import study as st
from ma52lib.config import make_config


def finished(folder: Path, action: float, body: float, epochs: int = 4) -> Path:
    folder.mkdir(parents=True)
    val = {"action_top1": action, "body_top1": body, "action_top5": action + 30, "f1_mean": (action + body) / 2}
    test = {k: -1.0 for k in val}  # never read: the recipe is chosen on val
    results = {"val": val, "test": test, "config": {"optim": {"epochs": epochs}}, "timings": {"train_seconds": 61.4}}
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_study_table_reads_val_and_names_missing_levers(tmp_path: Path) -> None:
    levers = st.LEVERS[:3]
    runs = {levers[0].name: finished(tmp_path / "ref", 14.4, 50.7),
            levers[1].name: finished(tmp_path / "scratch", 13.6, 43.9),
            levers[2].name: None}
    table = st.study_table(runs, levers)
    ref, scratch, missing = (table.loc[lever.name] for lever in levers)
    assert ref["the profile"] == "reference" and ref["train s"] == 61
    assert scratch["vs reference: Body top-1"] == "-6.8" and scratch["vs reference: Action top-1"] == "-0.8"
    assert "ma52 reproduce --study" in missing["val"]
    numbers = table.filter(like="val ").drop(index=levers[2].name).astype(float)
    assert (numbers >= 0).all().all()  # no test number leaked in
    assert missing["val Action top-1"] == ""  # blank, not NaN


def test_lever_configs_change_one_thing_each() -> None:
    configs = st.lever_configs("cpu", None)
    reference = configs[st.LEVERS[0].name]
    assert reference == make_config("cpu", {"model.name": "manet"})  # the benchmark's MANet run
    for lever in st.LEVERS[1:]:
        cfg = configs[lever.name]
        assert cfg != reference and cfg.model.name == "manet"
        for key, value in lever.overrides.items():
            section, name = key.split(".")
            assert getattr(getattr(cfg, section), name) == (tuple(value) if isinstance(value, list) else value)


def test_study_runs_without_training_reads_only_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MA52_RUNS_DIR", str(tmp_path))
    found = st.study_runs("cpu", train=False)  # the cpu profile does not train its levers unless asked
    assert set(found) == {lever.name for lever in st.LEVERS} and all(v is None for v in found.values())
    assert not st.chapter_runs("cpu").configs and st.chapter_runs("cpu", train=True).configs.keys() == found.keys()
    assert st.chapter_runs("smoke").configs.keys() == found.keys()  # seconds each: the smoke book trains them


def test_every_number_a_lever_states_is_its_config() -> None:
    # A lever's label is published on the study page: the epochs it names are the cpu profile's and its own.
    import re

    from ma52lib.config import make_config

    book_epochs = make_config("cpu").optim.epochs
    for lever in st.LEVERS:
        cfg = make_config("cpu", {"model.name": "manet", **lever.overrides})
        if "optim.milestones" in lever.overrides:
            assert re.search(r"at epoch \d+ of \d+", lever.name), lever.name  # where in the book's epochs it decays
        if m := re.search(r"at epoch (\d+) of (\d+)", lever.name):
            assert (int(m[1]),) == cfg.optim.milestones and int(m[2]) == cfg.optim.epochs == book_epochs, lever.name
        if m := re.search(r"(\d+) epochs \((\d(?:\.\d)?)x the book's", lever.name):
            assert int(m[1]) == cfg.optim.epochs and float(m[2]) == cfg.optim.epochs / book_epochs, lever.name
        elif m := re.match(r"(\d+) epochs", lever.name):
            assert int(m[1]) == cfg.optim.epochs, lever.name
        if m := re.search(r"learning rate (\S+)", lever.name):
            assert float(m[1]) == cfg.optim.lr, lever.name
        if m := re.search(r"batch (\d+)", lever.name):
            assert int(m[1]) == cfg.optim.batch_size, lever.name
