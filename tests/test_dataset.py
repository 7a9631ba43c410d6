"""ma52lib.data.dataset: the official layout, worker-independent randomness, skipping bad videos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from ma52lib.data.dataset import DatasetError, MA52Dataset, clear_frame_cache, collate
from ma52lib.data.lists import AnnotationError, Clip, write_list
from ma52lib.data.sampling import tsn_test_indices
from ma52lib.data.transforms import MEAN, STD
from ma52lib.data.video import VideoError, open_video

from videotools import gray_frames, write_test_video

SMALL = dict(num_segments=4, short_side=32, crop_size=28)
NUM_FRAMES = 12  # frame t of every test video is a solid gray of level 20 * t


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ma52")
    video = write_test_video(root / "proto.mp4", gray_frames(NUM_FRAMES))
    data = video.read_bytes()
    video.unlink()
    layout = {
        "train": [Clip("0001_00_0001.mp4", 0), Clip("0001_02_0002.mp4", 12), Clip("0002_05_0003.mp4", 40)],
        "val": [Clip("0003_01_0004.mp4", 7), Clip("0003_06_0005.mp4", 50)],
        "test": [Clip("test0000.mp4", 0), Clip("test0001.mp4", 0)],
    }
    for split, clips in layout.items():
        write_list(root / f"{split}_list_videos.txt", clips)
        for clip in clips:
            (root / f"videos_{split}").mkdir(exist_ok=True)
            (root / f"videos_{split}" / clip.path).write_bytes(data)
    return root


def test_items_and_metadata(root: Path) -> None:
    ds = MA52Dataset(root, "train", **SMALL)
    assert len(ds) == 3 and ds.train and ds.has_labels
    assert ds.labels.tolist() == [0, 12, 40]
    assert ds.video_ids == ["0001_00_0001", "0001_02_0002", "0002_05_0003"]
    assert ds.path_of(1) == root / "videos_train" / "0001_02_0002.mp4"
    clip, label, index = ds[2]
    assert clip.shape == (4, 3, 28, 28) and clip.dtype == torch.float32 and label == 40 and index == 2


def test_eval_items_show_the_segment_centres(root: Path) -> None:
    clip, _, _ = MA52Dataset(root, "val", **SMALL)[0]
    assert not MA52Dataset(root, "val", **SMALL).train
    levels = clip[:, 0].mean(dim=(1, 2)) * STD[0] + MEAN[0]  # undo the normalisation of channel R
    expected = torch.tensor(20.0 * tsn_test_indices(NUM_FRAMES, 4), dtype=torch.float32)
    assert torch.allclose(levels, expected, atol=4.0)


def test_dense_sampling(root: Path) -> None:
    ds = MA52Dataset(root, "val", sampling="dense", frame_interval=2, **SMALL)
    clip, _, _ = ds[0]
    levels = clip[:, 0].mean(dim=(1, 2)) * STD[0] + MEAN[0]
    # centre start int((12 - 8 + 1) / 2) = 2 -> frames 2, 4, 6, 8
    assert torch.allclose(levels, torch.tensor([40.0, 80.0, 120.0, 160.0]), atol=4.0)


def test_randomness_follows_seed_epoch_index(root: Path) -> None:
    ds = MA52Dataset(root, "train", **SMALL)
    first = ds[1][0]
    assert torch.equal(first, ds[1][0])
    ds.set_epoch(1)
    assert not torch.equal(first, ds[1][0])
    ds.set_epoch(0)
    assert torch.equal(first, ds[1][0])


def _all_clips(ds: MA52Dataset, workers: int) -> dict[int, torch.Tensor]:
    loader = DataLoader(ds, batch_size=2, shuffle=False, num_workers=workers, collate_fn=collate)
    out = {}
    for clips, _, indices, _ in loader:
        out.update({int(i): c for i, c in zip(indices, clips)})
    return out


def test_same_clips_with_zero_or_two_workers(root: Path) -> None:
    ds = MA52Dataset(root, "train", seed=3, **SMALL)
    ds.set_epoch(2)
    serial, parallel = _all_clips(ds, 0), _all_clips(ds, 2)
    assert sorted(serial) == sorted(parallel) == [0, 1, 2]
    assert all(torch.equal(serial[i], parallel[i]) for i in serial)


def test_frame_cache_gives_the_same_items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinydata import make_tiny_dataset

    root = make_tiny_dataset(tmp_path / "tiny", {"train": 2})
    options = dict(num_segments=4, short_side=24, crop_size=20, seed=5)
    plain, cached = MA52Dataset(root, "train", **options), MA52Dataset(root, "train", cache=True, **options)
    for epoch in (0, 1, 2):  # epoch 0 fills the cache, later epochs read from it
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(len(plain)):
            a, b = plain[i], cached[i]
            assert a[1:] == b[1:] and torch.equal(a[0], b[0]), (epoch, i)
    # Served from memory, also to a second dataset of the same files: nothing is decoded again.
    import ma52lib.data.dataset as dataset_module

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a cached video")

    monkeypatch.setattr(dataset_module, "open_video", no_decoding)
    other = MA52Dataset(root, "train", cache=True, **options)
    assert torch.equal(other[(1, 2)][0], cached[(1, 2)][0])
    # A video rewritten in place is read again (the key holds its size and mtime).
    monkeypatch.undo()
    path = cached.path_of(0)
    data = path.read_bytes()
    path.write_bytes(data + b"\0")
    os.utime(path, ns=(1, 1))
    calls = []
    monkeypatch.setattr(dataset_module, "open_video", lambda p: calls.append(p) or open_video(p))
    cached[0]
    assert calls == [path]
    assert clear_frame_cache() >= len(cached)


def test_train_crop_option(root: Path) -> None:
    centre = MA52Dataset(root, "train", train_crop="center", flip=False, **SMALL)
    evaluation = MA52Dataset(root, "train", train=False, **SMALL)
    # The evaluation's crop (checked pixel by pixel in test_transforms); TSN's random offsets stay on.
    assert not centre.transform.multiscale and not centre.transform.flip and centre.transform.train
    assert MA52Dataset(root, "train", **SMALL).transform.multiscale
    assert centre[0][0].shape == evaluation[0][0].shape == (4, 3, 28, 28)
    with pytest.raises(ValueError, match="train_crop"):
        MA52Dataset(root, "train", train_crop="random", **SMALL)


def test_skip_bad_videos_and_count_them(root: Path, tmp_path: Path) -> None:
    bad_list = tmp_path / "bad_list.txt"
    (root / "videos_train" / "broken.mp4").write_text("not a video")
    write_list(bad_list, [Clip("0001_00_0001.mp4", 0), Clip("broken.mp4", 3), Clip("gone.mp4", 4)])
    with pytest.raises(VideoError, match="broken.mp4"):
        MA52Dataset(root, "train", list_file=bad_list, **SMALL)[1]
    ds = MA52Dataset(root, "train", list_file=bad_list, on_error="skip", **SMALL)
    with pytest.warns(UserWarning, match="gone.mp4"):
        assert ds[2] is None
    with pytest.warns(UserWarning):
        clips, labels, indices, skipped = collate([ds[i] for i in range(3)])
    assert clips.shape == (1, 4, 3, 28, 28) and labels.tolist() == [0] and indices.tolist() == [0] and skipped == 2
    clips, labels, indices, skipped = collate([None, None])
    assert clips.shape[0] == labels.numel() == indices.numel() == 0 and skipped == 2


def test_test_split_labels(root: Path, tmp_path: Path) -> None:
    ds = MA52Dataset(root, "test", **SMALL)
    assert not ds.has_labels and not ds.train and ds.labels.tolist() == [0, 0]
    write_list(root / "test_labels.txt", [Clip("test0001.mp4", 51), Clip("test0000.mp4", 9)])
    try:
        ds = MA52Dataset(root, "test", **SMALL)
        assert ds.has_labels and ds.labels.tolist() == [9, 51] and ds[1][1] == 51
        write_list(tmp_path / "partial.txt", [Clip("test0000.mp4", 9)])
        with pytest.raises(AnnotationError, match="no label for 1 of 2"):
            MA52Dataset(root, "test", labels_file=tmp_path / "partial.txt", **SMALL)
    finally:
        (root / "test_labels.txt").unlink()


def test_layout_errors(root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"train_list_videos.txt.*videos_train/"):
        MA52Dataset(tmp_path, "train")
    write_list(tmp_path / "val_list_videos.txt", [Clip("a.mp4", 1)])
    with pytest.raises(FileNotFoundError, match="video folder not found: .*videos_val"):
        MA52Dataset(tmp_path, "val")
    with pytest.raises(ValueError, match="sampling"):
        MA52Dataset(root, "val", sampling="uniform")
