"""Video decoding with decord, reading only the sampled frames.

decord raises a mix of ``RuntimeError``, ``DECORDError`` and ``IndexError`` with C++ log lines in the
message; every failure here becomes a ``VideoError`` that names the file and says what to do. decord's
C++ logger also prints its error line straight to the process's stderr before raising: opening a file
captures that output, drops it when the open fails (the VideoError carries its text) and passes it on
otherwise (ffmpeg warnings such as "moov atom not found" about a file that still opens).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import decord
import numpy as np
import torch

_ADVICE = (
    "re-download or re-generate the file, or drop it from the list "
    "(`ma52 data check --root DIR` lists every bad file)"
)


# Frames above 4K UHD are far beyond what any model here needs (MA-52 is 1080 x 1296): decoding them
# works but costs time and memory, so the user is told once per file.
LARGE_FRAME_PIXELS = 3840 * 2160
_warned_large: set[str] = set()


class VideoError(RuntimeError):
    """A video cannot be opened or decoded; the message names the file and the fix."""


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` learns about a video."""

    num_frames: int
    fps: float
    width: int
    height: int


def _first_line(err: BaseException) -> str:
    """The useful part of a decord message (its first non-empty line, without the C++ log prefix)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else type(err).__name__
    # decord prefixes "[hh:mm:ss] /path/to/video_reader.cc:NNN: "; keep what follows.
    if text.startswith("[") and ".cc:" in text:
        text = text.split(".cc:", 1)[1].split(":", 1)[-1].strip()
    return text


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[bytes]]:
    """Redirect file descriptor 2 (where C++ code writes) into a buffer; yields a list that receives its bytes."""
    sys.stderr.flush()
    captured: list[bytes] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read())


def _open_failure(path: Path, err: BaseException) -> str:
    """The one-line VideoError message of a file decord cannot open."""
    detail = _first_line(err)
    reason = "has no video stream" if "video stream" in detail else \
        "is not a readable video (truncated, corrupt or not a video file)"
    return f"video {path} {reason}: decord says {detail!r}; {_ADVICE}"


def open_video(path: str | os.PathLike[str]) -> decord.VideoReader:
    """Open ``path`` with decord (CPU, one thread) or raise ``VideoError`` saying why it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video not found: {path}; check the dataset root and the videos_<split>/ folder")
    if path.stat().st_size == 0:
        raise VideoError(f"video {path} is empty (0 bytes); {_ADVICE}")
    with _captured_stderr() as printed:
        try:
            reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        except Exception as err:  # decord's error types are not part of its API: catch them all
            # What decord printed is dropped: the message below carries its text.
            raise VideoError(_open_failure(path, err)) from None
    if printed[0]:
        os.write(2, printed[0])  # warnings about a file that opened: the user should still see them
    if len(reader) == 0:
        raise VideoError(f"video {path} has no frames; {_ADVICE}")
    return reader


def decode_frames(
    reader: decord.VideoReader, indices: Sequence[int] | np.ndarray, *, path: str | os.PathLike[str] = "?"
) -> torch.Tensor:
    """Decode frames ``indices`` of an open reader to uint8 ``[T, H, W, 3]`` RGB; ``path`` names it in errors."""
    index_list = [int(i) for i in np.asarray(indices).reshape(-1)]
    if not index_list:
        raise ValueError("no frame indices given: at least one frame must be requested")
    num_frames = len(reader)
    bad = [i for i in index_list if not 0 <= i < num_frames]
    if bad:
        raise ValueError(f"frame indices {bad} are outside 0..{num_frames - 1} of {path}")
    try:
        frames = reader.get_batch(index_list).asnumpy()
    except Exception as err:
        raise VideoError(
            f"video {path} failed to decode frames {index_list}: {_first_line(err)!r}; {_ADVICE}"
        ) from None
    height, width = frames.shape[1], frames.shape[2]
    if height * width > LARGE_FRAME_PIXELS and str(path) not in _warned_large:
        _warned_large.add(str(path))
        warnings.warn(
            f"video {path} is {width}x{height}, larger than 4K UHD: its {len(index_list)} frames take "
            f"{frames.nbytes / 2**20:.0f} MiB before resizing, which is slow and, with several loader workers, "
            "can exhaust memory. Downscale such videos once (e.g. ffmpeg -i IN.mp4 -vf scale=-2:720 OUT.mp4)",
            stacklevel=2,
        )
    return torch.from_numpy(frames)


def read_frames(path: str | os.PathLike[str], indices: Sequence[int] | np.ndarray) -> torch.Tensor:
    """Decode only frames ``indices`` of ``path`` to uint8 ``[T, H, W, 3]`` RGB."""
    return decode_frames(open_video(path), indices, path=path)


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame count, fps and size of ``path``; decodes the first and last frame so truncation shows up."""
    reader = open_video(path)
    num_frames = len(reader)
    # The container header can promise frames a truncated file no longer holds: decode the last one.
    frames = decode_frames(reader, [0, num_frames - 1], path=path)
    height, width = int(frames.shape[1]), int(frames.shape[2])
    return VideoInfo(num_frames=num_frames, fps=float(reader.get_avg_fps()), width=width, height=height)
