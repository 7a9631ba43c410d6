"""The repeated-frame check of every inflated start: on a clip of one frame repeated, a video model started from a
2-D network (a ResNet, or its own 2-D twin trained on stills) sees what the 2-D network sees on that frame."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ma52lib.models import build_model, model_facts
from ma52lib.models.manet import build_resnet

SIZE, T = 32, 8


def _still_and_clip(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    frame = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))
    return frame, frame[:, None].expand(2, T, 3, SIZE, SIZE).contiguous()  # [N, 3, H, W], [N, T, 3, H, W]


def _resnet_features(net: nn.Module, frame: torch.Tensor) -> torch.Tensor:
    x = net.maxpool(net.relu(net.bn1(net.conv1(frame))))
    x = net.layer4(net.layer3(net.layer2(net.layer1(x))))
    return x.mean(dim=(2, 3))  # [N, C]


def _randomised(net: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics, so that eval-mode activations test them too."""
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


@pytest.fixture
def resnet_start(tmp_path) -> tuple[nn.Module, str]:
    torch.manual_seed(0)
    net = _randomised(build_resnet(10, 8))
    path = tmp_path / "r10w8.pt"
    torch.save(net.state_dict(), path)
    return net, str(path)


@torch.no_grad()
def test_i3d_inflated_from_the_2d_resnet_sees_the_frame(resnet_start) -> None:
    net, path = resnet_start
    i3d = build_model("i3d", size="tiny", num_segments=T, pretrained=path).eval()
    frame, clip = _still_and_clip()
    x = i3d.backbone.stem(i3d.to_3d(clip))  # [N, C, t, h, w]: interior frames equal the 2-D stem's
    ref = net.maxpool(net.relu(net.bn1(net.conv1(frame))))
    assert torch.allclose(x[:, :, 1], ref, atol=1e-5)  # the 5-frame stem, stride 2: frame 1 reads no padding
    cos = F.cosine_similarity(i3d.features(clip), _resnet_features(net, frame))
    assert (cos > 0.9).all(), cos  # pooled over time: only the edge frames see the zero padding


@torch.no_grad()
def test_slowfast_slow_pathway_is_the_inflated_resnet_and_the_fast_one_a_slice(resnet_start) -> None:
    net, path = resnet_start
    sf = build_model("slowfast", size="tiny", num_segments=T, pretrained=path).eval()
    frame, clip = _still_and_clip()
    seen = {}
    sf.slow.layer2.register_forward_hook(lambda m, i, out: seen.update(res3=out))  # [N, C, T/alpha, h, w]
    slow_features = sf.features(clip)[:, : sf.slow.out_channels]
    # The laterals enter through zero weights (and a new res2 shortcut passes its channels through), so up to
    # res3, where the slow pathway's kernels are 1 frame long, it is the 2-D ResNet on every frame it reads.
    res3 = net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(frame))))))
    assert torch.allclose(seen["res3"][:, :, 1], res3, atol=1e-3)  # BN eps of the new shortcut
    cos = F.cosine_similarity(slow_features, _resnet_features(net, frame))
    assert (cos > 0.9).all(), cos  # res4 and res5 inflate 3-frame kernels: the clip's edges read zero padding
    first = sf.slow.layer1[0].conv1.weight  # [C, C + lateral, 1, 3, 3]
    assert first[:, net.layer1[0].conv1.in_channels:].abs().max() == 0
    fast = sf.fast.conv1.weight  # [C/beta, 3, 5, 7, 7] from the first C/beta filters, inflated
    assert torch.allclose(fast.sum(dim=2), net.conv1.weight[: fast.shape[0]], atol=1e-6)


@pytest.mark.parametrize("name", ["c3d", "r2plus1d", "timesformer", "vswin"])
@torch.no_grad()
def test_still_start_inflates_to_the_clip_model(name: str) -> None:
    assert model_facts(name).still_start
    torch.manual_seed(0)
    model = _randomised(build_model(name, size="tiny", num_segments=T))
    frame, clip = _still_and_clip()
    _, still = model.still_maps(frame)
    model.inflate_still()
    cos = F.cosine_similarity(model.features(clip), still)
    # C3D's 3x3x3 kernels read zero padding at the clip's two temporal edges; the others match exactly.
    assert (cos > (0.9 if name == "c3d" else 0.9999)).all(), cos
