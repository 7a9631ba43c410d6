"""ma52lib.data.sampling against mmaction2 0.24's SampleFrames rules."""

from __future__ import annotations

import numpy as np
import pytest

from ma52lib.data.sampling import dense_indices, tsn_test_indices, tsn_train_indices


@pytest.mark.parametrize("num_frames", [8, 9, 45, 60, 75])
def test_train_indices_fall_inside_their_segments(num_frames: int) -> None:
    avg = num_frames // 8
    seen = set()
    for seed in range(200):
        idx = tsn_train_indices(num_frames, 8, np.random.default_rng(seed))
        assert idx.shape == (8,) and idx.dtype == np.int64
        segment = np.arange(8) * avg
        assert np.all(idx >= segment) and np.all(idx < segment + avg)
        seen.add(tuple(idx))
    # The offset is random: with avg >= 2 many different draws appear, with avg == 1 exactly one.
    assert (len(seen) > 50) if avg >= 2 else (seen == {tuple(range(8))})


def test_train_indices_depend_only_on_the_rng() -> None:
    a = tsn_train_indices(60, 8, np.random.default_rng([0, 3, 17]))
    b = tsn_train_indices(60, 8, np.random.default_rng([0, 3, 17]))
    c = tsn_train_indices(60, 8, np.random.default_rng([0, 4, 17]))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_fewer_frames_than_segments_spread_like_mmaction() -> None:
    # mmaction: around(arange(8) * n / 8) (round half to even), then wrapped modulo n.
    rng = np.random.default_rng(0)
    assert tsn_train_indices(4, 8, rng).tolist() == [0, 0, 1, 2, 2, 2, 3, 0]
    assert tsn_train_indices(3, 8, rng).tolist() == [0, 0, 1, 1, 2, 2, 2, 0]
    assert tsn_train_indices(1, 8, rng).tolist() == [0] * 8
    assert tsn_test_indices(1, 8).tolist() == [0] * 8
    assert tsn_test_indices(4, 8).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_test_indices_are_segment_centres() -> None:
    # int(avg / 2 + avg * i) with avg = frames / 8.
    assert tsn_test_indices(60, 8).tolist() == [3, 11, 18, 26, 33, 41, 48, 56]
    assert tsn_test_indices(45, 8).tolist() == [2, 8, 14, 19, 25, 30, 36, 42]
    assert tsn_test_indices(8, 8).tolist() == list(range(8))
    assert tsn_test_indices(75, 8).tolist() == [4, 14, 23, 32, 42, 51, 60, 70]


def test_dense_indices() -> None:
    # Test time: centred start int((n - L*k + 1) / 2).
    assert dense_indices(60, 16, 2, train=False).tolist() == list(range(14, 46, 2))
    assert dense_indices(16, 16, 1, train=False).tolist() == list(range(16))
    for seed in range(50):
        idx = dense_indices(60, 16, 2, train=True, rng=np.random.default_rng(seed))
        assert 0 <= idx[0] <= 60 - 32 and np.all(np.diff(idx) == 2) and idx[-1] <= 59
    # Too short: repeat the last frame instead of wrapping to the start.
    assert dense_indices(5, 8, 1, train=True, rng=np.random.default_rng(0)).tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    assert dense_indices(1, 4, 2, train=False).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="rng"):
        dense_indices(60, 16, 1, train=True)


@pytest.mark.parametrize("num_frames", range(1, 40))
def test_indices_always_in_range(num_frames: int) -> None:
    rng = np.random.default_rng(num_frames)
    for idx in (
        tsn_train_indices(num_frames, 8, rng),
        tsn_test_indices(num_frames, 8),
        dense_indices(num_frames, 16, 2, train=True, rng=rng),
        dense_indices(num_frames, 16, 2, train=False),
    ):
        assert idx.min() >= 0 and idx.max() <= num_frames - 1


def test_empty_video_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        tsn_test_indices(0, 8)
