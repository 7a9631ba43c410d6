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

The Swin authors' ImageNet-1K Swin-T (microsoft/Swin-Transformer ``models/swin_transformer.py``, saved as
``{"model": state_dict}``), inflated into our Video Swin (torchvision's ``SwinTransformer3d``) as mmaction2's
``SwinTransformer3D.inflate_weights`` does::

    patch_embed.proj.weight [C, 3, 4, 4]                  -> net.patch_embed.proj.weight [C, 3, 2, 4, 4] (repeated
                                                             over the patch's frames, divided by their number)
    patch_embed.{proj.bias,norm.<p>}, norm.<p>            -> net.patch_embed.<...>, net.norm.<p>
    layers.i.blocks.j.{norm1,norm2,attn.qkv,attn.proj}.<p> -> net.features.(2i).j.<same>.<p>
    layers.i.blocks.j.mlp.fc1.<p>, mlp.fc2.<p>            -> net.features.(2i).j.mlp.0.<p>, mlp.3.<p>
    layers.i.blocks.j.attn.relative_position_bias_table   -> the same, [(2*7-1)^2, heads] repeated over the
                                                             2*8-1 time offsets of the 8x7x7 window
    layers.i.downsample.{reduction,norm}.<p>              -> net.features.(2i+1).{reduction,norm}.<p>
    relative_position_index, attn_mask                    -> left out (buffers the model builds itself)

SlowFast R50 4x16, mmaction2 0.24's ``backbones/resnet3d_slowfast.py`` (a recognizer checkpoint: ``backbone.`` and
``cls_head.``; every conv an mmcv ConvModule; its lateral convs carry no norm, as our paper size's)::

    backbone.{slow,fast}_path.conv1.conv.weight, conv1.bn.<p>   -> {slow,fast}.conv1.weight, {slow,fast}.bn1.<p>
    backbone.{slow,fast}_path.layerL.B.convK.{conv.weight,bn.<p>} -> {slow,fast}.layerL.B.{convK.weight,bnK.<p>}
    backbone.{slow,fast}_path.layerL.B.downsample.{conv,bn}.<p> -> {slow,fast}.layerL.B.downsample.{0,1}.<p>
    backbone.slow_path.conv1_lateral.conv.weight                 -> fuse.0.conv.weight
    backbone.slow_path.layer{1,2,3}_lateral.conv.weight          -> fuse.{1,2,3}.conv.weight

torchvision's video models (``r2plus1d_18``) are our ``net``; their classifier is left out.
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


_SWIN_BLOCK = re.compile(r"layers\.(\d+)\.blocks\.(\d+)\.(.+)")
_SWIN_MERGE = re.compile(r"layers\.(\d+)\.downsample\.(.+)")
_SWIN_MLP = {"mlp.fc1.": "mlp.0.", "mlp.fc2.": "mlp.3."}


def swin_inflated(source: dict[str, Tensor], model: nn.Module) -> Converted:
    """The Swin authors' 2-D Swin in our Video Swin's names, inflated over time as mmaction2 inflates it."""
    own = model.state_dict()
    out: dict[str, tuple[str, Tensor]] = {}
    dropped = []
    for key, value in source.items():
        block, merge = _SWIN_BLOCK.fullmatch(key), _SWIN_MERGE.fullmatch(key)
        if key.endswith((REBUILT, "attn_mask")) or CLASSIFIER.fullmatch(key):
            dropped.append(key)
            continue
        if block:
            rest = block.group(3)
            rest = next((rest.replace(a, b, 1) for a, b in _SWIN_MLP.items() if rest.startswith(a)), rest)
            ours = f"net.features.{2 * int(block.group(1))}.{block.group(2)}.{rest}"
        elif merge:
            ours = f"net.features.{2 * int(merge.group(1)) + 1}.{merge.group(2)}"
        else:
            ours = f"net.{key}"
        out[ours] = (key, _inflate_swin(value, own.get(ours)))
    return out, dropped


def _inflate_swin(value: Tensor, dst: Tensor | None) -> Tensor:
    """A 2-D Swin tensor fitted to our 3-D one: the patch kernel ``[C, 3, h, w] -> [C, 3, t, h, w]`` (repeated, / t),
    the bias table ``[(2h-1)(2w-1), heads] -> [(2t-1)(2h-1)(2w-1), heads]`` (time offset major, as torchvision
    indexes it); any other tensor as it is."""
    if dst is None or value.shape == dst.shape:
        return value
    if value.dim() == 4 and dst.dim() == 5:
        t = dst.shape[2]
        return value.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
    if value.dim() == 2 and dst.dim() == 2 and dst.shape[0] % value.shape[0] == 0:
        return value.repeat(dst.shape[0] // value.shape[0], 1)
    return value


_SLOWFAST = tuple((re.compile(p), t) for p, t in (
    (r"backbone\.(slow|fast)_path\.conv1\.conv\.weight", r"\1.conv1.weight"),
    (r"backbone\.(slow|fast)_path\.conv1\.bn\.(\w+)", r"\1.bn1.\2"),
    (r"backbone\.(slow|fast)_path\.(layer\d\.\d+)\.conv(\d)\.conv\.weight", r"\1.\2.conv\3.weight"),
    (r"backbone\.(slow|fast)_path\.(layer\d\.\d+)\.conv(\d)\.bn\.(\w+)", r"\1.\2.bn\3.\4"),
    (r"backbone\.(slow|fast)_path\.(layer\d\.\d+)\.downsample\.conv\.weight", r"\1.\2.downsample.0.weight"),
    (r"backbone\.(slow|fast)_path\.(layer\d\.\d+)\.downsample\.bn\.(\w+)", r"\1.\2.downsample.1.\3"),
    (r"backbone\.slow_path\.conv1_lateral\.conv\.weight", "fuse.0.conv.weight"),
    (r"backbone\.slow_path\.layer(\d)_lateral\.conv\.weight", r"fuse.\1.conv.weight"),
))


def slowfast_from_mmaction(source: dict[str, Tensor], model: nn.Module) -> Converted:
    """mmaction2's SlowFast recognizer (Kinetics-400) in our SlowFast's names; its classifier left out."""
    out: dict[str, tuple[str, Tensor]] = {}
    dropped = []
    for key, value in source.items():
        ours = next((p.sub(t, key) for p, t in _SLOWFAST if p.fullmatch(key)), None)
        if ours is not None:
            out[ours] = (key, value)
        elif CLASSIFIER.fullmatch(key):
            dropped.append(key)
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
