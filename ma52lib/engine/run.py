"""Using a finished run: load its model, score a split, predict any mp4, write a Codabench submission."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from ma52lib.config import Config, load_config, make_config, save_config
from ma52lib.data.sampling import dense_indices, tsn_test_indices
from ma52lib.data.transforms import ClipTransform
from ma52lib.data.video import VideoError, probe, read_frames
from ma52lib.engine.build import (
    build_dataset,
    build_loader,
    build_model_for,
    embedding_dim,
    memory_format_of,
    resolve_data_root,
    without_weights,
)
from ma52lib.engine.checkpoint import load_checkpoint, save_checkpoint
from ma52lib.engine.evaluate import autocast, predict_loader
from ma52lib.engine.precision import resolve, uses_bf16
from ma52lib.labels import BODY_PARTS, FINE_CLASSES, body_of
from ma52lib.metrics import compute_metrics, write_submission
from ma52lib.models.convert import LoadReport, load_official_checkpoint


@dataclass
class LoadedRun:
    """A run's config and its best-val model, ready for inference."""

    run_dir: Path
    cfg: Config
    model: nn.Module
    device: torch.device


def load_run(run_dir: str | Path, *, checkpoint: str = "best", device: str = "cpu") -> LoadedRun:
    """Rebuild the model of ``run_dir`` and load its ``best`` (or ``last``) weights."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no config.json); pass the folder `ma52 train` made")
    cfg = load_config(cfg_path)
    ckpt = run_dir / "checkpoints" / f"{checkpoint}.pt"
    state = load_checkpoint(ckpt)
    # Random init: the checkpoint replaces every weight (the pretrained backbone need not be here).
    model = build_model_for(without_weights(cfg), embedding_dim(cfg))
    model.load_state_dict(state["model"])
    if cfg.runtime.precision == "auto":  # a hand-made config.json: choose as training would
        cfg, _ = resolve(cfg, model=model)
    if cfg.runtime.channels_last:
        # The layout training scored val/test in: bf16 kernels differ by layout, and a near-tie clip
        # could otherwise change class between results.json and `ma52 eval`.
        model = model.to(memory_format=memory_format_of(model))
    dev = torch.device(device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(dev).eval()
    return LoadedRun(run_dir, cfg, model, dev)


def data_root_of(run: LoadedRun, data_root: str | Path | None = None) -> Path:
    """The dataset a run was trained on, or ``data_root`` when given (e.g. the same data moved)."""
    if data_root:
        return Path(data_root)
    return resolve_data_root(run.cfg)


def predict_split(run: LoadedRun, split: str, *, data_root: str | Path | None = None,
                  features: bool = False, num_workers: int | None = None) -> tuple[Any, dict[str, Any]]:
    """(dataset, predictions dict of ``predict_loader``) for ``split`` of the run's data."""
    cfg = run.cfg
    if num_workers is not None:
        cfg = replace(cfg, data=replace(cfg.data, num_workers=num_workers))
    root = data_root_of(run, data_root)
    ds = build_dataset(cfg, root, split, run.model, train=False)
    loader = build_loader(cfg, ds, train=False)
    return ds, predict_loader(run.model, loader, run.device, bf16=uses_bf16(cfg), features=features, desc=split)


def evaluate_split(run: LoadedRun, split: str, *, data_root: str | Path | None = None) -> dict[str, Any]:
    """The paper's metrics of the run on ``split`` (which must have labels)."""
    ds, pred = predict_split(run, split, data_root=data_root)
    if not getattr(ds, "has_labels", True):
        raise ValueError(
            f"the {split} split of {ds.root} has no labels (real MA-52 test labels are withheld); "
            "use `ma52 submit` and score it on Codabench"
        )
    return compute_metrics(pred["probs"], pred["labels"])


class ShortClipError(VideoError):
    """A video with fewer frames than the model samples: its prediction would repeat frames the model never saw so."""


def load_clip(run: LoadedRun, video: str | Path, *, refuse_short: bool = False) -> torch.Tensor:
    """Decode and transform one mp4 exactly as the run's evaluation does: [T, 3, H, W] float. ``VideoError`` for a
    file that cannot be read; with ``refuse_short``, ``ShortClipError`` for one with fewer frames than the model
    samples (otherwise sampling repeats frames)."""
    info = probe(video)
    model = run.model
    if refuse_short and info.num_frames < model.num_frames:
        raise ShortClipError(f"{video}: {info.num_frames} frame(s), fewer than the {model.num_frames} the model "
                             "samples; skipped")
    if model.sampling == "dense":
        idx = dense_indices(info.num_frames, model.num_frames, model.frame_interval, train=False,
                            rng=np.random.default_rng(0))
    else:
        idx = tsn_test_indices(info.num_frames, model.num_frames)
    frames = read_frames(video, idx).permute(0, 3, 1, 2)  # [T, H, W, 3] -> [T, 3, H, W]
    tf = ClipTransform(train=False, short_side=run.cfg.data.short_side, crop_size=run.cfg.data.crop_size)
    return tf(frames, np.random.default_rng(0))


@torch.no_grad()
def predict_videos(run: LoadedRun, videos: list[str | Path], k: int = 5) -> list[list[dict[str, Any]]]:
    """Top-``k`` micro-actions (id, name, body part, probability) for each video file."""
    out = []
    for video in videos:
        clip = load_clip(run, video, refuse_short=True).unsqueeze(0).to(run.device)  # [1, T, 3, H, W]
        with autocast(run.device, uses_bf16(run.cfg)):
            logits = run.model(clip)
        probs = torch.softmax(logits.float(), dim=1)[0]
        top = torch.topk(probs, k)
        out.append([
            {"id": int(i), "name": FINE_CLASSES[int(i)], "body": BODY_PARTS[body_of(int(i))], "prob": float(p)}
            for p, i in zip(top.values, top.indices)
        ])
    return out


def predict_each(run: LoadedRun, videos: list[str | Path], k: int = 5
                 ) -> Iterator[tuple[str, list[dict[str, Any]] | None, str | None]]:
    """(video, top-``k`` or None, why not) for each file: one unreadable or too-short file never hides the others."""
    for video in videos:
        try:
            yield str(video), predict_videos(run, [video], k=k)[0], None
        except VideoError as exc:
            yield str(video), None, str(exc)


def submit(run: LoadedRun, out_csv: str | Path, *, split: str = "test", data_root: str | Path | None = None) -> Path:
    """Write the Codabench CSV of ``split`` (test by default) for the run."""
    ds, pred = predict_split(run, split, data_root=data_root)
    vids = [ds.video_ids[i] for i in pred["indices"]]
    if len(vids) != len(ds):
        raise RuntimeError(f"{len(ds) - len(vids)} videos of {split} could not be read; a submission needs all")
    write_submission(out_csv, vids, pred["probs"])
    return Path(out_csv)


def import_official(checkpoint: str | Path, out: str | Path, *, profile: str = "paper",
                    overrides: dict[str, Any] | None = None) -> tuple[Path, LoadReport]:
    """Make a run folder from the authors' released MANet checkpoint, so `ma52 eval/predict/submit` use it;
    returns the folder and what was loaded.

    The official head's embedding branch is only used by the training loss, so the imported run is
    configured without it (``loss.weight=0``) and those weights are dropped; everything else must match.
    """
    # Every weight comes from the checkpoint: no start weights to fetch (model.pretrained=None in its config).
    cfg = without_weights(make_config(profile, {**(overrides or {}), "loss.weight": 0.0}))
    model = build_model_for(cfg, None)
    # The file is read and checked before the precision probe (tens of seconds on a CPU) runs.
    report = load_official_checkpoint(model, checkpoint)
    cfg, _ = resolve(cfg, model=model)  # config.json holds the precision `ma52 eval` will use
    out = Path(out)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.json")
    save_checkpoint({"model": model.state_dict(), "epoch": -1, "config": {}}, out / "checkpoints" / "best.pt")
    (out / "imported_from.json").write_text(json.dumps({"checkpoint": str(checkpoint), "report": str(report)}) + "\n")
    return out, report
