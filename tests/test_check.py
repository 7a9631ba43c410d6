"""ma52lib.data.check: a good layout passes, every kind of breakage is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ma52lib.data.check import check_dataset
from ma52lib.data.lists import Clip, write_label_names, write_list

from videotools import gray_frames, write_test_video

LAYOUT = {
    "train": [Clip("0001_00_0001.mp4", 0), Clip("0001_02_0002.mp4", 12), Clip("0002_05_0003.mp4", 40)],
    "val": [Clip("0003_01_0004.mp4", 7), Clip("0003_06_0005.mp4", 50)],
    "test": [Clip("test0000.mp4", 0), Clip("test0001.mp4", 0)],
}


@pytest.fixture(scope="module")
def video_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_test_video(tmp_path_factory.mktemp("v") / "v.mp4", gray_frames(10), fps=30).read_bytes()


def _make(root: Path, data: bytes) -> Path:
    for split, clips in LAYOUT.items():
        write_list(root / f"{split}_list_videos.txt", clips)
        (root / f"videos_{split}").mkdir()
        for clip in clips:
            (root / f"videos_{split}" / clip.path).write_bytes(data)
    write_label_names(root / "label_name.txt")
    return root


def test_good_layout(tmp_path: Path, video_bytes: bytes) -> None:
    report = check_dataset(_make(tmp_path, video_bytes), progress=False)
    assert report.ok and not report.leaks and not report.warnings
    train = report.splits["train"]
    assert train.num_clips == 3 and train.probed == 3 and train.has_labels
    assert train.class_counts is not None and train.class_counts[12] == 1 and sum(train.class_counts) == 3
    assert train.body_counts == [1, 0, 1, 0, 0, 1, 0]
    assert train.frames is not None and (train.frames.min, train.frames.max) == (10, 10)
    assert train.width is not None and train.width.median == 64 and train.fps is not None and train.fps.max == 30
    test = report.splits["test"]
    assert not test.has_labels and test.class_counts is None
    text = report.format()
    assert "[train] OK" in text and "result: OK" in text and "frames 10 / 10 / 10" in text
    assert json.loads(json.dumps(report.to_dict()))["ok"] is True


def test_broken_layout(tmp_path: Path, video_bytes: bytes) -> None:
    root = _make(tmp_path, video_bytes)
    (root / "videos_train" / "0001_00_0001.mp4").unlink()  # missing
    (root / "videos_train" / "0001_02_0002.mp4").write_bytes(b"")  # empty
    (root / "videos_val" / "0003_01_0004.mp4").write_bytes(video_bytes[:300])  # truncated
    write_list(root / "test_list_videos.txt", LAYOUT["test"] + [Clip("0002_05_0003.mp4", 0)])  # leak
    (root / "videos_test" / "0002_05_0003.mp4").write_bytes(video_bytes)
    report = check_dataset(root, progress=False)
    assert not report.ok
    train, val, test = (report.splits[s] for s in ("train", "val", "test"))
    assert train.missing == ["0001_00_0001.mp4"] and "0 bytes" in train.unreadable["0001_02_0002.mp4"]
    assert list(val.unreadable) == ["0003_01_0004.mp4"] and val.probed == 2
    assert test.ok and report.leaks == {"0002_05_0003.mp4": ["train", "test"]}
    text = report.format()
    assert "[train] PROBLEMS" in text and "missing files: 1" in text and "leakage" in text
    assert "result: PROBLEMS FOUND" in text


def test_missing_list_folder_and_names(tmp_path: Path, video_bytes: bytes) -> None:
    root = _make(tmp_path, video_bytes)
    (root / "val_list_videos.txt").unlink()
    for clip in LAYOUT["test"]:
        (root / "videos_test" / clip.path).unlink()
    (root / "videos_test").rmdir()
    (root / "label_name.txt").write_text("0\tshaking body\n1\tsomething else\n")
    (root / "test_labels.txt").write_bytes(b"test0000.mp4 5\r\ntest0001.mp4 48\r\n")
    report = check_dataset(root, max_probe=1, progress=False)
    assert report.splits["train"].ok and report.splits["train"].probed == 1
    assert "not found" in (report.splits["val"].list_error or "")
    test = report.splits["test"]
    assert not test.video_dir_found and test.has_labels and test.body_counts == [0, 1, 0, 0, 0, 0, 1]
    assert not report.ok
    assert any("label_name.txt" in w and "[1, 2, 3" in w for w in report.warnings)
    assert "video folder missing" in report.format()
