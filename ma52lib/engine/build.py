"""Turn a Config into the objects of a run: data root, label embeddings, model, datasets, loaders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from ma52lib.config import Config
from ma52lib.data.dataset import MA52Dataset, collate
from ma52lib.embeddings import label_embeddings
from ma52lib.engine.pretrain import SYNTH, backbone_file
from ma52lib.labels import NUM_CLASSES
from ma52lib.models import build_model, model_facts
from ma52lib.models.convert import read_state_dict
from ma52lib.models.published import load_published, matches
from ma52lib.synth import synthesize
from ma52lib.workers import refuse_in_bootstrap, usable_workers


def resolve_data_root(cfg: Config, *, progress: bool = True) -> Path:
    """The dataset folder: ``data.root`` if given, else MA-52-Synth of the profile (made once, cached)."""
    if cfg.data.root:
        root = Path(cfg.data.root).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(
                f"data.root {root} is not a folder. Point --data-root at the MA-52 download (the folder "
                "holding train_list_videos.txt and videos_train/), or leave it out to use MA-52-Synth."
            )
        return root
    if cfg.profile == "paper":
        # The paper profile trains a ResNet-50 for 80 epochs: on the laptop-sized MA-52-Synth that would be
        # days of CPU time for nothing the cpu profile does not show.
        raise ValueError(
            "the paper profile is the official recipe for the real MA-52: pass --data-root (the download, see "
            "README 'The real MA-52'). For MA-52-Synth use --profile cpu, or render the full-size analogue with "
            "`ma52 synth --profile full --out DIR` and pass --data-root DIR."
        )
    return synthesize(profile=cfg.data.synth_profile, seed=cfg.data.synth_seed, progress=progress)


def embedding_table(cfg: Config) -> torch.Tensor | None:
    """The [52, D] label-embedding table of the joint loss, or None when the loss is plain CE."""
    if cfg.loss.weight <= 0 or not cfg.model.embedding:
        return None
    return label_embeddings(cfg.loss.embeddings)


def embedding_dim(cfg: Config) -> int | None:
    """Width D of the label embeddings the joint loss compares with (the model's embedding branch), or None."""
    table = embedding_table(cfg)
    return None if table is None else int(table.shape[1])


def model_options(cfg: Config, emb_dim: int | None, published: Path | None = None) -> dict[str, Any]:
    """Keyword options for ``build_model`` from the model section of the config: the common ones, and the
    fields the model's ``facts`` say it reads. A start in its publisher's layout (``published``, from
    ``published_file``) is loaded after the model is built, not by the constructor."""
    m = cfg.model
    opts: dict[str, Any] = {"dropout": m.dropout, "size": m.size}
    if m.pretrained and published is None:  # a resolved value ("synth" or "imagenet" alone is an error)
        opts["pretrained"] = str(backbone_file(m.pretrained))
    for name in ("depth", "width"):
        if getattr(m, name) is not None:
            opts[name] = getattr(m, name)
    own = model_facts(m.name).options
    opts.update({name: getattr(m, name) for name in own if name != "embedding"})
    if "embedding" in own:
        # No embedding branch without the joint loss: it would be dead weight (and break DDP).
        opts["embedding"] = m.embedding and emb_dim is not None
        if opts["embedding"]:
            opts["emb_dim"] = emb_dim
    return opts


def memory_format_of(model: nn.Module) -> torch.memory_format:
    """The layout a model's convolutions run fastest in (models may declare ``memory_format``)."""
    declared = getattr(model, "memory_format", None)
    if declared is not None:
        return declared
    has_3d = any(isinstance(m, nn.Conv3d) for m in model.modules())
    return torch.channels_last_3d if has_3d else torch.channels_last


def without_weights(cfg: Config) -> Config:
    """``cfg`` for a randomly initialised model: for shapes and timings, or before a checkpoint replaces every weight
    (no pretrained backbone needs to exist then)."""
    return replace(cfg, model=replace(cfg.model, pretrained=None))


def published_file(cfg: Config) -> Path | None:
    """The start file of a resolved config when it is in the publisher's layout of the model's paper start
    (``ModelFacts.published``: "paper:<file>", or a file of your own in that layout), else None."""
    value, start = cfg.model.pretrained, model_facts(cfg.model.name).published
    if not value or start is None or value.startswith(f"{SYNTH}:"):
        return None
    path = backbone_file(value)
    if value.startswith("paper:") or not path.is_file():
        return path
    with torch.device("meta"):  # only its names are read: no memory, no init
        probe = build_model(cfg.model.name, num_classes=NUM_CLASSES, num_segments=cfg.model.num_segments,
                            size=cfg.model.size)
    return path if matches(probe, read_state_dict(path), start) else None


def build_model_for(cfg: Config, emb_dim: int | None = None) -> nn.Module:
    """The network a config describes (random init unless ``model.pretrained``; a published start is converted to
    our names, ``ma52lib.models.published``)."""
    path = published_file(cfg)  # once: for a file of your own it reads the file to see its layout
    model = build_model(cfg.model.name, num_classes=NUM_CLASSES, num_segments=cfg.model.num_segments,
                        **model_options(cfg, emb_dim, path))
    if path is not None:
        load_published(model, path, model_facts(cfg.model.name).published)
    return model


def build_model_to_train(cfg: Config, emb_dim: int | None = None) -> tuple[nn.Module, int]:
    """The network a run trains: ``build_model_for`` with ``model.frozen_stages`` fixed; and how many parameters
    that froze (the engine and ``ma52 bench`` take the same step)."""
    model = build_model_for(cfg, emb_dim)
    return model, freeze_stages(model, cfg.model.frozen_stages)


def freeze_stages(model: nn.Module, stages: int) -> int:
    """Fix the weights of the stem (``stages >= 0``) and of stages 1..``stages`` of ``model``; returns how many
    parameters were frozen. BatchNorm keeps batch statistics."""
    if stages < 0:
        return 0
    modules = stage_modules(model)[: stages + 1]
    frozen = [p for m in modules for p in m.parameters()]
    for p in frozen:
        p.requires_grad_(False)
    return sum(p.numel() for p in frozen)


def stage_modules(model: nn.Module) -> list[nn.Module]:
    """The stem and the four stages of ``model``, in order: its own ``stage_modules()``, or those of its ``backbone``,
    a torchvision ResNet or an inflated one (MANet, TSN, TSM, TIN, I3D)."""
    if hasattr(model, "stage_modules"):
        return list(model.stage_modules())
    backbone = getattr(model, "backbone", None)
    if not all(hasattr(backbone, name) for name in ("conv1", "bn1", "layer1")):
        raise ValueError(f"model.frozen_stages needs a backbone with a stem and stages (a ResNet); "
                         f"{type(model).__name__} has none")
    return [nn.ModuleList([backbone.conv1, backbone.bn1])] + [getattr(backbone, f"layer{i}") for i in range(1, 5)]


def build_dataset(cfg: Config, root: Path, split: str, model: nn.Module, *, train: bool):
    """An MA52Dataset sampling frames the way ``model`` expects."""
    return MA52Dataset(
        root,
        split,
        num_segments=model.num_frames,
        sampling=model.sampling,
        frame_interval=model.frame_interval,
        train=train,
        short_side=cfg.data.short_side,
        crop_size=cfg.data.crop_size,
        scales=cfg.data.scales,
        flip=cfg.data.flip,
        train_crop=cfg.data.train_crop,
        on_error=cfg.data.on_error,
        cache=cfg.data.cache,
        seed=cfg.runtime.seed,
    )


class EpochSampler(Sampler):
    """A DistributedSampler (or ClassSampler) whose items are ``(index, epoch)``: the dataset reads the epoch
    from the key.

    Loader workers then need no ``set_epoch`` of their own, so they can stay alive across epochs
    (``persistent_workers``) while augmentations remain a pure function of (seed, epoch, index).
    """

    def __init__(self, base: DistributedSampler | ClassSampler) -> None:
        self.base = base
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch of the shuffle and of the augmentations."""
        self.epoch = int(epoch)
        self.base.set_epoch(self.epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        return ((int(i), epoch) for i in self.base)

    def __len__(self) -> int:
        return len(self.base)


class ClassSampler(Sampler):
    """``len(labels)`` draws with replacement per epoch, a clip of class c with probability ~ count_c ** -power
    (power 0.5: classes drawn ~ sqrt(count); 1: every class equally often). The draw depends on (seed, epoch)
    only; with several processes each takes every ``world``-th draw of the same sequence."""

    def __init__(self, labels: np.ndarray, *, power: float, seed: int, rank: int = 0, world: int = 1) -> None:
        counts = np.bincount(labels)
        self.weights = torch.as_tensor(counts[labels] ** -float(power), dtype=torch.float64)
        self.seed, self.rank, self.world = seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch of the draw."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        draws = torch.multinomial(self.weights, len(self.weights), replacement=True, generator=gen)
        return iter(draws[self.rank::self.world].tolist())

    def __len__(self) -> int:
        return len(range(self.rank, len(self.weights), self.world))


SAMPLER_POWER = {"sqrt": 0.5, "class": 1.0}


def build_loader(cfg: Config, dataset, *, train: bool, rank: int = 0, world: int = 1, pin: bool = False) -> DataLoader:
    """A loader whose order depends only on (seed, epoch): DistributedSampler even with one process.

    ``pin`` (set it when the model is on a GPU) returns batches in page-locked memory, so
    ``.to(device, non_blocking=True)`` overlaps the copy with compute.
    """
    sampler: Sampler
    if train and cfg.data.sampler != "instance":
        sampler = ClassSampler(dataset.labels, power=SAMPLER_POWER[cfg.data.sampler], seed=cfg.runtime.seed,
                               rank=rank, world=world)
    else:
        sampler = DistributedSampler(
            dataset, num_replicas=world, rank=rank, shuffle=train, seed=cfg.runtime.seed, drop_last=False
        )
    # Datasets that read the epoch from the key (MA52Dataset) keep their workers across epochs;
    # any other dataset gets workers forked per epoch, which see its set_epoch.
    epoch_keys = getattr(dataset, "epoch_keys", False)
    if epoch_keys:
        sampler = EpochSampler(sampler)
    sampler.set_epoch(getattr(dataset, "epoch", 0))
    # Loader workers use the platform's start method, as PyTorch does (fork on Linux up to Python 3.13:
    # no re-import of the main module; forcing fork elsewhere is unsafe). Where workers would have to
    # import a main module that is no file (stdin), the loader reads in this process: same batches.
    refuse_in_bootstrap("a data loader")
    workers = usable_workers(cfg.data.num_workers, what="loading data")
    return DataLoader(
        dataset,
        batch_size=cfg.optim.batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin and torch.cuda.is_available(),
        # Workers live across epochs (no re-fork, no empty pipeline at each epoch start); the
        # epoch reaches them inside each key of EpochSampler.
        persistent_workers=workers > 0 and epoch_keys,
        # Enough batches in flight to cover a slow clip; with many workers two each is plenty and
        # keeps pinned memory bounded (a paper-size batch is ~50 MB).
        prefetch_factor=(4 if workers < 4 else 2) if workers > 0 else None,
    )


def default_threads(cfg: Config, *, cuda: bool = False, cores: int | None = None, current: int | None = None) -> int:
    """Intra-op threads of the training process when ``runtime.threads`` is unset: the cores the loader
    workers leave free, at least one (with a GPU at most four: the process only launches kernels), and
    never more than the process already runs (``current``, default ``torch.get_num_threads()``, which
    OMP_NUM_THREADS or a test's ``torch.set_num_threads`` may have lowered).

    Each worker decodes on one core. OpenMP threads that share cores with it wait at every barrier
    for a descheduled sibling: on 2 cores with one worker, 2 threads trained MANet (cpu profile)
    slower than 1, and several times slower while other processes ran (``ma52 bench``'s loop grid).
    """
    if cfg.runtime.threads:
        return int(cfg.runtime.threads)
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    free = min(max(1, cores - cfg.data.num_workers), current or torch.get_num_threads())
    return min(4, free) if cuda else free
