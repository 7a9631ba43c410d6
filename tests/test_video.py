"""ma52lib.data.video: decord decoding of real h264 files and clear errors for broken ones."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from ma52lib.data.video import VideoError, VideoInfo, decode_frames, open_video, probe, read_frames

from videotools import gray_frames, write_test_video


@pytest.fixture(scope="module")
def gray_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 12 frames 64x48; frame t is a solid gray of level 20 * t.
    return write_test_video(tmp_path_factory.mktemp("video") / "gray.mp4", gray_frames(12), fps=25)


def test_probe(gray_video: Path) -> None:
    assert probe(gray_video) == VideoInfo(num_frames=12, fps=25.0, width=64, height=48)


def test_read_frames_returns_the_chosen_frames(gray_video: Path) -> None:
    indices = [11, 0, 5, 5, 3]  # unsorted and repeated, as TSN wrapping can produce
    frames = read_frames(gray_video, np.array(indices))
    assert frames.dtype == torch.uint8 and frames.shape == (5, 48, 64, 3)
    means = frames.float().mean(dim=(1, 2, 3))
    # h264 is lossy: compare mean levels within a few gray steps.
    assert torch.allclose(means, torch.tensor([20.0 * i for i in indices]), atol=3.0)


def test_moving_square_is_decoded_in_place(tmp_path: Path) -> None:
    frames = np.zeros((6, 48, 64, 3), np.uint8)
    for t in range(6):
        frames[t, 16:32, 8 * t : 8 * t + 16] = 255
    path = write_test_video(tmp_path / "square.mp4", frames)
    out = read_frames(path, [4])[0].float().mean(dim=2)  # [H, W]
    assert out[16:32, 32:48].mean() > 230 and out[:, :24].mean() < 25


def test_open_video_reader_serves_len_and_frames(gray_video: Path) -> None:
    reader = open_video(gray_video)
    assert len(reader) == 12
    assert decode_frames(reader, [len(reader) - 1], path=gray_video).float().mean() == pytest.approx(220, abs=3)
    with pytest.raises(ValueError, match=r"outside 0..11 of .*gray.mp4"):
        decode_frames(reader, [12], path=gray_video)


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            container.mux(packet)
    return path


def test_broken_files_raise_video_error_naming_the_file(tmp_path: Path, gray_video: Path,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(b"")
    text = tmp_path / "text.mp4"
    text.write_text("this is not a video\n")
    data = gray_video.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    cases = {
        tmp_path / "missing.mp4": "not found",
        zero: "0 bytes",
        text: "not a readable video",
        truncated: "not a readable video",
        _audio_only(tmp_path / "audio.mp4"): "no video stream",
    }
    for path, reason in cases.items():
        for call in (lambda p=path: probe(p), lambda p=path: read_frames(p, [0])):
            with pytest.raises(VideoError) as info:
                call()
            assert str(path) in str(info.value) and reason in str(info.value)
    # decord's own C++ log line ("[hh:mm:ss] .../video_reader.cc:NNN: ERROR ...") is not printed besides.
    assert ".cc:" not in capfd.readouterr().err
