"""Tiny helpers for tests that need real video files (h264 mp4 written with PyAV)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np


def write_test_video(path: str | os.PathLike[str], frames: np.ndarray, fps: int = 30) -> Path:
    """Encode uint8 RGB frames ``[T, H, W, 3]`` (H, W even) as an h264 mp4 at ``path``."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"yuv420p needs even height and width, got {frames.shape[1]}x{frames.shape[2]}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        # Near-lossless and single-threaded: keeps decoded values close to the input and tests quiet.
        stream.options = {"crf": "12", "preset": "ultrafast", "threads": "1"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def gray_frames(num_frames: int, height: int = 48, width: int = 64, step: int = 20) -> np.ndarray:
    """Solid gray frames ``[T, H, W, 3]`` whose level is ``step * t`` (so frame t is recognisable)."""
    levels = (np.arange(num_frames) * step) % 256
    return np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)).astype(np.uint8)
