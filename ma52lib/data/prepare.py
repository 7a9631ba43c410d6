"""``ma52 data prepare``: re-encode a dataset once to the short side the pipeline uses.

Real MA-52 clips are 1080x1296; every training step would decode them at full size and then throw
most pixels away in the resize. Like mmaction2's ``tools/data/resize_videos.py`` (ffmpeg
``scale=-2:256``, audio dropped), this writes a copy of the dataset whose videos already have the
short side the pipeline resizes to, in the official layout: the same list files, ``label_name.txt``
and every other top-level file, and ``videos_<split>/`` with the same file names. Frame count and
frame rate are kept exactly (no frame dropping), so frame sampling sees the same clips. The clip
transform then skips its resize (it finds the short side already right); pixels differ from
resizing on the fly only by the scaler (ffmpeg's area filter instead of torchvision's antialiased
bilinear). A ``prepare.json`` in the output records how the copy was made.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import av
import numpy as np
import torch
from tqdm import tqdm

from ma52lib.data.dataset import MA52Dataset
from ma52lib.data.lists import list_path, read_list
from ma52lib.data.transforms import short_side_size
from ma52lib.data.video import VideoError, probe
from ma52lib.files import atomic_write_text, publish_file
from ma52lib.workers import map_in_workers

SPLITS = ("train", "val", "test")
PREPARE_VERSION = 1


class PrepareError(RuntimeError):
    """The source is not a dataset folder, or the output folder holds something else."""


@dataclass
class PrepareReport:
    """What ``prepare_dataset`` did."""

    src: str
    out: str
    short_side: int
    videos: int = 0  # listed videos
    encoded: int = 0  # re-encoded in this call
    copied: int = 0  # short side already <= target: copied as is
    reused: int = 0  # already prepared by an earlier call
    failed: dict[str, str] = field(default_factory=dict)  # "videos_<split>/<file>" -> reason
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def format(self) -> str:
        """Human-readable summary for the CLI."""
        lines = [
            f"prepared {self.out} from {self.src} (short side {self.short_side}) in {self.seconds:.0f} s:",
            f"  {self.videos} listed videos: {self.encoded} re-encoded, {self.copied} copied "
            f"(already small enough), {self.reused} already done",
        ]
        if self.failed:
            lines.append(f"  {len(self.failed)} FAILED (kept out of the copy; fix or drop them from the lists):")
            lines += [f"    {name}: {why}" for name, why in list(self.failed.items())[:20]]
            if len(self.failed) > 20:
                lines.append(f"    ... and {len(self.failed) - 20} more (see {Path(self.out) / 'prepare.json'})")
        return "\n".join(lines)


def output_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) of a prepared video: short side exact, long side rounded to even (yuv420p)."""
    h, w = short_side_size(height, width, short_side)
    # h264 in yuv420p needs even sizes; the short side is the target itself (asked to be even), the
    # long side moves by at most one pixel, as ffmpeg's scale=-2:N does.
    if h >= w:
        h = 2 * round(h / 2)
    else:
        w = 2 * round(w / 2)
    return h, w


def reencode_video(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], short_side: int, *, crf: int = 18,
    preset: str = "fast",
) -> str:
    """Write ``src`` to ``dst`` with its short side at ``short_side`` (h264, no audio, same frames and fps).

    Returns ``"encoded"``, or ``"copied"`` when the short side is already at most ``short_side``.
    """
    src, dst = Path(src), Path(dst)
    with av.open(str(src)) as inp, publish_file(dst) as tmp:
        if not inp.streams.video:
            raise ValueError("has no video stream")
        vin = inp.streams.video[0]
        height, width = vin.codec_context.height, vin.codec_context.width
        if min(height, width) <= short_side:
            # Upscaling here would only grow the file: the loader resizes small clips anyway.
            shutil.copyfile(src, tmp)
            return "copied"
        out_h, out_w = output_size(height, width, short_side)
        rate = vin.average_rate or vin.guessed_rate or Fraction(30)
        n = _encode(inp, vin, tmp, out_w, out_h, rate, crf=crf, preset=preset)
        if n == 0:
            raise ValueError("has no decodable frames")
        _verify(tmp, n, out_w, out_h)
    return "encoded"


def _encode(inp: Any, vin: Any, path: Path, width: int, height: int, rate: Fraction, *, crf: int,
            preset: str) -> int:
    """Decode every frame of stream ``vin`` and write it resized to ``path`` (h264); returns the frame count."""
    with av.open(str(path), "w") as out:
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
        # One thread: the pool runs one video per core. crf 18 is visually lossless for x264.
        vout.options = {"crf": str(crf), "preset": preset, "threads": "1"}
        n = 0
        for frame in inp.decode(vin):
            # Every decoded frame is kept and renumbered 0..n-1 at the stream's rate, so the
            # frame count (what sampling divides into segments) is exactly the source's.
            small = frame.reformat(width=width, height=height, format="yuv420p", interpolation="AREA")
            small.pts, small.time_base = n, Fraction(1) / rate
            for packet in vout.encode(small):
                out.mux(packet)
            n += 1
        for packet in vout.encode():
            out.mux(packet)
    return n


def _verify(path: Path, num_frames: int, width: int, height: int) -> None:
    """Read the new file back with decord, as the loader will (first and last frame, frame count)."""
    try:
        info = probe(path)
    except VideoError as err:
        # decord 0.6 cannot copy out frames of a few small widths (16, 24, 48, 72 px seen).
        raise ValueError(f"the re-encoded {width}x{height} copy does not decode with decord ({err}); "
                         "try another --short-side") from None
    if info.num_frames != num_frames:
        raise ValueError(f"the re-encoded copy has {info.num_frames} frames instead of {num_frames}")


def _job(args: tuple[str, str, int, int, str]) -> tuple[str, str, str]:
    """Pool worker: (src, dst, short_side, crf, preset) -> (dst, status, error message)."""
    src, dst, short_side, crf, preset = args
    try:
        return dst, reencode_video(src, dst, short_side, crf=crf, preset=preset), ""
    except Exception as err:  # noqa: BLE001 - PyAV/ffmpeg errors have many types; report them per file
        return dst, "failed", f"{type(err).__name__}: {err}"


def _listed(root: Path) -> dict[str, list[str]]:
    """Split -> file names listed in ``root``'s ``<split>_list_videos.txt`` (splits without a list left out)."""
    found = {}
    for split in SPLITS:
        path = list_path(root, split)
        if path.is_file():
            found[split] = [c.path for c in read_list(path)]
    return found


def prepare_dataset(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    short_side: int = 256,
    workers: int | None = None,
    crf: int = 18,
    preset: str = "fast",
    force: bool = False,
    progress: bool = True,
) -> PrepareReport:
    """Copy the dataset at ``src`` to ``out`` with every listed video re-encoded to ``short_side``.

    Interrupted runs continue where they stopped; ``force`` re-encodes everything.
    """
    src, out = Path(src).expanduser().resolve(), Path(out).expanduser().resolve()
    if short_side < 16 or short_side % 2:
        raise ValueError(f"short_side must be an even number >= 16 (h264 yuv420p), got {short_side}")
    if src == out or src in out.parents:
        raise PrepareError(f"the output {out} must be outside the source dataset {src}")
    listed = _listed(src)
    if not listed:
        raise PrepareError(
            f"{src} has no train/val/test_list_videos.txt: not a dataset in the official MA-52 layout "
            "(ROOT/<split>_list_videos.txt and ROOT/videos_<split>/)"
        )
    params = {"version": PREPARE_VERSION, "short_side": short_side, "crf": crf, "preset": preset,
              "codec": "libx264", "scaler": "area", "audio": "dropped"}
    record_path = out / "prepare.json"
    _check_output(out, record_path, params, force=force)
    started = time.perf_counter()
    report = PrepareReport(src=str(src), out=str(out), short_side=short_side)
    out.mkdir(parents=True, exist_ok=True)
    done_before = set() if force else set((_read_json(record_path) or {}).get("done", []))
    jobs = _plan_jobs(src, out, listed, done_before, report, (short_side, crf, preset))
    done = {key for key in done_before if (out / key).is_file()}
    if jobs:
        workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
        _run_jobs(jobs, workers, out, report, done, lambda: _write_record(record_path, src, params, done, report),
                  progress=progress)

    # Lists, label names, test labels, meta files: everything at the top level except video folders.
    for path in src.iterdir():
        if path.is_file() and path.name != "prepare.json":
            shutil.copy2(path, out / path.name)
    report.seconds = time.perf_counter() - started
    _write_record(record_path, src, params, done, report)
    return report


def _check_output(out: Path, record_path: Path, params: dict[str, Any], *, force: bool) -> None:
    """Refuse an output folder that holds something else, or a copy made with other parameters (unless ``force``)."""
    if not (out.exists() and any(out.iterdir())):
        return
    old = _read_json(record_path)
    if old is None:
        raise PrepareError(
            f"{out} exists, is not empty and was not written by `ma52 data prepare` (no prepare.json); "
            "choose another --out, or empty that folder yourself"
        )
    if old.get("params") != params and not force:
        raise PrepareError(
            f"{out} was prepared with {old.get('params')}; pass --force to redo it with {params}, "
            "or choose another --out"
        )


def _plan_jobs(src: Path, out: Path, listed: dict[str, list[str]], done_before: set[str], report: PrepareReport,
               options: tuple[int, int, str]) -> list[tuple[str, str, int, int, str]]:
    """The videos still to re-encode, as ``_job`` arguments; counts listed, missing and reused ones in ``report``."""
    jobs = []
    for split, names in listed.items():
        video_dir = src / f"videos_{split}"
        (out / f"videos_{split}").mkdir(exist_ok=True)
        for name in names:
            report.videos += 1
            key = f"videos_{split}/{name}"
            source, target = video_dir / name, out / key
            if not source.is_file():
                report.failed[key] = f"not found in the source ({source})"
                continue
            if key in done_before and target.is_file():
                report.reused += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            jobs.append((str(source), str(target), *options))
    return jobs


def _run_jobs(jobs: list[tuple[str, str, int, int, str]], workers: int, out: Path, report: PrepareReport,
              done: set[str], save: Callable[[], None], *, progress: bool) -> None:
    """Run ``jobs`` on worker processes: outcomes go to ``report``, finished videos to ``done`` (``save`` every 500)."""
    quiet = not progress or os.environ.get("MA52_QUIET") == "1" or not sys.stderr.isatty()
    # Python's default start method, as before (fork on Linux up to 3.13); ma52lib.workers runs the jobs
    # in this process where workers could not start (code read from stdin).
    results = map_in_workers(_job, jobs, workers=workers, chunksize=max(1, min(16, len(jobs) // (8 * workers))),
                             method=None, what="preparing videos")
    for dst, status, error in tqdm(results, total=len(jobs), desc="prepare", unit="video", disable=quiet):
        key = str(Path(dst).relative_to(out))
        if status == "failed":
            report.failed[key] = error
            continue
        done.add(key)
        if status == "copied":
            report.copied += 1
        else:
            report.encoded += 1
        if len(done) % 500 == 0:  # a killed run restarts from here, not from zero
            save()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_record(path: Path, src: Path, params: dict[str, Any], done: set[str], report: PrepareReport) -> None:
    record = {"source": str(src), "params": params, "done": sorted(done),
              "report": {k: v for k, v in asdict(report).items() if k not in ("src", "out")}}
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")


def decode_speedup(src: str | os.PathLike[str], out: str | os.PathLike[str], *, split: str = "train",
                   num_videos: int = 8, num_segments: int = 8, short_side: int = 256) -> dict[str, float]:
    """Loader time per clip (decode + TSN sampling + train transform) on ``src`` and its prepared ``out``.

    Returns wall and CPU milliseconds (``src_ms``, ``prepared_ms``, ``src_cpu_ms``, ``prepared_cpu_ms``,
    medians over the first ``num_videos`` clips) and ``speedup`` (CPU time, which other processes on a
    shared machine do not inflate).
    """
    times = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a loader worker, where torch runs one thread
    try:
        for name, root in (("src", src), ("prepared", out)):
            ds = MA52Dataset(root, split, num_segments=num_segments, short_side=short_side,
                             crop_size=min(224, short_side), train=True)
            walls, cpus = [], []
            for i in range(min(num_videos, len(ds))):
                t0, c0 = time.perf_counter(), time.process_time()
                ds[i]
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            times[f"{name}_ms"] = 1000 * float(np.median(walls))
            times[f"{name}_cpu_ms"] = 1000 * float(np.median(cpus))
    finally:
        torch.set_num_threads(threads)
    times["speedup"] = times["src_cpu_ms"] / max(times["prepared_cpu_ms"], 1e-9)
    return times


def add_prepare_parser(data_sub: argparse._SubParsersAction) -> None:
    """Register ``ma52 data prepare`` under the ``data`` command's subparsers."""
    p = data_sub.add_parser(
        "prepare", help="re-encode a dataset once to the short side the pipeline uses (same layout)",
        description="Write a copy of an MA-52 folder whose videos are re-encoded (h264, no audio, same frames "
        "and fps) with their short side at --short-side, as mmaction2's resize_videos does. Lists and "
        "other top-level files are copied. Train on the copy with --data-root OUT: decoding real 1080x1296 "
        "clips is the slowest part of the data path, and the copy decodes an order of magnitude faster.",
    )
    p.add_argument("--root", required=True, help="source dataset folder (official layout)")
    p.add_argument("--out", required=True, help="folder for the prepared copy (created; resumable)")
    p.add_argument("--short-side", type=int, default=256, help="short side in pixels (data.short_side of the "
                   "profile you train: 256 for paper, 64 for cpu)")
    p.add_argument("--workers", type=int, default=None, help="parallel encoders (default: all cores)")
    p.add_argument("--crf", type=int, default=18, help="x264 quality (lower is better; 18 is visually lossless)")
    p.add_argument("--preset", default="fast", help="x264 speed preset")
    p.add_argument("--force", action="store_true", help="re-encode everything, even videos done before")
    p.add_argument("--measure", action="store_true", help="afterwards, time the loader on a few clips of both")
    p.set_defaults(func=_cmd_prepare)


def _cmd_prepare(args: argparse.Namespace) -> int:
    try:
        report = prepare_dataset(args.root, args.out, short_side=args.short_side, workers=args.workers,
                                 crf=args.crf, preset=args.preset, force=args.force)
    except (PrepareError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.format())
    if args.measure and report.ok:
        split = next(iter(_listed(Path(args.out))))
        speed = decode_speedup(args.root, args.out, split=split, short_side=args.short_side)
        print(f"loader CPU time per clip ({split}): {speed['src_cpu_ms']:.1f} ms -> "
              f"{speed['prepared_cpu_ms']:.1f} ms, {speed['speedup']:.1f}x faster")
    print(f"check it with: ma52 data check --root {args.out}")
    return 0 if report.ok else 1
