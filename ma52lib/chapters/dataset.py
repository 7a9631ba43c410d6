"""The dataset chapter: contact sheet, filmstrips, GIFs, class histograms, motion energy per body part.

Frames shown come from the mp4 files through the real decoder (what a model sees); the motion-energy
statistics re-render clips losslessly from ``meta.json`` to get the body-part masks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from ma52lib.chapters.common import class_counts, labelled
from ma52lib.data.video import open_video
from ma52lib.labels import (
    BODY_PARTS,
    FINE_CLASSES,
    FINE_TO_BODY,
    NUM_BODY_PARTS,
    NUM_CLASSES,
    REAL_TRAIN_COUNTS,
    REAL_VAL_COUNTS,
)
from ma52lib.synth import clip_table, frames_of


def read_clip(root: str | os.PathLike[str], split: str, file: str) -> np.ndarray:
    """All frames of ``videos_<split>/<file>`` as uint8 [T, H, W, 3], decoded with decord."""
    reader = open_video(Path(root) / f"videos_{split}" / file)
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def peak_frame(frames: np.ndarray) -> int:
    """Index of the frame that differs most from the first one (the height of the movement)."""
    diff = np.abs(frames.astype(np.int16) - frames[:1].astype(np.int16)).sum(axis=(1, 2, 3))
    return int(diff.argmax())


def filmstrip(frames: np.ndarray, n: int = 8) -> np.ndarray:
    """``n`` evenly spaced frames side by side, [H, n*W, 3]."""
    idx = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int)
    return np.concatenate(list(frames[idx]), axis=1)


def first_clip_per_class(root: str | os.PathLike[str], split: str = "train") -> dict[int, str]:
    """The first listed file of every class present in ``split``."""
    out: dict[int, str] = {}
    for file, label in labelled(root, split):
        out.setdefault(label, file)
    return out


def plot_contact_sheet(root: str | os.PathLike[str], split: str = "train", cols: int = 8) -> Figure:
    """One frame per class (its movement's peak) in a grid titled with the class names."""
    files = first_clip_per_class(root, split)
    rows = int(np.ceil(NUM_CLASSES / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.5, rows * 2.0))
    for label, ax in zip(range(rows * cols), axes.ravel()):
        ax.axis("off")
        if label in files:
            frames = read_clip(root, split, files[label])
            ax.imshow(frames[peak_frame(frames)], interpolation="nearest")
            ax.set_title(f"{label} {FINE_CLASSES[label]}", fontsize=6)
    fig.tight_layout()
    return fig


def plot_filmstrips(root: str | os.PathLike[str], labels: Sequence[int], split: str = "train", n: int = 8) -> Figure:
    """One filmstrip row per class in ``labels`` (first clip of each)."""
    files = first_clip_per_class(root, split)
    fig, axes = plt.subplots(len(labels), 1, figsize=(n * 1.0, len(labels) * 1.4), squeeze=False)
    for ax, label in zip(axes[:, 0], labels):
        ax.imshow(filmstrip(read_clip(root, split, files[label]), n), interpolation="nearest")
        ax.set_title(f"{label} {FINE_CLASSES[label]} ({BODY_PARTS[FINE_TO_BODY[label]]})", fontsize=8, loc="left")
        ax.axis("off")
    fig.tight_layout()
    return fig


def save_gif(path: str | os.PathLike[str], clips: Sequence[np.ndarray], fps: float, scale: int = 2) -> Path:
    """Write clips side by side as a looping animated GIF (shorter clips hold their last frame)."""
    length = max(len(c) for c in clips)
    padded = [np.concatenate([c, np.repeat(c[-1:], length - len(c), 0)]) for c in clips]
    frames = np.concatenate(padded, axis=2)  # [T, H, sum W, 3]
    images = [
        Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.NEAREST) for f in frames
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


def headline(root: str | os.PathLike[str]) -> str:
    """Two sentences on the class histograms, counted from the lists: the split sizes and the long tail."""
    sizes = {split: int(class_counts(root, split).sum()) for split in ("train", "val", "test")}
    train = class_counts(root, "train")
    top, low = int(np.argmax(train)), int(np.argmin(train))
    ratio = f" ({train[top] / train[low]:.1f} to 1)" if train[low] else ""
    return (f"This data has {sizes['train']:,} training, {sizes['val']:,} validation and {sizes['test']:,} test "
            f"clips of {NUM_CLASSES} actions in {NUM_BODY_PARTS} body parts. The most frequent action, "
            f"\"{FINE_CLASSES[top]}\", has {int(train[top]):,} training clips, the rarest, \"{FINE_CLASSES[low]}\", "
            f"{int(train[low]):,}{ratio}.")


def plot_class_histograms(root: str | os.PathLike[str]) -> Figure:
    """Per-class and per-body-part share of train+val clips: this dataset beside the real MA-52."""
    ours = class_counts(root, "train") + class_counts(root, "val")
    real = np.asarray(REAL_TRAIN_COUNTS) + np.asarray(REAL_VAL_COUNTS)
    fig, (a, b) = plt.subplots(2, 1, figsize=(12, 6.5), gridspec_kw={"height_ratios": [3, 2]})
    x = np.arange(NUM_CLASSES)
    a.bar(x - 0.2, real / real.sum(), width=0.4, label=f"MA-52 ({real.sum()} train+val clips)")
    a.bar(x + 0.2, ours / ours.sum(), width=0.4, label=f"this dataset ({ours.sum()})")
    a.set_yscale("log")
    a.set_xticks(x, [f"{i} {n}" for i, n in enumerate(FINE_CLASSES)], rotation=90, fontsize=6)
    a.set_ylabel("share of clips (log)")
    a.legend(fontsize=8)
    body_real = np.bincount(np.asarray(FINE_TO_BODY), weights=real, minlength=NUM_BODY_PARTS)
    body_ours = np.bincount(np.asarray(FINE_TO_BODY), weights=ours, minlength=NUM_BODY_PARTS)
    xb = np.arange(NUM_BODY_PARTS)
    b.bar(xb - 0.2, body_real / body_real.sum(), width=0.4, label="MA-52")
    b.bar(xb + 0.2, body_ours / body_ours.sum(), width=0.4, label="this dataset")
    b.set_xticks(xb, BODY_PARTS)
    b.set_ylabel("share of clips")
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig


def motion_energy(
    root: str | os.PathLike[str], per_class: int = 1, split: str = "train", *, clean: bool = True
) -> list[dict[str, Any]]:
    """Per clip: mean |frame difference| (0..255 levels) inside vs outside its class's body-part region.

    The region is where that body part is drawn at any time of the clip (grown by one pixel, since a
    moving edge also changes the pixel beside it); clips are re-rendered from meta.json for the masks.
    ``clean`` drops camera shake and sensor noise so only the body's motion is measured.
    """
    records = [r for r in clip_table(root) if r["split"] == split]
    seen: dict[int, int] = {}
    rows = []
    for rec in records:
        label = rec["label"]
        if seen.get(label, 0) >= per_class:
            continue
        seen[label] = seen.get(label, 0) + 1
        frames, masks = frames_of(root, {**rec, "jitter": 0.0, "noise": 0.0} if clean else rec, with_masks=True)
        part = BODY_PARTS[FINE_TO_BODY[label]]
        region = _grow(masks[part].any(0))
        diff = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(0, 3))  # [H, W]
        rows.append({
            "label": label,
            "class": FINE_CLASSES[label],
            "body part": part,
            "inside": float(diff[region].mean()),
            "outside": float(diff[~region].mean()),
            "share inside": float(diff[region].sum() / max(diff.sum(), 1e-9)),
            "region area": float(region.mean()),
            "changed pixels": float((diff > 2.0).mean()),
        })
    return rows


def _grow(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def plot_motion_energy(rows: Sequence[dict[str, Any]]) -> Figure:
    """Bar chart per body part: mean |frame difference| inside vs outside the acting region."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    xb = np.arange(NUM_BODY_PARTS)
    inside = [np.mean([r["inside"] for r in rows if r["body part"] == p] or [0]) for p in BODY_PARTS]
    outside = [np.mean([r["outside"] for r in rows if r["body part"] == p] or [0]) for p in BODY_PARTS]
    ax.bar(xb - 0.2, inside, width=0.4, label="inside the acting body part")
    ax.bar(xb + 0.2, outside, width=0.4, label="rest of the frame")
    ax.set_xticks(xb, BODY_PARTS)
    ax.set_ylabel("mean |frame difference| (0-255)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def motion_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Per body part, means over the ``motion_energy`` clips: motion inside and outside the acting region,
    their ratio, the share of all motion inside, the region's area and the share of changed pixels."""
    frame = pd.DataFrame(list(rows), columns=["body part", "inside", "outside", "share inside", "region area",
                                              "changed pixels"])
    parts = [p for p in BODY_PARTS if p in set(frame["body part"])]  # label order, parts with clips only
    means = frame.groupby("body part", sort=False).mean().reindex(parts)
    means.insert(2, "ratio", means["inside"] / means["outside"].clip(lower=1e-9))
    return means.rename(columns={"share inside": "share", "region area": "area", "changed pixels": "changed"}).round(
        {"inside": 2, "outside": 3, "ratio": 1, "share": 2, "area": 2, "changed": 3})


__all__ = ["headline",
    "class_counts", "filmstrip", "first_clip_per_class", "labelled", "motion_energy", "motion_table", "peak_frame",
    "plot_class_histograms", "plot_contact_sheet", "plot_filmstrips", "plot_motion_energy", "read_clip", "save_gif",
]
