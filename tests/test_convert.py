"""Converters: the official MANet checkpoint (mmaction2 names) and torchvision ImageNet ResNets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torchvision.models import resnet18

from ma52lib.models.convert import (
    load_official_checkpoint,
    load_torchvision_resnet,
    official_key_to_ours,
    read_state_dict,
)
from ma52lib.models.manet import MANet

T = 2

# Our name -> official name, written independently of convert.py from the authors' ResNetTSM /
# MANetHead source (ConvModule .conv/.bn; TSM wraps conv1.conv as `.net`, SE is `.fcce`).
_TO_OFFICIAL = [
    (r"backbone\.conv1\.weight", "backbone.conv1.conv.weight"),
    (r"backbone\.bn1\.(\w+)", r"backbone.conv1.bn.\1"),
    (r"backbone\.(layer\d\.\d+)\.se\.fc1\.weight", r"backbone.\1.conv1.conv.fcce.0.weight"),
    (r"backbone\.(layer\d\.\d+)\.se\.fc2\.weight", r"backbone.\1.conv1.conv.fcce.2.weight"),
    (r"backbone\.(layer\d\.\d+)\.block\.conv1\.weight", r"backbone.\1.conv1.conv.net.weight"),
    (r"backbone\.(layer\d\.\d+)\.block\.conv(\d)\.weight", r"backbone.\1.conv\2.conv.weight"),
    (r"backbone\.(layer\d\.\d+)\.block\.bn(\d)\.(\w+)", r"backbone.\1.conv\2.bn.\3"),
    (r"backbone\.(layer\d\.\d+)\.block\.downsample\.0\.weight", r"backbone.\1.downsample.conv.weight"),
    (r"backbone\.(layer\d\.\d+)\.block\.downsample\.1\.(\w+)", r"backbone.\1.downsample.bn.\2"),
    (r"head\.(fc_cls|fc_emb|fc_emb_t)\.(weight|bias)", r"cls_head.\1.\2"),
]


def _to_official(key: str) -> str:
    for pattern, target in _TO_OFFICIAL:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, target, key)
    raise AssertionError(f"no official name for {key}")


def _randomised(model: MANet) -> MANet:
    """Random weights and BN statistics, so a wrong mapping cannot go unnoticed."""
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                positive = "running_var" in name
                tensor.copy_(torch.rand_like(tensor) + 0.5 if positive else torch.randn_like(tensor) * 0.1)
    return model.eval()


def _official_checkpoint(model: MANet, path: Path, extra: dict | None = None) -> dict[str, torch.Tensor]:
    state = {_to_official(k): v.clone() for k, v in model.state_dict().items()}
    for name, block in model.backbone.named_modules():
        if name.count(".") == 1 and name.startswith("layer"):  # each residual block: the dead ACTION-Net layers
            c = block.block.conv1.in_channels
            state[f"backbone.{name}.conv1.conv.action_p2_squeeze.weight"] = torch.randn(c // 4, c, 1, 1)
            state[f"backbone.{name}.conv1.conv.action_p2_conv1.weight"] = torch.randn(c // 4, c // 4, 3)
            state[f"backbone.{name}.conv1.conv.action_p2_expand.weight"] = torch.randn(c, c // 4, 1, 1)
    state.update(extra or {})
    torch.save({"state_dict": state, "meta": {"epoch": 80, "mmcv_version": "1.7.0"}}, path)
    return state


@pytest.mark.parametrize(
    "official,ours",
    [
        ("backbone.conv1.conv.weight", "backbone.conv1.weight"),
        ("backbone.conv1.bn.running_var", "backbone.bn1.running_var"),
        ("backbone.layer1.0.conv1.conv.net.weight", "backbone.layer1.0.block.conv1.weight"),
        ("backbone.layer3.5.conv3.conv.weight", "backbone.layer3.5.block.conv3.weight"),
        ("backbone.layer3.5.conv2.bn.bias", "backbone.layer3.5.block.bn2.bias"),
        ("backbone.layer2.0.conv1.conv.fcce.0.weight", "backbone.layer2.0.se.fc1.weight"),
        ("backbone.layer2.0.conv1.conv.fcce.2.weight", "backbone.layer2.0.se.fc2.weight"),
        ("backbone.layer4.0.downsample.conv.weight", "backbone.layer4.0.block.downsample.0.weight"),
        ("backbone.layer4.0.downsample.bn.num_batches_tracked",
         "backbone.layer4.0.block.downsample.1.num_batches_tracked"),
        ("cls_head.fc_emb_t.bias", "head.fc_emb_t.bias"),
        ("backbone.layer1.0.conv1.conv.action_p2_squeeze.weight", None),  # dropped, never mapped
        ("neck.something.weight", None),
    ],
)
def test_official_key_names_from_the_authors_code(official: str, ours: str | None) -> None:
    assert official_key_to_ours(official) == ours


@pytest.mark.parametrize("depth,width", [(18, 16), (50, 8)])
def test_official_checkpoint_round_trip(tmp_path: Path, depth: int, width: int) -> None:
    source = _randomised(MANet(num_classes=52, num_segments=T, depth=depth, width=width))
    path = tmp_path / "manet_official.pth"
    state = _official_checkpoint(source, path)

    target = MANet(num_classes=52, num_segments=T, depth=depth, width=width).eval()
    report = load_official_checkpoint(target, path)
    assert report.ok and not report.missing and not report.unexpected
    assert len(report.dropped) == 3 * sum(len(getattr(source.backbone, f"layer{i}")) for i in range(1, 5))
    assert len(report.loaded) + len(report.dropped) == len(state)
    x = torch.randn(2, T, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(target(x, return_embedding=True), source(x, return_embedding=True), strict=True):
            assert torch.equal(a, b)


def test_missing_unknown_and_misshapen_keys(tmp_path: Path) -> None:
    source = _randomised(MANet(num_classes=52, num_segments=T, depth=18, width=16))
    path = tmp_path / "partial.pth"
    state = _official_checkpoint(source, path, extra={"neck.fc.weight": torch.zeros(1)})
    del state["cls_head.fc_emb.weight"]
    torch.save({"state_dict": state}, path)

    expected = r"(?s)missing in the file \(1\): head\.fc_emb\.weight.*not understood \(1\): neck\.fc\.weight"
    with pytest.raises(ValueError, match=expected):
        load_official_checkpoint(MANet(num_classes=52, num_segments=T, depth=18, width=16), path)
    report = load_official_checkpoint(MANet(num_classes=52, num_segments=T, depth=18, width=16), path, strict=False)
    assert report.missing == ["head.fc_emb.weight"] and report.unexpected == ["neck.fc.weight"] and not report.ok

    with pytest.raises(ValueError, match=r"wrong shape.*head\.fc_cls\.weight: file \(52, 128\) vs model \(10, 128\)"):
        load_official_checkpoint(MANet(num_classes=10, num_segments=T, depth=18, width=16), path, strict=False)
    with pytest.raises(ValueError, match="not understood"):  # SE weights have nowhere to go
        load_official_checkpoint(MANet(num_classes=52, num_segments=T, depth=18, width=16, se=False), path)


class _Opaque:  # a Python object inside 'meta', as mmcv writes (e.g. a config object)
    pass


def test_non_tensor_meta_gives_an_actionable_message(tmp_path: Path) -> None:
    path = tmp_path / "with_meta.pth"
    torch.save({"state_dict": {"a": torch.zeros(1)}, "meta": {"config": _Opaque()}}, path)
    with pytest.raises(ValueError, match=r"(?s)_Opaque.*weights_only=True.*torch.save\(c\['state_dict'\]"):
        read_state_dict(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_state_dict(tmp_path / "absent.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"no checkpoint here")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        read_state_dict(garbage)


def test_ddp_prefix_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "ddp.pth"
    torch.save({"module.cls_head.fc_cls.bias": torch.zeros(3)}, path)
    assert list(read_state_dict(path)) == ["cls_head.fc_cls.bias"]


def test_torchvision_imagenet_init(tmp_path: Path) -> None:
    reference = resnet18().eval()  # random weights stand in for the ImageNet file
    with torch.no_grad():
        for bn in (m for m in reference.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)

    tsn = MANet(num_segments=T, depth=18, se=False, tsm=False, pretrained=path).eval()
    x = torch.randn(1, T, 3, 32, 32)
    reference.fc = torch.nn.Identity()
    with torch.no_grad():
        assert torch.allclose(tsn.frame_features(x)[0], reference(x[0]), atol=1e-5)

    manet = MANet(num_segments=T, depth=18)
    se_before = manet.backbone.layer3[1].se.fc1.weight.clone()
    report = load_torchvision_resnet(manet, path)
    assert sorted(report.dropped) == ["fc.bias", "fc.weight"] and report.ok
    assert torch.equal(manet.backbone.layer3[1].block.conv2.weight, reference.layer3[1].conv2.weight)
    assert torch.equal(manet.backbone.layer3[1].se.fc1.weight, se_before)  # SE keeps its own init


def test_torchvision_file_must_match_the_backbone(tmp_path: Path) -> None:
    state = resnet18().state_dict()
    state.pop("layer2.1.conv2.weight")
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"missing in the file \(1\): backbone\.layer2\.1\.block\.conv2\.weight"):
        MANet(num_segments=T, depth=18, pretrained=path)
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"not understood \(1\): extra\.weight"):
        load_torchvision_resnet(MANet(num_segments=T, depth=18), path)
    with pytest.raises(ValueError, match="wrong shape.*same depth and width=64"):
        MANet(num_segments=T, depth=18, width=32, pretrained=tmp_path / "broken.pth")
