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

import torch
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


class StillPretextNet(nn.Module):
    """A video model on stills (its ``still_maps``: the model as its own 2-D twin) with the same two pretext heads:
    each stage's map to body-part logits at stride 4, the pooled feature to the joints.

    What it learns is the model's own start: ``model.inflate_still()`` then turns it into clip weights, and the
    whole model but its classifier is kept (ma52lib.engine.pretrain).
    """

    def __init__(self, model: nn.Module, *, crop: int, num_tags: int, num_joints: int, teacher_dim: int = 0) -> None:
        super().__init__()
        self.model = model
        self.num_joints = num_joints
        self.size = (len(range(2, crop, 4)),) * 2  # the tags' grid: one centre pixel per stride-4 cell
        with torch.no_grad():
            maps, pooled = model.still_maps(torch.zeros(1, 3, crop, crop))
        self.parts = nn.ModuleList([nn.Conv2d(m.shape[1], num_tags, 1) for m in maps])
        self.joints = nn.Linear(pooled.shape[1], 2 * num_joints)
        # With a teacher: its (standardised) pooled feature predicted from ours, DeiT's distillation head.
        self.distill = nn.Linear(pooled.shape[1], teacher_dim) if teacher_dim else None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images ``[N, 3, H, W]`` -> (part logits ``[N, tags, H/4, W/4]``, joints ``[N, K, 2]`` in [-1, 1] units)."""
        return self.heads(x)[:2]

    def heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """``forward``'s two outputs and the distillation head's ``[N, teacher_dim]`` (None without a teacher)."""
        maps, pooled = self.model.still_maps(x)
        parts = sum(_to_grid(head(m), self.size) for head, m in zip(self.parts, maps))
        guess = None if self.distill is None else self.distill(pooled)
        return parts, self.joints(pooled).view(-1, self.num_joints, 2), guess


def _to_grid(logits: Tensor, size: tuple[int, int]) -> Tensor:
    """Logits ``[N, K, h, w]`` on the ``size`` grid: averaged down from a finer map, interpolated up from a coarser."""
    if logits.shape[-2:] == size:
        return logits
    if logits.shape[-2] > size[0]:
        return F.adaptive_avg_pool2d(logits, size)
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
