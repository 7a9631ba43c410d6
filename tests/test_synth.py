"""MA-52-Synth: format, determinism, splits, time reversals and where the motion is."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ma52lib.cli import main as ma52_main
from ma52lib.data import MA52Dataset, check_dataset, probe, read_label_names, read_list
from ma52lib.labels import BODY_PARTS, FINE_CLASSES, FINE_TO_BODY, NUM_BODY_PARTS, NUM_CLASSES
from ma52lib.synth import (
    MASK_TAGS,
    REVERSED_PAIRS,
    ClipSpec,
    encode_mp4,
    make_participants,
    plan_clips,
    read_meta,
    render_clip,
    split_counts,
    synthesize,
)
from ma52lib.synth.render import stage_clip

SIZE, FPS = (32, 40), 8  # smaller than the smoke profile: the whole file stays fast
SPLITS = ("train", "val", "test")
COUNTS = {s: [1] * NUM_CLASSES for s in SPLITS}  # one clip per class and split: 156 clips


def _make(out: Path, workers: int, **kwargs: object) -> Path:
    return synthesize(out, profile="smoke", size=SIZE, fps=FPS, counts=COUNTS, workers=workers, progress=False,
                      **kwargs)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MA-52-Synth (32x40, 8 fps, 156 clips) made with two worker processes."""
    return _make(tmp_path_factory.mktemp("synth") / "a", workers=2)


def _labels(root: Path, split: str) -> list[int]:
    name = "test_labels.txt" if split == "test" else f"{split}_list_videos.txt"
    return [c.label for c in read_list(root / name)]


# ---- format --------------------------------------------------------------------------------------
def test_same_seed_same_bytes_whatever_the_worker_count(dataset: Path, tmp_path: Path) -> None:
    again = _make(tmp_path / "b", workers=1)
    files = sorted(p.relative_to(dataset) for p in dataset.rglob("*") if p.is_file())
    assert sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file()) == files
    assert len([f for f in files if f.suffix == ".mp4"]) == 3 * NUM_CLASSES
    different = [f for f in files if (dataset / f).read_bytes() != (again / f).read_bytes()]
    assert different == []


def test_other_seed_other_dataset() -> None:
    people = make_participants(20, 0)
    counts = {s: [1] * NUM_CLASSES for s in SPLITS}
    a = plan_clips(counts, people, seed=0)
    b = plan_clips(counts, people, seed=1)
    assert [c.spec for c in a] != [c.spec for c in b]
    assert [c.spec for c in a] == [c.spec for c in plan_clips(counts, people, seed=0)]


def test_lists_follow_the_official_format(dataset: Path) -> None:
    for split in SPLITS:
        raw = (dataset / f"{split}_list_videos.txt").read_bytes()
        lines = raw.split(b"\r\n")
        assert lines[-1] == b"" and all(b"\n" not in line for line in lines), "CRLF line endings"
        clips = read_list(dataset / f"{split}_list_videos.txt")
        assert clips, split
        for clip in clips:
            assert (dataset / f"videos_{split}" / clip.path).is_file()
            if split == "test":
                assert re.fullmatch(r"test\d{4}\.mp4", clip.path) and clip.label == 0  # dummy label, as released
            else:
                subject, body, _ = re.fullmatch(r"(\d{4})_(\d{2})_(\d{4})\.mp4", clip.path).groups()
                assert int(body) == FINE_TO_BODY[clip.label]
    truth = read_list(dataset / "test_labels.txt")
    assert [c.path for c in truth] == [c.path for c in read_list(dataset / "test_list_videos.txt")]
    assert read_label_names(dataset / "label_name.txt") == list(FINE_CLASSES)


def test_every_class_and_body_part_in_every_split(dataset: Path) -> None:
    for split in SPLITS:
        labels = _labels(dataset, split)
        assert set(labels) == set(range(NUM_CLASSES)), split
        assert {FINE_TO_BODY[y] for y in labels} == set(range(NUM_BODY_PARTS)), split
    counts = {s: np.bincount(_labels(dataset, s), minlength=NUM_CLASSES) for s in SPLITS}
    assert {s: c.tolist() for s, c in counts.items()} == COUNTS


def test_smoke_profile_has_every_class_in_every_split() -> None:
    counts = split_counts("smoke")
    assert all(min(counts[s]) >= 1 for s in SPLITS)
    assert all(4 <= sum(counts[s][y] for s in SPLITS) <= 6 for y in range(NUM_CLASSES))


def test_data_check_strict_passes_and_the_loader_reads_it(dataset: Path) -> None:
    assert ma52_main(["data", "check", "--root", str(dataset), "--strict", "--max-probe", "8"]) == 0
    report = check_dataset(dataset, max_probe=5, progress=False)
    assert report.ok and not report.warnings and not report.leaks
    ds = MA52Dataset(dataset, "test", num_segments=4, short_side=32, crop_size=24)
    clip, label, _ = ds[0]
    assert tuple(clip.shape) == (4, 3, 24, 24)
    assert label == read_list(dataset / "test_labels.txt")[0].label  # true labels picked up


def test_decoded_videos_have_the_asked_size_fps_and_length(dataset: Path) -> None:
    meta = read_meta(dataset)
    assert meta is not None
    for record in meta["clips"][:: max(len(meta["clips"]) // 12, 1)]:
        info = probe(dataset / f"videos_{record['split']}" / record["file"])
        assert (info.width, info.height) == SIZE
        assert info.fps == pytest.approx(FPS)
        assert info.num_frames == record["frames"] == round(record["duration_s"] * FPS)
        assert 1.5 <= record["duration_s"] <= 2.5


def test_decoded_frames_match_the_render(dataset: Path) -> None:
    from ma52lib.data.video import read_frames
    from ma52lib.synth import frames_of

    meta = read_meta(dataset)
    assert meta is not None
    record = meta["clips"][0]
    rendered = frames_of(dataset, record).astype(np.float32)
    decoded = read_frames(dataset / f"videos_{record['split']}" / record["file"], np.arange(record["frames"]))
    assert decoded.shape == rendered.shape
    # h264 at CRF 18 with 4:2:0 chroma: small average error (a wrong frame order would be far larger).
    assert np.abs(decoded.numpy().astype(np.float32) - rendered).mean() < 6.0


def test_meta_records_every_clip(dataset: Path) -> None:
    meta = read_meta(dataset)
    assert meta is not None and meta["complete"]
    listed = {(s, c.path) for s in SPLITS for c in read_list(dataset / f"{s}_list_videos.txt")}
    assert {(c["split"], c["file"]) for c in meta["clips"]} == listed
    people = {p["pid"] for p in meta["participants"]}
    for c in meta["clips"]:
        assert c["participant"] in people
        assert {"amplitude", "speed", "emotion", "distractor", "seed"} <= set(c)


# ---- cache ---------------------------------------------------------------------------------------
def test_same_arguments_reuse_the_folder_and_other_arguments_are_refused(dataset: Path) -> None:
    before = (dataset / "meta.json").stat().st_mtime_ns
    assert _make(dataset, workers=1) == dataset
    assert (dataset / "meta.json").stat().st_mtime_ns == before
    with pytest.raises(FileExistsError, match="other arguments"):
        _make(dataset, workers=1, seed=1)
    # The command line refuses too (the profile's counts differ from this folder's), with exit code 2.
    argv = ["synth", "--out", str(dataset), "--profile", "smoke", "--size", "32x40", "--fps", "8", "--quiet"]
    assert ma52_main(argv) == 2
    assert (dataset / "meta.json").stat().st_mtime_ns == before


def test_refuses_to_overwrite_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("not a dataset")
    with pytest.raises(FileExistsError, match="not a complete MA-52-Synth"):
        synthesize(tmp_path, profile="smoke", force=True, progress=False)
    assert (tmp_path / "mine.txt").exists()


def test_bad_arguments_are_explained() -> None:
    with pytest.raises(ValueError, match="even"):
        synthesize(Path("/nonexistent"), profile="smoke", size=(33, 40))
    with pytest.raises(ValueError, match="unknown synth profile"):
        synthesize(Path("/nonexistent"), profile="huge")
    with pytest.raises(ValueError, match="label"):
        ClipSpec(label=NUM_CLASSES, participant=1, seed=0)
    with pytest.raises(ValueError, match="even"):
        encode_mp4(Path("/tmp/never.mp4"), np.zeros((2, 9, 8, 3), np.uint8), 10)


# ---- splits --------------------------------------------------------------------------------------
def test_profile_sizes() -> None:
    full = split_counts("full")
    assert [sum(full[s]) for s in SPLITS] == [11250, 5586, 5586]
    cpu = split_counts("cpu")
    assert sum(cpu["train"]) == 706  # 1/16 of MA-52's train split, with a floor
    # val and test at 1/3: about 1,900 clips each, so that paired intervals can decide (+-1.5 points or less)
    assert 1800 <= sum(cpu["val"]) == sum(cpu["test"]) <= 2000
    assert min(cpu["train"]) >= 2 and min(cpu["val"]) >= 1 and min(cpu["test"]) >= 1
    assert cpu["train"][9] > 10 * cpu["train"][45]  # nodding vs covering face: the long tail survives


def test_cross_subject_split_keeps_participants_apart() -> None:
    people = make_participants(40, 0)
    counts = split_counts("smoke")
    plan = plan_clips(counts, people, seed=0, split="cross-subject")
    who = {s: {c.spec.participant for c in plan if c.split == s} for s in SPLITS}
    assert not (who["train"] & who["val"]) and not (who["train"] & who["test"]) and not (who["val"] & who["test"])
    for s in SPLITS:
        assert {c.spec.label for c in plan if c.split == s} == set(range(NUM_CLASSES))
    stratified = plan_clips(counts, people, seed=0)
    shared = {c.spec.participant for c in stratified if c.split == "train"} & {
        c.spec.participant for c in stratified if c.split == "test"}
    assert shared  # the default split is not cross-subject, like MA-52


# ---- rendering -----------------------------------------------------------------------------------
@pytest.mark.parametrize("forward,backward", REVERSED_PAIRS)
def test_reversed_pairs_are_exact_time_reversals(forward: int, backward: int) -> None:
    person = make_participants(3, 0)[2]
    spec = ClipSpec(label=forward, participant=person.pid, seed=1234)
    a, masks_a = render_clip(spec, person, size=(24, 32), fps=8, with_masks=True)
    b, masks_b = render_clip(replace(spec, label=backward), person, size=(24, 32), fps=8, with_masks=True)
    assert not np.array_equal(a, a[::-1])  # the clip itself is not a palindrome
    np.testing.assert_array_equal(b, a[::-1])
    for part in BODY_PARTS:
        np.testing.assert_array_equal(masks_b[part], masks_a[part][::-1])


def test_render_shape_and_masks() -> None:
    person = make_participants(1, 0)[0]
    spec = ClipSpec(label=43, participant=1, seed=5, duration_s=1.5)  # touching nose
    frames, masks = render_clip(spec, person, size=(40, 48), fps=10, with_masks=True)
    assert frames.dtype == np.uint8 and frames.shape == (15, 48, 40, 3)
    assert set(masks) == set(BODY_PARTS) == set(MASK_TAGS)
    assert all(m.shape == (15, 48, 40) and m.dtype == bool for m in masks.values())
    # Hand-to-X regions hold the hand and its target.
    assert (masks["head-hand"] >= masks["head"]).all() and (masks["head-hand"] >= masks["upper limb"]).all()
    assert masks["head"].any(axis=(1, 2)).all() and masks["lower limb"].any(axis=(1, 2)).all()
    # The figure is inside the frame and the background is light: a person on a plain wall, filling ~70% of
    # the height and ~29% of the width (MA-52's framing), so 5-30% of the pixels.
    person_px = np.any([m for m in masks.values()], axis=0)
    assert 0.05 < person_px.mean() < 0.3
    assert frames[:, :5].mean() > 150


@pytest.mark.parametrize("label", [43, 0, 29])  # touching nose (hands, fingers) and two others
def test_a_clip_drawn_whole_is_the_clip_drawn_frame_by_frame(label: int) -> None:
    # The renderer computes each capsule for all frames at once (draw.capsule_layers); the stills draw single
    # frames one by one: both must paint the same pixels and region tags.
    person = make_participants(4, 1)[3]
    spec = ClipSpec(label=label, participant=person.pid, seed=11, duration_s=1.5)
    frames, masks = render_clip(spec, person, size=(40, 48), fps=10, with_masks=True)
    stage = stage_clip(spec, person, (40, 48), 10)
    drawn = [stage.draw(f, labels=True) for f in range(stage.pose.t)]
    np.testing.assert_array_equal(frames, np.stack([img for img, _ in drawn]))
    tags = np.stack([t for _, t in drawn])
    for part, part_tags in MASK_TAGS.items():
        np.testing.assert_array_equal(masks[part], np.isin(tags, list(part_tags)))


def _grow(mask: np.ndarray) -> np.ndarray:
    """Mask [H, W] grown by one pixel: a moving edge also changes the pixel beside it."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def test_motion_is_concentrated_on_the_class_body_part() -> None:
    people = make_participants(52, 3)
    fractions: dict[int, list[float]] = {b: [] for b in range(NUM_BODY_PARTS)}
    for label in range(NUM_CLASSES):
        # Clean render (no camera shake, no sensor noise): only the body moves.
        spec = ClipSpec(label=label, participant=1, seed=77 + label, jitter=0.0, noise=0.0)
        frames, masks = render_clip(spec, people[label], size=(40, 48), fps=10, with_masks=True)
        body = FINE_TO_BODY[label]
        region = _grow(masks[BODY_PARTS[body]].any(0))
        energy = np.abs(np.diff(frames.astype(np.float32), axis=0)).sum(axis=(0, 3))  # [H, W]
        assert energy.sum() > 0, FINE_CLASSES[label]
        ratio = energy[region].mean() / max(energy[~region].mean(), 1e-6)
        assert ratio > 2.0, f"{FINE_CLASSES[label]}: motion inside {BODY_PARTS[body]} only {ratio:.1f}x outside"
        fractions[body].append(float(energy[region].sum() / energy.sum()))
    for body, values in fractions.items():
        assert np.median(values) > 0.5, f"{BODY_PARTS[body]}: median share of motion {np.median(values):.2f}"


def test_every_class_has_its_own_pose_program() -> None:
    # Programs are keyed by class name: a program under another class's name would render that class's motion.
    from ma52lib.synth.motions import PROGRAMS, REVERSE_OF

    assert sorted(set(PROGRAMS) | set(REVERSE_OF)) == list(range(NUM_CLASSES))
    assert not set(PROGRAMS) & set(REVERSE_OF)
    for label, program in PROGRAMS.items():
        words = program.__name__.split("_")
        assert all(word in FINE_CLASSES[label].split() for word in words), (label, program.__name__)


def test_an_interrupted_render_continues_to_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ma52lib.synth.writer as writer

    counts = {s: [1 if c < 6 else 0 for c in range(NUM_CLASSES)] for s in SPLITS}  # 18 clips
    whole = synthesize(tmp_path / "whole", profile="smoke", size=SIZE, fps=FPS, counts=counts, workers=1,
                       progress=False)
    rendered: list[str] = []
    make_clip, stop_after = writer._make_clip, [7]

    def stop_after_seven(job):
        if len(rendered) in stop_after:
            raise RuntimeError("stopped")  # as Ctrl-C or a crash would
        rendered.append(job[1].file)
        return make_clip(job)

    monkeypatch.setattr(writer, "_make_clip", stop_after_seven)
    out = tmp_path / "resumed"
    with pytest.raises(RuntimeError, match="stopped"):
        synthesize(out, profile="smoke", size=SIZE, fps=FPS, counts=counts, workers=1, progress=False)
    work = tmp_path / ".resumed.partial"
    assert not out.exists() and len(list(work.glob("videos_*/*.mp4"))) == 7
    (work / "videos_train" / ".half.partial-1.mp4").write_bytes(b"\0")  # an encoder killed mid-file
    rendered.clear()
    stop_after.clear()
    synthesize(out, profile="smoke", size=SIZE, fps=FPS, counts=counts, workers=1, progress=False)
    assert len(rendered) == 18 - 7 and not work.exists()  # only the missing clips were rendered
    files = sorted(p.relative_to(whole) for p in whole.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    for rel in files:
        assert (whole / rel).read_bytes() == (out / rel).read_bytes(), rel
