"""The paper profile's published starts (C3D, TimeSformer, R(2+1)D, Video Swin): each converter on a file written in
its publisher's layout with random values (names and shapes as the source that saves it builds them), every tensor
of ours but the fresh ones from the file, logits that follow the file, and the one-line error offline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from torchvision.models.video import r2plus1d_18, swin3d_t

from ma52lib.cli import main
from ma52lib.config import make_config
from ma52lib.engine.build import build_model_for
from ma52lib.engine.pretrain import describe_start, resolve_pretrained
from ma52lib.engine.weights import url_cache_path, url_file
from ma52lib.models import build_model, model_facts
from ma52lib.models.published import load_published

PUBLISHED = ("c3d", "timesformer", "r2plus1d", "vswin", "slowfast")


def mmaction_c3d(width: int = 64, fc: int = 4096) -> dict[str, torch.Tensor]:
    """mmaction2 0.24's C3D backbone (``backbones/c3d.py``): ConvModules ``convXy.conv`` 3x3x3 with bias, fc6 over
    pool5's 512 x 1 x 4 x 4 (8192 at width 64), fc7."""
    chans = {"1a": (3, width), "2a": (width, 2 * width), "3a": (2 * width, 4 * width), "3b": (4 * width, 4 * width),
             "4a": (4 * width, 8 * width), "4b": (8 * width, 8 * width), "5a": (8 * width, 8 * width),
             "5b": (8 * width, 8 * width)}
    state = {}
    for name, (cin, cout) in chans.items():
        state[f"conv{name}.conv.weight"] = torch.randn(cout, cin, 3, 3, 3) * 0.05
        state[f"conv{name}.conv.bias"] = torch.randn(cout) * 0.01
    state["fc6.weight"], state["fc6.bias"] = torch.randn(fc, 8 * width * 16) * 0.01, torch.zeros(fc)
    state["fc7.weight"], state["fc7.bias"] = torch.randn(fc, fc) * 0.01, torch.zeros(fc)
    return state


def mmcv_vit(dim: int, depth: int, patch: int, grid: int) -> dict[str, torch.Tensor]:
    """The ViT of mmaction2's TimeSformer config as its ``backbones/timesformer.py`` reads it: mmcv's
    BaseTransformerLayer (norm, self_attn, norm, ffn) with ``nn.MultiheadAttention`` and a two-layer FFN."""
    state = {"patch_embed.projection.weight": torch.randn(dim, 3, patch, patch) * 0.02,
             "patch_embed.projection.bias": torch.randn(dim) * 0.02, "cls_token": torch.randn(1, 1, dim) * 0.02,
             "pos_embed": torch.randn(1, grid * grid + 1, dim) * 0.02, "norm.weight": 1 + torch.randn(dim) * 0.1,
             "norm.bias": torch.randn(dim) * 0.1}
    for i in range(depth):
        p = f"transformer_layers.layers.{i}."
        for n in (0, 1):
            state[f"{p}norms.{n}.weight"] = 1 + torch.randn(dim) * 0.1
            state[f"{p}norms.{n}.bias"] = torch.randn(dim) * 0.1
        state[f"{p}attentions.0.attn.in_proj_weight"] = torch.randn(3 * dim, dim) * 0.05
        state[f"{p}attentions.0.attn.in_proj_bias"] = torch.randn(3 * dim) * 0.02
        state[f"{p}attentions.0.attn.out_proj.weight"] = torch.randn(dim, dim) * 0.05
        state[f"{p}attentions.0.attn.out_proj.bias"] = torch.randn(dim) * 0.02
        state[f"{p}ffns.0.layers.0.0.weight"] = torch.randn(4 * dim, dim) * 0.05
        state[f"{p}ffns.0.layers.0.0.bias"] = torch.randn(4 * dim) * 0.02
        state[f"{p}ffns.0.layers.1.weight"] = torch.randn(dim, 4 * dim) * 0.05
        state[f"{p}ffns.0.layers.1.bias"] = torch.randn(dim) * 0.02
    return state


def swin_release(dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2), heads: tuple[int, ...] = (3, 6, 12, 24),
                 window: int = 7) -> dict[str, dict[str, torch.Tensor]]:
    """The Swin authors' ImageNet-1K Swin-T file (``models/swin_transformer.py``, saved as ``{"model": ...}``): patch
    embedding 4x4 with norm, per block norm1/attn (bias table, index, qkv, proj)/norm2/mlp.fc1-fc2, the shifted blocks'
    attn_mask, patch merging (reduction without bias, norm over 4C) after stages 0-2, norm and head."""
    r = torch.randn
    state = {"patch_embed.proj.weight": r(dim, 3, 4, 4), "patch_embed.proj.bias": r(dim),
             "patch_embed.norm.weight": r(dim), "patch_embed.norm.bias": r(dim)}
    for i, (n, h) in enumerate(zip(depths, heads)):
        c = dim * 2 ** i
        for j in range(n):
            p = f"layers.{i}.blocks.{j}."
            state.update({f"{p}norm1.weight": r(c), f"{p}norm1.bias": r(c), f"{p}norm2.weight": r(c),
                          f"{p}norm2.bias": r(c), f"{p}attn.relative_position_bias_table": r((2 * window - 1) ** 2, h),
                          f"{p}attn.relative_position_index": torch.zeros(window ** 2, window ** 2, dtype=torch.long),
                          f"{p}attn.qkv.weight": r(3 * c, c), f"{p}attn.qkv.bias": r(3 * c),
                          f"{p}attn.proj.weight": r(c, c), f"{p}attn.proj.bias": r(c),
                          f"{p}mlp.fc1.weight": r(4 * c, c), f"{p}mlp.fc1.bias": r(4 * c),
                          f"{p}mlp.fc2.weight": r(c, 4 * c), f"{p}mlp.fc2.bias": r(c)})
            if j % 2:
                state[f"{p}attn_mask"] = torch.zeros(4, window ** 2, window ** 2)
        if i < len(depths) - 1:
            state.update({f"layers.{i}.downsample.reduction.weight": r(2 * c, 4 * c),
                          f"layers.{i}.downsample.norm.weight": r(4 * c), f"layers.{i}.downsample.norm.bias": r(4 * c)})
    c = dim * 2 ** (len(depths) - 1)
    state.update({"norm.weight": r(c), "norm.bias": r(c), "head.weight": r(1000, c), "head.bias": r(1000)})
    return {"model": {k: v * 0.05 if v.is_floating_point() else v for k, v in state.items()}}


def mmaction_slowfast() -> dict[str, dict[str, torch.Tensor]]:
    """mmaction2 0.24's SlowFast R50 4x16 recognizer (``backbones/resnet3d_slowfast.py``): two ResNet3dPathways of
    ConvModules (slow: 64 wide, 1x7x7 stem, 3x1x1 conv1 in res4-5 only, lateral inputs 2*C/8 on each stage's first
    block; fast: 8 wide, 5x7x7 stem, 3x1x1 everywhere), bare 5x1x1 lateral convs, and ``cls_head.fc_cls``."""
    state: dict[str, torch.Tensor] = {}

    def conv_module(name: str, shape: tuple[int, ...]) -> None:
        state[f"{name}.conv.weight"] = torch.randn(shape) * 0.05
        c = shape[0]
        state.update({f"{name}.bn.weight": 1 + torch.randn(c) * 0.1, f"{name}.bn.bias": torch.randn(c) * 0.1,
                      f"{name}.bn.running_mean": torch.randn(c) * 0.1, f"{name}.bn.running_var": torch.rand(c) + 0.5,
                      f"{name}.bn.num_batches_tracked": torch.tensor(7)})

    for path, base, kt, inflate, lateral in (("slow", 64, 1, (0, 0, 1, 1), True), ("fast", 8, 5, (1, 1, 1, 1), False)):
        p = f"backbone.{path}_path."
        conv_module(f"{p}conv1", (base, 3, kt, 7, 7))
        inplanes = base
        for i, blocks in enumerate((3, 4, 6, 3)):
            planes = base * 2 ** i
            extra = inplanes * 2 // 8 if lateral else 0
            for b in range(blocks):
                cin = inplanes + extra if b == 0 else planes * 4
                conv_module(f"{p}layer{i + 1}.{b}.conv1", (planes, cin, 3 if inflate[i] else 1, 1, 1))
                conv_module(f"{p}layer{i + 1}.{b}.conv2", (planes, planes, 1, 3, 3))
                conv_module(f"{p}layer{i + 1}.{b}.conv3", (planes * 4, planes, 1, 1, 1))
            conv_module(f"{p}layer{i + 1}.0.downsample", (planes * 4, inplanes + extra, 1, 1, 1))
            inplanes = planes * 4
    state["backbone.slow_path.conv1_lateral.conv.weight"] = torch.randn(16, 8, 5, 1, 1) * 0.05
    for i, c in enumerate((256, 512, 1024)):
        state[f"backbone.slow_path.layer{i + 1}_lateral.conv.weight"] = torch.randn(c // 4, c // 8, 5, 1, 1) * 0.05
    state["cls_head.fc_cls.weight"], state["cls_head.fc_cls.bias"] = torch.randn(400, 2304), torch.zeros(400)
    return {"state_dict": state, "meta": {"epoch": 256}}


def randomised(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with every float tensor drawn at random (variances positive): no value can match a fresh build."""
    return {k: (torch.rand_like(v) + 0.5 if k.endswith("running_var") else torch.randn_like(v) * 0.05)
            if v.is_floating_point() else v for k, v in state.items()}


def _check_landed(model: torch.nn.Module, path: Path, name: str, fresh: tuple[str, ...], changed: str,
                  clip: torch.Tensor) -> None:
    """Load ``path`` into ``model``: nothing of ours is left as built but ``fresh``; changing the file's ``changed``
    changes the logits."""
    built = {k: v.clone() for k, v in model.state_dict().items()}
    report = load_published(model, path, model_facts(name).published)
    assert report.ok and not report.unexpected
    after = model.state_dict()
    kept = [k for k in after if torch.equal(after[k], built[k]) and after[k].is_floating_point()
            and not k.startswith(fresh) and after[k].abs().sum() > 0]
    assert not kept, f"left at random init: {kept[:5]}"
    model.eval()
    with torch.no_grad():
        before = model(clip)
    saved = torch.load(path, weights_only=True)
    state = saved.get("model", saved.get("state_dict", saved))  # the Swin release and mmcv wrap their weights
    state[changed] = state[changed] + 0.5
    torch.save(saved, path)
    load_published(model, path, model_facts(name).published)
    with torch.no_grad():
        assert not torch.allclose(model(clip), before)


def test_c3d_loads_mmactions_sports1m_layout(tmp_path: Path) -> None:
    path = tmp_path / "c3d.pth"
    torch.save(mmaction_c3d(), path)
    model = build_model("c3d", size="paper")
    _check_landed(model, path, "c3d", ("fc_cls.",), "conv4b.conv.weight", torch.randn(1, 8, 3, 32, 32))
    source = torch.load(path, weights_only=True)
    assert torch.equal(model.conv3[1][0].weight, source["conv3b.conv.weight"])
    assert torch.equal(model.fc6.weight, source["fc6.weight"])


def test_timesformer_loads_the_vit_and_starts_time_as_the_codes_do(tmp_path: Path) -> None:
    path = tmp_path / "vit.pth"
    torch.save(mmcv_vit(dim=32, depth=2, patch=8, grid=4), path)
    model = build_model("timesformer", size="tiny")  # width 32, depth 2, heads 2, patch 8, 32 px
    zeroed = ("fc_cls.", "time_embed", "blocks.0.temporal_fc.")  # the later temporal_fc are zero as built
    _check_landed(model, path, "timesformer", zeroed, "transformer_layers.layers.1.ffns.0.layers.0.0.weight",
                  torch.randn(1, 8, 3, 32, 32))
    source = torch.load(path, weights_only=True)
    block = model.blocks[1]
    assert torch.equal(block.attn.qkv.weight, source["transformer_layers.layers.1.attentions.0.attn.in_proj_weight"])
    assert torch.equal(block.temporal_attn.proj.weight, block.attn.proj.weight)  # copied, as mmaction2 copies it
    assert torch.equal(block.temporal_norm1.weight, source["transformer_layers.layers.1.norms.0.weight"])
    assert not block.temporal_fc.weight.any() and not model.blocks[0].temporal_fc.weight.any()
    assert not model.time_embed.any()


def test_timesformer_also_takes_timms_vit_layout(tmp_path: Path) -> None:
    dim, r = 32, torch.randn
    state = {"patch_embed.proj.weight": r(dim, 3, 8, 8), "patch_embed.proj.bias": r(dim), "cls_token": r(1, 1, dim),
             "pos_embed": r(1, 17, dim), "norm.weight": r(dim), "norm.bias": r(dim), "head.weight": r(1000, dim),
             "head.bias": r(1000)}  # timm's ViT: blocks.i.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}
    for i in range(2):
        for name, shape in (("norm1", (dim,)), ("attn.qkv", (3 * dim, dim)), ("attn.proj", (dim, dim)),
                            ("norm2", (dim,)), ("mlp.fc1", (4 * dim, dim)), ("mlp.fc2", (dim, 4 * dim))):
            state[f"blocks.{i}.{name}.weight"], state[f"blocks.{i}.{name}.bias"] = r(shape), r(shape[0])
    path = tmp_path / "timm_vit.pth"
    torch.save(state, path)
    model = build_model("timesformer", size="tiny")
    zeroed = ("fc_cls.", "time_embed", "blocks.0.temporal_fc.")
    _check_landed(model, path, "timesformer", zeroed, "blocks.0.mlp.fc2.weight", torch.randn(1, 8, 3, 32, 32))
    assert torch.equal(model.blocks[0].temporal_attn.qkv.bias, state["blocks.0.attn.qkv.bias"])


def test_timesformer_paper_size_takes_the_vit_b16_shapes() -> None:
    with torch.device("meta"):  # shapes only: ViT-B/16 at 224 px
        model = build_model("timesformer", size="paper")
        source = mmcv_vit(dim=768, depth=12, patch=16, grid=14)
    converted, _ = model_facts("timesformer").published.convert(source, model)
    own = model.state_dict()
    assert set(own) - set(converted) == {"fc_cls.weight", "fc_cls.bias"}
    assert all(value.shape == own[ours].shape for ours, (_, value) in converted.items())


def test_r2plus1d_loads_torchvisions_kinetics_layout(tmp_path: Path) -> None:
    path = tmp_path / "r2plus1d.pth"
    torch.save(randomised(r2plus1d_18(weights=None).state_dict()), path)  # torchvision's own names and shapes
    model = build_model("r2plus1d", size="paper")
    _check_landed(model, path, "r2plus1d", ("fc_cls.",), "layer3.0.conv1.0.0.weight", torch.randn(1, 8, 3, 32, 32))


def test_video_swin_inflates_the_swin_authors_swin_t(tmp_path: Path) -> None:
    path = tmp_path / "swin.pth"
    torch.save(swin_release(), path)
    model = build_model("vswin", size="paper")
    _check_landed(model, path, "vswin", ("fc_cls.",), "layers.2.blocks.3.mlp.fc1.weight", torch.randn(1, 8, 3, 32, 32))
    source = torch.load(path, weights_only=True)["model"]
    stem = model.net.patch_embed.proj.weight  # [96, 3, 2, 4, 4]: the 2-D kernel over the patch's 2 frames, halved
    torch.testing.assert_close(stem, source["patch_embed.proj.weight"][:, :, None].expand_as(stem) / 2)
    table = model.net.features[4][1].attn.relative_position_bias_table.view(15, 169, 12)  # time offsets x 13*13
    assert all(torch.equal(t, source["layers.2.blocks.1.attn.relative_position_bias_table"]) for t in table)
    assert torch.equal(model.net.features[5].reduction.weight, source["layers.2.downsample.reduction.weight"])
    assert torch.equal(model.net.features[2][0].mlp[3].weight, source["layers.1.blocks.0.mlp.fc2.weight"])
    merged = swin3d_t(weights=None).state_dict()  # the same names as torchvision's own swin3d_t
    assert {k.removeprefix("net.") for k in model.state_dict() if k.startswith("net.")} == set(merged) - {
        "head.weight", "head.bias"}


def test_slowfast_loads_mmactions_kinetics_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "slowfast.pth"
    torch.save(mmaction_slowfast(), path)
    model = build_model("slowfast", size="paper")
    _check_landed(model, path, "slowfast", ("fc_cls.",), "backbone.slow_path.layer2_lateral.conv.weight",
                  torch.randn(1, 8, 3, 32, 32))
    source = torch.load(path, weights_only=True)["state_dict"]
    assert torch.equal(model.fuse[0].conv.weight, source["backbone.slow_path.conv1_lateral.conv.weight"])
    assert torch.equal(model.fast.layer3[5].bn2.running_var, source["backbone.fast_path.layer3.5.conv2.bn.running_var"])
    assert model.fuse[0].bn is None  # the paper size fuses the bare conv, as mmaction2


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty TORCH_HOME (downloads fail: see conftest); the folder torch would cache the files in."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("MA52_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.mark.parametrize("name", PUBLISHED)
def test_offline_each_published_start_stops_with_one_line(offline: Path, name: str, capsys,
                                                          _no_download: list[str]) -> None:
    start = model_facts(name).published
    file = url_file(start.url)
    args = ["train", "--profile", "paper", "--model", name, "--data-root", str(offline.parent / "no-data")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: model.pretrained=imagenet: {start.what} ({file}) is not in {offline}")
    assert f"copy {file} (from {start.url}) to {offline / file}," in err
    assert f"--set model.pretrained=/path/to/{file}" in err and "no network in the tests" in err
    assert _no_download == [start.url] and not (offline.parents[1] / "runs").exists()


@pytest.mark.parametrize("name", PUBLISHED)
def test_print_config_names_the_published_start(offline: Path, name: str, capsys, _no_download: list[str]) -> None:
    start = model_facts(name).published
    assert main(["train", "--profile", "paper", "--model", name, "--print-config"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.split("\nrun folder:")[0])["model"]["pretrained"] == f"paper:{url_file(start.url)}"
    assert f"start: {start.what}, from {start.url}: {url_cache_path(start.url)}, not on this machine yet" in out
    assert not _no_download


def test_a_cached_published_start_is_named_by_its_sha256_and_loaded(offline: Path) -> None:
    start = model_facts("r2plus1d").published
    path = url_cache_path(start.url)
    path.parent.mkdir(parents=True)
    torch.save(randomised(r2plus1d_18(weights=None).state_dict()), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    cfg = resolve_pretrained(make_config("paper", {"model.name": "r2plus1d"}), fetch_weights=True)
    assert cfg.model.pretrained == f"paper:{url_file(start.url)}@sha256:{digest}"
    assert digest in describe_start(cfg) and "a departure: mmaction2's Kinetics config" in describe_start(cfg)
    model = build_model_for(cfg)
    assert torch.equal(model.net.layer1[0].conv1[0][0].weight, torch.load(path)["layer1.0.conv1.0.0.weight"])
    own = resolve_pretrained(make_config("paper", {"model.name": "r2plus1d", "model.pretrained": str(path)}))
    assert torch.equal(build_model_for(own).net.stem[0].weight, model.net.stem[0].weight)  # a local copy converts too
    with pytest.raises(ValueError, match="fits r2plus1d at model.size=paper only"):
        resolve_pretrained(make_config("paper", {"model.name": "r2plus1d", "model.size": "cpu"}))


@pytest.mark.parametrize("name, prefix", [("c3d", "dcc47ddc"), ("timesformer", None), ("r2plus1d", "91a641e6"),
                                          ("vswin", None), ("slowfast", "bcde7ed7")])
def test_the_first_run_fetches_the_published_file_once(offline: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                                       prefix: str | None) -> None:
    fetched: list[tuple[str, str, str | None]] = []

    def download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        fetched.append((url, dst, hash_prefix))
        Path(dst).write_bytes(b"served")

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    start = model_facts(name).published
    cfg = make_config("paper", {"model.name": name})
    first, again = (resolve_pretrained(cfg, fetch_weights=True) for _ in range(2))
    # Its URL, into torch's cache, the sha256 prefix its name carries checked (none for the ViT); fetched once.
    assert fetched == [(start.url, str(offline / url_file(start.url)), prefix)]
    assert first.model.pretrained == again.model.pretrained == \
        f"paper:{url_file(start.url)}@sha256:{hashlib.sha256(b'served').hexdigest()}"
    assert ("no checksum is published" in describe_start(first)) == (prefix is None)
