"""The ImageNet analogue: stills with labels, pretraining on the smoke profile, loading and inflating, identity."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ma52lib.config import config_hash, make_config
from ma52lib.engine.build import build_model_for
from ma52lib.engine.pretrain import (
    backbone_file,
    cached_stills,
    ensure_pretrained,
    resolve_pretrained,
    teacher_config,
)
from ma52lib.engine.train import train
from ma52lib.synth.stills import KEYPOINTS, NUM_TAGS, render_stills

from tinydata import make_tiny_dataset

TINY = {"pretrain.clips": 48, "pretrain.frames_per_clip": 2, "pretrain.epochs": 3, "pretrain.batch_size": 16,
        "pretrain.lr": 0.003, "model.pretrained": "synth"}


def test_stills_carry_tags_and_joints_and_are_reproducible() -> None:
    a = render_stills(6, frames_per_clip=2, size=(40, 48), seed=3, workers=1, progress=False)
    b = render_stills(6, frames_per_clip=2, size=(40, 48), seed=3, workers=2, progress=False)  # a pool: same
    assert a.images.shape == (12, 48, 40, 3) and a.tags.shape == (12, 48, 40)
    assert a.joints.shape == (12, len(KEYPOINTS), 2)
    assert all(np.array_equal(x, y) for x, y in ((a.images, b.images), (a.tags, b.tags), (a.joints, b.joints)))
    assert 0 < (a.tags > 0).mean() < 0.6 and a.tags.max() < NUM_TAGS  # a seated figure on a wall
    # Joints lie on the figure: the head point on a head/hair pixel for most frames.
    u, v = a.joints[:, 0, 0].astype(int), a.joints[:, 0, 1].astype(int)
    assert np.mean([a.tags[i, v[i], u[i]] in (3, 11) for i in range(len(u))]) > 0.7


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory):
    runs = tmp_path_factory.mktemp("runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("MA52_RUNS_DIR", str(runs))
    cfg = resolve_pretrained(make_config("smoke", TINY))
    path = ensure_pretrained(cfg, echo=None)
    yield cfg, path
    mp.undo()


def test_pretraining_learns_and_is_one_cached_run(pretrained) -> None:
    cfg, path = pretrained
    assert path == backbone_file(cfg.model.pretrained) and path.exists()
    history = json.loads((path.parent / "results.json").read_text())["history"]
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]  # the training loss falls
    assert history[-1]["joint_error_px"] < history[0]["joint_error_px"]
    mtime = path.stat().st_mtime
    assert ensure_pretrained(cfg, echo=None) == path and path.stat().st_mtime == mtime  # reused, not retrained


@pytest.mark.parametrize("name", ["manet", "tsn", "tsm", "tin", "i3d"])
def test_the_backbone_loads_into_the_imagenet_initialised_models(pretrained, name: str) -> None:
    cfg, path = pretrained
    over = {**TINY, "model.name": name, **({} if name == "manet" else {"loss.weight": 0.0})}
    model_cfg = resolve_pretrained(make_config("smoke", over))
    assert model_cfg.model.pretrained == cfg.model.pretrained or name == "i3d"
    ensure_pretrained(model_cfg, echo=None)  # I3D's tiny backbone (R10, width 8) is its own pretraining run
    source = torch.load(backbone_file(model_cfg.model.pretrained), weights_only=True)
    model = build_model_for(model_cfg)
    stem = next(m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)))
    if name == "i3d":  # inflated: the 2-D kernel repeated over time, divided by its length
        assert torch.allclose(stem.weight.sum(dim=2), source["conv1.weight"], atol=1e-6)
    else:
        assert torch.equal(stem.weight, source["conv1.weight"])


def test_synth_resolves_per_model_and_names_the_pretraining_run() -> None:
    manet = resolve_pretrained(make_config("cpu", {"model.pretrained": "synth"}))
    assert manet.model.pretrained.startswith("synth:pretrain-r18w32-")
    # A model whose start is its own 2-D twin names its own pretraining run, keyed by the model and its size.
    c3d = resolve_pretrained(make_config("cpu", {"model.name": "c3d", "loss.weight": 0.0}))
    assert c3d.model.pretrained.startswith("synth:pretrain-c3d-cpu-") and c3d.model.frozen_stages == 2
    # A model with no start of either kind trains from scratch: the same run as without pretraining.
    own = {"model.name": "examples.temporal_cnn:build", "loss.weight": 0.0}
    synth = make_config("cpu", {**own, "model.pretrained": "synth"})
    scratch = make_config("cpu", {**own, "model.pretrained": None})
    assert resolve_pretrained(synth).model.pretrained is None
    assert config_hash(resolve_pretrained(synth)) == config_hash(resolve_pretrained(scratch))
    # A change of the pretraining is a new pretraining run, hence a new MANet run.
    other = resolve_pretrained(make_config("cpu", {"model.pretrained": "synth", "pretrain.epochs": 9}))
    assert other.model.pretrained != manet.model.pretrained and config_hash(other) != config_hash(manet)
    with pytest.raises(ValueError, match="resolved first"):
        build_model_for(make_config("cpu", {"model.pretrained": "synth"}))


def test_training_with_synth_pretraining_end_to_end(pretrained, tmp_path) -> None:
    root = make_tiny_dataset(tmp_path / "data", {"train": 1, "val": 1, "test": 1})
    cfg = make_config("smoke", {**TINY, "data.root": str(root), "optim.epochs": 1, "optim.batch_size": 8,
                                "model.num_segments": 4, "runtime.precision": "fp32"})
    out = train(cfg, out=tmp_path / "run", echo=None)
    saved = json.loads((out / "config.json").read_text())["model"]["pretrained"]
    assert saved == pretrained[0].model.pretrained


def test_a_still_start_is_the_model_as_its_2d_twin_inflated(pretrained, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MA52_DATA_DIR", str(tmp_path / "data"))
    over = {**TINY, "model.name": "timesformer", "loss.weight": 0.0, "pretrain.distill": 1.0}
    cfg = resolve_pretrained(make_config("smoke", over))
    assert cfg.model.pretrained.startswith("synth:pretrain-timesformer-tiny-")
    path = ensure_pretrained(cfg, echo=None)
    ident = json.loads((path.parent / "config.json").read_text())
    # DeiT's convnet teacher: the profile's own 2-D ResNet start (its default pretraining, whatever the student's)
    assert ident["teacher"] == teacher_config(cfg).model.pretrained
    assert ident["teacher"] == resolve_pretrained(make_config("smoke", {"model.pretrained": "synth"})).model.pretrained
    # The stills are rendered once and cached: the next start of the same settings reads the same file.
    (cached,) = (tmp_path / "data" / "stills").glob("stills-48x2-*.npz")
    mtime = cached.stat().st_mtime
    again = cached_stills(cfg, (40, 48), 10, progress=False)
    assert cached.stat().st_mtime == mtime and again.images.shape[0] == 96
    model = build_model_for(cfg)
    start = torch.load(path, weights_only=True)
    assert not any(k.startswith("fc_cls.") for k in start)  # the classifier is the fine-tune's own
    assert torch.equal(model.blocks[0].attn.qkv.weight, start["blocks.0.attn.qkv.weight"])
    assert torch.equal(model.blocks[0].temporal_attn.qkv.weight, model.blocks[0].attn.qkv.weight)
    assert all(b.temporal_fc.weight.abs().max() == 0 for b in model.blocks) and model.time_embed.abs().max() == 0
    # Without distillation it is another run (the identity names everything that shapes the start).
    other = resolve_pretrained(make_config("smoke", {**over, "pretrain.distill": 0.0}))
    assert other.model.pretrained != cfg.model.pretrained
