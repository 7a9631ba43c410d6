"""The performance chapter: what `ma52 bench` measured (bench.json) as tables and figures.

``book_bench`` finds the bench.json of the book (or, on a machine without one, measures a quick or a
tiny bench here); ``bench_tables`` turns it into the chapter's tables, and the two figures compare the
model steps with their precision's ceiling and the loader with the model.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from ma52lib.commands.bench import (
    BENCH_VERSION,
    TARGET_BOOK_CACHED_S,
    TARGET_BOOK_COLD_S,
    TARGET_LOADER_RATIO,
    TARGET_STEP_FRACTION,
    default_bench_path,
    run_bench,
)
from ma52lib.engine.profiling import KERNEL_GROUPS, OTHER
from ma52lib.models import display_name
from ma52lib.paths import project_root


def book_bench(bench_json: str | os.PathLike[str] | None, *, profile: str,
               data_root: str | os.PathLike[str] | None = None, run_quick: bool = True) -> tuple[Path, dict[str, Any]]:
    """(path, content) of the bench the chapter shows: ``bench_json`` or the book's.

    Where there is none yet, or the book's own was written by another version of `ma52 bench`, and ``run_quick``,
    it is measured here: ``--quick`` mode, or for the smoke profile the seconds-long tiny mode into a temporary file
    (its sizes are too small to judge targets). A ``bench_json`` of another version is an error (``load_bench``).
    """
    path = Path(bench_json) if bench_json else default_bench_path()
    outdated = bench_json is None and path.exists() and json.loads(path.read_text()).get("version") != BENCH_VERSION
    if run_quick and (outdated or not path.exists()):
        if profile == "smoke":
            path = Path(tempfile.mkdtemp()) / "bench-tiny.json"
        run_bench(path, mode="tiny" if profile == "smoke" else "quick", data_root=data_root, echo=None)
    return path, load_bench(path)


def bench_tables(bench: dict[str, Any]) -> dict[str, Any]:
    """The book's tables (pandas DataFrames) from a bench.json: machine, steps, data path, book, targets."""
    ceil = bench["ceilings"]
    machine = pd.DataFrame([
        ("CPU", f"{bench['machine']['cpu']} ({bench['machine']['cores']} cores, {bench['machine']['threads']} "
                f"torch threads, {bench['machine']['cpu_capability']})"),
        ("bf16 hardware", "AMX" if bench["machine"]["amx_bf16"] else
         "AVX512-BF16" if bench["machine"]["avx512_bf16"] else "none (bf16 emulated)"),
        ("device", bench["machine"].get("gpu", bench["machine"]["device"])),
        ("fp32 matmul ceiling", f"{ceil['fp32']['gflops']:.0f} GFLOP/s"),
        ("bf16 matmul ceiling", f"{ceil['bf16']['gflops']:.0f} GFLOP/s"
         + (" (emulated: no native bf16)" if ceil["bf16"].get("emulated") else "")),
        ("precision of runs here (runtime.precision=auto)",
         f"{bench['precision']['used']} ({bench['precision']['reason']})"),
        ("load average (1 min) before / after", f"{bench['load_before'][0]:.2f} / {bench['load_after'][0]:.2f}"),
        ("median cpu_util of the steps", "-" if bench.get("median_cpu_util") is None else
         f"{bench['median_cpu_util']:.2f}" + (" (BUSY MACHINE: rates unreliable)" if bench.get("contended") else "")),
        ("bench", f"{bench['mode']} mode, {bench['created']}, {bench['seconds']:.0f} s"),
    ], columns=["", "value"]).set_index("")
    steps = pd.DataFrame([{
        "model": r["model"], "size": r["size"], "step": r["mode"], "precision": "bf16" if r["bf16"] else "fp32",
        "layout": "channels_last" if r["channels_last"] else "contiguous",
        "input": f"{r['batch']}x{r['frames']}x{r['pixels']}px", "clips/s": round(r["clips_per_s"], 1),
        "GFLOP/step": round(r["gflop_per_step"], 1), "GFLOP/s": round(r["gflops"], 1),
        "% of its precision's ceiling": None if r["fraction_of_ceiling"] is None else
        round(100 * r["fraction_of_ceiling"], 1),
        "cpu_util": None if r["cpu_util"] is None else round(r["cpu_util"], 2),
    } for r in bench["steps"]])
    loader = pd.DataFrame([{
        "workers": r["workers"], "frames": "cache" if r.get("cache") else "decoded",
        "loader clips/s": round(r["clips_per_s"], 1),
        "model clips/s": round(bench["model_train_clips_per_s"], 1), "loader / model": round(r["over_model"], 2),
        "first batch (s)": round(r["first_batch_s"], 2),
    } for r in bench["loader"]])
    loop = pd.DataFrame([{
        "workers": r["workers"], "frames": "cache" if r.get("cache") else "decoded", "torch threads": r["threads"],
        "clips/s": round(r["clips_per_s"], 1),
        "waiting for data (%)": round(100 * r["data_wait_fraction"], 1),
    } for r in bench["train_loop"]])
    phases = pd.DataFrame([{
        "workers": r["workers"], "frames": "cache" if r.get("cache") else "decoded", "torch threads": r["threads"],
        **{f"{name} (%)": round(100 * share, 1) for name, share in r["phase_shares"].items()},
    } for r in bench["train_loop"]])
    budgets = {"cold": TARGET_BOOK_COLD_S, "cached": TARGET_BOOK_CACHED_S}
    book = pd.DataFrame([{
        "profile": profile, "build": kind, "seconds": round(row["seconds"]), "when": row.get("time"),
        "budget (s)": budgets.get(kind) if profile == "cpu" else None,
    } for profile, kinds in sorted(bench["reproduce"].items()) for kind, row in sorted(kinds.items())],
        columns=["profile", "build", "seconds", "when", "budget (s)"])
    targets = pd.DataFrame([{
        "target": t["name"],
        "measured": "not measured yet" if t["value"] is None else
        (f"{100 * t['value']:.0f}%" if t["unit"] == "fraction" else
         f"{t['value']:.1f}x" if t["unit"] == "ratio" else f"{t['value']:.0f} s"),
        "goal": (f">= {100 * t['target']:.0f}%" if t["unit"] == "fraction" else
                 f">= {t['target']:.0f}x" if t["unit"] == "ratio" else f"<= {t['target']:.0f} s"),
        "met": "-" if t["met"] is None else ("yes" if t["met"] else "no"),
    } for t in bench["targets"]]).set_index("target")
    return {"machine": machine, "steps": steps, "loader": loader, "train_loop": loop, "phases": phases,
            **profile_tables(bench["profile"]), "book": book, "targets": targets}


def profile_tables(profile: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The profile's tables: each model's step by kernel group, MANet's top kernels, the renderer's functions."""
    groups = pd.DataFrame([{
        "model": display_name(r["model"]), "precision": "bf16" if r["bf16"] else "fp32",
        "ms/step": round(r["ms_per_step"]),
        **{f"{group} (%)": round(100 * r["groups"].get(group, 0.0), 1) for group, _ in KERNEL_GROUPS},
        f"{OTHER} (%)": round(100 * r["groups"].get(OTHER, 0.0), 1),
        "top kernel": f"{r['kernels'][0]['name'].removeprefix('aten::')} ({100 * r['kernels'][0]['share']:.0f}%)",
    } for r in profile["steps"]])
    manet = profile["steps"][0]
    kernels = pd.DataFrame([{
        "kernel": k["name"], "group": k["group"], "share of the step (%)": round(100 * k["share"], 1),
        "calls per step": round(k["calls_per_step"]),
    } for k in manet["kernels"]])
    render = profile["render"]
    functions = pd.DataFrame([{"function": f["function"], "share (%)": round(100 * f["share"], 1),
                               "calls": f["calls"]} for f in render["functions"]])
    return {"profile": groups, "kernels": kernels, "render": functions}


def headline(bench: dict[str, Any], targets: pd.DataFrame) -> str:
    """Two sentences on the targets table: how many targets this bench meets, and which bench it is."""
    met = int((targets["met"] == "yes").sum())
    measured = int((targets["met"] != "-").sum())
    missed = [name for name, row in targets.iterrows() if row["met"] == "no"]
    first = f"This bench meets {met} of its {measured} measured targets" + (
        f"; it misses {'; '.join(missed)}." if missed else ".")
    return first + (f" It ran in {bench['mode']} mode on {bench['machine']['cpu']} "
                    f"({bench['machine']['cores']} cores), {bench['created']}.")


def gpu_check_path() -> Path:
    """The GPU measurement kept with the book: ``scripts/gpu_check.py`` run on a lent H200."""
    return project_root() / "book" / "measured" / "gpu_check_h200.json"


def gpu_tables(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """(machine, steps, loader, user path) tables of a ``gpu_check.json``; {} when there is none."""
    path = Path(path) if path else gpu_check_path()
    if not path.exists():
        return {}
    check = json.loads(path.read_text())
    bf16 = check["ceiling"]["bf16"]["gflops"]
    rows = []
    # The four models' rows are the engine's step (SGD, as `ma52 bench`); MANet's own rows use AdamW.
    adamw = check["manet"] + check.get("compiled", []) + check.get("manet_more", [])
    for row in check["steps"] + adamw:
        rows.append({"model": row["model"], "optimiser": "AdamW" if "compiled" in row else "SGD",
                     "batch": row["batch"], "torch.compile": bool(row.get("compiled")),
                     "clips/s": row["clips_per_s"], "frames/s": row["frames_per_s"],
                     "TFLOP/s": row["gflops"] / 1000, "of bf16 ceiling": row["gflops"] / bf16})
    steps = pd.DataFrame(rows).round({"clips/s": 1, "frames/s": 0, "TFLOP/s": 1, "of bf16 ceiling": 3})
    data = check["data"]
    size = f"{data['size'][0]}x{data['size'][1]}"
    loader = pd.DataFrame([{"workers": r["workers"], "clips/s": round(r["clips_per_s"], 1),
                            "frames": f"{size}, crop {r['crop']}"} for r in data["loaders"]])
    # eval is absent when train failed (the check stops the user path at the first failing step).
    ran = [(name, check["user_path"][name]) for name in ("train", "eval") if name in check["user_path"]]
    user = pd.DataFrame([{"step": name, "return code": part["rc"], "seconds": round(part["seconds"], 1),
                          "command": part["cmd"].replace(part["cmd"].split()[0], "python", 1)} for name, part in ran])
    machine = pd.DataFrame([("GPU", check["machine"].get("gpu")), ("torch", check["machine"]["torch"]),
                            ("date", check["date"]), ("bf16 matmul ceiling", f"{bf16 / 1000:.0f} TFLOP/s"),
                            ("fp32 matmul ceiling", f"{check['ceiling']['fp32']['gflops'] / 1000:.0f} TFLOP/s"),
                            ("target", f"MANet training >= {check['target_frames_per_s']} frames/s")],
                           columns=["what", "value"])
    return {"machine": machine, "steps": steps, "loader": loader, "user_path": user}


def load_bench(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Read a bench.json (default book/generated/bench.json) with a clear error when it is missing."""
    path = Path(path) if path else default_bench_path()
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `ma52 bench --quick` (or `make bench`) first")
    bench = json.loads(path.read_text())
    if bench.get("version") != BENCH_VERSION:
        raise ValueError(f"{path} was written by another version of `ma52 bench` (version {bench.get('version')}, this "
                         f"one writes {BENCH_VERSION}): run `ma52 bench --quick` (or `make bench`) again")
    return bench


def step_figure(steps: pd.DataFrame) -> Figure:
    """Each measured step's share of the matmul ceiling of its precision, against the target."""
    labels = steps["model"] + " " + steps["size"] + " " + steps["step"] + " " + steps["precision"] + " " \
        + steps["layout"].str.replace("channels_last", "CL").str.replace("contiguous", "NCHW")
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(steps) + 1))
    ax.barh(labels, steps["% of its precision's ceiling"], color="tab:blue")
    ax.axvline(100 * TARGET_STEP_FRACTION, color="tab:red", ls="--", label="target (MANet train, cpu)")
    ax.set_xlabel("% of the matmul ceiling of the step's precision")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def loader_figure(loader: pd.DataFrame, model_rate: float) -> Figure:
    """Loader clips/s at each worker count beside the rate the model consumes them, and the target."""
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.bar(loader["workers"].astype(str), loader["loader clips/s"], color="tab:green", label="loader")
    ax.axhline(model_rate, color="k", label="model consumes")
    ax.axhline(TARGET_LOADER_RATIO * model_rate, color="tab:red", ls="--", label="target: 2x the model")
    ax.set_xlabel("loader workers")
    ax.set_ylabel("clips/s")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["headline", "bench_tables", "book_bench", "load_bench", "loader_figure", "step_figure"]


def profile_summary(bench: dict[str, Any]) -> str:
    """One paragraph on the profile: the share of convolution across the profiled steps and the renderer's split."""
    steps = bench["profile"]["steps"]
    conv = [100 * r["groups"].get("convolution", 0.0) for r in steps]
    heaviest = max(steps, key=lambda r: r["ms_per_step"])
    render = bench["profile"]["render"]
    top = render["functions"][0]
    return (f"Convolutions take {min(conv):.0f}-{max(conv):.0f}% of the profiled training steps; the heaviest step "
            f"here is {display_name(heaviest['model'])}'s ({heaviest['ms_per_step']:.0f} ms in "
            f"{'bf16' if heaviest['bf16'] else 'fp32'}). The renderer draws and encodes "
            f"{render['clips_per_s_one_core']:.1f} clips/s on one core, {100 * render['shares']['draw']:.0f}% of it "
            f"drawing and {100 * render['shares']['encode']:.0f}% encoding; its heaviest function is "
            f"`{top['function']}` ({100 * top['share']:.0f}% of the profiled time).")
