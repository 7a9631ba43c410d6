"""Render one MA-52-Synth clip: spec + participant -> uint8 frames [T, H, W, 3] (and region masks).

Pipeline per clip: idle motion + the class's motion program (+ an optional distractor) fill a
``Pose``; kinematics turn it into 3-D joints; each frame draws background, stool and body parts
back to front (painter's order by camera depth) with shaded, anti-aliased primitives; lighting
gain/tint and sensor noise are applied last. All randomness comes from ``spec.seed``.
"""

from __future__ import annotations

import colorsys
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

import numpy as np

from ma52lib.labels import BODY_PARTS, NUM_CLASSES
from ma52lib.synth import draw
from ma52lib.synth.draw import Canvas, HeadLook
from ma52lib.synth.motions import DISTRACTORS, PROGRAMS, REVERSE_OF, Motion, distract, idle
from ma52lib.synth.participants import Participant
from ma52lib.synth.skeleton import SIDE_SIGN, Camera, Pose, Rig, Skeleton, unit

PUSHING_GLASSES = 47

# Which drawn regions make up each body-part mask (``render_clip(..., with_masks=True)``):
#   body       trunk, neck and head (body-level classes move the axial body, head carried along)
#   head       head, face, ears and hair
#   upper limb both arms and hands (and the prop of "playing objects")
#   lower limb thighs, shins and feet
#   body-hand  arms and hands + trunk and neck   (the acting hand and its target)
#   head-hand  arms and hands + head              (idem)
#   leg-hand   arms and hands + legs and feet     (idem)
_ARM = {draw.TAG_UPPER_ARM, draw.TAG_FOREARM, draw.TAG_HAND, draw.TAG_OBJECT}
_HEAD = {draw.TAG_HEAD, draw.TAG_HAIR}
_TRUNK = {draw.TAG_TORSO, draw.TAG_NECK}
_LEGS = {draw.TAG_THIGH, draw.TAG_SHIN, draw.TAG_FOOT}
MASK_TAGS: dict[str, frozenset[int]] = {
    "body": frozenset(_TRUNK | _HEAD),
    "head": frozenset(_HEAD),
    "upper limb": frozenset(_ARM),
    "lower limb": frozenset(_LEGS),
    "body-hand": frozenset(_ARM | _TRUNK),
    "head-hand": frozenset(_ARM | _HEAD),
    "leg-hand": frozenset(_ARM | _LEGS),
}
assert tuple(MASK_TAGS) == BODY_PARTS


@dataclass(frozen=True)
class ClipSpec:
    """Everything that decides one clip besides the participant, size and fps.

    ``amplitude`` and ``speed`` scale the class's motion (1 = nominal), ``intensity`` scales the idle
    motion (breathing rate, sway, fidgeting; an emotion generator raises it for aroused states),
    ``emotion`` is recorded only. ``jitter`` is the camera shake (std, fraction of image height),
    ``noise`` the sensor noise std in 0..255 levels; set both to 0 for clean analysis renders.
    """

    label: int
    participant: int
    seed: int
    duration_s: float = 2.0
    speed: float = 1.0
    amplitude: float = 1.0
    distractor: str | None = None
    emotion: str | None = None
    intensity: float = 1.0
    jitter: float = 0.002
    noise: float = 1.5

    def __post_init__(self) -> None:
        if not 0 <= self.label < NUM_CLASSES:
            raise ValueError(f"ClipSpec.label must be a fine class id 0..{NUM_CLASSES - 1}, got {self.label}")
        if self.duration_s <= 0 or self.speed <= 0 or self.amplitude < 0 or self.intensity < 0:
            raise ValueError(f"ClipSpec needs duration_s > 0, speed > 0, amplitude >= 0, intensity >= 0: {self}")
        if self.distractor is not None and self.distractor not in DISTRACTORS:
            raise ValueError(f"ClipSpec.distractor must be None or one of {DISTRACTORS}, got {self.distractor!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def num_frames(duration_s: float, fps: float) -> int:
    """Frames of a clip of ``duration_s`` seconds at ``fps``."""
    return max(2, int(round(duration_s * fps)))


def render_clip(
    spec: ClipSpec,
    participant: Participant,
    *,
    size: tuple[int, int] = (80, 96),
    fps: float = 15,
    with_masks: bool = False,
) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """Frames uint8 [T, H, W, 3] of ``spec`` at ``size`` = (W, H); with masks also {body part: bool [T, H, W]}.

    The masks say where each of the 7 ``BODY_PARTS`` regions is visible (see ``MASK_TAGS``); the
    reversed member of a time-reversal pair is exactly its partner's frames (and masks) backwards.
    """
    if spec.label in REVERSE_OF:
        frames, masks = _render(replace(spec, label=REVERSE_OF[spec.label]), participant, size, fps, with_masks)
        frames = frames[::-1].copy()
        masks = {k: v[::-1].copy() for k, v in masks.items()}
    else:
        frames, masks = _render(spec, participant, size, fps, with_masks)
    return (frames, masks) if with_masks else frames


def pose_clip(spec: ClipSpec, participant: Participant, fps: float) -> tuple[Pose, Skeleton]:
    """The posed skeleton of a clip without drawing it (forward classes only: see ``REVERSE_OF``)."""
    if spec.label in REVERSE_OF:
        raise ValueError(
            f"class {spec.label} is rendered as class {REVERSE_OF[spec.label]} played backwards and has no pose "
            "program of its own; pose the forward class and reverse the frames"
        )
    streams = np.random.SeedSequence(spec.seed).spawn(2)
    rng = np.random.default_rng(streams[0])
    t = num_frames(spec.duration_s, fps)
    pose = Pose(t)
    rig = Rig(participant)
    m = Motion(pose, rig, participant, rng, fps, spec.amplitude, spec.speed)
    idle(m, spec.intensity, fps)
    PROGRAMS[spec.label](m)
    if spec.distractor is not None:
        distract(m, spec.distractor)
    sk = rig.body(pose)
    rig.arms(pose, sk)
    return pose, sk


@dataclass
class Stage:
    """One clip set up for drawing: posed skeleton, camera, light and scene; ``draw(f)`` paints frame f.

    ``_render`` draws every frame in order; ``stills`` draws a few chosen ones (the sensor noise of a
    frame then differs from the video's, which no consumer of stills relies on).
    """

    spec: ClipSpec
    person: Participant
    pose: Pose
    skeleton: Skeleton
    camera: Camera
    light: np.ndarray
    gain: np.ndarray
    look: HeadLook
    scene: list[Drawable]
    order: np.ndarray  # [P, T] painter's order of the primitives per frame
    rng: np.random.Generator

    def draw(self, f: int, *, labels: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Frame ``f`` as uint8 [H, W, 3] and, with ``labels``, its region-tag map int8 [H, W] (0 = background)."""
        canvas = Canvas(_background(self.camera, self.person, f, self.light), self.light, labels=labels)
        self.look.blink = bool(self.pose.blink[f])
        self.look.glasses_lift = float(self.pose.glasses_lift[f])
        for k in self.order[:, f]:
            self.scene[k].paint(canvas, f)
        img = canvas.img * self.gain
        if self.spec.noise > 0:
            img += self.rng.standard_normal(img.shape, dtype=np.float32) * np.float32(self.spec.noise / 255.0)
        return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8), canvas.labels


def stage_clip(spec: ClipSpec, person: Participant, size: tuple[int, int], fps: float) -> Stage:
    """Pose a forward-class clip and set up its camera, light and scene (nothing drawn yet)."""
    width, height = int(size[0]), int(size[1])
    if width < 8 or height < 8:
        raise ValueError(f"frame size must be at least 8x8 pixels, got {width}x{height}")
    pose, sk = pose_clip(spec, person, fps)
    t = pose.t
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed).spawn(2)[1])

    # Camera shake: a random walk (tripod tremor), zero-mean, std = spec.jitter of the height.
    shake = np.cumsum(rng.normal(size=(t, 2)), 0)
    shake -= shake.mean(0)
    shake /= max(float(shake.std()), 1e-6)
    cam = Camera(width, height, person, jitter=shake * spec.jitter * height)
    # Per-clip light: direction around the participant's room light, global gain and colour tint.
    az = person.light_azimuth + rng.normal(0, 0.15)
    light = unit(np.array([np.sin(az) * 0.55, -np.cos(az) * 0.55, 0.75]))
    gain = (rng.uniform(0.9, 1.08) * (1.0 + rng.normal(0, 0.02, size=3))).astype(np.float32)
    look = HeadLook(person.skin, person.hair, person.hair_style, person.glasses or spec.label == PUSHING_GLASSES)
    colours = _Colours(person, rng)
    scene = _scene(sk, pose, cam, person, look, colours)
    # Painter's order per frame: sort the primitives by camera depth (larger = nearer = later).
    order = np.argsort(np.stack([prim.depth for prim in scene]), axis=0, kind="stable")  # [P, T]
    return Stage(spec, person, pose, sk, cam, light, gain, look, scene, order, rng)


def _render(
    spec: ClipSpec, person: Participant, size: tuple[int, int], fps: float, with_masks: bool
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    stage = stage_clip(spec, person, size, fps)
    t, (width, height) = stage.pose.t, (int(size[0]), int(size[1]))
    for prim in stage.scene:  # every frame is drawn: the capsules are computed for all of them at once
        if isinstance(prim, _Caps):
            prim.prepare(stage.light.astype(np.float32), width, height)
    frames = np.empty((t, height, width, 3), np.uint8)
    labels = np.empty((t, height, width), np.int8) if with_masks else None
    for f in range(t):
        frames[f], tags = stage.draw(f, labels=with_masks)
        if labels is not None and tags is not None:
            labels[f] = tags
    masks: dict[str, np.ndarray] = {}
    if labels is not None:
        for part, tags in MASK_TAGS.items():
            masks[part] = np.isin(labels, list(tags))
    return frames, masks


class _Colours:
    """Clothing and prop colours of one clip as float arrays."""

    def __init__(self, p: Participant, rng: np.random.Generator):
        self.skin = np.asarray(p.skin, np.float32)
        self.hair = np.asarray(p.hair, np.float32)
        self.shirt = np.asarray(p.shirt, np.float32)
        self.sleeve = self.shirt if p.long_sleeves else self.skin
        self.trousers = np.asarray(p.trousers, np.float32)
        self.shoes = np.asarray(p.shoes, np.float32)
        self.stool = np.asarray(p.stool, np.float32)
        # The prop of "playing objects": a phone or pen in a random saturated colour.
        self.prop = np.asarray(colorsys.hsv_to_rgb(rng.random(), 0.7, 0.85), np.float32)


def _background(cam: Camera, p: Participant, f: int, light: np.ndarray) -> np.ndarray:
    """Plain light wall over a darker floor, softly lit from the light's side; [H, W, 3]."""
    h, w = cam.height, cam.width
    v_floor = float(cam.project(np.array([[0.0, 0.0, -0.9]]))[0][f, 1])  # wall-floor edge
    vs = np.arange(h, dtype=np.float32) + 0.5
    us = np.arange(w, dtype=np.float32) + 0.5
    wall = np.asarray(p.wall, np.float32) * (0.94 + 0.08 * vs / h)[:, None]  # [H, 3]
    floor = np.asarray(p.floor, np.float32) * (0.95 + 0.1 * (vs - v_floor) / h)[:, None]
    on_floor = np.clip(vs - v_floor + 0.5, 0.0, 1.0)[:, None]
    column = wall * (1 - on_floor) + floor * on_floor  # [H, 3]
    side = 1.0 + 0.06 * float(light[0]) * (us / w - 0.5) * 2.0  # brighter towards the light
    return column[:, None, :] * side[None, :, None].astype(np.float32)


@dataclass
class _Prim:
    """One drawable of the clip: its camera depth per frame [T] and how to paint frame f."""

    depth: np.ndarray
    paint: Callable[[Canvas, int], None]


@dataclass
class _Caps:
    """Tapered capsules (segments a-b [T, K, 2] px, radii ra, rb [T, K] px): drawn frame by frame, or for every
    frame at once after ``prepare`` (a whole clip; ``draw.capsule_layers``), which paints the same pixels."""

    depth: np.ndarray
    a: np.ndarray
    b: np.ndarray
    ra: np.ndarray
    rb: np.ndarray
    colour: np.ndarray
    tag: int
    layers: draw.Layers | None = None
    prepared: bool = False

    def prepare(self, light: np.ndarray, width: int, height: int) -> None:
        self.layers = draw.capsule_layers(self.a, self.b, self.ra, self.rb, self.colour, light, width, height)
        self.prepared = True

    def paint(self, cv: Canvas, f: int) -> None:
        if not self.prepared:
            cv.capsules(self.a[f], self.b[f], self.ra[f], self.rb[f], self.colour, self.tag)
        elif self.layers is not None:
            cv.layers(self.layers, f, self.tag)


Drawable = _Prim | _Caps  # what a clip's scene holds


def _caps(cam: Camera, a: np.ndarray, b: np.ndarray, ra: Any, rb: Any, colour: np.ndarray, tag: int,
          depth: np.ndarray | None = None) -> _Caps:
    """Tapered capsule(s) between world points a, b ([T, 3] or [T, K, 3]), radii in metres."""
    if a.ndim == 2:  # one capsule: [T, 3] -> [T, 1, 3]
        a, b = a[:, None], b[:, None]
    (pa, za, ka), (pb, zb, kb) = cam.project(a), cam.project(b)
    pa, pb = pa.astype(np.float32), pb.astype(np.float32)
    ra_px = (np.asarray(ra) * ka).astype(np.float32)  # [T, K]
    rb_px = (np.asarray(rb) * kb).astype(np.float32)
    if depth is None:
        depth = 0.5 * (za[:, 0] + zb[:, 0])
    return _Caps(depth, pa, pb, ra_px, rb_px, colour, tag)


def _scene(sk: Skeleton, pose: Pose, cam: Camera, p: Participant, look: HeadLook, col: _Colours) -> list[Drawable]:
    """Every primitive of the clip with its per-frame geometry precomputed (vectorised over T), back to front
    where depths tie (the order of the parts below)."""
    far = np.full(pose.t, -100.0)
    head_depth = cam.project(sk.head_c)[1]
    torso_depth = cam.project(0.5 * (sk.neck_base + sk.pelvis))[1]
    return (_furniture(cam, p, col, far) + _hair(sk, cam, p, col, far, head_depth)
            + _trunk_and_head(sk, cam, p, look, col, head_depth, torso_depth) + _arms(sk, pose, cam, p, col)
            + _legs(sk, cam, p, col, torso_depth))


def _furniture(cam: Camera, p: Participant, col: _Colours, far: np.ndarray) -> list[Drawable]:
    """Floor shadow and stool: always behind the sitter."""
    (c_sh, _, k_sh) = cam.project(np.array([[p.seat_x, 0.0, 0.2]]))
    shadow = _Prim(far - 3, lambda cv, f: cv.darken(c_sh[f], 0.32 * k_sh[f], 0.07 * k_sh[f], 0.28))
    angles = np.deg2rad(np.array([90, 210, 330] if p.stool_legs == 3 else [45, 135, 225, 315]))
    n = len(angles)
    top = np.stack([p.seat_x + 0.13 * np.cos(angles), np.full(n, p.seat_height - 0.03), 0.13 * np.sin(angles)], -1)
    bottom = np.stack([p.seat_x + 0.17 * np.cos(angles), np.zeros(n), 0.17 * np.sin(angles)], -1)
    legs = _caps(cam, top[None], bottom[None], 0.014, 0.012, col.stool * 0.8, draw.TAG_STOOL, far - 2)
    (c_seat, _, k_seat) = cam.project(np.array([[p.seat_x, p.seat_height - 0.015, 0.0]]))
    seat = _Prim(far - 1, lambda cv, f: cv.ellipse(
        c_seat[f], 0.18 * k_seat[f], (0.18 * cam.sin + 0.02) * k_seat[f], col.stool, draw.TAG_STOOL))
    return [shadow, legs, seat]


def _hair(sk: Skeleton, cam: Camera, p: Participant, col: _Colours, far: np.ndarray,
          head_depth: np.ndarray) -> list[Drawable]:
    """Long hair hangs behind the shoulders (the farthest body layer); a bun sits behind the head."""
    radii = np.array([p.head_rx, p.head_ry, p.head_rz])
    if p.hair_style == "long":
        down = sk.head_c + np.einsum("tij,j->ti", sk.torso_rot, np.array([0.0, -0.2, -0.03]))
        return [_caps(cam, sk.head_c, down, 1.05 * p.head_rx, 0.95 * p.head_rx, col.hair, draw.TAG_HAIR, far)]
    if p.hair_style == "bun":
        bun = sk.head_c + np.einsum("tij,j->ti", sk.head_rot, np.array([0.0, 0.75, -0.75]) * radii)
        return [_caps(cam, bun, bun, 0.045, 0.045, col.hair, draw.TAG_HAIR, head_depth - 3e-4)]
    return []


def _trunk_and_head(sk: Skeleton, cam: Camera, p: Participant, look: HeadLook, col: _Colours,
                    head_depth: np.ndarray, torso_depth: np.ndarray) -> list[Drawable]:
    """Trunk (a tapered box from the shoulder line to below the hips, round shoulders), neck, ears, head."""
    g, radii = p.girth, np.array([p.head_rx, p.head_ry, p.head_rz])
    (sh, _, ksh) = cam.project(sk.shoulder)
    (hp, _, khp) = cam.project(sk.hip)
    (pv, _, _) = cam.project(sk.pelvis + np.array([0.0, -0.05, 0.0]))
    top_c = 0.5 * (sh[:, 0] + sh[:, 1])
    half_top = 0.5 * np.linalg.norm(sh[:, 1] - sh[:, 0], axis=-1)
    half_bot = 0.5 * np.linalg.norm(hp[:, 1] - hp[:, 0], axis=-1) + 0.01 * khp[:, 0]
    shoulder_r = 0.055 * g * ksh.mean(1)
    scene = [_Prim(torso_depth, lambda cv, f: cv.trunk(
        top_c[f], pv[f], float(half_top[f]), float(half_bot[f]), (sh[f, 0], sh[f, 1]), float(shoulder_r[f]),
        col.shirt, draw.TAG_TORSO))]
    # Neck just in front of the trunk and behind the head; ears behind the head.
    neck_top = sk.neck_top + np.einsum("tij,j->ti", sk.head_rot, np.array([0.0, 0.25 * p.head_ry, -0.01]))
    scene.append(_caps(cam, sk.neck_base, neck_top, 0.05 * g**0.5, 0.045 * g**0.5, col.skin * 0.92,
                       draw.TAG_NECK, torso_depth + 1e-4))
    if p.hair_style != "long":
        for s in SIDE_SIGN:
            ear = sk.head_c + np.einsum("tij,j->ti", sk.head_rot, np.array([s * 0.9, -0.05, -0.05]) * radii)
            up = np.einsum("tij,j->ti", sk.head_rot, np.array([0.0, 0.014, 0.0]))
            scene.append(_caps(cam, ear - up, ear + up, 0.014, 0.012, col.skin * 0.95, draw.TAG_HEAD,
                               head_depth - 2e-4))
    (hc, _, kh) = cam.project(sk.head_c)
    to_cam = np.array([[1.0, 0, 0], [0, cam.cos, -cam.sin], [0, cam.sin, cam.cos]])
    rot_cam = to_cam[None] @ sk.head_rot  # head-local -> camera axes
    scene.append(_Prim(head_depth, lambda cv, f: cv.head(hc[f], rot_cam[f], radii, float(kh[f]), look, draw.TAG_HEAD)))
    return scene


def _arms(sk: Skeleton, pose: Pose, cam: Camera, p: Participant, col: _Colours) -> list[Drawable]:
    """Arms and hands (palm + five fingers as one union), and the handled object if any."""
    assert sk.elbow is not None and sk.wrist is not None and sk.fingers is not None and sk.knuckle is not None
    g = p.girth
    finger_r = np.array([0.04, 0.012, 0.0105, 0.011, 0.0105, 0.0095]) * g**0.5
    scene: list[Drawable] = []
    for i in (0, 1):
        scene.append(_caps(cam, sk.shoulder[:, i], sk.elbow[:, i], 0.048 * g, 0.04 * g, col.shirt, draw.TAG_UPPER_ARM))
        scene.append(_caps(cam, sk.elbow[:, i], sk.wrist[:, i], 0.039 * g, 0.03 * g, col.sleeve, draw.TAG_FOREARM))
        starts = np.concatenate([sk.wrist[:, i, None], sk.fingers[:, i, :, 0]], 1)  # [T, 6, 3]
        ends = np.concatenate([sk.knuckle[:, i, None], sk.fingers[:, i, :, 1]], 1)
        hand_depth = cam.project(0.5 * (sk.wrist[:, i] + sk.knuckle[:, i]))[1] + 1e-3
        scene.append(_caps(cam, starts, ends, finger_r, finger_r * 0.9, col.skin, draw.TAG_HAND, hand_depth))
    if pose.object_angle is not None:
        centre = 0.5 * (sk.knuckle[:, 0] + sk.knuckle[:, 1]) + np.array([0.0, 0.02, 0.02])
        ang = pose.object_angle
        half = np.stack([np.cos(ang), np.sin(ang) * 0.5, np.sin(ang) * 0.5], -1) * 0.065
        obj_depth = cam.project(centre)[1] + 2e-3
        scene.append(_caps(cam, centre - half, centre + half, 0.016, 0.016, col.prop, draw.TAG_OBJECT, obj_depth))
    return scene


def _legs(sk: Skeleton, cam: Camera, p: Participant, col: _Colours, torso_depth: np.ndarray) -> list[Drawable]:
    """Thighs, shins and feet. Seated, the arms rest on the legs and never pass under them: the legs form a
    layer just in front of the trunk (ordered among themselves by depth), below anything in front of it."""
    g = p.girth

    def leg_layer(*points: np.ndarray, extra: float = 0.0) -> np.ndarray:
        own = cam.project(np.mean(points, 0))[1] + extra
        return torso_depth + 0.002 + 0.001 * np.tanh(own - torso_depth)

    scene: list[Drawable] = []
    for i in (0, 1):
        hip, knee, ankle = sk.hip_joint[:, i], sk.knee[:, i], sk.ankle[:, i]
        scene.append(_caps(cam, hip, knee, 0.085 * g, 0.06 * g, col.trousers, draw.TAG_THIGH, leg_layer(hip, knee)))
        scene.append(_caps(cam, knee, ankle, 0.055 * g, 0.042 * g, col.trousers * 0.95, draw.TAG_SHIN,
                           leg_layer(knee, ankle)))
        heel = 0.5 * (sk.heel[:, i] + ankle)
        scene.append(_caps(cam, heel, sk.toe[:, i], 0.042, 0.036, col.shoes, draw.TAG_FOOT,
                           leg_layer(sk.heel[:, i], sk.toe[:, i], extra=0.05)))
    return scene
