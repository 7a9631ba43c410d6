"""A 3-D ResNet inflated from the 2-D torchvision layout: the backbone of I3D and of SlowFast's pathways.

Module names follow torchvision's 2-D ResNet (``conv1``, ``bn1``, ``layerK.B.conv2``, ``downsample.0``)
so that ``load_pretrained`` can inflate an ImageNet ResNet state dict into it, as I3D does.
"""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

# depth -> (block kind, blocks per stage); 10 is the one-block-per-stage ResNet of the small presets.
DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    10: ("basic", (1, 1, 1, 1)),
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
}


def blocks_of(depth: int) -> tuple[str, tuple[int, int, int, int]]:
    """Block kind and blocks per stage of a ResNet ``depth``."""
    if depth not in DEPTHS:
        raise ValueError(f"ResNet depth {depth} is not supported; choose one of {sorted(DEPTHS)}")
    return DEPTHS[depth]


class BasicBlock3d(nn.Module):
    """Two 3x3 convs; the first one is ``kt x 3 x 3`` when the block is inflated."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int, kt: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(
            inplanes, planes, (kt, 3, 3), stride=(1, stride, stride), padding=(kt // 2, 1, 1), bias=False
        )
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, (1, 3, 3), padding=(0, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck3d(nn.Module):
    """1x1 - 3x3 - 1x1 bottleneck ("3x1x1" inflation: the first 1x1 becomes ``kt x 1 x 1``)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, kt: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(inplanes, planes, (kt, 1, 1), padding=(kt // 2, 0, 0), bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        # Stride on the 3x3 conv, as torchvision and mmaction's "pytorch" style.
        self.conv2 = nn.Conv3d(
            planes, planes, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False
        )
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet3d(nn.Module):
    """Stem + four stages; ``temporal_kernels[s][b]`` is block b's temporal kernel (1 or 3) in stage s.

    ``lateral`` adds that many input channels to each stage's first block (SlowFast's fused fast
    features); the stem is ``conv1_t x 7 x 7`` with temporal strides ``conv1_stride_t``/``pool1_stride_t``.
    """

    def __init__(
        self,
        *,
        depth: int,
        width: int,
        temporal_kernels: Sequence[Sequence[int]],
        conv1_t: int,
        conv1_stride_t: int = 1,
        pool1_stride_t: int = 1,
        lateral: Sequence[int] = (0, 0, 0, 0),
    ) -> None:
        super().__init__()
        kind, layers = blocks_of(depth)
        block = Bottleneck3d if kind == "bottleneck" else BasicBlock3d
        if [len(k) for k in temporal_kernels] != list(layers):
            raise ValueError(f"temporal_kernels must give one kernel per block {layers}, got {temporal_kernels}")
        self.conv1 = nn.Conv3d(
            3, width, (conv1_t, 7, 7), stride=(conv1_stride_t, 2, 2), padding=(conv1_t // 2, 3, 3), bias=False
        )
        self.bn1 = nn.BatchNorm3d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d((1, 3, 3), stride=(pool1_stride_t, 2, 2), padding=(0, 1, 1))
        inplanes = width
        stages = []
        # A stage has one block per temporal kernel: len(kts) blocks (its entry of ``layers`` says the same).
        for s, (_n_blocks, kts) in enumerate(zip(layers, temporal_kernels)):
            planes = width * 2**s
            stride = 1 if s == 0 else 2
            cin = inplanes + lateral[s]
            downsample = None
            if stride != 1 or cin != planes * block.expansion:
                downsample = nn.Sequential(
                    nn.Conv3d(cin, planes * block.expansion, 1, stride=(1, stride, stride), bias=False),
                    nn.BatchNorm3d(planes * block.expansion),
                )
            blocks = [block(cin, planes, stride, kts[0], downsample)]
            inplanes = planes * block.expansion
            blocks += [block(inplanes, planes, 1, kt, None) for kt in kts[1:]]
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.out_channels = inplanes
        self.stage_channels = [width * 2**s * block.expansion for s in range(4)]
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def stem(self, x: Tensor) -> Tensor:
        """conv1 - BN - ReLU - max-pool on ``[N, 3, T, H, W]``."""
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def stages(self) -> list[nn.Sequential]:
        """The four residual stages, in order."""
        return [self.layer1, self.layer2, self.layer3, self.layer4]
