"""Joint-embedding loss: hand-computed values, CE-only fallbacks, clear shape errors, device moves."""

from __future__ import annotations

import math

import pytest
import torch

from ma52lib.losses import JointEmbeddingLoss

LOGITS = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
LABELS = torch.tensor([0, 2])
TABLE = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, -0.5]])
EMBEDDING = torch.tensor([[0.5, 0.5], [0.0, 0.0]])


def _hand_ce() -> float:
    total = 0.0
    for row, label in zip(LOGITS.tolist(), LABELS.tolist(), strict=True):
        total += -(row[label] - math.log(sum(math.exp(v) for v in row)))
    return total / len(LABELS)


def _hand_mse() -> float:
    # (0.5-1)^2 + (0.5-0)^2 + (0-0.5)^2 + (0+0.5)^2 over batch 2 x D 2
    squares = [(0.5 - 1.0) ** 2, (0.5 - 0.0) ** 2, (0.0 - 0.5) ** 2, (0.0 + 0.5) ** 2]
    return sum(squares) / 4


def test_matches_hand_computation() -> None:
    loss, parts = JointEmbeddingLoss(TABLE, weight=50.0)(LOGITS, LABELS, EMBEDDING)
    assert parts["ce"].item() == pytest.approx(_hand_ce(), rel=1e-6)
    assert parts["mse"].item() == pytest.approx(_hand_mse(), rel=1e-6)
    assert loss.item() == pytest.approx(_hand_ce() + 50.0 * _hand_mse(), rel=1e-6)


def test_ce_only_without_embedding_or_weight() -> None:
    for criterion, emb in ((JointEmbeddingLoss(TABLE), None), (JointEmbeddingLoss(TABLE, weight=0.0), EMBEDDING)):
        loss, parts = criterion(LOGITS, LABELS, emb)
        assert loss.item() == pytest.approx(_hand_ce(), rel=1e-6)
        assert parts["mse"].item() == 0.0


def test_gradients_reach_logits_and_embedding_but_parts_are_detached() -> None:
    logits, emb = LOGITS.clone().requires_grad_(), EMBEDDING.clone().requires_grad_()
    loss, parts = JointEmbeddingLoss(TABLE)(logits, LABELS, emb)
    loss.backward()
    assert logits.grad is not None and emb.grad is not None
    # d(50 * mean((e - t)^2))/de = 50 * 2 (e - t) / (B * D)
    assert torch.allclose(emb.grad, 50 * 2 * (EMBEDDING - TABLE[LABELS]) / 4)
    assert not parts["ce"].requires_grad and not parts["mse"].requires_grad


def test_bf16_predictions_are_accepted() -> None:
    loss, _ = JointEmbeddingLoss(TABLE)(LOGITS.bfloat16(), LABELS, EMBEDDING.bfloat16())
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(_hand_ce() + 50.0 * _hand_mse(), rel=1e-2)


def test_shape_mismatches_are_clear_errors() -> None:
    criterion = JointEmbeddingLoss(TABLE)
    with pytest.raises(ValueError, match="emb_dim=2"):
        criterion(LOGITS, LABELS, torch.zeros(2, 300))
    with pytest.raises(ValueError, match="3 rows"):
        criterion(torch.zeros(2, 52), LABELS, EMBEDDING)
    with pytest.raises(ValueError, match=r"\[num_classes, D\]"):
        JointEmbeddingLoss(torch.zeros(3))


def test_table_is_a_buffer_that_moves_with_the_module() -> None:
    criterion = JointEmbeddingLoss(TABLE.double())
    assert criterion.table.dtype == torch.float32
    assert "table" in dict(criterion.named_buffers())
    assert "table" not in criterion.state_dict()  # configuration, not checkpoint state
    assert criterion.to("meta").table.device.type == "meta"
