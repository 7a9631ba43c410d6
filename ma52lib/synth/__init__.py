"""MA-52-Synth: the embedded procedural stand-in for the gated MA-52 (same files, same format).

``synthesize(profile="smoke"|"cpu"|"full")`` writes (or reuses) a dataset folder in the official
layout; ``render_clip`` draws one clip from a ``ClipSpec`` and a ``Participant``; ``motions`` holds
the 52 motion programs and the time-reversed class pairs.
"""

from ma52lib.synth.motions import PROGRAMS, REVERSE_OF, REVERSED_PAIRS, allowed_distractors
from ma52lib.synth.participants import Participant, make_participants
from ma52lib.synth.render import MASK_TAGS, ClipSpec, num_frames, render_clip
from ma52lib.synth.writer import (
    GENERATOR_VERSION,
    PROFILES,
    PlannedClip,
    Profile,
    clip_table,
    default_folder,
    encode_mp4,
    frames_of,
    generator_fingerprint,
    participants_of,
    plan_clips,
    read_meta,
    reporter,
    spec_of,
    split_counts,
    synthesize,
    video_format,
    write_dataset,
)

__all__ = [
    "GENERATOR_VERSION",
    "MASK_TAGS",
    "PROFILES",
    "PROGRAMS",
    "REVERSED_PAIRS",
    "REVERSE_OF",
    "ClipSpec",
    "Participant",
    "PlannedClip",
    "Profile",
    "allowed_distractors",
    "clip_table",
    "default_folder",
    "encode_mp4",
    "frames_of",
    "generator_fingerprint",
    "make_participants",
    "num_frames",
    "participants_of",
    "plan_clips",
    "read_meta",
    "render_clip",
    "reporter",
    "spec_of",
    "split_counts",
    "synthesize",
    "video_format",
    "write_dataset",
]
