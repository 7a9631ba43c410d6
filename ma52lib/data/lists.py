"""The official MA-52 list files: ``*_list_videos.txt``, ``label_name.txt``, and where each split's labels are.

The released lists use CRLF line endings and the last line may lack a newline; lists edited by hand
pick up BOMs, tabs and blank lines. The reader accepts all of that but is strict about content: every
line must hold exactly a file name and a fine label in 0..51, and a video may appear only once.

The real test list carries the dummy label 0 (its labels are withheld for Codabench); MA-52-Synth
ships the true ones in ``test_labels.txt``. ``labels_path`` says where a split's true labels are and
``scored_split`` which split a dataset can be scored on: test where its labels exist, else val.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ma52lib.files import atomic_write_bytes
from ma52lib.labels import FINE_CLASSES, NUM_CLASSES

_LIST_FORMAT = "'<file>.mp4 <fine_label>' (a video file name and an integer label 0..51)"
_INT = re.compile(r"[0-9]+")
_VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")


@dataclass(frozen=True)
class Clip:
    """One line of a list file: the video's file name (relative to ``videos_<split>/``) and its fine label."""

    path: str
    label: int


class AnnotationError(ValueError):
    """A list or label-name file does not follow the official format; the message says where and why."""


TEST_LABELS = "test_labels.txt"  # the true test labels, where they are not withheld


def list_path(root: str | os.PathLike[str], split: str) -> Path:
    """``ROOT/<split>_list_videos.txt``, the split's list in the official layout."""
    return Path(root) / f"{split}_list_videos.txt"


def labels_path(root: str | os.PathLike[str], split: str) -> Path | None:
    """The file holding the true labels of ``split``: its list, or for test ``test_labels.txt``.

    None for a test split without ``test_labels.txt`` (the real MA-52: labels withheld).
    """
    if split != "test":
        return list_path(root, split)
    truth = Path(root) / TEST_LABELS
    return truth if truth.is_file() else None


def scored_split(root: str | os.PathLike[str], split: str = "test") -> str:
    """``split`` where its labels are known under ``root``, else ``"val"`` (the real MA-52's test)."""
    return split if labels_path(root, split) is not None else "val"


def _read_text(path: Path) -> str:
    raw = path.read_bytes()  # a missing file raises FileNotFoundError naming the path
    try:
        # utf-8-sig drops a leading BOM left by Windows editors.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise AnnotationError(
            f"{path}: not UTF-8 text (byte {err.start}); save the file as UTF-8 and retry"
        ) from None


def _lines(text: str) -> Iterable[tuple[int, str]]:
    """1-based line numbers and stripped contents of the non-blank lines (CRLF and LF alike)."""
    # Split on "\n" only: str.splitlines would also split on form feeds and Unicode separators and
    # shift the line numbers reported to the user.
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if stripped:
            yield number, stripped


def read_list(path: str | os.PathLike[str]) -> list[Clip]:
    """Parse a ``*_list_videos.txt`` file into clips, in file order."""
    path = Path(path)
    clips: list[Clip] = []
    first_line: dict[str, int] = {}
    for number, line in _lines(_read_text(path)):
        fields = line.split()
        name = line[: line.rindex(fields[-1])].strip()
        if len(fields) > 2 and _INT.fullmatch(fields[-1]) and name.lower().endswith(_VIDEO_SUFFIXES):
            # Fields are separated by whitespace, so a name with spaces cannot be told apart from extra fields.
            raise AnnotationError(
                f"{path}, line {number}: the file name {name!r} contains spaces ({len(fields)} fields in {line!r}); "
                f"the list format separates fields by whitespace. Rename the video (e.g. to "
                f"{'_'.join(name.split())!r}) and change the line to match"
            )
        if len(fields) != 2:
            raise AnnotationError(
                f"{path}, line {number}: expected {_LIST_FORMAT}, got {len(fields)} fields in {line!r}"
            )
        name, label_text = fields
        if not _INT.fullmatch(label_text):
            raise AnnotationError(
                f"{path}, line {number}: label {label_text!r} is not a non-negative integer; "
                f"expected {_LIST_FORMAT}, got {line!r}"
            )
        label = int(label_text)
        if label >= NUM_CLASSES:
            raise AnnotationError(
                f"{path}, line {number}: label {label} is outside 0..{NUM_CLASSES - 1} in {line!r}; "
                "MA-52 has 52 fine classes (see label_name.txt)"
            )
        if name in first_line:
            raise AnnotationError(
                f"{path}: {name!r} is listed twice, on line {first_line[name]} and line {number}; "
                "each video must appear once: delete one of the two lines"
            )
        first_line[name] = number
        clips.append(Clip(name, label))
    return clips


def write_list(path: str | os.PathLike[str], clips: Iterable[Clip]) -> None:
    """Write clips in the official format: ``<file> <label>`` with CRLF endings, final newline included.

    Written atomically: a crash or a full disk never leaves half a list behind.
    """
    lines = []
    for clip in clips:
        if not clip.path or any(ch.isspace() for ch in clip.path):
            raise ValueError(f"video name {clip.path!r} is empty or contains whitespace; it could not be read back")
        if not 0 <= int(clip.label) < NUM_CLASSES:
            raise ValueError(f"label {clip.label} of {clip.path!r} is outside 0..{NUM_CLASSES - 1}")
        lines.append(f"{clip.path} {int(clip.label)}\r\n")
    atomic_write_bytes(Path(path), "".join(lines).encode("utf-8"))


def read_label_names(path: str | os.PathLike[str]) -> list[str]:
    """Parse ``label_name.txt`` (``<id>\\t<name>`` per line) into names indexed by id."""
    path = Path(path)
    names: dict[int, str] = {}
    for number, line in _lines(_read_text(path)):
        match = re.fullmatch(r"([0-9]+)\s+(\S.*)", line)
        if match is None:
            raise AnnotationError(
                f"{path}, line {number}: expected '<id><TAB><class name>', got {line!r}"
            )
        class_id, name = int(match.group(1)), match.group(2).strip()
        if class_id in names:
            raise AnnotationError(f"{path}, line {number}: id {class_id} appears a second time in {line!r}")
        names[class_id] = name
    if sorted(names) != list(range(len(names))):
        missing = sorted(set(range(max(names, default=-1) + 1)) - set(names))
        raise AnnotationError(f"{path}: class ids must be 0..{len(names) - 1} without gaps; missing {missing}")
    return [names[i] for i in range(len(names))]


def write_label_names(path: str | os.PathLike[str], names: Sequence[str] = FINE_CLASSES) -> None:
    """Write ``label_name.txt`` (``<id>\\t<name>``, one class per line) from ``names``."""
    # The original file's line endings are not documented; the reader accepts CRLF and LF alike.
    text = "".join(f"{i}\t{name}\n" for i, name in enumerate(names))
    atomic_write_bytes(Path(path), text.encode("utf-8"))
