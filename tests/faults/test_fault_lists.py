"""List-file faults: hand-edited lists, duplicates, cross-split leaks, missing folders, empty lists."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ma52lib.data import MA52Dataset, check_dataset
from ma52lib.data.dataset import DatasetError
from ma52lib.data.lists import AnnotationError, read_list
from ma52lib.engine.train import train

from faultkit import fault_cfg


@pytest.fixture
def data(fault_data: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny dataset that a test may break."""
    return Path(shutil.copytree(fault_data, tmp_path / "data"))


def _dataset(root: Path, split: str = "train") -> MA52Dataset:
    return MA52Dataset(root, split, num_segments=2, short_side=40, crop_size=32)


def _rewrite(path: Path, transform) -> list[str]:
    lines = path.read_text().splitlines()
    path.write_bytes(transform(lines))
    return lines


def _with_bom(lines: list[str]) -> bytes:
    return b"\xef\xbb\xbf" + "\r\n".join(lines).encode()


def _with_tabs(lines: list[str]) -> bytes:
    return "\n".join(line.replace(" ", "\t") for line in lines).encode()


@pytest.mark.parametrize("encode", [
    pytest.param(_with_bom, marks=pytest.mark.fault_case(
        group="lists", case="list saved with a UTF-8 BOM (Windows editors)",
        kept="every line: the BOM is dropped and the first file name is read intact"), id="bom"),
    pytest.param(_with_tabs, marks=pytest.mark.fault_case(
        group="lists", case="tabs instead of a space between file and label",
        kept="every line: any whitespace separates the two fields"), id="tabs"),
])
def test_hand_edited_list_is_read_as_meant(encode, fault, data):
    original = read_list(data / "train_list_videos.txt")
    _rewrite(data / "train_list_videos.txt", encode)
    ds = _dataset(data)
    assert ds.clips == original
    clip, label, _ = ds[0]
    assert clip.shape == (2, 3, 32, 32) and label == original[0].label
    fault.saw(f"(accepted) {len(ds)} clips read, first {ds.clips[0].path!r}")


@pytest.mark.fault_case(
    group="lists", case="the same video listed twice in one list",
    kept="the list file as it is; nothing trains until one of the two lines is deleted")
def test_duplicate_entry_names_both_lines(fault, data):
    lines = _rewrite(data / "train_list_videos.txt", lambda lines: "\r\n".join(lines + [lines[1]]).encode())
    with pytest.raises(AnnotationError, match=r"line 2 and line 13") as info:
        _dataset(data)
    assert "train_list_videos.txt" in fault.saw(info.value) and "delete one" in str(info.value)
    assert "listed twice" in check_dataset(data, progress=False).splits["train"].list_error
    assert (data / "train_list_videos.txt").read_text().splitlines() == lines + [lines[1]]


@pytest.mark.fault_case(
    group="lists", case="a video listed in two splits (train and test): leakage",
    kept="everything; `ma52 data check` and training print a warning naming the file")
def test_video_in_two_splits_is_a_leak_warning(fault, data):
    name, label = (data / "train_list_videos.txt").read_text().split()[:2]
    shutil.copy(data / "videos_train" / name, data / "videos_test" / name)
    with open(data / "test_list_videos.txt", "a") as fh:
        fh.write(f"{name} 0\r\n")
    report = check_dataset(data, progress=False)
    assert report.leaks == {name: ["train", "test"]} and report.ok  # a warning, not an error
    lines = report.format().splitlines()
    at = next(i for i, line in enumerate(lines) if "leakage" in line)
    assert name in lines[at + 1]
    fault.saw(lines[at] + " " + lines[at + 1].strip())


@pytest.mark.fault_case(
    group="lists", case="missing videos_<split>/ folder",
    kept="nothing is trained or overwritten; the message names the folder and the expected layout")
def test_missing_video_folder(fault, data, tmp_path):
    shutil.rmtree(data / "videos_val")
    with pytest.raises(DatasetError, match="video folder not found") as info:
        _dataset(data, "val")
    assert "videos_val" in fault.saw(info.value) and "expected the official MA-52 layout" in str(info.value)
    with pytest.raises(FileNotFoundError, match="videos_val"):  # DatasetError is also a FileNotFoundError
        train(fault_cfg(data), out=tmp_path / "run", echo=None)
    assert not list((tmp_path / "run" / "checkpoints").iterdir())
    assert "video folder missing" in check_dataset(data, progress=False).format()


@pytest.mark.fault_case(
    group="lists", case="empty list file (or only blank lines)",
    kept="nothing is trained; the message names the list and its expected format")
def test_empty_list(fault, data):
    (data / "val_list_videos.txt").write_bytes(b"\r\n  \r\n")
    with pytest.raises(DatasetError, match="lists no videos") as info:
        _dataset(data, "val")
    assert "val_list_videos.txt" in fault.saw(info.value)
    report = check_dataset(data, progress=False)
    assert not report.ok and "lists no videos" in report.splits["val"].list_error


@pytest.mark.fault_case(
    group="lists", case="file name with spaces in a list",
    kept="the list file as it is; the message suggests the new name")
def test_file_name_with_spaces(fault, data):
    _rewrite(data / "train_list_videos.txt", lambda lines: "\r\n".join(lines + ["my clip 01.mp4 9"]).encode())
    with pytest.raises(AnnotationError, match="line 13: the file name 'my clip 01.mp4' contains spaces") as info:
        read_list(data / "train_list_videos.txt")
    assert "'my_clip_01.mp4'" in fault.saw(info.value)
