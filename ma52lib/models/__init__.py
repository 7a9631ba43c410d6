"""Every model of the benchmark, built one way: ``build_model(name, *, num_classes, num_segments, ...)``.

All models share one contract, so the engine, Grad-CAM and the emotion experiment treat them alike:

- input ``[N, T, 3, H, W]`` float clips (T = ``model.num_frames``);
- ``model(x)`` returns logits ``[N, num_classes]``; ``model(x, return_embedding=True)`` returns
  ``(logits, embedding or None)`` (only MANet-style heads have an embedding branch);
- ``model.features(x)`` returns the pooled clip feature ``[N, F]`` before the head;
- attributes ``num_frames`` (T), ``sampling`` (``"tsn"``: one frame per segment, or ``"dense"``:
  consecutive frames every ``frame_interval``), ``frame_interval``, ``has_embedding``;
- ``cam_target_layer`` (the module Grad-CAM hooks) and ``cam_reshape`` (a ``reshape_transform`` for
  pytorch-grad-cam mapping that layer's output to ``[N, C, T, h, w]``, or ``None`` when it already is).
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from ma52lib.models.baselines import BASELINES
from ma52lib.models.conv3d_guard import guard_conv3d
from ma52lib.models.manet import MANet

# Every constructor build_model knows: MANet and the nine baselines.
_CONSTRUCTORS: dict[str, Callable[..., nn.Module]] = {"manet": MANet, **BASELINES}


def available_models() -> list[str]:
    """Names accepted by ``build_model``."""
    return sorted(_CONSTRUCTORS)


def build_model(name: str, *, num_classes: int = 52, num_segments: int = 8, **options: Any) -> nn.Module:
    """Build model ``name`` for ``num_classes`` classes over ``num_segments`` frames/segments."""
    key = name.lower().replace("-", "_")
    if key not in _CONSTRUCTORS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(_CONSTRUCTORS))}")
    # Every 3-D model gets the bf16 Conv3d workaround (see conv3d_guard): without it C3D and R(2+1)D
    # diverge within steps under CPU bf16 autocast.
    return guard_conv3d(_CONSTRUCTORS[key](num_classes=num_classes, num_segments=num_segments, **options))
