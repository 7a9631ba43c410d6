"""MA-52 label sets: the 52 fine micro-actions, the 7 body parts, and the fixed map between them.

The body-part label is never annotated separately: it is derived from the fine id by fixed ranges
(see the facts file), so ``body_of`` is the single source of truth for the coarse level.
"""

from __future__ import annotations

from typing import TypeVar, overload

import numpy as np
import torch

# Index = fine id, text exactly as in the official label_name.txt.
FINE_CLASSES: tuple[str, ...] = (
    "shaking body",
    "sitting straightly",
    "shrugging",
    "turning around",
    "rising up",
    "bowing head",
    "head up",
    "tilting head",
    "turning head",
    "nodding",
    "shaking head",
    "scratching arms",
    "playing objects",
    "putting hands together",
    "rubbing hands",
    "pointing oneself",
    "clenching fist",
    "stretching arms",
    "retracting arms",
    "waving",
    "spreading hands",
    "hands touching fingers",
    "other finger movements",
    "illustrative gestures",
    "shaking legs",
    "curling legs",
    "spread legs",
    "closing legs",
    "crossing legs",
    "stretching feet",
    "retracting feet",
    "tiptoe",
    "scratching or touching neck",
    "scratching or touching chest",
    "scratching or touching back",
    "scratching or touching shoulder",
    "arms akimbo",
    "crossing arms",
    "playing or tidying hair",
    "scratching or touching hindbrain",
    "scratching or touching forehead",
    "scratching or touching face",
    "rubbing eyes",
    "touching nose",
    "touching ears",
    "covering face",
    "covering mouth",
    "pushing glasses",
    "patting legs",
    "touching legs",
    "scratching legs",
    "scratching feet",
)

BODY_PARTS: tuple[str, ...] = (
    "body",
    "head",
    "upper limb",
    "lower limb",
    "body-hand",
    "head-hand",
    "leg-hand",
)

NUM_CLASSES = len(FINE_CLASSES)  # 52
NUM_BODY_PARTS = len(BODY_PARTS)  # 7

# First fine id of each body part; body b covers [_BODY_START[b], _BODY_START[b + 1]).
_BODY_START = (0, 5, 11, 24, 32, 38, 48, 52)

# Lookup table fine id -> body id.
FINE_TO_BODY: tuple[int, ...] = tuple(
    b for b in range(NUM_BODY_PARTS) for _ in range(_BODY_START[b], _BODY_START[b + 1])
)

# Train / val clip counts of the real MA-52 (facts file), used for the long tail of MA-52-Synth
# and to draw the real histograms beside ours.
REAL_TRAIN_COUNTS: tuple[int, ...] = (
    309, 150, 20, 9, 156, 337, 242, 456, 962, 1283, 1193, 227, 112, 95, 42, 82, 76, 355, 87, 277,
    147, 356, 373, 397, 238, 66, 92, 97, 60, 231, 259, 398, 63, 82, 53, 33, 43, 43, 89, 82, 58, 126,
    66, 147, 52, 6, 25, 68, 421, 497, 92, 20,
)
REAL_VAL_COUNTS: tuple[int, ...] = (
    153, 74, 9, 3, 76, 168, 121, 228, 480, 641, 595, 112, 56, 47, 21, 41, 37, 176, 43, 138, 73, 177,
    186, 197, 119, 33, 46, 48, 30, 115, 128, 198, 30, 40, 25, 16, 21, 20, 44, 40, 28, 63, 33, 72, 25,
    2, 12, 34, 209, 248, 45, 10,
)

_T = TypeVar("_T", np.ndarray, torch.Tensor)


@overload
def body_of(fine: int) -> int: ...
@overload
def body_of(fine: _T) -> _T: ...
def body_of(fine):
    """Map fine ids (int, numpy array or torch tensor) to body-part ids, keeping the input type."""
    if isinstance(fine, torch.Tensor):
        table = torch.tensor(FINE_TO_BODY, dtype=torch.long, device=fine.device)
        _check_range(int(fine.min()) if fine.numel() else 0, int(fine.max()) if fine.numel() else 0)
        return table[fine.long()]
    if isinstance(fine, np.ndarray):
        if fine.size:
            _check_range(int(fine.min()), int(fine.max()))
        return np.asarray(FINE_TO_BODY, dtype=np.int64)[fine.astype(np.int64)]
    value = int(fine)
    _check_range(value, value)
    return FINE_TO_BODY[value]


def _check_range(lo: int, hi: int) -> None:
    if lo < 0 or hi >= NUM_CLASSES:
        raise ValueError(f"fine label out of range 0..{NUM_CLASSES - 1}: got values in [{lo}, {hi}]")


def fine_ids_of_body(body: int) -> range:
    """The fine ids that belong to body part ``body``."""
    return range(_BODY_START[body], _BODY_START[body + 1])

