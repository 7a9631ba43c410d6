"""The paper profile's start: torchvision's ImageNet ResNet-50 from torch's cache (tests write a file with random
values under the name torchvision expects), the one-line error offline, and the sha256 in the run's name."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from torchvision.models import ResNet50_Weights, resnet50

from ma52lib.cli import main
from ma52lib.config import make_config, run_name
from ma52lib.engine.build import build_model_for
from ma52lib.engine.pretrain import describe_start, ensure_pretrained, resolve_pretrained
from ma52lib.engine.weights import cache_path, file_name, imagenet_weights

from tinydata import make_tiny_dataset

RESNETS = ("manet", "tsn", "tsm", "tin", "i3d")  # the models the paper ImageNet-initialises
FILE = "resnet50-0676ba61.pth"  # ResNet50_Weights.IMAGENET1K_V1: what mmcv's torchvision://resnet50 loads
FAST = ["--set", "data.num_workers=0", "--set", "runtime.precision=fp32", "--set", "model.num_segments=4",
        "--set", "data.short_side=40", "--set", "data.crop_size=32", "--epochs", "1", "--batch-size", "4"]


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A torch home holding a torchvision-format ResNet-50 state_dict (random values) under torchvision's file name."""
    home = tmp_path_factory.mktemp("torch_home")
    path = home / "hub" / "checkpoints" / FILE
    path.parent.mkdir(parents=True)
    torch.manual_seed(3)
    torch.save(resnet50(weights=None).state_dict(), path)
    return home, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def cached(weights_file, monkeypatch: pytest.MonkeyPatch) -> str:
    """TORCH_HOME set to the home holding the file; the file's sha256."""
    home, digest = weights_file
    monkeypatch.setenv("TORCH_HOME", str(home))
    return digest


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty TORCH_HOME (downloads fail: see conftest); the path torchvision would cache the file at."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("MA52_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "torch" / "hub" / "checkpoints" / FILE


def test_the_paper_start_is_torchvisions_original_imagenet_resnet50(offline: Path) -> None:
    weights = imagenet_weights(50, 64)
    assert weights is ResNet50_Weights.IMAGENET1K_V1 and file_name(weights) == FILE
    assert cache_path(weights) == offline
    assert make_config("paper").model.pretrained == "imagenet"
    with pytest.raises(ValueError, match="needs a ResNet-18/34/50/101/152 of width 64"):
        resolve_pretrained(make_config("paper", {"model.size": "cpu"}))  # ResNet-18 at width 32: no such weights


@pytest.mark.parametrize("name", RESNETS)
def test_each_resnet_model_resolves_to_the_cached_file_and_loads_it(cached: str, name: str) -> None:
    cfg = resolve_pretrained(make_config("paper", {"model.name": name}))
    assert cfg.model.pretrained == f"imagenet:{FILE}@sha256:{cached}"
    said = describe_start(cfg)
    assert "ResNet50_Weights.IMAGENET1K_V1" in said and cached in said and ("inflated" in said) == (name == "i3d")
    ensure_pretrained(cfg)  # the file is there with that digest
    model = build_model_for(cfg)
    source = torch.load(cache_path(imagenet_weights(50, 64)), weights_only=True)
    stem = model.backbone.conv1.weight  # [64, 3, 7, 7], or [64, 3, 5, 7, 7] inflated
    torch.testing.assert_close(stem.sum(dim=2) if name == "i3d" else stem, source["conv1.weight"])
    assert torch.equal(model.backbone.layer4[0].bn1.running_var if name == "i3d" else
                       model.backbone.layer4[0].block.bn1.running_var, source["layer4.0.bn1.running_var"])


@pytest.mark.parametrize("name, what", [("c3d", "Sports-1M C3D"), ("r2plus1d", "R2Plus1D_18_Weights.KINETICS400_V1"),
                                        ("timesformer", "ImageNet-21k ViT-B/16"),
                                        ("vswin", "ImageNet-1K Swin-T"), ("slowfast", "Kinetics-400 SlowFast")])
def test_the_other_models_name_their_published_start(offline: Path, name: str, what: str) -> None:
    # Their files and converters: tests/test_published.py.
    cfg = resolve_pretrained(make_config("paper", {"model.name": name}))  # not fetched: no digest yet
    assert cfg.model.pretrained.startswith("paper:") and "@sha256:" not in cfg.model.pretrained
    assert what in describe_start(cfg) and "not on this machine yet" in describe_start(cfg)


def test_none_is_the_explicit_random_init(offline: Path) -> None:
    for spelled in ("none", "None", "NONE"):
        cfg = resolve_pretrained(make_config("paper", {"model.pretrained": spelled}), fetch_weights=True)
        assert cfg.model.pretrained is None
    assert describe_start(cfg) == "random initialisation (the paper starts it from torchvision's ImageNet ResNet-50)"


def test_different_weights_never_share_a_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = tmp_path / "hub" / "checkpoints" / FILE
    path.parent.mkdir(parents=True)
    cfg = make_config("paper", {"runtime.precision": "fp32"})
    names = []
    for content in (b"one", b"two"):  # resolving reads the digest only
        path.write_bytes(content)
        resolved = resolve_pretrained(cfg)
        assert resolved.model.pretrained.endswith(hashlib.sha256(content).hexdigest())
        names.append(run_name(resolved))
    assert names[0] != names[1]
    local = tmp_path / "mine.pth"  # a file of your own is named by its digest too
    local.write_bytes(b"one")
    mine = resolve_pretrained(make_config("paper", {"model.pretrained": str(local)}))
    assert mine.model.pretrained == f"{local}@sha256:{hashlib.sha256(b'one').hexdigest()}"
    local.write_bytes(b"three")  # replaced after the run named it
    with pytest.raises(ValueError, match="has changed"):
        ensure_pretrained(mine)


def test_the_first_run_fetches_the_file_once_through_torchvision(offline: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    served = tmp_path / "served.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, served)  # what the (simulated) network hands over
    fetched: list[tuple[str, str, str | None]] = []

    def download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        fetched.append((url, dst, hash_prefix))
        Path(dst).write_bytes(served.read_bytes())

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    cfg = make_config("paper", {"model.name": "tin"})
    first = resolve_pretrained(cfg, fetch_weights=True)
    again = resolve_pretrained(cfg, fetch_weights=True)
    # torchvision's URL, into torch's cache, its hash prefix checked; the second run finds the file.
    assert fetched == [(f"https://download.pytorch.org/models/{FILE}", str(offline), "0676ba61")]
    digest = hashlib.sha256(served.read_bytes()).hexdigest()
    assert first.model.pretrained == again.model.pretrained == f"imagenet:{FILE}@sha256:{digest}"


def test_a_missing_file_of_your_own_stops_with_one_line(offline: Path, capsys) -> None:
    missing = offline.parent / "mine.pth"
    assert main(["train", "--profile", "paper", "--set", f"model.pretrained={missing}"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: model.pretrained={missing}: no such file; pass the path of a torchvision ResNet " \
                  "state_dict, or model.pretrained=none to train from random init\n"
    named = resolve_pretrained(make_config("paper"))  # no digest: the file is not here
    with pytest.raises(FileNotFoundError, match=f"{offline} is not here; put the file there"):
        ensure_pretrained(named)


@pytest.mark.parametrize("name", RESNETS)
def test_offline_without_the_file_stops_before_the_data_with_one_line(offline: Path, name: str, capsys,
                                                                      _no_download: list[str]) -> None:
    # The data root does not exist: an error about it would mean the data came first.
    args = ["train", "--profile", "paper", "--model", name, "--data-root", str(offline.parent / "no-data")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: model.pretrained=imagenet: torchvision's ResNet50_Weights.IMAGENET1K_V1 ({FILE})")
    assert f"copy {FILE} (from https://download.pytorch.org/models/{FILE}) to {offline}," in err
    assert f"--set model.pretrained=/path/to/{FILE}" in err and "no network in the tests" in err
    assert _no_download == [f"https://download.pytorch.org/models/{FILE}"]  # asked once, torchvision's own URL
    assert not offline.exists() and not (offline.parents[3] / "runs").exists()  # no file, no run folder


def test_print_config_shows_the_resolved_start_without_downloading(offline: Path, weights_file, capsys,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   _no_download: list[str]) -> None:
    args = ["train", "--profile", "paper", "--model", "tsm", "--print-config", "--set", "runtime.precision=fp32"]
    assert main(args) == 0
    out = capsys.readouterr().out
    shown = json.loads(out.split("\nrun folder:")[0])
    assert shown["model"]["pretrained"] == f"imagenet:{FILE}"  # no digest yet: the file is not here
    assert f"{offline}, not on this machine yet (the first `ma52 train` downloads it)" in out
    assert "run folder: named once the start weights are on this machine" in out and not _no_download
    home, digest = weights_file
    monkeypatch.setenv("TORCH_HOME", str(home))
    assert main(args) == 0
    out = capsys.readouterr().out
    assert json.loads(out.split("\nrun folder:")[0])["model"]["pretrained"] == f"imagenet:{FILE}@sha256:{digest}"
    assert f"start: torchvision's ResNet50_Weights.IMAGENET1K_V1 (mmcv's torchvision://resnet50): " \
           f"{home / 'hub' / 'checkpoints' / FILE}, sha256 {digest}" in out
    assert "\nrun folder: " in out and "tsm-paper-" in out


def test_train_paper_manet_loads_the_cached_weights_and_records_them(cached: str, tmp_path: Path) -> None:
    root = make_tiny_dataset(tmp_path / "data")
    run = tmp_path / "run"
    # The stem stays fixed (frozen_stages=0), so the checkpoint shows the weights the run started from.
    args = ["train", "--profile", "paper", "--model", "manet", "--data-root", str(root), "--out", str(run),
            *FAST, "--set", "model.frozen_stages=0"]
    assert main(args) == 0
    saved = json.loads((run / "config.json").read_text())["model"]["pretrained"]
    assert saved == f"imagenet:{FILE}@sha256:{cached}"
    log = (run / "train.log").read_text()
    assert "start: loaded torchvision's ResNet50_Weights.IMAGENET1K_V1 (mmcv's torchvision://resnet50): " in log
    assert f"{FILE}, sha256 {cached}" in log and (run / "results.json").exists()
    source = torch.load(cache_path(imagenet_weights(50, 64)), weights_only=True)
    trained = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert torch.equal(trained["backbone.conv1.weight"], source["conv1.weight"])


def test_the_cpu_and_smoke_profiles_keep_their_start_and_run_names() -> None:
    # Pinned: a name changes only with a deliberate change of the start or the recipe (the cpu models last changed
    # with one validation after the last of 12 epochs, every model's own start and the video families' recipe).
    expected = {("cpu", "manet"): "manet-cpu-666c248a6d23", ("cpu", "tsn"): "tsn-cpu-a3caae53d07d",
                ("cpu", "i3d"): "i3d-cpu-47e163c147c0", ("cpu", "c3d"): "c3d-cpu-ed83aec27bd0",
                ("smoke", "manet"): "manet-smoke-3391cb8fabb6", ("smoke", "i3d"): "i3d-smoke-20525fd69896"}
    for (profile, name), folder in expected.items():
        cfg = make_config(profile, {"model.name": name})
        assert cfg.model.pretrained == "synth" and run_name(resolve_pretrained(cfg)) == folder
