"""ma52lib.data.lists: the official list format, lenient on whitespace, strict on content."""

from __future__ import annotations

from pathlib import Path

import pytest

from ma52lib.data.lists import (
    AnnotationError,
    Clip,
    labels_path,
    list_path,
    read_label_names,
    read_list,
    scored_split,
    write_label_names,
    write_list,
)
from ma52lib.labels import FINE_CLASSES

EXPECTED = [Clip("0001_00_0001.mp4", 0), Clip("0001_02_0002.mp4", 17), Clip("0002_06_0003.mp4", 51)]


def _write(tmp_path: Path, data: bytes, name: str = "train_list_videos.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "data",
    [
        b"0001_00_0001.mp4 0\r\n0001_02_0002.mp4 17\r\n0002_06_0003.mp4 51\r\n",  # official CRLF
        b"0001_00_0001.mp4 0\r\n0001_02_0002.mp4 17\r\n0002_06_0003.mp4 51",  # no final newline
        b"0001_00_0001.mp4 0\n0001_02_0002.mp4 17\n0002_06_0003.mp4 51\n",  # LF
        b"\xef\xbb\xbf0001_00_0001.mp4 0\r\n0001_02_0002.mp4 17\r\n0002_06_0003.mp4 51\r\n",  # BOM
        b"0001_00_0001.mp4 0  \r\n\r\n  \n0001_02_0002.mp4\t17\t\n0002_06_0003.mp4 51\r\n\r\n\r\n",  # blanks, tab
    ],
    ids=["crlf", "no-final-newline", "lf", "bom", "blanks-and-tab"],
)
def test_accepts_official_and_hand_edited_lists(tmp_path: Path, data: bytes) -> None:
    assert read_list(_write(tmp_path, data)) == EXPECTED


@pytest.mark.parametrize(
    "line, needle",
    [
        ("0001_00_0002.mp4", "1 fields"),
        ("0001_00_0002.mp4 3 extra", "3 fields"),
        ("0001_00_0002.mp4 three", "not a non-negative integer"),
        ("0001_00_0002.mp4 -1", "not a non-negative integer"),
        ("0001_00_0002.mp4 52", "outside 0..51"),
    ],
)
def test_bad_line_names_file_line_and_text(tmp_path: Path, line: str, needle: str) -> None:
    path = _write(tmp_path, f"0001_00_0001.mp4 0\r\n\r\n{line}\r\n".encode())
    with pytest.raises(AnnotationError) as info:
        read_list(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 3" in message  # 1-based, blank lines counted
    assert repr(line) in message
    assert needle in message


def test_duplicate_entry_names_both_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, b"a.mp4 1\r\nb.mp4 2\r\na.mp4 1\r\n")
    with pytest.raises(AnnotationError, match=r"'a.mp4'.*line 1 and line 3"):
        read_list(path)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_list(tmp_path / "nope.txt")
    with pytest.raises(AnnotationError, match="UTF-8"):
        read_list(_write(tmp_path, b"caf\xe9.mp4 1\r\n"))


def test_write_list_round_trip_with_crlf_bytes(tmp_path: Path) -> None:
    path = tmp_path / "out" / "val_list_videos.txt"
    write_list(path, EXPECTED)
    assert path.read_bytes() == b"0001_00_0001.mp4 0\r\n0001_02_0002.mp4 17\r\n0002_06_0003.mp4 51\r\n"
    assert read_list(path) == EXPECTED
    assert [p.name for p in path.parent.iterdir()] == ["val_list_videos.txt"]  # no temp file left


def test_write_list_refuses_what_it_could_not_read_back(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="whitespace"):
        write_list(tmp_path / "l.txt", [Clip("a b.mp4", 1)])
    with pytest.raises(ValueError, match="outside"):
        write_list(tmp_path / "l.txt", [Clip("a.mp4", 52)])
    assert not (tmp_path / "l.txt").exists()


def test_label_names_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "label_name.txt"
    write_label_names(path)
    assert path.read_text().splitlines()[9] == "9\tnodding"
    assert read_label_names(path) == list(FINE_CLASSES)
    _write(tmp_path, b"\xef\xbb\xbf0\tshaking body\r\n1\tsitting straightly", "crlf.txt")
    assert read_label_names(tmp_path / "crlf.txt") == ["shaking body", "sitting straightly"]
    _write(tmp_path, b"0\tshaking body\r\n2\tshrugging\r\n", "gap.txt")
    with pytest.raises(AnnotationError, match=r"missing \[1\]"):
        read_label_names(tmp_path / "gap.txt")
    _write(tmp_path, b"0\tshaking body\r\nnodding\r\n", "bad.txt")
    with pytest.raises(AnnotationError, match="line 2.*'nodding'"):
        read_label_names(tmp_path / "bad.txt")


def test_labels_path_and_scored_split_follow_the_test_labels(tmp_path: Path) -> None:
    write_list(tmp_path / "val_list_videos.txt", [Clip("a.mp4", 3)])
    write_list(tmp_path / "test_list_videos.txt", [Clip("test0000.mp4", 0)])
    assert labels_path(tmp_path, "val") == list_path(tmp_path, "val") == tmp_path / "val_list_videos.txt"
    # The real MA-52: the test list carries dummy labels, the true ones are withheld.
    assert labels_path(tmp_path, "test") is None and scored_split(tmp_path) == "val"
    write_list(tmp_path / "test_labels.txt", [Clip("test0000.mp4", 7)])  # MA-52-Synth ships them
    assert labels_path(tmp_path, "test") == tmp_path / "test_labels.txt" and scored_split(tmp_path) == "test"
    assert scored_split(tmp_path, "val") == "val"
