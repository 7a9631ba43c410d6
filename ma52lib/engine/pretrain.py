"""Where a run's weights start (``model.pretrained``), and the ImageNet analogue: starts pretrained once on
rendered still frames, loaded by the video models.

The paper's TSN, TSM, TIN and MANet start from an ImageNet ResNet-50 and its I3D inflates one (their
mmaction2 configs); C3D starts from Sports-1M video weights, TimeSformer / Video Swin from ImageNet ViT /
Swin weights, R(2+1)D and SlowFast from scratch (each model says where the paper starts it: its ``facts``,
``ma52lib.models.facts``). ``model.pretrained="imagenet"`` (the paper profile) gives every model the paper's
start: the first group torchvision's ImageNet ResNet (``ma52lib.engine.weights``), C3D, TimeSformer, R(2+1)D, Video
Swin and SlowFast the published file of ``ModelFacts.published`` ("paper:<file>", converted by
``ma52lib.models.published``; R(2+1)D and SlowFast from Kinetics-400, a departure); each departure from the field's
config is said with the start (``ModelFacts.departure``).

``model.pretrained="synth"`` (the cpu and smoke profiles) gives every model a start trained on
``pretrain.clips x pretrain.frames_per_clip`` frames of MA-52-Synth's renderer (new participants, random
micro-action poses) to segment the drawn body parts and locate 23 joints (``ma52lib.models.pretext``), never
on action labels: a 2-D ResNet for the models whose backbone is or inflates one (I3D and SlowFast inflate it),
and for C3D, R(2+1)D, TimeSformer and Video Swin, which cannot load a ResNet, the model itself on single
frames (its own 2-D twin, ``still_maps``), then inflated to clips (``inflate_still``), as the field inflates
its image starts. ``pretrain.distill`` adds DeiT's distillation from the 2-D ResNet start.

A pretraining run is named ``pretrain-r<depth>w<width>-<hash>`` (or ``pretrain-<model>-<size>-<hash>``) after
everything that shapes it (the pretrain section, the network, the frame size and crop of the data) and lives
beside the other runs (``backbone.pt``, ``results.json``, ``train.log``); every run that uses it carries its
name in ``model.pretrained`` ("synth:<name>"), so a changed pretraining is a new run all the way down, and an
unchanged one is trained once. The rendered stills are cached under the data folder (``cached_stills``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from ma52lib.config import Config, make_config
from ma52lib.data.transforms import MEAN, STD, center_crop_box, short_side_size
from ma52lib.engine.progress import report
from ma52lib.engine.starts import provenance_of, shipped_file, shipped_path
from ma52lib.engine.weights import (
    DIGEST,
    IMAGENET,
    WeightsUnavailable,
    cache_dir,
    cache_path,
    fetch,
    fetch_url,
    file_name,
    imagenet_weights,
    published_prefix,
    sha256_of,
    split_digest,
    url_cache_path,
    url_file,
    with_digest,
)
from ma52lib.files import atomic_write_text, file_lock
from ma52lib.labels import NUM_CLASSES
from ma52lib.models import build_model, model_facts
from ma52lib.models.convert import read_state_dict
from ma52lib.models.manet import build_resnet
from ma52lib.models.pretext import PretextNet, StillPretextNet
from ma52lib.paths import data_dir, runs_dir
from ma52lib.synth import PROFILES as SYNTH_PROFILES
from ma52lib.synth import generator_fingerprint
from ma52lib.synth import stills as stills_module
from ma52lib.synth.stills import KEYPOINTS, NUM_TAGS, Stills, render_stills

SYNTH = "synth"
PUBLISHED = "paper"  # a resolved published start: "paper:<file in torch's cache>@sha256:<hex>"
PRETEXT_DROPOUT = 0.5
JITTER = 4  # pixels of random crop translation in pretraining (the video models see the centre crop)
_MEAN = torch.tensor(MEAN).view(1, 3, 1, 1)
_STD = torch.tensor(STD).view(1, 3, 1, 1)


def backbone_spec(cfg: Config) -> tuple[int, int] | None:
    """(depth, width) of the 2-D ResNet the model's backbone is (or inflates), or None when the paper does not
    ImageNet-initialise the model (the model's ``facts`` say which)."""
    m = cfg.model
    return model_facts(m.name).resnet_shape(m.size, m.depth, m.width)


def _stills_identity(cfg: Config) -> dict[str, Any]:
    """What every pretraining run depends on besides its network: the pretrain section and the stills' geometry."""
    size = SYNTH_PROFILES[cfg.data.synth_profile].size
    fps = SYNTH_PROFILES[cfg.data.synth_profile].fps
    # Fields added later count only when set, so the runs made before them keep their names.
    pretrain = {k: v for k, v in asdict(cfg.pretrain).items() if not (k == "distill" and v == 0.0)}
    return {"pretrain": pretrain, "frame_size": list(size), "fps": fps, "short_side": cfg.data.short_side,
            "crop_size": cfg.data.crop_size, "version": 1}


def identity(cfg: Config, depth: int, width: int) -> dict[str, Any]:
    """Everything a pretraining run of a 2-D ResNet depends on."""
    return {**_stills_identity(cfg), "depth": depth, "width": width}


def start_identity(cfg: Config) -> dict[str, Any] | None:
    """Everything the "synth" start of ``cfg``'s model depends on: its 2-D ResNet's pretraining, or the model's own
    pretraining on stills (``ModelFacts.still_start``, keyed by the model and its size); None when it has neither."""
    spec = backbone_spec(cfg)
    if spec is not None:
        return identity(cfg, *spec)
    if not model_facts(cfg.model.name).still_start:
        return None
    m = cfg.model
    # The pretext trains with the models' default dropout whatever the fine-tune's (C3D's fc6 dropout acts on stills);
    # depth and width None: the size preset's.
    ident = {**_stills_identity(cfg), "depth": m.depth, "width": m.width, "model": m.name, "size": m.size,
             "dropout": PRETEXT_DROPOUT}
    if cfg.pretrain.distill:
        ident["teacher"] = teacher_config(cfg).model.pretrained
    return ident


def teacher_config(cfg: Config) -> Config:
    """The config whose start teaches a still-pretrained model (``pretrain.distill``): the profile's own 2-D ResNet
    start (MANet's, with the profile's pretraining), resolved."""
    return resolve_pretrained(make_config(cfg.profile, {"model.name": "manet", "model.pretrained": SYNTH,
                                                        "data.root": cfg.data.root,
                                                        "data.synth_profile": cfg.data.synth_profile}))


def run_name_of(ident: dict[str, Any]) -> str:
    """``pretrain-r<depth>w<width>-<12 hex digits>`` (a 2-D ResNet) or ``pretrain-<model>-<size>-<12 hex digits>``."""
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]
    if "model" in ident:
        return f"pretrain-{ident['model']}-{ident['size']}-{digest}"
    return f"pretrain-r{ident['depth']}w{ident['width']}-{digest}"


def resolve_pretrained(cfg: Config, *, fetch_weights: bool = False, use_shipped: bool = True) -> Config:
    """``model.pretrained`` made concrete: "synth" -> "synth:<pretraining run>", "imagenet" ->
    "imagenet:<file>@sha256:<hex>" for the models the paper ImageNet-initialises (None, random init, for the
    others), a file -> "<path>@sha256:<hex>". A shipped start (``engine.starts``) is named with its recorded sha256
    ("synth:<run>@sha256:<hex>") unless ``use_shipped`` is False (``ma52 pretrain --ship`` trains it here). With
    ``fetch_weights`` (a run about to start) torchvision's file is downloaded when it is not cached and a missing
    file is an error; without, they stay without a digest.

    ``model.frozen_stages`` applies to the 2-D ResNets (``ModelFacts.freezable``); a model without one (the 3-D models,
    the transformers, I3D's inflated backbone, a model of your own) trains every layer (-1) under the same
    profile, and so does a model that "synth" or "imagenet" leaves at random init (nothing learnt to keep fixed)."""
    model = cfg.model
    value = model.pretrained
    if value == SYNTH:
        ident = start_identity(cfg)
        model = replace(model, pretrained=None if ident is None else _synth_value(run_name_of(ident), use_shipped))
    elif value and _is_imagenet(value):
        model = replace(model, pretrained=_resolve_imagenet(cfg, fetch_weights))
    elif value and not value.startswith(f"{SYNTH}:"):
        model = replace(model, pretrained=_resolve_file(value, fetch_weights))
    if value and model.pretrained is None:
        model = replace(model, frozen_stages=-1)
    if not model_facts(model.name).freezable:
        model = replace(model, frozen_stages=-1)
    return cfg if model == cfg.model else replace(cfg, model=model)


def _synth_value(run: str, use_shipped: bool) -> str:
    """"synth:<run>", with the shipped file's recorded sha256 when the run is shipped (``engine.starts``): a
    changed shipped file is then a new run all the way down."""
    shipped = shipped_file(run) if use_shipped else None
    return f"{SYNTH}:{run}" if shipped is None else f"{SYNTH}:{run}{DIGEST}{provenance_of(shipped)['sha256']}"


def _is_imagenet(value: str) -> bool:
    """Whether ``value`` names the paper's start ("imagenet", or a resolved "imagenet:" / "paper:" value)."""
    return value == IMAGENET or value.startswith((f"{IMAGENET}:", f"{PUBLISHED}:"))


def _resolve_imagenet(cfg: Config, fetch_weights: bool) -> str | None:
    """"imagenet:<file>@sha256:<hex>" for this config's backbone, or "paper:<file>@sha256:<hex>" for a model the
    paper starts from a published file (``ModelFacts.published``); without the digest while the file is not here."""
    if model_facts(cfg.model.name).published is not None:
        return _resolve_published(cfg, fetch_weights)
    spec = backbone_spec(cfg)
    if spec is None or not model_facts(cfg.model.name).paper_imagenet:
        return None
    weights = imagenet_weights(*spec)
    path = fetch(weights) if fetch_weights else cache_path(weights)
    name = f"{IMAGENET}:{file_name(weights)}"
    return with_digest(name, path) if path.is_file() else name


def _resolve_published(cfg: Config, fetch_weights: bool) -> str:
    """"paper:<file>@sha256:<hex>": the published start of ``cfg``'s model, which fits its paper size only."""
    m, start = cfg.model, model_facts(cfg.model.name).published
    if m.size != "paper" or m.depth is not None or m.width is not None:
        raise ValueError(f"model.pretrained={IMAGENET}: {start.what} fits {m.name} at model.size=paper only; use the "
                         "paper size, model.pretrained=synth or model.pretrained=none")
    path = fetch_url(start.url, start.what) if fetch_weights else url_cache_path(start.url)
    name = f"{PUBLISHED}:{url_file(start.url)}"
    return with_digest(name, path) if path.is_file() else name


def _resolve_file(value: str, fetch_weights: bool) -> str:
    """A local weights file named with its sha256 (an error for a run about to start when it is missing)."""
    name, _ = split_digest(value)
    path = Path(name).expanduser()
    if path.is_file():
        return with_digest(name, path)
    if fetch_weights:
        raise FileNotFoundError(f"model.pretrained={name}: no such file; pass the path of a torchvision ResNet "
                                "state_dict, or model.pretrained=none to train from random init")
    return value


def start_pending(cfg: Config) -> bool:
    """True when ``model.pretrained`` names a file not on this machine yet (no digest): the run folder's name waits."""
    value = cfg.model.pretrained
    return bool(value) and not value.startswith(f"{SYNTH}:") and split_digest(value)[1] is None


def _shipped(value: str) -> bool:
    """Whether a resolved "synth:<run>" value names a shipped start (it carries the file's sha256)."""
    return value.startswith(f"{SYNTH}:") and split_digest(value)[1] is not None


def describe_start(cfg: Config) -> str:
    """Where a resolved config's weights start, in words, for the run's log and ``--print-config``."""
    value, name = cfg.model.pretrained, cfg.model.name
    if not value:
        return f"random initialisation ({model_facts(name).paper_start})"
    path, digest = backbone_file(value), split_digest(value)[1]
    if _shipped(value):
        record = provenance_of(path)
        return (f"the ImageNet analogue shipped with ma52, {path.name} (made by `{record['command']}` in "
                f"{record['minutes']} min on {record['machine']}; sha256 {digest})")
    if value.startswith(f"{SYNTH}:"):
        return f"the ImageNet analogue, {path} (pretraining run {path.parent.name})"
    where = f"{path}, sha256 {digest}" if digest else f"{path}, not on this machine yet"
    if not _is_imagenet(value):
        return where if digest else f"{path}: no such file"
    facts = model_facts(name)
    fetched = "" if digest else " (the first `ma52 train` downloads it)"
    departs = f"; a departure: {facts.departure}" if facts.departure else ""
    if value.startswith(f"{PUBLISHED}:"):
        prefix = published_prefix(facts.published.url)
        checked = (f"; the download is checked against the sha256 prefix {prefix} its name carries" if prefix else
                   "; no checksum is published for it: the sha256 is the one computed on this machine")
        return f"{facts.published.what}, from {facts.published.url}: {where}{fetched}{checked}{departs}"
    depth, width = backbone_spec(cfg) or (0, 0)
    inflated = ", inflated to 3-D" if name == "i3d" else ""
    return (f"torchvision's {imagenet_weights(depth, width)} (mmcv's torchvision://resnet{depth}){inflated}: "
            f"{where}{fetched}{departs}")


def backbone_file(pretrained: str) -> Path:
    """The weights file a resolved ``model.pretrained`` value names ("synth:<run>", "imagenet:<file>", a path)."""
    pretrained, digest = split_digest(pretrained)
    if pretrained.startswith(f"{SYNTH}:"):
        run = pretrained.split(":", 1)[1]
        return shipped_path(run) if digest else runs_dir() / run / "backbone.pt"
    if pretrained.startswith((f"{IMAGENET}:", f"{PUBLISHED}:")):
        return cache_dir() / pretrained.split(":", 1)[1]
    if pretrained in (SYNTH, IMAGENET):
        raise ValueError(f"model.pretrained={pretrained!r} must be resolved first (engine.pretrain.resolve_pretrained)")
    return Path(pretrained).expanduser()


def ensure_pretrained(cfg: Config, *, echo: Callable[[str], None] | None = print) -> Path | None:
    """The start weights' file of a resolved config (None for random init): the pretraining run a "synth:" value
    names is trained if it is not there yet; a file named by its sha256 must still have it."""
    value = cfg.model.pretrained
    if not value:
        return None
    if not value.startswith(f"{SYNTH}:") or _shipped(value):
        return _checked_file(value)
    path = backbone_file(value)
    ident = start_identity(cfg)
    if ident is None or path.parent.name != run_name_of(ident):
        raise ValueError(f"model.pretrained={value!r} does not match this config's backbone; use "
                         f"model.pretrained={SYNTH!r} and let ma52 resolve it")
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path.parent / ".lock"):  # one process pretrains; the others wait and reuse it
        if not path.exists():
            pretrain(cfg, ident, out=path.parent, echo=echo)
    return path


def resnet_start(cfg: Config) -> torch.nn.Module:
    """The 2-D ResNet of ``cfg``'s start (``backbone_spec``) with its weights (random init when ``model.pretrained`` is
    none), in evaluation mode: what the linear probe measures and what ``pretrain.distill`` learns from."""
    net = build_resnet(*backbone_spec(cfg))
    path = ensure_pretrained(cfg)
    if path is not None:
        state = {k: v.float() for k, v in read_state_dict(path).items() if not k.startswith("fc.")}
        net.load_state_dict(state, strict=False)
    return net.to(memory_format=torch.channels_last).eval()


def _checked_file(value: str) -> Path:
    """The file a "<name>@sha256:<hex>" value names, when it is there with that digest."""
    path, digest = backbone_file(value), split_digest(value)[1]
    if digest is None or not path.is_file():
        raise WeightsUnavailable(f"model.pretrained={value}: {path} is not here; put the file there, or pass "
                                 "--set model.pretrained=/path/to/file (model.pretrained=none: random init)")
    if sha256_of(path) != digest and _shipped(value):
        raise ValueError(f"{path} is not the shipped start this run names (sha256 {sha256_of(path)[:12]}..., "
                         f"recorded {digest[:12]}...); restore it with git, or check them all: ma52 pretrain --check")
    if sha256_of(path) != digest:
        raise ValueError(f"model.pretrained={value}: {path} has changed (sha256 {sha256_of(path)}); start a new run "
                         "with model.pretrained=imagenet or the file's path, which names the file it finds")
    return path


def pretrain(cfg: Config, ident: dict[str, Any], *, out: Path, echo: Callable[[str], None] | None = print) -> Path:
    """Render the stills, train the pretext network of ``ident`` (``start_identity``) on them, write its start as
    ``backbone.pt`` and ``results.json`` into ``out``."""
    p = cfg.pretrain
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train.log"

    def say(msg: str) -> None:  # echoed, and kept in the run's train.log
        if echo:
            echo(msg)
        with open(log_path, "a") as fh:
            fh.write(time.strftime("%Y-%m-%d %H:%M:%S ") + msg + "\n")

    atomic_write_text(out / "config.json", json.dumps(ident, indent=1) + "\n")
    t0 = time.perf_counter()
    say(f"pretraining {out.name} on {p.clips * p.frames_per_clip} still frames (rendered once, then cached)")
    report("pretrain", run=out.name, epoch=0, epochs=p.epochs)  # progress hook (`ma52 reproduce`)
    stills = cached_stills(cfg, tuple(ident["frame_size"]), ident["fps"], progress=echo is not None)
    data = _Frames.from_stills(stills, cfg.data.short_side, cfg.data.crop_size)
    render_s = time.perf_counter() - t0
    teacher = resnet_start(teacher_config(cfg)) if "teacher" in ident else None
    net, history = _fit(data, cfg, pretext_net(cfg, ident, teacher), teacher, out.name, say)
    torch.save(start_weights(net), out / "backbone.partial.pt")
    (out / "backbone.partial.pt").replace(out / "backbone.pt")  # complete or absent
    results = {"run": out.name, "identity": ident, "frames": len(data.images), "render_seconds": render_s,
               "train_seconds": time.perf_counter() - t0 - render_s, "history": history, "final": history[-1]}
    atomic_write_text(out / "results.json", json.dumps(results, indent=1) + "\n")
    say(f"pretraining done in {time.perf_counter() - t0:.0f} s: {_describe(history[-1])}")
    return out / "backbone.pt"


def pretext_net(cfg: Config, ident: dict[str, Any],
                teacher: torch.nn.Module | None = None) -> PretextNet | StillPretextNet:
    """The network a pretraining run trains (seeded by ``pretrain.seed``): a 2-D ResNet, or the model on stills."""
    torch.manual_seed(cfg.pretrain.seed)
    if "model" not in ident:
        net = PretextNet(depth=ident["depth"], width=ident["width"], num_tags=NUM_TAGS, num_joints=len(KEYPOINTS))
        return net.to(memory_format=torch.channels_last)
    options = {k: ident[k] for k in ("depth", "width") if ident[k] is not None}
    model = build_model(ident["model"], num_classes=NUM_CLASSES, num_segments=cfg.model.num_segments,
                        size=ident["size"], dropout=ident["dropout"], **options)
    teacher_dim = 0
    if teacher is not None:
        with torch.no_grad():  # the width of its pooled feature
            teacher_dim = teacher(torch.zeros(1, 3, cfg.data.crop_size, cfg.data.crop_size)).shape[1]
    return StillPretextNet(model, crop=cfg.data.crop_size, num_tags=NUM_TAGS, num_joints=len(KEYPOINTS),
                           teacher_dim=teacher_dim)


def start_weights(net: PretextNet | StillPretextNet) -> dict[str, torch.Tensor]:
    """What a pretraining run keeps: the ResNet backbone (torchvision key names), or the whole model but its
    classifier, inflated from its 2-D twin to clip weights (``inflate_still``)."""
    if isinstance(net, PretextNet):
        return net.backbone.state_dict()
    net.model.inflate_still()
    return {k: v for k, v in net.model.state_dict().items() if not k.startswith("fc_cls.")}


def cached_stills(cfg: Config, size: tuple[int, int], fps: int, *, progress: bool) -> Stills:
    """The pretraining's stills (``pretrain.clips``, ``frames_per_clip``, ``seed``), rendered once per renderer
    version and kept under the data folder: every start of the profile pretrains on the same frames."""
    p = cfg.pretrain
    renderer = hashlib.sha256((generator_fingerprint() + Path(stills_module.__file__).read_text()).encode())
    name = (f"stills-{p.clips}x{p.frames_per_clip}-{size[0]}x{size[1]}-{fps}fps-seed{p.seed}-"
            f"{renderer.hexdigest()[:12]}.npz")
    path = data_dir() / "stills" / name
    if path.is_file():
        with np.load(path) as arrays:
            return Stills(arrays["images"], arrays["tags"], arrays["joints"])
    stills = render_stills(p.clips, frames_per_clip=p.frames_per_clip, size=size, fps=fps, seed=p.seed,
                           progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.npz")
    np.savez(partial, images=stills.images, tags=stills.tags, joints=stills.joints)
    partial.replace(path)  # complete or absent
    return stills


class _Frames:
    """Stills in the video pipeline's geometry: short side resized, uint8 images, tags and joints in pixels."""

    def __init__(self, images: torch.Tensor, tags: torch.Tensor, joints: torch.Tensor, crop: int) -> None:
        self.images, self.tags, self.joints, self.crop = images, tags, joints, crop

    @classmethod
    def from_stills(cls, stills: Any, short_side: int, crop: int) -> _Frames:
        h, w = stills.images.shape[1:3]
        new_h, new_w = short_side_size(h, w, short_side)
        images = TF.resize(torch.from_numpy(stills.images).permute(0, 3, 1, 2), [new_h, new_w], antialias=True)
        tags = TF.resize(torch.from_numpy(stills.tags.astype(np.uint8))[:, None], [new_h, new_w],
                         interpolation=InterpolationMode.NEAREST)[:, 0].long()  # [N, h, w]
        joints = torch.from_numpy(stills.joints) * torch.tensor([new_w / w, new_h / h])  # [N, K, 2]
        return cls(images.contiguous(), tags, joints, crop)

    def batch(self, index: torch.Tensor, offset: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Crops at ``offset`` (top, left): normalised images, tags at stride 4, joints in [-1, 1] crop units."""
        top, left, c = offset[0], offset[1], self.crop
        x = self.images[index, :, top:top + c, left:left + c].float().sub_(_MEAN).div_(_STD)
        x = x.contiguous(memory_format=torch.channels_last)  # [B, 3, c, c]
        tags = self.tags[index, top + 2:top + c:4, left + 2:left + c:4]  # centre of each stride-4 cell
        joints = (self.joints[index] - torch.tensor([left, top])) / (c / 2) - 1.0
        return x, tags, joints

    def offset(self, gen: torch.Generator | None) -> tuple[int, int]:
        """The centre crop's (top, left), moved by up to JITTER pixels when ``gen`` is given."""
        top, left, _, _ = center_crop_box(self.images.shape[2], self.images.shape[3], self.crop)
        if gen is None:
            return top, left
        h, w = self.images.shape[2] - self.crop, self.images.shape[3] - self.crop
        dy, dx = (torch.randint(-JITTER, JITTER + 1, (2,), generator=gen)).tolist()
        return min(max(top + dy, 0), h), min(max(left + dx, 0), w)


def _fit(data: _Frames, cfg: Config, net: PretextNet | StillPretextNet, teacher: torch.nn.Module | None, run: str,
         say: Callable[[str], None]) -> tuple[PretextNet | StillPretextNet, list[dict[str, float]]]:
    """Train the pretext network (AdamW, one-cycle), distilling ``teacher`` when given; a held-out 5% of the frames
    is scored after each epoch."""
    p = cfg.pretrain
    order = torch.randperm(len(data.images), generator=torch.Generator().manual_seed(p.seed))
    n_val = max(16, len(order) // 20)
    val, train = order[:n_val], order[n_val:]
    batches = max(1, len(train) // p.batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=p.lr, total_steps=p.epochs * batches, pct_start=0.1)
    gen = torch.Generator().manual_seed(p.seed + 1)
    history = []
    for epoch in range(p.epochs):
        net.train()
        shuffled = train[torch.randperm(len(train), generator=gen)]
        total = 0.0
        for i in range(batches):
            x, tags, joints = data.batch(shuffled[i * p.batch_size:(i + 1) * p.batch_size], data.offset(gen))
            loss = _pretext_loss(net, teacher, x, tags, joints, p)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        history.append({"epoch": epoch + 1, "loss": total / batches, **_score(net, data, val)})
        say(f"  pretrain epoch {epoch + 1}/{p.epochs}: {_describe(history[-1])}")
        report("pretrain", run=run, epoch=epoch + 1, epochs=p.epochs)  # progress hook
    return net, history


def _pretext_loss(net: PretextNet | StillPretextNet, teacher: torch.nn.Module | None, x: torch.Tensor,
                  tags: torch.Tensor, joints: torch.Tensor, p: Any) -> torch.Tensor:
    """Part segmentation (CE) + joints (smooth L1), and with a teacher the distillation term (MSE to its pooled
    features, standardised over the batch)."""
    if teacher is None:
        parts, pred = net(x)
        return F.cross_entropy(parts, tags) + p.joint_weight * F.smooth_l1_loss(pred, joints, beta=0.05)
    parts, pred, guess = net.heads(x)
    with torch.no_grad():
        target = teacher(x)  # [B, F]
        target = (target - target.mean(0)) / (target.std(0) + 1e-4)
    return (F.cross_entropy(parts, tags) + p.joint_weight * F.smooth_l1_loss(pred, joints, beta=0.05)
            + p.distill * F.mse_loss(guess, target))


@torch.no_grad()
def _score(net: PretextNet | StillPretextNet, data: _Frames, index: torch.Tensor) -> dict[str, float]:
    """Held-out pretext scores: pixel accuracy on body pixels, mean joint error in input pixels."""
    net.eval()
    x, tags, joints = data.batch(index, data.offset(None))
    parts, pred = net(x)
    body = tags > 0
    return {"part_accuracy": 100.0 * float((parts.argmax(1)[body] == tags[body]).float().mean()),
            "joint_error_px": float(((pred - joints).norm(dim=-1) * data.crop / 2).mean())}


def _describe(row: dict[str, float]) -> str:
    return (f"loss {row['loss']:.3f}, body-part pixel accuracy {row['part_accuracy']:.1f}%, "
            f"joint error {row['joint_error_px']:.2f} px")
