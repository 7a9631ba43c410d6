"""C3D (Tran et al., "Learning Spatiotemporal Features with 3D Convolutional Networks", ICCV 2015).

Follows the original: eight 3x3x3 convs (64-128-256-256-512-512-512-512, with bias, no BN), max pools
1x2x2 then 2x2x2 in Caffe's ceil mode, fc6/fc7 4096 with dropout. Simplified for size: ``width`` scales
the channels, ``depth=5`` keeps one conv per stage, ``fc_dim`` shrinks fc6/fc7, and an adaptive pool to
``1 x grid x grid`` (the identity for the original 16 x 112 x 112 input) lets fc6 take any clip size.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ma52lib.models.baselines.common import ClipClassifier, dense_interval, load_pretrained, resolve_size
from ma52lib.models.facts import ModelFacts, PublishedStart
from ma52lib.models.published import c3d_from_mmaction

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"width": 64, "depth": 8, "fc_dim": 4096, "grid": 4},
    "cpu": {"width": 16, "depth": 8, "fc_dim": 512, "grid": 2},
    "tiny": {"width": 4, "depth": 5, "fc_dim": 32, "grid": 1},
}


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, kernel_size=3, padding=1), nn.ReLU(inplace=True))


def _pool(x: Tensor, temporal: int) -> Tensor:
    # ceil_mode is Caffe's rounding (7 -> 4 at pool5) and lets a dimension of size 1 pass unchanged.
    return F.max_pool3d(x, kernel_size=(temporal, 2, 2), stride=(temporal, 2, 2), ceil_mode=True)


class C3D(ClipClassifier):
    """C3D over a dense clip; ``width``/``depth``/``fc_dim``/``grid`` set the size."""

    facts = ModelFacts(display_name="C3D", family="twin",
                       paper_results={"body_top1": 74.04, "action_top1": 52.22, "action_top5": 86.97,
                                      "body_f1_macro": 66.60, "action_f1_macro": 40.86, "f1_mean": 58.43},
                       still_start=True, freezable=True,
                       paper_start="its mmaction2 config starts from Sports-1M C3D weights",
                       published=PublishedStart(
                           url="https://download.openmmlab.com/mmaction/recognition/c3d/"
                               "c3d_sports1m_pretrain_20201016-dcc47ddc.pth",
                           what="mmaction2's Sports-1M C3D (its c3d_sports1m_pretrained config)",
                           convert=c3d_from_mmaction),
                       departure="mmaction2 feeds it 16x112x112 clips normalised as Caffe did (mean 104/117/128, "
                                 "std 1); ours are the profile's clips, ImageNet-normalised, and fc6 reads conv5 "
                                 "average-pooled to 4x4 (exactly its pool5 grid at 112 px)")

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
        cfg = resolve_size("c3d", size, PRESETS, overrides)
        w, fc_dim, grid = cfg["width"], cfg["fc_dim"], cfg["grid"]
        if cfg["depth"] not in (5, 8):
            raise ValueError(f"c3d: depth is the number of conv layers, 8 (paper) or 5; got {cfg['depth']}")
        super().__init__(
            num_classes=num_classes,
            num_frames=num_segments,
            sampling="dense",
            frame_interval=dense_interval(num_segments, 16, 1),
            feature_dim=fc_dim,
            dropout=dropout,
            min_size=8,
        )
        two = cfg["depth"] == 8  # two convs in stages 3-5, as the original
        self.conv1 = _conv(3, w)
        self.conv2 = _conv(w, 2 * w)
        self.conv3 = nn.Sequential(_conv(2 * w, 4 * w), *([_conv(4 * w, 4 * w)] if two else []))
        self.conv4 = nn.Sequential(_conv(4 * w, 8 * w), *([_conv(8 * w, 8 * w)] if two else []))
        self.conv5 = nn.Sequential(_conv(8 * w, 8 * w), *([_conv(8 * w, 8 * w)] if two else []))
        self.grid = grid
        self.fc6 = nn.Linear(8 * w * grid * grid, fc_dim)
        self.fc7 = nn.Linear(fc_dim, fc_dim)
        self.drop6 = nn.Dropout(dropout)
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.Linear)) and m is not self.fc_cls:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        if pretrained:
            load_pretrained(self, pretrained)

    def _stages(self, x: Tensor) -> list[Tensor]:
        """The five conv stages' pooled outputs on ``x`` ``[N, 3, T, H, W]`` (a still is T = 1: every pool keeps it)."""
        outs = []
        for i, conv in enumerate((self.conv1, self.conv2, self.conv3, self.conv4, self.conv5)):
            x = _pool(conv(x), temporal=1 if i == 0 else 2)
            outs.append(x)
        return outs

    def _head_features(self, x: Tensor) -> Tensor:
        x = F.adaptive_avg_pool3d(x, (1, self.grid, self.grid)).flatten(1)  # [N, C, 1, g, g] -> [N, C*g*g]
        x = self.drop6(F.relu(self.fc6(x)))
        return F.relu(self.fc7(x))

    def _features(self, x: Tensor) -> Tensor:
        return self._head_features(self._stages(self.to_3d(x))[-1])  # [N, T, 3, H, W] -> [N, 3, T, H, W]

    def stage_modules(self) -> list[nn.Module]:
        """The stem (conv1) and the four stages (conv2-conv5), in order (what ``model.frozen_stages`` counts)."""
        return [self.conv1, self.conv2, self.conv3, self.conv4, self.conv5]

    # ---- the still start (ma52lib.engine.pretrain): C3D's 2-D twin, then inflated ------------------------
    def still_maps(self, images: Tensor) -> tuple[list[Tensor], Tensor]:
        """On stills ``[N, 3, H, W]`` (a one-frame clip: each 3x3x3 kernel reads only its centre tap, the 2-D
        twin): every stage's map ``[N, C, h, w]`` and the pooled fc7 feature ``[N, F]``."""
        stages = self._stages(images[:, :, None])  # [N, 3, H, W] -> [N, 3, 1, H, W]
        return [s[:, :, 0] for s in stages], self._head_features(stages[-1])

    @torch.no_grad()
    def inflate_still(self) -> None:
        """Turn the 2-D twin into the clip start: each kernel's centre tap repeated over time and divided by
        its length (I3D's inflation), so a clip of one repeated frame gives the twin's activations."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                kt = m.weight.shape[2]
                m.weight.copy_(m.weight[:, :, kt // 2 : kt // 2 + 1].expand_as(m.weight) / kt)

    @property
    def cam_target_layer(self) -> nn.Module:
        """conv5b (the last conv stage), ``[N, C, T, h, w]``."""
        return self.conv5
