"""scripts/gpu_check.py on the CPU at tiny size, and the chapter's tables of the kept H200 run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

from ma52lib.chapters import performance
from ma52lib.paths import project_root


def _script():
    spec = importlib.util.spec_from_file_location("gpu_check", project_root() / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_steps_and_manet_rows_on_cpu_tiny():
    gc = _script()
    cpu = torch.device("cpu")
    ceiling = gc.ceilings(cpu, "tiny")
    assert ceiling["bf16"]["gflops"] > 0 and ceiling["fp32"]["gflops"] > 0
    rows = gc.steps(cpu, "tiny", ceiling, repeats=1)
    assert [r["model"] for r in rows] == list(gc.MODELS)
    assert all(r["clips_per_s"] > 0 and r["frames_per_s"] == r["clips_per_s"] * r["frames"] for r in rows)
    row = gc.manet_step(cpu, "tiny", 3, compile_model=False, repeats=1, bf16_gflops=ceiling["bf16"]["gflops"])
    assert row["batch"] == 3 and row["gflops"] > 0 and 0 < row["fraction_of_bf16_ceiling"]


def test_a_failing_part_is_recorded_not_raised(tmp_path):
    gc = _script()
    result: dict = {}
    gc._part(result, "boom", tmp_path, lambda: 1 / 0)
    gc._part(result, "fine", tmp_path, lambda: 7)
    written = json.loads((tmp_path / "gpu_check.json").read_text())
    assert written["boom"]["error"].startswith("ZeroDivisionError") and written["fine"] == 7
    assert set(written["seconds"]) == {"boom", "fine"}


def test_chapter_tables_of_the_kept_h200_run():
    tables = performance.gpu_tables()
    steps = tables["steps"]
    assert set(steps["model"]) == {"manet", "tsm", "i3d", "vswin"}
    assert ((steps["of bf16 ceiling"] > 0) & (steps["of bf16 ceiling"] < 1)).all()
    assert steps[steps["torch.compile"]]["clips/s"].max() > steps[~steps["torch.compile"]]["clips/s"].max()
    assert list(tables["user_path"]["return code"]) == [0, 0]
    assert "NVIDIA H200" in tables["machine"]["value"].tolist()
    assert (tables["loader"]["clips/s"] > 0).all()


def test_no_kept_run_gives_no_tables(tmp_path: Path):
    assert performance.gpu_tables(tmp_path / "absent.json") == {}


def test_a_failed_training_shows_without_its_eval(tmp_path: Path):
    check = json.loads(performance.gpu_check_path().read_text())
    check["user_path"] = {"train": {**check["user_path"]["train"], "rc": 1}}
    path = tmp_path / "gpu_check.json"
    path.write_text(json.dumps(check))
    user = performance.gpu_tables(path)["user_path"]
    assert list(user["step"]) == ["train"] and list(user["return code"]) == [1]
    assert user["command"][0].startswith("python -m torch.distributed.run")
