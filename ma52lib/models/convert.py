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
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

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
# Layers the official module builds but never calls (left over from ACTION-Net).
_OFFICIAL_DROPPED = re.compile(r"backbone\.layer\d+\.\d+\.conv1\.conv\.action_p2_(?:squeeze|conv1|expand)\..+")

_TORCHVISION_LAYER = re.compile(r"(layer\d+\.\d+)\.(.+)")
_TORCHVISION_DROPPED = re.compile(r"fc\.(weight|bias)")  # the ImageNet classifier


@dataclass
class LoadReport:
    """What a converter did: our keys it filled, ours it left missing, and source keys it did not use."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every expected key was filled and every source key was used or knowingly dropped."""
        return not self.missing and not self.unexpected

    def __str__(self) -> str:
        lines = [f"{self.source}: loaded {len(self.loaded)} tensors, dropped {len(self.dropped)} known-unused"]
        if self.missing:
            lines.append(f"  missing in the file ({len(self.missing)}): {_preview(self.missing)}")
        if self.unexpected:
            lines.append(f"  not understood ({len(self.unexpected)}): {_preview(self.unexpected)}")
        return "\n".join(lines)


def official_key_to_ours(key: str) -> str | None:
    """Our name for an official MANet checkpoint key, or None when it is not a MANet key."""
    for pattern, target in _OFFICIAL_RULES:
        if pattern.fullmatch(key):
            return pattern.sub(target, key)
    return None


def torchvision_key_to_ours(key: str) -> str | None:
    """Our name for a torchvision ResNet key (``fc.*`` and unknown keys give None)."""
    if key.startswith(("conv1.", "bn1.")):
        return f"backbone.{key}"
    match = _TORCHVISION_LAYER.fullmatch(key)
    if match:
        return f"backbone.{match.group(1)}.block.{match.group(2)}"
    return None


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a checkpoint file (plain ``state_dict`` or mmcv ``{"state_dict", "meta"}``), safely loaded."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass the path of a local .pth file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        blocked = re.search(r"GLOBAL (\S+)", str(exc))
        if blocked is None:
            raise ValueError(f"{path}: not a readable PyTorch checkpoint (corrupt or not made by torch.save)") from exc
        raise ValueError(
            f"{path}: holds a Python object ({blocked.group(1)}) besides tensors, and is loaded with "
            "weights_only=True so that no code in it runs. mmcv checkpoints can carry such objects in 'meta'. "
            "If you trust the file, keep only its weights once: python -c \"import torch; "
            "c = torch.load('IN', weights_only=False); torch.save(c['state_dict'], 'OUT')\" and pass OUT"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any read error becomes one actionable message
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state_dict (name -> tensor) or {{'state_dict': ...}}, "
                         f"got {type(obj).__name__}")
    # DistributedDataParallel saves names with a "module." prefix.
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_official_checkpoint(model: nn.Module, path: str | Path, *, strict: bool = True) -> LoadReport:
    """Load the authors' MANet checkpoint into ``model`` (a ``MANet``); ``strict`` raises on missing/unknown keys."""
    source = read_state_dict(path)
    report = LoadReport(source=str(path))
    mapped: dict[str, Tensor] = {}
    for key, value in source.items():
        if _OFFICIAL_DROPPED.fullmatch(key):
            report.dropped.append(key)
            continue
        ours = official_key_to_ours(key)
        if ours is None:
            report.unexpected.append(key)
        else:
            mapped[ours] = value
    return _apply(model, mapped, report, expected=set(model.state_dict()), strict=strict,
                  hint="build the model as the checkpoint was trained (MANet(depth=50, se=True, tsm=True, "
                       "embedding=True, num_classes=52))")


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
        elif _TORCHVISION_DROPPED.fullmatch(key):
            report.dropped.append(key)
        else:
            report.unexpected.append(key)
    expected = {k for k in model.state_dict()
                if k.startswith("backbone.") and ".se." not in k and ".temporal." not in k}
    return _apply(model, mapped, report, expected=expected, strict=True,
                  hint="use a torchvision ResNet of the same depth and width=64")


def _apply(model: nn.Module, mapped: dict[str, Tensor], report: LoadReport, *, expected: set[str],
           strict: bool, hint: str) -> LoadReport:
    """Check names and shapes of ``mapped`` against ``model``, then copy the tensors in."""
    own = model.state_dict()
    report.unexpected += sorted(k for k in mapped if k not in own)
    # BatchNorm's step counter is irrelevant with a fixed momentum; old files lack it.
    report.missing = sorted(k for k in expected - mapped.keys() if not k.endswith("num_batches_tracked"))
    wrong = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
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
