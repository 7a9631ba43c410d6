"""The `ma52` command line as a user runs it: train, eval, predict, submit, import-official, config, and the
subcommand registry (every command listed; one whose module fails to import stops `ma52` loudly)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ma52lib.chapters import reproduce as rp
from ma52lib.cli import main
from ma52lib.labels import FINE_CLASSES
from ma52lib.models import BENCHMARK_MODELS
from ma52lib.models.manet import MANet

from test_convert import _official_checkpoint, _Opaque, _randomised
from tinydata import make_tiny_dataset

FAST = ["--set", "data.num_workers=0", "--set", "runtime.precision=fp32", "--set", "model.num_segments=4",
        "--epochs", "1", "--batch-size", "4"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    root = make_tiny_dataset(tmp_path_factory.mktemp("cli_data"))
    run = tmp_path_factory.mktemp("cli_runs") / "run"
    assert main(["train", "--profile", "smoke", "--data-root", str(root), "--out", str(run), *FAST]) == 0
    return root, run


def test_train_then_eval_prints_the_paper_table(trained, capsys):
    root, run = trained
    assert (run / "results.json").exists()
    assert main(["eval", "--run", str(run), "--split", "val", "--json", str(run / "val.json")]) == 0
    out = capsys.readouterr().out
    assert "on val (8 clips)" in out
    for title in ("action top-1", "action top-5", "body top-1", "action f1 macro", "f1 mean"):
        assert title in out.lower()
    saved = json.loads((run / "val.json").read_text())
    results = json.loads((run / "results.json").read_text())
    assert saved["action_top1"] == results["val"]["action_top1"]  # eval reproduces training's scoring


def test_predict_lists_five_named_classes(trained, capsys):
    root, run = trained
    video = next((root / "videos_val").glob("*.mp4"))
    assert main(["predict", "--run", str(run), str(video)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(video) and len(lines) == 6
    assert all(any(name in line for name in FINE_CLASSES) for line in lines[1:])
    assert all(line.rstrip().endswith("%") for line in lines[1:])


def test_submit_writes_the_codabench_csv(trained):
    root, run = trained
    out = run / "sub.csv"
    assert main(["submit", "--run", str(run), "--out", str(out)]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["vid"] + [f"action_pred_{i}" for i in range(1, 6)] + [f"body_pred_{i}" for i in range(1, 6)]
    assert len(rows) == 1 + 4 and rows[1][0].startswith("test")


def test_unfinished_run_and_bad_flags_give_clear_errors(trained, tmp_path, capsys):
    root, _ = trained
    with pytest.raises(SystemExit, match="config error: unknown config field 'optim.lrr'"):
        main(["train", "--profile", "smoke", "--data-root", str(root), "--set", "optim.lrr=1"])
    with pytest.raises(SystemExit, match="--set expects KEY=VALUE"):
        main(["train", "--profile", "smoke", "--set", "optim.lr"])
    assert main(["eval", "--run", str(tmp_path)]) == 1
    assert "not a run folder" in capsys.readouterr().err


def test_print_config_and_config_listing(capsys):
    assert main(["train", "--profile", "paper", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert '"lr": 0.00125' in out and "run folder:" in out
    assert main(["train", "--profile", "cpu", "--model", "c3d", "--print-config"]) == 0
    shown = json.loads(capsys.readouterr().out.split("\nrun folder:")[0])
    # What the run uses: C3D's own start (its 2-D twin, shipped) with the profile's fixed early stages.
    assert shown["model"]["frozen_stages"] == 2 and shown["model"]["pretrained"].startswith("synth:pretrain-c3d-cpu-")
    assert main(["config"]) == 0
    assert "optim.milestones" in capsys.readouterr().out
    assert main(["models"]) == 0
    names = capsys.readouterr().out.split()
    assert set(BENCHMARK_MODELS) <= set(names)


def test_import_official_checkpoint_then_eval(trained, tmp_path, capsys):
    root, _ = trained
    source = _randomised(MANet(num_classes=52, num_segments=4, depth=18, width=16))
    _official_checkpoint(source, tmp_path / "official.pth")
    out = tmp_path / "imported"
    args = ["import-official", str(tmp_path / "official.pth"), "--out", str(out), "--data-root", str(root),
            "--set", "model.size=tiny", "--set", "model.num_segments=4", "--set", "data.short_side=40",
            "--set", "data.crop_size=32", "--set", "runtime.precision=fp32", "--set", "data.num_workers=0"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    # The file as mmcv saved it (numpy.float64 in meta, SGD state), read as it is; the embedding branch dropped.
    assert "loaded 138 tensors; known and unused (28): 24 ACTION-Net layers" in printed
    assert "4 embedding branch" in printed and f"run folder: {out}" in printed
    from ma52lib.engine.run import load_run

    run = load_run(out)
    x = torch.randn(2, 4, 3, 32, 32)
    torch.testing.assert_close(run.model(x), source(x))  # same network, logits unchanged
    assert main(["eval", "--run", str(out), "--split", "val"]) == 0


def _no_probe(*args, **kwargs):
    raise AssertionError("the precision probe ran before the file was checked")


def test_import_official_checks_the_file_before_the_probe(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("ma52lib.engine.run.resolve", _no_probe)
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {"backbone.conv1.conv.weight": torch.zeros(1)}, "meta": {"config": _Opaque()}}, evil)
    out = tmp_path / "imported"
    tiny = ["--set", "model.size=tiny"]
    assert main(["import-official", str(evil), "--out", str(out), *tiny]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {evil}: holds a Python object") and "_Opaque" in err and "Traceback" not in err

    other = tmp_path / "r18.pth"  # a ResNet-18 of width 16 against the paper size (ResNet-50, width 64)
    _official_checkpoint(MANet(num_classes=52, num_segments=4, depth=18, width=16), other)
    assert main(["import-official", str(other), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "backbone.conv1.conv.weight (ours: backbone.conv1.weight): file (16, 3, 7, 7) vs model (64, 3, 7, 7)" in err
    assert "--set model.depth=18 --set model.width=16" in err and "MANet(" not in err
    assert not out.exists()


def test_every_subcommand_is_registered(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = capsys.readouterr().out
    for command in ("train", "eval", "predict", "submit", "import-official", "data", "models", "config", "synth",
                    "reproduce", "cam", "emotion", "bench"):
        assert f"    {command} " in listed or f"    {command}\n" in listed, command


@pytest.mark.parametrize("flag", ["--epochs", "--batch-size", "--lr", "--seed", "--data-root"])
def test_pretrain_refuses_the_training_flags_it_would_ignore(flag, capsys):
    """The pretraining reads pretrain.*: a training shortcut would change nothing, so it is not offered."""
    with pytest.raises(SystemExit) as exit_info:
        main(["pretrain", "--profile", "smoke", flag, "3"])
    assert exit_info.value.code == 2 and f"unrecognized arguments: {flag}" in capsys.readouterr().err


@pytest.mark.parametrize("broken", ["ma52lib.explain.cli", "ma52lib.commands.synth", "ma52lib.commands.bench"])
def test_a_subcommand_whose_module_fails_to_import_is_a_loud_error(broken: str) -> None:
    """It used to vanish from the command list without a word; now `ma52` stops with the import error."""
    repo = Path(__file__).resolve().parent.parent
    code = (f"import sys\nsys.modules[{broken!r}] = None  # the module cannot be imported\n"
            "from ma52lib.cli import main\nsys.exit(main(['models']))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr and broken in proc.stderr, proc.stderr


@pytest.mark.parametrize("plan", [[], ["--plan"]])
def test_reproduce_refuses_a_generated_folder_the_book_is_not_built_from(plan, tmp_path, monkeypatch, capsys):
    """$MA52_GENERATED naming another folder: jupyter-book reads book/generated (_toc.yml), so nothing starts."""
    def started(*args, **kwargs):
        raise AssertionError("the build started")

    monkeypatch.setattr(rp, "project_root", lambda: tmp_path / "project")  # were the check to fail: a throwaway
    for name in ("synthesize", "make_plan", "execute_chapter"):
        monkeypatch.setattr(rp, name, started)
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("MA52_GENERATED", str(elsewhere))
    assert main(["reproduce", "--profile", "smoke", "--no-build", *plan]) == 1
    err = capsys.readouterr().err
    assert err == (f"error: MA52_GENERATED is set to {elsewhere}, but the book is built from "
                   f"{tmp_path / 'project' / 'book' / 'generated'}: unset it (`unset MA52_GENERATED`) and run again\n")
    assert not elsewhere.exists() and not (tmp_path / "project").exists()


def test_set_flags_are_validated_together_in_any_order(capsys):
    """Every --set is applied before the config is checked: a pair valid together is valid in either order."""
    for pair in (["optim.epochs=1", "optim.warmup_epochs=0.25"], ["optim.warmup_epochs=0.25", "optim.epochs=1"]):
        flags = [x for item in pair for x in ("--set", item)]
        assert main(["train", "--profile", "cpu", *flags, "--print-config"]) == 0
        shown = json.loads(capsys.readouterr().out.split("\nrun folder:")[0])
        assert shown["optim"]["epochs"] == 1 and shown["optim"]["warmup_epochs"] == 0.25
    with pytest.raises(SystemExit, match=r"optim.warmup_epochs must be in \[0, epochs=1\), got 1.0"):
        main(["train", "--profile", "cpu", "--set", "optim.warmup_epochs=1", "--set", "optim.epochs=1",
              "--print-config"])
