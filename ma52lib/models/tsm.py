"""Temporal shift (TSM, Lin et al. 2019) as a pure function plus a thin module around it.

The shift mixes information between neighbouring frames at zero FLOPs: a fraction of the channels
of frame ``t`` is replaced by the same channels of frame ``t + 1``, another fraction by frame
``t - 1``. Frames are stacked in the batch dimension (``[N*T, C, H, W]``), as in every 2-D
video backbone of the benchmark.

The shift is its own autograd function: its gradient is the same shift in the opposite direction,
one pass over memory. Left to autograd, the slice assignments of the forward would each allocate
a zero-filled full-size gradient in the backward (about a tenth of a MANet training step on CPU).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _shift(x: Tensor, num_segments: int, fold: int, reverse: bool) -> Tensor:
    """The raw shift on ``x`` [N*T, C, H, W] (``reverse`` swaps the directions of the two folds)."""
    nt, c, h, w = x.shape
    # [N*T, C, H, W] -> [N, T, C, H, W]; splitting dim 0 is a view for any memory format.
    src = x.view(nt // num_segments, num_segments, c, h, w)
    # One allocation; empty_like keeps channels_last strides. Every element is written below.
    out = torch.empty_like(src)
    # Forward shift: fold 0 of frame t <- frame t+1, fold 1 <- frame t-1. The gradient of that
    # moves fold 0 from t to t+1 and fold 1 from t to t-1, i.e. the same code with the folds swapped.
    ahead, behind = (slice(fold, 2 * fold), slice(0, fold)) if reverse else (slice(0, fold), slice(fold, 2 * fold))
    out[:, :-1, ahead] = src[:, 1:, ahead]  # frame t <- frame t+1
    out[:, -1, ahead] = 0
    out[:, 1:, behind] = src[:, :-1, behind]  # frame t <- frame t-1
    out[:, 0, behind] = 0
    out[:, :, 2 * fold :] = src[:, :, 2 * fold :]
    # [N, T, C, H, W] -> [N*T, C, H, W]
    return out.view(nt, c, h, w)


class _TemporalShiftFn(torch.autograd.Function):
    """``_shift`` with the reverse shift as its gradient (itself differentiable again)."""

    @staticmethod
    def forward(ctx, x: Tensor, num_segments: int, fold: int, reverse: bool) -> Tensor:
        ctx.args = (num_segments, fold, reverse)
        return _shift(x, num_segments, fold, reverse)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        num_segments, fold, reverse = ctx.args
        return _TemporalShiftFn.apply(grad.contiguous(memory_format=_format_of(grad)), num_segments, fold,
                                      not reverse), None, None, None


def _format_of(x: Tensor) -> torch.memory_format:
    """channels_last when ``x`` is stored that way, else contiguous (``view`` needs one of the two)."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def temporal_shift(x: Tensor, num_segments: int, fold_div: int = 8) -> Tensor:
    """Shift ``x`` [N*T, C, H, W] in time: channels [0, C//fold_div) from frame t+1, the next fold
    from frame t-1, the rest unchanged; vacated boundary frames are zero. Returns a new tensor."""
    if x.dim() != 4:
        raise ValueError(f"temporal_shift expects [N*T, C, H, W], got shape {tuple(x.shape)}")
    nt = x.shape[0]
    if num_segments < 1 or nt % num_segments:
        raise ValueError(
            f"temporal_shift: batch dimension {nt} is not a multiple of num_segments={num_segments}; "
            "frames must be stacked as [N*T, C, H, W] with T = num_segments"
        )
    fold = x.shape[1] // fold_div
    if fold == 0:
        return x.clone()  # nothing to shift; still a new tensor, as promised
    return _TemporalShiftFn.apply(x, num_segments, fold, False)


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


def tsm_factory(channels: int, num_segments: int, fold_div: int = 8) -> nn.Module:
    """The default ``temporal_module`` factory of MANet/TSM: a TSM shift with fold C // ``fold_div`` (TSM's 8)."""
    del channels  # the shift is channel-agnostic; the argument is part of the factory contract
    return TemporalShift(num_segments, fold_div=fold_div)
