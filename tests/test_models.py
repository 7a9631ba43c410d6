"""The model contract, for every model ``build_model`` knows (``available_models()``), MANet included.

Each is built as training builds it (``engine.build.build_model_for``: MANet with its embedding branch
and the joint-embedding loss, the baselines with plain cross-entropy), then: a forward and a backward
of the training loss on a tiny clip on CPU, where every parameter must get a gradient (DDP without
``find_unused_parameters`` needs every parameter in the graph); ``features`` and
``return_embedding``; bf16 autocast; the Grad-CAM layer and its reshape to ``[N, C, T, h, w]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from ma52lib.chapters.common import TABLE_COLUMNS
from ma52lib.config import make_config, run_name
from ma52lib.engine.build import build_model_for, embedding_table, without_weights
from ma52lib.engine.pretrain import describe_start, resolve_pretrained
from ma52lib.engine.train import train
from ma52lib.losses import JointEmbeddingLoss
from ma52lib.models import (
    BENCHMARK_MODELS,
    ModelContractError,
    available_models,
    build_model,
    display_name,
    model_facts,
    paper_results,
)
from ma52lib.models.baselines import BASELINES
from ma52lib.models.facts import FAMILIES, ModelFacts

from tinydata import make_tiny_dataset

NAMES = available_models()
SIZE = 32  # frame side of the tiny clips (the `tiny` presets fit 32 px)
SEGMENT_MODELS = ("manet", "tsn", "tsm", "tin")  # one frame per TSN segment; the others read dense clips


def _build(name: str) -> tuple[nn.Module, JointEmbeddingLoss | None]:
    """The tiny model of ``name`` and its training loss (None: plain cross-entropy), as the engine builds them."""
    over = {"model.name": name, "model.size": "tiny", "model.num_segments": 8}
    if name != "manet":
        over["loss.weight"] = 0.0  # the baselines train with plain CE, as in the benchmark
    cfg = without_weights(make_config("smoke", over))  # random init: the contract, not the pretraining
    table = embedding_table(cfg)
    model = build_model_for(cfg, None if table is None else int(table.shape[1]))
    return model, None if table is None else JointEmbeddingLoss(table, weight=cfg.loss.weight)


def _clip(model: nn.Module, n: int = 2) -> torch.Tensor:
    return torch.randn(n, model.num_frames, 3, SIZE, SIZE)  # [N, T, 3, H, W]


def test_the_benchmark_is_every_model_the_factory_knows_in_table_order() -> None:
    assert sorted(BENCHMARK_MODELS) == NAMES
    assert BENCHMARK_MODELS[:-1] == tuple(BASELINES) and BENCHMARK_MODELS[-1] == "manet"  # MANet's row last


@pytest.mark.parametrize("name", NAMES)
def test_tiny_forward_backward_and_contract(name: str) -> None:
    torch.manual_seed(0)
    model, loss_fn = _build(name)
    assert model.num_frames == 8 and model.has_embedding == (name == "manet")
    assert model.sampling == ("tsn" if name in SEGMENT_MODELS else "dense")
    assert model.frame_interval >= 1
    x = _clip(model)
    labels = torch.tensor([3, 41])
    logits, emb = model(x, return_embedding=True)
    assert logits.shape == (2, 52)
    loss = nn.functional.cross_entropy(logits, labels) if loss_fn is None else loss_fn(logits, labels, emb)[0]
    loss.backward()
    # DDP without find_unused_parameters needs every parameter in the graph.
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, f"{name}: parameters outside the graph: {unused[:5]}"

    model.eval()
    with torch.no_grad():
        out, emb = model(x, return_embedding=True)
        feats = model.features(x)
    assert out.shape == (2, 52) and (emb is None) == (name != "manet")
    assert feats.dim() == 2 and feats.shape[0] == 2 and torch.isfinite(feats).all()


@pytest.mark.parametrize("name", NAMES)
def test_bf16_autocast_and_cam_layer(name: str) -> None:
    model = _build(name)[0].eval()
    x = _clip(model)
    seen: list[torch.Tensor] = []
    hook = model.cam_target_layer.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
    hook.remove()
    assert logits.shape == (2, 52) and torch.isfinite(logits.float()).all()
    assert len(seen) == 1
    cam_in = seen[0] if model.cam_reshape is None else model.cam_reshape(seen[0])
    # Grad-CAM needs [N, C, T, h, w] with the clip's batch size.
    assert cam_in.dim() == 5 and cam_in.shape[0] == 2


# --- bring your own model -------------------------------------------------------------------------------


def test_a_model_path_builds_the_example_and_trains(tmp_path: Path) -> None:
    model = build_model("examples.temporal_cnn:build", num_classes=52, num_segments=4, size="tiny")
    assert model.num_frames == 4 and not model.has_embedding
    root = make_tiny_dataset(tmp_path / "data", {"train": 1, "val": 1, "test": 1})
    cfg = make_config("smoke", {"model.name": "examples.temporal_cnn:build", "data.root": str(root),
                                "model.num_segments": 4, "optim.epochs": 1, "optim.batch_size": 8,
                                "loss.weight": 0.0, "runtime.precision": "fp32", "data.num_workers": 0})
    assert run_name(cfg).startswith("examples.temporal_cnn_build-smoke-")
    out = train(cfg, out=tmp_path / "run", echo=None)
    assert json.loads((out / "results.json").read_text())["model"] == "examples.temporal_cnn:build"


def test_bad_model_paths_and_broken_contracts_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelContractError, match="cannot import 'no_such_pkg.mod'"):
        build_model("no_such_pkg.mod:build")
    with pytest.raises(ModelContractError, match="no callable 'nope'"):
        build_model("examples.temporal_cnn:nope")
    with pytest.raises(ModelContractError, match="package.module:factory"):
        build_model("examples.temporal_cnn:")
    (tmp_path / "my_models.py").write_text(
        "import torch\n"
        "from torch import nn\n"
        "def plain(**kw):\n    return nn.Linear(3, 52)\n"
        "class Half(nn.Module):\n"
        "    num_frames, sampling, frame_interval, has_embedding = 4, 'tsn', 1, False\n"
        "    def features(self, x):\n        return x.mean(dim=(1, 3, 4))\n"
        "    def forward(self, x, return_embedding=False):\n        return self.features(x)\n"
        "def half(**kw):\n    return Half()\n"
        "def notamodel(**kw):\n    return 3\n")
    monkeypatch.chdir(tmp_path)  # found beside the working directory, as `python -m` would
    with pytest.raises(ModelContractError, match="lacks num_frames"):
        build_model("my_models:plain")
    with pytest.raises(ModelContractError, match="not a torch.nn.Module"):
        build_model("my_models:notamodel")
    with pytest.raises(ModelContractError, match=r"return \(logits, embedding or None\)"):
        build_model("my_models:half", num_segments=4)


# --- what a model is, said by the model -------------------------------------------------------------


def test_every_model_declares_its_start_and_which_stages_freeze() -> None:
    facts = {name: model_facts(name) for name in available_models()}
    assert {n for n, f in facts.items() if f.freezable} == set(available_models())  # every start keeps its stem
    assert {n for n, f in facts.items() if f.resnet is not None} == {"manet", "tsn", "tsm", "tin", "i3d", "slowfast"}
    assert {n for n, f in facts.items() if f.still_start} == {"c3d", "r2plus1d", "timesformer", "vswin"}
    assert {n for n, f in facts.items() if f.resnet is not None and f.paper_imagenet} == {
        "manet", "tsn", "tsm", "tin", "i3d"}  # the paper profile's ImageNet starts
    # Every other model of the paper profile starts from a published file (tests/test_published.py).
    assert {n for n, f in facts.items() if f.published is not None} == {"c3d", "r2plus1d", "timesformer", "vswin",
                                                                         "slowfast"}
    assert {n for n, f in facts.items() if f.departure} == {"c3d", "r2plus1d", "slowfast"}
    assert all(f.paper_start != ModelFacts().paper_start for f in facts.values())  # each says where the paper starts
    assert facts["manet"].resnet_shape("cpu") == (18, 32) and facts["i3d"].resnet_shape("tiny", width=16) == (10, 16)
    assert facts["c3d"].resnet_shape("cpu") is None
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        facts["tsm"].resnet_shape("huge")


def test_every_benchmark_model_says_its_table_name_and_family() -> None:
    for name in BENCHMARK_MODELS:
        facts = model_facts(name)
        assert facts.display_name and facts.family in FAMILIES, name
        # A family says how its models start: a 2-D ResNet (over segments, or inflated) or stills as their own twin.
        assert (facts.family in ("twin", "vit")) == facts.still_start, name
        assert (facts.family in ("segments", "inflated")) == (facts.resnet is not None), name
    assert [display_name(m) for m in ("r2plus1d", "vswin", "manet")] == ["R(2+1)D", "Video Swin", "MANet"]
    # A label that names no model, and a model of your own without a display name, show as they are.
    assert display_name("manet_noemb") == "manet_noemb"
    assert display_name("examples.temporal_cnn:build") == "examples.temporal_cnn:build"


# The published numbers on MA-52 (the authors' README table).
PAPER = {
    "c3d": {"body_top1": 74.04, "action_top1": 52.22, "action_top5": 86.97, "body_f1_macro": 66.60,
            "action_f1_macro": 40.86, "f1_mean": 58.43},
    "i3d": {"body_top1": 78.16, "action_top1": 57.07, "action_top5": 88.67, "body_f1_macro": 71.56,
            "action_f1_macro": 39.84, "f1_mean": 61.66},
    "slowfast": {"body_top1": 77.18, "action_top1": 59.60, "action_top5": 88.54, "body_f1_macro": 70.61,
                 "action_f1_macro": 44.96, "f1_mean": 63.09},
    "tsm": {"body_top1": 77.64, "action_top1": 56.75, "action_top5": 87.47, "body_f1_macro": 70.98,
            "action_f1_macro": 40.19, "f1_mean": 61.39},
    "manet": {"body_top1": 78.95, "action_top1": 61.33, "action_top5": 88.83, "body_f1_macro": 72.87,
              "action_f1_macro": 49.22, "f1_mean": 65.59},
}


def test_the_paper_numbers_are_the_published_ones() -> None:
    for name, published in PAPER.items():
        assert paper_results(name) == published, name
        assert set(published) <= set(TABLE_COLUMNS)  # keys as compute_metrics names them
    assert paper_results("tsn") is None  # not public: the tables say so
    assert paper_results("manet_noemb") is None and paper_results("examples.temporal_cnn:build") is None


def test_a_model_of_your_own_declares_its_facts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = model_facts("examples.temporal_cnn:build")
    assert example.resnet is None and not example.freezable and "not in the paper" in example.paper_start
    cfg = resolve_pretrained(make_config("cpu", {"model.name": "examples.temporal_cnn:build"}))
    assert cfg.model.pretrained is None and cfg.model.frozen_stages == -1  # no ResNet: random init, all trained
    assert "not in the paper" in describe_start(cfg)
    (tmp_path / "resnet_models.py").write_text(
        "from ma52lib.models import MANet\n"
        "from ma52lib.models.facts import ModelFacts\n"
        "def tsn_like(**kw):\n    return MANet(se=False, tsm=False, embedding=False, **kw)\n"
        "tsn_like.facts = ModelFacts(resnet={'cpu': (18, 32)}, freezable=True, paper_start='mine')\n"
        "def undeclared(**kw):\n    return MANet(**kw)\n"
        "def wrong(**kw):\n    return MANet(**kw)\n"
        "wrong.facts = {'freezable': True}\n")
    monkeypatch.chdir(tmp_path)
    mine = resolve_pretrained(make_config("cpu", {"model.name": "resnet_models:tsn_like", "loss.weight": 0.0}))
    assert mine.model.pretrained.startswith("synth:pretrain-r18w32-") and mine.model.frozen_stages == 2
    assert mine.model.pretrained == resolve_pretrained(make_config("cpu", {"model.name": "tsn"})).model.pretrained
    undeclared = resolve_pretrained(make_config("cpu", {"model.name": "resnet_models:undeclared"}))
    assert undeclared.model.pretrained is None and undeclared.model.frozen_stages == -1
    with pytest.raises(ModelContractError, match="must be a ma52lib.models.facts.ModelFacts, got dict"):
        model_facts("resnet_models:wrong")
    with pytest.raises(ValueError, match="unknown field"):
        ModelFacts(options=("colour",))
