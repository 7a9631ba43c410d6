"""Published starts renamed to our modules: the files the paper profile starts C3D, TimeSformer, R(2+1)D and Video
Swin from (``ModelFacts.published``), each converted from its publisher's layout and loaded strictly.

C3D, mmaction2 0.24's ``backbones/c3d.py`` (every conv an mmcv ConvModule without norm, so ``.conv``; the file is
loaded into the backbone itself, so its names carry no ``backbone.`` prefix; one is accepted)::

    conv1a.conv.<p>, conv2a.conv.<p>      -> conv1.0.<p>, conv2.0.<p>
    conv{3,4,5}a.conv.<p>                 -> conv{3,4,5}.0.0.<p>
    conv{3,4,5}b.conv.<p>                 -> conv{3,4,5}.1.0.<p>
    fc6.<p>, fc7.<p>                      -> fc6.<p>, fc7.<p>

The ViT-B/16 of mmaction2's TimeSformer config, as its ``backbones/timesformer.py`` reads it: mmcv's
``BaseTransformerLayer`` with the operation order norm, self_attn, norm, ffn (``nn.MultiheadAttention`` inside)::

    patch_embed.projection.<p>                              -> patch_embed.proj.<p>
    cls_token, pos_embed, norm.<p>                          -> the same
    transformer_layers.layers.i.norms.0.<p>                 -> blocks.i.norm1.<p>        (and temporal_norm1)
    transformer_layers.layers.i.attentions.0.attn.in_proj_<p> -> blocks.i.attn.qkv.<p>   (and temporal_attn)
    transformer_layers.layers.i.attentions.0.attn.out_proj.<p> -> blocks.i.attn.proj.<p> (and temporal_attn)
    transformer_layers.layers.i.norms.1.<p>                 -> blocks.i.norm2.<p>
    transformer_layers.layers.i.ffns.0.layers.0.0.<p>       -> blocks.i.mlp.fc1.<p>
    transformer_layers.layers.i.ffns.0.layers.1.<p>         -> blocks.i.mlp.fc2.<p>

timm's ViT names (``blocks.i.attn.qkv``, ``blocks.i.mlp.fc1``, ``patch_embed.proj``) are ours already. As both
TimeSformer codes do, each temporal attention and its norm copy the block's spatial ones, and ``temporal_fc`` and
the time embedding start at zero, so the network starts as the image ViT on each frame.

torchvision's video models (``r2plus1d_18``, ``swin3d_t``) are our ``net``; their classifier is left out.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import Tensor, nn

from ma52lib.models.convert import LoadReport, apply_mapped, read_state_dict
from ma52lib.models.facts import PublishedStart

# (our key -> (the file's key, tensor)), the file's keys known and left out
Converted = tuple[dict[str, tuple[str, Tensor]], list[str]]
REBUILT = "relative_position_index"
CLASSIFIER = re.compile(r"(?:head|fc|cls_head|pre_logits)(?:\.\w+)*\.(?:weight|bias)")

_C3D = re.compile(r"(?:backbone\.)?(?:conv(\d)([ab])\.conv|(fc[67]))\.(weight|bias)")
_VIT_MMCV = tuple((re.compile(p), t) for p, t in (
    (r"(?:backbone\.)?patch_embed\.projection\.(\w+)", r"patch_embed.proj.\1"),
    (r"(?:backbone\.)?(cls_token|pos_embed|norm\.weight|norm\.bias)", r"\1"),
    (r"(?:backbone\.)?transformer_layers\.layers\.(\d+)\.norms\.0\.(\w+)", r"blocks.\1.norm1.\2"),
    (r"(?:backbone\.)?transformer_layers\.layers\.(\d+)\.attentions\.0\.attn\.in_proj_(\w+)", r"blocks.\1.attn.qkv.\2"),
    (r"(?:backbone\.)?transformer_layers\.layers\.(\d+)\.attentions\.0\.attn\.out_proj\.(\w+)",
     r"blocks.\1.attn.proj.\2"),
    (r"(?:backbone\.)?transformer_layers\.layers\.(\d+)\.norms\.1\.(\w+)", r"blocks.\1.norm2.\2"),
    (r"(?:backbone\.)?transformer_layers\.layers\.(\d+)\.ffns\.0\.layers\.0\.0\.(\w+)", r"blocks.\1.mlp.fc1.\2"),
    (r"(?:backbone\.)?transformer_layers\.layers\.(\d+)\.ffns\.0\.layers\.1\.(\w+)", r"blocks.\1.mlp.fc2.\2"),
))
_VIT_TIMM = re.compile(r"cls_token|pos_embed|norm\.\w+|patch_embed\.proj\.\w+|"
                       r"blocks\.\d+\.(?:norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.\w+")


def c3d_from_mmaction(source: dict[str, Tensor], model: nn.Module) -> Converted:
    """mmaction2's C3D backbone (Sports-1M) in our C3D's names (paper size: two convs in stages 3-5)."""
    out: dict[str, tuple[str, Tensor]] = {}
    dropped = []
    for key, value in source.items():
        match = _C3D.fullmatch(key)
        if match is None:
            if CLASSIFIER.fullmatch(key):
                dropped.append(key)
            continue
        stage, sub, fc, param = match.groups()
        if fc:
            ours = f"{fc}.{param}"
        elif stage in "12":
            ours = f"conv{stage}.0.{param}"
        else:
            ours = f"conv{stage}.{'ab'.index(sub)}.0.{param}"
        out[ours] = (key, value)
    return out, dropped


def vit_for_timesformer(source: dict[str, Tensor], model: nn.Module) -> Converted:
    """An image ViT (mmaction2's mmcv layout, or timm's) in our TimeSformer's names, its temporal parts started as
    the TimeSformer codes start them: attention and norm copied from the spatial ones, ``temporal_fc`` and the
    time embedding at zero."""
    out: dict[str, tuple[str, Tensor]] = {}
    dropped = []
    for key, value in source.items():
        ours = next((p.sub(t, key) for p, t in _VIT_MMCV if p.fullmatch(key)), None)
        if ours is None and _VIT_TIMM.fullmatch(key):
            ours = key
        if ours is not None:
            out[ours] = (key, value)
        elif CLASSIFIER.fullmatch(key):
            dropped.append(key)
    own = model.state_dict()
    for ours in list(out):
        for spatial, temporal in ((".attn.", ".temporal_attn."), (".norm1.", ".temporal_norm1.")):
            if ours.startswith("blocks.") and spatial in ours:
                key, value = out[ours]
                out[ours.replace(spatial, temporal)] = (f"{key} (copied)", value.clone())
    for ours in own:
        if ours == "time_embed" or re.fullmatch(r"blocks\.\d+\.temporal_fc\.\w+", ours):
            out[ours] = ("(zero, as the TimeSformer codes start it)", torch.zeros_like(own[ours]))
    return out, dropped


def torchvision_video(source: dict[str, Tensor], model: nn.Module) -> Converted:
    """A torchvision video model's state dict (r2plus1d_18, swin3d_t) as our ``net``, its classifier left out."""
    out = {f"net.{key}": (key, value) for key, value in source.items() if not CLASSIFIER.fullmatch(key)}
    return out, [key for key in source if CLASSIFIER.fullmatch(key)]


def matches(model: nn.Module, source: dict[str, Tensor], start: PublishedStart) -> bool:
    """Whether ``source`` is in ``start``'s published layout (at least one tensor lands in ``model``)."""
    converted, _ = start.convert(source, model)
    return any(ours in model.state_dict() for ours in converted)


def load_published(model: nn.Module, path: str | Path, start: PublishedStart) -> LoadReport:
    """Load the published start ``start`` (a ``ModelFacts.published``) from ``path`` into ``model``: every tensor of
    ours but the fresh ones (``start.fresh``) must come from the file with its shape, every tensor of the file must
    land or be its publisher's classifier; otherwise a ValueError says which."""
    source = read_state_dict(path)
    converted, dropped = start.convert(source, model)
    report = LoadReport(source=str(path))
    for key in dropped:
        report.drop(key, "its publisher's classifier")
    used = {key.removesuffix(" (copied)") for key, _ in converted.values()} | set(dropped)
    report.unexpected = sorted(k for k in source if k not in used)
    report.file_names = {ours: key for ours, (key, _) in converted.items()}
    # Swin's relative position indices are tables the model builds itself (a file may or may not carry them).
    expected = {k for k in model.state_dict() if not k.startswith(start.fresh) and not k.endswith(REBUILT)}
    return apply_mapped(model, {ours: value for ours, (_, value) in converted.items()}, report, expected=expected,
                  strict=True, file_name_of=lambda ours: None,
                  hint=f"is it {Path(start.url).name}, for the model at model.size=paper?")
