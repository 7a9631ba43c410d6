"""The model contract, for every model ``build_model`` knows (``available_models()``), MANet included.

Each is built as training builds it (``engine.build.build_model_for``: MANet with its embedding branch
and the joint-embedding loss, the baselines with plain cross-entropy), then: a forward and a backward
of the training loss on a tiny clip on CPU, where every parameter must get a gradient (DDP without
``find_unused_parameters`` needs every parameter in the graph); ``features`` and
``return_embedding``; bf16 autocast; the Grad-CAM layer and its reshape to ``[N, C, T, h, w]``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ma52lib.config import make_config
from ma52lib.engine.build import build_model_for, embedding_table
from ma52lib.losses import JointEmbeddingLoss
from ma52lib.models import available_models

NAMES = available_models()
SIZE = 32  # frame side of the tiny clips (the `tiny` presets fit 32 px)
SEGMENT_MODELS = ("manet", "tsn", "tsm", "tin")  # one frame per TSN segment; the others read dense clips


def _build(name: str) -> tuple[nn.Module, JointEmbeddingLoss | None]:
    """The tiny model of ``name`` and its training loss (None: plain cross-entropy), as the engine builds them."""
    over = {"model.name": name, "model.size": "tiny", "model.num_segments": 8}
    if name != "manet":
        over["loss.weight"] = 0.0  # the baselines train with plain CE, as in the benchmark
    cfg = make_config("smoke", over)
    table = embedding_table(cfg)
    model = build_model_for(cfg, None if table is None else int(table.shape[1]))
    return model, None if table is None else JointEmbeddingLoss(table, weight=cfg.loss.weight)


def _clip(model: nn.Module, n: int = 2) -> torch.Tensor:
    return torch.randn(n, model.num_frames, 3, SIZE, SIZE)  # [N, T, 3, H, W]


def test_the_factory_knows_manet_and_the_nine_baselines() -> None:
    assert NAMES == sorted(["manet", "tsn", "tsm", "tin", "c3d", "i3d", "r2plus1d", "slowfast", "timesformer", "vswin"])


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
