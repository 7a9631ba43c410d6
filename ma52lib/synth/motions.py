"""The 52 motion programs of MA-52-Synth, one per class, plus idle motion and distractors.

A program writes small offsets into a ``Pose`` (see ``skeleton.Pose``) over the T frames of a clip.
Everything it varies comes from the clip's random stream ``m.rng`` and the clip's ``amplitude`` and
``speed`` (``ClipSpec``), so the same spec always gives the same motion. Amplitudes are deliberately
small (a nod is ~12 degrees of head pitch, a heel bounce ~4 cm): micro-actions are subtle.

Time reversals. Five pairs of classes are each other's time reversal in the taxonomy; only the first
member has a program and the second is rendered as the first's frames played backwards (idle,
breathing, camera jitter and noise included), so a model blind to temporal order cannot separate
them, as on the real data (``REVERSED_PAIRS``):

- bowing head (5) -> head up (6): head pitches down and stays / starts down and comes up;
- stretching arms (17) -> retracting arms (18): hands go from the thighs to forward-up and back;
- putting hands together (13) -> spreading hands (20): open hands at the sides meet in front of the
  belly / clasped hands open outwards (our reading of the taxonomy: one closes what the other opens);
- spread legs (26) -> closing legs (27): knees and feet slide apart / together;
- stretching feet (29) -> retracting feet (30): feet slide forward / back on the floor.

"crossing arms" and "crossing legs" have no "uncrossing" class, so they are ordinary programs.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ma52lib.labels import FINE_CLASSES, FINE_TO_BODY
from ma52lib.synth.participants import Participant
from ma52lib.synth.skeleton import SIDE_SIGN, Pose, Rig, Skeleton, unit

DEG = np.pi / 180.0

# (forward class, reversed class): the second is rendered as the first played backwards.
REVERSED_PAIRS: tuple[tuple[int, int], ...] = ((5, 6), (17, 18), (13, 20), (26, 27), (29, 30))
REVERSE_OF: dict[int, int] = {b: a for a, b in REVERSED_PAIRS}

# Distractors: small movements of a body part other than the acting one (see ``allowed_distractors``).
DISTRACTORS = ("head", "hand", "leg", "body")
_DISTRACTOR_EXCLUDES = {0: {"body"}, 1: {"head"}, 2: {"hand"}, 3: {"leg"}, 4: {"hand", "body"},
                        5: {"hand", "head"}, 6: {"hand", "leg"}}


def allowed_distractors(label: int) -> tuple[str, ...]:
    """Distractor kinds that do not move the body part of class ``label``."""
    banned = _DISTRACTOR_EXCLUDES[FINE_TO_BODY[label]]
    return tuple(d for d in DISTRACTORS if d not in banned)


class Motion:
    """What a program sees: time axes, the clip's random stream, amplitude/speed, pose and rig."""

    def __init__(
        self,
        pose: Pose,
        rig: Rig,
        person: Participant,
        rng: np.random.Generator,
        fps: float,
        amplitude: float,
        speed: float,
    ):
        self.pose, self.rig, self.p, self.rng = pose, rig, person, rng
        self.T = pose.t
        self.t = np.arange(self.T) / fps  # seconds
        self.tau = np.arange(self.T) / max(self.T - 1, 1)  # 0..1 over the clip
        self.amp, self.speed = amplitude, speed
        self.side = person.handedness  # the acting hand / leg
        self.s = SIDE_SIGN[self.side]

    # ---- timing helpers --------------------------------------------------------------------------
    def u(self, lo: float, hi: float) -> float:
        """A uniform draw from the clip's stream."""
        return float(self.rng.uniform(lo, hi))

    def ease(self, start: float | None = None, dur: float | None = None) -> np.ndarray:
        """Smooth step 0 -> 1 (cosine) between two random clip times; holds 1 afterwards."""
        t0 = self.u(0.05, 0.35) if start is None else start
        d = self.u(0.3, 0.5) / self.speed if dur is None else dur
        t1 = min(t0 + d, 0.97)
        x = np.clip((self.tau - t0) / max(t1 - t0, 1e-3), 0.0, 1.0)
        return 0.5 - 0.5 * np.cos(np.pi * x)

    def bump(self, t0: float, t1: float, t2: float, t3: float) -> np.ndarray:
        """0 -> 1 over [t0, t1], hold, 1 -> 0 over [t2, t3] (clip fractions, cosine ramps)."""
        up = np.clip((self.tau - t0) / max(t1 - t0, 1e-3), 0, 1)
        down = np.clip((self.tau - t2) / max(t3 - t2, 1e-3), 0, 1)
        return (0.5 - 0.5 * np.cos(np.pi * up)) * (0.5 + 0.5 * np.cos(np.pi * down))

    def visit(self, reach: tuple[float, float] = (0.18, 0.3), return_p: float = 0.65) -> np.ndarray:
        """Go to a target, stay, maybe come back: the weight of a hand-to-X movement."""
        t0 = self.u(0.0, 0.18)
        t1 = t0 + self.u(*reach) / self.speed
        if self.rng.random() < return_p:
            t2 = self.u(max(t1 + 0.25, 0.6), 0.82)
            t3 = min(t2 + self.u(0.15, 0.25) / self.speed, 1.0)
        else:
            t2 = t3 = 2.0  # still there when the clip ends
        return self.bump(t0, t1, t2, t3)

    def hold_or_back(self) -> np.ndarray:
        """Either a one-way transition (ease) or there-and-back (bump), for tilts and turns."""
        if self.rng.random() < 0.5:
            return self.ease()
        t0 = self.u(0.0, 0.2)
        t1 = t0 + self.u(0.2, 0.35) / self.speed
        t2 = self.u(max(t1 + 0.1, 0.55), 0.75)
        return self.bump(t0, t1, t2, min(t2 + self.u(0.2, 0.3) / self.speed, 1.0))

    def window(self) -> np.ndarray:
        """Soft on/off window for repeated movements (most of the clip)."""
        t0 = self.u(0.0, 0.15)
        t3 = self.u(0.85, 1.0)
        return self.bump(t0, t0 + 0.1, t3 - 0.1, t3)

    def osc(self, lo: float, hi: float) -> np.ndarray:
        """sin(2 pi f t + phase) with f uniform in [lo, hi] Hz times the clip speed."""
        f = self.u(lo, hi) * self.speed
        return np.sin(2 * np.pi * f * self.t + self.u(0, 2 * np.pi))

    @staticmethod
    def gate(weight: np.ndarray) -> np.ndarray:
        """1 only while the hand is (nearly) at its target: scratching starts on arrival."""
        return np.clip((weight - 0.8) / 0.2, 0.0, 1.0)

    # ---- body queries ----------------------------------------------------------------------------
    def skeleton(self) -> Skeleton:
        """Trunk, head and legs as posed so far."""
        return self.rig.body(self.pose)

    def lm(self, name: str, side: int = 0) -> np.ndarray:
        """World position [T, 3] of landmark ``name`` on the body as posed so far."""
        return self.rig.landmark(self.skeleton(), name, side)

    # ---- hand helper -----------------------------------------------------------------------------
    def reach(
        self,
        side: int,
        target: np.ndarray,
        weight: np.ndarray,
        direction: tuple[float, float, float] | np.ndarray,
        palm: tuple[float, float, float] | np.ndarray,
        pole: tuple[float, float, float] | np.ndarray | None = None,
    ) -> None:
        """Send hand ``side``'s touch point to ``target`` [T, 3] with weight [T] (0 rest .. 1 there)."""
        pose = self.pose
        pose.hand_target[:, side] = target
        pose.hand_weight[:, side] = weight
        pose.hand_dir[:, side] = unit(np.broadcast_to(np.asarray(direction, float), (self.T, 3)))
        pose.palm[:, side] = unit(np.broadcast_to(np.asarray(palm, float), (self.T, 3)))
        if pole is not None:
            rest = pose.elbow_pole[:, side].copy()
            goal = np.broadcast_to(np.asarray(pole, float), (self.T, 3))
            pose.elbow_pole[:, side] = rest + weight[:, None] * (goal - rest)

    def hands(self) -> list[int]:
        """The acting hand alone, or both hands (30 %)."""
        return [0, 1] if self.rng.random() < 0.3 else [self.side]


def _v(x: float, y: float, z: float) -> np.ndarray:
    return np.array([x, y, z])


# ---- body (0-4) ----------------------------------------------------------------------------------
def shaking_body(m: Motion) -> None:
    """Trunk rocks side to side (roll ~4.5 deg, 1.4-2.4 Hz) with a small pelvis shift."""
    w, wave = m.window(), m.osc(1.4, 2.4)
    m.pose.torso[:, 1] += 4.5 * DEG * m.amp * w * wave
    m.pose.torso[:, 2] += 1.5 * DEG * m.amp * w * wave
    m.pose.pelvis[:, 0] += 0.012 * m.amp * w * wave


def sitting_straightly(m: Motion) -> None:
    """From a slouch (trunk forward ~11 deg, head forward) to upright."""
    slouch = 1.0 - m.ease()
    m.pose.torso[:, 0] += 11 * DEG * m.amp * slouch
    m.pose.head[:, 0] -= 7 * DEG * m.amp * slouch  # the face stays forward while slouched
    m.pose.head_fwd += 0.025 * m.amp * slouch
    m.pose.pelvis[:, 1] -= 0.015 * m.amp * slouch
    m.pose.shrug -= 0.01 * m.amp * slouch[:, None]


def shrugging(m: Motion) -> None:
    """Both shoulders rise ~4.5 cm and drop, once or twice; the head sinks a little."""
    t0 = m.u(0.05, 0.3)
    up = m.u(0.12, 0.2) / m.speed
    hold = m.u(0.05, 0.2)
    shape = m.bump(t0, t0 + up, t0 + up + hold, t0 + 2 * up + hold)
    if m.rng.random() < 0.35 and t0 + 4 * up + hold < 1.0:  # a second shrug
        t0b = t0 + 2 * up + hold + 0.05
        shape = np.maximum(shape, m.bump(t0b, t0b + up, t0b + up + hold, t0b + 2 * up + hold))
    m.pose.shrug += 0.045 * m.amp * shape[:, None]
    m.pose.head_fwd -= 0.01 * m.amp * shape
    m.pose.head[:, 0] -= 3 * DEG * m.amp * shape


def turning_around(m: Motion) -> None:
    """Trunk twists ~20 deg to one side (head follows), then holds or turns back."""
    turn = m.hold_or_back() * (1 if m.rng.random() < 0.5 else -1)
    m.pose.torso[:, 2] += 20 * DEG * m.amp * turn
    m.pose.head[:, 1] += 12 * DEG * m.amp * turn
    m.pose.pelvis[:, 0] += 0.015 * m.amp * turn


def rising_up(m: Motion) -> None:
    """Lean forward, lift the pelvis off the seat a few cm, settle back."""
    t0 = m.u(0.0, 0.15)
    lean = m.bump(t0, t0 + 0.25 / m.speed, t0 + 0.45, t0 + 0.75)
    lift = m.bump(t0 + 0.15, t0 + 0.35 / m.speed, t0 + 0.5, t0 + 0.8)
    m.pose.torso[:, 0] += 20 * DEG * m.amp * lean
    m.pose.head[:, 0] -= 10 * DEG * m.amp * lean
    m.pose.pelvis[:, 1] += 0.08 * m.amp * lift
    m.pose.pelvis[:, 2] += 0.06 * m.amp * lift


# ---- head (5-10) ---------------------------------------------------------------------------------
def bowing_head(m: Motion) -> None:
    """Head pitches down ~17 deg and stays (reversed: head up)."""
    e = m.ease()
    m.pose.head[:, 0] += 17 * DEG * m.amp * e
    m.pose.torso[:, 0] += 1 * DEG * m.amp * e


def tilting_head(m: Motion) -> None:
    """Head rolls ~13 deg to one side, holds or comes back."""
    sign = 1 if m.rng.random() < 0.5 else -1
    m.pose.head[:, 2] += 13 * DEG * m.amp * sign * m.hold_or_back()


def turning_head(m: Motion) -> None:
    """Head turns ~28 deg to one side, holds or comes back."""
    sign = 1 if m.rng.random() < 0.5 else -1
    m.pose.head[:, 1] += 28 * DEG * m.amp * sign * m.hold_or_back()


def nodding(m: Motion) -> None:
    """Repeated small downward head pitches (~12 deg, 1.8-2.8 Hz)."""
    w = m.window()
    f = m.u(1.8, 2.8) * m.speed
    nod = 0.5 - 0.5 * np.cos(2 * np.pi * f * (m.t - m.t[0]))
    m.pose.head[:, 0] += 12 * DEG * m.amp * w * nod


def shaking_head(m: Motion) -> None:
    """Head yaws left-right (~16 deg, 2-3 Hz)."""
    m.pose.head[:, 1] += 16 * DEG * m.amp * m.window() * m.osc(2.0, 3.0)


# ---- upper limb (11-23) --------------------------------------------------------------------------
def scratching_arms(m: Motion) -> None:
    """The acting hand goes to the other upper arm and scratches up and down."""
    i, s = m.side, m.s
    w = m.visit()
    target = m.lm("upper_arm", 1 - i) + _v(0.0, -0.06, 0.05)
    target[:, 1] += 0.02 * m.amp * m.gate(w) * m.osc(3.0, 5.0)
    m.reach(i, target, w, (-s, 0.2, 0.1), (0.0, 0.0, -1.0), pole=(s * 0.5, -1.0, 0.3))
    m.pose.curl[:, i] += 0.4 * m.gate(w)


def _lap_hands(m: Motion, spread: float, height: float = 0.08, depth: float = 0.26) -> list[np.ndarray]:
    """Touch points of both hands in front of the lap, ``spread`` metres either side of the middle."""
    centre = m.lm("belly") + _v(0.0, height - 0.33 * m.p.torso_len, depth - 0.14 * m.p.girth)
    return [centre + _v(SIDE_SIGN[i] * spread, 0.0, 0.0) for i in (0, 1)]


def playing_objects(m: Motion) -> None:
    """Both hands in front of the lap turn a small coloured object; fingers fiddle."""
    ones = np.ones(m.T)
    circle = m.osc(0.8, 1.6)
    targets = _lap_hands(m, 0.05)
    for i in (0, 1):
        targets[i][:, 0] += 0.012 * m.amp * circle
        targets[i][:, 1] += 0.012 * m.amp * np.roll(circle, m.T // 4)
        m.reach(i, targets[i], ones, (-SIDE_SIGN[i] * 0.6, 0.3, 0.6), (0.0, 1.0, 0.4))
    m.pose.object_angle = m.u(-0.3, 0.3) + 0.5 * m.amp * m.osc(0.7, 1.5)
    m.pose.wiggle[:, m.side] += (0.4 * m.amp * np.maximum(m.osc(2.0, 4.0), 0))[:, None]
    m.pose.curl += 0.35


def putting_hands_together(m: Motion) -> None:
    """Open hands at the sides meet in front of the belly (reversed: spreading hands)."""
    e = m.ease()[:, None]
    apart = _lap_hands(m, 0.24 * m.amp + 0.04, height=0.1, depth=0.2)
    together = _lap_hands(m, 0.03, height=0.12, depth=0.26)
    for i in (0, 1):
        s = SIDE_SIGN[i]
        direction = (1 - e) * _v(s * 0.5, 0.3, 0.8) + e * _v(-s * 0.8, 0.5, 0.4)
        palm = (1 - e) * _v(0.0, 1.0, 0.2) + e * _v(-s, 0.0, 0.0)
        m.reach(i, (1 - e) * apart[i] + e * together[i], np.ones(m.T), direction, palm)


def rubbing_hands(m: Motion) -> None:
    """Hands together in front of the belly rub against each other (2.5-4 Hz)."""
    rub = m.window() * m.osc(2.5, 4.0)
    targets = _lap_hands(m, 0.03, height=0.12)
    for i in (0, 1):
        k = 1.0 if i == m.side else -0.5
        targets[i][:, 1] += 0.025 * m.amp * k * rub
        targets[i][:, 2] += 0.01 * m.amp * k * rub
        s = SIDE_SIGN[i]
        m.reach(i, targets[i], np.ones(m.T), (-s * 0.8, 0.5, 0.4), (-s, 0.0, 0.0))


def pointing_oneself(m: Motion) -> None:
    """Index finger goes to the chest and taps it."""
    i, s = m.side, m.s
    w = m.visit()
    target = m.lm("chest", i) + _v(s * 0.02, 0.0, 0.07)
    target[:, 2] += 0.03 * m.amp * m.gate(w) * np.abs(m.osc(1.2, 2.2))
    m.reach(i, target, w, (-s * 0.2, 0.1, -1.0), (s, 0.0, 0.0), pole=(s * 0.8, -1.0, 0.2))
    m.pose.curl[:, i] += w
    m.pose.index[:, i] = 1.0


def clenching_fist(m: Motion) -> None:
    """Resting hand(s) close into a fist, knuckles lift, and open again."""
    t0 = m.u(0.05, 0.3)
    d = m.u(0.12, 0.2) / m.speed
    fist = m.bump(t0, t0 + d, m.u(t0 + d + 0.1, 0.8), m.u(0.85, 1.0))
    for i in m.hands():
        m.pose.curl[:, i] += 0.95 * fist
        m.pose.hand_rest_shift[:, i, 1] += 0.012 * m.amp * fist
        m.pose.hand_rest_shift[:, i, 2] -= 0.02 * m.amp * fist


def stretching_arms(m: Motion) -> None:
    """Both arms reach forward-up from the thighs (reversed: retracting arms)."""
    e = m.ease()
    for i in (0, 1):
        s = SIDE_SIGN[i]
        target = m.lm("shoulder", i) + _v(s * 0.07, -0.12 + 0.12 * m.amp, 0.38 + 0.14 * m.amp)
        m.reach(i, target, e, (0.0, 0.1, 1.0), (-s * 0.5, -0.8, 0.0), pole=(s * 0.5, -1.0, 0.0))
    m.pose.torso[:, 0] += 2 * DEG * m.amp * e


def waving(m: Motion) -> None:
    """Hand raised beside the shoulder, palm to the camera, waves side to side."""
    i, s = m.side, m.s
    w = m.visit(reach=(0.15, 0.25))
    swing = 0.35 * m.amp * m.gate(w) * m.osc(2.2, 3.5)
    target = m.lm("shoulder", i) + _v(s * 0.12, 0.0, 0.26)
    target[:, 0] += 0.035 * m.amp * swing
    direction = np.stack([np.sin(swing), np.cos(swing), np.full(m.T, 0.15)], -1)
    m.reach(i, target, w, direction, (0.0, 0.0, 1.0), pole=(s * 0.8, -1.0, 0.2))


def hands_touching_fingers(m: Motion) -> None:
    """Fingertips of both hands touch (steeple) and tap against each other."""
    tap = 0.5 + 0.5 * m.osc(2.0, 3.5)
    targets = _lap_hands(m, 0.035, height=0.16, depth=0.24)
    for i in (0, 1):
        s = SIDE_SIGN[i]
        targets[i][:, 0] += s * 0.012 * m.amp * tap
        m.reach(i, targets[i], np.ones(m.T), (-s * 0.7, 0.7, 0.15), (-s, 0.0, 0.2))
        m.pose.wiggle[:, i] += (0.3 * m.amp * tap)[:, None]


def other_finger_movements(m: Motion) -> None:
    """Fingers of a resting hand drum on the thigh."""
    w = m.window()
    f = m.u(3.0, 5.0) * m.speed
    for i in m.hands():
        for k in range(4):
            drum = np.maximum(np.sin(2 * np.pi * f * m.t - k * 0.7), 0.0)
            m.pose.wiggle[:, i, k] += 0.7 * m.amp * w * drum
        m.pose.hand_rest_shift[:, i, 1] += 0.006 * m.amp * w


def illustrative_gestures(m: Motion) -> None:
    """Hand(s) rise in front of the belly and beat up and down while speaking."""
    w = m.visit(reach=(0.12, 0.22))
    beat = m.gate(w) * m.osc(1.2, 2.2)
    sway = m.gate(w) * m.osc(0.5, 1.0)
    for i in m.hands():
        s = SIDE_SIGN[i]
        target = m.lm("belly", i) + _v(s * 0.13, 0.1, 0.14)
        target[:, 1] += 0.05 * m.amp * beat
        target[:, 0] += s * 0.035 * m.amp * sway
        m.reach(i, target, w, (-s * 0.3, 0.3, 1.0), (-s * 0.5, 0.6, 0.2), pole=(s * 0.6, -1.0, 0.0))


# ---- lower limb (24-31) --------------------------------------------------------------------------
def _legs(m: Motion) -> list[int]:
    return [0, 1] if m.rng.random() < 0.5 else [m.side]


def shaking_legs(m: Motion) -> None:
    """Fast heel bounce (3.5-5.5 Hz, ~4 cm) makes the knee(s) jiggle."""
    w = m.window()
    f = m.u(3.5, 5.5) * m.speed
    for i in _legs(m):
        bounce = 0.5 - 0.5 * np.cos(2 * np.pi * f * m.t + (np.pi if i != m.side else 0.0))
        m.pose.heel_lift[:, i] += 0.04 * m.amp * w * bounce


def curling_legs(m: Motion) -> None:
    """Feet pull back under the stool and lift; knees bend more."""
    e = m.ease()
    for i in _legs(m):
        m.pose.toe[:, i, 2] -= 0.22 * m.amp * e
        m.pose.foot_lift[:, i] += 0.06 * m.amp * e
        m.pose.heel_lift[:, i] += 0.04 * m.amp * e


def spread_legs(m: Motion) -> None:
    """Knees and feet slide apart (reversed: closing legs)."""
    e = m.ease()
    for i in (0, 1):
        m.pose.toe[:, i, 0] += SIDE_SIGN[i] * 0.09 * m.amp * e
        m.pose.knee_out[:, i] += 0.6 * m.amp * e


def crossing_legs(m: Motion) -> None:
    """The acting leg lifts and crosses over the other."""
    i = m.side
    e = m.ease(dur=m.u(0.35, 0.55) / m.speed)
    m.pose.toe[:, i, 0] -= SIDE_SIGN[i] * (0.16 + 0.1 * m.amp) * e
    m.pose.toe[:, i, 2] -= 0.06 * e
    m.pose.foot_lift[:, i] += (0.1 + 0.12 * m.amp) * e
    m.pose.heel_lift[:, i] += 0.03 * e
    m.pose.knee_out[:, i] -= 1.2 * e


def stretching_feet(m: Motion) -> None:
    """Feet slide forward on the floor (reversed: retracting feet)."""
    e = m.ease()
    for i in (0, 1):
        m.pose.toe[:, i, 2] += 0.16 * m.amp * e


def tiptoe(m: Motion) -> None:
    """Heels rise ~7 cm onto the toes, hold or come down."""
    lift = m.hold_or_back()
    for i in _legs(m) if m.rng.random() < 0.4 else (0, 1):
        m.pose.heel_lift[:, i] += 0.07 * m.amp * lift


# ---- body-hand (32-37) ---------------------------------------------------------------------------
def _scratch(m: Motion, w: np.ndarray, axis: int, size: float = 0.013) -> np.ndarray:
    """Offset [T, 3] of a scratch (fast, small) or a still touch (35 % of clips)."""
    out = np.zeros((m.T, 3))
    if m.rng.random() < 0.65:
        out[:, axis] = size * m.amp * m.gate(w) * m.osc(3.5, 5.5)
        m.pose.curl[:, m.side] += 0.35 * m.gate(w) * (0.5 + 0.5 * m.osc(3.5, 5.5))
    return out


def touching_neck(m: Motion) -> None:
    """Hand to the side of the neck; scratches or rests."""
    i, s = m.side, m.s
    w = m.visit()
    target = m.lm("neck", i) + _scratch(m, w, 1)
    m.reach(i, target, w, (-s * 0.3, 0.9, -0.1), (-s * 0.7, 0.0, -0.7), pole=(s * 0.7, -1.0, 0.1))


def touching_chest(m: Motion) -> None:
    """Hand to the chest; scratches or rests."""
    i, s = m.side, m.s
    w = m.visit()
    target = m.lm("chest", i) + _v(s * 0.03, 0.0, 0.02) + _scratch(m, w, 0)
    m.reach(i, target, w, (-s * 0.7, 0.5, 0.0), (0.0, 0.0, -1.0), pole=(s * 0.6, -1.0, 0.1))


def touching_back(m: Motion) -> None:
    """Hand reaches behind the lower back (hidden by the trunk); scratches or rests."""
    i, s = m.side, m.s
    w = m.visit(reach=(0.22, 0.32))
    target = m.lm("back", i) + _scratch(m, w, 1)
    m.reach(i, target, w, (-s * 0.4, -0.5, -0.3), (0.0, 0.0, 1.0), pole=(s * 1.0, -0.2, -1.0))


def touching_shoulder(m: Motion) -> None:
    """Hand crosses to the other shoulder; scratches or rests."""
    i, s = m.side, m.s
    w = m.visit()
    target = m.lm("shoulder", 1 - i) + _v(0.0, 0.02, 0.02) + _scratch(m, w, 0)
    m.reach(i, target, w, (-s * 0.5, 0.4, -0.3), (0.0, -0.5, -0.8), pole=(0.0, -1.0, 0.6))


def arms_akimbo(m: Motion) -> None:
    """Both hands go to the waist, elbows out, and stay."""
    e = m.ease()
    for i in (0, 1):
        s = SIDE_SIGN[i]
        m.reach(i, m.lm("waist", i), e, (-s * 0.3, -0.6, 0.7), (-s, 0.0, 0.0), pole=(s * 1.0, 0.0, -0.4))


def crossing_arms(m: Motion) -> None:
    """Forearms fold across the chest, hands on the opposite upper arms."""
    e = m.ease()
    for i in (0, 1):
        s = SIDE_SIGN[i]
        front = 0.07 if i == m.side else 0.035  # the acting forearm lies on top
        target = m.lm("upper_arm", 1 - i) + _v(s * 0.03, -0.05 + (0.02 if i == m.side else 0.0), front)
        m.reach(i, target, e, (-s, 0.15, 0.0), (0.0, 0.0, -1.0), pole=(s * 0.6, -1.0, 0.5))


# ---- head-hand (38-47) ---------------------------------------------------------------------------
_FACE_POLE = (0.6, -1.0, 0.15)  # x mirrored by side: elbow down and out


def _face_pole(s: float) -> tuple[float, float, float]:
    return (s * _FACE_POLE[0], _FACE_POLE[1], _FACE_POLE[2])


def playing_hair(m: Motion) -> None:
    """Hand to the side of the head, strokes down the hair."""
    i, s = m.side, m.s
    w = m.visit()
    f = m.u(0.9, 1.6) * m.speed
    stroke = m.gate(w) * ((f * m.t) % 1.0)  # slide down the hair, jump back
    target = m.lm("hair_side", i) + _v(s * 0.01, 0.0, 0.0)
    target[:, 1] -= 0.05 * m.amp * stroke
    target[:, 2] -= 0.03 * m.amp * stroke
    m.reach(i, target, w, (-s * 0.3, 0.8, -0.4), (-s, 0.0, 0.0), pole=(s * 1.0, -0.6, 0.0))
    m.pose.curl[:, i] += 0.3 * w


def touching_hindbrain(m: Motion) -> None:
    """Hand behind the head, elbow up; scratches or rests."""
    i, s = m.side, m.s
    w = m.visit(reach=(0.22, 0.32))
    target = m.lm("hindbrain", i) + _scratch(m, w, 1)
    m.reach(i, target, w, (-s * 0.6, 0.7, 0.1), (0.0, 0.0, 1.0), pole=(s * 1.0, 0.5, -0.2))


def touching_forehead(m: Motion) -> None:
    """Fingers to the forehead; scratches or rests."""
    i, s = m.side, m.s
    w = m.visit()
    target = m.lm("forehead") + _v(s * 0.02, 0.0, 0.025) + _scratch(m, w, 0)
    m.reach(i, target, w, (-s * 0.8, 0.4, 0.0), (0.0, 0.0, -1.0), pole=_face_pole(s))


def touching_face(m: Motion) -> None:
    """Hand to the cheek; scratches or rests."""
    i, s = m.side, m.s
    w = m.visit()
    target = m.lm("cheek", i) + _v(s * 0.01, 0.0, 0.02) + _scratch(m, w, 1, 0.01)
    m.reach(i, target, w, (-s * 0.2, 1.0, 0.1), (-s * 0.7, 0.0, -0.7), pole=_face_pole(s))


def rubbing_eyes(m: Motion) -> None:
    """Knuckles to the eye(s), small circles; the head bows slightly."""
    w = m.visit()
    g = m.gate(w)
    c = m.osc(2.0, 3.0)
    sn = np.roll(c, max(m.T // 8, 1))  # a quarter period later at ~2.5 Hz, 15 fps: small circles
    for i in m.hands():
        s = SIDE_SIGN[i]
        target = m.lm("eye", i) + _v(0.0, 0.0, 0.025)
        target[:, 0] += 0.009 * m.amp * g * c
        target[:, 1] += 0.009 * m.amp * g * sn
        m.reach(i, target, w, (-s * 0.3, 0.9, 0.0), (0.0, 0.0, -1.0), pole=_face_pole(s))
        m.pose.curl[:, i] += 0.6 * w
    m.pose.head[:, 0] += 5 * DEG * m.amp * w


def touching_nose(m: Motion) -> None:
    """Index finger quickly to the nose tip and back."""
    i, s = m.side, m.s
    w = m.visit(reach=(0.12, 0.22), return_p=0.8)
    target = m.lm("nose") + _v(0.0, -0.005, 0.015)
    m.reach(i, target, w, (-s * 0.2, 0.9, 0.15), (s, 0.0, 0.0), pole=_face_pole(s))
    m.pose.curl[:, i] += w
    m.pose.index[:, i] = 1.0


def touching_ears(m: Motion) -> None:
    """Hand to the ear, small tug."""
    i, s = m.side, m.s
    w = m.visit()
    target = m.lm("ear", i) + _v(s * 0.015, 0.0, 0.0)
    target[:, 1] -= 0.012 * m.amp * m.gate(w) * (0.5 + 0.5 * m.osc(1.0, 2.0))
    m.reach(i, target, w, (0.0, 1.0, 0.1), (-s, 0.0, 0.0), pole=(s * 1.0, -0.8, 0.1))


def covering_face(m: Motion) -> None:
    """Both palms cover the face; the head bows a little."""
    w = m.visit(reach=(0.2, 0.3), return_p=0.5)
    for i in (0, 1):
        s = SIDE_SIGN[i]
        target = m.lm("face", i) + _v(0.0, 0.0, 0.03)
        m.reach(i, target, w, (-s * 0.25, 1.0, 0.1), (0.0, 0.0, -1.0), pole=_face_pole(s))
    m.pose.head[:, 0] += 7 * DEG * m.amp * w


def covering_mouth(m: Motion) -> None:
    """Hand over the mouth, held."""
    i, s = m.side, m.s
    w = m.visit(return_p=0.5)
    target = m.lm("mouth") + _v(0.0, 0.0, 0.03)
    m.reach(i, target, w, (-s * 0.9, 0.35, 0.0), (0.0, 0.0, -1.0), pole=_face_pole(s))


def pushing_glasses(m: Motion) -> None:
    """Index finger to the bridge of the glasses and pushes them up (glasses forced on)."""
    i, s = m.side, m.s
    w = m.visit(reach=(0.12, 0.22), return_p=0.85)
    target = m.lm("glasses") + _v(0.0, 0.0, 0.015)
    push = m.gate(w) * m.ease(start=m.u(0.3, 0.5), dur=0.1)
    target[:, 1] += 0.008 * m.amp * push
    m.reach(i, target, w, (0.0, 1.0, 0.2), (s, 0.0, 0.0), pole=_face_pole(s))
    m.pose.curl[:, i] += w
    m.pose.index[:, i] = 1.0
    m.pose.glasses_lift += 0.06 * m.amp * np.maximum.accumulate(push)


# ---- leg-hand (48-51) ----------------------------------------------------------------------------
def patting_legs(m: Motion) -> None:
    """Hand(s) pat the thigh(s) (1.4-2.2 Hz, ~4.5 cm lift)."""
    w = m.window()
    f = m.u(1.4, 2.2) * m.speed
    pat = np.abs(np.sin(np.pi * 2 * f * m.t))
    for i in m.hands():
        s = SIDE_SIGN[i]
        target = m.lm("thigh", i) + _v(-s * 0.01, 0.0, 0.02)
        target[:, 1] += 0.045 * m.amp * w * pat
        m.reach(i, target, np.ones(m.T), (-s * 0.15, -0.15, 1.0), (0.0, -1.0, 0.0))


def touching_legs(m: Motion) -> None:
    """Hand(s) slide along the thigh towards the knee and back."""
    f = m.u(0.5, 0.9) * m.speed
    slide = 0.5 - 0.5 * np.cos(2 * np.pi * f * m.t + m.u(-0.5, 0.5))
    for i in m.hands():
        s = SIDE_SIGN[i]
        target = m.lm("thigh", i) + _v(-s * 0.01, -0.005, -0.03)
        target[:, 2] += 0.1 * m.amp * slide
        m.reach(i, target, np.ones(m.T), (-s * 0.15, -0.15, 1.0), (0.0, -1.0, 0.0))


def scratching_legs(m: Motion) -> None:
    """Hand near the knee scratches fast along the thigh."""
    i, s = m.side, m.s
    w = np.ones(m.T)
    target = m.lm("thigh", i) + _v(-s * 0.01, 0.0, 0.07)
    target[:, 2] += 0.018 * m.amp * m.window() * m.osc(4.0, 6.0)
    m.reach(i, target, w, (-s * 0.15, -0.2, 1.0), (0.0, -1.0, 0.0))
    m.pose.curl[:, i] += 0.3 + 0.3 * (0.5 + 0.5 * m.osc(4.0, 6.0))


def scratching_feet(m: Motion) -> None:
    """Lean forward ~30 deg, lift the foot, reach the ankle and scratch."""
    i, s = m.side, m.s
    w = m.visit(reach=(0.25, 0.35), return_p=0.5)
    m.pose.torso[:, 0] += 30 * DEG * m.amp * w
    m.pose.head[:, 0] += 8 * DEG * w
    m.pose.foot_lift[:, i] += 0.14 * w
    m.pose.toe[:, i, 2] -= 0.1 * w
    target = m.lm("ankle", i) + _scratch(m, w, 0, 0.015)
    m.reach(i, target, w, (-s * 0.3, -0.6, 0.6), (-s * 0.3, 0.0, -1.0), pole=(s * 0.8, 0.2, -0.2))


# Each class's pose program, by the class's name in labels.FINE_CLASSES (a misspelt name fails at import); the
# reversed member of a pair has none: it is its partner's frames backwards (REVERSED_PAIRS).
_PROGRAMS_BY_NAME: dict[str, Callable[[Motion], None]] = {
    "shaking body": shaking_body,
    "sitting straightly": sitting_straightly,
    "shrugging": shrugging,
    "turning around": turning_around,
    "rising up": rising_up,
    "bowing head": bowing_head,
    "tilting head": tilting_head,
    "turning head": turning_head,
    "nodding": nodding,
    "shaking head": shaking_head,
    "scratching arms": scratching_arms,
    "playing objects": playing_objects,
    "putting hands together": putting_hands_together,
    "rubbing hands": rubbing_hands,
    "pointing oneself": pointing_oneself,
    "clenching fist": clenching_fist,
    "stretching arms": stretching_arms,
    "waving": waving,
    "hands touching fingers": hands_touching_fingers,
    "other finger movements": other_finger_movements,
    "illustrative gestures": illustrative_gestures,
    "shaking legs": shaking_legs,
    "curling legs": curling_legs,
    "spread legs": spread_legs,
    "crossing legs": crossing_legs,
    "stretching feet": stretching_feet,
    "tiptoe": tiptoe,
    "scratching or touching neck": touching_neck,
    "scratching or touching chest": touching_chest,
    "scratching or touching back": touching_back,
    "scratching or touching shoulder": touching_shoulder,
    "arms akimbo": arms_akimbo,
    "crossing arms": crossing_arms,
    "playing or tidying hair": playing_hair,
    "scratching or touching hindbrain": touching_hindbrain,
    "scratching or touching forehead": touching_forehead,
    "scratching or touching face": touching_face,
    "rubbing eyes": rubbing_eyes,
    "touching nose": touching_nose,
    "touching ears": touching_ears,
    "covering face": covering_face,
    "covering mouth": covering_mouth,
    "pushing glasses": pushing_glasses,
    "patting legs": patting_legs,
    "touching legs": touching_legs,
    "scratching legs": scratching_legs,
    "scratching feet": scratching_feet,
}
PROGRAMS: dict[int, Callable[[Motion], None]] = {FINE_CLASSES.index(name): program
                                                for name, program in _PROGRAMS_BY_NAME.items()}

# Per-class (amplitude range, speed range) the writer samples from; the default suits most classes.
DEFAULT_RANGES = ((0.75, 1.25), (0.8, 1.25))
CLASS_RANGES: dict[int, tuple[tuple[float, float], tuple[float, float]]] = {
    9: ((0.7, 1.3), (0.8, 1.3)),  # nodding: from a tiny acknowledgement to a clear nod
    10: ((0.7, 1.3), (0.8, 1.3)),
    24: ((0.6, 1.2), (0.8, 1.4)),  # shaking legs: speed varies a lot
    28: ((0.8, 1.2), (0.8, 1.2)),
}


def class_ranges(label: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(amplitude range, speed range) of class ``label``."""
    return CLASS_RANGES.get(label, DEFAULT_RANGES)


# ---- idle motion and distractors -----------------------------------------------------------------
def _smooth_noise(m: Motion, lo: float, hi: float, n: int = 3) -> np.ndarray:
    """Zero-mean slow wobble in about [-1, 1]: a sum of ``n`` random sinusoids."""
    out = np.zeros(m.T)
    for _ in range(n):
        out += np.sin(2 * np.pi * m.u(lo, hi) * m.t + m.u(0, 2 * np.pi))
    return out / np.sqrt(n)


def idle(m: Motion, intensity: float, fps: float) -> None:
    """Breathing, trunk sway, small head motion, resting-hand drift and blinks of the participant."""
    p, pose = m.p, m.pose
    breath = np.sin(2 * np.pi * p.breath_rate * (0.7 + 0.3 * intensity) * m.t + m.u(0, 2 * np.pi))
    pose.shrug += (p.breath_depth * (0.5 + 0.5 * breath))[:, None]
    pose.torso[:, 0] -= 0.004 * breath
    sway = p.sway * intensity
    pose.torso[:, 1] += sway * _smooth_noise(m, 0.5 * p.sway_freq, 1.5 * p.sway_freq)
    pose.torso[:, 0] += 0.5 * sway * _smooth_noise(m, 0.5 * p.sway_freq, 1.5 * p.sway_freq)
    hj = p.head_jitter * intensity
    for axis in range(3):
        pose.head[:, axis] += hj * _smooth_noise(m, 0.3, 1.2)
    for i in (0, 1):
        for axis in range(3):
            pose.hand_rest_shift[:, i, axis] += 0.0015 * intensity * _smooth_noise(m, 0.2, 0.8)
    # Blinks: ~0.12 s each (at least one frame), Poisson in time.
    duration = m.T / fps
    for _ in range(m.rng.poisson(p.blink_rate * duration)):
        start = m.u(0, duration)
        pose.blink[(m.t >= start) & (m.t < start + max(0.12, 1.0 / fps))] = 1.0


def distract(m: Motion, kind: str) -> None:
    """A small movement of another body part (``DISTRACTORS``), about a third of a real action."""
    t0 = m.u(0.0, 0.7)
    blip = m.bump(t0, t0 + 0.1, t0 + 0.2, t0 + 0.3)
    if kind == "head":
        m.pose.head[:, m.rng.integers(3)] += m.u(-1, 1) * 5 * DEG * blip
    elif kind == "hand":
        free = 1 - m.side
        f = m.u(3.0, 5.0)
        m.pose.wiggle[:, free] += (0.4 * blip * np.maximum(np.sin(2 * np.pi * f * m.t), 0))[:, None]
    elif kind == "leg":
        m.pose.heel_lift[:, m.rng.integers(2)] += 0.015 * blip
    elif kind == "body":
        m.pose.torso[:, 1] += m.u(-1, 1) * 1.5 * DEG * blip
    else:
        raise ValueError(f"unknown distractor {kind!r}; choose one of {DISTRACTORS} or None")
