"""One frozen config tree for every run: its fields are the CLI flags and the notebooks' parameters.

``make_config(profile, **overrides)`` is the only way to get one. Profiles are presets of the same tree
(no inheritance): ``smoke`` (seconds, CI), ``cpu`` (the default book on a 2-core laptop) and ``paper``
(the official MANet recipe on the real MA-52). ``config_hash`` names a run folder, so an identical
finished run is reused instead of redone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from ma52lib.files import atomic_write_text
from ma52lib.models import model_facts

PROFILES = ("smoke", "cpu", "paper")
PRECISIONS = ("auto", "fp32", "bf16")
SCHEDULES = ("step", "cosine")
SAMPLERS = ("instance", "sqrt", "class")


@dataclass(frozen=True)
class DataConfig:
    """Where the clips come from and how frames become tensors."""

    root: str | None = None  # a real MA-52 folder; None -> MA-52-Synth of `synth_profile`
    synth_profile: str = "cpu"  # MA-52-Synth size used when root is None
    synth_seed: int = 0
    short_side: int = 256  # resize the short side to this before cropping
    crop_size: int = 224  # square crop fed to the model
    scales: tuple[float, ...] = (1.0, 0.875, 0.75, 0.66)  # MultiScaleCrop sizes, fractions of the short side
    train_crop: str = "multiscale"  # training crop: "multiscale" (the paper's) or "center" (as in evaluation)
    flip: bool = True  # random horizontal flip of training clips (the paper's pipeline)
    cache: bool = False  # keep every decoded video in memory after its first read (small datasets)
    num_workers: int = 2  # loader processes; results never depend on it
    on_error: str = "raise"  # "raise" or "skip" unreadable videos (skips are counted and reported)
    # which training clips an epoch draws: "instance" (each clip once, the paper), or with replacement a class
    # in proportion to the square root of its count ("sqrt") or every class equally often ("class"): the long tail
    sampler: str = "instance"
    train_split: str = "train"
    val_split: str = "val"
    test_split: str = "test"

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"data.sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Which network, at which size. None means the model's own default for the profile size."""

    name: str = "manet"
    num_segments: int = 8  # frames the model sees (segments for 2-D models, clip length for 3-D)
    size: str = "paper"  # size preset of every model: paper | cpu | tiny (MANet: R50 | R18 | R18/16)
    depth: int | None = None  # override the preset's depth (ResNet depth for MANet/TSN/TSM/TIN)
    width: int | None = None  # override the preset's base channel width
    se: bool = True  # MANet ablation switches
    tsm: bool = True
    shift_div: int = 8  # MANet's and TSM's shift moves 1/shift_div of the channels each way (TSM's --shift_div)
    embedding: bool = True
    dropout: float = 0.5
    # Where the weights start (engine.pretrain.resolve_pretrained): "imagenet" (the paper's start of each model:
    # torchvision's ImageNet ResNet, resolved to "imagenet:<file>@sha256:<hex>", or the model's published file,
    # ModelFacts.published, resolved to "paper:<file>@sha256:<hex>"), "synth" (the backbone pretrained on rendered
    # stills; resolved to "synth:<pretraining run>"), a local state_dict file (resolved to "<path>@sha256:<hex>"),
    # or None ("none" on the command line: random init)
    pretrained: str | None = "imagenet"
    # frozen stages of the 2-D ResNets (as mmaction's frozen_stages): -1 trains every layer (the paper), 0 fixes
    # the stem's weights, k >= 1 the stem and layer1..k. Frozen stages get no gradient (a cheaper step); unlike
    # mmaction's, their BatchNorm keeps batch statistics, as the paper's norm_eval=False does for every layer.
    # Every model with a start has a stem and four stages to fix (ModelFacts.freezable; build.stage_modules)
    frozen_stages: int = -1

    def __post_init__(self) -> None:
        if self.shift_div < 2:
            raise ValueError(f"model.shift_div must be at least 2 (two folds shift, one each way), "
                             f"got {self.shift_div}")
        if not -1 <= self.frozen_stages <= 4:
            raise ValueError(f"model.frozen_stages must be in [-1, 4] (-1: none, 4: the whole ResNet), "
                             f"got {self.frozen_stages}")


@dataclass(frozen=True)
class LossConfig:
    """Cross-entropy plus `weight` x MSE to the label embedding (the joint-embedding loss)."""

    weight: float = 50.0  # lambda; 0 -> plain cross-entropy
    embeddings: str = "default"  # "default" (shipped), "random", or a path to a [52, D] .npy


@dataclass(frozen=True)
class OptimConfig:
    """SGD with step decay, as the official recipe (the cpu profile departs from it: DEPARTURES)."""

    name: str = "sgd"  # sgd (the paper) or adamw
    epochs: int = 80
    batch_size: int = 10  # per process
    lr: float = 0.00125  # 0.01 / 8 at batch 10 on one GPU (the official config)
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (30, 60)
    gamma: float = 0.1
    clip_grad: float | None = 20.0
    paper_groups: bool = True  # mmaction TSM parameter groups incl. the 5x/10x last-Linear quirk
    schedule: str = "step"  # step: x gamma at each milestone (the paper) | cosine: to zero over the epochs
    warmup_epochs: float = 0.0  # linear warm-up from ~0 to lr over this many epochs (0: none, the paper)
    # the classifier (``fc_cls``, MANet's ``head``) trains at lr x this: a new head beside a pretrained body;
    # without paper_groups only (those have the official 5x/10x of the last Linear)
    head_lr_mult: float = 1.0

    def __post_init__(self) -> None:
        if self.paper_groups and self.head_lr_mult != 1.0:
            raise ValueError("optim.head_lr_mult applies without the paper's parameter groups (optim.paper_groups="
                             "false); the paper's own groups give the last Linear 5x/10x")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"optim.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.epochs < 1:  # before the warm-up, whose range it sets: the epochs are what the user got wrong
            raise ValueError(f"optim.epochs (--epochs) must be at least 1, got {self.epochs}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"optim.warmup_epochs must be in [0, epochs={self.epochs}), got {self.warmup_epochs}")


@dataclass(frozen=True)
class RuntimeConfig:
    """How the run executes; none of these change the numbers except seed/precision/device."""

    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    # auto: bf16 autocast only where this machine runs it natively and faster (a measured probe,
    # ma52lib.engine.precision), else fp32; a run's config.json holds the resolved value.
    precision: str = "auto"  # auto | fp32 | bf16
    channels_last: bool = True
    threads: int | None = None  # torch intra-op threads; None -> cores / loader processes
    deterministic: bool = True
    eval_test: bool = True  # also score the test split at the end when it has labels
    eval_every: int = 1  # validate every N epochs (and after the last); the best checkpoint is among these

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"runtime.precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


@dataclass(frozen=True)
class PretrainConfig:
    """The ImageNet analogue (``model.pretrained="synth"``): a 2-D ResNet trained on rendered still frames to
    segment body parts and locate 23 joints (ma52lib.engine.pretrain); one cached run per backbone and data size."""

    clips: int = 8000  # rendered clips of new participants (random micro-actions, no labels kept)
    frames_per_clip: int = 2
    epochs: int = 4
    batch_size: int = 64
    lr: float = 2e-3  # AdamW, one-cycle schedule
    weight_decay: float = 0.01
    joint_weight: float = 10.0  # weight of the joint regression (smooth L1) against the part segmentation (CE)
    seed: int = 1
    # a model pretrained as its own 2-D twin also regresses the profile's 2-D ResNet start's features of each still
    # (standardised), at this weight: DeiT's distillation from a convnet teacher (0: none; no label either way)
    distill: float = 0.0


@dataclass(frozen=True)
class Config:
    """The whole run."""

    profile: str = "paper"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)


# Why a profile departs from the paper's recipe, beside the fields it sets: the book's front page prints these
# next to the values (ma52lib.chapters.frontpage), so a reason is words and the numbers come from the presets below.
_SMOKE_WHY = "CI's smoke book: seconds per model, to show that everything runs, not what it learns"
DEPARTURES: dict[str, dict[str, str]] = {
    "cpu": {
        "data.root": "the real MA-52 is gated: MA-52-Synth has its format, classes and long tail, at laptop size",
        "data.synth_profile": "the real MA-52 is gated: MA-52-Synth has its format, classes and long tail, at "
                              "laptop size",
        "data.short_side": "a small input keeps the step within a 2-core CPU's budget",
        "data.crop_size": "a small input keeps the step within a 2-core CPU's budget",
        "data.train_crop": "the paper's multi-scale crop and flip kept the models at the class prior at this size",
        "data.flip": "the paper's multi-scale crop and flip kept the models at the class prior at this size",
        "model.size": "the smaller, narrower ResNet fits the CPU budget",
        "model.pretrained": "the published starts (ImageNet, Sports-1M, Kinetics-400) cannot be had offline: their "
                            "analogue is a backbone pretrained on rendered stills",
        "model.frozen_stages": "fixed pretrained early stages make the step cheaper (the study appendix measures "
                               "the cost)",
        "optim.name": "on a short budget AdamW leaves the class prior where SGD did not",
        "optim.lr": "on a short budget AdamW leaves the class prior where SGD did not",
        "optim.batch_size": "on a short budget AdamW leaves the class prior where SGD did not",
        "optim.weight_decay": "on a short budget AdamW leaves the class prior where SGD did not",
        "optim.epochs": "with the start's early stages fixed the step is cheap, and val top-1 still rose with the "
                        "epochs (MANet 18.9 at 4 to 31.5 at 12, I3D 25.0 at 8 to 29.3 at 12); the book's time "
                        "budget stops there",
        "optim.schedule": "every model of the benchmark and the ablations trains within the book's time budget",
        "optim.warmup_epochs": "every model of the benchmark and the ablations trains within the book's time budget",
        "runtime.eval_every": "with the cosine schedule to zero, every recipe's val top-1 was highest after the last "
                              "epoch: one validation, there, leaves the time to training",
        "data.cache": "each clip is decoded once per process and both cores are left to torch",
        "data.num_workers": "each clip is decoded once per process and both cores are left to torch",
        "seeds": "one seed keeps a cold book within its budget; `make book SEEDS=3` trains three",
    },
    "smoke": {key: _SMOKE_WHY for key in ("data.root", "data.synth_profile", "data.short_side", "data.crop_size",
                                          "data.num_workers", "model.size", "model.pretrained", "optim.epochs",
                                          "optim.batch_size", "optim.lr", "optim.schedule", "optim.milestones",
                                          "seeds")},
}


def _preset(profile: str) -> Config:
    if profile == "paper":
        # The official configs' start: torchvision's ImageNet ResNet-50 for MANet/TSN/TSM/TIN, inflated by I3D
        # (model.pretrained="imagenet", the dataclass default; engine.weights fetches it once).
        return Config(profile="paper")
    if profile == "cpu":
        # The laptop book on MA-52-Synth: every value that departs from the paper has its reason in DEPARTURES
        # (printed on the front page beside it), each model family its recipe in FAMILY_RECIPES; the runs that
        # chose them are in docs/measurements.md and the book's study appendix.
        return Config(
            profile="cpu",
            data=DataConfig(synth_profile="cpu", short_side=64, crop_size=56, train_crop="center", flip=False,
                            cache=True, num_workers=0),
            model=ModelConfig(size="cpu", pretrained="synth", frozen_stages=2),
            optim=OptimConfig(name="adamw", epochs=12, batch_size=16, lr=2e-3, weight_decay=0.01, milestones=(),
                              paper_groups=False, schedule="cosine", warmup_epochs=1.0),
            runtime=RuntimeConfig(eval_every=12),
            pretrain=PretrainConfig(clips=6000, frames_per_clip=2, epochs=48),
        )
    if profile == "smoke":
        return Config(
            profile="smoke",
            data=DataConfig(synth_profile="smoke", short_side=40, crop_size=32, num_workers=0),
            model=ModelConfig(size="tiny", pretrained="synth"),
            optim=OptimConfig(epochs=2, batch_size=4, lr=0.01, milestones=(1,)),
            pretrain=PretrainConfig(clips=96, frames_per_clip=2, epochs=2, batch_size=16),
        )
    raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")


@dataclass(frozen=True)
class FamilyRecipe:
    """What a profile sets for some model families on top of its preset, and why (the front page prints both)."""

    name: str  # in words, for the page
    families: tuple[str, ...]  # keys of ma52lib.models.facts.FAMILIES; a model's own facts say its family
    fields: dict[str, Any]  # dotted config fields, as --set takes them
    why: str


# A profile's recipe per model family, applied when the run's model is of one of the families and before the
# caller's overrides (an explicit --set still wins); every recipe a model's family belongs to applies, in order.
# Chosen on the val split (the book's study appendix has the runs).
FAMILY_RECIPES: dict[str, tuple[FamilyRecipe, ...]] = {
    "cpu": (
        FamilyRecipe("video models from a 2-D start", ("inflated", "twin", "vit"),
                     {"optim.lr": 5e-4, "optim.head_lr_mult": 10.0},
                     "their starts are inflated from 2-D networks: with the early stages fixed, the body at a quarter "
                     "of the lr and the new head at 10x, I3D leaves the class prior on val where the profile's "
                     "recipe kept it there (29.3 against 26.1; SlowFast 29.3)"),
        FamilyRecipe("starts pretrained as the model's own 2-D twin", ("twin",),
                     {"pretrain.epochs": 12},
                     "a C3D, a (2+1)-D ResNet or a Swin cannot load a 2-D ResNet: each is pretrained on the same "
                     "stills as itself on one frame, then inflated; 12 epochs fit the time one shipped start may take"),
        FamilyRecipe("a ViT start", ("vit",), {"pretrain.epochs": 24, "pretrain.distill": 1.0},
                     "the small ViT learns the pretext slowly (its linear probe read 19.6 on val after 24 epochs): as "
                     "DeiT does, it also learns from the 2-D ResNet start, a convnet teacher"),
    ),
}


def family_recipe(profile: str, model: str) -> dict[str, Any]:
    """The ``FAMILY_RECIPES`` fields that a run of ``model`` under ``profile`` gets on top of the preset: those of
    the recipes naming the family its facts declare (``ma52lib.models.model_facts``); none without a family."""
    recipes = FAMILY_RECIPES.get(profile, ())
    family = model_facts(model).family if recipes else None
    fields_: dict[str, Any] = {}
    for recipe in recipes:
        if family in recipe.families:
            fields_.update(recipe.fields)
    return fields_


def make_config(profile: str = "cpu", overrides: dict[str, Any] | None = None, **flat: Any) -> Config:
    """The `profile` preset, its recipe for the model's family (``FAMILY_RECIPES``), then dotted overrides, e.g.
    ``{"optim.lr": 0.01}``.

    Every override is applied before any section is validated, so the order of ``--set`` flags never matters
    (``optim.epochs=1`` with ``optim.warmup_epochs=0.25`` is valid in either order)."""
    cfg = _preset(profile)
    merged = dict(overrides or {})
    merged.update({k.replace("__", "."): v for k, v in flat.items()})
    merged = {**family_recipe(profile, str(merged.get("model.name", cfg.model.name))), **merged}
    changes: dict[str, dict[str, Any]] = {}
    for key, value in merged.items():
        section, name, coerced = _parse_override(cfg, key, value)
        changes.setdefault(section, {})[name] = coerced
    return replace(cfg, **{section: replace(getattr(cfg, section), **kw) for section, kw in changes.items()})


def set_field(cfg: Config, dotted: str, value: Any) -> Config:
    """A copy of ``cfg`` with field ``section.name`` set; strings are parsed to the field's type."""
    section, name, coerced = _parse_override(cfg, dotted, value)
    return replace(cfg, **{section: replace(getattr(cfg, section), **{name: coerced})})


def _parse_override(cfg: Config, dotted: str, value: Any) -> tuple[str, str, Any]:
    """(section, field, value parsed to the field's type) of one dotted override, or a clear ValueError."""
    parts = dotted.split(".")
    if len(parts) == 1 and parts[0] == "profile":
        raise ValueError("the profile is chosen with make_config(profile=...), not overridden")
    if len(parts) != 2:
        raise ValueError(f"config keys look like 'optim.lr'; got {dotted!r}. Sections: {_sections()}")
    section, name = parts
    if dotted == "runtime.bf16":
        raise ValueError("runtime.bf16 was replaced by runtime.precision: --set runtime.precision=fp32|bf16|auto "
                         "(auto: bf16 only where this machine runs it natively and faster)")
    if section not in {f.name for f in fields(Config)} or section == "profile":
        raise ValueError(f"unknown config section {section!r} in {dotted!r}; sections: {_sections()}")
    sub = getattr(cfg, section)
    hints = typing.get_type_hints(type(sub))
    if name not in hints:
        names = ", ".join(f.name for f in fields(sub))
        raise ValueError(f"unknown config field {dotted!r}; {section} has: {names}")
    return section, name, _coerce(value, hints[name], dotted)


def _sections() -> str:
    return ", ".join(f.name for f in fields(Config) if f.name != "profile")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Turn a CLI/papermill value into the field's declared type, with a clear error."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is tuple:
        if isinstance(value, str):  # "24", "24,48", "(24, 48)" or "[24, 48]"
            value = [v for v in value.strip("()[] ").split(",") if v.strip()]
        return tuple(_coerce(v, args[0], key) for v in value)
    try:
        if hint is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if hint is float:
            return float(value)
        if hint is str:
            return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} expects {getattr(hint, '__name__', hint)}, got {value!r}") from None
    return value


def to_dict(cfg: Config) -> dict[str, Any]:
    """Plain nested dict (JSON-ready) of a config."""
    return dataclasses.asdict(cfg)


def from_dict(raw: dict[str, Any]) -> Config:
    """Inverse of ``to_dict`` (unknown keys are an error: a config from another version)."""
    kwargs: dict[str, Any] = {}
    hints = typing.get_type_hints(Config)
    for key, value in raw.items():
        if key not in hints:
            raise ValueError(f"unknown config section {key!r}")
        cls = hints[key]
        if key == "runtime" and "bf16" in value:  # a run made before runtime.precision existed
            value = {k: v for k, v in value.items() if k != "bf16"}
            value.setdefault("precision", "bf16" if raw[key]["bf16"] else "fp32")
        if is_dataclass(cls):
            sub_hints = typing.get_type_hints(cls)
            unknown = set(value) - set(sub_hints)
            if unknown:
                raise ValueError(f"unknown fields in {key}: {sorted(unknown)}")
            kwargs[key] = cls(**{k: _coerce(v, sub_hints[k], f"{key}.{k}") for k, v in value.items()})
        else:
            kwargs[key] = value
    return Config(**kwargs)


# Fields that change how a run executes but never its numbers: left out of the hash.
_NOT_HASHED = {("data", "num_workers"), ("runtime", "threads")}
# Fields added after runs were made, hashed only when set away from this default: older runs keep their names.
_HASHED_WHEN_SET = {("data", "sampler"): "instance", ("model", "frozen_stages"): -1, ("optim", "head_lr_mult"): 1.0,
                    ("model", "shift_div"): 8}


def config_hash(cfg: Config) -> str:
    """12 hex digits identifying everything that can change a run's results.

    The pretrain section is left out: a run that uses the pretrained backbone names its pretraining run
    (with that run's own hash) in ``model.pretrained`` once resolved (ma52lib.engine.resolve).
    """
    raw = to_dict(cfg)
    raw.pop("pretrain")
    for section, name in _NOT_HASHED:
        raw[section].pop(name, None)
    for (section, name), default in _HASHED_WHEN_SET.items():
        if raw[section][name] == default:
            raw[section].pop(name)
    text = json.dumps(raw, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_name(cfg: Config) -> str:
    """Folder name of a run: ``<model>-<profile>-<hash>`` (a model path ``pkg.mod:build`` as ``pkg.mod_build``)."""
    model = re.sub(r"[^A-Za-z0-9_.]+", "_", cfg.model.name)
    return f"{model}-{cfg.profile}-{config_hash(cfg)}"


def save_config(cfg: Config, path: Path) -> None:
    """Write the resolved config as JSON next to the run's results (atomically: a kill never truncates it)."""
    atomic_write_text(path, json.dumps(to_dict(cfg), indent=2, sort_keys=True) + "\n")


def load_config(path: Path) -> Config:
    """Read a config.json written by ``save_config``."""
    return from_dict(json.loads(Path(path).read_text()))


def describe_fields() -> list[tuple[str, str, str]]:
    """(dotted name, type, default in the paper profile) for every field, for --help and the book."""
    rows = []
    base = Config()
    for section in fields(Config):
        if section.name == "profile":
            continue
        sub = getattr(base, section.name)
        hints = typing.get_type_hints(type(sub))
        for f in fields(sub):
            hint = hints[f.name]
            rows.append((f"{section.name}.{f.name}", _hint_name(hint), repr(getattr(sub, f.name))))
    return rows


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
