"""MANet: parameter counts of the paper config and ablations, SE/TSM placement, the model contract."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from ma52lib.losses import JointEmbeddingLoss
from ma52lib.models import build_model
from ma52lib.models.manet import MANet, TemporalBlock
from ma52lib.models.se import SqueezeExcite
from ma52lib.models.tsm import TemporalShift, temporal_shift

T = 4


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _tiny(**options) -> MANet:
    options = {"depth": 18, "width": 16, "num_classes": 5, "num_segments": T, **options}
    return MANet(**options)


def _clips(n: int = 2, size: int = 32) -> torch.Tensor:
    return torch.randn(n, T, 3, size, size)


# --- parameter counts (build only, no forward at 224) ---


def test_paper_config_parameter_count() -> None:
    model = build_model("manet", num_classes=52, num_segments=8)
    assert _count(model) == 32_284_252
    # Every parameter is used: no dead layers (the official action_p2_* are not built).
    assert not any("action_p2" in name for name, _ in model.named_parameters())


def test_ablation_switches_change_parameter_count_by_expected_amounts() -> None:
    full = _count(MANet())
    se_params = 7_964_672  # sum over the 16 bottlenecks of 2 * C * C/4
    emb_params = 2048 * 300 + 300 + 300 * 300 + 300  # fc_emb + fc_emb_t = 705,000
    assert full - _count(MANet(se=False)) == se_params
    assert full - _count(MANet(embedding=False)) == emb_params
    assert full == _count(MANet(tsm=False))  # the shift has no parameters
    tsn = MANet(se=False, tsm=False, embedding=False)
    assert _count(tsn) == 23_508_032 + 2048 * 52 + 52  # torchvision ResNet-50 without fc + fc_cls


def test_r101_wraps_every_second_block_like_official_resnet_tsm() -> None:
    model = MANet(depth=101, width=8, num_segments=T)
    blocks = [b for b in model.backbone.modules() if isinstance(b, TemporalBlock)]
    wrapped = [b for b in blocks if isinstance(b.se, SqueezeExcite)]
    shifted = [b for b in blocks if isinstance(b.temporal, TemporalShift)]
    assert len(wrapped) == len(shifted) == 2 + 2 + 12 + 2  # blocks 0, 2, ... of stages (3, 4, 23, 3)


# --- placement of SE and shift ---


@pytest.mark.parametrize("block", [BasicBlock(16, 16), Bottleneck(32, 8)])
def test_temporal_block_without_extras_equals_torchvision_block(block: nn.Module) -> None:
    block.eval()
    x = torch.randn(T, block.conv1.in_channels, 6, 6)
    with torch.no_grad():
        assert torch.allclose(TemporalBlock(block)(x), block(x))


@pytest.mark.parametrize("depth,width", [(18, 16), (50, 8)])
def test_se_then_shift_feed_conv1_while_identity_sees_raw_input(depth: int, width: int) -> None:
    model = _tiny(depth=depth, width=width).eval()
    seen: dict[str, torch.Tensor] = {}

    def keep(name: str, use_output: bool = False):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:  # returning None keeps the output
            seen[name] = (output if use_output else args[0]).detach().clone()

        return hook

    first = model.backbone.layer2[0]  # has a downsample path
    assert first.block.downsample is not None
    first.register_forward_hook(keep("block_in"))
    first.se.register_forward_hook(keep("se_in"))
    first.se.register_forward_hook(keep("se_out", use_output=True))
    first.block.conv1.register_forward_hook(keep("conv1_in"))
    first.block.downsample.register_forward_hook(keep("downsample_in"))
    with torch.no_grad():
        model(_clips())

    block_in = seen["block_in"]
    assert block_in.shape[0] == 2 * T and block_in.dim() == 4  # SE works per frame on [N*T, C, H, W]
    assert torch.equal(seen["se_in"], block_in)
    assert torch.equal(seen["conv1_in"], temporal_shift(seen["se_out"], T))  # order: SE, shift, conv1
    assert torch.equal(seen["downsample_in"], block_in)  # identity path: unshifted, unscaled
    assert not torch.equal(seen["conv1_in"], block_in)


def test_every_block_is_wrapped_in_paper_config() -> None:
    model = _tiny(depth=50, width=8)
    blocks = [b for b in model.backbone.modules() if isinstance(b, TemporalBlock)]
    assert len(blocks) == 16
    for b in blocks:
        assert isinstance(b.se, SqueezeExcite) and b.se.channels == b.block.conv1.in_channels
        assert b.se.fc1.out_features == b.se.channels // 4 and b.se.fc1.bias is None and b.se.fc2.bias is None
        assert isinstance(b.temporal, TemporalShift) and b.temporal.fold_div == 8


def test_shift_mixes_time_and_tsn_does_not() -> None:
    x = _clips(1)
    reverse = torch.arange(T - 1, -1, -1)
    with torch.no_grad():
        tsn = _tiny(se=False, tsm=False, embedding=False).eval()
        assert torch.allclose(tsn.frame_features(x[:, reverse]), tsn.frame_features(x)[:, reverse], atol=1e-5)
        tsm = _tiny(se=False, tsm=True, embedding=False).eval()
        assert not torch.allclose(tsm.frame_features(x[:, reverse]), tsm.frame_features(x)[:, reverse], atol=1e-3)


def test_temporal_module_factory_is_pluggable() -> None:
    calls: list[tuple[int, int]] = []

    def factory(channels: int, num_segments: int) -> nn.Module:
        calls.append((channels, num_segments))
        return nn.Identity()

    model = _tiny(se=False, tsm=False, embedding=False, temporal_module=factory)
    assert calls == [(16, T), (16, T), (16, T), (32, T), (32, T), (64, T), (64, T), (128, T)]
    assert model(_clips()).shape == (2, 5)
    with pytest.raises(ValueError, match="either tsm=True or temporal_module"):
        _tiny(tsm=True, temporal_module=factory)


# --- the model contract ---


def test_contract_shapes_and_attributes() -> None:
    model = _tiny(emb_dim=7).eval()
    x = _clips()
    with torch.no_grad():
        logits = model(x)
        logits2, emb = model(x, return_embedding=True)
        feats = model.features(x)
    assert logits.shape == (2, 5) and torch.equal(logits, logits2)
    assert emb is not None and emb.shape == (2, 7)
    assert feats.shape == (2, model.num_features) == (2, 128)
    assert (model.num_frames, model.sampling, model.frame_interval, model.has_embedding) == (T, "tsn", 1, True)
    no_emb = _tiny(embedding=False).eval()
    assert not no_emb.has_embedding
    with torch.no_grad():
        assert no_emb(x, return_embedding=True)[1] is None


def test_head_is_per_frame_then_averaged_with_small_init() -> None:
    model = _tiny().eval()
    for layer in (model.head.fc_cls, model.head.fc_emb, model.head.fc_emb_t):
        assert torch.all(layer.bias == 0) and 0.0005 < layer.weight.std().item() < 0.002
    x = _clips()
    with torch.no_grad():
        frames = model.frame_features(x)
        logits, emb = model(x, return_embedding=True)
        head = model.head
        assert torch.allclose(logits, head.fc_cls(frames).mean(1), atol=1e-6)
        assert torch.allclose(emb, head.fc_emb_t(torch.tanh(head.fc_emb(frames))).mean(1), atol=1e-6)
    # The last nn.Linear in module order is the embedding output layer (the paper's lr quirk).
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert linears[-1] is model.head.fc_emb_t


def test_cam_target_and_reshape() -> None:
    model = _tiny().eval()
    assert model.cam_target_layer is model.backbone.layer4[-1]
    out: list[torch.Tensor] = []
    model.cam_target_layer.register_forward_hook(lambda m, a, o: out.append(o))
    with torch.no_grad():
        model(_clips())
    reshape = pickle.loads(pickle.dumps(model.cam_reshape))  # must survive pickling (DataLoader workers, papermill)
    video = reshape(out[0])
    assert out[0].shape == (2 * T, 128, 1, 1) and video.shape == (2, 128, T, 1, 1)
    assert torch.equal(video[1, :, 2], out[0][1 * T + 2])


def test_wrong_number_of_frames_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"expects clips \[N, T=4, 3, H, W\]"):
        _tiny()(torch.randn(1, 3, 3, 32, 32))
    with pytest.raises(ValueError, match="num_segments=4"):
        _tiny()(torch.randn(4, 3, 32, 32))


def test_one_sgd_step_lowers_the_loss() -> None:
    model = _tiny(dropout=0.0, emb_dim=6).train()
    table = torch.nn.functional.normalize(torch.randn(5, 6), dim=1)
    criterion = JointEmbeddingLoss(table, weight=50.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = _clips(4), torch.tensor([0, 1, 2, 3])

    def loss_value() -> torch.Tensor:
        logits, emb = model(x, return_embedding=True)
        return criterion(logits, y, emb)[0]

    before = loss_value()
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = loss_value()
    assert after.item() < before.item() - 1e-3


def test_bf16_autocast_forward() -> None:
    model = _tiny().eval()
    x = _clips()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits, emb = model(x, return_embedding=True)
    assert logits.shape == (2, 5) and emb is not None and emb.shape == (2, 300)
    assert torch.isfinite(logits.float()).all() and torch.isfinite(emb.float()).all()
    with torch.no_grad():
        reference = model.features(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.features(x).float()
    assert torch.allclose(low, reference, rtol=0.1, atol=0.05 * reference.abs().max().item())


def test_channels_last_matches_contiguous() -> None:
    model = _tiny().eval()
    x = _clips()
    with torch.no_grad():
        reference = model(x, return_embedding=True)
        model = model.to(memory_format=torch.channels_last)
        assert model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
        result = model(x, return_embedding=True)
    for a, b in zip(result, reference, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)
