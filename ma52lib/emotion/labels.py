"""``emotion_labels.csv``: which clips make up each interview session, and the session's emotion.

The file lives in the dataset folder beside the official lists (``ROOT/emotion_labels.csv``, one file
for all splits) and has a header and one row per session::

    split,session,emotion,clips
    train,s0001,negative,0001_05_0001 0001_06_0002 0001_24_0003
    test,s0042,positive,test0007 test0031 test0112

- ``split``: ``train``, ``val`` or ``test``; the clips must be listed in ``ROOT/{split}_list_videos.txt``.
- ``session``: any id without whitespace, unique in the file (a session belongs to one split, and a
  participant should appear in one split only: the split is at session level).
- ``emotion``: one of the allowed states (by default ``EMOTIONS``; a holder of MA-52-Pro passes its own set).
- ``clips``: the session's clip ids separated by spaces: the video file names of the list, with or
  without ``.mp4``. A clip belongs to at most one session.

Anyone with session-level emotion labels for MA-52-style clips (MA-52-Pro included) can write this
file by hand or with ``write_emotion_labels``; the experiment reads nothing else about emotions.
The rows (``Session``) and the writer live with the renderer that writes the file for MA-52-Synth
(``ma52lib.synth.emotion``, which imports nothing of this package); this module reads and checks it.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from ma52lib.data.lists import list_path, read_list
from ma52lib.synth.emotion import COLUMNS, EMOTIONS, LABELS_FILE, Session, clip_id, write_emotion_labels
from ma52lib.synth.writer import SPLITS


class EmotionLabelError(ValueError):
    """``emotion_labels.csv`` is malformed or names something that does not exist; the message says where."""


def read_emotion_labels(
    path: str | os.PathLike[str],
    *,
    emotions: Sequence[str] = EMOTIONS,
    root: str | os.PathLike[str] | None = None,
) -> list[Session]:
    """Parse and validate ``path``; with ``root``, every clip must be in that split's list under ``root``.

    Raises ``EmotionLabelError`` naming the file and line for a bad header or row, an unknown split or
    emotion (listing the allowed ones), a repeated session or clip, or a clip missing from the lists.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: session emotion labels are expected there (header {','.join(COLUMNS)}); "
            "make them with `ma52 emotion synth` or write them for your data (see ma52lib/emotion/labels.py)"
        )
    allowed = tuple(emotions)
    lists = Path(root) if root is not None else None
    listed = _listed_clips(lists, path) if lists is not None else None
    text = path.read_bytes().decode("utf-8-sig")  # a BOM from a spreadsheet export is harmless
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None or tuple(h.strip().lower() for h in header) != COLUMNS:
        raise EmotionLabelError(f"{path}, line 1: expected the header {','.join(COLUMNS)!r}, got {header!r}")

    sessions: list[Session] = []
    seen_session: dict[str, int] = {}
    seen_clip: dict[str, tuple[str, int]] = {}
    for row in rows:
        number = rows.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        where = f"{path}, line {number}"
        s = _parse_row(row, where, allowed, seen_session)
        for c in s.clips:
            if c in seen_clip:
                other, line = seen_clip[c]
                raise EmotionLabelError(
                    f"{where}: clip {c!r} of session {s.session!r} already belongs to session "
                    f"{other!r} (line {line}); a clip can be in one session only"
                )
            seen_clip[c] = (s.session, number)
            if lists is not None and listed is not None and c not in listed[s.split]:
                raise EmotionLabelError(
                    f"{where}: unknown clip {c!r} in session {s.session!r}: it is not listed in "
                    f"{list_path(lists, s.split)}; fix the id or the split column"
                )
        seen_session[s.session] = number
        sessions.append(s)
    if not sessions:
        raise EmotionLabelError(f"{path}: no sessions after the header")
    return sessions


def _parse_row(row: list[str], where: str, allowed: tuple[str, ...], seen_session: dict[str, int]) -> Session:
    """One row as a Session: known split and emotion, a new session id without whitespace, some clips."""
    if len(row) != len(COLUMNS):
        raise EmotionLabelError(
            f"{where}: expected {len(COLUMNS)} fields ({','.join(COLUMNS)}), got {len(row)}: {row!r}"
        )
    split, session, emotion, clips_text = (cell.strip() for cell in row)
    if split not in SPLITS:
        raise EmotionLabelError(f"{where}: unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    if not session or any(ch.isspace() for ch in session):
        raise EmotionLabelError(f"{where}: session id {session!r} is empty or holds whitespace")
    if session in seen_session:
        raise EmotionLabelError(
            f"{where}: session {session!r} already appears on line {seen_session[session]}; "
            "each session is one row (and belongs to one split)"
        )
    if emotion not in allowed:
        raise EmotionLabelError(
            f"{where}: unknown emotion {emotion!r} for session {session!r}; "
            f"allowed: {', '.join(allowed)} (pass your own set with --emotions / emotions=)"
        )
    clips = tuple(clip_id(c) for c in clips_text.split())
    if not clips:
        raise EmotionLabelError(f"{where}: session {session!r} lists no clips")
    return Session(split, session, emotion, clips)


def _listed_clips(root: Path, labels_path: Path) -> dict[str, set[str]]:
    """Clip ids of each split's list under ``root`` (empty set for a split without a list)."""
    out: dict[str, set[str]] = {}
    for split in SPLITS:
        path = list_path(root, split)
        out[split] = {clip_id(c.path) for c in read_list(path)} if path.is_file() else set()
    if not any(out.values()):
        raise FileNotFoundError(
            f"no *_list_videos.txt under {root} to check {labels_path} against; "
            "point root at the dataset folder that holds the lists"
        )
    return out


def load_sessions(
    root: str | os.PathLike[str],
    *,
    emotions: Sequence[str] = EMOTIONS,
    labels_file: str | os.PathLike[str] | None = None,
) -> list[Session]:
    """The validated sessions of the dataset at ``root`` (``ROOT/emotion_labels.csv`` unless ``labels_file``)."""
    root = Path(root)
    return read_emotion_labels(labels_file or root / LABELS_FILE, emotions=emotions, root=root)


def sessions_of(sessions: Sequence[Session], split: str) -> list[Session]:
    """The sessions of one split, in file order."""
    return [s for s in sessions if s.split == split]


__all__ = [
    "COLUMNS", "EMOTIONS", "SPLITS", "LABELS_FILE", "EmotionLabelError", "Session", "clip_id", "load_sessions",
    "read_emotion_labels", "sessions_of", "write_emotion_labels",
]
