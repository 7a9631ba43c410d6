"""The recipe study's table on constructed runs: val only, differences to the reference, missing levers named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ma52lib.chapters import study as st
from ma52lib.config import make_config

from fakeruns import stated_numbers


def finished(folder: Path, action: float, body: float, epochs: int = 4) -> Path:
    folder.mkdir(parents=True)
    val = {"action_top1": action, "body_top1": body, "action_top5": action + 30, "f1_mean": (action + body) / 2}
    test = {k: -1.0 for k in val}  # never read: the recipe is chosen on val
    results = {"val": val, "test": test, "config": {"optim": {"epochs": epochs}}, "timings": {"train_seconds": 61.4}}
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_study_table_reads_val_and_names_missing_levers(tmp_path: Path) -> None:
    levers = st.study_levers()[:3]
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
    levers = st.study_levers()
    reference = configs[levers[0].name]
    assert reference == make_config("cpu", {"model.name": "manet"})  # the benchmark's MANet run
    assert len(configs) == len(levers)  # no two levers share a label
    for lever in levers[1:]:
        cfg = configs[lever.name]
        assert cfg != reference and cfg.model.name == "manet"
        for key, value in lever.overrides.items():
            section, name = key.split(".")
            assert getattr(getattr(cfg, section), name) == (tuple(value) if isinstance(value, list) else value)


def test_study_runs_without_training_reads_only_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MA52_RUNS_DIR", str(tmp_path))
    found = st.study_runs("cpu", train=False)  # the cpu profile does not train its levers unless asked
    assert set(found) == {lever.name for lever in st.study_levers()} and all(v is None for v in found.values())
    assert not st.chapter_runs("cpu").configs and st.chapter_runs("cpu", train=True).configs.keys() == found.keys()
    assert st.chapter_runs("smoke").configs.keys() == found.keys()  # seconds each: the smoke book trains them


def test_the_cpu_levers_keep_their_runs() -> None:
    # The levers are computed from the cpu profile; its finished study runs are named by these overrides.
    assert [lever.overrides for lever in st.study_levers("cpu")] == [
        {}, {"model.pretrained": None, "model.frozen_stages": -1},
        {"optim.schedule": "step", "optim.milestones": (9,), "optim.warmup_epochs": 0.0},
        {"model.frozen_stages": -1}, {"model.frozen_stages": 1}, {"optim.lr": 4e-3}, {"optim.lr": 1e-3},
        {"optim.batch_size": 8}, {"optim.epochs": 2, "runtime.eval_every": 2},
        {"optim.epochs": 24, "runtime.eval_every": 24}, {"data.train_crop": "multiscale", "data.flip": True},
        {"data.sampler": "sqrt"}, {"data.sampler": "class"}]


# Each number a lever's label states, read back: (pattern, check(match, the lever's config, the profile's config)).
LABEL_FACTS = (
    (r"the (\w+) profile as kept", lambda m, c, p: m[1] == p.profile),
    (r"x([\d.]+) at epoch (\d+) of (\d+)",
     lambda m, c, p: (float(m[1]), (int(m[2]),), int(m[3])) == (c.optim.gamma, c.optim.milestones, p.optim.epochs)),
    (r"^(\d+) epochs \((\d+)x the profile's (\d+)\)",
     lambda m, c, p: int(m[1]) == c.optim.epochs == int(m[2]) * int(m[3]) and int(m[3]) == p.optim.epochs),
    (r"^(\d+) epochs", lambda m, c, p: int(m[1]) == c.optim.epochs == c.runtime.eval_every),
    (r"learning rate (\S+) \(([\d.]+)x the profile's\)",
     lambda m, c, p: float(m[1]) == c.optim.lr == float(m[2]) * p.optim.lr),
    (r"batch (\d+) against the profile's (\d+)",
     lambda m, c, p: (int(m[1]), int(m[2])) == (c.optim.batch_size, p.optim.batch_size)),
    (r"(stem(?: and layer1(?:-(\d))?)?) frozen \(the profile: (stem(?: and layer1(?:-(\d))?)?)\)",
     lambda m, c, p: (c.model.frozen_stages, p.model.frozen_stages) == (_stages(m[1], m[2]), _stages(m[3], m[4]))),
)


def _stages(words: str, last: str | None) -> int:
    return int(last) if last else 1 if "layer1" in words else 0


@pytest.mark.parametrize("profile", ["cpu", "smoke", "paper"])
def test_every_number_a_lever_states_is_its_config(profile: str) -> None:
    # A lever's label is published on the study page: each number in it is its run's config or the profile's.
    import re

    base = make_config(profile)
    for lever in st.study_levers(profile):
        cfg = make_config(profile, {"model.name": "manet", **lever.overrides})
        rest = lever.name
        for pattern, holds in LABEL_FACTS:
            if m := re.search(pattern, rest):
                assert holds(m, cfg, base), lever.name
                rest = rest.replace(m[0], "")
        assert not re.search(r"(?<!layer)\d", rest), f"{lever.name}: a number no check reads ({rest!r})"
        if "optim.milestones" in lever.overrides:
            assert "at epoch" in lever.name, lever.name  # where in the profile's epochs it decays


def test_study_headline_names_the_lever_that_moves_most(runs) -> None:
    levers = [st.Lever("reference", {}, "reference"), st.Lever("fewer epochs", {}, "kept"),
              st.Lever("no flip", {}, "not kept")]
    text = st.headline({"reference": runs["tsn"], "fewer epochs": runs["manet"], "no flip": None}, levers)
    # val action top-1: 25% (reference) and 75%
    assert stated_numbers(text) == [2, 3, 25.0, 50.0]  # 2 of 3 levers ran; from the reference's 25.0, +50.0 points
    assert "fewer epochs" in text and "no flip" not in text
    assert "no difference to read" in st.headline({"reference": runs["tsn"]}, levers)
