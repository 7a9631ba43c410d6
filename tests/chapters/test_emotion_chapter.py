"""The emotion chapter's tables (ma52lib.chapters.emotion) and its one MANet run, the benchmark's."""

from __future__ import annotations

import pytest

from ma52lib.chapters import benchmark as bm
from ma52lib.chapters import emotion as emotion_chapter
from ma52lib.config import config_hash
from ma52lib.emotion import Session, manet_config


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_the_emotion_chapter_and_the_benchmark_share_one_manet_run(profile: str) -> None:
    root = None if profile != "paper" else "/data/MA-52"
    assert config_hash(manet_config(profile, root, 3)) == config_hash(bm.benchmark_configs(profile, root, 3)["manet"])


def test_emotion_chapter_tables() -> None:
    rates = emotion_chapter.rate_table()
    assert list(rates.columns) == ["fine ids", "negative", "neutral", "positive"]
    assert (rates["neutral"] == 1.0).all()
    assert list(emotion_chapter.style_table().index) == ["negative", "neutral", "positive"]
    sessions = [Session(split, f"s{i}", emotion, ("a", "b")) for i, (split, emotion) in enumerate(
        [("train", "negative"), ("train", "positive"), ("val", "neutral"), ("test", "neutral")])]
    table = emotion_chapter.session_table(sessions)
    assert list(table.index) == ["train", "val", "test"] and list(table["clips"]) == [4, 2, 2]

