"""A tiny dataset in the official MA-52 layout, written with real h264 files, for engine and CLI tests.

Four classes from different body parts, each with its own visual pattern (so a tiny model can learn
something), 8 frames of 40x32 per clip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ma52lib.data.lists import Clip, write_label_names, write_list

from videotools import write_test_video

CLASSES = (0, 9, 24, 43)


def _clip(label: int, rng: np.random.Generator, frames: int = 10, h: int = 40, w: int = 32) -> np.ndarray:
    video = np.full((frames, h, w, 3), 200, np.uint8)
    k = CLASSES.index(label)
    for t in range(frames):
        # a dark square moving in a class-specific direction and place
        y = 4 + 6 * k + (t % 4) * (k % 2)
        x = 4 + (t % 4) * ((k + 1) % 2) * 2
        video[t, y:y + 8, x:x + 8] = (40 * k, 60, 255 - 40 * k)
    noise = rng.integers(0, 12, size=video.shape, dtype=np.uint8)
    return np.clip(video.astype(np.int16) - noise, 0, 255).astype(np.uint8)


def make_tiny_dataset(root: Path, per_class: dict[str, int] | None = None, seed: int = 0) -> Path:
    """Write train/val/test lists, videos, test_labels.txt and label_name.txt under ``root``."""
    per_class = per_class or {"train": 3, "val": 2, "test": 1}
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    write_label_names(root / "label_name.txt")
    for split, n in per_class.items():
        clips, true = [], []
        for label in CLASSES:
            for j in range(n):
                i = len(clips)
                name = f"test{i:04d}.mp4" if split == "test" else f"{j + 1:04d}_{0:02d}_{i:04d}.mp4"
                write_test_video(root / f"videos_{split}" / name, _clip(label, rng), fps=10)
                clips.append(Clip(name, 0 if split == "test" else label))
                true.append(Clip(name, label))
        write_list(root / f"{split}_list_videos.txt", clips)
        if split == "test":
            write_list(root / "test_labels.txt", true)
    return root
