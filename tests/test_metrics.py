"""ma52lib.metrics against scikit-learn and hand-checked cases."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, top_k_accuracy_score

from ma52lib.metrics import SCALAR_KEYS, compute_metrics, format_table, write_submission

BODY = np.array([0] * 5 + [1] * 6 + [2] * 13 + [3] * 8 + [4] * 6 + [5] * 10 + [6] * 4)  # facts-file ranges


def _random(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 52, n)
    logits = rng.normal(size=(n, 52))
    logits[np.arange(n), labels] += rng.normal(1.5, 1.0, n)  # a model that is right sometimes
    return logits, labels


def test_matches_sklearn_on_random_data() -> None:
    logits, labels = _random()
    m = compute_metrics(logits, labels)
    pred = logits.argmax(1)
    assert m["action_top1"] == pytest.approx(100 * np.mean(pred == labels))
    assert m["action_top5"] == pytest.approx(100 * top_k_accuracy_score(labels, logits, k=5, labels=range(52)))
    assert m["body_top1"] == pytest.approx(100 * np.mean(BODY[pred] == BODY[labels]))
    assert m["action_f1_macro"] == pytest.approx(100 * f1_score(labels, pred, average="macro"))
    assert m["body_f1_macro"] == pytest.approx(100 * f1_score(BODY[labels], BODY[pred], average="macro"))
    # Single-label data: micro F1 is top-1 accuracy.
    assert m["action_f1_micro"] == pytest.approx(m["action_top1"])
    assert m["body_f1_micro"] == pytest.approx(m["body_top1"])
    four = [m["body_f1_micro"], m["body_f1_macro"], m["action_f1_micro"], m["action_f1_macro"]]
    assert m["f1_mean"] == pytest.approx(sum(four) / 4)
    assert 0 < m["action_top1"] < m["action_top5"] < 100 and m["n"] == 300
    assert set(SCALAR_KEYS) <= set(m)


def test_logits_probs_and_tensors_agree() -> None:
    logits, labels = _random(seed=1)
    probs = torch.softmax(torch.tensor(logits), dim=1)
    a = compute_metrics(logits, labels)
    b = compute_metrics(probs, torch.tensor(labels))
    c = compute_metrics(probs.to(torch.bfloat16).float(), labels)  # rounding may create ties, still valid
    for key in SCALAR_KEYS:
        assert a[key] == pytest.approx(b[key])
    assert c["n"] == 300


def test_macro_f1_averages_only_over_classes_present() -> None:
    # Two samples, classes 3 and 9, both right: sklearn without labels= gives macro F1 = 100,
    # whereas averaging over all 52 classes would give 2 / 52.
    probs = np.zeros((2, 52))
    probs[0, 3] = probs[1, 9] = 1
    m = compute_metrics(probs, np.array([3, 9]))
    assert m["action_f1_macro"] == pytest.approx(100.0)


def test_per_class_accuracy_confusion_and_body_mapping() -> None:
    # labels 0, 0, 5, 30; predictions 0, 4 (same body part), 6 (same body), 48 (other body).
    labels = np.array([0, 0, 5, 30])
    probs = np.full((4, 52), 0.01)
    for row, p in enumerate([0, 4, 6, 48]):
        probs[row, p] = 0.9
    m = compute_metrics(probs, labels)
    assert m["action_top1"] == 25.0 and m["body_top1"] == 75.0
    acc = m["action_per_class_acc"]
    assert acc[0] == 50.0 and acc[5] == 0.0 and acc[30] == 0.0 and math.isnan(acc[1])
    body = m["body_per_class_acc"]
    assert body[0] == 100.0 and body[1] == 100.0 and body[3] == 0.0 and math.isnan(body[6])
    conf = np.array(m["action_confusion"])
    assert conf.shape == (52, 52) and conf.sum() == 4 and conf[0, 4] == 1 and conf[30, 48] == 1
    bconf = np.array(m["body_confusion"])
    assert bconf.shape == (7, 7) and bconf[0, 0] == 2 and bconf[3, 6] == 1


def test_top5_counts_label_among_five_best() -> None:
    probs = np.tile(np.arange(52, dtype=float)[::-1], (2, 1))  # class 0 best, then 1, 2, ...
    m = compute_metrics(probs, np.array([4, 5]))  # rank 5 counts, rank 6 does not
    assert m["action_top5"] == 50.0 and m["action_top1"] == 0.0


def test_input_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        compute_metrics(np.zeros((0, 52)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match=r"\[N, 52\]"):
        compute_metrics(np.zeros((3, 51)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="labels must have shape"):
        compute_metrics(np.zeros((3, 52)), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="0..51"):
        compute_metrics(np.zeros((1, 52)), np.array([52]))


def test_format_table() -> None:
    logits, labels = _random()
    m = compute_metrics(logits, labels)
    single = format_table(m).splitlines()
    assert single[0].split()[:2] == ["Body", "Top-1"] and f"{m['f1_mean']:.2f}" in single[2]
    rows = format_table({"ours": m, "MANet (paper)": {"action_top1": 61.33, "body_f1_micro": "not public"}})
    lines = rows.splitlines()
    assert lines[0].startswith("Method") and len(lines) == 4
    assert lines[3].startswith("MANet (paper)") and "61.33" in lines[3] and "not public" in lines[3]
    assert " - " in lines[3] + " "  # missing values print as '-'
    assert format_table([{"name": "x", **m}]).splitlines()[2].startswith("x")


def test_write_submission(tmp_path: Path) -> None:
    probs = np.zeros((2, 52))
    probs[0, [51, 49, 35, 14, 19]] = [5, 4, 3, 2, 1]
    probs[1, [0, 11, 24, 32, 38]] = [1, 2, 3, 4, 5]
    path = tmp_path / "prediction.csv"
    write_submission(path, ["test0000", "test0001.mp4"], torch.tensor(probs))
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["vid"] + [f"action_pred_{k}" for k in range(1, 6)] + [f"body_pred_{k}" for k in range(1, 6)]
    assert rows[1] == ["test0000.mp4", "51", "49", "35", "14", "19", "6", "6", "4", "2", "2"]
    assert rows[2] == ["test0001.mp4", "38", "32", "24", "11", "0", "5", "4", "3", "2", "0"]
    with pytest.raises(ValueError, match="must match"):
        write_submission(path, ["a"], probs)
