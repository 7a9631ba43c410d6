"""`ma52 reproduce --plan`: what a book build renders, pretrains, trains and reuses, and how long it takes here.

Runs are found as the chapters find them: each chapter's configs (the same functions its notebook calls) name a
run folder by config hash; a folder with ``results.json`` is reused, one with a checkpoint is resumed, the rest
are trained. A run shared by several chapters is trained by the first of them (the execution order).

The estimate is measured work times known work. A few timed training steps of each model to train (forward and
backward at its batch, input size and resolved precision) give seconds per step here and now; times the steps of
the run (epochs x train clips / batch) and the clips it scores (val, test) gives its training; ``K_TRAIN`` and
``K_EVAL`` carry what the timed step leaves out (data, the optimiser, the schedule). Everything that is not a
training step (rendering, pretraining, a run's setup, the chapters' figures, jupyter-book) is the seconds a cold
build recorded on the reference machine (``REFERENCE``), scaled by how much slower this machine runs the
reference step now (``speed_factor``). On a loaded machine both the estimate and the build are slower.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ma52lib.chapters import ablations as ab
from ma52lib.chapters import benchmark as bm
from ma52lib.chapters import emotion as em
from ma52lib.chapters import gradcam as gc
from ma52lib.chapters import ledger as lg
from ma52lib.chapters import study as st
from ma52lib.chapters.common import ChapterRuns
from ma52lib.config import Config, make_config
from ma52lib.data.lists import list_path, read_list
from ma52lib.engine.measure import random_batch
from ma52lib.engine.precision import device_of, probe_batch, resolve, uses_bf16
from ma52lib.engine.pretrain import backbone_file, resolve_pretrained
from ma52lib.engine.step import build_trainee, for_timing, train_step
from ma52lib.engine.train import default_run_dir
from ma52lib.synth.writer import split_counts

# Seconds a cold build spent outside training on the reference machine (AMD EPYC, 2 cores, AVX512 with native
# bf16; cpu: the newest cold `make book` of docs/measurements.md, the first row of its build times; smoke:
# `make book-smoke`): rendering per clip, pretraining per still frame and epoch, a run's setup and files, each
# chapter's own work (figures, the emotion sessions, the bench and its profile, the fault suite) and jupyter-book.
REFERENCE: dict[str, dict[str, float]] = {
    "cpu": {"render_per_clip": 116 / 4428, "pretrain_per_frame_epoch": 72 / (12000 * 3), "run": 10.0,
            "dataset": 17, "benchmark": 60, "ablations": 0, "gradcam": 38, "emotion": 69, "performance": 47,
            "reproducibility": 7, "study": 7, "ledger": 10, "book": 90},
    "smoke": {"render_per_clip": 0.05, "pretrain_per_frame_epoch": 0.005, "run": 1.0, "dataset": 11,
              "benchmark": 5, "ablations": 4, "gradcam": 15, "emotion": 7, "performance": 9, "reproducibility": 55,
              "study": 4, "ledger": 6, "book": 60},
}
# The reference step (`reference_step_seconds`) there, unloaded. From the runs of that build: MANet's training
# loop ran 133 clips/s in bf16 (0.12 s per batch of 16), its step probe 1.3x faster in bf16 than in fp32.
REFERENCE_STEP_S = 0.13
K_TRAIN = 1.2  # a training step in the loop over the timed forward + backward (data, optimiser, schedule)
K_EVAL = 0.42  # one scored batch over one timed training step (forward only; 1,861 val clips in 4.9 s there)
TIMED_STEPS = 2  # timed steps per model after one warm-up step
RENDER, BOOK = "MA-52-Synth", "jupyter-book"  # the steps before and after the chapters


@dataclass
class PlannedRun:
    """One run a chapter needs: where it is, what happens to it, and its estimated seconds."""

    chapter: str
    label: str
    cfg: Config
    run_dir: Path
    state: str  # "train" | "resume" | "reuse" | "shared" (trained by an earlier chapter of this build)
    done_epochs: int = 0
    seconds: float = 0.0  # estimated, all of what is left
    train_seconds: float = 0.0  # of which the epochs

    @property
    def epochs_left(self) -> int:
        return self.cfg.optim.epochs - self.done_epochs


@dataclass
class ChapterPlan:
    """A chapter: cached (nothing runs) or executed, with its runs and its own (non-training) seconds."""

    name: str
    cached: bool
    runs: list[PlannedRun] = field(default_factory=list)
    own_seconds: float = 0.0
    pretrain: dict[str, float] = field(default_factory=dict)  # ImageNet analogues made first: name -> seconds

    @property
    def seconds(self) -> float:
        if self.cached:
            return 0.0
        return self.own_seconds + sum(self.pretrain.values()) + sum(r.seconds for r in self.runs)


@dataclass
class Plan:
    """What `ma52 reproduce` will do, and how long it is expected to take on this machine."""

    profile: str
    data: Path
    render_clips: int  # 0: the data is there
    chapters: list[ChapterPlan]  # in execution order: RENDER, the notebooks, BOOK
    factor: float  # this machine's reference step over the reference machine's

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.chapters)

    def chapter(self, name: str) -> ChapterPlan | None:
        return next((c for c in self.chapters if c.name == name), None)


# Each chapter module's ``chapter_runs``: the runs its notebook trains (or reuses) with these parameters.
CHAPTER_RUNS: dict[str, Callable[..., ChapterRuns]] = {
    "benchmark": bm.chapter_runs, "ablations": ab.chapter_runs, "gradcam": gc.chapter_runs, "emotion": em.chapter_runs,
    "ledger": lg.chapter_runs, "study": st.chapter_runs,
}


def chapter_configs(name: str, params: dict[str, Any]) -> dict[str, Config]:
    """The configs chapter ``name`` trains (or reuses) with these notebook parameters, by label."""
    runs_of = CHAPTER_RUNS.get(name)
    return runs_of(**params).labelled() if runs_of else {}


def _run_state(run_dir: Path, epochs: int) -> tuple[str, int]:
    """("reuse" | "resume" | "train", epochs already done) of a run folder."""
    if (run_dir / "results.json").exists():
        return "reuse", epochs
    ckpt = run_dir / "checkpoints"
    if (ckpt / "last.pt").exists() or (ckpt / "last.prev.pt").exists():
        metrics = run_dir / "metrics.jsonl"
        lines = metrics.read_text().splitlines() if metrics.exists() else []
        return "resume", min(len([line for line in lines if line.strip()]), epochs - 1)
    return "train", 0


def split_sizes(cfg: Config, data: Path) -> dict[str, int]:
    """Clips of the train, val and test splits: the lists of ``data`` when present, else the synth profile's."""
    splits = {"train": cfg.data.train_split, "val": cfg.data.val_split, "test": cfg.data.test_split}
    if (data / "train_list_videos.txt").exists():
        return {k: len(read_list(list_path(data, s))) for k, s in splits.items()}
    counts = split_counts(cfg.data.synth_profile)
    return {k: sum(counts.get(s, [])) for k, s in splits.items()}


@lru_cache(maxsize=None)
def _step_seconds(cfg: Config, bf16: bool) -> float:
    """Seconds of one training step of ``cfg`` (a ``step.for_timing`` config), timed here with the engine's own
    step (frozen stages, loss, optimiser; cached)."""
    torch.manual_seed(0)
    trainee = build_trainee(cfg, device_of(cfg))
    n = probe_batch(cfg.optim.batch_size, trainee.model.num_frames, cfg.data.crop_size)
    clips, labels = random_batch(cfg, trainee, n)  # [N, T, 3, H, W], [N]
    trainee.model.train()
    best = math.inf
    for i in range(TIMED_STEPS + 1):  # the first builds oneDNN's kernels
        t0 = time.perf_counter()
        train_step(trainee, clips, labels, bf16=bf16)
        if i:
            best = min(best, time.perf_counter() - t0)
    return best * cfg.optim.batch_size / n


def step_seconds(cfg: Config) -> float:
    """Seconds of one training step of ``cfg`` (resolved precision) on this machine, measured now."""
    return _step_seconds(for_timing(cfg), uses_bf16(cfg))


def reference_step_seconds() -> float:
    """The reference step: the cpu profile's MANet at its batch in fp32 on the CPU (``REFERENCE_STEP_S`` there)."""
    cfg = make_config("cpu", {"model.name": "manet", "model.pretrained": None, "runtime.precision": "fp32",
                                "runtime.device": "cpu"})
    return step_seconds(cfg)


def speed_factor() -> float:
    """How much slower than the reference machine this one runs the reference step now (1.0: as fast)."""
    return reference_step_seconds() / REFERENCE_STEP_S


def run_seconds(run: PlannedRun, sizes: dict[str, int], factor: float, run_fixed: float) -> tuple[float, float]:
    """Estimated seconds of what is left of ``run``: (its epochs, all: + validations, test scoring, setup)."""
    cfg = run.cfg
    step = step_seconds(cfg)
    epochs = range(run.done_epochs + 1, cfg.optim.epochs + 1)
    evals = sum(1 for e in epochs if e % cfg.runtime.eval_every == 0 or e == cfg.optim.epochs)
    scored = evals * sizes["val"] + (sizes["test"] if cfg.runtime.eval_test else 0)
    train = len(epochs) * math.ceil(sizes["train"] / cfg.optim.batch_size) * step * K_TRAIN
    return train, train + scored / cfg.optim.batch_size * step * K_EVAL + run_fixed * factor


def _resolved(cfg: Config) -> tuple[Config, Path]:
    """``cfg`` with its start weights and precision made concrete (as training makes them), and its run folder."""
    cfg = resolve_pretrained(cfg)
    if cfg.runtime.precision == "auto":
        cfg, _ = resolve(cfg)
    return cfg, default_run_dir(cfg)


def make_plan(profile: str, data: Path, chapter_params: dict[str, dict[str, Any]], cached: Sequence[str], *,
              render: bool, build: bool = True, echo: Callable[[str], None] | None = None) -> Plan:
    """The plan of a build: ``chapter_params`` are the notebooks' parameters in execution order, ``cached`` the
    chapters whose executed copy is current, ``render`` whether the data must be made first, ``build`` whether
    jupyter-book runs."""
    ref = REFERENCE.get(profile, REFERENCE["cpu"])
    factor = speed_factor()
    clips = sum(sum(c) for c in split_counts(make_config(profile).data.synth_profile).values()) if render else 0
    seen: set[Path] = set()
    chapters = [ChapterPlan(RENDER, not render, own_seconds=clips * ref["render_per_clip"] * factor)]
    for name, params in chapter_params.items():
        chapter = ChapterPlan(name, name in cached, own_seconds=ref.get(name, 0.0) * factor)
        chapters.append(chapter)
        if chapter.cached:
            continue
        for label, cfg in chapter_configs(name, params).items():
            cfg, run_dir = _resolved(cfg)
            state, done = _run_state(run_dir, cfg.optim.epochs)
            run = PlannedRun(name, label, cfg, run_dir, "shared" if run_dir in seen else state, done)
            if run.state in ("train", "resume"):
                if echo:
                    echo(f"  timing {cfg.model.name} ({label}) ...")
                run.train_seconds, run.seconds = run_seconds(run, split_sizes(cfg, data), factor, ref["run"])
                pretrain = _pretraining(cfg, ref, factor)
                if not any(name in c.pretrain for c in chapters for name in pretrain):
                    chapter.pretrain.update(pretrain)
            seen.add(run_dir)
            chapter.runs.append(run)
    chapters.append(ChapterPlan(BOOK, not build, own_seconds=ref["book"] * factor))
    return Plan(profile, data, clips, chapters, factor)


def _pretraining(cfg: Config, ref: dict[str, float], factor: float) -> dict[str, float]:
    """{pretraining run: seconds} when ``cfg`` starts from an ImageNet analogue not made yet, else {}."""
    value = cfg.model.pretrained or ""
    if not value.startswith("synth:") or backbone_file(value).exists():  # made here before, or shipped
        return {}
    name = value.split(":", 1)[1]
    p = cfg.pretrain
    return {name: p.clips * p.frames_per_clip * p.epochs * ref["pretrain_per_frame_epoch"] * factor}


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def format_plan(plan: Plan) -> list[str]:
    """The plan as lines for the terminal: data, each chapter's pretraining and runs, the estimate."""
    lines = [f"plan for profile {plan.profile} (data {plan.data}):"]
    for chapter in plan.chapters:
        if chapter.name == RENDER:
            lines.append(f"  {RENDER}: render {plan.render_clips:,} clips, ~{_minutes(chapter.seconds)}"
                         if plan.render_clips else f"  {RENDER}: ready (reused)")
        elif chapter.name == BOOK:
            lines.append(f"  {BOOK} build: ~{_minutes(chapter.seconds)}" if not chapter.cached else
                         f"  {BOOK} build: skipped (--no-build)")
        elif chapter.cached:
            lines.append(f"  {chapter.name}: cached (its executed copy is current; nothing runs)")
        else:
            lines += _chapter_lines(chapter)
    lines.append(f"estimate: ~{_minutes(plan.seconds)} on this machine (its reference step takes {plan.factor:.2f}x "
                 "the reference machine's; how it is made: `ma52 reproduce --help`)")
    return lines


def _chapter_lines(chapter: ChapterPlan) -> list[str]:
    lines = [f"  {chapter.name}: ~{_minutes(chapter.seconds)}"]
    for name, seconds in chapter.pretrain.items():
        lines.append(f"    pretrain the ImageNet analogue {name}: ~{_minutes(seconds)}")
    for r in chapter.runs:
        if r.state in ("train", "resume"):
            what = "train" if r.state == "train" else f"resume at epoch {r.done_epochs + 1}"
            lines.append(f"    {what} {r.label}: {r.cfg.model.name}, {r.epochs_left} of {r.cfg.optim.epochs} epochs, "
                         f"~{_minutes(r.seconds)} -> {r.run_dir.name}")
    finished = sorted({r.run_dir.name for r in chapter.runs if r.state == "reuse"})
    shared = sorted({r.run_dir.name for r in chapter.runs if r.state == "shared"})
    if finished:
        lines.append(f"    reuse {len(finished)} finished run(s): {', '.join(finished)}")
    if shared:
        lines.append(f"    reuse {len(shared)} run(s) trained by an earlier chapter of this build")
    return lines
