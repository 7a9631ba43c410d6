"""ma52lib.models.conv3d_guard: right bf16 weight gradients where CPU oneDNN gets them wrong."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ma52lib.models import build_model
from ma52lib.models.conv3d_guard import GuardedConv3d, guard_conv3d


def _weight_grad(conv: nn.Conv3d, x: torch.Tensor, bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
    conv.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = conv(x)
    out.float().sum().backward()
    return out, conv.weight.grad.clone()


@pytest.mark.parametrize("frames, kernel, padding", [(2, 3, 1), (2, (3, 1, 1), (1, 0, 0)), (4, 5, 2)])
def test_short_clips_get_the_fp32_weight_gradient(frames, kernel, padding) -> None:
    torch.manual_seed(0)
    conv = guard_conv3d(nn.Sequential(nn.Conv3d(16, 32, kernel, padding=padding)))[0]
    x = torch.randn(4, 16, frames, 5, 5)
    out, grad = _weight_grad(conv, x, bf16=True)
    assert out.dtype == torch.float32  # this case left autocast
    _, reference = _weight_grad(conv, x, bf16=False)
    assert torch.isfinite(grad).all()
    assert torch.allclose(grad, reference, rtol=1e-4, atol=1e-4)


def test_other_shapes_keep_bf16() -> None:
    torch.manual_seed(0)
    conv = guard_conv3d(nn.Sequential(nn.Conv3d(8, 8, 3, padding=1)))[0]
    out, grad = _weight_grad(conv, torch.randn(2, 8, 4, 6, 6), bf16=True)
    assert out.dtype == torch.bfloat16
    _, reference = _weight_grad(conv, torch.randn(2, 8, 4, 6, 6), bf16=False)
    assert torch.isfinite(grad).all() and grad.shape == reference.shape


def test_guard_keeps_parameters_and_state_dict() -> None:
    plain = nn.Sequential(nn.Conv3d(3, 4, 3), nn.Conv2d(3, 4, 3))
    keys = list(plain.state_dict())
    guarded = guard_conv3d(plain)
    assert type(guarded[0]) is GuardedConv3d and type(guarded[1]) is nn.Conv2d
    assert list(guarded.state_dict()) == keys


@pytest.mark.parametrize("name, size", [("c3d", "cpu"), ("r2plus1d", "tiny")])
def test_3d_models_train_in_bf16(name: str, size: str) -> None:
    # Unguarded, these produced weight gradients of 1e32-1e36 (on some calls: the wrong values are
    # whatever memory held), so several steps are checked.
    torch.manual_seed(0)
    model = build_model(name, num_classes=52, num_segments=8, size=size)
    assert not any(type(m) is nn.Conv3d for m in model.modules())
    for _ in range(4):
        model.zero_grad()
        x, y = torch.randn(2, model.num_frames, 3, 32, 32), torch.tensor([3, 7])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(x)
        nn.functional.cross_entropy(logits.float(), y).backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and max(float(g.abs().max()) for g in grads) < 1e3
