"""Temporal shift: exact per-frame semantics, zero boundaries, purity, memory formats, gradients."""

from __future__ import annotations

import pytest
import torch

from ma52lib.models.tsm import TemporalShift, temporal_shift, tsm_factory


def _reference_shift(x: torch.Tensor, num_segments: int, fold_div: int) -> torch.Tensor:
    """Direct construction, one (clip, frame) at a time."""
    nt, c, h, w = x.shape
    fold = c // fold_div
    out = torch.zeros_like(x)
    for n in range(nt // num_segments):
        for t in range(num_segments):
            i = n * num_segments + t
            if t + 1 < num_segments:
                out[i, :fold] = x[i + 1, :fold]
            if t - 1 >= 0:
                out[i, fold : 2 * fold] = x[i - 1, fold : 2 * fold]
            out[i, 2 * fold :] = x[i, 2 * fold :]
    return out


@pytest.mark.parametrize("num_segments,channels,fold_div", [(4, 16, 8), (3, 12, 4), (1, 8, 8), (5, 20, 8)])
def test_matches_per_frame_construction(num_segments: int, channels: int, fold_div: int) -> None:
    x = torch.randn(2 * num_segments, channels, 3, 2)
    assert torch.equal(temporal_shift(x, num_segments, fold_div), _reference_shift(x, num_segments, fold_div))


def test_fold_semantics_and_zero_boundaries() -> None:
    n, t, c = 2, 4, 16  # fold = 2
    # Every element carries its own frame index + 1, so the source frame of each output is visible.
    x = (torch.arange(t, dtype=torch.float32) + 1).view(1, t, 1, 1, 1).expand(n, t, c, 2, 2).reshape(n * t, c, 2, 2)
    out = temporal_shift(x, t).view(n, t, c, 2, 2)
    for frame in range(t):
        forward = out[:, frame, :2]  # takes frame t+1
        backward = out[:, frame, 2:4]  # takes frame t-1
        assert torch.all(forward == (frame + 2 if frame < t - 1 else 0))
        assert torch.all(backward == (frame if frame > 0 else 0))
        assert torch.all(out[:, frame, 4:] == frame + 1)


def test_does_not_modify_input_and_returns_new_storage() -> None:
    x = torch.randn(8, 16, 4, 4)
    before = x.clone()
    out = temporal_shift(x, 4)
    assert torch.equal(x, before)
    assert out.data_ptr() != x.data_ptr()
    out.add_(1.0)  # writing to the output must not reach the input either
    assert torch.equal(x, before)


def test_channels_last_input() -> None:
    x = torch.randn(8, 16, 5, 3)
    out = temporal_shift(x.contiguous(memory_format=torch.channels_last), 4)
    assert torch.equal(out, temporal_shift(x, 4))
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_gradient_is_the_reverse_shift() -> None:
    x = torch.randn(6, 8, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: temporal_shift(v, 3), (x,))


def test_small_channel_count_is_identity() -> None:
    x = torch.randn(4, 7, 2, 2)  # fold = 7 // 8 = 0: nothing to shift
    assert torch.equal(temporal_shift(x, 2), x)


def test_batch_not_multiple_of_segments_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a multiple of num_segments=4"):
        temporal_shift(torch.randn(6, 8, 2, 2), 4)
    with pytest.raises(ValueError, match=r"\[N\*T, C, H, W\]"):
        temporal_shift(torch.randn(2, 4, 8, 2, 2), 4)


def test_module_and_factory_match_function() -> None:
    x = torch.randn(8, 16, 2, 2)
    assert torch.equal(TemporalShift(4)(x), temporal_shift(x, 4))
    module = tsm_factory(16, 4)
    assert isinstance(module, TemporalShift) and module.num_segments == 4 and module.fold_div == 8
    assert sum(p.numel() for p in module.parameters()) == 0


@pytest.mark.parametrize("name", ["manet", "tsm"])
def test_model_shift_div_reaches_every_shift_and_keeps_default_run_names(name: str) -> None:
    from ma52lib.config import config_hash, make_config
    from ma52lib.engine.build import build_model_for

    base = {"model.name": name, "model.pretrained": None}
    default, quarter = make_config("smoke", base), make_config("smoke", {**base, "model.shift_div": 4})
    folds = {m.fold_div for m in build_model_for(quarter).modules() if isinstance(m, TemporalShift)}
    assert folds == {4}
    assert {m.fold_div for m in build_model_for(default).modules() if isinstance(m, TemporalShift)} == {8}
    assert config_hash(default) == config_hash(make_config("smoke", {**base, "model.shift_div": 8}))
    assert config_hash(quarter) != config_hash(default)
    with pytest.raises(ValueError, match="model.shift_div must be at least 2"):
        make_config("smoke", {**base, "model.shift_div": 1})
