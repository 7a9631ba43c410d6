"""Open every video a run will read before it trains, so a bad file stops it in seconds, not after an epoch.

Opening a file and reading its frame count (no decoding) finds the empty, truncated-header and
not-a-video files that would otherwise fail the loader mid-epoch or mid-validation. Files already found
good in this process (same size and time) are not opened again: a book trains many models on one dataset.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ma52lib.data.lists import list_path, read_list
from ma52lib.data.video import VideoError, open_video

_good: set[tuple[str, int, int]] = set()  # (path, size, mtime_ns) of files that opened with frames


def _key(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return str(path), st.st_size, st.st_mtime_ns


def frame_count(path: Path) -> int:
    """Frames of ``path`` as its container says (0 when it cannot be opened: ``open_video`` says why)."""
    reader = open_video(path)
    try:
        return len(reader)
    finally:
        del reader


def bad_videos(root: str | os.PathLike[str], splits: Sequence[str]) -> list[str]:
    """One line per video of ``splits`` (of the official layout at ``root``) that cannot be opened."""
    root = Path(root)
    problems: list[str] = []
    for split in dict.fromkeys(splits):
        listed = list_path(root, split)
        if not listed.is_file():
            continue  # the dataset itself says which list is missing
        for clip in read_list(listed):
            path = root / f"videos_{split}" / clip.path
            key = _key(path)
            if key in _good:
                continue
            try:
                frame_count(path)
            except VideoError as exc:
                problems.append(str(exc))
                continue
            _good.add(key)
    return problems


def check_videos(root: str | os.PathLike[str], splits: Sequence[str]) -> None:
    """Raise ``VideoError`` naming every unreadable video of ``splits`` (first ten in full)."""
    problems = bad_videos(root, splits)
    if not problems:
        return
    shown = "\n  ".join(problems[:10])
    more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
    raise VideoError(f"{len(problems)} video(s) of {', '.join(dict.fromkeys(splits))} cannot be read, found before "
                     f"training (nothing was trained or written):\n  {shown}{more}\nFix or drop them, or pass "
                     "--set data.on_error=skip to train without them")


__all__ = ["bad_videos", "check_videos", "frame_count"]
