"""The emotion extension (the paper's MA-52-Pro analogue): synthetic interview sessions, session
emotion labels, and the experiment asking whether micro-action cues improve emotion recognition.

``synthesize_emotion`` renders the sessions, ``read_emotion_labels`` / ``write_emotion_labels``
handle ``emotion_labels.csv``, and ``run_emotion_experiment`` compares visual features, micro-action
cues and both (``ma52 emotion``).
"""

from ma52lib.emotion.experiment import (
    FEATURE_SETS,
    PAPER_CLAIM,
    ClipOutputs,
    EmotionResult,
    SessionFeatures,
    evaluate_feature_sets,
    format_result,
    manet_config,
    manet_run_for,
    predict_clips,
    run_emotion_experiment,
    session_features,
    true_labels,
    verdict,
)
from ma52lib.emotion.labels import (
    EMOTIONS,
    LABELS_FILE,
    EmotionLabelError,
    Session,
    load_sessions,
    read_emotion_labels,
    write_emotion_labels,
)
from ma52lib.synth.emotion import (
    CUE_GROUPS,
    EMOTION_PROFILES,
    RATE_FACTORS,
    STYLES,
    assumptions,
    class_distribution,
    emotion_profile_for,
    synthesize_emotion,
)

__all__ = [
    "CUE_GROUPS", "EMOTIONS", "EMOTION_PROFILES", "FEATURE_SETS", "LABELS_FILE", "PAPER_CLAIM", "RATE_FACTORS",
    "STYLES", "ClipOutputs", "EmotionLabelError", "EmotionResult", "Session", "SessionFeatures", "assumptions",
    "class_distribution", "emotion_profile_for", "evaluate_feature_sets",
    "format_result", "load_sessions", "manet_config", "manet_run_for", "predict_clips", "read_emotion_labels",
    "run_emotion_experiment", "session_features", "synthesize_emotion", "true_labels", "verdict",
    "write_emotion_labels",
]
