"""The nine general action-recognition baselines of the benchmark, by ``build_model`` name.

Every constructor is ``(num_classes=52, num_segments=8, *, size="paper"|"cpu"|"tiny", pretrained=None,
dropout=0.5, **overrides)``: ``size`` picks a width/depth preset, ``overrides`` (``width=``, ``depth=``,
...) change it, ``pretrained`` is a local state dict (nothing is downloaded). ``num_segments`` is the
number of frames T the model reads: TSN segments for TSN/TSM/TIN, one dense clip for the others.

The papers' clips, for reference (frames x interval): C3D 16x1, I3D 32x2, R(2+1)D 8x8 (mmaction2),
SlowFast 4x16 (32 fast frames), TimeSformer 8x32, Video Swin 32x2. At the default T = 8 every dense model
keeps its paper's temporal span, capped at 64 frames (MA-52 clips are 45-75 frames): see
``common.dense_interval``.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from ma52lib.models.baselines.c3d import C3D
from ma52lib.models.baselines.i3d import I3D
from ma52lib.models.baselines.r2plus1d import R2Plus1D
from ma52lib.models.baselines.slowfast import SlowFast
from ma52lib.models.baselines.swin import VideoSwin
from ma52lib.models.baselines.timesformer import TimeSformer
from ma52lib.models.baselines.tsn_tsm_tin import TIN, TSM, TSN

BASELINES: dict[str, Callable[..., nn.Module]] = {
    "tsn": TSN,
    "tsm": TSM,
    "tin": TIN,
    "c3d": C3D,
    "i3d": I3D,
    "r2plus1d": R2Plus1D,
    "slowfast": SlowFast,
    "timesformer": TimeSformer,
    "vswin": VideoSwin,
}

__all__ = ["BASELINES", "C3D", "I3D", "R2Plus1D", "SlowFast", "TIN", "TSM", "TSN", "TimeSformer", "VideoSwin"]
