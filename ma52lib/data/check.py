"""``check_dataset``: is a folder a usable MA-52 dataset? (behind ``ma52 data check``)

Every listed file is looked up (cheap); a spread-out sample of up to ``max_probe`` files per split is
opened and its first and last frames decoded. Problems are errors (``report.ok`` is False) or
warnings (a video listed in two splits, label names that differ from ours).
"""

from __future__ import annotations

import hashlib
import os
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ma52lib.data.lists import AnnotationError, Clip, labels_path, list_path, read_label_names, read_list
from ma52lib.data.video import VideoError, probe
from ma52lib.labels import BODY_PARTS, FINE_CLASSES, FINE_TO_BODY, NUM_BODY_PARTS, NUM_CLASSES


@dataclass
class Summary:
    """min / median / max of one quantity over the probed videos."""

    min: float
    median: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary | None:
        return cls(min(values), statistics.median(values), max(values)) if values else None

    def __str__(self) -> str:
        return f"{self.min:g} / {self.median:g} / {self.max:g}"


# Clips shorter than the paper's 8 sampled frames are flagged: readable, but a model sees repeated frames.
SHORT_FRAMES = 8


@dataclass
class SplitReport:
    """What ``check_dataset`` found for one split."""

    split: str
    list_path: str
    video_dir: str
    list_error: str | None = None  # missing or malformed list file
    video_dir_found: bool = True
    num_clips: int = 0
    has_labels: bool = True
    class_counts: list[int] | None = None  # [52], None when the split has no labels
    body_counts: list[int] | None = None  # [7]
    missing: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # file -> reason
    short: dict[str, int] = field(default_factory=dict)  # file -> frames, fewer than SHORT_FRAMES
    probed: int = 0
    frames: Summary | None = None
    fps: Summary | None = None
    width: Summary | None = None
    height: Summary | None = None

    @property
    def ok(self) -> bool:
        """True when the list parses, the folder exists and no checked file is missing or unreadable."""
        return self.list_error is None and self.video_dir_found and not self.missing and not self.unreadable

    def format_lines(self) -> list[str]:
        """The split's part of ``DatasetReport.format``."""
        lines = [f"[{self.split}] {'OK' if self.ok else 'PROBLEMS'}"]
        if self.list_error is not None:
            lines.append(f"  list: ERROR {self.list_error}")
        if not self.video_dir_found:
            lines.append(f"  video folder missing: {self.video_dir}")
        if self.list_error is not None:
            return lines
        lines.append(f"  clips: {self.num_clips}" + ("" if self.has_labels else " (no labels: dummy test labels)"))
        return lines + self._count_lines() + self._file_lines()

    def _count_lines(self) -> list[str]:
        """Clips per body part and the range of clips per class (where the labels are known)."""
        if self.body_counts is None or self.class_counts is None:
            return []
        parts = ", ".join(f"{name} {n}" for name, n in zip(BODY_PARTS, self.body_counts))
        lines = [f"  per body part: {parts}"]
        empty = [i for i, n in enumerate(self.class_counts) if n == 0]
        nonzero = [n for n in self.class_counts if n]
        if nonzero:
            lines.append(
                f"  per class: min {min(nonzero)}, max {max(nonzero)} clips"
                + (f"; {len(empty)} classes have none ({_ids(empty)})" if empty else "; every class present")
            )
        return lines

    def _file_lines(self) -> list[str]:
        """Missing and unreadable files (the first five of each) and what the probed videos look like."""
        lines = []
        if self.missing:
            shown = ", ".join(self.missing[:5]) + (" ..." if len(self.missing) > 5 else "")
            lines.append(f"  missing files: {len(self.missing)} ({shown})")
        if self.unreadable:
            lines.append(f"  unreadable files: {len(self.unreadable)}")
            for name, reason in list(self.unreadable.items())[:5]:
                lines.append(f"    {name}: {reason}")
        if self.short:
            shown = ", ".join(f"{name} ({n})" for name, n in list(self.short.items())[:5])
            lines.append(f"  short clips: {len(self.short)} with fewer than {SHORT_FRAMES} frames, the clip length the "
                         f"paper's models sample (frames repeat; `ma52 predict` skips them): {shown}")
        if self.probed:
            lines.append(f"  probed {self.probed} videos (min / median / max):")
            lines.append(f"    frames {self.frames}, fps {self.fps}, width {self.width}, height {self.height}")
        return lines


@dataclass
class DatasetReport:
    """Per-split findings plus cross-split warnings; ``format()`` renders it for people."""

    root: str
    splits: dict[str, SplitReport]
    leaks: dict[str, list[str]] = field(default_factory=dict)  # video name -> splits listing it
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every split is usable (warnings do not count; ``--strict`` may add them)."""
        return all(s.ok for s in self.splits.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable view of the report."""
        out = asdict(self)
        out["ok"] = self.ok
        for name, split in self.splits.items():
            out["splits"][name]["ok"] = split.ok
        return out

    def format(self) -> str:
        """Readable multi-line text."""
        lines = [f"MA-52 dataset check: {self.root}"]
        for s in self.splits.values():
            lines.append("")
            lines += s.format_lines()
        if self.leaks or self.warnings:
            lines.append("")
        if self.leaks:
            lines.append(f"WARNING: {len(self.leaks)} videos are listed in more than one split (leakage):")
            for name, splits in list(self.leaks.items())[:5]:
                lines.append(f"  {name}: {', '.join(splits)}")
        for warning in self.warnings:
            lines.append(f"WARNING: {warning}")
        lines.append("")
        lines.append("result: " + ("OK" if self.ok else "PROBLEMS FOUND"))
        return "\n".join(lines)


def _ids(ids: list[int], limit: int = 10) -> str:
    """``ids`` as text, cut after ``limit``."""
    return ", ".join(map(str, ids[:limit])) + (", ..." if len(ids) > limit else "")


def _spread(n: int, k: int) -> list[int]:
    """Up to ``k`` indices evenly spread over ``range(n)``."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, k)})


def _check_split(
    root: Path, split: str, max_probe: int, progress: bool
) -> tuple[SplitReport, list[str], list[str]]:
    """The split's report, the names it lists and any warnings."""
    warnings: list[str] = []
    listed = list_path(root, split)
    video_dir = root / f"videos_{split}"
    report = SplitReport(split=split, list_path=str(listed), video_dir=str(video_dir))
    report.video_dir_found = video_dir.is_dir()
    clips = _read_split_list(listed, report)
    if clips is None:
        return report, [], warnings
    report.num_clips = len(clips)
    labels = _true_labels(root, split, clips, report, warnings)
    if labels is None:
        return report, [], warnings
    if report.has_labels:
        report.class_counts = np.bincount(labels, minlength=NUM_CLASSES).tolist()
        report.body_counts = np.bincount(
            [FINE_TO_BODY[y] for y in labels], minlength=NUM_BODY_PARTS
        ).tolist()
    if report.video_dir_found:
        present = _present_files(video_dir, clips, report)
        _probe_sample(video_dir, present, report, max_probe=max_probe, progress=progress)
    return report, [c.path for c in clips], warnings


def _read_split_list(path: Path, report: SplitReport) -> list[Clip] | None:
    """The clips of a list file, or None with ``report.list_error`` saying why it cannot be used."""
    try:
        clips = read_list(path)
    except FileNotFoundError:
        report.list_error = f"{path} not found (expected one '<file>.mp4 <label>' per line)"
        return None
    except AnnotationError as err:
        report.list_error = str(err)
        return None
    if not clips:
        report.list_error = (f"{path} lists no videos (empty or only blank lines); "
                             "expected one '<file>.mp4 <label>' per line")
        return None
    return clips


def _true_labels(root: Path, split: str, clips: list[Clip], report: SplitReport,
                 warnings: list[str]) -> list[int] | None:
    """The clips' labels: for test, those of test_labels.txt when it labels every clip (``report.has_labels``).

    None when test_labels.txt is malformed (``report.list_error`` says why).
    """
    labels = [c.label for c in clips]
    if split != "test":
        return labels
    report.has_labels = False
    truth_path = labels_path(root, split)
    if truth_path is None:
        return labels
    try:
        truth = {c.path: c.label for c in read_list(truth_path)}
    except AnnotationError as err:
        report.list_error = f"test labels: {err}"
        return None
    unlabelled = [c.path for c in clips if c.path not in truth]
    if unlabelled:
        warnings.append(
            f"{truth_path} lacks labels for {len(unlabelled)} test videos "
            f"(first: {unlabelled[0]!r}); test labels ignored"
        )
        return labels
    report.has_labels = True
    return [truth[c.path] for c in clips]


def _present_files(video_dir: Path, clips: list[Clip], report: SplitReport) -> list[str]:
    """The listed files that exist and are not empty; the others go to ``report.missing`` / ``unreadable``."""
    present = []
    for clip in clips:
        path = video_dir / clip.path
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            report.missing.append(clip.path)
            continue
        if size == 0:
            report.unreadable[clip.path] = "empty file (0 bytes)"
        else:
            present.append(clip.path)
    return present


def _probe_sample(video_dir: Path, present: list[str], report: SplitReport, *, max_probe: int,
                  progress: bool) -> None:
    """Decode up to ``max_probe`` of the ``present`` files (spread evenly) and summarise frames, fps and size."""
    infos = []
    sample = [present[i] for i in _spread(len(present), max_probe)]
    # disable=None lets tqdm stay quiet when stderr is not a terminal (pipes, papermill).
    quiet = not progress or not sample or os.environ.get("MA52_QUIET") == "1"
    for name in tqdm(sample, desc=f"probing {report.split}", disable=True if quiet else None, leave=False):
        try:
            infos.append(probe(video_dir / name))
        except VideoError as err:
            report.unreadable[name] = str(err)
            continue
        if infos[-1].num_frames < SHORT_FRAMES:
            report.short[name] = infos[-1].num_frames
    report.probed = len(sample)
    report.frames = Summary.of([i.num_frames for i in infos])
    report.fps = Summary.of([round(i.fps, 3) for i in infos])
    report.width = Summary.of([i.width for i in infos])
    report.height = Summary.of([i.height for i in infos])


def find_leaks(root: str | os.PathLike[str], splits: Sequence[str] = ("train", "val", "test")) -> dict[str, list[str]]:
    """Videos listed in more than one split's list: name -> splits (reads only the lists; bad lists are skipped)."""
    root = Path(root)
    listed_in: dict[str, list[str]] = {}
    for split in dict.fromkeys(splits):  # a split named twice is one split
        try:
            clips = read_list(list_path(root, split))
        except (FileNotFoundError, AnnotationError):
            continue  # check_dataset reports those; a leak check has nothing to compare
        for clip in clips:
            listed_in.setdefault(clip.path, []).append(split)
    return _leaks(root, listed_in)


def _leaks(root: Path, listed_in: dict[str, list[str]]) -> dict[str, list[str]]:
    """The names listed in several splits that are the same clip there: name -> those splits."""
    out = {}
    for name, where in listed_in.items():
        if len(where) > 1:
            same = _splits_sharing_a_clip(root, name, where)
            if len(same) > 1:
                out[name] = same
    return out


def _splits_sharing_a_clip(root: Path, name: str, splits: list[str]) -> list[str]:
    """Of the splits listing ``name``, those that hold the same clip under it.

    Videos are identified by file name (MA-52's names are unique across splits), except that two files
    of that name which differ in content are distinct clips. A split whose file is missing cannot be
    compared and counts as the same clip unless the existing files already differ.
    """
    present = {s: root / f"videos_{s}" / name for s in splits}
    present = {s: f for s, f in present.items() if f.is_file()}
    by_size: dict[int, list[str]] = {}
    for split, f in present.items():
        by_size.setdefault(f.stat().st_size, []).append(split)
    groups: dict[object, list[str]] = {}  # content -> splits; bytes are read only when sizes collide
    for same_size in by_size.values():
        for split in same_size:
            key = hashlib.sha256(present[split].read_bytes()).digest() if len(same_size) > 1 else split
            groups.setdefault(key, []).append(split)
    same = {s for g in groups.values() if len(g) > 1 for s in g}
    if len(groups) <= 1:
        same |= set(splits) - set(present)
        same |= set(present)
    return [s for s in splits if s in same]


def check_dataset(
    root: str | os.PathLike[str],
    *,
    splits: Sequence[str] = ("train", "val", "test"),
    max_probe: int = 200,
    progress: bool = True,
) -> DatasetReport:
    """Check lists, files and a sample of videos of each split under ``root``."""
    root = Path(root)
    reports: dict[str, SplitReport] = {}
    listed_in: dict[str, list[str]] = {}
    warnings: list[str] = []
    for split in splits:
        reports[split], names, split_warnings = _check_split(root, split, max_probe, progress)
        warnings.extend(split_warnings)
        for name in names:
            listed_in.setdefault(name, []).append(split)
    report = DatasetReport(root=str(root), splits=reports, warnings=warnings)
    report.leaks = _leaks(root, listed_in)

    names_path = root / "label_name.txt"
    if names_path.is_file():
        try:
            names = read_label_names(names_path)
        except AnnotationError as err:
            report.warnings.append(str(err))
        else:
            if tuple(names) != FINE_CLASSES:
                differ = [
                    i
                    for i in range(max(len(names), NUM_CLASSES))
                    if i >= len(names) or i >= NUM_CLASSES or names[i] != FINE_CLASSES[i]
                ]
                report.warnings.append(
                    f"{names_path}: {len(names)} class names that differ from ma52lib.labels.FINE_CLASSES "
                    f"at ids {differ[:10]}{' ...' if len(differ) > 10 else ''}"
                )
    return report
