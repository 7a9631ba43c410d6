"""The front page's recipe facts come from the config and the data: a changed field changes the page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ma52lib.chapters import frontpage
from ma52lib.chapters.common import class_counts
from ma52lib.chapters.reproduce import _fill_missing_pages
from ma52lib.cli import main
from ma52lib.config import make_config
from ma52lib.labels import FINE_CLASSES

from tinydata import make_tiny_dataset

ROOT = Path(__file__).resolve().parents[2]


def test_the_smoke_front_page_states_what_ma52_config_prints(capsys) -> None:
    assert main(["config", "--profile", "smoke"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    page = frontpage.front_page_markdown("smoke", None)
    d, o, m = cfg["data"], cfg["optim"], cfg["model"]
    for text in (f"short side {d['short_side']} px, {d['crop_size']} px crop", f"{o['epochs']} epochs",
                 f"lr {o['lr']:g}, batch {o['batch_size']}", f"{m['num_segments']} frames",
                 f"MA-52-Synth {d['synth_profile']}", f"{cfg['loss']['weight']:g} x embedding"):
        assert text in page, text
    paper = make_config("paper")
    assert f"{paper.optim.epochs} epochs" in page and f"short side {paper.data.short_side} px" in page


def test_a_changed_field_changes_the_page(monkeypatch) -> None:
    real = frontpage.make_config
    monkeypatch.setattr(frontpage, "make_config",
                        lambda p, o=None: real(p, {**(o or {}), "optim.epochs": 7, "data.crop_size": 24}))
    table = frontpage.recipe_table("cpu")
    assert table.loc["schedule", "this book (cpu)"].startswith("7 epochs")
    assert "24 px crop" in table.loc["input", "this book (cpu)"]


def test_a_family_recipe_applies_to_its_models_and_is_on_the_page(monkeypatch) -> None:
    from ma52lib import config

    recipes = (config.FamilyRecipe("pair", ("inflated",), {"optim.epochs": 9}, "a reason"),
               config.FamilyRecipe("one", ("inflated", "vit"), {"optim.lr": 0.5}, "another"))
    monkeypatch.setitem(config.FAMILY_RECIPES, "cpu", recipes)
    assert config.make_config("cpu", {"model.name": "i3d"}).optim.epochs == 9
    assert config.make_config("cpu", {"model.name": "slowfast"}).optim.lr == 0.5  # every recipe of a model applies
    assert config.make_config("cpu", {"model.name": "c3d"}).optim.epochs == config.make_config("cpu").optim.epochs
    assert config.make_config("cpu", {"model.name": "i3d", "optim.epochs": 3}).optim.epochs == 3  # --set wins
    table = frontpage.recipe_table("cpu")
    row = table.loc["recipe: pair"]
    assert row["this book (cpu)"] == "I3D, SlowFast: epochs 9 (the others: epochs 12)"  # the family's, from facts
    assert table.loc["recipe: one", "this book (cpu)"].startswith("I3D, SlowFast, TimeSformer: lr 0.5")
    assert row["why it differs"] == "a reason"
    assert row["paper profile (the official recipe)"] == "one recipe for every model"
    assert table.loc["recipe: one", "why it differs"] == "another"


def test_departures_carry_their_reason_and_equal_rows_none() -> None:
    table = frontpage.recipe_table("cpu")
    why = table["why it differs"]
    assert why["loss"] == "" and why["precision"] == ""  # the same recipe as the paper's
    assert "AdamW" in table.loc["optimiser", "this book (cpu)"] and "SGD" in table.loc["optimiser", table.columns[1]]
    assert all(why[row] not in ("", "not stated") for row in ("data", "input", "optimiser", "schedule", "start"))


def test_every_departure_is_on_the_front_page_with_its_reason() -> None:
    from ma52lib.config import DEPARTURES

    shown = {key for _, keys, _ in frontpage.ROWS for key in keys}
    for profile, reasons in DEPARTURES.items():
        assert set(reasons) <= shown, f"{profile}: reasons the front page has no row for"
        assert "not stated" not in set(frontpage.recipe_table(profile)["why it differs"]), profile
    assert frontpage.recipe_table("cpu").loc["validation", "this book (cpu)"] == "once, after the last epoch"


def test_the_class_prior_is_read_from_the_test_split(tmp_path: Path) -> None:
    root = make_tiny_dataset(tmp_path / "tiny", {"train": 2, "val": 1, "test": 3})
    counts = class_counts(root, "test")
    text = frontpage.class_prior(root)
    top = int(np.argmax(counts))
    assert f'always "{FINE_CLASSES[top]}"' in text
    assert f"{100 * counts[top] / counts.sum():.1f}% action top-1" in text


def test_the_front_page_includes_the_generated_recipe(tmp_path: Path) -> None:
    intro = (ROOT / "book" / "intro.md").read_text()
    assert "generated/recipe.md" in intro
    assert "from scratch* (no ImageNet" not in intro and "10 epochs" not in intro  # no typed recipe facts
    _fill_missing_pages(tmp_path)
    assert "this book (cpu)" in (tmp_path / frontpage.RECIPE_FILE).read_text()


def test_the_recipe_table_names_every_models_paper_start() -> None:
    start = frontpage.recipe_table("cpu").loc["start", "paper profile (the official recipe)"]
    for said in ("ImageNet ResNet-50", "Sports-1M C3D", "ImageNet-21k ViT-B/16", "R2Plus1D_18_Weights.KINETICS400_V1",
                 "ImageNet-1K Swin-T, inflated", "Kinetics-400 SlowFast R50 4x16"):
        assert said in start
    assert "from scratch;" not in start and "the others" not in start
