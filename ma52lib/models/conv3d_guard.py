"""Work around a wrong bf16 Conv3d weight gradient on CPU (oneDNN in torch 2.14.1).

Measured here: under CPU bf16 autocast, a Conv3d whose temporal kernel is longer than its input clip
(e.g. a 3-frame kernel over a 2-frame feature map, as in the last stages of C3D and R(2+1)D at 8
frames) returns weight gradients that are garbage (|g| up to 1e36, different on every call), while
its output and input gradient are right. Training then turns NaN within a step or two. Nothing else
is affected: spatial kernels larger than the map, Conv2d, and GPUs give correct gradients.

``guard_conv3d`` makes every Conv3d of a model run that one case in fp32 (a few tiny late-stage
maps, so the cost is negligible) and leaves every other call, and the state dict, untouched.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class GuardedConv3d(nn.Conv3d):
    """``nn.Conv3d`` that leaves bf16 autocast for inputs shorter in time than its kernel on CPU."""

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == "cpu" and x.shape[-3] < self.kernel_size[0] and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return self._conv_forward(x.float(), self.weight, self.bias)
        return super().forward(x)


def guard_conv3d(model: nn.Module) -> nn.Module:
    """Turn each plain ``nn.Conv3d`` of ``model`` into a ``GuardedConv3d`` in place; returns ``model``."""
    for module in model.modules():
        if type(module) is nn.Conv3d:
            # Same parameters and buffers, same state-dict keys: only the forward method changes.
            module.__class__ = GuardedConv3d
    return model
