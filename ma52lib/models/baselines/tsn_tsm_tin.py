"""TSN (Wang et al., ECCV 2016), TSM (Lin et al., ICCV 2019) and TIN (Shao et al., "Temporal Interlacing
Network", AAAI 2020): 2-D ResNets over TSN segments, built from MANet's backbone with SE and embedding off.

TSN has no temporal operator, TSM shifts 1/8 + 1/8 channels by one frame, TIN shifts 1/4 of the channels
by learned fractional per-clip offsets with linear interpolation and learned per-frame weights (as
mmaction2's ``ResNetTIN``). Simplified for size: ``depth``/``width`` pick a smaller ResNet.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from ma52lib.models.baselines.common import resolve_size
from ma52lib.models.facts import IMAGENET_RESNET50, ModelFacts
from ma52lib.models.manet import MANet

# Same sizes as MANet's profiles (R50 | R18 | R18 at width 16), so the 2-D rows compare like for like.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"depth": 50, "width": 64},
    "cpu": {"depth": 18, "width": 32},
    "tiny": {"depth": 18, "width": 16},
}

TIN_SHIFT_DIV = 4  # 1/4 of the channels are interlaced (mmaction2 tin_r50 config)
TIN_GROUPS = 2  # offsets predicted per clip; each is used forwards and backwards (4 channel groups)
TIN_MAX_OFFSET = 2.0  # offsets are 4 * (sigmoid - 0.5), i.e. in (-2, 2) frames


def interlace_shift(x: Tensor, offsets: Tensor, max_offset: float = TIN_MAX_OFFSET) -> Tensor:
    """Shift channel groups of ``x`` [N, T, C, H, W] by fractional frames ``offsets`` [N, G] (|o| <= max_offset).

    Group g (C/G contiguous channels) gets ``out[t] = x[t - offsets[n, g]]``, linearly interpolated
    between the two neighbouring integer shifts, zero outside the clip (mmcv's ``tin_shift`` semantics).
    """
    n, t, c, h, w = x.shape
    groups = offsets.shape[1]
    if c % groups:
        raise ValueError(f"interlace_shift: {c} channels cannot be split into {groups} groups")
    out = torch.zeros_like(x)
    # A static range of integer shifts (no host sync); shifts of a whole clip or more only add zeros.
    reach = min(math.ceil(max_offset), t - 1)
    for k in range(-reach, reach + 1):
        # Linear interpolation as a sum of integer shifts with hat weights max(0, 1 - |offset - k|).
        weight = (1 - (offsets - k).abs()).clamp(min=0)  # [N, G]
        # [N, G] -> [N, C] -> [N, 1, C, 1, 1]
        weight = weight.repeat_interleave(c // groups, dim=1).to(x.dtype)[:, None, :, None, None]
        shifted = torch.zeros_like(x)
        if k >= 0:
            shifted[:, k:] = x[:, : t - k]
        else:
            shifted[:, :k] = x[:, -k:]
        out = out + weight * shifted
    return out


class OffsetNet(nn.Module):
    """Per-clip temporal offsets from the pooled descriptor [N, C, T]: conv1d -> fc -> ReLU -> fc."""

    def __init__(self, channels: int, num_segments: int, groups: int = TIN_GROUPS) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, 1, 3, padding=1)
        self.fc1 = nn.Linear(num_segments, num_segments)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(num_segments, groups)
        # mmaction2's init: the first offsets are 4 * (sigmoid(0.5108) - 0.5) = 0.5 frame.
        nn.init.constant_(self.fc2.bias, 0.5108)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x).flatten(1)  # [N, C, T] -> [N, 1, T] -> [N, T]
        x = self.fc2(self.relu(self.fc1(x)))  # [N, G]
        return 2 * TIN_MAX_OFFSET * (torch.sigmoid(x) - 0.5)


class WeightNet(nn.Module):
    """Per-frame, per-group weights in (0, 2) from the pooled descriptor [N, C, T] (1 at init)."""

    def __init__(self, channels: int, groups: int = TIN_GROUPS) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, groups, 3, padding=1)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        return 2 * torch.sigmoid(self.conv(x)).transpose(1, 2)  # [N, C, T] -> [N, G, T] -> [N, T, G]


class TemporalInterlace(nn.Module):
    """TIN's module on [N*T, C, H, W]: the first C/4 channels are interlaced in time, the rest pass."""

    def __init__(self, channels: int, num_segments: int, shift_div: int = TIN_SHIFT_DIV) -> None:
        super().__init__()
        self.num_segments = num_segments
        self.folds = channels // shift_div
        if self.folds < 2 * TIN_GROUPS or self.folds % (2 * TIN_GROUPS):
            raise ValueError(
                f"TIN: {channels} channels / {shift_div} = {self.folds} interlaced channels, which must be a "
                f"positive multiple of {2 * TIN_GROUPS}; use a ResNet width that is a multiple of 16"
            )
        self.offset_net = OffsetNet(self.folds, num_segments)
        self.weight_net = WeightNet(self.folds)

    def forward(self, x: Tensor) -> Tensor:
        nt, c, h, w = x.shape
        t = self.num_segments
        if nt % t:
            raise ValueError(f"TIN: {nt} frames is not a multiple of num_segments={t}")
        part = x[:, : self.folds].reshape(nt // t, t, self.folds, h, w)  # [N*T, F, H, W] -> [N, T, F, H, W]
        descriptor = part.mean(dim=(3, 4)).transpose(1, 2)  # [N, T, F] -> [N, F, T]
        offsets = self.offset_net(descriptor)  # [N, G]
        weights = self.weight_net(descriptor)  # [N, T, G]
        # Each predicted offset is used forwards and backwards: groups (+o0, +o1, -o0, -o1).
        shifted = interlace_shift(part, torch.cat([offsets, -offsets], dim=1))
        # Weights follow the same groups: [N, T, G] -> [N, T, 2G] -> [N, T, F, 1, 1]
        weights = weights.repeat(1, 1, 2).repeat_interleave(self.folds // (2 * TIN_GROUPS), dim=2)
        shifted = shifted * weights[..., None, None].to(shifted.dtype)
        # [N, T, F, H, W] -> [N*T, F, H, W], then the untouched channels
        return torch.cat([shifted.reshape(nt, self.folds, h, w), x[:, self.folds :]], dim=1)


def tin_factory(channels: int, num_segments: int) -> nn.Module:
    """MANet ``temporal_module`` factory for TIN."""
    return TemporalInterlace(channels, num_segments)


class TSN(MANet):
    """TSN: a 2-D ResNet per segment, logits averaged over segments (MANet without SE/TSM/embedding)."""

    memory_format = torch.channels_last
    facts = ModelFacts(display_name="TSN", family="segments",
                       resnet={size: (p["depth"], p["width"]) for size, p in PRESETS.items()}, freezable=True,
                       paper_start=IMAGENET_RESNET50)
    _tsm = False
    _temporal: Any = None

    def __init__(
        self,
        num_classes: int = 52,
        num_segments: int = 8,
        *,
        size: str = "paper",
        pretrained: str | None = None,
        dropout: float = 0.5,
        shift_div: int = 8,  # TSM's (model.shift_div); TSN and TIN have no shift
        **overrides: Any,
    ) -> None:
        name = type(self).__name__.lower()
        cfg = resolve_size(name, size, PRESETS, overrides)
        super().__init__(
            num_classes=num_classes,
            num_segments=num_segments,
            depth=cfg["depth"],
            width=cfg["width"],
            se=False,
            tsm=self._tsm,
            shift_div=shift_div,
            embedding=False,
            dropout=dropout,
            pretrained=pretrained,
            temporal_module=self._temporal,
        )


class TSM(TSN):
    """TSM: TSN with the temporal shift in every residual branch (1/``shift_div`` of the channels each way)."""

    facts = replace(TSN.facts, display_name="TSM", options=("shift_div",),
                    paper_results={"body_top1": 77.64, "action_top1": 56.75, "action_top5": 87.47,
                                   "body_f1_macro": 70.98, "action_f1_macro": 40.19, "f1_mean": 61.39})
    _tsm = True


class TIN(TSN):
    """TIN: TSN with the temporal interlace module in every residual branch."""

    facts = replace(TSN.facts, display_name="TIN")
    _temporal = staticmethod(tin_factory)
