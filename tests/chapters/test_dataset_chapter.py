"""The dataset chapter's motion table and headline (ma52lib.chapters.dataset)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ma52lib.chapters import dataset as dataset_chapter
from ma52lib.labels import BODY_PARTS, FINE_CLASSES

from fakeruns import stated_numbers


def test_motion_table_averages_per_body_part_in_label_order() -> None:
    rows = [{"label": 0, "class": "x", "body part": BODY_PARTS[1], "inside": 4.0, "outside": 0.5, "share inside": 0.6,
             "region area": 0.1, "changed pixels": 0.02},
            {"label": 1, "class": "y", "body part": BODY_PARTS[1], "inside": 2.0, "outside": 0.5, "share inside": 0.4,
             "region area": 0.3, "changed pixels": 0.04},
            {"label": 2, "class": "z", "body part": BODY_PARTS[0], "inside": 1.0, "outside": 0.0, "share inside": 1.0,
             "region area": 0.2, "changed pixels": 0.01}]
    table = dataset_chapter.motion_table(rows)
    assert list(table.index) == [BODY_PARTS[0], BODY_PARTS[1]]
    assert list(table.columns) == ["inside", "outside", "ratio", "share", "area", "changed"]
    assert table.loc[BODY_PARTS[1], "inside"] == 3.0 and table.loc[BODY_PARTS[1], "ratio"] == 6.0
    assert table.loc[BODY_PARTS[0], "ratio"] == pytest.approx(1e9)  # no motion outside: divided by 1e-9


def test_dataset_headline_counts_the_splits_and_the_tail(tmp_path: Path) -> None:
    (tmp_path / "train_list_videos.txt").write_bytes(b"a.mp4 3\r\nb.mp4 3\r\nc.mp4 3\r\nd.mp4 51")
    (tmp_path / "val_list_videos.txt").write_bytes(b"e.mp4 3\r\n")
    (tmp_path / "test_list_videos.txt").write_bytes(b"f.mp4 3\r\ng.mp4 5\r\n")
    text = dataset_chapter.headline(tmp_path)
    # the splits' clips, the classes and body parts; the commonest class's 3 clips and the rarest's 0 (no ratio)
    assert stated_numbers(text)[:5] == [4, 1, 2, 52, 7] and stated_numbers(text)[5:] == [3, 0]
    assert text.index(FINE_CLASSES[3]) < text.index(FINE_CLASSES[0])

