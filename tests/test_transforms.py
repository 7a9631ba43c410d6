"""ma52lib.data.transforms: one crop and one flip per clip, mmaction's crop geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ma52lib.data.transforms import MEAN, STD, ClipTransform, center_crop_box, multi_scale_crop_box, short_side_size


def _clip(t: int = 4, h: int = 40, w: int = 30, same: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if same:
        return torch.randint(0, 256, (1, 3, h, w), dtype=torch.uint8, generator=g).expand(t, 3, h, w)
    return torch.randint(0, 256, (t, 3, h, w), dtype=torch.uint8, generator=g)


def test_shapes_and_dtype() -> None:
    for train in (True, False):
        out = ClipTransform(train=train, short_side=32, crop_size=28)(_clip(), np.random.default_rng(0))
        assert out.shape == (4, 3, 28, 28) and out.dtype == torch.float32


def test_one_crop_and_flip_for_all_frames() -> None:
    transform = ClipTransform(train=True, short_side=32, crop_size=24)
    flips = set()
    for seed in range(20):
        out = transform(_clip(t=5, same=True), np.random.default_rng(seed))
        assert all(torch.equal(out[0], out[t]) for t in range(1, 5))
        # Is this the flipped version of the unflipped draw? Re-run with flip off, same rng stream.
        plain = ClipTransform(train=True, short_side=32, crop_size=24, flip=False)(
            _clip(t=5, same=True), np.random.default_rng(seed)
        )
        flips.add(bool(torch.equal(out, plain.flip(-1))) and not torch.equal(out, plain))
        assert torch.equal(out, plain) or torch.equal(out, plain.flip(-1))
    assert flips == {True, False}  # both outcomes happen over 20 seeds


def test_same_rng_same_output_and_no_global_rng() -> None:
    transform = ClipTransform(train=True, short_side=32, crop_size=24)
    a = transform(_clip(), np.random.default_rng(7))
    torch.manual_seed(123)
    np.random.seed(123)
    b = transform(_clip(), np.random.default_rng(7))
    assert torch.equal(a, b)


def test_eval_is_a_deterministic_centre_crop() -> None:
    clip = _clip(h=40, w=30)
    transform = ClipTransform(train=False, short_side=30, crop_size=24)
    a = transform(clip, np.random.default_rng(0))
    b = transform(clip, np.random.default_rng(99))
    assert torch.equal(a, b)
    # short side already 30: no resize, crop rows 8..32, cols 3..27, then normalise.
    expected = (clip[:, :, 8:32, 3:27].float() - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    assert torch.allclose(a, expected, atol=1e-5)


def test_centre_training_crop_is_the_evaluation_crop() -> None:
    clip = _clip(h=40, w=30)
    evaluation = ClipTransform(train=False, short_side=32, crop_size=24)(clip, np.random.default_rng(0))
    plain = ClipTransform(train=True, short_side=32, crop_size=24, multiscale=False, flip=False)
    flipped = ClipTransform(train=True, short_side=32, crop_size=24, multiscale=False)
    outcomes = set()
    for seed in range(12):
        assert torch.equal(plain(clip, np.random.default_rng(seed)), evaluation)
        out = flipped(clip, np.random.default_rng(seed))
        assert torch.equal(out, evaluation) or torch.equal(out, evaluation.flip(-1))
        outcomes.add(torch.equal(out, evaluation))
    assert outcomes == {True, False}


def test_resize_alone_is_frame_by_frame() -> None:
    transform = ClipTransform(train=True, short_side=20, crop_size=16)
    clip = _clip(t=6, h=40, w=30)
    whole = transform.resize(clip)
    assert whole.shape == (6, 3, 27, 20)
    assert torch.equal(whole[[1, 4]], transform.resize(clip[[1, 4]]))
    assert transform.resize(whole) is whole  # already at the short side: untouched


def test_geometry_matches_mmaction() -> None:
    assert short_side_size(1296, 1080, 256) == (307, 256)  # portrait MA-52 frames
    assert short_side_size(48, 64, 256) == (256, 341)
    assert center_crop_box(307, 256, 224) == (41, 16, 224, 224)
    # Short side 256: crop sides int(256 * s) = 256, 224, 192, 168 with |i - j| <= 1 -> 10 shapes;
    # 13 offsets on a quarter grid of the leftover room.
    shapes, positions = set(), set()
    for seed in range(400):
        top, left, h, w = multi_scale_crop_box(307, 256, 224, (1, 0.875, 0.75, 0.66), np.random.default_rng(seed))
        shapes.add((h, w))
        h_step, w_step = (307 - h) // 4, (256 - w) // 4
        assert top + h <= 307 and left + w <= 256
        if h_step and w_step:
            assert top % h_step == 0 and left % w_step == 0
            positions.add((top // h_step, left // w_step))
    sides = (256, 224, 192, 168)
    assert shapes == {(a, b) for i, a in enumerate(sides) for j, b in enumerate(sides) if abs(i - j) <= 1}
    corners_centre = {(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)}
    edges_quarters = {(2, 0), (2, 4), (4, 2), (0, 2), (1, 1), (1, 3), (3, 1), (3, 3)}
    assert positions == corners_centre | edges_quarters


def test_input_checks() -> None:
    with pytest.raises(ValueError, match="permute"):
        ClipTransform(train=False)(torch.zeros(2, 8, 8, 3, dtype=torch.uint8), np.random.default_rng(0))
    with pytest.raises(ValueError, match="larger than short_side"):
        ClipTransform(train=False, short_side=100, crop_size=112)
