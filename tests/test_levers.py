"""The recipe study's training levers: frozen ResNet stages and class-aware sampling of the long tail."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ma52lib.config import config_hash, make_config
from ma52lib.engine.build import ClassSampler, EpochSampler, build_loader, build_model_for, freeze_stages
from ma52lib.engine.checkpoint import load_checkpoint
from ma52lib.engine.pretrain import resolve_pretrained
from ma52lib.engine.step import build_optimizer
from ma52lib.engine.train import train
from ma52lib.models import BENCHMARK_MODELS

from tinydata import make_tiny_dataset


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("ma52tiny"))


def tiny_cfg(root: Path, **over):
    base = {"data.root": str(root), "data.num_workers": 0, "optim.epochs": 2, "optim.batch_size": 4,
            "runtime.precision": "fp32", "runtime.channels_last": False, "model.num_segments": 4,
            "model.pretrained": None}
    base.update(over)
    return make_config("smoke", base)


def test_frozen_stages_keep_stem_and_layer1_and_train_the_rest() -> None:
    cfg = make_config("smoke", {"model.pretrained": None, "model.num_segments": 4, "optim.name": "adamw"})
    model = build_model_for(cfg)
    before = {k: v.clone() for k, v in model.named_parameters()}
    n = freeze_stages(model, 1)
    bb = model.backbone
    assert n == sum(p.numel() for m in (bb.conv1, bb.bn1, bb.layer1) for p in m.parameters()) > 0
    opt = build_optimizer(model, cfg)
    x, y = torch.randn(2, 4, 3, 32, 32), torch.tensor([3, 40])
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    for name, p in model.named_parameters():
        moved = not torch.equal(p, before[name])
        frozen = name.startswith(("backbone.conv1.", "backbone.bn1.", "backbone.layer1."))
        assert p.requires_grad != frozen and (p.grad is None) == frozen, name
        if name.endswith("conv1.weight") or name.startswith("head."):
            assert moved != frozen, name


def test_frozen_stages_refused_for_a_model_without_stages() -> None:
    own = {"model.name": "examples.temporal_cnn:build", "model.pretrained": None}
    model = build_model_for(make_config("smoke", own))
    with pytest.raises(ValueError, match="needs a backbone with a stem and stages"):
        freeze_stages(model, 0)
    c3d = build_model_for(make_config("smoke", {"model.name": "c3d", "model.pretrained": None}))
    assert freeze_stages(c3d, 1) == sum(p.numel() for m in (c3d.conv1, c3d.conv2) for p in m.parameters())
    assert freeze_stages(model, -1) == 0  # -1 (the default) touches nothing
    with pytest.raises(ValueError, match=r"frozen_stages must be in \[-1, 4\]"):
        make_config("smoke", {"model.frozen_stages": 5})


def test_a_frozen_run_keeps_its_stem_weights_and_says_so(tiny_root: Path, tmp_path: Path) -> None:
    cfg = tiny_cfg(tiny_root, **{"model.frozen_stages": 0})
    run = train(cfg, out=tmp_path / "run", echo=None)
    torch.manual_seed(cfg.runtime.seed)  # the build of a fresh run follows seed_everything
    initial = build_model_for(cfg).state_dict()
    trained = load_checkpoint(run / "checkpoints" / "best.pt")["model"]
    assert torch.equal(trained["backbone.conv1.weight"], initial["backbone.conv1.weight"])
    assert not torch.equal(trained["backbone.layer1.0.block.conv1.weight"],
                           initial["backbone.layer1.0.block.conv1.weight"])
    log = (run / "train.log").read_text()
    assert "frozen stages: 0" in log and "their weights are random (no model.pretrained)" in log
    assert json.loads((run / "config.json").read_text())["model"]["frozen_stages"] == 0


def test_new_fields_at_their_defaults_keep_older_run_names() -> None:
    base = make_config("smoke")  # frozen_stages -1 there (the cpu profile sets 2)
    assert config_hash(base) == config_hash(make_config("smoke", {"data.sampler": "instance",
                                                                  "model.frozen_stages": -1}))
    assert len({config_hash(base), config_hash(make_config("smoke", {"data.sampler": "sqrt"})),
                config_hash(make_config("smoke", {"model.frozen_stages": 1}))}) == 3
    with pytest.raises(ValueError, match="data.sampler must be one of instance, sqrt, class"):
        make_config("cpu", {"data.sampler": "balanced"})


def draws(labels: np.ndarray, power: float, epoch: int = 0, **kw) -> list[int]:
    sampler = ClassSampler(labels, power=power, seed=0, **kw)
    sampler.set_epoch(epoch)
    return list(sampler)


def test_class_sampler_flattens_the_long_tail() -> None:
    labels = np.array([0] * 90 + [1] * 9 + [2])  # a head class, a middle one, a tail clip

    def shares(power: float) -> np.ndarray:
        drawn = [i for epoch in range(50) for i in draws(labels, power, epoch=epoch)]
        return np.bincount(labels[drawn], minlength=3) / len(drawn)

    assert np.allclose(shares(1.0), 1 / 3, atol=0.03)  # every class equally often
    sqrt = np.sqrt([90, 9, 1])
    assert np.allclose(shares(0.5), sqrt / sqrt.sum(), atol=0.03)  # classes in proportion to sqrt(count)
    assert len(draws(labels, 1.0)) == len(ClassSampler(labels, power=1.0, seed=0)) == len(labels)
    assert draws(labels, 1.0, epoch=3) == draws(labels, 1.0, epoch=3) != draws(labels, 1.0, epoch=4)


def test_class_sampler_splits_one_sequence_between_processes_and_keys_the_epoch() -> None:
    labels = np.arange(10) % 3
    whole = draws(labels, 0.5, epoch=2)
    parts = [draws(labels, 0.5, epoch=2, rank=r, world=2) for r in range(2)]
    assert parts[0] == whole[0::2] and parts[1] == whole[1::2]
    keyed = EpochSampler(ClassSampler(labels, power=0.5, seed=0))
    keyed.set_epoch(2)
    assert list(keyed) == [(i, 2) for i in whole]


def test_the_training_loader_uses_the_class_sampler_only_when_asked(tiny_root: Path) -> None:
    from ma52lib.data.dataset import MA52Dataset

    ds = MA52Dataset(tiny_root, "train", num_segments=4, train=True, short_side=40, crop_size=32)
    cfg = tiny_cfg(tiny_root, **{"data.sampler": "class"})
    assert isinstance(build_loader(cfg, ds, train=True).sampler.base, ClassSampler)
    assert not isinstance(build_loader(cfg, ds, train=False).sampler.base, ClassSampler)  # evaluation sees every clip
    assert not isinstance(build_loader(tiny_cfg(tiny_root), ds, train=True).sampler.base, ClassSampler)


def test_the_cpu_profile_freezes_the_early_stages_of_every_pretrained_model() -> None:
    names = BENCHMARK_MODELS
    frozen = {name: resolve_pretrained(make_config("cpu", {"model.name": name})).model for name in names}
    for name in names:  # a pretrained start (2-D ResNet, inflated, or still-pretrained): stem and two stages fixed
        assert frozen[name].frozen_stages == 2 and frozen[name].pretrained.startswith("synth:"), name
    # Without the ImageNet analogue the profile's frozen stages are the user's to keep: never silently dropped.
    scratch = resolve_pretrained(make_config("cpu", {"model.pretrained": None}))
    assert scratch.model.frozen_stages == 2 and scratch.model.pretrained is None
    # A model without a start never takes the profile's frozen stages: nothing learnt to keep fixed.
    for profile, name, pretrained in (("paper", "examples.temporal_cnn:build", "imagenet"),
                                      ("cpu", "examples.temporal_cnn:build", "synth")):
        over = {"model.name": name, "model.pretrained": pretrained, "model.frozen_stages": 2}
        cfg = resolve_pretrained(make_config(profile, over))
        assert cfg.model.frozen_stages == -1 and cfg.model.pretrained is None, name


def test_head_lr_mult_gives_the_classifier_its_own_groups() -> None:
    from ma52lib.engine.optim import param_groups

    cfg = make_config("cpu", {"model.name": "i3d", "model.pretrained": None, "optim.head_lr_mult": 10.0})
    model = build_model_for(cfg)
    groups = {g["name"]: g for g in param_groups(model, cfg.optim)}
    head = {id(p) for p in model.fc_cls.parameters()}
    assert {id(p) for g in ("head_decay", "head_no_decay") for p in groups[g]["params"]} == head
    assert groups["head_decay"]["lr"] == 10 * groups["decay"]["lr"] == 10 * cfg.optim.lr
    assert not head & {id(p) for g in ("decay", "no_decay") for p in groups[g]["params"]}
    plain = param_groups(model, make_config("cpu", {"model.name": "i3d", "model.pretrained": None,
                                                    "optim.head_lr_mult": 1.0}).optim)
    assert [g["name"] for g in plain] == ["decay", "no_decay"]  # as before the field existed
    with pytest.raises(ValueError, match="head_lr_mult applies without the paper's parameter groups"):
        make_config("paper", {"optim.head_lr_mult": 10.0})
