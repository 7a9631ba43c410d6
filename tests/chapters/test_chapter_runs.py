"""Each chapter's runs are said once, by its module's ``chapter_runs``: its notebook, the ledger and the plan use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ma52lib.chapters import ablations as ab
from ma52lib.chapters import benchmark as bm
from ma52lib.chapters import ledger as lg
from ma52lib.chapters import plan
from ma52lib.chapters.common import RunSet
from ma52lib.engine.train import TrainingError

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _code(chapter: str) -> str:
    cells = json.loads((NOTEBOOKS / f"{chapter}.ipynb").read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("chapter", sorted(plan.CHAPTER_RUNS))
def test_each_notebook_trains_what_its_module_says(chapter: str) -> None:
    code = _code(chapter)
    if chapter == "ledger":
        assert "lg.Runs.train(" in code  # Runs.train trains ledger.chapter_runs
    elif chapter == "gradcam":
        assert "gc.loaded_runs(" in code  # loaded_runs trains gradcam.chapter_runs
    elif chapter == "study":
        assert "st.study_runs(" in code  # study_runs trains study.chapter_runs
    else:
        assert ".chapter_runs(" in code, chapter
    for other in ("run_configs(", "benchmark_configs(", "ablation_configs(", "seeded_configs(", "seeded_components("):
        assert other not in code, (chapter, other)  # no second list of the chapter's runs


def test_the_ledger_reads_only_runs_the_benchmark_and_ablations_train() -> None:
    for n_seeds in (None, 3):
        read = lg.chapter_runs("cpu", None, 0, n_seeds=n_seeds).labelled().values()
        trained = [*bm.chapter_runs("cpu", None, 0, n_seeds=n_seeds).labelled().values(),
                   *ab.chapter_runs("cpu", None, 0, n_seeds=n_seeds).labelled().values()]
        assert set(read) <= set(trained)  # nothing is trained for the ledger alone
        assert len(lg.chapter_runs("cpu", n_seeds=n_seeds).seeded["manet_noemb"]) == (n_seeds or 1)


def test_the_plan_lists_what_each_chapter_module_says() -> None:
    params = {"profile": "cpu", "data_root": None, "seed": 0, "n_seeds": 2, "extra_models": []}
    assert plan.chapter_configs("benchmark", params) == bm.chapter_runs(**params).labelled()
    assert set(plan.chapter_configs("benchmark", params)) >= {"tsn", "manet", "tsn@0", "tsn@1", "manet@1"}
    assert plan.chapter_configs("dataset", {"profile": "cpu"}) == {}  # a chapter that trains nothing


def test_a_subset_of_models_seeds_only_those() -> None:
    runs = bm.chapter_runs("smoke", models=["tsn", "c3d"], n_seeds=2)
    assert list(runs.configs) == ["tsn", "c3d"] and list(runs.seeded) == ["tsn"]
    assert list(runs.seeded["tsn"]) == [0, 1] and runs.seeded["tsn"][0] == runs.configs["tsn"]


def test_ablation_runs_group_by_study_with_their_failures(tmp_path: Path) -> None:
    runs = RunSet({"lambda/lambda=0": tmp_path / "a", "embeddings//data/glove.npy": tmp_path / "b"})
    runs.failed["segments/T=4"] = "loss is NaN at epoch 1"
    grouped = ab.by_study(runs)
    assert grouped["lambda"] == {"lambda=0": tmp_path / "a"}
    assert grouped["embeddings"] == {"/data/glove.npy": tmp_path / "b"}  # a table's path keeps its slashes
    assert grouped["segments"].failed == {"T=4": "loss is NaN at epoch 1"} and not grouped["segments"]
    assert set(ab.chapter_runs("cpu").configs) >= {"components/+SE", "lambda/lambda=10", "segments/T=4"}


def test_asking_for_a_stopped_run_says_why(tmp_path: Path) -> None:
    runs = RunSet({"tsn": tmp_path})
    runs.failed["manet"] = "loss is NaN at epoch 2"
    assert runs["tsn"] == tmp_path and "manet" not in runs
    with pytest.raises(TrainingError, match="manet.*loss is NaN at epoch 2"):
        runs["manet"]
    with pytest.raises(KeyError):
        runs["c3d"]


def test_the_components_contrasts_are_named_once() -> None:
    # The ablations page's contrasts and the ledger's step claims read the same seeded runs, by label and by name.
    components = ab.seeded_components("cpu", None, n_seeds=2)
    by_name = ab.seeded_contrasts("cpu", None, n_seeds=2)
    assert {label: by_name[name] for label, name in ab.COMPONENTS.items()} == components
    assert set(ab.COMPONENTS) <= set(ab.ablation_configs("cpu", None)["components"])
    assert {label for pair in ab.CONTRASTS for label in pair} == set(ab.COMPONENTS)
    assert len(lg.STEP_CLAIMS) == len(ab.STEPS) and set(lg.chapter_runs("cpu", n_seeds=2).seeded) == set(by_name)
