"""Converters: the official MANet checkpoint (mmaction2 names, as mmcv 1.6.2 saves it: numpy numbers in
`meta`, the SGD state) and torchvision ImageNet ResNets; what is refused, and how errors name tensors."""

from __future__ import annotations

import collections
import pickle
import re
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models import resnet18

from ma52lib.models.convert import (
    SAFE_NUMPY_GLOBALS,
    load_official_checkpoint,
    load_torchvision_resnet,
    official_key_to_ours,
    official_layout,
    ours_key_to_official,
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


class _Numpy1Pickler(pickle._Pickler):
    """Names numpy's scalar constructor as numpy 1.x does (``numpy.core``), as a file of the official fork's
    era has it; numpy 2 writes ``numpy._core``."""

    def save_global(self, obj, name=None):
        if obj is np._core.multiarray.scalar:
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\nscalar\n")
            self.memoize(obj)
        else:
            super().save_global(obj, name)


NUMPY1 = types.SimpleNamespace(__name__="numpy1_pickle", Pickler=_Numpy1Pickler)  # a pickle_module for torch.save


def _sgd_state(state: dict[str, torch.Tensor]) -> dict:
    """An SGD state_dict over the file's parameters, one step taken (a momentum buffer each), in two groups
    as mmaction's TSM constructor makes them (weights; biases at 2x lr without decay)."""
    params = {k: v.clone().requires_grad_() for k, v in state.items()
              if v.is_floating_point() and "running_" not in k}
    weights = [v for k, v in params.items() if not k.endswith(".bias")]
    biases = [v for k, v in params.items() if k.endswith(".bias")]
    sgd = torch.optim.SGD([{"params": weights}, {"params": biases, "lr": 0.0025, "weight_decay": 0.0}],
                          lr=0.00125, momentum=0.9, weight_decay=1e-4)
    for v in params.values():
        v.grad = torch.randn_like(v)
    sgd.step()
    return sgd.state_dict()


def _official_checkpoint(model: MANet, path: Path, extra: dict | None = None, *,
                         pickle_module=NUMPY1) -> dict[str, torch.Tensor]:
    """``model`` saved as the official fork saves its best checkpoint (mmcv 1.6.2 ``save_checkpoint``): an
    OrderedDict ``state_dict`` in official names with the dead ACTION-Net layers, ``meta`` holding
    EvalHook's ``best_score`` as a numpy.float64, and the SGD ``optimizer`` state."""
    state = collections.OrderedDict((_to_official(k), v.clone()) for k, v in model.state_dict().items())
    for name, block in model.backbone.named_modules():
        if name.count(".") == 1 and name.startswith("layer"):  # each residual block: the dead ACTION-Net layers
            c = block.block.conv1.in_channels
            state[f"backbone.{name}.conv1.conv.action_p2_squeeze.weight"] = torch.randn(c // 4, c, 1, 1)
            state[f"backbone.{name}.conv1.conv.action_p2_conv1.weight"] = torch.randn(c // 4, c // 4, 3)
            state[f"backbone.{name}.conv1.conv.action_p2_expand.weight"] = torch.randn(c, c // 4, 1, 1)
    state.update(extra or {})
    state._metadata = collections.OrderedDict([("", {"version": 2}), ("backbone.conv1.bn", {"version": 2})])
    meta = {"env_info": "sys.platform: linux\nPyTorch: 1.x", "seed": 0, "config_name": "manet.py",
            "work_dir": "work_dirs/manet", "mmaction_version": "0.24.1", "config": "model = dict(...)\n",
            "epoch": 40, "iter": 1000,
            "hook_msgs": {"last_ckpt": "work_dirs/manet/epoch_40.pth",
                          "best_ckpt": "work_dirs/manet/best_top1_acc_epoch_40.pth",
                          "best_score": np.float64(0.5)},
            "mmcv_version": "1.6.2", "time": "Thu Jan  1 00:00:00 2024"}
    torch.save({"meta": meta, "state_dict": state, "optimizer": _sgd_state(state)}, path, pickle_module=pickle_module)
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


@pytest.mark.parametrize("depth,width,pickle_module", [(18, 16, NUMPY1), (50, 8, pickle)])
def test_official_checkpoint_imports_as_mmcv_saved_it(tmp_path: Path, depth: int, width: int, pickle_module) -> None:
    """numpy.float64 in meta (under numpy 1.x's or 2.x's name) and the SGD state: read as they are, weights exact."""
    source = _randomised(MANet(num_classes=52, num_segments=T, depth=depth, width=width))
    path = tmp_path / "best_top1_acc_epoch_40.pth"
    state = _official_checkpoint(source, path, pickle_module=pickle_module)
    scalar = "numpy.core.multiarray.scalar" if pickle_module is NUMPY1 else "numpy._core.multiarray.scalar"
    assert set(torch.serialization.get_unsafe_globals_in_checkpoint(path)) == {"numpy.dtype", scalar}
    with pytest.raises(pickle.UnpicklingError, match="numpy"):  # what the plain safe loader says of it
        torch.load(path, weights_only=True)

    target = MANet(num_classes=52, num_segments=T, depth=depth, width=width).eval()
    report = load_official_checkpoint(target, path)
    assert report.ok and not report.missing and not report.unexpected and not report.unplaced
    assert len(report.dropped) == 3 * sum(len(getattr(source.backbone, f"layer{i}")) for i in range(1, 5))
    assert len(report.loaded) + len(report.dropped) == len(state)
    x = torch.randn(2, T, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(target(x, return_embedding=True), source(x, return_embedding=True), strict=True):
            assert torch.equal(a, b)


def test_paper_size_file_has_the_official_key_count(tmp_path: Path) -> None:
    """404 tensors in the file (facts file); 352 load into MANet without its embedding branch."""
    source = MANet(num_classes=52, num_segments=T, depth=50, width=8)  # the paper's layout, narrow
    path = tmp_path / "best_top1_acc_epoch_40.pth"
    assert len(_official_checkpoint(source, path)) == 404
    report = load_official_checkpoint(MANet(num_segments=T, depth=50, width=8, embedding=False), path)
    assert report.ok and len(report.loaded) == 352 and len(report.dropped) == 52
    assert sorted(k for k in report.dropped if "fc_emb" in k) == [
        "cls_head.fc_emb.bias", "cls_head.fc_emb.weight", "cls_head.fc_emb_t.bias", "cls_head.fc_emb_t.weight"]
    assert "known and unused (52): 48 ACTION-Net layers" in str(report) and "4 embedding branch" in str(report)
    assert official_layout(read_state_dict(path)) == {"depth": 50, "width": 8, "se": True}


def test_the_numpy_allowance_lasts_one_read(tmp_path: Path) -> None:
    path = tmp_path / "numbers.pth"
    numbers = {"f64": np.float64(0.25), "i64": np.int64(-3), "bool": np.bool_(True), "f32": np.float32(2.0)}
    torch.save({"state_dict": {"w": torch.ones(2)}, "meta": numbers}, path, pickle_module=NUMPY1)
    before = set(torch.serialization.get_safe_globals())
    assert torch.equal(read_state_dict(path)["w"], torch.ones(2))
    assert set(torch.serialization.get_safe_globals()) == before
    assert not any(g in before for g in SAFE_NUMPY_GLOBALS)
    with pytest.raises(pickle.UnpicklingError):  # torch.load elsewhere still refuses numpy
        torch.load(path, weights_only=True)


def test_ours_and_official_names_map_both_ways() -> None:
    for model in (MANet(num_segments=T, depth=18, width=16), MANet(num_segments=T, depth=50, width=8)):
        for key in model.state_dict():
            assert ours_key_to_official(key) == _to_official(key)
            assert official_key_to_ours(_to_official(key)) == key


def _tiny_official(tmp_path: Path, name: str = "partial.pth", **extra) -> tuple[Path, collections.OrderedDict]:
    source = _randomised(MANet(num_classes=52, num_segments=T, depth=18, width=16))
    path = tmp_path / name
    return path, _official_checkpoint(source, path, extra=extra or None)


def test_missing_and_unknown_keys_are_named_as_in_the_file(tmp_path: Path) -> None:
    path, state = _tiny_official(tmp_path, **{"neck.fc.weight": torch.zeros(1)})
    del state["cls_head.fc_emb.weight"], state["backbone.layer2.1.conv2.conv.weight"]
    torch.save({"state_dict": state}, path)

    expected = (r"(?s)missing in the file \(2\): backbone\.layer2\.1\.conv2\.conv\.weight "
                r"\(ours: backbone\.layer2\.1\.block\.conv2\.weight\), "
                r"cls_head\.fc_emb\.weight \(ours: head\.fc_emb\.weight\)"
                r".*not understood \(1\): neck\.fc\.weight")
    with pytest.raises(ValueError, match=expected):
        load_official_checkpoint(MANet(num_classes=52, num_segments=T, depth=18, width=16), path)
    report = load_official_checkpoint(MANet(num_classes=52, num_segments=T, depth=18, width=16), path, strict=False)
    assert report.missing == ["backbone.layer2.1.block.conv2.weight", "head.fc_emb.weight"]
    assert report.unexpected == ["neck.fc.weight"] and not report.ok


def test_wrong_shapes_name_both_keys_and_give_set_flags(tmp_path: Path) -> None:
    path, _ = _tiny_official(tmp_path)  # ResNet-18, width 16, SE
    with pytest.raises(ValueError) as info:
        load_official_checkpoint(MANet(num_classes=10, num_segments=T, depth=18, width=16), path, strict=False)
    assert re.search(r"wrong shape.*cls_head\.fc_cls\.weight \(ours: head\.fc_cls\.weight\): "
                     r"file \(52, 128\) vs model \(10, 128\)", str(info.value))
    assert "scores 52 classes" in str(info.value)

    with pytest.raises(ValueError) as info:  # another depth and width: the flags that differ, nothing else
        load_official_checkpoint(MANet(num_segments=T, depth=10, width=8), path)
    message = str(info.value)
    assert "ResNet-18 of width 16 with SE" in message and "--set model.depth=18 --set model.width=16" in message
    assert "model.se" not in message and "MANet(" not in message


def test_se_weights_without_se_have_no_place(tmp_path: Path) -> None:
    path, _ = _tiny_official(tmp_path)
    with pytest.raises(ValueError) as info:
        load_official_checkpoint(MANet(num_classes=52, num_segments=T, depth=18, width=16, se=False), path)
    message = str(info.value)
    assert re.search(r"no place in this model \(16\): backbone\.layer1\.0\.conv1\.conv\.fcce\.0\.weight "
                     r"\(ours: backbone\.layer1\.0\.se\.fc1\.weight\)", message)
    assert "not understood" not in message and "--set model.se=true" in message


class _Opaque:  # a Python object inside 'meta', as mmcv writes (e.g. a config object)
    pass


class _Dict(collections.OrderedDict):  # an OrderedDict subclass: its class would be imported
    pass


def _hook() -> None:  # a function: would be imported, and could be called
    pass


@pytest.mark.parametrize("obj,name", [
    (_Opaque(), r"\S*_Opaque"),
    (_Dict(a=1), r"\S*_Dict"),
    (_hook, r"\S*_hook"),
    (np.arange(3.0), r"numpy\._core\.multiarray\._reconstruct"),  # arrays are not numbers
    (np.str_("text"), r"numpy\.dtypes\.StrDType"),  # nor numpy strings
])
def test_any_other_python_object_is_refused(tmp_path: Path, obj, name: str) -> None:
    path = tmp_path / "with_meta.pth"
    torch.save({"state_dict": {"a": torch.zeros(1)}, "meta": {"hook_msgs": {"best_score": np.float64(1)}, "x": obj}},
               path)
    with pytest.raises(ValueError, match=rf"(?s)holds a Python object \({name}\).*weights_only=True"
                                         r".*torch.save\(c\['state_dict'\]"):
        read_state_dict(path)


def test_unreadable_files(tmp_path: Path) -> None:
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
    with pytest.raises(ValueError, match=r"missing in the file \(1\): layer2\.1\.conv2\.weight "
                                         r"\(ours: backbone\.layer2\.1\.block\.conv2\.weight\)"):
        MANet(num_segments=T, depth=18, pretrained=path)
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"not understood \(1\): extra\.weight"):
        load_torchvision_resnet(MANet(num_segments=T, depth=18), path)
    with pytest.raises(ValueError, match="wrong shape.*same depth and width=64"):
        MANet(num_segments=T, depth=18, width=32, pretrained=tmp_path / "broken.pth")
