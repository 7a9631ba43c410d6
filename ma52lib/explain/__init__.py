"""What the models look at: Grad-CAM (and Grad-CAM++, EigenCAM) on clips, drawings, and the region check.

``gradcam(model, clip)`` gives a heat map per frame [T, H, W] in [0, 1], scaled once per clip; ``ma52 cam``
draws it for any mp4; ``ma52lib.explain.mass`` measures how much of it lies on the acting body part of
MA-52-Synth clips.
"""

from ma52lib.explain.gradcam import (
    METHODS,
    ClipCams,
    VideoCam,
    compute_cams,
    explain_video,
    gradcam,
    is_class_specific,
    method_key,
    normalize_per_clip,
    upsample_maps,
)

__all__ = [
    "METHODS",
    "ClipCams",
    "VideoCam",
    "compute_cams",
    "explain_video",
    "gradcam",
    "is_class_specific",
    "method_key",
    "normalize_per_clip",
    "upsample_maps",
]
