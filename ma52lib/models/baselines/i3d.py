"""I3D (Carreira & Zisserman, "Quo Vadis, Action Recognition?", CVPR 2017) as mmaction2's I3D ResNet-50.

Follows mmaction2's ``i3d_r50_32x2x1``: a ResNet-50 inflated with 5x7x7 stem, "3x1x1" inflation of every
other block, temporal strides 2/2/2 (conv1, pool1, pool after res2). Simplified for size: ``depth``/
``width`` pick a smaller ResNet, and shorter clips drop temporal strides so res3 still sees 4 frames.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ma52lib.models.baselines.common import ClipClassifier, dense_interval, load_pretrained, resolve_size
from ma52lib.models.baselines.resnet3d import ResNet3d, blocks_of
from ma52lib.models.facts import ModelFacts

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"depth": 50, "width": 64, "temporal_stride": None},
    "cpu": {"depth": 18, "width": 32, "temporal_stride": None},
    "tiny": {"depth": 10, "width": 8, "temporal_stride": None},
}


def i3d_inflation(layers: tuple[int, ...]) -> list[list[int]]:
    """Temporal kernel per block: all of res2, even blocks of res3/res4, odd blocks of res5 (mmaction)."""
    rules = [lambda b: True, lambda b: b % 2 == 0, lambda b: b % 2 == 0, lambda b: b % 2 == 1]
    return [[3 if rule(b) else 1 for b in range(n)] for rule, n in zip(rules, layers)]


class I3D(ClipClassifier):
    """Inflated 3-D ResNet; ``depth``/``width`` set the size, ``temporal_stride`` (1-8) the stem's."""

    memory_format = torch.channels_last_3d
    # Its backbone inflates a 2-D ResNet: the start weights load into it, and its stem and stages can be fixed.
    facts = ModelFacts(display_name="I3D", family="inflated",
                       paper_results={"body_top1": 78.16, "action_top1": 57.07, "action_top5": 88.67,
                                      "body_f1_macro": 71.56, "action_f1_macro": 39.84, "f1_mean": 61.66},
                       resnet={size: (p["depth"], p["width"]) for size, p in PRESETS.items()}, freezable=True,
                       paper_start="the paper inflates torchvision's ImageNet ResNet-50")

    def __init__(
        self,
        num_classes: int = 52,
        num_segments: int = 8,
        *,
        size: str = "paper",
        pretrained: str | None = None,
        dropout: float = 0.5,
        **overrides: Any,
    ) -> None:
        cfg = resolve_size("i3d", size, PRESETS, overrides)
        # The paper's 32 frames reach res3 as 4 (strides 2 x 2 x 2); keep 4 for shorter clips.
        stride = cfg["temporal_stride"] or min(8, max(1, num_segments // 4))
        if stride not in (1, 2, 4, 8):
            raise ValueError(f"i3d: temporal_stride must be 1, 2, 4 or 8, got {stride}")
        _, layers = blocks_of(cfg["depth"])
        backbone = ResNet3d(
            depth=cfg["depth"],
            width=cfg["width"],
            temporal_kernels=i3d_inflation(layers),
            conv1_t=5,
            conv1_stride_t=2 if stride >= 2 else 1,
            pool1_stride_t=2 if stride >= 4 else 1,
        )
        super().__init__(
            num_classes=num_classes,
            num_frames=num_segments,
            sampling="dense",
            frame_interval=dense_interval(num_segments, 32, 2),
            feature_dim=backbone.out_channels,
            dropout=dropout,
            min_size=16,
        )
        self.backbone = backbone
        self.pool2 = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1), ceil_mode=True) if stride >= 8 else nn.Identity()
        if pretrained:
            load_pretrained(self, pretrained)

    def _features(self, x: Tensor) -> Tensor:
        x = self.backbone.stem(self.to_3d(x))  # [N, T, 3, H, W] -> [N, 3, T, H, W] -> [N, C, T', H/4, W/4]
        x = self.pool2(self.backbone.layer1(x))
        x = self.backbone.layer4(self.backbone.layer3(self.backbone.layer2(x)))
        return x.mean(dim=(2, 3, 4))  # [N, C, t, h, w] -> [N, C]

    @property
    def cam_target_layer(self) -> nn.Module:
        """res5, ``[N, C, t, h, w]``."""
        return self.backbone.layer4
