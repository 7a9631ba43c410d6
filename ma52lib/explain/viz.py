"""Drawing CAMs: heat-map overlays on the sampled frames, as a filmstrip figure, a grid or an animated GIF."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from ma52lib.data.transforms import MEAN, STD

# matplotlib is imported inside the drawing functions: the CLI imports this module (for `ma52 cam`)
# whatever the command, and matplotlib alone takes about a second to import.

CMAP = "jet"  # the Grad-CAM papers' colormap: blue = no evidence, red = strongest in the clip
ALPHA = 0.5  # weight of the heat map in an overlay


def denormalize(clip: Tensor) -> np.ndarray:
    """A model-ready clip [T, 3, H, W] (ImageNet-normalised, 0-255 scale) back to uint8 frames [T, H, W, 3]."""
    mean = torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)
    frames = (clip.detach().float().cpu() * std + mean).round().clamp(0, 255).to(torch.uint8)
    return frames.permute(0, 2, 3, 1).numpy()  # [T, 3, H, W] -> [T, H, W, 3]


def overlay(frames: np.ndarray, cam: Tensor | np.ndarray, *, alpha: float = ALPHA, cmap: str = CMAP) -> np.ndarray:
    """Blend a colormapped ``cam`` [T, H, W] in [0, 1] onto uint8 ``frames`` [T, H, W, 3]; uint8 [T, H, W, 3]."""
    from matplotlib import colormaps  # see the note on imports at the top

    heat = np.asarray(cam.detach().cpu() if isinstance(cam, Tensor) else cam, dtype=np.float32)
    if heat.shape != frames.shape[:3]:
        raise ValueError(f"cam {heat.shape} and frames {frames.shape[:3]} must have the same [T, H, W]")
    rgb = colormaps[cmap](np.clip(heat, 0, 1))[..., :3] * 255  # [T, H, W] -> [T, H, W, 3]
    return np.clip((1 - alpha) * frames + alpha * rgb, 0, 255).round().astype(np.uint8)


def _panel_size(frames: np.ndarray, cols: int, rows: int) -> tuple[float, float]:
    h, w = frames.shape[1:3]
    width = min(16.0, 1.6 * cols * max(1.0, w / h))
    return width, width / cols * (h / w) * rows + 0.9


def cam_grid(rows: Sequence[tuple[str, np.ndarray, Tensor | np.ndarray | None]], *, title: str = "",
             frame_labels: Sequence[str] | None = None):
    """A figure with one row per ``(label, frames [T, H, W, 3], cam [T, H, W] or None)``; None shows the frames."""
    import matplotlib.pyplot as plt  # see the note on imports at the top

    if not rows:
        raise ValueError("cam_grid needs at least one row")
    cols = max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=_panel_size(rows[0][1], cols, len(rows)), squeeze=False)
    for r, (label, frames, cam) in enumerate(rows):
        images = frames if cam is None else overlay(frames, cam)
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                ax.imshow(images[c], interpolation="nearest")
            else:
                ax.axis("off")
            if r == 0 and frame_labels is not None and c < len(frame_labels):
                ax.set_title(frame_labels[c], fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=9, ha="left", x=0.01)
    fig.tight_layout()
    return fig


def filmstrip(frames: np.ndarray, cam: Tensor | np.ndarray, *, title: str = "",
              frame_labels: Sequence[str] | None = None):
    """The sampled frames (top row) and their CAM overlays (bottom row) as one figure."""
    return cam_grid([("frames", frames, None), ("CAM", frames, cam)], title=title, frame_labels=frame_labels)


def save_figure(fig, path: str | Path, *, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix) and close it."""
    import matplotlib.pyplot as plt  # see the note on imports at the top

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def save_gif(frames: np.ndarray, cam: Tensor | np.ndarray, path: str | Path, *, caption: Sequence[str] = (),
             fps: float = 4.0, min_side: int = 224) -> Path:
    """An animated GIF of the overlays, upscaled to at least ``min_side`` px, with ``caption`` lines above."""
    images = overlay(frames, cam)
    h, w = images.shape[1:3]
    scale = max(1, int(np.ceil(min_side / min(h, w))))
    font = ImageFont.load_default()
    line_h = 12
    banner = line_h * len(caption) + (6 if caption else 0)
    pages = []
    for image in images:
        big = Image.fromarray(image).resize((w * scale, h * scale), Image.NEAREST)  # keep the CAM's cells crisp
        page = Image.new("RGB", (big.width, big.height + banner), "white")
        page.paste(big, (0, banner))
        draw = ImageDraw.Draw(page)
        for i, line in enumerate(caption):
            draw.text((3, 3 + i * line_h), line, fill="black", font=font)
        pages.append(page)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pages[0].save(path, save_all=True, append_images=pages[1:], duration=int(round(1000 / fps)), loop=0)
    return path
