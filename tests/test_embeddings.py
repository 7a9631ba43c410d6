"""Label-embedding tables: the shipped one, the random ablation source, user files and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ma52lib.embeddings import DEFAULT_EMBEDDINGS, label_embeddings
from ma52lib.labels import FINE_CLASSES
from ma52lib.losses import JointEmbeddingLoss
from ma52lib.models.manet import MANet


def test_shipped_table() -> None:
    table = label_embeddings()
    assert table.dtype == torch.float32 and table.shape == (52, 384)
    assert torch.equal(table, label_embeddings("default"))
    assert torch.equal(table, torch.from_numpy(np.load(DEFAULT_EMBEDDINGS)))
    assert torch.allclose(table.norm(dim=1), torch.ones(52), atol=1e-5)
    # Made from the class names: related names are closer than unrelated ones.
    nod, shake_head, touch_legs = (FINE_CLASSES.index(n) for n in ("nodding", "shaking head", "touching legs"))
    assert table[nod] @ table[shake_head] > table[nod] @ table[touch_legs]
    assert len({tuple(row.tolist()) for row in table}) == 52


def test_random_source_is_fixed_unit_vectors() -> None:
    table = label_embeddings("random")
    assert table.shape == (52, 300) and table.dtype == torch.float32
    assert torch.equal(table, label_embeddings("random"))
    assert torch.allclose(table.norm(dim=1), torch.ones(52), atol=1e-5)


def test_user_file_like_the_authors_glove_table(tmp_path: Path) -> None:
    array = np.random.default_rng(1).standard_normal((52, 300))  # float64 on disk
    path = tmp_path / "1214_new_mean_Vectors.npy"
    np.save(path, array)
    table = label_embeddings(path)
    assert table.dtype == torch.float32 and torch.allclose(table, torch.from_numpy(array).float())
    assert torch.equal(label_embeddings(str(path)), table)


@pytest.mark.parametrize(
    "content,expected",
    [
        (np.zeros((51, 300)), "shape"),
        (np.zeros(52), "shape"),
        (np.zeros((52, 0)), "shape"),
        (np.array([["a"] * 3] * 52), "not numeric"),
        (np.full((52, 4), np.nan), "NaN or inf at row 0, column 0"),
        (np.array([[1.0, np.inf]] * 52), "NaN or inf at row 0, column 1"),
        (np.array([[object()]] * 52, dtype=object), "cannot be read"),
    ],
)
def test_bad_files_are_value_errors_naming_the_file(tmp_path: Path, content: np.ndarray, expected: str) -> None:
    path = tmp_path / "table.npy"
    np.save(path, content, allow_pickle=True)
    with pytest.raises(ValueError, match=expected) as info:
        label_embeddings(path)
    assert str(path) in str(info.value)


def test_unreadable_or_missing_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"not a numpy file")
    with pytest.raises(ValueError, match="cannot be read") as info:
        label_embeddings(garbage)
    assert str(garbage) in str(info.value)
    with pytest.raises(ValueError, match="no such file"):
        label_embeddings(tmp_path / "absent.npy")
    with pytest.raises(ValueError, match="'random'"):
        label_embeddings("glove")


def test_model_embedding_dim_follows_the_table() -> None:
    table = label_embeddings()
    model = MANet(num_classes=52, num_segments=2, depth=18, width=8, emb_dim=table.shape[1]).eval()
    with torch.no_grad():
        logits, emb = model(torch.randn(2, 2, 3, 32, 32), return_embedding=True)
    loss, parts = JointEmbeddingLoss(table)(logits, torch.tensor([3, 9]), emb)
    assert torch.isfinite(loss) and parts["mse"] > 0
