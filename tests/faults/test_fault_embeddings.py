"""Label-embedding faults: a table of the wrong shape, NaN rows, files that are not numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ma52lib.embeddings import label_embeddings
from ma52lib.engine.train import train

from faultkit import fault_cfg


def _wrong_shape(path: Path) -> Path:
    np.save(path, np.ones((51, 300), np.float32))  # one class short
    return path


def _nan_rows(path: Path) -> Path:
    table = np.ones((52, 300), np.float32)
    table[7] = np.nan
    np.save(path, table)
    return path


def _text_table(path: Path) -> Path:
    path.write_text("nodding 0.1 0.2 0.3\nwaving 0.4 0.5 0.6\n")  # a GloVe-style text file named .npy
    return path


def _strings(path: Path) -> Path:
    np.save(path, np.full((52, 300), "x"))
    return path


def _objects(path: Path) -> Path:
    np.save(path, np.array([{"row": i} for i in range(52)], dtype=object), allow_pickle=True)
    return path


KEPT = "nothing starts: the table is checked before the model is built; no checkpoint is written"


@pytest.mark.parametrize("make, needle", [
    pytest.param(_wrong_shape, r"shape \(51, 300\)", marks=pytest.mark.fault_case(
        group="label embeddings", case="table of the wrong shape (51 x 300)", kept=KEPT)),
    pytest.param(_nan_rows, "NaN or inf at row 7", marks=pytest.mark.fault_case(
        group="label embeddings", case="table with a NaN row", kept=KEPT)),
    pytest.param(_text_table, "not the .npy header", marks=pytest.mark.fault_case(
        group="label embeddings", case="non-numeric file: a text table named .npy", kept=KEPT)),
    pytest.param(_strings, "is not numeric", marks=pytest.mark.fault_case(
        group="label embeddings", case="non-numeric file: a .npy of strings", kept=KEPT)),
    pytest.param(_objects, "Object arrays cannot be loaded", marks=pytest.mark.fault_case(
        group="label embeddings", case="non-numeric file: a .npy of pickled objects",
        kept=KEPT + "; the pickle is never loaded (allow_pickle=False)")),
])
def test_bad_table_is_refused_before_training(make, needle, fault, fault_data, tmp_path):
    path = make(tmp_path / "my table.npy")
    with pytest.raises(ValueError, match=needle) as info:
        label_embeddings(path)
    assert str(path) in fault.saw(info.value) and "expected a .npy array of shape [52, D]" in str(info.value)
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=needle):
        train(fault_cfg(fault_data, **{"loss.embeddings": str(path)}), out=out, echo=None)
    assert not list((out / "checkpoints").iterdir()) and not (out / "metrics.jsonl").exists()
