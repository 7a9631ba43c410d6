"""SlowFast (Feichtenhofer et al., "SlowFast Networks for Video Recognition", ICCV 2019), R50 4x16.

Follows the paper: a slow ResNet-50 pathway (1x7x7 stem, temporal kernels only in res4/res5) on every
alpha-th frame, a fast one with 1/8 of the channels (5x7x7 stem, temporal kernels everywhere), and
time-strided 5x1x1 lateral convs (2x channels, BN, ReLU) fusing fast into slow after the stem and res2-4.
Simplified for size: ``depth``/``width``; clips shorter than 32 frames use alpha = T/4 (slow keeps 4).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ma52lib.models.baselines.common import ClipClassifier, dense_interval, load_state, read_weights, resolve_size
from ma52lib.models.baselines.resnet3d import ResNet3d, blocks_of
from ma52lib.models.facts import ModelFacts, PublishedStart
from ma52lib.models.published import slowfast_from_mmaction

# lateral_norm: BN + ReLU after each lateral conv (the SlowFast paper's code); mmaction2's ResNet3dSlowFast, whose
# Kinetics-400 checkpoint the paper size loads, fuses the bare conv.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"depth": 50, "width": 64, "beta_inv": 8, "alpha": None, "fusion_kernel": 5, "lateral_norm": False},
    "cpu": {"depth": 18, "width": 32, "beta_inv": 8, "alpha": None, "fusion_kernel": 5, "lateral_norm": True},
    "tiny": {"depth": 10, "width": 8, "beta_inv": 4, "alpha": None, "fusion_kernel": 3, "lateral_norm": True},
}


class FuseFastToSlow(nn.Module):
    """Time-strided conv from the fast pathway, concatenated to the slow features."""

    def __init__(self, channels: int, alpha: int, kernel: int, norm: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv3d(
            channels, 2 * channels, (kernel, 1, 1), stride=(alpha, 1, 1), padding=(kernel // 2, 0, 0), bias=False
        )
        self.bn = nn.BatchNorm3d(2 * channels) if norm else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, slow: Tensor, fast: Tensor) -> Tensor:
        fused = self.conv(fast)  # [N, Cf, T, h, w] -> [N, 2Cf, T/alpha, h, w]
        if self.bn is not None:
            fused = self.relu(self.bn(fused))
        return torch.cat([slow, fused], dim=1)


@torch.no_grad()
def _identity_shortcut(downsample: nn.Sequential) -> None:
    """A 1x1x1 conv + BN shortcut that passes its first channels through (BN at the identity in evaluation): where
    the fused lateral inputs make a shortcut that the 2-D ResNet's block does not have (a basic block's res2)."""
    conv, bn = downsample[0], downsample[1]
    out = conv.weight.shape[0]
    conv.weight.zero_()
    conv.weight[:, :out, 0, 0, 0] = torch.eye(out)
    nn.init.ones_(bn.weight)
    nn.init.zeros_(bn.bias)
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0)


class SlowFast(ClipClassifier):
    """Two-pathway SlowFast; input T frames feed the fast pathway, every alpha-th the slow one."""

    # The synthetic start inflates the 2-D ResNet into both pathways; the paper profile loads mmaction2's Kinetics-400
    # SlowFast (mmaction2's Kinetics config trains from scratch: a departure, on 11,250 clips).
    facts = ModelFacts(display_name="SlowFast", family="inflated",
                       paper_results={"body_top1": 77.18, "action_top1": 59.60, "action_top5": 88.54,
                                      "body_f1_macro": 70.61, "action_f1_macro": 44.96, "f1_mean": 63.09},
                       resnet={size: (p["depth"], p["width"]) for size, p in PRESETS.items()}, freezable=True,
                       paper_imagenet=False, paper_start="from scratch, as its mmaction2 config",
                       published=PublishedStart(
                           url="https://download.openmmlab.com/mmaction/recognition/slowfast/"
                               "slowfast_r50_4x16x1_256e_kinetics400_rgb/"
                               "slowfast_r50_4x16x1_256e_kinetics400_rgb_20200704-bcde7ed7.pth",
                           what="mmaction2's Kinetics-400 SlowFast R50 4x16 (its slowfast_r50_4x16x1_256e config)",
                           convert=slowfast_from_mmaction),
                       departure="mmaction2's Kinetics config trains it from scratch for 256 epochs; on 11,250 clips "
                                 "it starts from that config's Kinetics-400 checkpoint (fed the profile's clip: "
                                 "model.num_segments fast frames, alpha = T/4)")

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
        cfg = resolve_size("slowfast", size, PRESETS, overrides)
        # The paper's 4x16 clip is 32 fast frames and alpha 8, i.e. 4 slow frames; keep 4 slow frames.
        alpha = cfg["alpha"] or min(8, max(1, num_segments // 4))
        if num_segments % alpha:
            raise ValueError(
                f"slowfast: the clip length ({num_segments} frames) must be a multiple of alpha ({alpha}); "
                "pick num_segments as a multiple of alpha or pass alpha="
            )
        depth, width = cfg["depth"], cfg["width"]
        fast_width = max(1, width // cfg["beta_inv"])
        kind, layers = blocks_of(depth)
        expansion = 4 if kind == "bottleneck" else 1
        slow_kernels = [[1] * n if s < 2 else [3] * n for s, n in enumerate(layers)]
        fast_kernels = [[3] * n for n in layers]
        # Fused channels entering slow stage s: 2x the fast channels after the stem / after stage s-1.
        fast_out = [fast_width] + [fast_width * 2**s * expansion for s in range(3)]
        slow = ResNet3d(
            depth=depth, width=width, temporal_kernels=slow_kernels, conv1_t=1, lateral=[2 * c for c in fast_out]
        )
        fast = ResNet3d(depth=depth, width=fast_width, temporal_kernels=fast_kernels, conv1_t=5)
        super().__init__(
            num_classes=num_classes,
            num_frames=num_segments,
            sampling="dense",
            frame_interval=dense_interval(num_segments, 32, 2),
            feature_dim=slow.out_channels + fast.out_channels,
            dropout=dropout,
            min_size=16,
        )
        self.alpha = alpha
        self.slow, self.fast = slow, fast
        self.fuse = nn.ModuleList(FuseFastToSlow(c, alpha, cfg["fusion_kernel"], cfg["lateral_norm"]) for c in fast_out)
        if pretrained:
            self.load_start(pretrained)

    def load_start(self, path: str) -> None:
        """Start both pathways from a 2-D ResNet of the slow pathway's size, inflated: the slow one takes it whole
        (the fused lateral inputs of each stage's first block start at zero, so it begins as the inflated ResNet);
        the fast one, 1/beta as wide, takes each layer's first channels."""
        state = read_weights(path)
        if not load_state(self, state, prefix="slow.", fit="pad"):
            raise ValueError(f"no tensor of {path} matches SlowFast's slow pathway; pass a torchvision ResNet "
                             "state dict of the slow pathway's depth and width")
        load_state(self, state, prefix="fast.", fit="subset")
        for s, stage in enumerate(self.slow.stages()):
            if stage[0].downsample is not None and f"layer{s + 1}.0.downsample.0.weight" not in state:
                _identity_shortcut(stage[0].downsample)

    def stage_modules(self) -> list[nn.Module]:
        """Both pathways' stems, then each stage of both with the lateral fusion that feeds it (``frozen_stages``)."""
        stem = nn.ModuleList([self.slow.conv1, self.slow.bn1, self.fast.conv1, self.fast.bn1])
        return [stem] + [nn.ModuleList([slow, fast, fuse])
                         for slow, fast, fuse in zip(self.slow.stages(), self.fast.stages(), self.fuse)]

    def _features(self, x: Tensor) -> Tensor:
        if x.shape[1] % self.alpha:
            raise ValueError(
                f"SlowFast: a clip of {x.shape[1]} frames cannot be split into slow frames every alpha="
                f"{self.alpha}; feed num_frames={self.num_frames} frames (sample with model.num_frames)"
            )
        fast = self.to_3d(x)  # [N, T, 3, H, W] -> [N, 3, T, H, W]
        slow = fast[:, :, :: self.alpha]  # [N, 3, T/alpha, H, W]
        slow, fast = self.slow.stem(slow), self.fast.stem(fast)
        # Fast features join the slow pathway before res2, res3, res4 and res5.
        for fuse, slow_stage, fast_stage in zip(self.fuse, self.slow.stages(), self.fast.stages()):
            slow, fast = slow_stage(fuse(slow, fast)), fast_stage(fast)
        return torch.cat([slow.mean(dim=(2, 3, 4)), fast.mean(dim=(2, 3, 4))], dim=1)  # [N, Cs + Cf]

    @property
    def cam_target_layer(self) -> nn.Module:
        """res5 of the slow pathway, ``[N, C, T/alpha, h, w]``."""
        return self.slow.layer4
