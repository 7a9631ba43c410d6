"""What this machine's CPU is, as /proc/cpuinfo says it: its model name and ISA flags (for the logs, the benchmark
and the shipped starts' provenance)."""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path


def cpu_info() -> tuple[str, set[str]]:
    """(model name, flags) of the first CPU; the platform's name and no flags where /proc/cpuinfo is missing."""
    name, flags = "", set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not name:
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    return name or platform.processor() or platform.machine(), flags


def cpu_name() -> str:
    """The CPU's model name."""
    return cpu_info()[0]


def bf16_support(flags: set[str]) -> str:
    """The widest of AMX, AVX512-BF16, AVX512, AVX2 these flags have ("" for none of them)."""
    for flag, label in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"), ("avx512f", "AVX512"), ("avx2", "AVX2")):
        if flag in flags:
            return label
    return ""
