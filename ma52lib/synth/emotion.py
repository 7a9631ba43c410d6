"""MA-52-Synth emotion: synthetic interview sessions whose emotional state shapes the micro-actions.

Each session is one participant (seen in no other session, so no other split) in one state from
``EMOTIONS`` (negative / neutral / positive), filmed as K short clips of one micro-action each, like
MA-52's interview clips. The state acts mostly through the micro-actions:

- *which* occur: MA-52's class frequencies are multiplied by state factors per cue group
  (``RATE_FACTORS``: more self-adaptors, fidgeting, leg restlessness and closed postures under
  negative affect; more illustrators and nodding under positive affect);
- *how* they are made: speed, amplitude and the rate of small extra movements (``STYLES``);

and only weakly directly: a small trunk lean (slumped when negative, upright when positive) and a
little more idle motion (breathing, sway) when aroused. A person-level trait (``TRAIT_SD``) makes some
people fidget more than others whatever their state, so the state is not decided by construction.
``action_effect`` / ``direct_effect`` scale both parts (0 removes them: a null control).

The folder has the official MA-52 layout (lists, videos_<split>/, test_labels.txt, meta.json), so a
MANet run can be evaluated on it, plus ``emotion_labels.csv`` (see ``ma52lib.emotion.labels``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ma52lib.files import atomic_write_text, folder_lock, publish_folder
from ma52lib.labels import FINE_TO_BODY, NUM_CLASSES, REAL_TRAIN_COUNTS
from ma52lib.paths import data_dir
from ma52lib.synth import (
    GENERATOR_VERSION,
    ClipSpec,
    Participant,
    PlannedClip,
    allowed_distractors,
    make_participants,
    read_meta,
    reporter,
    video_format,
    write_dataset,
)
from ma52lib.synth.motions import class_ranges
from ma52lib.synth.writer import SPLITS
from ma52lib.workers import refuse_in_bootstrap

EMOTION_VERSION = "1.0"
# The name every sessions' meta.json has carried since the renderer lived in the emotion package (that import path
# still works): kept so that a render stays byte-identical to the folders already on disk.
GENERATOR = "ma52lib.emotion.sessions"

# The synthetic sessions' states: a coarse valence set. MA-52-Pro's class set is not public, the literature below
# states directions at about this level, and a finer set (anxious against sad) would need arousal assumptions we
# could not ground.
EMOTIONS: tuple[str, ...] = ("negative", "neutral", "positive")

# The sessions' file beside the official lists (the format: ma52lib.emotion.labels, which reads and checks it).
LABELS_FILE = "emotion_labels.csv"
COLUMNS: tuple[str, ...] = ("split", "session", "emotion", "clips")

# Micro-action groups the states act on (fine ids; see ma52lib.labels for the names).
CUE_GROUPS: dict[str, tuple[int, ...]] = {
    # Self-adaptors (Ekman & Friesen 1969, 1972): the hands touching, scratching or rubbing the body.
    "self-adaptors": (11, 14, 21, 32, 33, 34, 35, 38, 39, 40, 41, 42, 43, 44, 45, 46, 49, 50, 51),
    # Object-adaptors and finger play.
    "fidgeting": (12, 22, 47),
    # Leg and foot movement, the least controlled channel (Ekman & Friesen 1969, "nonverbal leakage").
    "leg restlessness": (24, 29, 30, 31),
    # Illustrators: speech-accompanying arm and hand gestures.
    "illustrators": (15, 17, 19, 20, 23),
    "nodding": (9,),
    # Withdrawn or guarded postures: head lowered, hands held together or clenched, arms folded in.
    "closed posture": (5, 13, 16, 18, 37),
}

# Multipliers of MA-52's base class frequencies per state (neutral: 1). Directions from the
# literature above and Waxer (1977), Harrigan (1985), Wallbott (1998); the sizes are our choice.
RATE_FACTORS: dict[str, dict[str, float]] = {
    "negative": {"self-adaptors": 2.0, "fidgeting": 1.5, "leg restlessness": 2.0, "illustrators": 0.6,
                 "nodding": 0.7, "closed posture": 1.6},
    "neutral": {group: 1.0 for group in CUE_GROUPS},
    "positive": {"self-adaptors": 0.7, "fidgeting": 0.8, "leg restlessness": 0.8, "illustrators": 1.8,
                 "nodding": 1.5, "closed posture": 0.7},
}

# Groups whose rate also follows the person-level fidgetiness trait.
TRAIT_GROUPS: tuple[str, ...] = ("self-adaptors", "fidgeting", "leg restlessness")
TRAIT_SD = 0.35  # sd of log(trait): one person in six fidgets >= 1.4x the typical rate


@dataclass(frozen=True)
class StateStyle:
    """How a state changes the clips besides which micro-actions occur."""

    speed: float  # multiplies the class's sampled speed
    amplitude: float  # multiplies the class's sampled amplitude
    distractor_p: float  # chance of a small extra movement of another body part
    intensity: float  # multiplies the idle motion (breathing rate, sway, hand drift): a weak direct cue
    lean: float  # added to the participant's habitual trunk lean (radians, + = slumped): a weak direct cue


# Neutral equals the plain MA-52-Synth clip (distractor chance 0.25, same ranges).
# Lean: participants' habitual lean has sd 0.04 rad, so +-0.02..0.03 rad is a weak shift.
STYLES: dict[str, StateStyle] = {
    "negative": StateStyle(speed=1.10, amplitude=0.85, distractor_p=0.35, intensity=1.15, lean=0.03),
    "neutral": StateStyle(speed=1.0, amplitude=1.0, distractor_p=0.25, intensity=1.0, lean=0.0),
    "positive": StateStyle(speed=1.05, amplitude=1.15, distractor_p=0.25, intensity=1.05, lean=-0.02),
}


@dataclass(frozen=True)
class EmotionProfile:
    """Defaults of one emotion-set size."""

    size: tuple[int, int]  # (W, H), the regular MA-52-Synth size of the same profile
    fps: int
    sessions: tuple[int, int, int]  # train, val, test
    clips: tuple[int, int]  # clips per session, inclusive range
    duration: tuple[float, float]  # clip length range (s), as MA-52 (1.5-2.5 s)
    description: str


EMOTION_PROFILES: dict[str, EmotionProfile] = {
    "smoke": EmotionProfile((40, 48), 10, (12, 3, 12), (3, 5), (1.5, 2.5),
                            "27 sessions of 3-5 clips, 40x48, 10 fps: seconds"),
    # Fewer, longer sessions beat more, shorter ones at the same render cost: with 5-8 clips even the
    # annotated micro-actions barely beat chance (too few clips to see a state's distribution).
    "cpu": EmotionProfile((80, 96), 15, (60, 12, 48), (8, 10), (1.5, 2.5),
                          "120 sessions of 8-10 clips (~1,100 clips), 80x96, 15 fps: about a minute on 2 cores"),
}

_PEOPLE_SEED = 0xE407  # participants are new people, not those of the regular MA-52-Synth


def emotion_profile_for(profile: str) -> str:
    """The emotion-set profile matching a training profile (smoke -> smoke, anything else -> cpu)."""
    return "smoke" if profile == "smoke" else "cpu"


def class_distribution(emotion: str, *, effect: float = 1.0, trait: float = 1.0) -> np.ndarray:
    """Probabilities [52] of each micro-action in a clip of a session in state ``emotion``."""
    if emotion not in RATE_FACTORS:
        raise ValueError(f"unknown emotion {emotion!r}; the synthetic states are {', '.join(RATE_FACTORS)}")
    factors = np.ones(NUM_CLASSES)
    for group, factor in RATE_FACTORS[emotion].items():
        factors[list(CUE_GROUPS[group])] *= factor**effect
    for group in TRAIT_GROUPS:
        factors[list(CUE_GROUPS[group])] *= trait
    p = np.asarray(REAL_TRAIN_COUNTS, dtype=np.float64) * factors
    return p / p.sum()


def _scale(value: float, effect: float) -> float:
    """A style multiplier moved ``effect`` of the way from 1 (0: no effect, 1: as documented)."""
    return 1.0 + (value - 1.0) * effect


@dataclass(frozen=True)
class Session:
    """One interview session: its split, id, emotion and clip ids (video file stems, in order)."""

    split: str
    session: str
    emotion: str
    clips: tuple[str, ...]


def clip_id(name: str) -> str:
    """The id of a clip: its video file name without ``.mp4`` (``0001_05_0001.mp4`` -> ``0001_05_0001``)."""
    return name[:-4] if name.lower().endswith(".mp4") else name


def write_emotion_labels(path: str | os.PathLike[str], sessions: Iterable[Session]) -> Path:
    """Write ``sessions`` as an ``emotion_labels.csv`` (header, one row per session, LF line ends)."""
    path = Path(path)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for s in sessions:
        for field, value in (("split", s.split), ("session", s.session), ("emotion", s.emotion)):
            if not value or any(ch.isspace() for ch in value) or "," in value:
                raise ValueError(f"session {s.session!r}: {field} {value!r} is empty or holds whitespace or a comma")
        if not s.clips:
            raise ValueError(f"session {s.session!r} has no clips")
        bad = [c for c in s.clips if not c or any(ch.isspace() for ch in c) or "," in c]
        if bad:
            raise ValueError(f"session {s.session!r}: clip id {bad[0]!r} is empty or holds whitespace or a comma")
        writer.writerow([s.split, s.session, s.emotion, " ".join(clip_id(c) for c in s.clips)])
    atomic_write_text(path, buf.getvalue())
    return path


@dataclass(frozen=True)
class PlannedSession:
    """A session to render: its labels row, participant, fidgetiness trait and clips."""

    session: Session
    participant: int
    trait: float
    clips: tuple[PlannedClip, ...]


def plan_sessions(
    counts: tuple[int, int, int],
    clips: tuple[int, int],
    duration: tuple[float, float],
    *,
    seed: int = 0,
    action_effect: float = 1.0,
    direct_effect: float = 1.0,
) -> tuple[list[PlannedSession], list[Participant]]:
    """Draw every session (state, participant, trait, clip specs) and the participants it uses.

    States are balanced within each split; session i depends only on (seed, i, its state).
    """
    if len(counts) != 3 or min(counts) < 0 or sum(counts) < 1:
        raise ValueError(f"sessions must be three non-negative counts (train, val, test), got {counts}")
    lo, hi = int(clips[0]), int(clips[1])
    if not 1 <= lo <= hi:
        raise ValueError(f"clips per session must be a range 1 <= lo <= hi, got {clips}")
    people = make_participants(sum(counts), _PEOPLE_SEED + seed)
    rng = np.random.default_rng([seed, 0xE40])
    planned: list[tuple[str, str, Participant, float, list[ClipSpec]]] = []
    participants: list[Participant] = []
    index = 0
    for split, n in zip(SPLITS, counts, strict=True):
        states = [EMOTIONS[i % len(EMOTIONS)] for i in range(n)]
        for emotion in (states[k] for k in rng.permutation(n)):
            srng = np.random.default_rng([seed, 0xE40, index])
            style = STYLES[emotion]
            person = people[index]
            # The weak posture cue lives on the participant (a habit held for the whole session).
            person = replace(person, lean=person.lean + style.lean * direct_effect)
            trait = float(np.exp(srng.normal(0.0, TRAIT_SD)))
            dist = class_distribution(emotion, effect=action_effect, trait=trait)
            specs = [
                _clip_spec(srng, dist, emotion, style, person.pid, duration, action_effect, direct_effect)
                for _ in range(int(srng.integers(lo, hi + 1)))
            ]
            planned.append((split, emotion, person, trait, specs))
            participants.append(person)
            index += 1

    # File names as in MA-52: SSSS_CC_NNNN for train/val; test shuffled and renamed testNNNN.
    test_specs = [(i, k) for i, item in enumerate(planned) if item[0] == "test" for k in range(len(item[4]))]
    digits = max(4, len(str(len(test_specs) - 1)))
    test_name = {test_specs[k]: f"test{j:0{digits}d}.mp4" for j, k in enumerate(rng.permutation(len(test_specs)))}
    sessions = []
    for i, (split, emotion, person, trait, specs) in enumerate(planned):
        files = [
            test_name[(i, k)] if split == "test" else f"{person.pid:04d}_{FINE_TO_BODY[spec.label]:02d}_{k + 1:04d}.mp4"
            for k, spec in enumerate(specs)
        ]
        row = Session(split, f"s{person.pid:04d}", emotion, tuple(f[:-4] for f in files))
        sessions.append(PlannedSession(row, person.pid, trait,
                                       tuple(PlannedClip(split, f, s) for f, s in zip(files, specs, strict=True))))
    return sessions, participants


def _clip_spec(rng: np.random.Generator, dist: np.ndarray, emotion: str, style: StateStyle, pid: int,
               duration: tuple[float, float], action_effect: float, direct_effect: float) -> ClipSpec:
    """One clip of a session: the class from the state's distribution, its manner from the state's style."""
    label = int(rng.choice(NUM_CLASSES, p=dist))
    (a_lo, a_hi), (s_lo, s_hi) = class_ranges(label)
    distractor = None
    if rng.random() < 0.25 + (style.distractor_p - 0.25) * action_effect:
        options = allowed_distractors(label)
        distractor = str(options[rng.integers(len(options))])
    return ClipSpec(
        label=label,
        participant=pid,
        seed=int(rng.integers(2**63 - 1)),
        duration_s=round(float(rng.uniform(*duration)), 3),
        speed=round(float(rng.uniform(s_lo, s_hi)) * _scale(style.speed, action_effect), 3),
        amplitude=round(float(rng.uniform(a_lo, a_hi)) * _scale(style.amplitude, action_effect), 3),
        distractor=distractor,
        emotion=emotion,
        intensity=round(float(rng.uniform(0.8, 1.2)) * _scale(style.intensity, direct_effect), 3),
        jitter=round(float(rng.uniform(0.0005, 0.003)), 5),
        noise=round(float(rng.uniform(0.8, 2.5)), 3),
    )


def assumptions() -> dict[str, Any]:
    """The generative assumptions as plain data (written to meta.json and shown in the chapter)."""
    return {
        "emotions": list(EMOTIONS),
        "cue_groups": {g: list(ids) for g, ids in CUE_GROUPS.items()},
        "rate_factors": RATE_FACTORS,
        "trait_groups": list(TRAIT_GROUPS),
        "trait_sd": TRAIT_SD,
        "styles": {e: asdict(s) for e, s in STYLES.items()},
    }


def _profile(name: str) -> EmotionProfile:
    if name not in EMOTION_PROFILES:
        raise ValueError(
            f"no emotion-set profile {name!r}; choose one of: {', '.join(EMOTION_PROFILES)} "
            "(a full-size emotion set is the gated MA-52-Pro: pass its folder with --data-root)"
        )
    return EMOTION_PROFILES[name]


def synthesize_emotion(
    out: str | os.PathLike[str] | None = None,
    *,
    profile: str = "cpu",
    seed: int = 0,
    size: tuple[int, int] | None = None,
    fps: int | None = None,
    sessions: tuple[int, int, int] | None = None,
    clips_per_session: tuple[int, int] | None = None,
    duration: tuple[float, float] | None = None,
    action_effect: float = 1.0,
    direct_effect: float = 1.0,
    workers: int = 2,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Render the emotion interview sessions (or reuse the cached folder made with the same arguments).

    Returns the folder: the official MA-52 layout plus ``emotion_labels.csv`` and meta.json (with the
    sessions and the generative assumptions).
    """
    refuse_in_bootstrap("synthesize_emotion")  # a worker re-running an unguarded script: not a second render
    prof = _profile(profile)
    size, fps = video_format(size or prof.size, fps or prof.fps)
    args = {
        "profile": profile,
        "seed": int(seed),
        "size": list(size),
        "fps": fps,
        "sessions": [int(x) for x in (sessions or prof.sessions)],
        "clips_per_session": [int(x) for x in (clips_per_session or prof.clips)],
        "duration": [float(x) for x in (duration or prof.duration)],
        "action_effect": float(action_effect),
        "direct_effect": float(direct_effect),
    }
    out = Path(out) if out is not None else _default_folder(args, prof)
    say = reporter(progress)
    # One generator per folder at a time; a second caller waits, then finds the data ready.
    with folder_lock(out):
        if not _reusable(out, args, force=force, say=say):
            _render(out, args, workers=workers, progress=progress, say=say)
    return out


def _default_folder(args: dict[str, Any], prof: EmotionProfile) -> Path:
    """``data_dir()/ma52-emotion-<profile>-<seed>``, plus a hash of the arguments off the profile's defaults."""
    name = f"ma52-emotion-{args['profile']}-{args['seed']}"
    defaults = {**args, "size": list(prof.size), "fps": prof.fps, "sessions": list(prof.sessions),
                "clips_per_session": list(prof.clips), "duration": list(prof.duration),
                "action_effect": 1.0, "direct_effect": 1.0}
    if args != defaults:
        name += "-" + hashlib.sha1(json.dumps(args, sort_keys=True).encode()).hexdigest()[:8]
    return data_dir() / name


def _reusable(out: Path, args: dict[str, Any], *, force: bool, say: Callable[[str], None]) -> bool:
    """Whether ``out`` already holds these sessions; refuses to overwrite anything else without ``force``."""
    meta = read_meta(out)
    if not force and meta is not None and meta.get("complete"):
        if meta.get("args") == args and meta.get("version") == EMOTION_VERSION \
                and meta.get("synth_version") == GENERATOR_VERSION:
            say(f"MA-52-Synth emotion: reusing {out}")
            return True
        raise FileExistsError(
            f"{out} holds a dataset made with other arguments or generator version "
            f"({meta.get('generator')} {meta.get('version')}, args {meta.get('args')}); "
            "pass force=True (--force) to regenerate it, or choose another out"
        )
    if not force and out.exists() and any(out.iterdir()):
        raise FileExistsError(
            f"{out} exists and is not a complete emotion dataset (no usable meta.json); "
            "pass force=True (--force) to replace it, or choose another out"
        )
    return False


def _render(out: Path, args: dict[str, Any], *, workers: int, progress: bool, say: Callable[[str], None]) -> None:
    """Plan and render the sessions ``args`` describe into ``out`` (published only once complete)."""
    started = time.perf_counter()
    planned, participants = plan_sessions(
        tuple(args["sessions"]), tuple(args["clips_per_session"]), tuple(args["duration"]),
        seed=args["seed"], action_effect=args["action_effect"], direct_effect=args["direct_effect"],
    )
    clips = [c for s in planned for c in s.clips]
    size = (args["size"][0], args["size"][1])
    meta = {
        "generator": GENERATOR,
        "version": EMOTION_VERSION,
        "synth_version": GENERATOR_VERSION,
        "args": args,
        "assumptions": assumptions(),
        "sessions": [{**asdict(s.session), "participant": s.participant, "trait": round(s.trait, 4)}
                     for s in planned],
    }
    with publish_folder(out) as tmp:
        write_dataset(tmp, clips, participants, size=size, fps=args["fps"], workers=workers, progress=progress,
                      meta=meta)
        write_emotion_labels(tmp / LABELS_FILE, [s.session for s in planned])
    say(f"MA-52-Synth emotion: {len(planned)} sessions, {len(clips)} clips at {size[0]}x{size[1]} "
        f"{args['fps']} fps in {time.perf_counter() - started:.1f} s -> {out}")


__all__ = [
    "COLUMNS", "CUE_GROUPS", "EMOTIONS", "EMOTION_PROFILES", "GENERATOR", "LABELS_FILE", "RATE_FACTORS", "STYLES",
    "TRAIT_SD", "EmotionProfile", "PlannedSession", "Session", "StateStyle", "assumptions", "class_distribution",
    "clip_id", "emotion_profile_for", "plan_sessions", "synthesize_emotion", "write_emotion_labels",
]
