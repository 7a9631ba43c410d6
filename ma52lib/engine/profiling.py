"""Where the time goes: the kernels of a training step (torch.profiler) and rendering MA-52-Synth (cProfile).

What the performance chapter's profile shows, measured by `ma52 bench` on the machine that builds the book, so
that a change made for speed starts from the kernels and functions that hold the time rather than a guess. The
phases of the real training loop (data, forward, backward, optimiser) are timed by ``measure.train_loop_benchmark``.
"""

from __future__ import annotations

import cProfile
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from ma52lib.engine.measure import random_batch, timing_config
from ma52lib.engine.step import build_trainee, train_step

# A kernel's group, by the first pattern its name contains (lower case); the rest is "elementwise and other".
KERNEL_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("convolution", ("conv",)),
    ("matmul", ("addmm", "aten::mm", "bmm", "matmul", "linear", "einsum", "scaled_dot_product")),
    ("normalisation", ("norm",)),
    ("optimiser", ("_foreach", "adam", "sgd")),
    ("copies and layout", ("copy_", "clone", "contiguous", "aten::cat", "aten::to", "index", "roll", "pad")),
)
OTHER = "elementwise and other"


def kernel_group(name: str) -> str:
    """The ``KERNEL_GROUPS`` group of a profiler op name such as ``aten::mkldnn_convolution``."""
    low = name.lower()
    for group, patterns in KERNEL_GROUPS:
        if any(p in low for p in patterns):
            return group
    return OTHER


def step_profile(model_name: str, size: str, *, bf16: bool, device: torch.device, steps: int = 2,
                 top: int = 6) -> dict[str, Any]:
    """The ``top`` kernels of ``steps`` training steps of ``model_name`` at ``size`` (the engine's step on random
    clips, after one warm-up step), each as a share of the steps' self time, and the time per kernel group."""
    cfg = timing_config(size, model_name, device)
    torch.manual_seed(0)
    trainee = build_trainee(cfg, device)
    clips, labels = random_batch(cfg, trainee)
    trainee.model.train()
    train_step(trainee, clips, labels, bf16=bf16)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            train_step(trainee, clips, labels, bf16=bf16)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)  # microseconds on the calling thread
    groups: dict[str, float] = {}
    for e in events:
        groups[kernel_group(e.key)] = groups.get(kernel_group(e.key), 0.0) + e.self_cpu_time_total / total
    ranked = sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]
    return {
        "model": model_name, "size": size, "bf16": bf16, "batch": len(labels), "ms_per_step": total / steps / 1000,
        "kernels": [{"name": e.key, "group": kernel_group(e.key), "share": e.self_cpu_time_total / total,
                     "calls_per_step": e.count / steps} for e in ranked],
        "groups": dict(sorted(groups.items(), key=lambda kv: -kv[1])),
    }


def render_profile(clips: int = 20, *, profile_name: str = "cpu", top: int = 8) -> dict[str, Any]:
    """Render and encode the first ``clips`` clips MA-52-Synth ``profile_name`` plans, in this process: clips per
    second on one core and the shares of drawing and encoding, then a quarter of them again under cProfile for the
    ``top`` functions by their own time (cProfile slows Python calls, so it gives the shares only)."""
    # Imported here: no other measurement of the bench needs the renderer.
    from ma52lib.synth.participants import make_participants
    from ma52lib.synth.render import render_clip
    from ma52lib.synth.writer import PROFILES, encode_mp4, plan_clips, split_counts

    spec = PROFILES[profile_name]
    people = {p.pid: p for p in make_participants(spec.participants, 0)}
    planned = plan_clips(split_counts(profile_name), list(people.values()), seed=0)[:clips]
    seconds = {"draw": 0.0, "encode": 0.0}
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        for i, clip in enumerate(planned + planned[:max(1, len(planned) // 4)]):
            profiled = i >= len(planned)
            if profiled:
                profiler.enable()
            t0 = time.perf_counter()
            frames = render_clip(clip.spec, people[clip.spec.participant], size=spec.size, fps=spec.fps)
            t1 = time.perf_counter()
            encode_mp4(Path(tmp) / f"{i}.mp4", frames, spec.fps)
            t2 = time.perf_counter()
            profiler.disable()
            if not profiled:
                seconds["draw"] += t1 - t0
                seconds["encode"] += t2 - t1
    total = sum(seconds.values())
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (calls, ncalls, tottime, cumtime, callers)}
    profiled_total = sum(v[2] for v in stats.values())
    ranked = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    return {
        "profile": profile_name, "clips": len(planned), "seconds": total, "clips_per_s_one_core": len(planned) / total,
        "shares": {k: v / total for k, v in seconds.items()},
        "functions": [{"function": _function_name(key), "share": value[2] / profiled_total, "calls": value[1]}
                      for key, value in ranked],
    }


def _function_name(key: tuple[str, int, str]) -> str:
    """``module.py:function`` for a cProfile key (a built-in method keeps its own name)."""
    file, _line, name = key
    return name if file == "~" else f"{Path(file).name}:{name}"
