"""Video faults: broken files, degenerate clips, huge frames, and paths with spaces and non-ASCII letters."""

from __future__ import annotations

import re
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from ma52lib.data import MA52Dataset, check_dataset, collate
from ma52lib.data.lists import Clip, write_list
from ma52lib.data.sampling import tsn_test_indices, tsn_train_indices
from ma52lib.data.video import VideoError, probe

from videotools import gray_frames

SKIP_KEPT = ("the other clips: with --set data.on_error=skip training goes on without it and counts the "
             "skip; `ma52 data check` lists the file")


def _mp4(path: Path, frames: np.ndarray, *, faststart: bool = False) -> Path:
    """Encode RGB frames as h264; ``faststart`` puts the index (moov) before the data, as streaming files do."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"} if faststart else {}) as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast", "threads": "1"}
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return path


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    data = _mp4(path, gray_frames(12)).read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncated_faststart(path: Path) -> None:
    data = _mp4(path, gray_frames(12), faststart=True).read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])  # the index survives, the frame data does not


def _text(path: Path) -> None:
    path.write_text("<html><body>404 Not Found</body></html>\n")  # what a failed download saves


def _audio_only(path: Path) -> None:
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        out.mux(list(stream.encode(frame)) + list(stream.encode()))


def _layout(root: Path, bad_name: str, make_bad) -> Path:
    """A train split of a good clip and the broken one."""
    videos = root / "videos_train"
    _mp4(videos / "good.mp4", gray_frames(8, 40, 32))
    make_bad(videos / bad_name)
    write_list(root / "train_list_videos.txt", [Clip("good.mp4", 9), Clip(bad_name, 24)])
    return root


def _dataset(root: Path, on_error: str = "raise", segments: int = 4, split: str = "train") -> MA52Dataset:
    return MA52Dataset(root, split, num_segments=segments, short_side=40, crop_size=32, on_error=on_error)


@pytest.mark.parametrize("make, reason", [
    pytest.param(_zero_bytes, "empty (0 bytes)", marks=pytest.mark.fault_case(
        group="videos", case="zero-byte video file", kept=SKIP_KEPT), id="zero-bytes"),
    pytest.param(_truncated, "not a readable video", marks=pytest.mark.fault_case(
        group="videos", case="truncated mp4 (cut in half, index at the end)", kept=SKIP_KEPT), id="truncated"),
    pytest.param(_truncated_faststart, "not a readable video", marks=pytest.mark.fault_case(
        group="videos", case="truncated mp4 whose index survived (faststart file cut at 3/4)", kept=SKIP_KEPT),
        id="truncated-faststart"),
    pytest.param(_text, "not a readable video", marks=pytest.mark.fault_case(
        group="videos", case="a text file named .mp4 (a failed download)", kept=SKIP_KEPT), id="text"),
    pytest.param(_audio_only, "has no video stream", marks=pytest.mark.fault_case(
        group="videos", case="audio-only mp4", kept=SKIP_KEPT), id="audio-only"),
])
def test_broken_video(make, reason, fault, tmp_path):
    root = _layout(tmp_path / "data", "0003_02_0007.mp4", make)
    bad = root / "videos_train" / "0003_02_0007.mp4"
    with pytest.raises(VideoError, match=re.escape(reason)) as info:
        _dataset(root)[1]
    assert str(bad) in fault.saw(info.value) and "ma52 data check" in str(info.value)
    skipping = _dataset(root, on_error="skip")
    with pytest.warns(UserWarning, match="skipping clip 1") as caught:
        item = skipping[1]
    assert item is None and str(bad) in str(caught[0].message)
    clips, labels, _, skipped = collate([skipping[0], item])
    assert clips.shape == (1, 4, 3, 32, 32) and labels.tolist() == [9] and skipped == 1
    report = check_dataset(root, splits=("train",), progress=False)
    assert not report.ok and list(report.splits["train"].unreadable) == ["0003_02_0007.mp4"]


@pytest.mark.fault_case(
    group="videos", case="a clip with a single frame",
    kept="the clip: all segments show that frame")
def test_single_frame_clip(fault, tmp_path):
    root = _layout(tmp_path / "data", "one.mp4", lambda p: _mp4(p, gray_frames(1, 40, 32, step=0) + 90))
    ds = _dataset(root, segments=8)
    clip, label, _ = ds[1]
    assert clip.shape == (8, 3, 32, 32) and label == 24
    assert all(torch.equal(clip[0], clip[t]) for t in range(8))
    fault.saw(f"(accepted) 1 frame sampled {len(clip)} times")


@pytest.mark.fault_case(
    group="videos", case="fewer frames (3) than segments (8)",
    kept="the clip: segments are spread over the frames (mmaction's rule), every frame is used")
def test_fewer_frames_than_segments(fault, tmp_path):
    root = _layout(tmp_path / "data", "three.mp4", lambda p: _mp4(p, gray_frames(3, 40, 32, step=100)))
    for train in (False, True):
        ds = MA52Dataset(root, "train", num_segments=8, short_side=40, crop_size=32, train=train)
        clip, _, _ = ds[1]
        assert clip.shape == (8, 3, 32, 32)
        levels = sorted({round(float(frame.mean()), 1) for frame in clip})
        assert len(levels) == 3  # frames 0, 1 and 2 all appear
    rng = np.random.default_rng(0)
    assert set(tsn_test_indices(3, 8)) == set(tsn_train_indices(3, 8, rng)) == {0, 1, 2}
    fault.saw(f"(accepted) segments take frames {tsn_test_indices(3, 8).tolist()}")


@pytest.mark.fault_case(
    group="videos", case="very large resolution (4096 x 2160, above 4K UHD)",
    kept="the clip: decoded and resized as usual; a warning once per file says what it costs and how to "
         "downscale")
def test_very_large_resolution(fault, tmp_path):
    big = np.zeros((1, 2160, 4096, 3), np.uint8)
    big[:, :, 2048:] = 200
    root = _layout(tmp_path / "data", "big.mp4", lambda p: _mp4(p, big))
    with pytest.warns(UserWarning, match="larger than 4K UHD") as caught:
        clip, _, _ = _dataset(root, segments=2)[1]
    assert clip.shape == (2, 3, 32, 32)
    assert str(root / "videos_train" / "big.mp4") in fault.saw(caught[0].message)
    assert probe(root / "videos_train" / "big.mp4").width == 4096


@pytest.mark.fault_case(
    group="videos", case="dataset path with spaces and non-ASCII letters (folder and file names)",
    kept="everything: lists, decoding and `ma52 data check` work unchanged")
def test_path_with_spaces_and_non_ascii(fault, tmp_path):
    root = tmp_path / "my data" / "Ünïcødé 数据 Ø"
    name = "vidéo_ß_01.mp4"
    _mp4(root / "videos_val" / name, gray_frames(6, 40, 32))
    write_list(root / "val_list_videos.txt", [Clip(name, 43)])
    ds = _dataset(root, split="val")
    clip, label, _ = ds[0]
    assert clip.shape == (4, 3, 32, 32) and label == 43 and ds.video_ids == ["vidéo_ß_01"]
    report = check_dataset(root, splits=("val",), progress=False)
    assert report.ok and report.splits["val"].probed == 1
    fault.saw(f"(accepted) {ds.path_of(0)} decoded")
