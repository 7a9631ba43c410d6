"""The config tree: profiles, dotted overrides with type coercion, hashing, JSON round trip."""

from __future__ import annotations

import sys
import types

import pytest

from ma52lib.config import (
    PROFILES,
    config_hash,
    describe_fields,
    family_recipe,
    from_dict,
    load_config,
    make_config,
    run_name,
    save_config,
    to_dict,
)
from ma52lib.models.facts import ModelFacts


@pytest.mark.parametrize("profile", PROFILES)
def test_profiles_round_trip(profile, tmp_path):
    cfg = make_config(profile)
    assert cfg.profile == profile
    assert from_dict(to_dict(cfg)) == cfg
    save_config(cfg, tmp_path / "c.json")
    assert load_config(tmp_path / "c.json") == cfg
    # the run folder's name must survive the JSON round trip (1 vs 1.0 would change the hash)
    assert config_hash(load_config(tmp_path / "c.json")) == config_hash(cfg)


def test_paper_profile_is_the_official_recipe():
    cfg = make_config("paper")
    assert (cfg.optim.lr, cfg.optim.batch_size, cfg.optim.epochs) == (0.00125, 10, 80)
    assert cfg.optim.milestones == (30, 60) and cfg.optim.clip_grad == 20
    assert (cfg.data.short_side, cfg.data.crop_size, cfg.model.num_segments) == (256, 224, 8)
    assert cfg.loss.weight == 50 and cfg.model.size == "paper"


def test_overrides_are_coerced_from_strings():
    cfg = make_config("cpu", {"optim.lr": "0.5", "optim.milestones": "3,7", "model.tsm": "false",
                              "data.root": "none", "model.depth": "34"})
    assert cfg.optim.lr == 0.5 and cfg.optim.milestones == (3, 7)
    assert cfg.model.tsm is False and cfg.data.root is None and cfg.model.depth == 34
    assert make_config("cpu", optim__epochs=3).optim.epochs == 3


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"optim.lrr": 1}, "unknown config field 'optim.lrr'"),
        ({"optimizer.lr": 1}, "unknown config section 'optimizer'"),
        ({"lr": 1}, "config keys look like"),
        ({"optim.epochs": "ten"}, "optim.epochs expects int"),
        ({"optim.epochs": 2.5}, "optim.epochs expects int"),
        ({"model.se": "maybe"}, "model.se expects bool"),
    ],
)
def test_bad_overrides_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_config("cpu", overrides)


def test_unknown_profile():
    with pytest.raises(ValueError, match="unknown profile 'gpu'"):
        make_config("gpu")


def test_hash_tracks_results_not_execution():
    base = make_config("cpu")
    assert config_hash(base) == config_hash(make_config("cpu"))
    assert config_hash(base) != config_hash(make_config("cpu", {"optim.lr": 0.1}))
    # loader processes and threads never change the numbers, so they do not change the run folder
    assert config_hash(base) == config_hash(make_config("cpu", {"data.num_workers": 0, "runtime.threads": 1}))
    assert run_name(base).startswith("manet-cpu-")


def test_describe_fields_lists_every_field():
    names = [row[0] for row in describe_fields()]
    assert "optim.lr" in names and "model.tsm" in names and "loss.weight" in names
    assert len(names) == len(set(names))


# The cpu profile's family recipe, as each model gets it: the video models from a 2-D start train the body at a
# quarter of the lr with a 10x head; the starts pretrained as their own 2-D twin pretrain 12 epochs, the ViT's 24
# with the convnet teacher; the 2-D networks over segments keep the profile's own recipe.
VIDEO_RECIPE = {"optim.lr": 5e-4, "optim.head_lr_mult": 10.0}
CPU_RECIPES = {
    "tsn": {}, "tsm": {}, "tin": {}, "manet": {},
    "i3d": VIDEO_RECIPE, "slowfast": VIDEO_RECIPE,
    "c3d": {**VIDEO_RECIPE, "pretrain.epochs": 12}, "r2plus1d": {**VIDEO_RECIPE, "pretrain.epochs": 12},
    "vswin": {**VIDEO_RECIPE, "pretrain.epochs": 12},
    "timesformer": {**VIDEO_RECIPE, "pretrain.epochs": 24, "pretrain.distill": 1.0},
}


def test_each_model_gets_its_familys_recipe() -> None:
    for name, fields in CPU_RECIPES.items():
        assert family_recipe("cpu", name) == fields, name
        assert family_recipe("paper", name) == {} and family_recipe("smoke", name) == {}, name
    assert make_config("cpu", {"model.name": "timesformer"}).pretrain.epochs == 24
    assert make_config("cpu", {"model.name": "c3d", "optim.lr": 0.1}).optim.lr == 0.1  # --set wins


def test_a_model_of_your_own_gets_the_recipe_of_its_declared_family(monkeypatch) -> None:
    module = types.ModuleType("family_models")
    module.inflated = lambda **kw: None  # never built: only its facts are read
    module.inflated.facts = ModelFacts(family="inflated")
    module.plain = lambda **kw: None
    monkeypatch.setitem(sys.modules, "family_models", module)
    assert family_recipe("cpu", "family_models:inflated") == CPU_RECIPES["i3d"]
    assert family_recipe("cpu", "family_models:plain") == {}  # no facts, no family: the profile's own recipe
    with pytest.raises(ValueError, match="unknown family 'cnn'; choose from segments, inflated, twin, vit"):
        ModelFacts(family="cnn")
