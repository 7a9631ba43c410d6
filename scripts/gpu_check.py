"""The GPU path, measured in one go: ceilings, paper-size steps, the data path, the user path.

Run on a machine with a CUDA GPU (``python scripts/gpu_check.py --out DIR``); everything lands in
``DIR/gpu_check.json`` (written after each part, so a run cut short keeps what it measured) and a
short table is printed last. ``--device cpu --size tiny`` runs the same code on a laptop in seconds
(what the tests do), so the script is known to work before device time is spent on it.

Parts:
1. ceiling: the bf16 (and fp32) matmul rate of this device, measured in the same run;
2. steps: the engine's training step (``ma52lib.engine.step.train_step``, timed by ``ma52lib.engine.measure``) of
   MANet, TSM, I3D and Video Swin at ``--size`` in bf16 + channels_last on in-memory clips: clips/s,
   frames/s and FLOP/s against the ceiling; MANet also at a larger batch and under ``torch.compile``;
3. data: MA-52-Synth rendered at the real recordings' aspect (``--short-side`` px) in the official
   layout, and the real training loader alone with N workers and pinned memory: clips/s;
4. user path: ``torchrun --nproc_per_node 1 -m ma52lib.cli train`` for one epoch on that data, then
   ``python -m ma52lib.cli eval``: NCCL, DDP, checkpoints and the metric table exercised.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from ma52lib.config import make_config
from ma52lib.engine.measure import (
    loader_benchmark,
    machine_info,
    matmul_ceiling,
    random_batch,
    step_benchmark,
    sync,
    timing_config,
)
from ma52lib.engine.step import build_trainee, train_step
from ma52lib.synth import synthesize

MODELS = ("manet", "tsm", "i3d", "vswin")
TARGET_FRAMES_PER_S = 6000  # MANet training on one H200: the paper recipe in a few hours


def _part(result: dict[str, Any], name: str, out: Path, fn: Callable[[], Any]) -> None:
    """Run one part; record its value, or its error, and its seconds; write the JSON so far."""
    t0 = time.perf_counter()
    try:
        result[name] = fn()
    except Exception as exc:  # a failed part is a finding, not the end of the check
        result[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
    result.setdefault("seconds", {})[name] = round(time.perf_counter() - t0, 1)
    (out / "gpu_check.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"[{name}] {result['seconds'][name]} s", flush=True)


def ceilings(device: torch.device, size: str) -> dict[str, Any]:
    """bf16 and fp32 matmul GFLOP/s (n x n x n; 8192 on a GPU)."""
    sizes = (8192,) if device.type == "cuda" else (256,)
    return {"bf16": matmul_ceiling(torch.bfloat16, sizes, device=device),
            "fp32": matmul_ceiling(torch.float32, sizes, device=device)}


def steps(device: torch.device, size: str, ceiling: dict[str, Any], repeats: int) -> list[dict[str, Any]]:
    """The engine's bf16 + channels_last training step of each model at the recipe's per-GPU batch."""
    ceil = {"bf16": ceiling["bf16"]["gflops"], "fp32": ceiling["fp32"]["gflops"]}
    rows = []
    for name in MODELS:
        row = step_benchmark(name, size, train=True, bf16=True, channels_last=True, repeats=repeats,
                             warmup=3, device=device, ceilings=ceil)
        row["frames_per_s"] = row["clips_per_s"] * row["frames"]
        print(f"  {name}: {row['clips_per_s']:.1f} clips/s, {row['frames_per_s']:.0f} frames/s, "
              f"{row['gflops']:.0f} GFLOP/s", flush=True)
        rows.append(row)
    return rows


def manet_step(device: torch.device, size: str, batch: int, *, compile_model: bool, repeats: int,
               bf16_gflops: float) -> dict[str, Any]:
    """MANet's training step (the engine's, in bf16) at ``batch`` clips, its forward optionally compiled."""
    cfg = timing_config(size, "manet", device)
    torch.manual_seed(0)
    trainee = build_trainee(cfg, device)  # frozen stages, joint loss, optimiser and layout as the runs
    trainee.model.train()
    clips, labels = random_batch(cfg, trainee, batch)
    flops = _flops_per_step(trainee, clips, labels)  # eager, before compiling
    if compile_model:
        trainee.net = torch.compile(trainee.model)

    t0 = time.perf_counter()
    train_step(trainee, clips, labels, bf16=True)  # compiles, when compiling
    sync(device)
    first_s = time.perf_counter() - t0
    for _ in range(2):
        train_step(trainee, clips, labels, bf16=True)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        train_step(trainee, clips, labels, bf16=True)
    sync(device)
    wall = (time.perf_counter() - t0) / repeats
    frames = trainee.model.num_frames
    row = {"model": "manet", "batch": batch, "compiled": compile_model, "first_step_s": first_s,
           "ms_per_step": 1000 * wall, "clips_per_s": batch / wall, "frames_per_s": batch * frames / wall,
           "gflops": flops / wall / 1e9}
    row["fraction_of_bf16_ceiling"] = row["gflops"] / bf16_gflops
    print(f"  manet batch {batch}{' compiled' if compile_model else ''}: {row['clips_per_s']:.1f} clips/s, "
          f"{row['frames_per_s']:.0f} frames/s (first step {first_s:.1f} s)", flush=True)
    return row


def _flops_per_step(trainee: Any, clips: torch.Tensor, labels: torch.Tensor) -> float:
    """FLOPs of one training step (forward, loss, backward, optimiser), counted eagerly."""
    with FlopCounterMode(display=False) as counter:
        train_step(trainee, clips, labels, bf16=True)
    return float(counter.get_total_flops())


def data_path(size: str, short_side: int, workers: tuple[int, ...], device: torch.device,
              root: Path) -> dict[str, Any]:
    """Render MA-52-Synth (smoke clip counts) at the real aspect and time the training loader."""
    width = short_side
    # MA-52 recordings are 1080 x 1296 (W x H); h264 yuv420p needs even sides, as in `ma52 data prepare`.
    height = 2 * round(short_side * 1296 / 1080 / 2)
    t0 = time.perf_counter()
    data = synthesize(root / "synth", profile="smoke", size=(width, height), workers=os.cpu_count() or 2,
                      progress=False)
    render_s = time.perf_counter() - t0
    loaders = [loader_benchmark(data, size, w, batches=20, device=device) for w in workers]
    for row in loaders:
        print(f"  loader, {row['workers']} workers: {row['clips_per_s']:.1f} clips/s", flush=True)
    return {"root": str(data), "size": [width, height], "render_s": render_s, "loaders": loaders}


def user_path(data: str, profile: str, device: torch.device, root: Path) -> dict[str, Any]:
    """``torchrun ... ma52lib.cli train`` for one epoch, then ``ma52lib.cli eval`` on val."""
    run = root / "run"
    # Random init: the GPU machines reach no network, so torchvision's ImageNet file cannot be fetched there
    # (the start weights' route is tested on CPU, tests/test_weights.py); the path under test is the same.
    overrides = ["--set", "optim.epochs=1", "--set", f"runtime.device={device.type}", "--set", "model.pretrained=none"]
    train_cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                 "-m", "ma52lib.cli", "train", "--model", "manet", "--profile", profile,
                 "--data-root", data, "--out", str(run), *overrides]
    eval_cmd = [sys.executable, "-m", "ma52lib.cli", "eval", "--run", str(run), "--split", "val"]
    result = {}
    for name, cmd in (("train", train_cmd), ("eval", eval_cmd)):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        result[name] = {"cmd": " ".join(cmd), "rc": proc.returncode, "seconds": time.perf_counter() - t0,
                        "tail": (proc.stdout + proc.stderr)[-2500:]}
        print(f"  {name}: rc {proc.returncode}, {result[name]['seconds']:.0f} s", flush=True)
        if proc.returncode:
            break
    log = run / "train.log"
    result["train_log_tail"] = log.read_text()[-2500:] if log.exists() else None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json and the scratch data")
    parser.add_argument("--device", default="cuda", help="cuda (the check) or cpu (trying the script)")
    parser.add_argument("--size", default="paper", choices=("paper", "tiny"), help="model size of the steps")
    parser.add_argument("--big-batch", type=int, default=32, help="MANet's second batch size (clips)")
    parser.add_argument("--short-side", type=int, default=256, help="rendered frames' short side, px")
    parser.add_argument("--workers", default="8,16", help="loader workers to time, comma-separated")
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per row")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MA52_DATA_DIR", str(args.out / "data"))
    os.environ.setdefault("MA52_RUNS_DIR", str(args.out / "runs"))
    profile = "paper" if args.size == "paper" else "smoke"
    result: dict[str, Any] = {"machine": machine_info(device), "date": time.strftime("%Y-%m-%d"),
                              "target_frames_per_s": TARGET_FRAMES_PER_S, "size": args.size}
    _part(result, "ceiling", args.out, lambda: ceilings(device, args.size))
    bf16 = result["ceiling"]["bf16"]["gflops"] if "bf16" in result["ceiling"] else float("nan")
    _part(result, "steps", args.out, lambda: steps(device, args.size, result["ceiling"], args.repeats))
    batch = make_config(profile, {}).optim.batch_size
    _part(result, "manet", args.out, lambda: [
        manet_step(device, args.size, b, compile_model=False, repeats=args.repeats, bf16_gflops=bf16)
        for b in (batch, args.big_batch)])
    workers = tuple(int(w) for w in args.workers.split(","))
    _part(result, "data", args.out, lambda: data_path(args.size, args.short_side, workers, device, args.out))
    data = result["data"].get("root") if isinstance(result["data"], dict) else None
    if data:
        _part(result, "user_path", args.out, lambda: user_path(data, profile, device, args.out))
    if not args.no_compile:  # last: its compile time is the least predictable part
        _part(result, "compiled", args.out, lambda: [
            manet_step(device, args.size, args.big_batch, compile_model=True, repeats=args.repeats, bf16_gflops=bf16)])
    _summary(result)
    return 0


def _summary(result: dict[str, Any]) -> None:
    """The short table printed last."""
    print(json.dumps(result["machine"]))
    for name in ("ceiling", "steps", "manet", "data", "user_path", "compiled"):
        value = result.get(name)
        if isinstance(value, dict) and "error" in value:
            print(f"{name}: ERROR {value['error']}")
    parts = [result[name] for name in ("steps", "manet", "compiled") if isinstance(result.get(name), list)]
    rows = [row for part in parts for row in part]
    for row in rows:
        if isinstance(row, dict) and "clips_per_s" in row:
            print(f"{row['model']:6} batch {row.get('batch')} {'compiled ' if row.get('compiled') else ''}"
                  f"{row['clips_per_s']:8.1f} clips/s {row.get('frames_per_s', 0):8.0f} frames/s")


if __name__ == "__main__":
    sys.exit(main())
