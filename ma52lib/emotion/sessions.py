"""The synthetic interview sessions as the emotion side uses them: rendered by ``ma52lib.synth.emotion``.

The renderer (MA-52-Synth's) owns the states, their effects and the sessions' profiles; the experiment
and the emotion chapter read the same numbers from here, so that what they report is what was drawn.
"""

from ma52lib.synth.emotion import (
    CUE_GROUPS,
    EMOTION_PROFILES,
    RATE_FACTORS,
    STYLES,
    TRAIT_SD,
    EmotionProfile,
    PlannedSession,
    StateStyle,
    assumptions,
    class_distribution,
    emotion_profile_for,
    plan_sessions,
    synthesize_emotion,
)

__all__ = [
    "CUE_GROUPS", "EMOTION_PROFILES", "RATE_FACTORS", "STYLES", "TRAIT_SD", "EmotionProfile", "PlannedSession",
    "StateStyle", "assumptions", "class_distribution", "emotion_profile_for", "plan_sessions", "synthesize_emotion",
]
