"""Clip transforms of the paper (mmaction2 0.24 pipeline), applied to the whole clip at once.

Train: short side -> ``short_side``; MultiScaleCrop (13 fixed positions, aspect jitter of at most
one scale step; or the centre crop with ``multiscale=False``); resize to ``crop_size``; horizontal
flip p=0.5 (unless ``flip=False``); normalise. Eval: short side ->
``short_side``; centre crop. Every frame of a clip gets the same crop and flip. Resizing and
cropping run on uint8 (cheaper than on float); only the final ``crop_size`` clip becomes float, once,
contiguous and normalised in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

# ImageNet statistics on 0-255 RGB, as in the official config.
MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)
STD: tuple[float, float, float] = (58.395, 57.12, 57.375)
_MEAN = torch.tensor(MEAN).view(3, 1, 1)  # broadcast over [T, 3, H, W]
_STD = torch.tensor(STD).view(3, 1, 1)


def short_side_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """Output (height, width) when the short side becomes ``short_side`` (mmcv's rounding)."""
    scale = short_side / min(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def multi_scale_crop_box(
    height: int,
    width: int,
    crop_size: int,
    scales: tuple[float, ...],
    rng: np.random.Generator,
) -> tuple[int, int, int, int]:
    """A MultiScaleCrop box ``(top, left, crop_h, crop_w)`` as mmaction's
    ``MultiScaleCrop(random_crop=False, max_wh_scale_gap=1, num_fixed_crops=13)`` draws it."""
    base = min(height, width)
    sizes = [int(base * s) for s in scales]
    # Width and height scales may differ by at most one step (max_wh_scale_gap=1).
    candidates = [(w, h) for i, h in enumerate(sizes) for j, w in enumerate(sizes) if abs(i - j) <= 1]
    crop_w, crop_h = candidates[int(rng.integers(len(candidates)))]
    # Sizes within 2 px of the target snap to it, so the final resize is skipped for them.
    crop_w = crop_size if abs(crop_w - crop_size) < 3 else crop_w
    crop_h = crop_size if abs(crop_h - crop_size) < 3 else crop_h
    w_step, h_step = (width - crop_w) // 4, (height - crop_h) // 4
    # (x, y) in quarter steps: 4 corners, centre, 4 edge middles, 4 quarter points.
    grid = [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2),
            (0, 2), (4, 2), (2, 4), (2, 0), (1, 1), (3, 1), (1, 3), (3, 3)]  # fmt: skip
    gx, gy = grid[int(rng.integers(len(grid)))]
    return gy * h_step, gx * w_step, crop_h, crop_w


def center_crop_box(height: int, width: int, crop_size: int) -> tuple[int, int, int, int]:
    """A centred ``crop_size`` box ``(top, left, crop_h, crop_w)`` with mmaction's floor rounding."""
    crop_h, crop_w = min(crop_size, height), min(crop_size, width)
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


@dataclass(frozen=True)
class ClipTransform:
    """uint8 ``[T, 3, H, W]`` clip -> normalised float32 ``[T, 3, crop_size, crop_size]``."""

    train: bool
    short_side: int = 256
    crop_size: int = 224
    scales: tuple[float, ...] = (1, 0.875, 0.75, 0.66)
    flip: bool = True
    multiscale: bool = True  # False: training clips get the evaluation's centre crop (flip only)

    def __post_init__(self) -> None:
        if self.crop_size > self.short_side:
            raise ValueError(
                f"crop_size {self.crop_size} is larger than short_side {self.short_side}; "
                "the crop must fit inside the resized frame"
            )

    def resize(self, frames: torch.Tensor) -> torch.Tensor:
        """The first, deterministic step alone: short side -> ``short_side`` (uint8 ``[T, 3, H, W]``).

        Frame by frame, so resizing a whole video once and sampling later gives the same pixels as
        sampling first (what a frame cache relies on); a clip already at that size is returned as is.
        """
        height, width = frames.shape[-2:]
        new_h, new_w = short_side_size(height, width, self.short_side)
        if (new_h, new_w) == (height, width):
            return frames
        return F.resize(frames, [new_h, new_w], antialias=True)

    def __call__(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Transform one clip; all randomness comes from ``rng``."""
        if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(
                f"expected a uint8 clip [T, 3, H, W], got {frames.dtype} {tuple(frames.shape)}; "
                "permute decoded [T, H, W, 3] frames with .permute(0, 3, 1, 2)"
            )
        frames = self.resize(frames)
        new_h, new_w = frames.shape[-2:]
        if self.train and self.multiscale:
            top, left, crop_h, crop_w = multi_scale_crop_box(new_h, new_w, self.crop_size, self.scales, rng)
        else:
            top, left, crop_h, crop_w = center_crop_box(new_h, new_w, self.crop_size)
        frames = F.crop(frames, top, left, crop_h, crop_w)
        if (crop_h, crop_w) != (self.crop_size, self.crop_size):
            frames = F.resize(frames, [self.crop_size, self.crop_size], antialias=True)
        if self.train and self.flip and rng.random() < 0.5:
            frames = F.hflip(frames)
        # Decoded frames are [T, H, W, 3] in memory (a permuted view): the uint8 resize is fastest on
        # that layout, but float conversion and normalisation run ~8x faster on a contiguous clip, so
        # the small uint8 crop is made contiguous first. Normalising in place saves two allocations.
        clip = frames.contiguous().to(torch.float32)
        return clip.sub_(_MEAN).div_(_STD)  # (x - mean) / std, bit-identical to F.normalize
