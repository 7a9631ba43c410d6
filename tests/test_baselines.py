"""The nine baselines: each builds through build_model and its paper size has the published parameter
count; their parts (interlaced shift, inflated and image-pretrained weights) behave. The model contract
they share with MANet is tested in test_models.py."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import resnet18
from torchvision.models.video import R2Plus1D_18_Weights, Swin3D_T_Weights

from ma52lib.models import available_models, build_model
from ma52lib.models.baselines import BASELINES
from ma52lib.models.baselines.tsn_tsm_tin import TemporalInterlace, interlace_shift

NAMES = list(BASELINES)
SIZE = 32  # frame side of the tiny clips (the `tiny` presets fit 32 px)


def test_every_baseline_is_registered() -> None:
    assert set(NAMES) <= set(available_models())
    assert set(NAMES) <= set(PAPER_PARAMS)  # each has its published parameter count


# The model contract (forward, backward with a gradient for every parameter, features, bf16, Grad-CAM
# layer) is tested for every model build_model knows, MANet included, in test_models.py.


def test_num_segments_sets_the_clip_length() -> None:
    for name in ("i3d", "slowfast", "timesformer", "tin"):
        model = build_model(name, size="tiny", num_segments=16)
        assert model.num_frames == 16
        assert model(torch.randn(1, 16, 3, SIZE, SIZE)).shape == (1, 52)
    # Dense intervals keep the paper's span (capped at 64 frames): I3D 32x2 -> 8 frames every 8th.
    assert build_model("i3d", size="tiny", num_segments=8).frame_interval == 8
    assert build_model("c3d", size="tiny", num_segments=16).frame_interval == 1


def test_overrides_and_clear_errors() -> None:
    narrow = build_model("c3d", size="tiny", width=2)
    wide = build_model("c3d", size="tiny", width=8)
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in wide.parameters())
    with pytest.raises(TypeError, match="unknown option"):
        build_model("i3d", size="tiny", colour=True)
    with pytest.raises(ValueError, match="unknown size"):
        build_model("vswin", size="huge")
    timesformer = build_model("timesformer", size="tiny")  # patch 8
    with pytest.raises(ValueError, match="multiples of 8"):
        timesformer(torch.randn(1, 8, 3, 30, 30))
    with pytest.raises(ValueError, match=r"\[N, T, 3, H, W\]"):
        build_model("c3d", size="tiny")(torch.randn(1, 3, 8, SIZE, SIZE))
    with pytest.raises(ValueError, match="multiple of alpha"):
        build_model("slowfast", size="tiny", num_segments=10, alpha=4)
    with pytest.raises(ValueError, match="alpha=2"):
        build_model("slowfast", size="tiny")(torch.randn(1, 7, 3, SIZE, SIZE))


def test_interlace_shift_is_linear_interpolation_in_time() -> None:
    x = torch.arange(5.0).view(1, 5, 1, 1, 1).repeat(1, 1, 2, 1, 1)  # frame t holds value t
    offsets = torch.tensor([[1.0, -0.5]])  # group 0: from t-1; group 1: half way to t+1
    out = interlace_shift(x, offsets)[0, :, :, 0, 0]
    assert out[:, 0].tolist() == [0.0, 0.0, 1.0, 2.0, 3.0]  # zero where t-1 is outside the clip
    assert out[:, 1].tolist() == [0.5, 1.5, 2.5, 3.5, 2.0]  # last frame: 0.5 * x[4] + 0.5 * 0

    tin = TemporalInterlace(channels=16, num_segments=4)
    frames = torch.randn(2 * 4, 16, 3, 3, requires_grad=True)
    shifted = tin(frames)
    assert shifted.shape == frames.shape
    assert torch.equal(shifted[:, 4:], frames[:, 4:])  # only the first C/4 channels are interlaced
    shifted.sum().backward()
    assert tin.offset_net.fc2.weight.grad.abs().sum() > 0  # the offsets are learned


def test_pretrained_2d_resnet_is_inflated(tmp_path) -> None:
    torch.save(resnet18(weights=None).state_dict(), tmp_path / "r18.pth")
    i3d = build_model("i3d", size="tiny", depth=18, width=64, pretrained=str(tmp_path / "r18.pth"))
    source = torch.load(tmp_path / "r18.pth", weights_only=True)
    stem = i3d.backbone.conv1.weight  # [64, 3, 5, 7, 7] from [64, 3, 7, 7]
    assert torch.allclose(stem.sum(dim=2), source["conv1.weight"], atol=1e-6)
    assert torch.equal(i3d.backbone.layer2[0].bn1.running_var, source["layer2.0.bn1.running_var"])
    tsn = build_model("tsn", size="tiny", depth=18, width=64, pretrained=str(tmp_path / "r18.pth"))
    assert torch.equal(tsn.backbone.conv1.weight, source["conv1.weight"])
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        build_model("c3d", size="tiny", pretrained=str(tmp_path / "missing.pth"))


def test_timesformer_from_an_image_vit(tmp_path) -> None:
    vit = build_model("timesformer", size="tiny").state_dict()
    image_only = {k: v for k, v in vit.items() if ".temporal_" not in k and k != "time_embed"}
    torch.save(image_only, tmp_path / "vit.pth")
    model = build_model("timesformer", size="tiny", pretrained=str(tmp_path / "vit.pth"))
    assert torch.equal(model.pos_embed, vit["pos_embed"])
    # As the official code: temporal attention starts as a copy of the spatial attention.
    assert torch.equal(model.blocks[1].temporal_attn.qkv.weight, vit["blocks.1.attn.qkv.weight"])


def _c3d_reference(num_classes: int) -> int:
    # Tran et al. 2015, Fig. 3: eight 3x3x3 convs with bias, fc6 on pool5 (512 x 1 x 4 x 4), fc7 4096.
    chans = [3, 64, 128, 256, 256, 512, 512, 512, 512]
    convs = sum(cin * cout * 27 + cout for cin, cout in zip(chans, chans[1:]))
    return convs + (8192 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * num_classes + num_classes)


def _to_52(count_400: float, feature_dim: int) -> float:
    # Published counts have a 400-way Kinetics classifier; ours is 52-way.
    return count_400 - (400 - 52) * (feature_dim + 1)


# Published parameter counts of the paper sizes (400 classes unless stated), moved to 52 classes.
PAPER_PARAMS = {
    # ResNet-50 (23,508,032 without fc) + 2048x400 fc: TSN/TSM R50 24.3M (mmaction2 model zoo).
    "tsn": _to_52(24.3e6, 2048),
    "tsm": _to_52(24.3e6, 2048),
    # TIN R50: no published count; TSM's, as TIN only adds the tiny offset/weight nets (~0.03M).
    "tin": _to_52(24.3e6, 2048),
    # C3D: computed from the architecture with a 52-way fc8 (78,208,820; 79,991,015 with 487 classes).
    "c3d": _c3d_reference(52),
    # I3D ResNet-50 (mmaction2 i3d_r50): 28.0M.
    "i3d": _to_52(28.0e6, 2048),
    # R(2+1)D-18: torchvision's own record (31,505,325).
    "r2plus1d": _to_52(R2Plus1D_18_Weights.KINETICS400_V1.meta["num_params"], 512),
    # SlowFast R50 4x16 (slow 2048 + fast 256 features): 34.5M.
    "slowfast": _to_52(34.5e6, 2304),
    # TimeSformer (divided space-time, ViT-B/16): 121.4M (Bertasius et al. 2021, Table 1).
    "timesformer": _to_52(121.4e6, 768),
    # Video Swin-T: 28.2M; torchvision's record of swin3d_t (28,158,070).
    "vswin": _to_52(Swin3D_T_Weights.KINETICS400_V1.meta["num_params"], 768),
}


@pytest.mark.parametrize("name", NAMES)
def test_paper_size_parameter_count(name: str) -> None:
    with torch.device("meta"):  # count without allocating or initialising 120M weights
        model = build_model(name, size="paper")
    count = sum(p.numel() for p in model.parameters())
    reference = PAPER_PARAMS[name]
    assert abs(count - reference) / reference < 0.05, f"{name}: {count:,} parameters vs reference {reference:,.0f}"
