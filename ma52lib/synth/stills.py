"""Still frames from the MA-52-Synth renderer with what it knows about them: the ImageNet analogue's data.

The paper's 2-D backbones start from ImageNet. Here they can start from a backbone pretrained on frames
this renderer draws (``ma52lib.engine.pretrain``): frames of participants who are not in MA-52-Synth
(another participant seed), in the poses of random micro-actions, each with its region-tag map (which
drawn part covers each pixel: torso, head, forearm, ...) and the image positions of 23 joints and head
landmarks. No action label is kept: the pretext is pose and body parts, as ImageNet is objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from ma52lib.labels import NUM_CLASSES
from ma52lib.synth import draw
from ma52lib.synth.motions import REVERSE_OF
from ma52lib.synth.participants import Participant, make_participants
from ma52lib.synth.render import stage_clip
from ma52lib.synth.skeleton import Rig, Skeleton
from ma52lib.synth.writer import RENDER_PRELOAD, draw_spec
from ma52lib.workers import map_in_workers

# Reversed classes are their partner's frames backwards: as stills they add nothing new.
FORWARD_CLASSES = tuple(c for c in range(NUM_CLASSES) if c not in REVERSE_OF)
NUM_TAGS = draw.TAG_OBJECT + 1  # region tags 0 (background) .. TAG_OBJECT
PARTICIPANT_SEED_OFFSET = 1000  # stills of seed s show participants of seed s + 1000: not MA-52-Synth's
KEYPOINTS: tuple[str, ...] = (
    "head", "nose", "forehead", "right ear", "left ear", "neck", "pelvis",
    *(f"{side} {joint}" for joint in ("shoulder", "elbow", "wrist", "knuckles", "hip", "knee", "ankle", "toe")
      for side in ("right", "left")),
)


@dataclass(frozen=True)
class Stills:
    """Rendered frames and their labels."""

    images: np.ndarray  # [N, H, W, 3] uint8 RGB
    tags: np.ndarray  # [N, H, W] int8 region tag per pixel (0 = background)
    joints: np.ndarray  # [N, K, 2] float32 image position (u, v) in pixels of each of KEYPOINTS


def keypoints(sk: Skeleton, rig: Rig) -> np.ndarray:
    """World positions ``[T, K, 3]`` of ``KEYPOINTS`` for a posed clip."""
    points = [sk.head_c, rig.landmark(sk, "nose"), rig.landmark(sk, "forehead"), rig.landmark(sk, "ear", 0),
              rig.landmark(sk, "ear", 1), sk.neck_base, sk.pelvis]
    for joint in (sk.shoulder, sk.elbow, sk.wrist, sk.knuckle, sk.hip_joint, sk.knee, sk.ankle, sk.toe):
        points += [joint[:, 0], joint[:, 1]]  # [T, 2, 3] per side
    return np.stack(points, 1)


def _still_spec(seed: int, index: int, people: list[Participant]) -> tuple[Any, Participant]:
    rng = np.random.default_rng([seed, 0x57111, index])
    label = int(FORWARD_CLASSES[rng.integers(len(FORWARD_CLASSES))])
    person = people[int(rng.integers(len(people)))]
    return draw_spec(seed + PARTICIPANT_SEED_OFFSET, index, label, person.pid), person


_WORKER: dict[str, Any] = {}


def _init_worker(seed: int, size: tuple[int, int], fps: int, per_clip: int) -> None:
    _WORKER.update(seed=seed, size=size, fps=fps, per_clip=per_clip,
                   people=make_participants(205, seed + PARTICIPANT_SEED_OFFSET))


def _render_clip_stills(index: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """``per_clip`` random frames of clip ``index``: images, tags, joints (all depend on (seed, index) only)."""
    w = _WORKER
    spec, person = _still_spec(w["seed"], index, w["people"])
    stage = stage_clip(spec, person, w["size"], w["fps"])
    uv, _, _ = stage.camera.project(keypoints(stage.skeleton, Rig(person)))  # [T, K, 2]
    t = stage.pose.t
    picks = np.sort(np.random.default_rng([w["seed"], 0xF4A3E, index]).choice(t, size=min(w["per_clip"], t),
                                                                                 replace=False))
    drawn = [stage.draw(int(f), labels=True) for f in picks]
    return (index, np.stack([img for img, _ in drawn]), np.stack([tags for _, tags in drawn]),
            uv[picks].astype(np.float32))


def render_stills(clips: int, *, frames_per_clip: int = 2, size: tuple[int, int] = (80, 96), fps: int = 15,
                  seed: int = 1, workers: int = 2, progress: bool = True) -> Stills:
    """``clips`` x ``frames_per_clip`` labelled still frames at ``size`` = (W, H); same arguments, same arrays."""
    if clips < 1 or frames_per_clip < 1:
        raise ValueError(f"need clips >= 1 and frames_per_clip >= 1, got {clips} and {frames_per_clip}")
    initargs = (seed, (int(size[0]), int(size[1])), int(fps), int(frames_per_clip))
    parts: list[Any] = [None] * clips
    quiet = not progress or os.environ.get("MA52_QUIET") == "1"
    bar = tqdm(total=clips, desc="stills", unit="clip", disable=True if quiet else None)
    for i, *arrays in map_in_workers(_render_clip_stills, range(clips), workers=workers, initializer=_init_worker,
                                     initargs=initargs, chunksize=16, preload=RENDER_PRELOAD,
                                     what="rendering the pretraining stills"):
        parts[i] = arrays
        bar.update()
    bar.close()
    return Stills(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                  np.concatenate([p[2] for p in parts]))
