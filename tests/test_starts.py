"""Shipped starts: a pretraining run stored in float16 with its provenance, found by name, checked by sha256."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ma52lib.config import config_hash, make_config
from ma52lib.engine import pretrain as pretrain_mod
from ma52lib.engine import starts
from ma52lib.engine.build import build_model_for
from ma52lib.engine.pretrain import backbone_file, describe_start, ensure_pretrained, resolve_pretrained

TINY = {"pretrain.clips": 24, "pretrain.frames_per_clip": 2, "pretrain.epochs": 1, "pretrain.batch_size": 16,
        "model.pretrained": "synth"}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory):
    """A tiny pretraining run, shipped into a temporary starts folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MA52_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
    mp.setattr(starts, "SHIPPED_DIR", tmp_path_factory.mktemp("starts"))
    local = resolve_pretrained(make_config("smoke", TINY))
    run_dir = ensure_pretrained(local, echo=None).parent
    out = starts.ship(run_dir, command="ma52 pretrain --profile smoke --ship")
    yield local, run_dir, out
    mp.undo()


def test_ship_writes_float16_weights_and_their_provenance(shipped) -> None:
    local, run_dir, out = shipped
    state = torch.load(out, weights_only=True)
    full = torch.load(run_dir / "backbone.pt", weights_only=True)
    assert state.keys() == full.keys()
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    assert all(torch.allclose(state[k].float(), full[k].float(), rtol=1e-3, atol=1e-4) for k in full)
    record = starts.provenance_of(out)
    assert record["run"] == run_dir.name and record["command"] == "ma52 pretrain --profile smoke --ship"
    assert record["sha256"] == starts.sha256_of(out) and record["data_seed"] == local.pretrain.seed
    assert record["minutes"] >= 0 and record["machine"] and record["final"]["joint_error_px"] > 0
    assert starts.check_shipped() == []


def test_a_shipped_start_is_found_by_name_and_named_by_its_digest(shipped) -> None:
    local, run_dir, out = shipped
    cfg = resolve_pretrained(make_config("smoke", TINY))
    assert cfg.model.pretrained == f"{local.model.pretrained}@sha256:{starts.provenance_of(out)['sha256']}"
    assert config_hash(cfg) != config_hash(local)  # another file, another run
    assert backbone_file(cfg.model.pretrained) == out
    assert ensure_pretrained(cfg, echo=None) == out
    assert "shipped with ma52" in describe_start(cfg) and "ma52 pretrain --profile smoke --ship" in describe_start(cfg)
    model = build_model_for(cfg)  # the float16 file loads into the float32 model
    assert model.backbone.conv1.weight.dtype == torch.float32
    assert torch.allclose(model.backbone.conv1.weight, torch.load(out)["conv1.weight"].float())
    # --ship trains it here instead: the local run, without digest
    assert resolve_pretrained(make_config("smoke", TINY), use_shipped=False).model.pretrained == local.model.pretrained


def test_a_changed_shipped_file_is_refused_and_reported(shipped, tmp_path, monkeypatch) -> None:
    _, _, out = shipped
    folder = tmp_path / "starts"
    folder.mkdir()
    copy = folder / out.name
    copy.write_bytes(out.read_bytes())
    copy.with_suffix(".json").write_text(out.with_suffix(".json").read_text())
    monkeypatch.setattr(starts, "SHIPPED_DIR", folder)
    cfg = resolve_pretrained(make_config("smoke", TINY))
    state = torch.load(copy)
    state["conv1.weight"] += 1
    torch.save(state, copy)
    with pytest.raises(ValueError, match="not the shipped start.*ma52 pretrain --check"):
        ensure_pretrained(cfg, echo=None)
    assert any("is not the recorded" in p for p in starts.check_shipped())
    copy.with_suffix(".json").unlink()
    assert any("no provenance" in p for p in starts.check_shipped())


def test_a_shipped_start_trains_nothing(shipped, monkeypatch) -> None:
    monkeypatch.setattr(pretrain_mod, "pretrain", lambda *a, **k: pytest.fail("pretrained although shipped"))
    cfg = resolve_pretrained(make_config("smoke", TINY))
    assert ensure_pretrained(cfg, echo=None).parent == starts.SHIPPED_DIR


def test_the_repository_s_shipped_starts_are_intact() -> None:
    """What CI checks of the weights in git: each has its recorded sha256 and loads into its backbone."""
    result = subprocess.run([sys.executable, "-m", "ma52lib.cli", "pretrain", "--check"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    in_git = sorted((Path(starts.__file__).parents[1] / "starts").glob("*.pt"))  # not a fixture's folder
    assert f"{len(in_git)} shipped start(s), 0 problem(s)" in result.stdout
    for weights in in_git:
        record = json.loads(weights.with_suffix(".json").read_text())
        assert record["command"].startswith("ma52 pretrain") and record["bytes"] == weights.stat().st_size


def test_the_linear_probe_reads_what_frozen_features_carry(tmp_path) -> None:
    """Four tiny classes of distinct colours: even random features separate them, far above the majority class."""
    from ma52lib.engine.probe import linear_probe

    from tinydata import make_tiny_dataset

    root = make_tiny_dataset(tmp_path / "tiny", {"train": 4, "val": 3})
    cfg = make_config("smoke", {"data.root": str(root), "model.pretrained": None, "data.short_side": 32,
                                "data.crop_size": 32})
    result = linear_probe(cfg)
    assert (result["train_clips"], result["val_clips"]) == (16, 12) and result["val_majority"] == 25.0
    assert result["val_top1_ordered"] >= 75 and result["val_top1_averaged"] >= 75
    assert result["start"].startswith("random initialisation")
