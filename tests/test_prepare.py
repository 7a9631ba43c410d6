"""`ma52 data prepare`: a tiny dataset re-encoded to a smaller short side keeps the official layout."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from ma52lib.data import MA52Dataset, check_dataset, probe
from ma52lib.data.prepare import PrepareError, add_prepare_parser, output_size, prepare_dataset

from tinydata import make_tiny_dataset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 4 classes x (2 train + 1 val + 1 test) clips of 10 frames, 40 high x 32 wide.
    return make_tiny_dataset(tmp_path_factory.mktemp("src") / "ma52", {"train": 2, "val": 1, "test": 1})


@pytest.fixture(scope="module")
def prepared(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("dst") / "ma52-20"
    return out, prepare_dataset(tiny, out, short_side=20, workers=2, progress=False)


def test_output_size_keeps_aspect_and_even_sides() -> None:
    assert output_size(1296, 1080, 256) == (308, 256)  # real MA-52 portrait clips
    assert output_size(1080, 1920, 256) == (256, 456)
    assert output_size(40, 32, 16) == (20, 16)
    assert output_size(100, 100, 64) == (64, 64)


def test_layout_lists_and_videos(tiny: Path, prepared: tuple[Path, object]) -> None:
    out, report = prepared
    assert report.ok and report.videos == 16 and report.encoded == 16 and report.copied == 0
    for name in ("train_list_videos.txt", "val_list_videos.txt", "test_list_videos.txt", "test_labels.txt",
                 "label_name.txt"):
        assert (out / name).read_bytes() == (tiny / name).read_bytes(), name
    for split in ("train", "val", "test"):
        src_files = sorted(p.name for p in (tiny / f"videos_{split}").iterdir())
        assert sorted(p.name for p in (out / f"videos_{split}").iterdir()) == src_files
    video = next((out / "videos_train").iterdir())
    info, src_info = probe(video), probe(tiny / "videos_train" / video.name)
    assert (info.width, info.height) == (20, 24)  # 40x32 -> short side 20, long side 25 -> even
    assert info.num_frames == src_info.num_frames == 10
    assert info.fps == pytest.approx(src_info.fps)
    record = json.loads((out / "prepare.json").read_text())
    assert record["params"]["short_side"] == 20 and len(record["done"]) == 16


def test_data_check_and_dataset_on_the_copy(prepared: tuple[Path, object]) -> None:
    out, _ = prepared
    report = check_dataset(out, progress=False)
    assert report.ok, report.format()
    ds = MA52Dataset(out, "train", num_segments=4, short_side=20, crop_size=16)
    clip, label, index = ds[0]
    assert tuple(clip.shape) == (4, 3, 16, 16) and index == 0


def test_second_run_reuses_and_other_params_need_force(tiny: Path, prepared: tuple[Path, object]) -> None:
    out, _ = prepared
    again = prepare_dataset(tiny, out, short_side=20, workers=1, progress=False)
    assert again.reused == 16 and again.encoded == 0 and again.ok
    with pytest.raises(PrepareError, match="--force"):
        prepare_dataset(tiny, out, short_side=24, workers=1, progress=False)


def test_small_videos_are_copied_and_missing_ones_reported(tiny: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "val_list_videos.txt").write_bytes((tiny / "val_list_videos.txt").read_bytes() + b"gone.mp4 3\r\n")
    (src / "videos_val").symlink_to(tiny / "videos_val")
    report = prepare_dataset(src, tmp_path / "out", short_side=64, workers=1, progress=False)
    assert report.copied == 4 and report.encoded == 0
    assert list(report.failed) == ["videos_val/gone.mp4"] and "not found" in report.failed["videos_val/gone.mp4"]


def test_refuses_bad_folders(tiny: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PrepareError, match="official MA-52 layout"):
        prepare_dataset(tmp_path / "empty", tmp_path / "out", short_side=16)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(PrepareError, match="not written by `ma52 data prepare`"):
        prepare_dataset(tiny, foreign, short_side=16)
    with pytest.raises(PrepareError, match="outside the source"):
        prepare_dataset(tiny, tiny / "prepared", short_side=16)
    with pytest.raises(ValueError, match="even number"):
        prepare_dataset(tiny, tmp_path / "odd", short_side=15)


def test_cli_parser_registers_prepare() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    add_prepare_parser(sub)
    args = parser.parse_args(["prepare", "--root", "A", "--out", "B", "--short-side", "64"])
    assert args.short_side == 64 and args.root == "A" and callable(args.func)
