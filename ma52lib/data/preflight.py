"""Open every video a run will read before it trains, so a bad file stops it in seconds, not after an epoch.

Opening a file and reading its frame count (no decoding) finds the empty, truncated-header and
not-a-video files that would otherwise fail the loader mid-epoch or mid-validation (~4 ms a file). A check
that found every file good is remembered until a file changes: a book trains many models on one dataset.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from ma52lib.data.lists import list_path, read_list
from ma52lib.data.video import VideoError, open_video
from ma52lib.files import atomic_write_text
from ma52lib.paths import runs_dir



def _listed(root: Path, splits: Sequence[str]) -> list[Path]:
    """The video files ``splits`` list (a split without its list or folder is left to the dataset to report)."""
    paths: list[Path] = []
    for split in dict.fromkeys(splits):
        listed = list_path(root, split)
        if listed.is_file() and (root / f"videos_{split}").is_dir():
            paths += [root / f"videos_{split}" / clip.path for clip in read_list(listed)]
    return paths


def _stamp(paths: list[Path]) -> Path:
    """Where a check of exactly these files (paths, sizes, times) that found all of them good is remembered."""
    digest = hashlib.sha256()
    for path in paths:
        with contextlib.suppress(OSError):
            st = path.stat()
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            continue
        digest.update(f"{path}\0missing\n".encode())
    # a hidden file, not a folder: whatever lists the run folders never sees it
    return runs_dir() / f".videos-checked-{digest.hexdigest()[:24]}"


def bad_videos(root: str | os.PathLike[str], splits: Sequence[str]) -> list[str]:
    """One line per video of ``splits`` (of the official layout at ``root``) that cannot be opened."""
    problems = []
    for path in _listed(Path(root), splits):
        try:
            len(open_video(path))  # the container's frame count, no decoding
        except VideoError as exc:
            problems.append(str(exc))
    return problems


def check_videos(root: str | os.PathLike[str], splits: Sequence[str]) -> None:
    """Raise ``VideoError`` naming every unreadable video of ``splits`` (first ten in full). A check that found
    every file good is remembered (under the runs folder) until a file changes: a book's runs pay it once."""
    stamp = _stamp(_listed(Path(root), splits))
    if stamp.exists():
        return
    problems = bad_videos(root, splits)
    if not problems:
        atomic_write_text(stamp, f"{root} {' '.join(splits)}\n")
        return
    shown = "\n  ".join(problems[:10])
    more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
    raise VideoError(f"{len(problems)} video(s) of {', '.join(dict.fromkeys(splits))} cannot be read, found before "
                     f"training (nothing was trained or written):\n  {shown}{more}\nFix or drop them, or pass "
                     "--set data.on_error=skip to train without them")


__all__ = ["bad_videos", "check_videos"]
