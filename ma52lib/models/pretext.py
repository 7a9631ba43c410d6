"""The ImageNet analogue's network: MANet's 2-D ResNet with two pretext heads (ma52lib.engine.pretrain).

- body parts: a linear "hypercolumn" head, a 1x1 conv on each stage's output, upsampled to the first
  stage's resolution and summed, gives per-location logits of the renderer's region tags (dense
  supervision of every stage);
- joints: a linear layer on the pooled last-stage feature regresses the image position of 23 joints and
  head landmarks (the pooled feature is what the video models average over frames, so it must know the pose).

Only ``backbone`` (torchvision key names) is kept after pretraining; the heads are thrown away, as
ImageNet's classifier is.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.resnet import Bottleneck

from ma52lib.models.manet import build_resnet


class PretextNet(nn.Module):
    """``build_resnet(depth, width)`` plus part-segmentation and joint-regression heads."""

    def __init__(self, *, depth: int, width: int, num_tags: int, num_joints: int) -> None:
        super().__init__()
        self.backbone = build_resnet(depth, width)
        self.num_joints = num_joints
        expansion = Bottleneck.expansion if depth >= 50 else 1
        channels = [width * 2**i * expansion for i in range(4)]  # outputs of layer1..layer4
        self.parts = nn.ModuleList([nn.Conv2d(c, num_tags, 1) for c in channels])
        self.joints = nn.Linear(channels[-1], 2 * num_joints)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images ``[N, 3, H, W]`` -> (part logits ``[N, tags, H/4, W/4]``, joints ``[N, K, 2]`` in [-1, 1] units)."""
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))  # [N, C, H/4, W/4]
        stages = []
        for layer in (b.layer1, b.layer2, b.layer3, b.layer4):
            x = layer(x)
            stages.append(x)
        size = stages[0].shape[-2:]
        parts = sum(F.interpolate(head(f), size=size, mode="bilinear", align_corners=False)
                    if f.shape[-2:] != size else head(f) for head, f in zip(self.parts, stages))
        joints = self.joints(stages[-1].mean(dim=(2, 3)))  # [N, 2K]
        return parts, joints.view(-1, self.num_joints, 2)
