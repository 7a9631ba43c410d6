"""A small model of your own, compared with the paper's ten under the same data, metrics and intervals.

``ma52 train --model examples.temporal_cnn:build --profile cpu`` trains it; ``ma52 reproduce --profile cpu
--extra-model examples.temporal_cnn:build`` adds it to the benchmark chapter and the findings ledger.
A factory is called as ``build(num_classes=52, num_segments=8, size="cpu", dropout=0.5, ...)`` and returns
an ``nn.Module`` honouring the model contract of ``ma52lib.models``: input ``[N, T, 3, H, W]``, logits
``[N, C]``, ``forward(x, return_embedding=True) -> (logits, None)``, ``features(x) -> [N, F]`` and the
attributes ``num_frames``, ``sampling``, ``frame_interval``, ``has_embedding`` (and ``cam_target_layer``
/ ``cam_reshape`` if you want its Grad-CAM maps).

What the model *is* goes with it: ``memory_format`` (the layout its convolutions run fastest in) on the
class, and ``build.facts = ModelFacts(...)`` on the factory (``ma52lib.models.facts``): where the paper
would start it (the log's words for a random start), and, for a model whose backbone is a torchvision
2-D ResNet, its (depth, width) per size (``resnet=``: ``model.pretrained=synth``/``imagenet`` then load
start weights into ``model.backbone``) and ``freezable=True`` (``model.frozen_stages`` applies); also its
name in the tables (``display_name=``) and its family (``family=``, a key of ``ma52lib.models.facts.FAMILIES``:
the profile's recipe for that family then applies). A factory without facts trains from random initialisation
with every layer trained, under its own name.

This one: a 4-layer CNN on every frame, then a 1-D convolution over time (it sees frame order, unlike
TSN's average), max-pooled over time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ma52lib.models.facts import ModelFacts
from ma52lib.models.heads import FramesToClip

WIDTHS = {"paper": 64, "cpu": 32, "tiny": 8}


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class TemporalCNN(nn.Module):
    """Per-frame CNN + temporal convolution over the T segment frames."""

    sampling = "tsn"  # one frame per TSN segment, like TSN/TSM/MANet
    frame_interval = 1
    has_embedding = False
    memory_format = torch.channels_last  # 2-D convolutions (the 1-D temporal one keeps its layout)

    def __init__(self, num_classes: int = 52, num_segments: int = 8, *, width: int = 32, dropout: float = 0.5):
        super().__init__()
        self.num_frames = num_segments
        self.frames = nn.Sequential(_conv(3, width), _conv(width, width), _conv(width, 2 * width),
                                    _conv(2 * width, 4 * width))
        self.temporal = nn.Sequential(nn.Conv1d(4 * width, 4 * width, 3, padding=1), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * width, num_classes))

    @property
    def cam_target_layer(self) -> nn.Module:
        """The last frame convolution, ``[N*T, C, h, w]``."""
        return self.frames[-1]

    @property
    def cam_reshape(self) -> FramesToClip:
        """Grad-CAM's reshape of that layer's output to ``[N, C, T, h, w]``."""
        return FramesToClip(self.num_frames)

    def features(self, x: Tensor) -> Tensor:
        n, t = x.shape[:2]
        maps = self.frames(x.reshape(n * t, *x.shape[2:]))  # [N*T, C, h, w]
        per_frame = maps.mean(dim=(2, 3)).view(n, t, -1).transpose(1, 2)  # [N, C, T]
        return self.temporal(per_frame).amax(dim=2)  # [N, C]

    def forward(self, x: Tensor, return_embedding: bool = False) -> Tensor | tuple[Tensor, None]:
        logits = self.head(self.features(x))
        return (logits, None) if return_embedding else logits


def build(*, num_classes: int = 52, num_segments: int = 8, size: str = "cpu", dropout: float = 0.5,
          **_: Any) -> TemporalCNN:
    """The factory ``ma52`` calls (other options, such as ``pretrained``, are ignored here)."""
    return TemporalCNN(num_classes, num_segments, width=WIDTHS.get(size, 32), dropout=dropout)


# No ResNet backbone: "synth"/"imagenet" start weights do not apply, every layer is trained.
build.facts = ModelFacts(paper_start="not in the paper: a model of your own")
