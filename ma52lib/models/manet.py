"""MANet: a TSN-style 2-D ResNet whose residual blocks see squeeze-excitation and a temporal shift.

Read top to bottom:

1. ``build_resnet`` builds torchvision's ResNet (depth 18/34/50/101, optional base ``width``)
   without its ImageNet classifier.
2. ``TemporalBlock`` wraps each torchvision block: the residual branch input goes through SE (per
   frame), then the temporal module (TSM shift), then ``conv1``; the identity / downsample path
   sees the unchanged input. This is the official "blockres" placement.
3. ``MANet`` runs the backbone on the T frames of each clip stacked in the batch, pools per frame,
   and applies ``ClsEmbHead`` (classifier + label-embedding branch, averaged over frames).

The same class gives the 2-D baselines: TSN = ``MANet(se=False, tsm=False, embedding=False)``,
TSM = ``MANet(se=False, tsm=True, embedding=False)``, and any other per-block temporal operator
(e.g. TIN) through ``temporal_module=factory`` where ``factory(channels, num_segments)`` returns
an ``nn.Module`` mapping [N*T, C, H, W] to the same shape.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from ma52lib.models.convert import load_torchvision_resnet
from ma52lib.models.facts import IMAGENET_RESNET50, ModelFacts
from ma52lib.models.heads import ClsEmbHead, FramesToClip
from ma52lib.models.se import SqueezeExcite
from ma52lib.models.tsm import tsm_factory

TemporalModuleFactory = Callable[[int, int], nn.Module]

# depth -> (block type, blocks per stage), as torchvision's resnet18/34/50/101.
ARCHS: dict[int, tuple[type[BasicBlock | Bottleneck], tuple[int, int, int, int]]] = {
    10: (BasicBlock, (1, 1, 1, 1)),  # the small presets' one-block-per-stage ResNet (as resnet3d's)
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}
SE_REDUCTION = 4
# MANet's size presets, (depth, base width) of the ResNet; TSN/TSM/TIN use the same ones.
MANET_SIZES: dict[str, tuple[int, int]] = {"paper": (50, 64), "cpu": (18, 32), "tiny": (18, 16)}


def build_resnet(depth: int = 50, width: int = 64) -> ResNet:
    """torchvision ResNet of ``depth`` with stem/stage base width ``width`` and no classifier (fc = Identity)."""
    if depth not in ARCHS:
        raise ValueError(f"unsupported ResNet depth {depth}; choose one of {sorted(ARCHS)}")
    if width < 8 or width % 8:
        raise ValueError(f"width must be a positive multiple of 8 (torchvision uses 64), got {width}")
    block, layers = ARCHS[depth]
    net = ResNet(block, list(layers))
    if width != 64:
        # torchvision hard-codes 64 in the stem; rebuild stem and stages with the same code path.
        net.inplanes = width
        net.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        net.bn1 = nn.BatchNorm2d(width)
        net.layer1 = net._make_layer(block, width, layers[0])
        net.layer2 = net._make_layer(block, width * 2, layers[1], stride=2)
        net.layer3 = net._make_layer(block, width * 4, layers[2], stride=2)
        net.layer4 = net._make_layer(block, width * 8, layers[3], stride=2)
        for m in net.modules():  # torchvision's own initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
    net.fc = nn.Identity()  # the ImageNet classifier would be a dead layer here
    return net


class TemporalBlock(nn.Module):
    """A torchvision Basic/Bottleneck block whose residual branch input is ``temporal(se(x))``.

    ``se`` and ``temporal`` default to identities, so an unwrapped block behaves exactly as torchvision's.
    """

    def __init__(self, block: BasicBlock | Bottleneck, se: nn.Module | None = None,
                 temporal: nn.Module | None = None) -> None:
        super().__init__()
        self.block = block
        self.se = se if se is not None else nn.Identity()
        self.temporal = temporal if temporal is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        b = self.block
        identity = x if b.downsample is None else b.downsample(x)
        out = self.temporal(self.se(x))
        out = b.relu(b.bn1(b.conv1(out)))
        out = b.bn2(b.conv2(out))
        if isinstance(b, Bottleneck):
            out = b.bn3(b.conv3(b.relu(out)))
        return b.relu(out + identity)


class MANet(nn.Module):
    """MANet (paper config: ``MANet()``) and its ablations; input [N, T, 3, H, W], T = ``num_segments``.

    ``temporal_module`` replaces the TSM shift with another per-block operator (see module docstring).
    ``pretrained`` is a local torchvision ResNet ``state_dict`` file for ImageNet initialisation. ``size``
    picks (depth, width) from ``MANET_SIZES`` where ``depth``/``width`` are not given.
    """

    sampling = "tsn"
    frame_interval = 1
    memory_format = torch.channels_last
    facts = ModelFacts(display_name="MANet", family="segments",
                       paper_results={"body_top1": 78.95, "action_top1": 61.33, "action_top5": 88.83,
                                      "body_f1_macro": 72.87, "action_f1_macro": 49.22, "f1_mean": 65.59},
                       resnet=MANET_SIZES, freezable=True, paper_start=IMAGENET_RESNET50,
                       options=("se", "tsm", "shift_div", "embedding"))

    def __init__(
        self,
        num_classes: int = 52,
        num_segments: int = 8,
        *,
        size: str = "paper",
        depth: int | None = None,
        width: int | None = None,
        se: bool = True,
        tsm: bool = True,
        shift_div: int = 8,
        embedding: bool = True,
        emb_dim: int = 300,
        dropout: float = 0.5,
        pretrained: str | Path | None = None,
        temporal_module: TemporalModuleFactory | None = None,
    ) -> None:
        super().__init__()
        if tsm and temporal_module is not None:
            raise ValueError("MANet: pass either tsm=True or temporal_module=..., not both")
        if num_segments < 1:
            raise ValueError(f"num_segments must be >= 1, got {num_segments}")
        if size not in MANET_SIZES:
            raise ValueError(f"manet: unknown size {size!r}; choose one of {', '.join(MANET_SIZES)}")
        depth, width = depth or MANET_SIZES[size][0], width or MANET_SIZES[size][1]
        self.num_classes = num_classes
        self.num_segments = num_segments
        self.depth = depth
        self.emb_dim = emb_dim if embedding else None
        factory = partial(tsm_factory, fold_div=shift_div) if tsm else temporal_module

        self.backbone = build_resnet(depth, width)
        # Official ResNet-TSM quirk kept for fidelity: in very deep nets (layer3 >= 23 blocks, i.e.
        # R101) only every second block of each stage is wrapped.
        every = 2 if len(self.backbone.layer3) >= 23 else 1
        for stage_name in ("layer1", "layer2", "layer3", "layer4"):
            stage: nn.Sequential = getattr(self.backbone, stage_name)
            blocks = []
            for i, block in enumerate(stage):
                wrap = i % every == 0
                channels = block.conv1.in_channels
                blocks.append(TemporalBlock(
                    block,
                    se=SqueezeExcite(channels, SE_REDUCTION) if se and wrap else None,
                    temporal=factory(channels, num_segments) if factory is not None and wrap else None,
                ))
            setattr(self.backbone, stage_name, nn.Sequential(*blocks))

        last_block = self.backbone.layer4[-1].block
        self.num_features = (last_block.bn3 if isinstance(last_block, Bottleneck) else last_block.bn2).num_features
        self.head = ClsEmbHead(self.num_features, num_classes, emb_dim=self.emb_dim, dropout=dropout)

        if pretrained is not None:
            load_torchvision_resnet(self, pretrained)

    # --- the model contract (see ma52lib.models) ---

    @property
    def num_frames(self) -> int:
        """Frames per clip (one per TSN segment)."""
        return self.num_segments

    @property
    def has_embedding(self) -> bool:
        """Whether ``forward(x, return_embedding=True)`` returns an embedding."""
        return self.emb_dim is not None

    @property
    def cam_target_layer(self) -> nn.Module:
        """The last residual block of layer4, hooked by Grad-CAM."""
        return self.backbone.layer4[-1]

    @property
    def cam_reshape(self) -> FramesToClip:
        """Grad-CAM reshape of the target layer's output: [N*T, C, h, w] -> [N, C, T, h, w]."""
        return FramesToClip(self.num_segments)

    def frame_features(self, x: Tensor) -> Tensor:
        """Pooled backbone features of every frame: [N, T, 3, H, W] -> [N, T, F]."""
        self._check_input(x)
        n, t = x.shape[:2]
        # [N, T, 3, H, W] -> [N*T, 3, H, W]
        frames = x.reshape(n * t, *x.shape[2:])
        if self.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last):
            frames = frames.contiguous(memory_format=torch.channels_last)
        # torchvision's forward: stem, layer1-4, global average pool, flatten, fc (Identity).
        feats = self.backbone(frames)
        # [N*T, F] -> [N, T, F]
        return feats.view(n, t, -1)

    def features(self, x: Tensor) -> Tensor:
        """Clip feature before the head: frame features averaged over T, [N, F]."""
        return self.frame_features(x).mean(dim=1)

    def forward(self, x: Tensor, return_embedding: bool = False) -> Tensor | tuple[Tensor, Tensor | None]:
        """Logits [N, num_classes]; with ``return_embedding`` also the label embedding [N, emb_dim] (or None)."""
        logits, embedding = self.head(self.frame_features(x))
        return (logits, embedding) if return_embedding else logits

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != self.num_segments or x.shape[2] != 3:
            raise ValueError(
                f"{type(self).__name__} expects clips [N, T={self.num_segments}, 3, H, W], got shape "
                f"{tuple(x.shape)}; sample num_segments={self.num_segments} frames per clip or build "
                "the model with the matching num_segments"
            )
