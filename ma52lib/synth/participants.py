"""The people of MA-52-Synth: body proportions, looks, stool, seat position and idle habits.

A participant is fixed for every clip it appears in (like a real interviewee), so a model can learn
who someone is; the cross-subject split is what tests whether it learned the action instead.
Lengths are metres, angles radians, colours linear RGB in 0..1.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

# Skin tones from light to dark; a participant's tone is a random point between two neighbours.
_SKIN = np.array(
    [
        (0.97, 0.82, 0.71),
        (0.93, 0.74, 0.60),
        (0.84, 0.63, 0.48),
        (0.68, 0.47, 0.33),
        (0.50, 0.33, 0.22),
        (0.36, 0.23, 0.16),
    ]
)
_HAIR = np.array(
    [
        (0.08, 0.06, 0.05),  # black
        (0.22, 0.14, 0.08),  # dark brown
        (0.40, 0.26, 0.14),  # brown
        (0.72, 0.58, 0.34),  # blond
        (0.62, 0.60, 0.58),  # grey
    ]
)
_HAIR_P = np.array([0.40, 0.30, 0.15, 0.08, 0.07])
_TROUSERS = np.array(
    [
        (0.10, 0.12, 0.20),  # dark blue
        (0.16, 0.22, 0.40),  # jeans
        (0.08, 0.08, 0.08),  # black
        (0.35, 0.35, 0.36),  # grey
        (0.55, 0.48, 0.34),  # khaki
    ]
)
_SHOES = np.array([(0.06, 0.06, 0.06), (0.90, 0.90, 0.88), (0.30, 0.20, 0.12), (0.20, 0.22, 0.28)])
_STOOLS = np.array([(0.45, 0.30, 0.18), (0.12, 0.12, 0.12), (0.70, 0.70, 0.72), (0.58, 0.42, 0.26)])

HAIR_STYLES = ("short", "long", "bun", "bald")


@dataclass(frozen=True)
class Participant:
    """One synthetic interviewee; every field is drawn once by ``make_participants``."""

    pid: int  # 1-based, the SSSS field of file names
    sex: str  # "F" or "M" (only shapes the prior over build and hair)
    handedness: int  # 0: right hand acts, 1: left hand acts
    # body proportions
    torso_len: float  # pelvis to base of neck
    shoulder_half: float  # half the shoulder width
    hip_half: float  # half the distance between hip joints
    waist_half: float  # half the torso width at the hips
    upper_arm: float
    forearm: float
    hand: float  # wrist to finger tips
    thigh: float
    shin: float
    foot: float
    neck: float
    head_rx: float  # head ellipsoid radii (side, up, front)
    head_ry: float
    head_rz: float
    girth: float  # multiplies limb and torso thickness
    # looks
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    hair_style: str
    shirt: tuple[float, float, float]
    long_sleeves: bool
    trousers: tuple[float, float, float]
    shoes: tuple[float, float, float]
    glasses: bool
    # setting
    stool: tuple[float, float, float]
    stool_legs: int
    seat_height: float
    seat_x: float  # sideways offset of the stool from the image centre
    distance: float  # > 1: sits further from the camera (smaller in the frame)
    wall: tuple[float, float, float]
    floor: tuple[float, float, float]
    light_azimuth: float  # key light direction in the image plane (0: from the top)
    # habits
    lean: float  # habitual forward lean of the trunk
    head_tilt: float  # habitual head roll
    knee_spread: float  # extra sideways distance of the knees
    feet_forward: float  # extra forward distance of the feet
    hands_in_lap: bool  # rests with hands together in the lap instead of on the thighs
    sway: float  # idle sway amplitude of the trunk (radians)
    sway_freq: float  # Hz
    head_jitter: float  # idle head motion amplitude (radians)
    breath_rate: float  # breaths per second
    breath_depth: float  # shoulder rise per breath (metres)
    blink_rate: float  # blinks per second


def _pick(rng: np.random.Generator, table: np.ndarray, p: np.ndarray | None = None) -> tuple[float, float, float]:
    """A table colour with a little per-person variation."""
    colour = table[rng.choice(len(table), p=p)] * rng.uniform(0.9, 1.1, size=3)
    return tuple(float(c) for c in np.clip(colour, 0.0, 1.0))


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    return tuple(float(c) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def make_participant(pid: int, rng: np.random.Generator) -> Participant:
    """Draw one participant from ``rng``."""
    # Each step draws from the one stream in turn: reordering the steps (or the draws inside one)
    # changes every participant and so every rendered dataset.
    sex = "F" if rng.random() < 105 / 205 else "M"  # MA-52 has 105 F / 100 M
    size = rng.normal(0.96 if sex == "F" else 1.03, 0.035)
    girth = float(np.clip(rng.normal(1.0, 0.1), 0.8, 1.3)) * (0.95 if sex == "F" else 1.05)
    looks = _draw_skin_hair_style_shirt(rng, sex)
    room = _draw_room(rng)
    handedness = int(rng.random() < 0.12)
    proportions = _draw_proportions(rng, sex, size, girth)
    clothes = _draw_clothes(rng)
    setting = _draw_seat_and_light(rng)
    habits = _draw_habits(rng)
    return Participant(
        pid=pid, sex=sex, handedness=handedness, **proportions, **looks, **clothes, **room, **setting, **habits
    )


def _draw_skin_hair_style_shirt(rng: np.random.Generator, sex: str) -> dict:
    """Skin tone, hair style and shirt colour."""
    k = rng.uniform(0, len(_SKIN) - 1)
    lo = int(k)
    skin = _SKIN[lo] + (_SKIN[min(lo + 1, len(_SKIN) - 1)] - _SKIN[lo]) * (k - lo)
    if sex == "F":
        style = str(rng.choice(HAIR_STYLES, p=[0.2, 0.6, 0.2, 0.0]))
    else:
        style = str(rng.choice(HAIR_STYLES, p=[0.85, 0.05, 0.0, 0.10]))
    shirt = _hsv(rng.random(), rng.uniform(0.15, 0.7), rng.uniform(0.25, 0.9))
    return {"skin": tuple(float(c) for c in skin), "hair_style": style, "shirt": shirt}


def _draw_room(rng: np.random.Generator) -> dict:
    """Wall and floor colours."""
    wall_v = rng.uniform(0.80, 0.90)
    wall_tint = rng.normal(0.0, 0.012, size=3)
    wall = tuple(float(np.clip(wall_v + t + d, 0, 1)) for t, d in zip(wall_tint, (0.01, 0.0, -0.02)))
    floor_v = rng.uniform(0.45, 0.62)
    floor = tuple(float(np.clip(floor_v * c, 0, 1)) for c in (1.0, 0.95, 0.86))
    return {"wall": wall, "floor": floor}


def _draw_proportions(rng: np.random.Generator, sex: str, size: float, girth: float) -> dict:
    """Segment lengths, head radii and girth (the dict's values are drawn left to right)."""

    def seg(length: float) -> float:
        return float(length * size * rng.normal(1.0, 0.025))

    return {
        "torso_len": seg(0.54),
        "shoulder_half": seg(0.185 if sex == "M" else 0.17) * girth**0.3,
        "hip_half": seg(0.095),
        "waist_half": seg(0.15 if sex == "M" else 0.155) * girth**0.7,
        "upper_arm": seg(0.29),
        "forearm": seg(0.26),
        "hand": seg(0.18),
        "thigh": seg(0.45),
        "shin": seg(0.44),
        "foot": seg(0.23),
        "neck": seg(0.09),
        "head_rx": seg(0.082),
        "head_ry": seg(0.108),
        "head_rz": seg(0.095),
        "girth": girth,
    }


def _draw_clothes(rng: np.random.Generator) -> dict:
    """Hair colour, sleeves, trousers, shoes and glasses, drawn in that order."""
    hair = _pick(rng, _HAIR, _HAIR_P)
    long_sleeves = bool(rng.random() < 0.55)
    trousers = _pick(rng, _TROUSERS)
    shoes = _pick(rng, _SHOES)
    glasses = bool(rng.random() < 0.3)
    return {"hair": hair, "long_sleeves": long_sleeves, "trousers": trousers, "shoes": shoes, "glasses": glasses}


def _draw_seat_and_light(rng: np.random.Generator) -> dict:
    """Stool, seat position, distance from the camera and key light, drawn in that order."""
    stool = _pick(rng, _STOOLS)
    stool_legs = int(rng.choice([3, 4]))
    seat_height = float(rng.uniform(0.44, 0.50))
    seat_x = float(rng.normal(0.0, 0.04))
    distance = float(rng.uniform(0.95, 1.07))
    light_azimuth = float(rng.normal(-0.5, 0.35))
    return {
        "stool": stool,
        "stool_legs": stool_legs,
        "seat_height": seat_height,
        "seat_x": seat_x,
        "distance": distance,
        "light_azimuth": light_azimuth,
    }


def _draw_habits(rng: np.random.Generator) -> dict:
    """Resting posture and idle motion (the dict's values are drawn left to right)."""
    return {
        "lean": float(rng.normal(0.03, 0.04)),
        "head_tilt": float(rng.normal(0.0, 0.03)),
        "knee_spread": float(rng.uniform(0.0, 0.08)),
        "feet_forward": float(rng.normal(0.0, 0.04)),
        "hands_in_lap": bool(rng.random() < 0.25),
        "sway": float(rng.uniform(0.0015, 0.004)),
        "sway_freq": float(rng.uniform(0.2, 0.5)),
        "head_jitter": float(rng.uniform(0.002, 0.006)),
        "breath_rate": float(rng.uniform(0.22, 0.35)),
        "breath_depth": float(rng.uniform(0.0015, 0.004)),
        "blink_rate": float(rng.uniform(0.15, 0.4)),
    }


def make_participants(n: int = 205, seed: int = 0) -> list[Participant]:
    """``n`` participants with ids 1..n; participant i depends only on (seed, i), not on ``n``."""
    if n < 1:
        raise ValueError(f"need at least one participant, got n={n}")
    return [make_participant(i, np.random.default_rng([seed, 0x5EA7, i])) for i in range(1, n + 1)]
