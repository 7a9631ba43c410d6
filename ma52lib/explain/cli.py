"""`ma52 cam`: the CAM of any mp4 under a trained run, as a filmstrip image or an animated GIF."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from ma52lib.data.video import VideoError
from ma52lib.engine.checkpoint import CheckpointError
from ma52lib.engine.run import load_run
from ma52lib.explain import viz
from ma52lib.explain.gradcam import METHODS, VideoCam, explain_video, is_class_specific
from ma52lib.labels import BODY_PARTS, FINE_CLASSES, NUM_CLASSES, body_of

FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def resolve_class(text: str) -> int:
    """A class id from ``text``: an id 0..51 or a class name (case and ``_``/``-`` ignored)."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        value = int(text)
        if not 0 <= value < NUM_CLASSES:
            raise ValueError(f"class id {value} is outside 0..{NUM_CLASSES - 1}")
        return value

    def norm(name: str) -> str:
        return " ".join(name.lower().replace("_", " ").replace("-", " ").split())

    names = {norm(name): i for i, name in enumerate(FINE_CLASSES)}
    if norm(text) in names:
        return names[norm(text)]
    close = difflib.get_close_matches(norm(text), list(names), n=5, cutoff=0.5)
    hint = ("; did you mean: " + ", ".join(f"{FINE_CLASSES[names[c]]!r} ({names[c]})" for c in close)) if close else ""
    raise ValueError(f"unknown class {text!r}{hint}. Pass an id 0..{NUM_CLASSES - 1} or a name from label_name.txt")


def caption(result: VideoCam, k: int = 5) -> list[str]:
    """Text lines for a CAM picture: the video, what the map explains, and the top-``k`` classes."""
    top = result.top(k)
    if is_class_specific(result.method):
        which = "predicted" if result.target == top[0][0] else "chosen"
        explains = f"{result.method} of {FINE_CLASSES[result.target]!r} ({which})"
    else:
        explains = f"{result.method} (class-agnostic)"
    lines = [f"{Path(result.video).name}: {explains}"]
    for rank, (i, p) in enumerate(top, 1):
        lines.append(f"{rank}. {FINE_CLASSES[i]} [{BODY_PARTS[body_of(i)]}] {100 * p:.1f}%")
    return lines


def write_cam(result: VideoCam, out: str | Path, *, fps: float = 4.0) -> Path:
    """Save ``result`` as a filmstrip figure (.png/.jpg/.pdf/.svg) or an animated GIF (.gif)."""
    out = Path(out)
    suffix = out.suffix.lower()
    lines = caption(result)
    if suffix == ".gif":
        return viz.save_gif(result.frames, result.cam, out, caption=lines, fps=fps)
    if suffix in FIGURE_SUFFIXES:
        labels = [f"frame {i + 1}" for i in range(len(result.frames))]
        fig = viz.filmstrip(result.frames, result.cam, title="\n".join(lines), frame_labels=labels)
        return viz.save_figure(fig, out)
    raise ValueError(f"--out {out}: use a .gif (animation) or one of {', '.join(FIGURE_SUFFIXES)} (filmstrip)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `ma52 cam`."""
    p = sub.add_parser(
        "cam", help="Grad-CAM of any mp4 under a trained run (filmstrip image or GIF)",
        description="Decode and sample VIDEO as the run's evaluation does, compute the class activation map "
        "of the target class on the sampled frames (scaled once per clip, so frames compare), and write "
        "the frames with the overlay and the top-5 prediction. Example: "
        "ma52 cam --run runs/manet-cpu-XXXX clip.mp4 --out cam.png",
    )
    p.add_argument("--run", required=True, help="run folder made by `ma52 train`")
    p.add_argument("video", help="any mp4 (any size or aspect ratio)")
    p.add_argument("--target", help="class to explain: id 0..51 or name (default: the predicted class)")
    p.add_argument("--method", default="gradcam", choices=list(METHODS),
                   help="gradcam, gradcam++ or eigencam (gradient-free, class-agnostic)")
    p.add_argument("--out", required=True, help="FILE.png (filmstrip; also .jpg/.pdf/.svg) or FILE.gif")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--fps", type=float, default=4.0, help="GIF frame rate")
    p.set_defaults(func=_cmd_cam)


def _cmd_cam(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in FIGURE_SUFFIXES + (".gif",):
        print(f"error: --out {out}: use a .gif or one of {', '.join(FIGURE_SUFFIXES)}", file=sys.stderr)
        return 2
    try:
        target = None if args.target is None else resolve_class(args.target)
    except ValueError as exc:
        print(f"error: --target: {exc}", file=sys.stderr)
        return 2
    if target is not None and not is_class_specific(args.method):
        print(f"note: {args.method} is class-agnostic: --target is ignored", file=sys.stderr)
    run_dir = Path(args.run)
    if not run_dir.is_dir():
        print(f"error: run folder {run_dir} does not exist; pass the folder `ma52 train` printed", file=sys.stderr)
        return 1
    try:
        run = load_run(run_dir, checkpoint=args.checkpoint, device=args.device)
    except (FileNotFoundError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        result = explain_video(run, args.video, target=target, method=args.method)
    except VideoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if float(result.cam.max()) == 0:
        print("note: the map is empty (no positive evidence for this class at the target layer)", file=sys.stderr)
    path = write_cam(result, out, fps=args.fps)
    print("\n".join(caption(result)))
    print(f"wrote {path}")
    return 0
