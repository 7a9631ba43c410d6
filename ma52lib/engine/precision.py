"""Choose the numeric precision of a run by measurement: ``runtime.precision = auto | fp32 | bf16``.

bf16 autocast is fast only where the hardware runs it: on CPUs with AMX or AVX512-BF16 oneDNN uses
native instructions, elsewhere it emulates bf16 and a training step is 10-30x slower than in fp32
(measured on an AVX2-only AMD EPYC: MANet cpu 4.2 against 43.6 clips/s). Even where bf16 is native
it is not always faster: on a Xeon with AMX the cpu-size MANet step ran at 54.5 clips/s in bf16 and
54.6 in fp32 (small convolutions are bound by memory traffic and autocast's casts), while Video Swin
gained 1.3x, and at batch 4 neither gained.

``auto`` therefore decides per run: where the CPU has no native bf16 it takes fp32 (a small probe of
the model's kind of work, 2-D or 3-D convolutions or matmuls, measures how much slower emulated bf16
is, for the log); where bf16 is native it times the run's own training step (``engine.step``: its model
with the frozen stages, its loss and optimiser), at the run's batch and input size, in fp32 and under bf16
autocast, and takes bf16 only when it is at least ``BF16_MARGIN`` faster. CUDA devices use bf16 where they support it.

Timings on a shared machine move by 10-20% from one process to the next, and the resolved precision
is part of a run's identity (its config hash: a bf16 run is never reused as an fp32 one). So a
measured choice is remembered per machine, model (name and size, shared by its ablation variants) and
input in ``<runs>/.precision.json``: every later process on the same machine reuses it, and an unchanged
run keeps its folder. The choice is written into the run's config, its ``results.json`` and ``train.log``.
"""

from __future__ import annotations

import fcntl
import json
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ma52lib.config import PRECISIONS, Config
from ma52lib.engine.build import build_model_for, without_weights
from ma52lib.engine.step import build_trainee, for_timing, train_step
from ma52lib.files import atomic_write_text
from ma52lib.labels import NUM_CLASSES
from ma52lib.machine import cpu_name
from ma52lib.paths import runs_dir

BF16_MARGIN = 1.20  # bf16 must be clearly faster (beyond timing noise) to be worth its rounding
MEMORY_FILE = ".precision.json"  # in the runs folder: choices measured on this machine
# The most frame pixels one timed step of a model probe holds (the cpu profile's batch: 16 clips x 8 x 56 x 56):
# a larger run (the paper's 224 px) is timed at a smaller batch, which keeps the probe to seconds on a CPU.
PROBE_PIXELS = 16 * 8 * 56 * 56


@dataclass(frozen=True)
class Probe:
    """What the probe measured: seconds of one fp32 and one bf16 call, and whether bf16 is native."""

    kind: str  # "conv2d" | "conv3d" | "matmul"
    fp32_s: float
    bf16_s: float
    native_bf16: bool

    @property
    def bf16_speedup(self) -> float:
        """fp32 time over bf16 time (> 1: bf16 is faster)."""
        return self.fp32_s / self.bf16_s


@dataclass(frozen=True)
class Choice:
    """A resolved precision and why it was chosen (one line for train.log and results.json)."""

    precision: str  # "fp32" | "bf16"
    reason: str


def native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX), not emulated."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check()) if check is not None else False


def work_kind(model: nn.Module) -> str:
    """The layer type holding most of ``model``'s weights: ``conv2d``, ``conv3d`` or ``matmul``."""
    weights = {"conv2d": 0, "conv3d": 0, "matmul": 0}
    for module in model.modules():
        kind = {nn.Conv2d: "conv2d", nn.Conv3d: "conv3d", nn.Linear: "matmul"}.get(type(module))
        if kind is None and isinstance(module, nn.Conv3d):  # GuardedConv3d and other subclasses
            kind = "conv3d"
        if kind is not None:
            weights[kind] += module.weight.numel()
    return max(weights, key=weights.__getitem__)


def _probe_net(kind: str) -> tuple[nn.Module, torch.Tensor]:
    """A small stand-in for a model's body and its input (a few ms of fp32 work on two cores)."""
    torch.manual_seed(0)
    if kind == "conv3d":
        net = nn.Sequential(nn.Conv3d(32, 32, 3, padding=1), nn.BatchNorm3d(32), nn.ReLU(),
                            nn.Conv3d(32, 32, 3, padding=1))
        x = torch.randn(2, 32, 4, 14, 14).contiguous(memory_format=torch.channels_last_3d)  # [N, C, T, H, W]
        return net.to(memory_format=torch.channels_last_3d), x
    if kind == "matmul":
        net = nn.Sequential(nn.Linear(128, 512), nn.GELU(), nn.Linear(512, 128))
        return net, torch.randn(1024, 128)  # [tokens, C]
    net = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                        nn.Conv2d(32, 32, 3, padding=1))
    x = torch.randn(16, 32, 14, 14).contiguous(memory_format=torch.channels_last)  # [N*T, C, H, W]
    return net.to(memory_format=torch.channels_last), x


def _time(step: Callable[[bool], None], bf16: bool) -> float:
    """Seconds of one ``step(bf16)`` after a warm-up call (best of two unless a call takes over half a second)."""
    t0 = time.perf_counter()
    step(bf16)  # warm-up: oneDNN builds its kernels on the first call
    if time.perf_counter() - t0 > 0.5:  # a paper-size step on a CPU: one timed call is enough
        repeats = 1
    else:
        repeats = 2
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        step(bf16)
        best = min(best, time.perf_counter() - t0)
    return best


def _measure(kind: str, step: Callable[[bool], None]) -> Probe:
    with torch.random.fork_rng(devices=[]):  # probes leave the run's random stream untouched
        return Probe(kind, _time(step, False), _time(step, True), native_bf16())


@lru_cache(maxsize=None)
def probe(kind: str = "conv2d") -> Probe:
    """Forward + backward of a small ``kind`` network in fp32 and under CPU bf16 autocast (cached per process)."""
    net, x = _probe_net(kind)
    x.requires_grad_(True)

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        out.float().square().mean().backward()

    return _measure(kind, step)


@lru_cache(maxsize=None)
def _model_probe(cfg: Config) -> Probe:
    with torch.random.fork_rng(devices=[]):  # building and stepping leave the run's random stream untouched
        torch.manual_seed(0)
        trainee = build_trainee(cfg)  # the run's own: frozen stages, layout, loss, optimiser
        model = trainee.model
        batch = probe_batch(cfg.optim.batch_size, model.num_frames, cfg.data.crop_size)
        clips = torch.randn(batch, model.num_frames, 3, cfg.data.crop_size, cfg.data.crop_size)  # [N, T, 3, H, W]
        labels = torch.randint(0, NUM_CLASSES, (batch,))
        model.train()
        return _measure(f"{cfg.model.name} step", lambda bf16: train_step(trainee, clips, labels, bf16=bf16))


def probe_batch(batch: int, frames: int, crop: int) -> int:
    """The batch a model probe times: the run's own, cut to ``PROBE_PIXELS`` of frames (at least one clip)."""
    return max(1, min(batch, PROBE_PIXELS // (frames * crop * crop)))


def model_probe(cfg: Config) -> Probe:
    """The engine's training step of ``cfg`` (``engine.step.train_step``: frozen stages, loss, optimiser) at its
    batch (cut to ``PROBE_PIXELS``) and input size, random init, fp32 against bf16 (cached per process)."""
    return _model_probe(replace(for_timing(cfg), runtime=replace(cfg.runtime, device="cpu", precision="fp32")))


def decide(probe_result: Probe) -> Choice:
    """The ``auto`` rule on a CPU: bf16 only where it is native and at least BF16_MARGIN faster."""
    p = probe_result
    speed = p.bf16_speedup
    if not p.native_bf16:
        return Choice("fp32", f"auto: bf16 is emulated on this CPU (no AVX512-BF16/AMX) and {1 / speed:.1f}x "
                              f"slower than fp32 ({p.kind} probe)")
    if speed < BF16_MARGIN:
        ratio = f"{1 / speed:.1f}x slower" if speed < 1 else f"only {speed:.2f}x faster"
        return Choice("fp32", f"auto: bf16 is native on this CPU but {ratio} than fp32 ({p.kind} probe)")
    return Choice("bf16", f"auto: bf16 is native on this CPU and {speed:.1f}x faster than fp32 ({p.kind} probe)")


def choose(requested: str, device: torch.device, kind: str, *,
           measure: Callable[[], Probe] | None = None) -> Choice:
    """The precision a run uses on ``device``; ``kind`` is the model's work (``work_kind``) and ``measure``
    times the run's own step where bf16 is native (tests inject a result here)."""
    if requested not in PRECISIONS:
        raise ValueError(f"runtime.precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
        if requested == "auto":
            return Choice("bf16" if supported else "fp32",
                          f"auto: {torch.cuda.get_device_name(device)} {'supports' if supported else 'lacks'} bf16")
        return Choice(requested, "as asked")
    if requested == "fp32":
        return Choice("fp32", "as asked")
    if requested == "bf16":
        if native_bf16():
            return Choice("bf16", "as asked")
        return Choice("bf16", "as asked; this CPU has no native bf16 (no AVX512-BF16/AMX): oneDNN emulates it, "
                              "expect a step 10-30x slower than fp32")
    if measure is None:
        if not native_bf16():  # fp32 either way: a small probe says by how much, for the log
            return decide(probe(kind))
        raise ValueError("choose(auto) on a CPU with native bf16 needs measure=: the run's step probe")
    return decide(measure())


def device_of(cfg: Config) -> torch.device:
    """The device a run of ``cfg`` uses (``runtime.device``; ``auto`` is CUDA when available)."""
    wanted = cfg.runtime.device
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device("cuda" if wanted.startswith("cuda") else "cpu")


def resolve(cfg: Config, *, model: nn.Module | None = None,
            measure: Callable[[], Probe] | None = None) -> tuple[Config, Choice]:
    """``cfg`` with ``runtime.precision`` made concrete (fp32 or bf16) for this machine, and why.

    ``measure`` replaces the timing of the run's step (tests inject a result); without it a choice
    measured earlier on this machine for the same model and input is reused.
    """
    if cfg.runtime.precision != "auto" or device_of(cfg).type == "cuda":
        choice = choose(cfg.runtime.precision, device_of(cfg), "conv2d")  # nothing to measure
    elif measure is not None:
        choice = choose("auto", device_of(cfg), "conv2d", measure=measure)
    else:
        choice = _remembered(cfg, model)
    return replace(cfg, runtime=replace(cfg.runtime, precision=choice.precision)), choice


def _machine_key(cfg: Config) -> str:
    """What a measured choice depends on: the CPU, torch, threads, the model at its size, and its input.

    A model's ablation variants (SE, TSM, the embedding branch, segments, dropout, frozen stages) share
    its choice: a contrast such as "8 segments beat 4" then compares runs made in the same precision,
    where separate probes of ~1.2x-faster variants could land on either side of the margin.
    """
    m = cfg.model
    return json.dumps([cpu_name(), torch.backends.cpu.get_cpu_capability(), torch.__version__,
                       torch.get_num_threads(), {"name": m.name, "size": m.size, "depth": m.depth, "width": m.width},
                       cfg.optim.batch_size, cfg.data.crop_size, cfg.runtime.channels_last], sort_keys=True)


def _remembered(cfg: Config, model: nn.Module | None) -> Choice:
    """The auto choice of ``cfg`` on this CPU: from the runs folder's memory, else measured and remembered."""
    path = runs_dir() / MEMORY_FILE
    key = _machine_key(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process measures; the others read its choice
        memory = _read_memory(path)
        if key in memory:
            return Choice(memory[key]["precision"], memory[key]["reason"] + f" (measured {memory[key]['when']})")
        kind = work_kind(model if model is not None else build_model_for(without_weights(cfg)))  # layer types only
        choice = choose("auto", torch.device("cpu"), kind,
                        measure=(lambda: model_probe(cfg)) if native_bf16() else None)
        memory[key] = {"precision": choice.precision, "reason": choice.reason, "when": time.strftime("%Y-%m-%d")}
        atomic_write_text(path, json.dumps(memory, indent=1) + "\n")
    return choice


def _read_memory(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}  # none yet, or cut by a kill: measure again


def uses_bf16(cfg: Config) -> bool:
    """Whether a run with this (resolved) config runs under bf16 autocast."""
    if cfg.runtime.precision == "auto":
        raise ValueError("runtime.precision is still 'auto': resolve the config first (precision.resolve)")
    return cfg.runtime.precision == "bf16"
