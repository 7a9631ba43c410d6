"""A linear probe of a start: how much of the action its frozen per-frame features already carry.

The start's 2-D network (``model.pretrained`` resolved: a shipped or local pretraining run, a file, or random
init; a 2-D ResNet, or the model's own 2-D twin for a model started from stills) sees each training and
validation clip as the evaluation does (8 segment centres, the centre crop) and pools every frame; a
multinomial logistic regression (scikit-learn, standardised features) is fitted on the training clips and
scored on the validation clips, once on the 8 frame features in order (what a temporal model can use) and
once on their average (what TSN's average consensus sees). Labels are used to measure, never to make a start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader

from ma52lib.config import Config
from ma52lib.data.dataset import MA52Dataset, collate
from ma52lib.engine.build import build_model_for, resolve_data_root
from ma52lib.engine.pretrain import backbone_spec, describe_start, ensure_pretrained, resnet_start, resolve_pretrained
from ma52lib.models import model_facts


@torch.no_grad()
def clip_features(frame_features: Callable[[torch.Tensor], torch.Tensor], root: Path, split: str,
                  cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features of every frame of ``split``'s clips, ``[N, T, F]``, and their labels ``[N]``."""
    data = MA52Dataset(root, split, num_segments=cfg.model.num_segments, sampling="tsn", train=False,
                       short_side=cfg.data.short_side, crop_size=cfg.data.crop_size, cache=False)
    feats, labels = [], []
    for clips, y, _, _ in DataLoader(data, batch_size=16, collate_fn=collate):
        n, t = clips.shape[:2]
        frames = clips.reshape(n * t, *clips.shape[2:]).contiguous(memory_format=torch.channels_last)
        feats.append(frame_features(frames).view(n, t, -1).float().numpy())  # [N, T, F]
        labels.append(y.numpy())
    return np.concatenate(feats), np.concatenate(labels)


def start_features(cfg: Config) -> Callable[[torch.Tensor], torch.Tensor]:
    """Frames ``[N, 3, H, W]`` -> pooled features ``[N, F]`` of ``cfg``'s start (random init when it has none): its
    2-D ResNet, or the model itself on stills (its 2-D twin) when its start is made that way."""
    if model_facts(cfg.model.name).still_start:
        ensure_pretrained(cfg)  # a start not shipped nor made yet is pretrained first, with its progress
        model = build_model_for(cfg).eval()  # loads the start
        return lambda frames: model.still_maps(frames)[1]
    if backbone_spec(cfg) is None:
        raise ValueError(f"{cfg.model.name} has no start to probe (its paper start is neither ImageNet nor a "
                         "still-pretrained twin)")
    return resnet_start(cfg)


def linear_probe(cfg: Config, *, seed: int = 0) -> dict[str, Any]:
    """Validation action top-1 (percent) of linear classifiers on the start's frozen frame features."""
    cfg = resolve_pretrained(cfg)
    root = resolve_data_root(cfg)
    features = start_features(cfg)
    x_tr, y_tr = clip_features(features, root, cfg.data.train_split, cfg)
    x_va, y_va = clip_features(features, root, cfg.data.val_split, cfg)
    scores = {}
    for name, reduce in (("ordered", lambda x: x.reshape(len(x), -1)), ("averaged", lambda x: x.mean(1))):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000, random_state=seed))
        clf.fit(reduce(x_tr), y_tr)
        scores[name] = 100.0 * float((clf.predict(reduce(x_va)) == y_va).mean())
    majority = np.bincount(y_tr).argmax()
    return {"start": describe_start(cfg), "val_top1_ordered": scores["ordered"],
            "val_top1_averaged": scores["averaged"], "val_majority": 100.0 * float((y_va == majority).mean()),
            "train_clips": len(y_tr), "val_clips": len(y_va), "features": int(x_tr.shape[-1])}


def without_start(cfg: Config) -> Config:
    """``cfg`` with a random-init backbone: the probe's floor."""
    return replace(cfg, model=replace(cfg.model, pretrained=None))
