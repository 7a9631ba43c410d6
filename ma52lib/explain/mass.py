"""Does the CAM fall on the acting body part? A check we can trust on MA-52-Synth, whose renderer knows
where every body part is in every frame.

For a clip of class c (body part b = ``body_of(c)``) the renderer's region mask of b is re-rendered
(``frames_of(..., with_masks=True)``), taken at the frames the model sampled, and put through the
evaluation geometry of the clip (short side resize, centre crop); then

    mass = sum(cam * mask) / sum(cam)      (the share of the map on the acting region)
    area = mean(mask)                      (the share a uniform map would put there: chance level)

with the CAM of the true class c. ``cam_study`` runs this for several trained runs over a split;
``mass_summary`` and ``mass_by_body`` make the tables; ``pick_clips`` and ``clip_figure`` give the
qualitative panel (correct and wrong clips of several body parts, models side by side).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from ma52lib.data.transforms import center_crop_box, short_side_size
from ma52lib.data.video import open_video
from ma52lib.engine.build import build_dataset
from ma52lib.engine.progress import progress_bar
from ma52lib.engine.run import LoadedRun, load_run
from ma52lib.explain.gradcam import compute_cams
from ma52lib.explain.viz import cam_grid, denormalize
from ma52lib.labels import BODY_PARTS, FINE_CLASSES, body_of
from ma52lib.synth import clip_table, frames_of, read_meta


def eval_geometry(masks: np.ndarray | Tensor, *, short_side: int, crop_size: int) -> Tensor:
    """Region masks [T, H, W] of the original frames -> float [T, crop, crop] as ``ClipTransform(train=False)``.

    The same resize (bilinear, antialiased) and centre crop as the frames, so a border pixel's value is the
    fraction of it the region covers.
    """
    m = torch.as_tensor(np.asarray(masks), dtype=torch.float32)
    if m.dim() != 3:
        raise ValueError(f"masks must be [T, H, W], got {tuple(m.shape)}")
    height, width = m.shape[-2:]
    new_h, new_w = short_side_size(height, width, short_side)
    if (new_h, new_w) != (height, width):
        m = TF.resize(m, [new_h, new_w], antialias=True)
    top, left, crop_h, crop_w = center_crop_box(new_h, new_w, crop_size)
    m = m[:, top:top + crop_h, left:left + crop_w]
    if (crop_h, crop_w) != (crop_size, crop_size):
        m = TF.resize(m, [crop_size, crop_size], antialias=True)
    return m.clamp(0, 1)


def cam_mass(cam: Tensor, mask: Tensor) -> float:
    """Share of the map's total inside ``mask`` (both [T, H, W]); NaN for an empty map."""
    if cam.shape != mask.shape:
        raise ValueError(f"cam {tuple(cam.shape)} and mask {tuple(mask.shape)} must have the same shape")
    total = float(cam.sum())
    return float((cam * mask).sum()) / total if total > 0 else float("nan")


def region_of(label: int) -> str:
    """Name of the body-part region that acts in class ``label`` (a key of the renderer's masks)."""
    return BODY_PARTS[body_of(int(label))]


def is_synth(root: str | Path) -> bool:
    """Whether ``root`` is an MA-52-Synth folder (its meta.json lists every clip's spec)."""
    meta = read_meta(root)
    return bool(meta and meta.get("clips"))


class SynthRegions:
    """The region masks of the clips of an MA-52-Synth folder, re-rendered on demand."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._records = {(r["split"], r["file"]): r for r in clip_table(self.root)}

    def masks(self, split: str, file: str) -> dict[str, np.ndarray]:
        """{body part: bool [F, H, W]} over all F frames of clip ``file`` of ``split``."""
        record = self._records.get((split, file))
        if record is None:
            raise KeyError(f"{file} of split {split} is not in {self.root / 'meta.json'}; was the folder edited?")
        _, masks = frames_of(self.root, record, with_masks=True)
        frames = next(iter(masks.values())).shape[0]
        if frames != record["frames"]:
            raise RuntimeError(
                f"{file}: the renderer now makes {frames} frames, the dataset has {record['frames']}; the "
                "generator changed since the data was made: regenerate it (ma52 synth --force)"
            )
        return masks


def _load_runs(runs: Mapping[str, Any], device: str) -> dict[str, Any]:
    return {name: r if isinstance(r, LoadedRun) else load_run(r, device=device) for name, r in runs.items()}


def _datasets(loaded: Mapping[str, Any], root: Path, split: str) -> dict[str, Any]:
    sets = {name: build_dataset(run.cfg, root, split, run.model, train=False) for name, run in loaded.items()}
    lengths = {name: len(ds) for name, ds in sets.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"the runs see different numbers of clips in {root} {split}: {lengths}")
    return sets


def _spread(n: int, k: int | None) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all when k is None or >= n)."""
    if k is None or k >= n:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, k).round()})


def _sampled(ds: Any, index: int, num_frames: int) -> np.ndarray:
    """The frame indices ``ds`` samples for item ``index`` (same rng as ``MA52Dataset.__getitem__``)."""
    return ds.frame_indices(num_frames, np.random.default_rng([ds.seed, ds.epoch, index]))


def cam_study(runs: Mapping[str, Any], data_root: str | Path, *, split: str = "test", max_clips: int | None = None,
              method: str = "gradcam", device: str = "cpu", echo: Callable[[str], None] | None = None):
    """One row per (model, clip) of ``split``: prediction and, on MA-52-Synth, CAM mass and area of the
    acting region (CAM of the true class). ``runs`` maps a model name to a run folder or a LoadedRun."""
    root = Path(data_root)
    loaded = _load_runs(runs, device)
    sets = _datasets(loaded, root, split)
    regions = SynthRegions(root) if is_synth(root) else None
    if regions is None and echo:
        echo(f"{root} is not MA-52-Synth: no region masks, so no mass check (predictions only)")
    first = next(iter(sets.values()))
    rows = []
    for i in progress_bar(_spread(len(first), max_clips), desc="CAM study", unit="clip"):
        file = first.clips[i].path
        masks = num_frames = None
        if regions is not None:
            masks = regions.masks(split, file)
            num_frames = len(open_video(first.path_of(i)))
        for name, ds in sets.items():
            clip, label, _ = ds[i]
            res = compute_cams(loaded[name].model, clip[None], [label], method=method)
            probs = torch.softmax(res.logits[0], dim=0)
            pred = int(probs.argmax())
            mass = area = float("nan")
            if masks is not None:
                region = masks[region_of(label)][_sampled(ds, i, num_frames)]  # [T, H, W] at the sampled frames
                mask = eval_geometry(region, short_side=ds.transform.short_side, crop_size=ds.transform.crop_size)
                mass, area = cam_mass(res.cams[0], mask), float(mask.mean())
            rows.append({
                "model": name, "video": Path(file).stem, "index": i, "label": int(label),
                "class": FINE_CLASSES[label], "body": region_of(label), "pred": pred,
                "pred_class": FINE_CLASSES[pred], "correct": pred == label,
                "body_correct": body_of(pred) == body_of(int(label)), "p_true": float(probs[label]),
                "mass": mass, "area": area,
            })
    return pd.DataFrame(rows)


def mass_summary(study, *, names: Mapping[str, str] | None = None):
    """Per model: clips, top-1, mean CAM mass on the acting region, mean region area (chance), their ratio,
    the share of clips whose mass beats the area (percent), and the clips whose map is empty (no positive
    evidence for the true class at the CAM layer; left out of the means)."""
    rows = []
    for model, df in study.groupby("model", sort=False):
        ok = df.dropna(subset=["mass"])
        rows.append({
            "model": (names or {}).get(model, model), "clips": len(df),
            "top-1 %": round(100 * df["correct"].mean(), 1),
            "CAM mass on region %": round(100 * ok["mass"].mean(), 1) if len(ok) else float("nan"),
            "region area % (chance)": round(100 * ok["area"].mean(), 1) if len(ok) else float("nan"),
            "mass / area": round(ok["mass"].mean() / ok["area"].mean(), 2) if len(ok) else float("nan"),
            "clips with mass > area %": round(100 * (ok["mass"] > ok["area"]).mean(), 1) if len(ok) else float("nan"),
            "empty maps": int(df["mass"].isna().sum()) if df["area"].notna().any() else float("nan"),
        })
    return pd.DataFrame(rows).set_index("model")


def mass_by_body(study, *, names: Mapping[str, str] | None = None):
    """Mean CAM mass on the acting region (percent) per model (rows) and body part (columns), with the
    regions' mean area (chance) as the last row."""
    ok = study.dropna(subset=["mass"])
    table = ok.pivot_table(index="model", columns="body", values="mass", aggfunc="mean") * 100
    table = table.reindex([m for m in study["model"].unique() if m in table.index])  # the runs' order
    table.loc["region area (chance)"] = ok.groupby("body")["area"].mean() * 100
    table = table[[b for b in BODY_PARTS if b in table.columns]].round(1)
    return table.rename(index=dict(names or {}))


def pick_clips(study, *, model: str, n: int, seed: int = 0) -> list[int]:
    """``n`` dataset indices alternating correctly / wrongly classified clips (by ``model``), spreading
    the picks over body parts; falls back to the other kind when one runs out."""
    df = study[study["model"] == model]
    if df.empty:
        raise ValueError(f"no rows of model {model!r} in the study; models: {sorted(set(study['model']))}")
    rng = np.random.default_rng(seed)
    pools = {kind: [int(i) for i in rng.permutation(np.array(df[df["correct"] == kind]["index"]))]
             for kind in (True, False)}
    body = dict(zip(df["index"], df["body"]))
    used: dict[str, int] = {}
    picks: list[int] = []
    for k in range(min(n, len(df))):
        kind = k % 2 == 0
        pool = pools[kind] or pools[not kind]
        # the clip whose body part has been shown least so far (first in the shuffled order on ties)
        best = min(pool, key=lambda i: used.get(body[i], 0))
        pool.remove(best)
        used[body[best]] = used.get(body[best], 0) + 1
        picks.append(int(best))
    return picks


def clip_figure(runs: Mapping[str, Any], data_root: str | Path, index: int, *, split: str = "test",
                method: str = "gradcam", names: Mapping[str, str] | None = None, device: str = "cpu"):
    """Sampled frames of clip ``index``, the acting region (MA-52-Synth) and each model's CAM of its
    predicted class, one row each."""
    root = Path(data_root)
    loaded = _load_runs(runs, device)
    sets = _datasets(loaded, root, split)
    first = next(iter(sets.values()))
    file = first.clips[index].path
    rows: list[tuple[str, np.ndarray, Tensor | None]] = []
    label = None
    for name, ds in sets.items():
        clip, label, _ = ds[index]
        res = compute_cams(loaded[name].model, clip[None], None, method=method)
        pred = int(res.logits[0].argmax())
        frames = denormalize(clip)
        if not rows:
            rows.append(("frames", frames, None))
            if is_synth(root):
                region = SynthRegions(root).masks(split, file)[region_of(label)]
                region = region[_sampled(ds, index, len(open_video(ds.path_of(index))))]
                mask = eval_geometry(region, short_side=ds.transform.short_side, crop_size=ds.transform.crop_size)
                rows.append((f"region:\n{region_of(label)}", frames, mask))
        mark = "right" if pred == label else "wrong"
        rows.append((f"{(names or {}).get(name, name)}\n{FINE_CLASSES[pred]}\n({mark})", frames, res.cams[0]))
    title = f"{Path(file).stem}: {FINE_CLASSES[label]} [{region_of(label)}]; {method} of each model's prediction"
    return cam_grid(rows, title=title)


__all__ = [
    "SynthRegions", "cam_mass", "cam_study", "clip_figure", "eval_geometry", "is_synth", "mass_by_body",
    "mass_summary", "pick_clips", "region_of",
]
