"""``MA52Dataset``: the official MA-52 folder layout as a PyTorch dataset.

Layout under ``root``: ``{split}_list_videos.txt`` and ``videos_{split}/`` for each split, plus an
optional ``test_labels.txt`` (MA-52-Synth ships the true test labels there; the real test list only
carries the dummy label 0). Each item is decoded, sampled and transformed with an rng seeded from
``(seed, epoch, index)``, so a clip never depends on the number of workers or on process history.
Items can be asked for as ``dataset[(index, epoch)]``: loaders with persistent workers do so.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from ma52lib.data.lists import AnnotationError, Clip, labels_path, list_path, read_list
from ma52lib.data.sampling import dense_indices, tsn_test_indices, tsn_train_indices
from ma52lib.data.transforms import ClipTransform
from ma52lib.data.video import VideoError, decode_frames, open_video

_LAYOUT = (
    "expected the official MA-52 layout: ROOT/{split}_list_videos.txt (one '<file>.mp4 <label>' per "
    "line) and ROOT/videos_{split}/ holding those files"
)

Item = tuple[torch.Tensor, int, int]


class DatasetError(AnnotationError, FileNotFoundError):
    """The dataset folder lacks a list, a video folder or a label file (caught as either parent)."""


class MA52Dataset(Dataset):
    """Clips of one MA-52 split: ``dataset[i] -> (clip float [T, 3, H, W], label, i)``."""

    epoch_keys = True  # dataset[(index, epoch)] works: loaders may keep their workers across epochs

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str,
        *,
        num_segments: int = 8,
        sampling: Literal["tsn", "dense"] = "tsn",
        frame_interval: int = 1,
        train: bool | None = None,
        short_side: int = 256,
        crop_size: int = 224,
        scales: tuple[float, ...] = (1.0, 0.875, 0.75, 0.66),
        flip: bool = True,
        train_crop: Literal["multiscale", "center"] = "multiscale",
        on_error: Literal["raise", "skip"] = "raise",
        cache: bool = False,
        seed: int = 0,
        list_file: str | os.PathLike[str] | None = None,
        labels_file: str | os.PathLike[str] | None = None,
    ) -> None:
        if sampling not in ("tsn", "dense"):
            raise ValueError(f"sampling must be 'tsn' or 'dense', got {sampling!r}")
        if train_crop not in ("multiscale", "center"):
            raise ValueError(f"train_crop must be 'multiscale' or 'center', got {train_crop!r}")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.root = Path(root)
        self.split = split
        self.num_segments = num_segments
        self.sampling = sampling
        self.frame_interval = frame_interval
        self.train = split == "train" if train is None else train
        self.on_error = on_error
        self.seed = seed
        self.epoch = 0
        self.cache = cache
        self.transform = ClipTransform(train=self.train, short_side=short_side, crop_size=crop_size,
                                       scales=tuple(scales), flip=flip,
                                       multiscale=train_crop == "multiscale")

        self.video_dir = self.root / f"videos_{split}"
        clips, self.has_labels = self._read_clips(list_file, labels_file)
        self._clips = clips
        self._labels = np.asarray([c.label for c in clips], dtype=np.int64)

    def _read_clips(self, list_file: str | os.PathLike[str] | None,
                    labels_file: str | os.PathLike[str] | None) -> tuple[list[Clip], bool]:
        """The split's clips with their true labels where known, and whether they are known."""
        split = self.split
        path = Path(list_file) if list_file is not None else list_path(self.root, split)
        if not path.is_file():
            raise DatasetError(f"list file not found: {path}; " + _LAYOUT.format(split=split))
        if not self.video_dir.is_dir():
            raise DatasetError(f"video folder not found: {self.video_dir}; " + _LAYOUT.format(split=split))
        clips = read_list(path)
        if not clips:
            raise DatasetError(
                f"list file {path} lists no videos (it is empty or holds only blank lines); "
                + _LAYOUT.format(split=split)
            )
        # The real test list carries dummy 0 labels; a separate label file (MA-52-Synth's
        # test_labels.txt, or labels_file) replaces them.
        if labels_file is not None:
            truth: Path | None = Path(labels_file)
            if not truth.is_file():
                raise DatasetError(f"labels file not found: {truth}")
        elif split == "test":
            truth = labels_path(self.root, split)
        else:
            truth = None
        if truth is not None:
            clips = _relabel(clips, truth)
        return clips, split != "test" or truth is not None

    # -- metadata ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._clips)

    @property
    def clips(self) -> list[Clip]:
        """The clips of the split, in list order."""
        return list(self._clips)

    @property
    def labels(self) -> np.ndarray:
        """Fine labels ``[N]`` (all 0 for the real test split, see ``has_labels``)."""
        return self._labels.copy()

    @property
    def video_ids(self) -> list[str]:
        """File stems, e.g. ``0003_01_0005`` or ``test0000``."""
        return [Path(c.path).stem for c in self._clips]

    @property
    def num_frames(self) -> int:
        """T, the number of frames per clip the model receives."""
        return self.num_segments

    def path_of(self, index: int) -> Path:
        """Path of the video behind item ``index``."""
        return self.video_dir / self._clips[index].path

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch that seeds the random sampling and augmentation."""
        self.epoch = int(epoch)

    # -- items ------------------------------------------------------------------------------------

    def frame_indices(self, num_frames: int, rng: np.random.Generator) -> np.ndarray:
        """The frame indices sampled from a video of ``num_frames`` frames."""
        if self.sampling == "tsn":
            if self.train:
                return tsn_train_indices(num_frames, self.num_segments, rng)
            return tsn_test_indices(num_frames, self.num_segments)
        return dense_indices(num_frames, self.num_segments, self.frame_interval, train=self.train, rng=rng)

    def __getitem__(self, key: int | tuple[int, int]) -> Item | None:
        """Item ``key``; ``key`` may be ``(index, epoch)`` to fix the epoch per item (persistent workers)."""
        # A sampler that yields (index, epoch) lets persistent loader workers, forked before the
        # main process calls set_epoch, still draw the augmentation of the right epoch.
        index, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        if not 0 <= index < len(self._clips):
            raise IndexError(f"index {index} out of range for {len(self._clips)} clips")
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        path = self.path_of(index)
        try:
            if self.cache:
                video = _cached_video(path, self.transform)
                # Same draws in the same order as the uncached path: the item does not depend on the cache.
                frames = video[torch.from_numpy(self.frame_indices(len(video), rng))]
            else:
                reader = open_video(path)  # opened once: frame count and decoding share the reader
                indices = self.frame_indices(len(reader), rng)
                # [T, H, W, 3] -> [T, 3, H, W]
                frames = decode_frames(reader, indices, path=path).permute(0, 3, 1, 2)
        except VideoError as err:
            if self.on_error == "raise":
                raise
            warnings.warn(f"skipping clip {index}: {err}", stacklevel=2)
            return None
        clip = self.transform(frames, rng)
        return clip, int(self._labels[index]), index

    def __repr__(self) -> str:
        return (
            f"MA52Dataset(root={str(self.root)!r}, split={self.split!r}, clips={len(self)}, "
            f"sampling={self.sampling!r}, T={self.num_segments}, train={self.train})"
        )


# The frame cache (``MA52Dataset(cache=True)``, ``data.cache``): every frame of a video, resized to the
# short side, kept after its first read (uint8; all of MA-52-Synth cpu at 64 px is ~0.6 GB). It is
# process-wide, so the book's many trainings in one notebook decode each video once. A loader worker
# fills its own copy: use it with 0 workers (or persistent ones). Keyed by the file's size and mtime,
# so a video rewritten in place is decoded again.
_FRAME_CACHE: dict[tuple[str, int, int, int], torch.Tensor] = {}


def _cached_video(path: Path, transform: ClipTransform) -> torch.Tensor:
    try:
        stat = path.stat()
    except OSError:
        stat = None  # open_video below says what is wrong with the path
    key = (str(path), transform.short_side, stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1)
    video = _FRAME_CACHE.get(key)
    if video is None:
        reader = open_video(path)
        # [F, H, W, 3] -> [F, 3, h, w] at the short side, contiguous (the cache is read many times)
        frames = decode_frames(reader, np.arange(len(reader)), path=path).permute(0, 3, 1, 2)
        video = _FRAME_CACHE[key] = transform.resize(frames).contiguous()
    return video


def clear_frame_cache() -> int:
    """Drop every cached video (``MA52Dataset(cache=True)``); returns how many were held."""
    count = len(_FRAME_CACHE)
    _FRAME_CACHE.clear()
    return count


def _relabel(clips: list[Clip], label_path: Path) -> list[Clip]:
    """Take each clip's label from ``label_path`` (same list format, matched by file name)."""
    truth = {c.path: c.label for c in read_list(label_path)}
    missing = [c.path for c in clips if c.path not in truth]
    if missing:
        raise AnnotationError(
            f"{label_path}: no label for {len(missing)} of {len(clips)} listed videos "
            f"(first: {missing[0]!r}); it must contain a line '<file>.mp4 <label>' for every video of the list"
        )
    return [Clip(c.path, truth[c.path]) for c in clips]


def collate(
    batch: list[Item | None],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Stack items, dropping skipped ones: ``(clips [N, T, 3, H, W], labels [N], indices [N], n_skipped)``."""
    items = [item for item in batch if item is not None]
    n_skipped = len(batch) - len(items)
    if not items:
        return (
            torch.zeros((0, 0, 3, 0, 0), dtype=torch.float32),
            torch.zeros(0, dtype=torch.long),
            torch.zeros(0, dtype=torch.long),
            n_skipped,
        )
    out = None
    if torch.utils.data.get_worker_info() is not None:
        # In a loader worker, stack straight into shared memory (as torch's default_collate does):
        # otherwise the batch is copied once more when it is sent to the main process.
        first = items[0][0]
        storage = first._typed_storage()._new_shared(len(items) * first.numel(), device=first.device)
        out = first.new(storage).resize_(len(items), *first.shape)
    clips = torch.stack([item[0] for item in items], out=out)
    labels = torch.tensor([item[1] for item in items], dtype=torch.long)
    indices = torch.tensor([item[2] for item in items], dtype=torch.long)
    return clips, labels, indices, n_skipped
