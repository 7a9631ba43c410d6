"""Pose -> 3-D joints (forward kinematics, two-bone IK) and the fixed frontal camera.

World frame: metres, x to the image's right (the person's left), y up, z towards the camera; the
floor is y = 0 and the stool stands at z = 0. Side index 0 is the person's RIGHT (x < 0 in the image),
1 their LEFT. Every pose quantity is an array over the T frames of a clip, so a whole clip is posed
with a few vectorised numpy operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ma52lib.synth.participants import Participant

SIDE_SIGN = np.array([-1.0, 1.0])  # x direction of side 0 (right) and side 1 (left)


def rot_x(a: np.ndarray) -> np.ndarray:
    """[T] angles -> [T, 3, 3]; positive pitches the +z (front) towards -y (down): a bow."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a: np.ndarray) -> np.ndarray:
    """[T] angles -> [T, 3, 3]; positive turns the front (+z) towards +x (the person's left)."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a: np.ndarray) -> np.ndarray:
    """[T] angles -> [T, 3, 3]; positive rolls the top (+y) towards -x (the person's right)."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def apply(rot: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors: rot [T, 3, 3] times v [3] or [T, 3] -> [T, 3]."""
    return np.einsum("tij,tj->ti", rot, np.broadcast_to(v, (rot.shape[0], 3)))


def unit(v: np.ndarray) -> np.ndarray:
    """Normalise along the last axis (zero vectors stay zero)."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-9)


def two_bone_ik(
    root: np.ndarray, target: np.ndarray, l1: float, l2: float, pole: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Middle joint and reachable end of a two-bone chain (arm or leg); pole says where the middle bends."""
    d = target - root
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    # Out-of-reach targets are pulled in along the same line so the chain never stretches.
    reach = np.clip(dist, abs(l1 - l2) + 1e-3, (l1 + l2) * 0.999)
    dh = d / np.maximum(dist, 1e-9)
    end = root + dh * reach
    perp = pole - np.sum(pole * dh, -1, keepdims=True) * dh
    perp = unit(perp)
    cos_a = np.clip((l1**2 + reach**2 - l2**2) / (2 * l1 * reach), -1.0, 1.0)
    mid = root + l1 * (cos_a * dh + np.sqrt(1.0 - cos_a**2) * perp)
    return mid, end


def _zeros(t: int, *shape: int) -> np.ndarray:
    return np.zeros((t, *shape))


@dataclass
class Pose:
    """Everything a motion program can move, per frame (T frames). Zero means the resting pose."""

    t: int
    pelvis: np.ndarray = field(init=False)  # [T, 3] offset of the pelvis (m)
    torso: np.ndarray = field(init=False)  # [T, 3] pitch (lean forward), roll, yaw of the trunk
    shrug: np.ndarray = field(init=False)  # [T, 2] shoulder lift per side (m)
    head: np.ndarray = field(init=False)  # [T, 3] pitch (bow), yaw (turn left), roll, relative to trunk
    head_fwd: np.ndarray = field(init=False)  # [T] head protraction (m)
    hand_target: np.ndarray = field(init=False)  # [T, 2, 3] world touch point of each hand
    hand_weight: np.ndarray = field(init=False)  # [T, 2] 0 = rest, 1 = at hand_target
    hand_dir: np.ndarray = field(init=False)  # [T, 2, 3] finger direction at the target
    palm: np.ndarray = field(init=False)  # [T, 2, 3] palm normal at the target
    elbow_pole: np.ndarray = field(init=False)  # [T, 2, 3] where the elbow points
    curl: np.ndarray = field(init=False)  # [T, 2] 0 open hand .. 1 fist
    index: np.ndarray = field(init=False)  # [T, 2] 1 keeps the index straight while curling (pointing)
    wiggle: np.ndarray = field(init=False)  # [T, 2, 4] extra curl of each finger (drumming)
    hand_rest_shift: np.ndarray = field(init=False)  # [T, 2, 3] offset of the resting hand (patting)
    toe: np.ndarray = field(init=False)  # [T, 2, 3] offset of the toe from rest
    heel_lift: np.ndarray = field(init=False)  # [T, 2] heel height above the floor (m)
    foot_lift: np.ndarray = field(init=False)  # [T, 2] whole foot height above the floor (m)
    knee_out: np.ndarray = field(init=False)  # [T, 2] sideways bias of the knee pole
    glasses_lift: np.ndarray = field(init=False)  # [T] glasses pushed up (fraction of head height)
    blink: np.ndarray = field(init=False)  # [T] 1 = eyes closed
    object_angle: np.ndarray | None = None  # [T] angle of a held object (only "playing objects")

    def __post_init__(self) -> None:
        t = self.t
        self.pelvis, self.torso, self.head = _zeros(t, 3), _zeros(t, 3), _zeros(t, 3)
        self.shrug, self.head_fwd = _zeros(t, 2), _zeros(t)
        self.hand_target, self.hand_weight = _zeros(t, 2, 3), _zeros(t, 2)
        self.hand_dir = np.broadcast_to([0.0, 0.0, 1.0], (t, 2, 3)).copy()
        self.palm = np.broadcast_to([0.0, -1.0, 0.0], (t, 2, 3)).copy()
        self.elbow_pole = np.broadcast_to([[-0.45, -1.0, -0.4], [0.45, -1.0, -0.4]], (t, 2, 3)).copy()
        self.curl, self.index, self.wiggle = _zeros(t, 2), _zeros(t, 2), _zeros(t, 2, 4)
        self.hand_rest_shift = _zeros(t, 2, 3)
        self.toe, self.heel_lift = _zeros(t, 2, 3), _zeros(t, 2)
        self.foot_lift, self.knee_out = _zeros(t, 2), _zeros(t, 2)
        self.glasses_lift, self.blink = _zeros(t), _zeros(t)


# Head-local landmarks on the unit sphere of the head ellipsoid (x: person's left, y: up, z: face).
HEAD_POINTS = {
    "nose": (0.0, -0.12, 1.08),
    "forehead": (0.0, 0.55, 0.86),
    "eye": (0.38, 0.10, 0.95),  # mirrored by side
    "cheek": (0.62, -0.32, 0.78),
    "mouth": (0.0, -0.52, 0.92),
    "ear": (1.02, -0.02, 0.0),
    "hair_side": (0.88, 0.52, 0.05),
    "hindbrain": (0.25, 0.05, -1.08),
    "glasses": (0.0, 0.18, 1.06),
    "face": (0.36, -0.05, 1.0),
}


@dataclass
class Skeleton:
    """World joint positions [T, ...] of one posed clip; the drawing reads these."""

    pelvis: np.ndarray
    torso_rot: np.ndarray  # [T, 3, 3]
    neck_base: np.ndarray
    neck_top: np.ndarray
    head_c: np.ndarray
    head_rot: np.ndarray  # [T, 3, 3]
    head_r: np.ndarray  # [3] ellipsoid radii
    shoulder: np.ndarray  # [T, 2, 3]
    hip: np.ndarray  # [T, 2, 3] torso corners at the hips
    hip_joint: np.ndarray  # [T, 2, 3]
    knee: np.ndarray
    ankle: np.ndarray
    heel: np.ndarray
    toe: np.ndarray
    elbow: np.ndarray | None = None
    wrist: np.ndarray | None = None
    knuckle: np.ndarray | None = None  # [T, 2, 3]
    fingers: np.ndarray | None = None  # [T, 2, 5, 2, 3] base and tip of each finger (thumb first)
    palm: np.ndarray | None = None  # [T, 2, 3]


class Rig:
    """Forward kinematics of one participant; ``landmark`` serves the motion programs."""

    def __init__(self, person: Participant):
        self.p = person
        self.g = person.girth

    # ---- trunk, head and legs --------------------------------------------------------------------
    def body(self, pose: Pose) -> Skeleton:
        """Pose the trunk, head and legs (arms come later: their targets may use these landmarks)."""
        p = self.p
        pelvis, torso_rot, neck_base, shoulder, hip = self._trunk(pose)
        neck_top, head_rot, head_c = self._head(pose, torso_rot, neck_base)
        hip_joint, knee, ankle, heel, toe = self._legs(pose, pelvis)
        return Skeleton(
            pelvis=pelvis,
            torso_rot=torso_rot,
            neck_base=neck_base,
            neck_top=neck_top,
            head_c=head_c,
            head_rot=head_rot,
            head_r=np.array([p.head_rx, p.head_ry, p.head_rz]),
            shoulder=shoulder,
            hip=hip,
            hip_joint=hip_joint,
            knee=knee,
            ankle=ankle,
            heel=heel,
            toe=toe,
        )

    def _trunk(self, pose: Pose) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Pelvis, trunk rotation, neck base, shoulders and hip corners of the torso."""
        p = self.p
        base = np.array([p.seat_x, p.seat_height + 0.04, 0.0])
        pelvis = base + pose.pelvis
        torso_rot = rot_y(pose.torso[:, 2]) @ rot_x(pose.torso[:, 0] + p.lean) @ rot_z(pose.torso[:, 1])
        up = apply(torso_rot, np.array([0.0, p.torso_len, 0.0]))
        neck_base = pelvis + up
        shoulder = np.stack(
            [
                pelvis + apply(torso_rot, np.array([s * p.shoulder_half, p.torso_len - 0.035, 0.0]))
                + pose.shrug[:, i, None] * np.array([0.0, 1.0, 0.0])
                for i, s in enumerate(SIDE_SIGN)
            ],
            1,
        )
        hip = np.stack(
            [pelvis + apply(torso_rot, np.array([s * p.waist_half, -0.02, 0.0])) for s in SIDE_SIGN], 1
        )
        return pelvis, torso_rot, neck_base, shoulder, hip

    def _head(
        self, pose: Pose, torso_rot: np.ndarray, neck_base: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Neck top, head rotation and head centre on top of the posed trunk."""
        p = self.p
        # The neck takes part of the head's pitch and all of its protraction.
        neck_rot = torso_rot @ rot_x(0.4 * pose.head[:, 0])
        neck_top = neck_base + apply(neck_rot, np.array([0.0, p.neck, 0.0]))
        neck_top = neck_top + pose.head_fwd[:, None] * np.array([0.0, 0.0, 1.0])
        head_rot = torso_rot @ rot_y(pose.head[:, 1]) @ rot_x(0.6 * pose.head[:, 0])
        head_rot = head_rot @ rot_z(pose.head[:, 2] + p.head_tilt)
        head_c = neck_top + apply(head_rot, np.array([0.0, 0.78 * p.head_ry, 0.012]))
        return neck_top, head_rot, head_c

    def _legs(
        self, pose: Pose, pelvis: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Hip joints, knees, ankles, heels and toes: the feet stand on the floor unless lifted."""
        p, t = self.p, pose.t
        hip_joint = np.stack([pelvis + np.array([s * p.hip_half, -0.03, 0.03]) for s in SIDE_SIGN], 1)
        toe_rest = np.stack(
            [
                np.array([p.seat_x + s * (p.hip_half + 0.02 + p.knee_spread), 0.0, p.thigh + 0.13 + p.feet_forward])
                for s in SIDE_SIGN
            ]
        )
        toe = toe_rest[None] + pose.toe
        toe[..., 1] += pose.foot_lift
        fdir = unit(np.stack([0.1 * SIDE_SIGN[None].repeat(t, 0), np.zeros((t, 2)), np.ones((t, 2))], -1))
        foot_len = p.foot * 0.85
        lift = np.clip(pose.heel_lift, 0.0, foot_len * 0.8)
        flat = np.sqrt(foot_len**2 - lift**2)
        heel = toe - fdir * flat[..., None]
        heel[..., 1] += lift
        ankle = heel + np.array([0.0, 0.07, 0.035])
        knee_pole = np.stack([(pose.knee_out + 0.15) * SIDE_SIGN, np.full((t, 2), 0.35), np.ones((t, 2))], -1)
        knee, ankle = two_bone_ik(hip_joint, ankle, p.thigh, p.shin, knee_pole)
        return hip_joint, knee, ankle, heel, toe

    def landmark(self, sk: Skeleton, name: str, side: int = 0) -> np.ndarray:
        """World position [T, 3] of a named body point (``side`` mirrors left/right ones)."""
        p, g, s = self.p, self.g, SIDE_SIGN[side]
        if name in HEAD_POINTS:
            x, y, z = HEAD_POINTS[name]
            local = np.array([s * x, y, z])
            return sk.head_c + apply(sk.head_rot, local * sk.head_r)
        trunk = {
            "chest": (0.0, 0.72 * p.torso_len, 0.12 * g),
            "belly": (0.0, 0.33 * p.torso_len, 0.14 * g),
            "neck": (0.035, p.torso_len + 0.05, 0.045),
            "shoulder": (0.8 * p.shoulder_half, p.torso_len - 0.02, 0.06),
            "waist": (1.02 * p.waist_half + 0.02, 0.22 * p.torso_len, 0.01),
            "back": (0.07, 0.30 * p.torso_len, -0.14 * g),
            "upper_arm": (p.shoulder_half + 0.05 * g, p.torso_len - 0.20, 0.06),
            "lap": (0.0, -0.0, 0.22),
        }
        if name in trunk:
            x, y, z = trunk[name]
            return sk.pelvis + apply(sk.torso_rot, np.array([s * x, y, z]))
        if name == "thigh":
            along = sk.hip_joint[:, side] + 0.55 * (sk.knee[:, side] - sk.hip_joint[:, side])
            return along + np.array([0.0, 0.075 * g, 0.0])  # on top of the thigh
        if name == "knee":
            return sk.knee[:, side] + np.array([0.0, 0.06 * g, 0.02])
        if name == "ankle":
            return sk.ankle[:, side] + np.array([0.0, 0.02, 0.05])
        raise KeyError(f"unknown landmark {name!r}")

    # ---- arms ------------------------------------------------------------------------------------
    def arms(self, pose: Pose, sk: Skeleton) -> Skeleton:
        """Add elbows, wrists and fingers by IK from the shoulders to the blended hand targets."""
        p, t = self.p, pose.t
        reach = 0.72 * p.hand  # wrist to the touch point (middle of the fingers)
        rest_touch, rest_dir = [], []
        for i, s in enumerate(SIDE_SIGN):
            if p.hands_in_lap:
                touch = 0.5 * (self.landmark(sk, "thigh", 0) + self.landmark(sk, "thigh", 1))
                touch = touch + np.array([s * 0.045, 0.01, 0.02])
                d = np.array([-s * 0.7, 0.0, 0.7])
            else:
                touch = self.landmark(sk, "thigh", i) + np.array([-s * 0.01, 0.0, 0.02])
                d = np.array([-s * 0.15, -0.15, 1.0])
            rest_touch.append(touch + pose.hand_rest_shift[:, i])
            rest_dir.append(np.broadcast_to(unit(d), (t, 3)))
        rest_touch_a = np.stack(rest_touch, 1)
        rest_dir_a = np.stack(rest_dir, 1)
        w = pose.hand_weight[..., None]
        touch = rest_touch_a + w * (pose.hand_target - rest_touch_a)
        direction = unit(rest_dir_a + w * (unit(pose.hand_dir) - rest_dir_a))
        palm_rest = np.broadcast_to([0.0, -1.0, 0.0], (t, 2, 3))
        palm = unit(palm_rest + w * (unit(pose.palm) - palm_rest))
        wrist_goal = touch - direction * reach
        elbow, wrist = two_bone_ik(sk.shoulder, wrist_goal, p.upper_arm, p.forearm, pose.elbow_pole)
        sk.elbow, sk.wrist = elbow, wrist
        sk.palm = palm
        # Fingers: four from the knuckle line plus a thumb; curl folds them towards the palm.
        knuckle = wrist + direction * (0.45 * p.hand)
        # Unit vector towards the thumb side of each hand (the cross product flips for the left hand).
        across = unit(np.cross(direction, palm)) * np.array([1.0, -1.0])[None, :, None]
        flen = 0.55 * p.hand * np.array([0.85, 1.0, 0.95, 0.78])
        spread = np.array([1.5, 0.5, -0.5, -1.5]) * 0.016 * self.g
        fingers = np.zeros((t, 2, 5, 2, 3))
        for f in range(4):
            curl = np.clip(pose.curl + pose.wiggle[..., f], 0.0, 1.0)
            if f == 0:
                curl = curl * (1.0 - pose.index)
            base = knuckle + across * spread[f]
            # A curled finger points down the palm normal and is foreshortened.
            tip_dir = unit(direction * (1.0 - 0.9 * curl[..., None]) - palm * (1.1 * curl[..., None]))
            fingers[:, :, f + 1, 0] = base
            fingers[:, :, f + 1, 1] = base + tip_dir * (flen[f] * (1.0 - 0.55 * curl))[..., None]
        thumb_base = wrist + direction * (0.18 * p.hand) + across * 0.03 * self.g
        thumb_dir = unit(direction * 0.7 + across * 0.7 - palm * 0.3)
        fingers[:, :, 0, 0] = thumb_base
        fingers[:, :, 0, 1] = thumb_base + thumb_dir * (0.3 * p.hand)
        sk.knuckle, sk.fingers = knuckle, fingers
        return sk


@dataclass
class Camera:
    """Fixed frontal camera a little above chest height, tilted down; mild perspective."""

    width: int
    height: int
    person: Participant
    tilt: float = 0.30  # radians down
    distance_m: float = 3.2
    jitter: np.ndarray = field(default_factory=lambda: np.zeros((1, 2)))  # [T, 2] pixel offset per frame

    def __post_init__(self) -> None:
        # Framing as in MA-52 (facts: the person fills ~70% of the frame's height and 25-30% of its width):
        # seated figures fill 68% of the height (59-75% across participants) and ~29% of the width,
        # centred, so the pipeline's centre crop (the paper's 224 of 256 x 307) keeps head and feet.
        # Until generator 1.1 the figure filled 86% and that crop cut off the top of the head and the feet.
        self.scale = self.height * 0.44 / self.person.distance  # pixels per metre at the stool
        self.y0, self.z0 = 0.57, 0.12  # world point at the image centre (x follows the stool a bit)
        self.x0 = 0.35 * self.person.seat_x
        self.cos, self.sin = np.cos(self.tilt), np.sin(self.tilt)

    def to_camera(self, p: np.ndarray) -> np.ndarray:
        """World points [..., 3] -> camera coordinates [..., 3] (x right, y up, z towards the camera)."""
        x = p[..., 0] - self.x0
        y, z = p[..., 1] - self.y0, p[..., 2] - self.z0
        return np.stack([x, y * self.cos - z * self.sin, y * self.sin + z * self.cos], -1)

    def project(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points [T, ..., 3] (one set per frame) -> pixels (u, v) [T, ..., 2], depth [T, ...], px/m [T, ...]."""
        p = np.broadcast_to(p, (len(self.jitter), *p.shape[1:])) if p.shape[0] == 1 else p
        c = self.to_camera(p)
        k = self.scale * self.distance_m / (self.distance_m - c[..., 2])
        jit = self.jitter.reshape(len(self.jitter), *([1] * (p.ndim - 2)), 2)
        uv = np.stack([self.width / 2 + c[..., 0] * k, self.height / 2 - c[..., 1] * k], -1) + jit
        return uv, c[..., 2], k
