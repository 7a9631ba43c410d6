"""Which frames of a video a model sees: TSN segments (2-D models) and dense clips (3-D models).

Both follow mmaction2 0.24's ``SampleFrames`` (the official MANet code): TSN sampling is
``SampleFrames(clip_len=1, num_clips=T)``, dense sampling ``SampleFrames(clip_len=L,
frame_interval=k, num_clips=1)``. The only randomness comes from the ``rng`` passed in.
"""

from __future__ import annotations

import numpy as np


def _check(num_frames: int, count: int, what: str) -> None:
    if num_frames < 1:
        raise ValueError(f"a video needs at least one frame to sample from, got num_frames={num_frames}")
    if count < 1:
        raise ValueError(f"{what} must be at least 1, got {count}")


def tsn_train_indices(num_frames: int, num_segments: int, rng: np.random.Generator) -> np.ndarray:
    """One random frame inside each of ``num_segments`` equal segments (training)."""
    _check(num_frames, num_segments, "num_segments")
    avg = num_frames // num_segments
    if avg > 0:
        offsets = np.arange(num_segments) * avg + rng.integers(avg, size=num_segments)
    else:
        # Fewer frames than segments: mmaction spreads the segments evenly with np.around (banker's
        # rounding) and wraps indices past the end back to the start ('loop'), which we copy.
        # (mmaction's sorted-random branch needs num_frames > num_segments, impossible when avg == 0.)
        ratio = num_frames / num_segments
        offsets = np.around(np.arange(num_segments) * ratio).astype(np.int64)
    return np.mod(offsets, num_frames).astype(np.int64)


def tsn_test_indices(num_frames: int, num_segments: int) -> np.ndarray:
    """The centre frame of each of ``num_segments`` equal segments (validation and test)."""
    _check(num_frames, num_segments, "num_segments")
    avg = num_frames / num_segments
    offsets = (np.arange(num_segments) * avg + avg / 2.0).astype(np.int64)
    return np.minimum(offsets, num_frames - 1)


def dense_indices(
    num_frames: int,
    clip_len: int,
    frame_interval: int = 1,
    *,
    train: bool,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """``clip_len`` frames ``frame_interval`` apart: random start when training, centred otherwise."""
    _check(num_frames, clip_len, "clip_len")
    if frame_interval < 1:
        raise ValueError(f"frame_interval must be at least 1, got {frame_interval}")
    span = clip_len * frame_interval
    room = num_frames - span + 1  # number of valid start positions
    if train:
        if rng is None:
            raise ValueError("dense_indices(train=True) needs an rng (np.random.default_rng(...))")
        start = int(rng.integers(room)) if room > 0 else 0
    else:
        start = int(room / 2.0) if room > 0 else 0
    indices = start + np.arange(clip_len) * frame_interval
    # A clip longer than the video repeats its last frame (mmaction's 'repeat_last'); the default
    # 'loop' would jump back to frame 0 in the middle of a motion.
    return np.minimum(indices, num_frames - 1).astype(np.int64)
