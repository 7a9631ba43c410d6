"""Plan, render and write an MA-52-Synth dataset in the official MA-52 layout, cached by its arguments.

Layout (identical in format to the real download, so the real loader is the one exercised):
``{train,val,test}_list_videos.txt`` (CRLF, ``<file>.mp4 <label>``; test lines carry the dummy label 0
like the real one), ``test_labels.txt`` (the true test labels: we own them), ``videos_{split}/*.mp4``
(h264, yuv420p, no audio), ``label_name.txt`` and ``meta.json`` (generator version, arguments, counts,
participants and every clip's spec). Train/val files are ``SSSS_CC_NNNN.mp4`` (participant id, body
part, the participant's running clip number); test files are shuffled and renamed ``testNNNN.mp4``.

The folder is built under a temporary name and renamed when complete, under a lock (``ma52lib.files``),
so a killed run never leaves a dataset that looks complete and two processes asking for the same data
generate it once; each clip file is complete once it has its name, so an interrupted render is continued by
the next call with the same arguments and generator (the same bytes as one uninterrupted render).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import av
import numpy as np
from tqdm import tqdm

from ma52lib.data.lists import TEST_LABELS, Clip, write_label_names, write_list
from ma52lib.files import atomic_write_text, folder_lock, publish_file, resumable_folder
from ma52lib.labels import FINE_TO_BODY, NUM_CLASSES, REAL_TRAIN_COUNTS, REAL_VAL_COUNTS
from ma52lib.paths import data_dir
from ma52lib.synth.motions import REVERSED_PAIRS, allowed_distractors, class_ranges
from ma52lib.synth.participants import Participant, make_participants
from ma52lib.synth.render import ClipSpec, num_frames, render_clip
from ma52lib.workers import map_in_workers, refuse_in_bootstrap, usable_workers

GENERATOR_VERSION = "1.1"  # 1.1: MA-52 framing (the figure fills ~70% of the height, not 86%)


def generator_fingerprint() -> str:
    """Hash of the generator's source: a cached dataset is reused only if the code that made it is unchanged."""
    digest = hashlib.sha256(GENERATOR_VERSION.encode())
    for name in ("participants", "skeleton", "motions", "draw", "render", "writer"):
        digest.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]
SPLITS = ("train", "val", "test")
SPLIT_KINDS = ("stratified", "cross-subject")


@dataclass(frozen=True)
class Profile:
    """Defaults of one generation profile."""

    size: tuple[int, int]  # (W, H)
    fps: int
    scale: float | None  # fraction of the real per-class counts; None = the real counts
    participants: int
    description: str
    eval_scale: float | None = None  # fraction for val and test where it differs from ``scale``


# Real test counts per class are not public; the test split mirrors val (same total, 5,586).
PROFILES: dict[str, Profile] = {
    "smoke": Profile((40, 48), 10, 1 / 500, 205, "the floor of every class in every split, 40x48, 10 fps: seconds"),
    # val and test at 1/3 of the real counts (1,861 clips each): a paired interval shrinks as 1/sqrt(clips), so
    # MANet against TSM's +-2.3 points at 1/16 (353 clips) becomes about +-1.0; evaluation is cheap beside training
    "cpu": Profile((80, 96), 15, 1 / 16, 205, "train 1/16 of MA-52 (its long tail, with a floor), "
                   "1/3 of its val and test, 80x96, 15 fps", eval_scale=1 / 3),
    "full": Profile((1080, 1296), 30, None, 205, "the real split at 1080x1296, 30 fps: many hours"),
}
_FLOOR = {"train": 2, "val": 1, "test": 1}  # every class exists in every split


def split_counts(profile: str = "cpu") -> dict[str, list[int]]:
    """Clips per class [52] of each split for ``profile``: MA-52's long tail scaled, with a small floor."""
    prof = _profile(profile)
    real = {"train": REAL_TRAIN_COUNTS, "val": REAL_VAL_COUNTS, "test": REAL_VAL_COUNTS}
    if prof.scale is None:
        return {s: list(real[s]) for s in SPLITS}
    scale = {"train": prof.scale, "val": prof.eval_scale or prof.scale, "test": prof.eval_scale or prof.scale}
    return {s: [max(_FLOOR[s], int(round(c * scale[s]))) for c in real[s]] for s in SPLITS}


def _profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown synth profile {name!r}; choose one of: {', '.join(PROFILES)}")
    return PROFILES[name]


@dataclass(frozen=True)
class PlannedClip:
    """One clip to write: split, file name (inside ``videos_<split>/``) and its spec."""

    split: str
    file: str
    spec: ClipSpec


def plan_clips(
    counts: dict[str, Sequence[int]],
    participants: Sequence[Participant],
    *,
    seed: int = 0,
    split: str = "stratified",
) -> list[PlannedClip]:
    """Draw every clip's participant and spec; clip i depends only on (seed, i) and the pools."""
    if split not in SPLIT_KINDS:
        raise ValueError(f"split must be one of {SPLIT_KINDS}, got {split!r}")
    for name in SPLITS:
        if len(counts.get(name, ())) != NUM_CLASSES:
            raise ValueError(f"counts[{name!r}] must list {NUM_CLASSES} per-class numbers")
    rng = np.random.default_rng([seed, 0xA11])
    ids = np.array([p.pid for p in participants])
    # Some participants contribute more clips than others: per-participant activity weights.
    weight = rng.gamma(2.0, 1.0, size=len(ids))
    groups = _participant_groups(len(ids), split, rng)

    planned: list[tuple[str, int, ClipSpec]] = []
    index = 0
    for name in SPLITS:
        pool = groups[name]
        p_pool = weight[pool] / weight[pool].sum()
        for label in range(NUM_CLASSES):
            for _ in range(int(counts[name][label])):
                pid = int(ids[_choose(seed, index, pool, p_pool)])
                planned.append((name, label, draw_spec(seed, index, label, pid)))
                index += 1
    return _name_files(planned, rng)


def _participant_groups(n: int, split: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Indices of the participants each split draws from: all of them, or disjoint halves/quarters."""
    if split != "cross-subject":
        return {s: np.arange(n) for s in SPLITS}
    if n < 3:
        raise ValueError("cross-subject split needs at least 3 participants")
    perm = rng.permutation(n)
    n_train, n_val = int(round(n * 0.5)), int(round(n * 0.25))
    return {"train": perm[:n_train], "val": perm[n_train:n_train + n_val], "test": perm[n_train + n_val:]}


def _name_files(planned: list[tuple[str, int, ClipSpec]], rng: np.random.Generator) -> list[PlannedClip]:
    """File names: SSSS_CC_NNNN with a running number per participant; test clips shuffled and renumbered."""
    running: dict[int, int] = {}
    out: list[PlannedClip] = []
    test_items = []
    for name, label, spec in planned:
        if name == "test":
            test_items.append(spec)
            continue
        running[spec.participant] = running.get(spec.participant, 0) + 1
        file = f"{spec.participant:04d}_{FINE_TO_BODY[label]:02d}_{running[spec.participant]:04d}.mp4"
        out.append(PlannedClip(name, file, spec))
    digits = max(4, len(str(len(test_items) - 1)))
    for j, k in enumerate(rng.permutation(len(test_items))):
        out.append(PlannedClip("test", f"test{j:0{digits}d}.mp4", test_items[k]))
    return out


def _choose(seed: int, index: int, pool: np.ndarray, p: np.ndarray) -> int:
    """Participant index of clip ``index`` drawn from ``pool`` with probabilities ``p``."""
    return int(pool[np.random.default_rng([seed, 0xC0FFEE, index]).choice(len(pool), p=p)])


def draw_spec(seed: int, index: int, label: int, pid: int) -> ClipSpec:
    """The random per-clip parameters of clip ``index`` (class ranges, nuisances, distractor)."""
    rng = np.random.default_rng([seed, index])
    (a_lo, a_hi), (s_lo, s_hi) = class_ranges(label)
    distractor = None
    if rng.random() < 0.25:
        options = allowed_distractors(label)
        distractor = str(options[rng.integers(len(options))])
    return ClipSpec(
        label=label,
        participant=pid,
        seed=int(rng.integers(2**63 - 1)),
        duration_s=round(float(rng.uniform(1.5, 2.5)), 3),
        speed=round(float(rng.uniform(s_lo, s_hi)), 3),
        amplitude=round(float(rng.uniform(a_lo, a_hi)), 3),
        distractor=distractor,
        intensity=round(float(rng.uniform(0.8, 1.2)), 3),
        jitter=round(float(rng.uniform(0.0005, 0.003)), 5),
        noise=round(float(rng.uniform(0.8, 2.5)), 3),
    )


# ---- encoding ------------------------------------------------------------------------------------
def encode_mp4(path: str | os.PathLike[str], frames: np.ndarray, fps: int, *, crf: int = 18) -> Path:
    """Write uint8 RGB frames [T, H, W, 3] (H, W even) as h264/yuv420p mp4; same input, same bytes."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"h264 yuv420p needs an even width and height, got {frames.shape[2]}x{frames.shape[1]}")
    path = Path(path)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        # Byte-identical reruns: one encoder thread, and no lookahead analysis (B-frame decisions,
        # macroblock tree, scene cuts): at small frame sizes x264's lookahead reads uninitialised
        # padding, so its output would otherwise depend on the process's heap history.
        stream.options = {
            "crf": str(crf),
            "preset": "veryfast",
            "threads": "1",
            "x264-params": "threads=1:bframes=0:rc-lookahead=0:mbtree=0:scenecut=0",
        }
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# ---- the worker ----------------------------------------------------------------------------------
# The pool is forkserver (ma52lib.workers): children do not inherit the parent's threads (torch,
# notebooks), and the render module is imported once in the server instead of once per child.
RENDER_PRELOAD = ("ma52lib.synth.render",)
RENDERING = "rendering MA-52-Synth"  # what the pool says it is doing
_WORKER: dict[str, Any] = {}


def _init_worker(participants: dict[int, Participant], size: tuple[int, int], fps: int, root: str) -> None:
    _WORKER.update(participants=participants, size=size, fps=fps, root=Path(root))


def _make_clip(job: tuple[int, PlannedClip]) -> tuple[int, int]:
    """Render and encode one planned clip; returns (index, frames written)."""
    index, clip = job
    w = _WORKER
    frames = render_clip(clip.spec, w["participants"][clip.spec.participant], size=w["size"], fps=w["fps"])
    # Written under a temporary name and renamed: a clip file in the folder is complete (an interrupted render
    # continues from the files it finds).
    with publish_file(w["root"] / f"videos_{clip.split}" / clip.file) as tmp:
        encode_mp4(tmp, frames, w["fps"])
    return index, len(frames)


def _quiet(progress: bool) -> bool:
    return not progress or os.environ.get("MA52_QUIET") == "1"


def write_dataset(
    root: Path,
    clips: Sequence[PlannedClip],
    participants: Sequence[Participant],
    *,
    size: tuple[int, int],
    fps: int,
    meta: dict[str, Any],
    workers: int = 2,
    progress: bool = True,
    done: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Render ``clips`` into ``root`` (lists, label names, videos, meta.json); returns the meta written. Clips whose
    file (``videos_<split>/<file>``) is in ``done`` were rendered by an interrupted call and are kept."""
    for name in SPLITS:
        (root / f"videos_{name}").mkdir(parents=True, exist_ok=True)
    by_id = {p.pid: p for p in participants}
    missing = sorted({c.spec.participant for c in clips} - set(by_id))
    if missing:
        raise ValueError(f"clips refer to participants {missing[:5]} that are not in the participant list")
    jobs = [(i, c) for i, c in enumerate(clips) if f"videos_{c.split}/{c.file}" not in done]
    frames_of = [num_frames(c.spec.duration_s, fps) for c in clips]  # the rendered ones report their own below
    bar = tqdm(total=len(clips), initial=len(clips) - len(jobs), desc="MA-52-Synth", unit="clip",
               disable=True if _quiet(progress) else None)
    initargs = (by_id, size, fps, str(root))
    for i, n in map_in_workers(_make_clip, jobs, workers=workers, initializer=_init_worker, initargs=initargs,
                               chunksize=4, preload=RENDER_PRELOAD, what=RENDERING):
        frames_of[i] = n
        bar.update()
    bar.close()

    for name in SPLITS:
        items = sorted((c for c in clips if c.split == name), key=lambda c: c.file)
        if name == "test":
            write_list(root / "test_list_videos.txt", [Clip(c.file, 0) for c in items])
            write_list(root / TEST_LABELS, [Clip(c.file, c.spec.label) for c in items])
        else:
            write_list(root / f"{name}_list_videos.txt", [Clip(c.file, c.spec.label) for c in items])
    write_label_names(root / "label_name.txt")
    meta = dict(meta)
    meta["counts"] = {
        name: np.bincount([c.spec.label for c in clips if c.split == name], minlength=NUM_CLASSES).tolist()
        for name in SPLITS
    }
    meta["participants"] = [asdict(p) for p in participants]
    meta["clips"] = [
        {"split": c.split, "file": c.file, "frames": frames_of[i], **c.spec.to_dict()} for i, c in enumerate(clips)
    ]
    meta["complete"] = True
    (root / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


# ---- the cached entry point ----------------------------------------------------------------------
def default_folder(
    profile: str, seed: int, size: tuple[int, int], fps: int, split: str, num_participants: int
) -> Path:
    """``data_dir()/ma52-synth-<profile>-<seed>`` plus a suffix for each argument off the profile default."""
    prof = _profile(profile)
    name = f"ma52-synth-{profile}-{seed}"
    if tuple(size) != prof.size:
        name += f"-{size[0]}x{size[1]}"
    if fps != prof.fps:
        name += f"-{fps}fps"
    if split != "stratified":
        name += "-xsub"
    if num_participants != prof.participants:
        name += f"-p{num_participants}"
    return data_dir() / name


def read_meta(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The dataset's meta.json, or None when there is none (or it cannot be parsed)."""
    try:
        return json.loads((Path(root) / "meta.json").read_text())
    except (OSError, ValueError):
        return None


def video_format(size: Sequence[int], fps: int) -> tuple[tuple[int, int], int]:
    """``(size, fps)`` as integers, checked: (W, H) even and at least 16 (h264 yuv420p), fps at least 1."""
    size = tuple(int(x) for x in size)
    if len(size) != 2 or size[0] % 2 or size[1] % 2 or min(size) < 16:
        raise ValueError(f"size must be (W, H) with even values >= 16 (h264 yuv420p), got {size}")
    if int(fps) < 1:
        raise ValueError(f"fps must be a positive integer, got {fps}")
    return (size[0], size[1]), int(fps)


def reporter(progress: bool) -> Callable[[str], None]:
    """Where a generator says what it did: stderr, or nowhere when quiet (``progress=False``, MA52_QUIET=1)."""
    if _quiet(progress):
        return lambda msg: None
    return lambda msg: print(msg, file=sys.stderr)


def synthesize(
    out: str | os.PathLike[str] | None = None,
    *,
    profile: str = "cpu",
    seed: int = 0,
    size: tuple[int, int] | None = None,
    fps: int | None = None,
    split: str = "stratified",
    num_participants: int | None = None,
    workers: int = 2,
    progress: bool = True,
    force: bool = False,
    counts: dict[str, Sequence[int]] | None = None,
) -> Path:
    """Generate MA-52-Synth (or reuse the cached copy made with the same arguments); returns its folder.

    ``counts`` replaces the profile's per-split, per-class clip numbers (``{"train": [52 ints], ...}``).
    """
    refuse_in_bootstrap("synthesize")  # a worker re-running an unguarded script: not a second render
    args = _synth_args(profile, seed, size, fps, split, num_participants, counts)
    if out is None:
        out = default_folder(profile, seed, tuple(args["size"]), args["fps"], split, args["num_participants"])
        if counts is not None:
            out = out.with_name(out.name + "-custom")
    out = Path(out)
    say = reporter(progress)
    # One generator per folder at a time; a second caller waits, then finds the data ready.
    with folder_lock(out):
        if not _reusable(out, args, force=force, say=say):
            _generate(out, args, workers=workers, progress=progress, say=say)
    return out


def _synth_args(profile: str, seed: int, size: tuple[int, int] | None, fps: int | None, split: str,
                num_participants: int | None, counts: dict[str, Sequence[int]] | None) -> dict[str, Any]:
    """The checked arguments of a dataset, as meta.json records them (its identity)."""
    prof = _profile(profile)
    size, fps = video_format(size or prof.size, fps or prof.fps)
    if split not in SPLIT_KINDS:
        raise ValueError(f"split must be one of {SPLIT_KINDS}, got {split!r}")
    return {
        "profile": profile,
        "seed": int(seed),
        "size": list(size),
        "fps": fps,
        "split": split,
        "num_participants": int(num_participants or prof.participants),
        "counts": {k: [int(x) for x in v] for k, v in counts.items()} if counts is not None else None,
    }


def _reusable(out: Path, args: dict[str, Any], *, force: bool, say: Callable[[str], None]) -> bool:
    """Whether ``out`` already holds this dataset; refuses to overwrite what another call or a user wrote."""
    meta = read_meta(out)
    if meta is not None and meta.get("complete"):  # a finished MA-52-Synth folder
        if force:
            return False
        if meta["args"] != args:
            raise FileExistsError(
                f"{out} holds MA-52-Synth made with other arguments ({meta['args']}); pass force=True "
                "(--force) to regenerate it, or choose another out"
            )
        if meta.get("fingerprint") == generator_fingerprint():
            say(f"MA-52-Synth: reusing {out}")
            return True
        say(f"MA-52-Synth: {out} was made by another version of the generator; regenerating it")
        return False
    if out.exists() and any(out.iterdir()):
        # Never delete a folder we did not write, even with force.
        raise FileExistsError(
            f"{out} exists, is not empty and is not a complete MA-52-Synth dataset (no usable meta.json); "
            "choose another out, or empty or delete that folder yourself"
        )
    return False


def _generate(out: Path, args: dict[str, Any], *, workers: int, progress: bool, say: Callable[[str], None]) -> None:
    """Plan and render the dataset ``args`` describe into ``out`` (published only once complete)."""
    started = time.perf_counter()
    workers = max(1, usable_workers(workers, method="forkserver", what=RENDERING))  # the count we report
    size = (args["size"][0], args["size"][1])
    participants = make_participants(args["num_participants"], args["seed"])
    clip_counts = args["counts"] or {k: [int(x) for x in v] for k, v in split_counts(args["profile"]).items()}
    clips = plan_clips(clip_counts, participants, seed=args["seed"], split=args["split"])
    meta = {
        "generator": "ma52lib.synth",
        "version": GENERATOR_VERSION,
        "fingerprint": generator_fingerprint(),
        "args": args,
        "reversed_pairs": [list(p) for p in REVERSED_PAIRS],
    }
    with resumable_folder(out) as work:
        done = _resume(work, {"args": args, "fingerprint": meta["fingerprint"]}, say)
        meta = write_dataset(work, clips, participants, size=size, fps=args["fps"], meta=meta, workers=workers,
                             progress=progress, done=done)
        (work / RESUME_FILE).unlink()
    frames = sum(c["frames"] for c in meta["clips"])
    took = time.perf_counter() - started
    say(f"MA-52-Synth: {len(clips)} clips, {frames} frames at {size[0]}x{size[1]} {args['fps']} fps "
        f"in {took:.1f} s ({workers} workers) -> {out}")


RESUME_FILE = ".render.json"  # in a folder being rendered: which dataset it becomes


def _resume(work: Path, identity: dict[str, Any], say: Callable[[str], None]) -> frozenset[str]:
    """The clip files an interrupted render of the same dataset (``identity``: arguments and generator) left in
    ``work``, after removing its unfinished temporary files; ``work`` is emptied if it held anything else."""
    note = work / RESUME_FILE
    if not (note.is_file() and json.loads(note.read_text()) == identity):
        for child in work.iterdir():  # another dataset's, or another generator's: nothing to continue
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        atomic_write_text(note, json.dumps(identity))
        return frozenset()
    for temp in work.glob("videos_*/.*"):
        temp.unlink()
    done = frozenset(str(p.relative_to(work)) for p in work.glob("videos_*/*.mp4"))
    if done:
        say(f"MA-52-Synth: continuing an interrupted render ({len(done)} clips already written)")
    return done


def clip_table(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The per-clip records of a generated dataset (split, file, frames and the ClipSpec fields)."""
    meta = read_meta(root)
    if meta is None:
        raise FileNotFoundError(f"{Path(root) / 'meta.json'} not found or unreadable: is this an MA-52-Synth folder?")
    return list(meta["clips"])


def spec_of(record: dict[str, Any]) -> ClipSpec:
    """Rebuild the ClipSpec of a ``clip_table`` record."""
    fields = ClipSpec.__dataclass_fields__
    return ClipSpec(**{k: v for k, v in record.items() if k in fields})


def participants_of(root: str | os.PathLike[str]) -> dict[int, Participant]:
    """The participants of a generated dataset, by id."""
    meta = read_meta(root)
    if meta is None:
        raise FileNotFoundError(f"{Path(root) / 'meta.json'} not found or unreadable: is this an MA-52-Synth folder?")
    out = {}
    for rec in meta["participants"]:
        rec = {k: tuple(v) if isinstance(v, list) else v for k, v in rec.items()}
        out[rec["pid"]] = Participant(**rec)
    return out


def frames_of(root: str | os.PathLike[str], record: dict[str, Any], *, with_masks: bool = False) -> Any:
    """Re-render a clip of a generated dataset losslessly (and its masks): same spec, size and fps."""
    meta = read_meta(root)
    assert meta is not None
    people = participants_of(root)
    size = tuple(meta["args"]["size"])
    return render_clip(spec_of(record), people[record["participant"]], size=size, fps=meta["args"]["fps"],
                       with_masks=with_masks)

