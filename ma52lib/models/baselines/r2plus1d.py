"""R(2+1)D-18 (Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action Recognition", CVPR 2018).

The paper size is torchvision's ``r2plus1d_18`` itself (weights=None). Simplified for size: smaller
presets rebuild the same network from torchvision's own blocks (``Conv2Plus1D``, ``BasicBlock``,
``VideoResNet``) with a narrower ``width`` and fewer blocks per stage (``depth`` 10 = one block per stage).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models import get_weight
from torchvision.models.video import r2plus1d_18
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, VideoResNet

from ma52lib.models.baselines.common import ClipClassifier, dense_interval, load_pretrained, resolve_size
from ma52lib.models.baselines.resnet3d import blocks_of
from ma52lib.models.facts import ModelFacts, PublishedStart
from ma52lib.models.published import torchvision_video

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"depth": 18, "width": 64},
    "cpu": {"depth": 18, "width": 16},
    "tiny": {"depth": 10, "width": 8},
}


def _stem(width: int) -> nn.Sequential:
    # torchvision's R2Plus1dStem with its 45 -> 64 channels scaled to `width` (45 = 64 * 45/64).
    mid = max(1, width * 45 // 64)
    return nn.Sequential(
        nn.Conv3d(3, mid, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(mid),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid, width, kernel_size=(3, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


class _ScaledVideoResNet(VideoResNet):
    """torchvision's VideoResNet with base width ``width`` instead of 64 (same blocks and init)."""

    def __init__(self, width: int, layers: tuple[int, int, int, int]) -> None:
        nn.Module.__init__(self)
        self.inplanes = width
        self.stem = _stem(width)
        self.layer1 = self._make_layer(BasicBlock, Conv2Plus1D, width, layers[0], stride=1)
        self.layer2 = self._make_layer(BasicBlock, Conv2Plus1D, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, Conv2Plus1D, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, Conv2Plus1D, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Identity()  # the head lives in ClipClassifier
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


class R2Plus1D(ClipClassifier):
    """R(2+1)D: every 3x3x3 conv factorised into 1x3x3 then 3x1x1 (torchvision's implementation)."""

    facts = ModelFacts(display_name="R(2+1)D", family="twin", still_start=True, freezable=True,
                       paper_start="from scratch, as its mmaction2 config",
                       published=PublishedStart(
                           url=get_weight("R2Plus1D_18_Weights.KINETICS400_V1").url,
                           what="torchvision's R2Plus1D_18_Weights.KINETICS400_V1 (Kinetics-400)",
                           convert=torchvision_video),
                       departure="mmaction2's Kinetics config trains it from scratch; on 11,250 clips it starts "
                                 "from torchvision's Kinetics-400 weights (trained on Kinetics-normalised "
                                 "112 px clips; ours are ImageNet-normalised)")

    memory_format = torch.channels_last_3d

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
        cfg = resolve_size("r2plus1d", size, PRESETS, overrides)
        kind, layers = blocks_of(cfg["depth"])
        if kind != "basic":
            raise ValueError(f"r2plus1d: depth must be 10, 18 or 34 (basic blocks), got {cfg['depth']}")
        if cfg["width"] == 64 and cfg["depth"] == 18:
            net = r2plus1d_18(weights=None)
            net.fc = nn.Identity()
        else:
            net = _ScaledVideoResNet(cfg["width"], layers)
        super().__init__(
            num_classes=num_classes,
            num_frames=num_segments,
            sampling="dense",
            # mmaction2's r2plus1d 8x8x1 clip: 8 frames every 8th (64 frames).
            frame_interval=dense_interval(num_segments, 8, 8),
            feature_dim=cfg["width"] * 8,
            dropout=dropout,
            min_size=16,
        )
        self.net = net
        if pretrained:
            load_pretrained(self, pretrained, skip=("fc_cls.", "net.fc."))

    def _features(self, x: Tensor) -> Tensor:
        x = self.net.stem(self.to_3d(x))  # [N, T, 3, H, W] -> [N, 3, T, H, W] -> [N, C, T, H/2, W/2]
        x = self.net.layer4(self.net.layer3(self.net.layer2(self.net.layer1(x))))
        return self.net.avgpool(x).flatten(1)  # [N, C, 1, 1, 1] -> [N, C]

    def stage_modules(self) -> list[nn.Module]:
        """The stem and the four residual stages, in order (what ``model.frozen_stages`` counts)."""
        return [self.net.stem, self.net.layer1, self.net.layer2, self.net.layer3, self.net.layer4]

    # ---- the still start (ma52lib.engine.pretrain): the 2-D twin, then inflated ---------------------------
    def still_maps(self, images: Tensor) -> tuple[list[Tensor], Tensor]:
        """On stills ``[N, 3, H, W]`` (a one-frame clip: each temporal conv reads only its centre tap, a 1x1
        channel mix, so the network is its 2-D twin): every stage's map ``[N, C, h, w]`` and the pooled feature."""
        x = self.net.stem(images[:, :, None])  # [N, 3, H, W] -> [N, 3, 1, H, W] -> [N, C, 1, H/2, W/2]
        maps = []
        for layer in (self.net.layer1, self.net.layer2, self.net.layer3, self.net.layer4):
            x = layer(x)
            maps.append(x[:, :, 0])
        return maps, x.mean(dim=(2, 3, 4))

    @torch.no_grad()
    def inflate_still(self) -> None:
        """Turn the 2-D twin into the clip start: every temporal conv keeps its centre tap and zeros the others
        (the identity in time), so each frame starts as the twin sees it and time is learnt from there."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d) and m.weight.shape[2] > 1 and m.weight.shape[3:] == (1, 1):
                kt = m.weight.shape[2]
                centre = m.weight[:, :, kt // 2].clone()
                m.weight.zero_()
                m.weight[:, :, kt // 2] = centre

    @property
    def cam_target_layer(self) -> nn.Module:
        """The last residual stage, ``[N, C, t, h, w]``."""
        return self.net.layer4
