"""Temporal shift (TSM, Lin et al. 2019) as a pure function plus a thin module around it.

The shift mixes information between neighbouring frames at zero FLOPs: a fraction of the channels
of frame ``t`` is replaced by the same channels of frame ``t + 1``, another fraction by frame
``t - 1``. Frames are stacked in the batch dimension (``[N*T, C, H, W]``), as in every 2-D
video backbone of the benchmark.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def temporal_shift(x: Tensor, num_segments: int, fold_div: int = 8) -> Tensor:
    """Shift ``x`` [N*T, C, H, W] in time: channels [0, C//fold_div) from frame t+1, the next fold
    from frame t-1, the rest unchanged; vacated boundary frames are zero. Returns a new tensor."""
    if x.dim() != 4:
        raise ValueError(f"temporal_shift expects [N*T, C, H, W], got shape {tuple(x.shape)}")
    nt, c, h, w = x.shape
    if num_segments < 1 or nt % num_segments:
        raise ValueError(
            f"temporal_shift: batch dimension {nt} is not a multiple of num_segments={num_segments}; "
            "frames must be stacked as [N*T, C, H, W] with T = num_segments"
        )
    fold = c // fold_div
    # [N*T, C, H, W] -> [N, T, C, H, W]; splitting dim 0 is a view for any memory format.
    src = x.view(nt // num_segments, num_segments, c, h, w)
    # One allocation; empty_like keeps channels_last strides. Every element is written below.
    out = torch.empty_like(src)
    out[:, :-1, :fold] = src[:, 1:, :fold]  # frame t <- frame t+1
    out[:, -1, :fold] = 0
    out[:, 1:, fold : 2 * fold] = src[:, :-1, fold : 2 * fold]  # frame t <- frame t-1
    out[:, 0, fold : 2 * fold] = 0
    out[:, :, 2 * fold :] = src[:, :, 2 * fold :]
    # [N, T, C, H, W] -> [N*T, C, H, W]
    return out.view(nt, c, h, w)


class TemporalShift(nn.Module):
    """Module form of ``temporal_shift`` (no parameters), for use inside a residual branch."""

    def __init__(self, num_segments: int, fold_div: int = 8) -> None:
        super().__init__()
        self.num_segments = num_segments
        self.fold_div = fold_div

    def forward(self, x: Tensor) -> Tensor:
        return temporal_shift(x, self.num_segments, self.fold_div)

    def extra_repr(self) -> str:
        return f"num_segments={self.num_segments}, fold_div={self.fold_div}"


def tsm_factory(channels: int, num_segments: int) -> nn.Module:
    """The default ``temporal_module`` factory of MANet/TSM: a TSM shift with fold C // 8."""
    del channels  # the shift is channel-agnostic; the argument is part of the factory contract
    return TemporalShift(num_segments, fold_div=8)
