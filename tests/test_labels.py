"""ma52lib.labels: the fixed fine -> body map."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ma52lib.labels import (
    BODY_PARTS,
    FINE_CLASSES,
    FINE_TO_BODY,
    REAL_TRAIN_COUNTS,
    REAL_VAL_COUNTS,
    body_of,
    fine_ids_of_body,
)

# The ranges of the facts file, written out independently of labels.py.
RANGES = {0: (0, 4), 1: (5, 10), 2: (11, 23), 3: (24, 31), 4: (32, 37), 5: (38, 47), 6: (48, 51)}


def test_every_fine_id_maps_to_its_body_part() -> None:
    for body, (lo, hi) in RANGES.items():
        for fine in range(lo, hi + 1):
            assert body_of(fine) == body
            assert FINE_TO_BODY[fine] == body
        assert list(fine_ids_of_body(body)) == list(range(lo, hi + 1))
    assert len(FINE_CLASSES) == 52 and len(BODY_PARTS) == 7 and len(FINE_TO_BODY) == 52


def test_body_of_keeps_the_input_type() -> None:
    fine = np.arange(52)
    as_numpy = body_of(fine)
    as_torch = body_of(torch.arange(52))
    assert isinstance(as_numpy, np.ndarray) and isinstance(as_torch, torch.Tensor)
    assert as_numpy.tolist() == as_torch.tolist() == [body_of(int(i)) for i in fine]
    assert isinstance(body_of(np.int64(9)), int) and body_of(np.int64(9)) == 1
    assert body_of(np.zeros(0, dtype=np.int64)).shape == (0,)


@pytest.mark.parametrize("bad", [-1, 52, 100])
def test_out_of_range_fine_id_is_an_error(bad: int) -> None:
    with pytest.raises(ValueError, match="0..51"):
        body_of(bad)
    with pytest.raises(ValueError):
        body_of(np.array([0, bad]))
    with pytest.raises(ValueError):
        body_of(torch.tensor([bad, 3]))


def test_real_counts_match_the_published_split_sizes() -> None:
    assert sum(REAL_TRAIN_COUNTS) == 11250
    assert sum(REAL_VAL_COUNTS) == 5586
