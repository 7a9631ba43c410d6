"""The recipe facts the book's prose states, read from the config and the data, never typed.

The front page shows this build's profile beside the paper's recipe as a generated table
(``recipe_table``), with the reason for each departure; the reasons are words beside the config fields
(``config.DEPARTURES``), the values come from ``make_config``. ``write_front_page`` writes it, with the
class prior of the build's test split, to ``book/generated/recipe.md``, which ``book/intro.md`` includes.
A changed field changes the page. Beside it go the two commands (read from the Makefile's help) and, until the
benchmark chapter writes its chart there, a line saying the chart is not made yet.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ma52lib.chapters.common import SEEDS, class_counts, download_link, downloads_dir
from ma52lib.config import DEPARTURES, FAMILY_RECIPES, Config, FamilyRecipe, make_config
from ma52lib.engine.pretrain import backbone_file, resolve_pretrained
from ma52lib.engine.starts import provenance_of
from ma52lib.files import atomic_write_text
from ma52lib.labels import FINE_CLASSES, FINE_TO_BODY, NUM_BODY_PARTS
from ma52lib.models import BENCHMARK_MODELS, available_models, display_name, model_facts
from ma52lib.models.facts import ModelFacts
from ma52lib.paths import generated_dir, project_root
from ma52lib.synth import PROFILES as SYNTH_PROFILES
from ma52lib.synth import split_counts

RECIPE_FILE = "recipe.md"  # beside the executed notebooks; book/intro.md includes it
COMMANDS_FILE = "commands.md"  # the two commands, from the Makefile's help
CHART_FILE = "front_chart.md"  # the benchmark's chart, written by the benchmark chapter
FRONT_DEPTH = 1  # book/intro.html: one folder below the HTML root
FRONT_COMMANDS = ("make book", "make test")


def _data(cfg: Config) -> str:
    if cfg.data.root:
        return f"the folder {cfg.data.root}"
    if cfg.profile == "paper":
        counts = split_counts("full")
        return "the real MA-52 ({:,} / {:,} / {:,} clips train / val / test)".format(*(sum(counts[s]) for s in
                                                                               ("train", "val", "test")))
    counts, synth = split_counts(cfg.data.synth_profile), SYNTH_PROFILES[cfg.data.synth_profile]
    return "MA-52-Synth {} ({:,} / {:,} / {:,} clips train / val / test, {}x{} px at {} fps)".format(
        cfg.data.synth_profile, *(sum(counts[s]) for s in ("train", "val", "test")), *synth.size, synth.fps)


def _start(cfg: Config) -> str:
    value = cfg.model.pretrained
    if not value or value.lower() == "none":
        return "random initialisation"
    resnet = _names(lambda f: f.resnet is not None and (value != "imagenet" or f.paper_imagenet))
    if value == "synth":
        p = cfg.pretrain
        return (f"{p.clips * p.frames_per_clip:,} rendered stills of new participants, body parts and joints "
                f"(no action label): a 2-D ResNet pretrained on them for {resnet} (inflated for the 3-D ones; "
                f"{_made(cfg, 'manet')}); {_names(lambda f: f.still_start)} each pretrained on them as its own "
                f"2-D twin, then inflated ({_made(cfg, 'c3d')})")
    if value == "imagenet":
        return _paper_starts(resnet)
    return value


def _paper_starts(resnet: str) -> str:
    """Each model's start in the paper profile: the ImageNet ResNet-50 for ``resnet``, the published files for the
    others, each departure from the model's own config marked."""
    published = [f"{display_name(m)}: {model_facts(m).published.what}"
                 + (" (departs from its config)" if model_facts(m).departure else "")
                 for m in available_models() if model_facts(m).published is not None]
    return (f"torchvision's ImageNet ResNet-50 (mmcv's torchvision://resnet50) for {resnet} (inflated for I3D); "
            + "; ".join(published))


def _names(which: Callable[[ModelFacts], bool]) -> str:
    """Display names of the built-in models whose facts ``which`` accepts."""
    return ", ".join(display_name(m) for m in available_models() if which(model_facts(m)))


def _made(cfg: Config, model: str) -> str:
    """Where the profile's synthetic start of ``model`` comes from: shipped with its provenance, or trained by the
    first build."""
    ours = make_config(cfg.profile, {"model.name": model, "model.pretrained": cfg.model.pretrained})  # its recipe
    value = resolve_pretrained(ours).model.pretrained or ""
    if "@sha256:" not in value:
        return "trained by the first build that needs it, then reused"
    path = backbone_file(value)
    r = provenance_of(path)
    return (f"shipped in ma52lib/starts/, e.g. {path.name}, made by `{r['command']}` in {r['minutes']} min on "
            f"{r['machine']}")


def _frozen(cfg: Config) -> str:
    k = cfg.model.frozen_stages
    if k < 0:
        return "none (every layer trains)"
    return "the stem" + (f" and stages 1-{k}" if k > 1 else " and stage 1" if k == 1 else "") + \
        " of every model with a pretrained start"


def _optimiser(cfg: Config) -> str:
    o = cfg.optim
    extra = f", momentum {o.momentum}" if o.name == "sgd" else ""
    name = "SGD" if o.name == "sgd" else "AdamW"
    return f"{name}, lr {o.lr:g}, batch {o.batch_size}, weight decay {o.weight_decay:g}{extra}"


def _schedule(cfg: Config) -> str:
    o = cfg.optim
    at = f"epoch{'s' if len(o.milestones) > 1 else ''} {', '.join(map(str, o.milestones))}"
    shape = (f"step (x{o.gamma:g} at {at})" if o.schedule == "step"
             and o.milestones else "constant" if o.schedule == "step" else "cosine to zero")
    warm = f", {o.warmup_epochs:g} warm-up epoch{'s' if o.warmup_epochs != 1 else ''}" if o.warmup_epochs else ""
    return f"{o.epochs} epochs, {shape}{warm}"


def _validation(cfg: Config) -> str:
    every, epochs = cfg.runtime.eval_every, cfg.optim.epochs
    return ("once, after the last epoch" if every >= epochs else "after every epoch" if every == 1
            else f"every {every} epochs and after the last")


def _loading(cfg: Config) -> str:
    d = cfg.data
    return f"{d.num_workers} loader processes" + (", each decoded video kept in memory" if d.cache else "")


def family_rows(profile: str) -> list[dict[str, str]]:
    """One row per family recipe of ``profile`` (``config.FAMILY_RECIPES``): the models of its families (their facts
    say each one's family), its fields beside the profile's own."""
    recipes = FAMILY_RECIPES.get(profile, ())
    base = make_config(profile, {"model.name": _outside_every_family(recipes)})
    rows = []
    for recipe in recipes:
        names = ", ".join(display_name(m) for m in _of_families(recipe.families))
        ours = ", ".join(f"{_label(k)} {v}" for k, v in recipe.fields.items())
        kept = ", ".join(f"{_label(k)} {_value(base, k)}" for k in recipe.fields)
        rows.append({"": f"recipe: {recipe.name}", f"this book ({profile})": f"{names}: {ours} (the others: {kept})",
                     "paper profile (the official recipe)": "one recipe for every model", "why it differs": recipe.why})
    return rows


def _label(dotted: str) -> str:
    """A recipe field as the page names it: the training's own fields by name, the others with their section
    ("pretrain.epochs" is the start's pretraining, not the fine-tune's epochs)."""
    section, name = dotted.split(".")
    return name if section == "optim" else dotted


def _of_families(families: tuple[str, ...]) -> list[str]:
    """The benchmark's models (in table order) whose facts put them in one of ``families``."""
    return [m for m in BENCHMARK_MODELS if model_facts(m).family in families]


def _outside_every_family(recipes: tuple[FamilyRecipe, ...]) -> str:
    """A model of no recipe's family (the profile's plain recipe), or the profile's default model when none is."""
    named = {m for recipe in recipes for m in _of_families(recipe.families)}
    return next((m for m in available_models() if m not in named), "manet")


def _value(cfg: Config, dotted: str) -> object:
    section, name = dotted.split(".")
    return getattr(getattr(cfg, section), name)


def _input(cfg: Config) -> str:
    d = cfg.data
    crop = "multi-scale crop" if d.train_crop == "multiscale" else "centre crop"
    return (f"{cfg.model.num_segments} frames, short side {d.short_side} px, {d.crop_size} px crop; training: "
            f"{crop}{', flip' if d.flip else ', no flip'}")


def _size(cfg: Config) -> str:
    depth, width = model_facts("manet").resnet_shape(cfg.model.size, cfg.model.depth, cfg.model.width)
    return f"{cfg.model.size} (MANet: ResNet-{depth}, width {width})"


# One row per recipe fact: (what, the config fields it reads, how it reads them); "seeds" is the book's
# number of seeds of the core contrasts (chapters.common.SEEDS), not a config field.
ROWS: tuple[tuple[str, tuple[str, ...], Callable[[Config], str]], ...] = (
    ("data", ("data.root", "data.synth_profile"), _data),
    ("input", ("model.num_segments", "data.short_side", "data.crop_size", "data.train_crop", "data.flip"), _input),
    ("model size", ("model.size",), _size),
    ("start", ("model.pretrained",), _start),
    ("frozen stages", ("model.frozen_stages",), _frozen),
    ("optimiser", ("optim.name", "optim.lr", "optim.batch_size", "optim.weight_decay"), _optimiser),
    ("schedule", ("optim.epochs", "optim.schedule", "optim.milestones", "optim.warmup_epochs"), _schedule),
    ("validation", ("runtime.eval_every",), _validation),
    ("data loading", ("data.cache", "data.num_workers"), _loading),
    ("loss", ("loss.weight",), lambda c: f"cross-entropy + {c.loss.weight:g} x embedding MSE"),
    ("seeds of TSN, TSM, MANet", ("seeds",), lambda c: str(len(SEEDS.get(c.profile, (0,))))),
    ("precision", ("runtime.precision",), lambda c: c.runtime.precision),
)


def recipe_table(profile: str) -> pd.DataFrame:
    """``profile`` beside the paper's recipe, one row per fact, with the reason where they differ."""
    ours, paper = make_config(profile), make_config("paper")
    reasons = DEPARTURES.get(profile, {})
    rows = []
    for name, keys, read in ROWS:
        a, b = read(ours), read(paper)
        why = "; ".join(dict.fromkeys(reasons[k] for k in keys if k in reasons)) if a != b else ""
        rows.append({"": name, f"this book ({profile})": a, "paper profile (the official recipe)": b,
                     "why it differs": why or ("" if a == b else "not stated")})
    return pd.DataFrame(rows + family_rows(profile)).set_index("")


def class_prior(root: Path, split: str = "test") -> str:
    """The class prior of ``split`` in words: the most frequent action and the top-1 scores of always predicting
    it (action) and its body part (body)."""
    counts = class_counts(root, split)
    body = np.bincount(np.asarray(FINE_TO_BODY), weights=counts, minlength=NUM_BODY_PARTS)
    top = int(np.argmax(counts))
    return (f"the class prior of the {split} split (always \"{FINE_CLASSES[top]}\") scores "
            f"{100 * counts[top] / counts.sum():.1f}% action top-1 and {100 * body.max() / counts.sum():.1f}% body "
            f"top-1: a model has learned something only above those")


def front_page_markdown(profile: str, data_root: Path | None) -> str:
    """The front page's recipe section: the generated table, its CSV, and the class prior sentence."""
    prior = f"\nOn this build's data, {class_prior(data_root)}.\n" if data_root else ""
    return f"{recipe_table(profile).to_markdown()}\n\n{download_link('recipe.csv', FRONT_DEPTH)}\n{prior}"


def make_commands(makefile: Path) -> str:
    """The two commands a newcomer runs, each with what it does, as the Makefile's ``help`` says it."""
    text = makefile.read_text()
    default = re.search(r"^PROFILE\s*\?=\s*(\S+)", text, flags=re.M)  # what `make book` builds
    lines = []
    for command in FRONT_COMMANDS:
        match = re.search(rf'@echo "{command}\s+(.+?)"\s*$', text, flags=re.M)
        if not match:
            raise ValueError(f"{makefile}: its help target does not describe `{command}` (an '@echo \"{command} ...\"'"
                             " line); the front page quotes it")
        lines += [f"# {match.group(1).replace('$(PROFILE)', default.group(1) if default else 'cpu')}", command]
    return "```console\n" + "\n".join(lines) + "\n```\n"


def write_front_page(out_dir: Path, profile: str, data_root: Path | None) -> Path:
    """Write ``recipe.md`` (``front_page_markdown``) with its CSV, ``commands.md``, and the chart's placeholder
    (when the benchmark has not written the chart) into ``out_dir``."""
    path = out_dir / RECIPE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(downloads_dir(out_dir) / "recipe.csv", recipe_table(profile).to_csv())
    atomic_write_text(path, front_page_markdown(profile, data_root))
    atomic_write_text(out_dir / COMMANDS_FILE, make_commands(project_root() / "Makefile"))
    if not (out_dir / CHART_FILE).exists():
        atomic_write_text(out_dir / CHART_FILE, "The benchmark chart is made by the benchmark chapter, which has not "
                          "run in this build yet.\n")
    return path


def write_front_chart(png: str, sentences: str, out_dir: Path | None = None) -> Path:
    """The front page's chart section: ``sentences`` (computed by the chapter), the PNG file ``png`` of the
    downloads folder and its link."""
    out = out_dir or generated_dir()
    src = "../" * FRONT_DEPTH + f"downloads/{png}"
    text = (f"{sentences.strip()}\n\n<img class=\"ma52-front-chart\" src=\"{src}\" alt=\"benchmark chart\">\n\n"
            f"{download_link(png, FRONT_DEPTH)}\n")
    atomic_write_text(out / CHART_FILE, text)
    return out / CHART_FILE
