"""The performance chapter's headline (ma52lib.chapters.performance)."""

from __future__ import annotations

import pandas as pd

from ma52lib.chapters import performance as perf

from fakeruns import stated_numbers


def test_performance_headline_counts_the_targets_met() -> None:
    targets = pd.DataFrame({"target": ["a", "b", "c"], "met": ["yes", "no", "-"]}).set_index("target")
    bench = {"mode": "quick", "created": "2026-01-01", "machine": {"cpu": "X", "cores": 2}}
    text = perf.headline(bench, targets)
    assert stated_numbers(text) == [1, 2, 2, 2026]  # 1 of 2 measured targets met (c is not measured); 2 cores
    assert "misses b" in text  # the one missed is named
    assert all(fact in text for fact in ("quick", "X", "2026-01-01"))

