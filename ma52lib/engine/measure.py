"""Measuring the engine on this machine: ceilings, the training step, the loader and the training loop.

What ``ma52 bench`` (the book's performance chapter) and ``scripts/gpu_check.py`` measure. Every step is the
engine's own (``engine.step.build_trainee`` / ``train_step``: frozen stages, loss, optimiser, clipping), on
random clips; the config of a timing (``timing_config``) is the profile's, at random init and a tiny lr so
that random clips cannot drive the weights to overflow (NaNs and denormals would change the timings).
Times are medians over repeats after warm-up; on a GPU every timed call ends with a ``sync``.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from ma52lib.config import Config, make_config, set_field
from ma52lib.engine.build import build_dataset, build_loader, build_model_for
from ma52lib.engine.evaluate import autocast
from ma52lib.engine.step import Trainee, build_trainee, for_timing, train_step
from ma52lib.labels import NUM_CLASSES
from ma52lib.machine import cpu_info

SIZES = {"tiny": "smoke", "cpu": "cpu", "paper": "paper"}  # step size -> the profile it is measured in


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on a CPU): a timer read after it sees the work done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine_info(device: torch.device) -> dict[str, Any]:
    """CPU model, cores, ISA flags that matter for bf16, torch version, and the accelerator if any."""
    model, flags = cpu_info()
    info = {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "amx_bf16": "amx_bf16" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def median_time(fn: Callable[[], Any], repeats: int, warmup: int, device: torch.device) -> tuple[float, float]:
    """Median wall seconds and median process CPU seconds of ``fn`` over ``repeats`` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync(device)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def matmul_ceiling(dtype: torch.dtype, sizes: tuple[int, ...], *, repeats: int = 5,
                   device: torch.device | None = None) -> dict[str, Any]:
    """Best over ``sizes`` of the median GFLOP/s of an n x n x n matmul in ``dtype`` (CPU by default)."""
    device = device or torch.device("cpu")
    per_size = {}
    for n in sizes:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        wall, _ = median_time(lambda a=a, b=b: torch.mm(a, b), repeats, 2, device)
        per_size[str(n)] = 2 * n**3 / wall / 1e9
    return {"gflops": max(per_size.values()), "per_size": per_size}


# --- the training step ------------------------------------------------------------------------------


def timing_config(size: str, model_name: str, device: torch.device, **overrides: Any) -> Config:
    """The config whose model and input a step of ``size`` uses (``tiny``: smoke profile, 4 segments), as the
    benchmark trains ``model_name`` (baselines with plain CE), made ready for timing (``step.for_timing``)."""
    over: dict[str, Any] = {"model.name": model_name, "runtime.device": device.type}
    if model_name != "manet":
        over["loss.weight"] = 0.0  # baselines train with plain CE, as in the benchmark
    if size == "tiny":
        over.update({"model.num_segments": 4, "optim.batch_size": 2})
    elif size == "paper" and device.type == "cpu":
        # Rates are per clip, so a smaller batch measures the same thing: a 10-clip ResNet-50 step
        # at 224 px would keep ~10 GB of activations on a machine that may have little to spare.
        over["optim.batch_size"] = 2
    return for_timing(make_config(SIZES[size], {**over, **overrides}))


def random_batch(cfg: Config, trainee: Trainee, batch: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random clips ``[N, T, 3, H, W]`` and labels ``[N]`` at the config's batch and crop, on the trainee's device."""
    n, px, dev = batch or cfg.optim.batch_size, cfg.data.crop_size, trainee.device
    clips = torch.randn(n, trainee.model.num_frames, 3, px, px, device=dev)
    return clips, torch.randint(0, NUM_CLASSES, (n,), device=dev)


def step_benchmark(model_name: str, size: str, *, train: bool, bf16: bool, channels_last: bool, repeats: int,
                   warmup: int, device: torch.device, ceilings: dict[str, float | None]) -> dict[str, Any]:
    """Time the engine's training step (or a forward in eval mode) of ``model_name`` at ``size``."""
    cfg = timing_config(size, model_name, device, **{"runtime.channels_last": channels_last})
    torch.manual_seed(0)
    trainee = build_trainee(cfg, device)  # frozen stages, loss and optimiser as the runs
    model = trainee.model
    clips, labels = random_batch(cfg, trainee)

    @torch.no_grad()
    def infer_step() -> None:
        with autocast(device, bf16):
            model(clips)

    model.train(train)
    step = (lambda: train_step(trainee, clips, labels, bf16=bf16)) if train else infer_step
    with FlopCounterMode(display=False) as counter:
        step()  # also the first warm-up call
    flops = counter.get_total_flops()
    wall, cpu = median_time(step, repeats, max(0, warmup - 1), device)
    threads = torch.get_num_threads() if device.type == "cpu" else 1
    gflops = flops / wall / 1e9
    batch = len(labels)
    return {
        "model": model_name, "size": size, "mode": "train" if train else "infer", "bf16": bf16,
        "channels_last": channels_last, "batch": batch, "frames": model.num_frames, "pixels": cfg.data.crop_size,
        "ms_per_step": 1000 * wall, "cpu_ms_per_step": 1000 * cpu,
        "cpu_util": cpu / (wall * threads) if device.type == "cpu" else None,
        "clips_per_s": batch / wall, "gflop_per_step": flops / 1e9, "gflops": gflops,
        # Against the ceiling of the precision the step ran in (fp32 work cannot use bf16 units); None
        # for emulated bf16, whose matmul "ceiling" is no ceiling of anything.
        "fraction_of_ceiling": gflops / ceiling if (ceiling := ceilings["bf16" if bf16 else "fp32"]) else None,
    }


# --- the data path ----------------------------------------------------------------------------------


def warm_cache(ds) -> float:
    """Read every clip once so the frame cache holds the split; returns the seconds it took."""
    t0 = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    return time.perf_counter() - t0


def loader_benchmark(data_root: Path, size: str, workers: int, *, batches: int,
                     device: torch.device, cache: bool = False) -> dict[str, Any]:
    """Clips/s of the training loader alone (decode + sample + transform + collate) with ``workers``;
    ``cache``: from the warm in-memory frame cache instead (sample + transform + collate)."""
    cfg = with_fields(timing_config(size, "manet", device), {"data.num_workers": workers, "data.cache": cache})
    model = build_model_for(cfg)
    ds = build_dataset(cfg, data_root, cfg.data.train_split, model, train=True)
    warm_s = warm_cache(ds) if cache else None
    loader = build_loader(cfg, ds, train=True, pin=device.type == "cuda")
    t0 = time.perf_counter()
    it = iter(loader)
    seen, first_at = 0, None
    for i in range(batches + 1):
        try:
            clips, labels, _, _ = next(it)
        except StopIteration:
            loader.sampler.set_epoch(loader.sampler.epoch + 1)
            it = iter(loader)
            clips, labels, _, _ = next(it)
        if i == 0:  # worker start-up and the first batch are reported apart
            first_at = time.perf_counter()
            continue
        seen += len(labels)
    wall = time.perf_counter() - first_at
    del it, loader
    return {"workers": workers, "cache": cache, "cache_fill_s": warm_s, "clips_per_s": seen / wall,
            "first_batch_s": first_at - t0, "batch": cfg.optim.batch_size, "short_side": cfg.data.short_side,
            "crop": cfg.data.crop_size}


def train_loop_benchmark(data_root: Path, size: str, workers: int, threads: int, *, steps: int,
                         device: torch.device, cache: bool = False, bf16: bool = False) -> dict[str, Any]:
    """The real training loop (loader + step) for ``steps`` steps: clips/s and data-wait fraction
    (``cache``: clips from the warm frame cache, as the cpu profile trains after its first epoch)."""
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        cfg = with_fields(timing_config(size, "manet", device), {"data.num_workers": workers, "data.cache": cache})
        torch.manual_seed(0)
        trainee = build_trainee(cfg, device)
        ds = build_dataset(cfg, data_root, cfg.data.train_split, trainee.model, train=True)
        if cache:
            warm_cache(ds)
        loader = build_loader(cfg, ds, train=True, pin=device.type == "cuda")
        trainee.model.train()
        wait, busy, phases = _timed_loop(trainee, loader, steps, bf16)
    finally:
        torch.set_num_threads(old_threads)
    total = wait + busy
    return {"workers": workers, "threads": threads, "cache": cache, "steps": steps,
            "clips_per_s": steps * cfg.optim.batch_size / total, "data_wait_fraction": wait / total,
            # what is left of the step outside the three phases (copies to the device, the sync) is "other"
            "phase_shares": {**{k: v / total for k, v in phases.items()},
                             "other": max(0.0, 1.0 - sum(phases.values()) / total)}}


class _PhaseClock:
    """``train_step``'s clock: seconds of each phase since ``start``, kept per step (on a GPU each phase waits for
    its kernels, so a phase is the work it launched, not the launching)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mark = time.perf_counter()
        self.step: dict[str, float] = {}

    def start(self) -> None:
        self.mark, self.step = time.perf_counter(), {}

    def __call__(self, phase: str) -> None:
        sync(self.device)
        now = time.perf_counter()
        self.step[phase] = self.step.get(phase, 0.0) + now - self.mark
        self.mark = now


def _timed_loop(trainee: Trainee, loader: Any, steps: int, bf16: bool) -> tuple[float, float, dict[str, float]]:
    """Seconds waiting for batches and seconds stepping over ``steps`` steps (after one untimed step), and the
    seconds of each phase: data (loader and augmentation), forward (with the loss), backward, optimiser."""
    device = trainee.device
    phases = dict.fromkeys(("data", "forward", "backward", "optimiser"), 0.0)
    clock = _PhaseClock(device)
    wait = busy = 0.0
    done = epoch = 0
    it = iter(loader)
    t_fetch = time.perf_counter()
    while done < steps + 1:
        try:
            clips, labels, _, _ = next(it)
        except StopIteration:
            epoch += 1
            loader.sampler.set_epoch(epoch)
            it = iter(loader)
            continue
        t_got = time.perf_counter()
        clock.start()
        train_step(trainee, clips.to(device, non_blocking=True), labels.to(device, non_blocking=True), bf16=bf16,
                   clock=clock)
        sync(device)
        t_end = time.perf_counter()
        if done > 0:  # the first step pays for worker start-up and warm-up
            wait += t_got - t_fetch
            busy += t_end - t_got
            for phase, seconds in {**clock.step, "data": t_got - t_fetch}.items():
                phases[phase] += seconds
        done += 1
        t_fetch = time.perf_counter()
    del it
    return wait, busy, phases


def with_fields(cfg: Config, overrides: dict[str, Any]) -> Config:
    """``cfg`` with dotted ``overrides`` (``{"data.num_workers": 0}``) set."""
    for key, value in overrides.items():
        cfg = set_field(cfg, key, value)
    return cfg
