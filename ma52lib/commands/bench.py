"""`ma52 bench`: how fast the hot paths run against what this machine can do, written to bench.json.

Measured in one run, so ratios compare like with like:

1. ceilings: fp32 and bf16 matmul GFLOP/s (bf16 runs on AMX or AVX512-BF16 where the CPU has them,
   and is emulated, 10-30x slower, elsewhere), and the precision ``runtime.precision=auto`` picks here;
2. training steps (the engine's own ``engine.step.train_step``, measured by ``engine.measure``) of MANet and
   every benchmark model, and inference of MANet and two baselines (TSM, I3D): clips/s and achieved FLOP/s
   (``torch.utils.flop_counter``) as a fraction of the ceiling of the step's precision, in the chosen precision
   (MANet: channels_last and contiguous, and one row in the other precision);
3. the data path: clips/s of the loader alone at 0, 1, 2 workers against the model's training rate,
   and the real training loop (loader + step) with the fraction of time spent waiting for data and the share
   of each phase (data, forward, backward, optimiser);
4. the profile (``engine.profiling``): the kernels of MANet's, TSM's and each video model's training step, and
   the renderer's functions;
5. end-to-end: wall time of ``ma52 reproduce`` per profile, cold and cached (read from its log).

Every time is a median over repeats; the load average before and after and the CPU time per step
(``cpu_util`` < 1 means other processes took cores) are recorded, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch

from ma52lib.chapters.reproduce import CHAPTERS
from ma52lib.engine.measure import (
    loader_benchmark,
    machine_info,
    matmul_ceiling,
    step_benchmark,
    timing_config,
    train_loop_benchmark,
)
from ma52lib.engine.precision import model_probe, native_bf16, probe, resolve
from ma52lib.engine.profiling import render_profile, step_profile
from ma52lib.files import atomic_write_text
from ma52lib.models import BENCHMARK_MODELS
from ma52lib.paths import generated_dir
from ma52lib.synth import synthesize

BENCH_VERSION = 2  # 2: every model's step, the profile, the loop's phases
# The performance targets, as ratios measured in one run: a step that uses the machine, a loader that keeps up,
# a book that fits a laptop session.
TARGET_STEP_FRACTION = 0.30  # MANet cpu-profile training step, of the matmul ceiling of its precision
TARGET_LOADER_RATIO = 2.0  # loader clips/s over the model's training clips/s
TARGET_BOOK_COLD_S = 30 * 60  # `make book` (cpu profile), cold
TARGET_BOOK_CACHED_S = 60.0  # cached rebuild
INFERENCE_MODELS = ("tsm", "i3d")  # one 2-D and one 3-D network: their inference steps (and the tiny size's training)


@dataclass(frozen=True)
class Mode:
    """How much to measure: sizes, repeats and which parts."""

    name: str
    repeats: int  # timed steps per configuration (median reported)
    warmup: int
    sizes: tuple[str, ...]  # step sizes: "tiny", "cpu", "paper"
    matmul_sizes: tuple[int, ...]
    loader_batches: int
    loop_steps: int
    workers: tuple[int, ...]
    render_clips: int  # MA-52-Synth clips the renderer's profile draws and encodes


MODES = {
    # Tests: tiny network and inputs, one repeat.
    "tiny": Mode("tiny", 1, 1, ("tiny",), (256,), 2, 2, (0, 1), 2),
    # The book: cpu size only, about two minutes on two AVX2 cores.
    "quick": Mode("quick", 3, 1, ("cpu",), (1024, 2048), 6, 6, (0, 1, 2), 12),
    "full": Mode("full", 7, 2, ("cpu", "paper"), (1024, 2048, 4096), 16, 16, (0, 1, 2), 40),
}
# The profile's models: MANet, a 2-D baseline and every video model of the benchmark (the tiny mode: MANet only).
PROFILED = ("manet", "tsm", "c3d", "i3d", "r2plus1d", "slowfast", "timesformer", "vswin")


def default_bench_path() -> Path:
    """``bench.json`` in the book's generated folder: where `ma52 bench` writes and the performance chapter reads."""
    return generated_dir() / "bench.json"


# --- model steps ------------------------------------------------------------------------------------


def _step_variants(size: str, device: torch.device, bf16: bool) -> list[tuple[str, bool, bool, bool]]:
    """(model, train, bf16, channels_last) rows measured at ``size``; ``bf16`` is the precision runs use here.

    Steps run in the precision training would use (``runtime.precision=auto``) in both layouts; the
    other precision gets one MANet training row, so the table shows what the choice saved.
    """
    if size == "paper" and device.type == "cpu":
        # A paper-size step takes seconds to minutes on a CPU: MANet's rows in the chosen precision only.
        return [("manet", True, bf16, True), ("manet", False, bf16, True)]
    rows = [("manet", True, bf16, True), ("manet", True, bf16, False), ("manet", False, bf16, True),
            ("manet", True, not bf16, True)]
    # Every benchmark model's training step (the tiny size: two, for the tests); inference of two baselines.
    for name in INFERENCE_MODELS if size == "tiny" else BENCHMARK_MODELS:
        if name != "manet":  # its rows are the four above
            rows.append((name, True, bf16, True))
    rows += [(name, False, bf16, True) for name in INFERENCE_MODELS]
    return rows


# --- end to end -------------------------------------------------------------------------------------


def reproduce_timings(path: Path) -> dict[str, Any]:
    """Latest `ma52 reproduce` wall time per profile and kind: ``cold`` (every chapter executed), ``cached``
    (none executed) or ``partial`` (some, or only some chapters asked for with --only)."""
    if not path.exists():
        return {}
    out: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        statuses = [status for status, _ in row.get("chapters", {}).values()]
        if not statuses or any(s in ("failed", "missing", "interrupted") for s in statuses):
            continue  # an incomplete book says nothing about the budget
        if set(row["chapters"]) != set(CHAPTERS):
            kind = "partial"  # a subset of the book (--only, or a book of another version)
        elif all(s == "cached" for s in statuses):
            kind = "cached"
        elif all(s == "executed" for s in statuses):
            kind = "cold"
        else:
            kind = "partial"  # some chapters re-executed: neither a cold nor a cached build
        out.setdefault(row["profile"], {})[kind] = {"seconds": row["seconds"], "time": row.get("time")}
    return out


# --- the whole bench --------------------------------------------------------------------------------


def run_bench(
    out: str | os.PathLike[str] | None = None,
    *,
    mode: str = "full",
    data_root: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    threads: int | None = None,
    sizes: tuple[str, ...] | None = None,
    workers: tuple[int, ...] | None = None,
    reproduce_log: str | os.PathLike[str] | None = None,
    echo: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Measure everything ``mode`` asks for and write bench.json to ``out`` (default book/generated/bench.json).

    ``sizes`` replaces the mode's step sizes (the first also sizes the data path); ``workers`` the loader
    worker counts (the training loop then runs at each of them with all cores as threads).
    """
    m = _mode(mode, sizes, workers)
    say = echo or (lambda _msg: None)
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked, but torch sees no CUDA device")
    out_path = Path(out) if out else default_bench_path()
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    t_start = time.perf_counter()
    result: dict[str, Any] = {"version": BENCH_VERSION, "mode": mode, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                              "machine": machine_info(dev), "load_before": list(os.getloadavg())}
    try:
        say(f"bench ({mode}) on {result['machine']['cpu']} ({result['machine']['cpu_capability']}), "
            f"{torch.get_num_threads()} threads, load {result['load_before'][0]:.2f}")
        result["precision"] = _precision(m.sizes[0], dev, say)
        bf16 = result["precision"]["used"] == "bf16"
        result["ceilings"] = _ceilings(m, dev, say)
        usable = {k: None if v.get("emulated") else v["gflops"] for k, v in result["ceilings"].items()}
        result["steps"] = _steps(m, dev, bf16, usable, say)
        result.update(_data_path(m, dev, bf16, data_root, workers, result["steps"], say))
        result["profile"] = _profile(m, dev, bf16, say)
        log = Path(reproduce_log) if reproduce_log else generated_dir() / "reproduce_runs.jsonl"
        result["reproduce"] = reproduce_timings(log)
        result["targets"] = _targets(result, m.sizes[0])
    finally:
        torch.set_num_threads(old_threads)
    _finish(result, t_start, out_path, say)
    return result


def _mode(mode: str, sizes: tuple[str, ...] | None, workers: tuple[int, ...] | None) -> Mode:
    """The mode's plan with the caller's sizes and worker counts, checked."""
    if mode not in MODES:
        raise ValueError(f"unknown bench mode {mode!r}; choose one of {', '.join(MODES)}")
    m = MODES[mode]
    if sizes:
        unknown = set(sizes) - {"tiny", "cpu", "paper"}
        if unknown:
            raise ValueError(f"unknown size(s) {sorted(unknown)}; choose from tiny, cpu, paper")
        m = replace(m, sizes=tuple(sizes))
    if workers:
        m = replace(m, workers=tuple(workers))
    return m


def _precision(size: str, dev: torch.device, say: Callable[[str], None]) -> dict[str, Any]:
    """What ``runtime.precision=auto`` picks on this machine for MANet at ``size``, and a probe behind it."""
    cfg = timing_config(size, "manet", dev)
    _, choice = resolve(cfg)
    row: dict[str, Any] = {"used": choice.precision, "reason": choice.reason, "native_bf16": native_bf16()}
    if dev.type == "cpu":
        # Measured again here (the choice itself may be remembered from an earlier process).
        p = model_probe(cfg) if native_bf16() else probe("conv2d")
        row["probe"] = {"kind": p.kind, "fp32_ms": 1000 * p.fp32_s, "bf16_ms": 1000 * p.bf16_s,
                        "bf16_speedup": p.bf16_speedup}
    say(f"precision: {choice.precision} ({choice.reason})")
    return row


def _ceilings(m: Mode, dev: torch.device, say: Callable[[str], None]) -> dict[str, Any]:
    """fp32 and bf16 matmul ceilings; emulated bf16 is measured at the smallest size only (it is slow)."""
    repeats = max(3, m.repeats)
    emulated = dev.type == "cpu" and not native_bf16()
    bf16_sizes = m.matmul_sizes[:1] if emulated else m.matmul_sizes
    ceilings = {
        "fp32": matmul_ceiling(torch.float32, m.matmul_sizes, repeats=repeats, device=dev),
        "bf16": {**matmul_ceiling(torch.bfloat16, bf16_sizes, repeats=repeats, device=dev), "emulated": emulated},
    }
    say(f"ceilings: fp32 {ceilings['fp32']['gflops']:.0f} GFLOP/s, bf16 {ceilings['bf16']['gflops']:.0f} GFLOP/s"
        + (" (emulated)" if emulated else ""))
    return ceilings


def _steps(m: Mode, dev: torch.device, bf16: bool, ceilings: dict[str, float | None],
           say: Callable[[str], None]) -> list[dict[str, Any]]:
    """Training and inference steps of every size's variants (``_step_variants``)."""
    steps = []
    for size in m.sizes:
        for name, train, row_bf16, cl in _step_variants(size, dev, bf16):
            # Slow rows get fewer repeats: paper size on a CPU, and emulated bf16 (10-30x slower).
            slow = (size == "paper" or (row_bf16 and not native_bf16())) and dev.type == "cpu"
            row = step_benchmark(name, size, train=train, bf16=row_bf16, channels_last=cl,
                                 repeats=1 if slow else m.repeats, warmup=min(m.warmup, 1) if slow else m.warmup,
                                 device=dev, ceilings=ceilings)
            steps.append(row)
            share = "emulated" if row["fraction_of_ceiling"] is None else f"{100 * row['fraction_of_ceiling']:.0f}% " \
                "of its ceiling"
            say(f"  {name:6s} {size:5s} {row['mode']:5s} {'bf16' if row_bf16 else 'fp32'} "
                f"{'cl  ' if cl else 'nchw'}: {row['clips_per_s']:7.1f} clips/s, {row['gflops']:6.1f} GFLOP/s "
                f"({share}), cpu_util {row['cpu_util'] or 0:.2f}")
    return steps


def _profile(m: Mode, dev: torch.device, bf16: bool, say: Callable[[str], None]) -> dict[str, Any]:
    """Where the time goes: each ``PROFILED`` model's training step by kernel, in the precision runs use here and,
    where this CPU runs bf16 natively, in the other one too; and the renderer by function."""
    size = m.sizes[0]
    precisions = [bf16] + ([not bf16] if native_bf16() or dev.type == "cuda" else [])
    steps = []
    for name in PROFILED[:1] if m.name == "tiny" else PROFILED:
        for row_bf16 in precisions:
            row = step_profile(name, size, bf16=row_bf16, device=dev)
            steps.append(row)
            top = row["kernels"][0]
            say(f"  profile {name:11s} {'bf16' if row_bf16 else 'fp32'}: {row['ms_per_step']:6.0f} ms/step, "
                f"{100 * row['groups'].get('convolution', 0.0):.0f}% convolution, top {top['name']} "
                f"{100 * top['share']:.0f}%")
    render = render_profile(m.render_clips, profile_name="smoke" if m.name == "tiny" else "cpu")
    say(f"  profile renderer: {render['clips_per_s_one_core']:.1f} clips/s on one core, drawing "
        f"{100 * render['shares']['draw']:.0f}%, encoding {100 * render['shares']['encode']:.0f}%")
    return {"steps": steps, "render": render}


def _data_path(m: Mode, dev: torch.device, bf16: bool, data_root: str | os.PathLike[str] | None,
               workers: tuple[int, ...] | None, steps: list[dict[str, Any]],
               say: Callable[[str], None]) -> dict[str, Any]:
    """The loader alone at each worker count and from the frame cache, then the real training loop."""
    data_size = m.sizes[0]
    root = _data_root(data_root, data_size, say)
    model_rate = _pick(steps, "manet", data_size, "train", bf16, True)["clips_per_s"]
    loaders = [loader_benchmark(root, data_size, w, batches=m.loader_batches, device=dev) for w in m.workers]
    # The cpu profile's setting: 0 workers reading the in-memory frame cache.
    loaders.append(loader_benchmark(root, data_size, 0, batches=m.loader_batches, device=dev, cache=True))
    for row in loaders:
        row["over_model"] = row["clips_per_s"] / model_rate
        say(f"  loader, {row['workers']} workers{', frame cache' if row['cache'] else ''}: "
            f"{row['clips_per_s']:.1f} clips/s ({row['over_model']:.1f}x the model's {model_rate:.1f})")
    n_threads = torch.get_num_threads()
    if workers:
        grid = [(w, n_threads) for w in workers]
    elif m.name == "tiny":
        grid = [(0, 1), (1, 1)]
    else:
        # On few cores, whether torch should leave a core to the decoding worker is the question.
        grid = sorted({(0, n_threads), (1, n_threads), (1, max(1, n_threads - 1)), (2, n_threads)})
    loops = []
    for n_workers, loop_threads, cache in [(w, t, False) for w, t in grid] + [(0, n_threads, True)]:
        row = train_loop_benchmark(root, data_size, n_workers, loop_threads, steps=m.loop_steps, device=dev,
                                   cache=cache, bf16=bf16)
        loops.append(row)
        say(f"  training loop, {n_workers} workers x {loop_threads} threads{', frame cache' if cache else ''}: "
            f"{row['clips_per_s']:.1f} clips/s, waiting for data {100 * row['data_wait_fraction']:.0f}% of the time")
    return {"data": {"root": str(root), "size": data_size}, "loader": loaders, "model_train_clips_per_s": model_rate,
            "train_loop": loops}


def _finish(result: dict[str, Any], t_start: float, out_path: Path, say: Callable[[str], None]) -> None:
    """Record load and contention, write bench.json atomically, warn when the machine was busy."""
    result["load_after"] = list(os.getloadavg())
    result["seconds"] = time.perf_counter() - t_start
    utils = [r["cpu_util"] for r in result.get("steps", []) if r.get("cpu_util") is not None]
    # Below ~0.8 the step threads did not have their cores: other processes ran, and OpenMP threads
    # that wait for a descheduled sibling make every rate of this run meaningless.
    result["median_cpu_util"] = statistics.median(utils) if utils else None
    result["contended"] = bool(utils) and statistics.median(utils) < 0.8
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_path, json.dumps(result, indent=1) + "\n")
    say(f"wrote {out_path} ({result['seconds']:.0f} s)")
    if result["contended"]:
        say(f"WARNING: the machine was busy (median cpu_util {result['median_cpu_util']:.2f}, load "
            f"{result['load_before'][0]:.1f} -> {result['load_after'][0]:.1f}): these rates are not the machine's; "
            "rerun `ma52 bench` when nothing else runs")


def _pick(steps: list[dict[str, Any]], model: str, size: str, mode: str, bf16: bool, cl: bool) -> dict[str, Any]:
    for row in steps:
        if (row["model"], row["size"], row["mode"], row["bf16"], row["channels_last"]) == (model, size, mode, bf16, cl):
            return row
    raise KeyError(f"no step row for {model} {size} {mode} bf16={bf16} channels_last={cl}")


def _data_root(data_root: str | os.PathLike[str] | None, size: str, say: Callable[[str], None]) -> Path:
    """The dataset the data-path benchmarks read: given, else MA-52-Synth of the size's profile."""
    if data_root:
        root = Path(data_root).expanduser()
        if not (root / "train_list_videos.txt").is_file():
            raise FileNotFoundError(f"{root} has no train_list_videos.txt: pass a dataset in the official layout")
        return root
    profile = {"tiny": "smoke", "cpu": "cpu", "paper": "cpu"}[size]
    say(f"data: MA-52-Synth {profile} (generated once and cached)")
    return synthesize(profile=profile, progress=False)


def _targets(result: dict[str, Any], size: str) -> list[dict[str, Any]]:
    """Where the run stands against the issue's targets (ratios from this one run)."""
    used = result["precision"]["used"]
    step = _pick(result["steps"], "manet", size, "train", used == "bf16", True)
    best_loader = max(row["over_model"] for row in result["loader"] if not row.get("cache"))
    cached = [row["over_model"] for row in result["loader"] if row.get("cache")]
    targets = [
        {"name": f"MANet training step ({size}, {used}: the precision runs use here), share of the {used} matmul "
                 "ceiling",
         "value": step["fraction_of_ceiling"], "target": TARGET_STEP_FRACTION, "unit": "fraction",
         "met": step["fraction_of_ceiling"] >= TARGET_STEP_FRACTION},
        {"name": "loader clips/s over the model's training clips/s, decoding (best worker count)",
         "value": best_loader, "target": TARGET_LOADER_RATIO, "unit": "ratio",
         "met": best_loader >= TARGET_LOADER_RATIO},
    ]
    if cached:
        targets.append({"name": "loader clips/s over the model's, from the frame cache (the cpu profile's setting)",
                        "value": cached[0], "target": TARGET_LOADER_RATIO, "unit": "ratio",
                        "met": cached[0] >= TARGET_LOADER_RATIO})
    book = result["reproduce"].get("cpu", {})
    for kind, budget in (("cold", TARGET_BOOK_COLD_S), ("cached", TARGET_BOOK_CACHED_S)):
        seconds = book.get(kind, {}).get("seconds")
        targets.append({"name": f"`make book` (cpu profile), {kind}", "value": seconds, "target": budget,
                        "unit": "seconds", "met": None if seconds is None else seconds <= budget})
    return targets


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `ma52 bench`."""
    p = sub.add_parser(
        "bench", help="measure ceilings, model steps, the data path and the book; write bench.json",
        description="Measure the machine's matmul ceilings, MANet and baseline training/inference steps, the "
        "loader against the model, and `ma52 reproduce` wall times; write them to bench.json for the book. "
        "Run it on a quiet machine: times are medians, and the load average is recorded.",
    )
    p.add_argument("--out", help="bench.json path (default book/generated/bench.json, read by the book)")
    p.add_argument("--quick", action="store_true", help="cpu size only, fewer repeats (< ~2 min; used by the book)")
    p.add_argument("--data-root", help="dataset for the data-path part (default: MA-52-Synth of the size, e.g. "
                   "a folder made by `ma52 data prepare` to measure the paper data path)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="cuda: steps, ceilings and the training loop on the GPU (pinned, non-blocking copies)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's, i.e. all cores)")
    p.add_argument("--size", action="append", choices=["cpu", "paper"],
                   help="step sizes to measure (repeatable; the first also sizes the data path); default: "
                   "cpu with --quick, cpu and paper otherwise")
    p.add_argument("--workers", help="loader worker counts, comma-separated (default 0,1,2; on a GPU machine "
                   "try e.g. 4,8,16)")
    p.set_defaults(func=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    try:
        workers = tuple(int(w) for w in args.workers.split(",")) if args.workers else None
        run_bench(args.out, mode="quick" if args.quick else "full", data_root=args.data_root, device=args.device,
                  threads=args.threads, sizes=tuple(args.size) if args.size else None, workers=workers)
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
