"""Load outside weights into MANet: the official MANet checkpoint (mmaction2 0.24 naming) and
torchvision's ImageNet ResNet ``state_dict`` (for ImageNet initialisation).

Official names (from the authors' ``ResNetTSM`` + ``MANetHead``; every conv is an mmcv ConvModule
with ``.conv`` / ``.bn``; TSM wraps each block's ``conv1.conv`` in a module whose conv is ``.net``
and whose SE linears are ``.fcce.0`` / ``.fcce.2``)::

    backbone.conv1.conv.weight                      -> backbone.conv1.weight
    backbone.conv1.bn.<p>                           -> backbone.bn1.<p>
    backbone.layerL.B.conv1.conv.net.weight         -> backbone.layerL.B.block.conv1.weight
    backbone.layerL.B.convK.conv.weight             -> backbone.layerL.B.block.convK.weight
    backbone.layerL.B.convK.bn.<p>                  -> backbone.layerL.B.block.bnK.<p>
    backbone.layerL.B.conv1.conv.fcce.{0,2}.weight  -> backbone.layerL.B.se.fc{1,2}.weight
    backbone.layerL.B.downsample.{conv,bn}.<p>      -> backbone.layerL.B.block.downsample.{0,1}.<p>
    cls_head.{fc_cls,fc_emb,fc_emb_t}.<p>           -> head.{fc_cls,fc_emb,fc_emb_t}.<p>
    backbone.layerL.B.conv1.conv.action_p2_*        -> dropped (unused ACTION-Net leftovers)

Files are read with ``weights_only=True``, so no code in them runs; the numpy numbers an mmcv
checkpoint keeps in ``meta`` (EvalHook's ``best_score`` is a ``numpy.float64``) are allowed for that
one read, every other Python object is refused. Reports and errors name a tensor as the file does,
with our name beside it.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

try:  # numpy 2 moved numpy.core to numpy._core
    from numpy._core.multiarray import scalar as _numpy_scalar
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import scalar as _numpy_scalar

_OFFICIAL_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), target)
    for pattern, target in (
        (r"backbone\.conv1\.conv\.weight", "backbone.conv1.weight"),
        (r"backbone\.conv1\.bn\.(\w+)", r"backbone.bn1.\1"),
        (r"backbone\.(layer\d+\.\d+)\.conv1\.conv\.fcce\.0\.weight", r"backbone.\1.se.fc1.weight"),
        (r"backbone\.(layer\d+\.\d+)\.conv1\.conv\.fcce\.2\.weight", r"backbone.\1.se.fc2.weight"),
        # The TSM wrapper replaces ConvModule.conv of conv1, so that conv is `conv1.conv.net`.
        (r"backbone\.(layer\d+\.\d+)\.conv1\.conv\.net\.weight", r"backbone.\1.block.conv1.weight"),
        (r"backbone\.(layer\d+\.\d+)\.conv(\d)\.conv\.weight", r"backbone.\1.block.conv\2.weight"),
        (r"backbone\.(layer\d+\.\d+)\.conv(\d)\.bn\.(\w+)", r"backbone.\1.block.bn\2.\3"),
        (r"backbone\.(layer\d+\.\d+)\.downsample\.conv\.weight", r"backbone.\1.block.downsample.0.weight"),
        (r"backbone\.(layer\d+\.\d+)\.downsample\.bn\.(\w+)", r"backbone.\1.block.downsample.1.\2"),
        (r"cls_head\.(fc_cls|fc_emb|fc_emb_t)\.(weight|bias)", r"head.\1.\2"),
    )
)
# The same names the other way, for our keys the file lacks (the tests check both ways on whole models).
_OURS_TO_OFFICIAL: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), target)
    for pattern, target in (
        (r"backbone\.conv1\.weight", "backbone.conv1.conv.weight"),
        (r"backbone\.bn1\.(\w+)", r"backbone.conv1.bn.\1"),
        (r"backbone\.(layer\d+\.\d+)\.se\.fc1\.weight", r"backbone.\1.conv1.conv.fcce.0.weight"),
        (r"backbone\.(layer\d+\.\d+)\.se\.fc2\.weight", r"backbone.\1.conv1.conv.fcce.2.weight"),
        (r"backbone\.(layer\d+\.\d+)\.block\.conv1\.weight", r"backbone.\1.conv1.conv.net.weight"),
        (r"backbone\.(layer\d+\.\d+)\.block\.conv(\d)\.weight", r"backbone.\1.conv\2.conv.weight"),
        (r"backbone\.(layer\d+\.\d+)\.block\.bn(\d)\.(\w+)", r"backbone.\1.conv\2.bn.\3"),
        (r"backbone\.(layer\d+\.\d+)\.block\.downsample\.0\.weight", r"backbone.\1.downsample.conv.weight"),
        (r"backbone\.(layer\d+\.\d+)\.block\.downsample\.1\.(\w+)", r"backbone.\1.downsample.bn.\2"),
        (r"head\.(fc_cls|fc_emb|fc_emb_t)\.(weight|bias)", r"cls_head.\1.\2"),
    )
)
_OFFICIAL_BLOCK = re.compile(r"backbone\.layer(\d+)\.(\d+)\.")
# Layers the official module builds but never calls (left over from ACTION-Net).
_OFFICIAL_DROPPED = re.compile(r"backbone\.layer\d+\.\d+\.conv1\.conv\.action_p2_(?:squeeze|conv1|expand)\..+")

_TORCHVISION_LAYER = re.compile(r"(layer\d+\.\d+)\.(.+)")
_TORCHVISION_DROPPED = re.compile(r"fc\.(weight|bias)")  # the ImageNet classifier

ACTION_NET = "ACTION-Net layers (action_p2_*, built but never called)"
EMBEDDING = "embedding branch (cls_head.fc_emb*, used only by the training loss)"

# What torch.load may rebuild besides tensors, for the length of one read: numpy numbers (bool, integer,
# float, complex) as mmcv's `meta` holds them. A numpy scalar pickles as `scalar(dtype, raw bytes)`, the
# dtype as `numpy.dtype(code)` plus a BUILD of its class. Files written under numpy 1.x (the official
# fork's mmcv 1.6.2 era) name the function `numpy.core.multiarray.scalar`, numpy 2 names it
# `numpy._core.multiarray.scalar`. Arrays, strings, object dtypes and every other class stay refused.
_NUMBER_CODES = "?" + np.typecodes["AllInteger"] + np.typecodes["AllFloat"]
SAFE_NUMPY_GLOBALS: list[Any] = [
    (_numpy_scalar, "numpy._core.multiarray.scalar"),
    (_numpy_scalar, "numpy.core.multiarray.scalar"),
    np.dtype,
    *sorted({type(np.dtype(code)) for code in _NUMBER_CODES}, key=str),
]
# Where torch's refusal names the object: a GLOBAL it would not import, or a type it would not build.
_REFUSED = re.compile(r"GLOBAL (\S+)|but got <class '([^']+)'>|unrecognized function (\S+)")



@dataclass
class LoadReport:
    """What a converter did. ``loaded``, ``missing`` and ``unplaced`` are our keys (``file_names`` gives the
    file's name of each it knows); ``unexpected`` and ``dropped`` are the file's keys."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # ours, absent from the file
    unexpected: list[str] = field(default_factory=list)  # the file's, no rule understands them
    unplaced: list[str] = field(default_factory=list)  # ours, understood but this model has no such tensor
    dropped: list[str] = field(default_factory=list)  # the file's, known and unused on purpose
    dropped_as: dict[str, int] = field(default_factory=dict)  # why -> how many
    file_names: dict[str, str] = field(default_factory=dict)  # our key -> the file's key

    @property
    def ok(self) -> bool:
        """True when every expected key was filled and every source key was used or knowingly dropped."""
        return not self.missing and not self.unexpected and not self.unplaced

    def drop(self, key: str, why: str) -> None:
        """Record the file's ``key`` as known and unused, for the reason ``why``."""
        self.dropped.append(key)
        self.dropped_as[why] = self.dropped_as.get(why, 0) + 1

    def both(self, ours: str) -> str:
        """Our key as ``<file's name> (ours: <our name>)``; our name alone where the file's is the same or unknown."""
        theirs = self.file_names.get(ours, ours)
        return ours if theirs == ours else f"{theirs} (ours: {ours})"

    def __str__(self) -> str:
        line = f"{self.source}: " + (f"loaded {len(self.loaded)} tensors" if self.loaded else "nothing loaded")
        if self.dropped:
            line += f"; known and unused ({len(self.dropped)}): " + ", ".join(
                f"{n} {why}" for why, n in sorted(self.dropped_as.items()))
        lines = [line]
        for title, keys in (("missing in the file", [self.both(k) for k in self.missing]),
                            ("not understood", self.unexpected),
                            ("no place in this model", [self.both(k) for k in self.unplaced])):
            if keys:
                lines.append(f"  {title} ({len(keys)}): {_preview(keys)}")
        return "\n".join(lines)


def official_key_to_ours(key: str) -> str | None:
    """Our name for an official MANet checkpoint key, or None when it is not a MANet key."""
    return _rename(key, _OFFICIAL_RULES)


def ours_key_to_official(key: str) -> str | None:
    """The official checkpoint's name for one of our MANet keys, or None when the official model has none."""
    return _rename(key, _OURS_TO_OFFICIAL)


def torchvision_key_to_ours(key: str) -> str | None:
    """Our name for a torchvision ResNet key (``fc.*`` and unknown keys give None)."""
    if key.startswith(("conv1.", "bn1.")):
        return f"backbone.{key}"
    match = _TORCHVISION_LAYER.fullmatch(key)
    if match:
        return f"backbone.{match.group(1)}.block.{match.group(2)}"
    return None


def _ours_key_to_torchvision(key: str) -> str | None:
    if not key.startswith("backbone.") or ".se." in key or ".temporal." in key:
        return None
    return key.removeprefix("backbone.").replace(".block.", ".", 1)


def _rename(key: str, rules: tuple[tuple[re.Pattern[str], str], ...]) -> str | None:
    for pattern, target in rules:
        if pattern.fullmatch(key):
            return pattern.sub(target, key)
    return None


def official_layout(state: dict[str, Tensor]) -> dict[str, int | bool] | None:
    """The MANet ``model.*`` fields a state_dict in official names implies (depth, width, se), or None."""
    stem = state.get("backbone.conv1.conv.weight")
    blocks = {match.groups() for match in map(_OFFICIAL_BLOCK.match, state) if match}
    if stem is None or not blocks:
        return None
    bottleneck = any(".conv3.conv." in key for key in state)
    # A ResNet's depth counts its convolutions (3 per Bottleneck, 2 per BasicBlock) plus the stem and fc.
    depth = (3 if bottleneck else 2) * len(blocks) + 2
    return {"depth": depth, "width": int(stem.shape[0]), "se": any(".conv1.conv.fcce." in key for key in state)}


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a checkpoint file (plain ``state_dict``, mmcv ``{"state_dict", "meta", "optimizer"}``, or
    ``{"model": ...}``), read with ``weights_only=True``: numpy numbers in ``meta`` are accepted, any other Python
    object refused."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.pth"))[:3]
        raise FileNotFoundError(f"checkpoint {path} is a folder, not a file; pass the .pth file itself"
                                + (f" (it holds {', '.join(found)})" if found else ""))
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass the path of a local .pth file")
    try:
        with torch.serialization.safe_globals(SAFE_NUMPY_GLOBALS):  # for this read only
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = _REFUSED.search(str(exc))
        if refused is None:
            raise ValueError(f"{path}: not a readable PyTorch checkpoint (corrupt or not made by torch.save)") from exc
        raise ValueError(
            f"{path}: holds a Python object ({next(filter(None, refused.groups()))}) besides tensors, numbers and "
            "text, and is read with weights_only=True so that no code in it runs (numpy numbers, as mmcv keeps in "
            "'meta', are accepted). If you trust the file, keep only its weights once: python -c \"import torch; "
            "c = torch.load('IN', weights_only=False); torch.save(c['state_dict'], 'OUT')\" and pass OUT"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any read error becomes one actionable message
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc
    for wrapper in ("state_dict", "model"):  # mmcv's checkpoints; the Swin authors' release
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state_dict (name -> tensor) or {{'state_dict': ...}}, "
                         f"got {type(obj).__name__}")
    # DistributedDataParallel saves names with a "module." prefix.
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_official_checkpoint(model: nn.Module, path: str | Path, *, strict: bool = True) -> LoadReport:
    """Load the authors' MANet checkpoint into ``model`` (a ``MANet``); ``strict`` raises on missing/unknown keys.

    The unused ACTION-Net layers are dropped, and so is the embedding branch when ``model`` has none.
    """
    source = read_state_dict(path)
    own = model.state_dict()
    report = LoadReport(source=str(path))
    mapped: dict[str, Tensor] = {}
    for key, value in source.items():
        ours = official_key_to_ours(key)
        if _OFFICIAL_DROPPED.fullmatch(key):
            report.drop(key, ACTION_NET)
        elif ours is None:
            report.unexpected.append(key)
        elif ours.startswith("head.fc_emb") and ours not in own:
            report.drop(key, EMBEDDING)
        else:
            mapped[ours] = value
            report.file_names[ours] = key
    return apply_mapped(model, mapped, report, expected=set(own), strict=strict, file_name_of=ours_key_to_official,
                  hint=_official_hint(source, own))


def _official_hint(source: dict[str, Tensor], own: dict[str, Tensor]) -> str:
    """What to change on the command line so the model is built as the file's was."""
    theirs = official_layout(source)
    if theirs is None:
        return ("it holds no MANet backbone (backbone.conv1.conv.weight, backbone.layerL.B.*): is it the "
                "released MANet checkpoint?")
    ours = official_layout({ours_key_to_official(k) or k: v for k, v in own.items()}) or {}
    described = (f"the file holds a ResNet-{theirs['depth']} of width {theirs['width']} "
                 f"{'with' if theirs['se'] else 'without'} SE")
    differ = [f"--set model.{k}={str(v).lower()}" for k, v in theirs.items() if ours.get(k) != v]
    if differ:
        return f"{described}: build the model so with {' '.join(differ)} (the released MANet is model.size=paper)"
    classes = source.get("cls_head.fc_cls.weight")
    if classes is not None and "head.fc_cls.weight" in own and classes.shape[0] != own["head.fc_cls.weight"].shape[0]:
        return f"{described}, as the model, but scores {classes.shape[0]} classes (MA-52 has 52)"
    return f"{described}, as the model"


def load_torchvision_resnet(model: nn.Module, path: str | Path) -> LoadReport:
    """ImageNet-initialise ``model.backbone`` from a local torchvision ResNet ``state_dict`` file.

    SE and temporal-module parameters keep their fresh initialisation (ImageNet has none); the
    ImageNet classifier ``fc.*`` is dropped. Any other missing or unknown key raises.
    """
    source = read_state_dict(path)
    report = LoadReport(source=str(path))
    mapped: dict[str, Tensor] = {}
    for key, value in source.items():
        ours = torchvision_key_to_ours(key)
        if ours is not None:
            mapped[ours] = value
            report.file_names[ours] = key
        elif _TORCHVISION_DROPPED.fullmatch(key):
            report.drop(key, "ImageNet classifier (fc.*)")
        else:
            report.unexpected.append(key)
    expected = {k for k in model.state_dict()
                if k.startswith("backbone.") and ".se." not in k and ".temporal." not in k}
    return apply_mapped(model, mapped, report, expected=expected, strict=True, file_name_of=_ours_key_to_torchvision,
                  hint="use a torchvision ResNet of the same depth and width=64")


def apply_mapped(model: nn.Module, mapped: dict[str, Tensor], report: LoadReport, *, expected: set[str],
                 strict: bool, file_name_of: Callable[[str], str | None], hint: str) -> LoadReport:
    """Check names and shapes of ``mapped`` against ``model``, then copy the tensors in."""
    own = model.state_dict()
    report.unplaced = sorted(k for k in mapped if k not in own)
    # BatchNorm's step counter is irrelevant with a fixed momentum; old files lack it.
    report.missing = sorted(k for k in expected - mapped.keys() if not k.endswith("num_batches_tracked"))
    for key in report.missing:
        report.file_names[key] = file_name_of(key) or key
    wrong = [f"{report.both(k)}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
             for k, v in mapped.items() if k in own and v.shape != own[k].shape]
    if wrong:
        raise ValueError(f"{report.source}: {len(wrong)} tensors have the wrong shape, e.g. "
                         f"{_preview(wrong, 3)}; {hint}")
    if strict and not report.ok:
        raise ValueError(f"{report}\nthe file does not match the model; {hint}")
    usable = {k: v for k, v in mapped.items() if k in own}
    model.load_state_dict(usable, strict=False)
    report.loaded = sorted(usable)
    return report


def _preview(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f", ... (+{len(items) - n})" if len(items) > n else "")
