"""Grad-CAM on clips: map shape and range for MANet and the baselines, one scaling per clip, CAM mass
where a model's evidence is planted, the region-mass geometry, drawing and `ma52 cam`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from ma52lib.data.transforms import ClipTransform
from ma52lib.explain import METHODS, compute_cams, gradcam, method_key, normalize_per_clip
from ma52lib.explain.cli import resolve_class
from ma52lib.explain.mass import cam_mass, eval_geometry
from ma52lib.models import build_model
from ma52lib.models.heads import FramesToClip

H, W = 32, 48  # not square, so a swapped height and width cannot pass


class PlantedEvidence(nn.Module):
    """A 2-D segment model under the model contract whose class 0 reads only red and class 1 only blue.

    Per frame: a 1x1 conv with two channels (red-minus-rest, blue-minus-rest) -> 4x4 average pool (so the
    CAM must be upsampled) -> ReLU (the CAM layer) -> global average; logits are the two channels averaged
    over frames. Evidence for class 0 is wherever the clip is red, for class 1 wherever it is blue.
    """

    sampling = "tsn"
    frame_interval = 1
    has_embedding = False

    def __init__(self, num_frames: int = 4) -> None:
        super().__init__()
        self.num_frames = self.num_segments = num_frames
        self.num_classes = 2
        self.conv = nn.Conv2d(3, 2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[1.0, -0.5, -0.5], [-0.5, -0.5, 1.0]])[:, :, None, None])
        self.pool = nn.AvgPool2d(4)
        self.act = nn.ReLU()

    @property
    def cam_target_layer(self) -> nn.Module:
        return self.act

    @property
    def cam_reshape(self) -> FramesToClip:
        return FramesToClip(self.num_frames)

    def forward(self, x: Tensor) -> Tensor:
        n, t = x.shape[:2]
        # [N, T, 3, H, W] -> [N*T, 3, H, W] -> [N*T, 2, H/4, W/4]
        feats = self.act(self.pool(self.conv(x.reshape(n * t, *x.shape[2:]))))
        return feats.mean(dim=(2, 3)).view(n, t, 2).mean(dim=1)  # [N*T, 2] -> [N, T, 2] -> [N, 2]


def _planted_clip(t: int = 4) -> Tensor:
    """Red square top-left, getting brighter frame by frame; blue square bottom-right; black elsewhere."""
    clip = torch.zeros(t, 3, H, W)
    for i in range(t):
        clip[i, 0, 4:12, 4:16] = 1.0 + i  # red, stronger in later frames
        clip[i, 2, 20:28, 32:44] = 2.0  # blue, constant
    return clip


def _tiny_manet() -> nn.Module:
    return build_model("manet", depth=18, width=16).eval()


@pytest.mark.parametrize("method", METHODS)
def test_manet_and_3d_baseline_maps_are_clip_shaped_in_unit_range(method: str) -> None:
    for model in (_tiny_manet(), build_model("i3d", size="tiny").eval()):
        clip = torch.randn(model.num_frames, 3, H, W)
        cam = gradcam(model, clip, method=method)
        assert cam.shape == (model.num_frames, H, W)
        assert torch.isfinite(cam).all() and cam.min() >= 0 and cam.max() <= 1
        assert cam.max() == pytest.approx(1.0) and cam.min() == pytest.approx(0.0)


@pytest.mark.parametrize("name", ["tsm", "slowfast", "timesformer", "vswin", "r2plus1d"])
def test_other_layouts_give_clip_shaped_maps(name: str) -> None:
    # Token and channels-last layers, SlowFast's T/alpha slow pathway, R(2+1)D's strided time: all [T, H, W].
    model = build_model(name, size="tiny").eval()
    cam = gradcam(model, torch.randn(model.num_frames, 3, H, W), method="gradcam++")
    assert cam.shape == (model.num_frames, H, W) and cam.min() >= 0 and cam.max() <= 1


def test_scaled_once_per_clip_not_per_frame() -> None:
    model = PlantedEvidence()
    strong, weak = _planted_clip(), _planted_clip() * 0.25
    cams = compute_cams(model, torch.stack([strong, weak]), [0, 0]).cams  # [2, T, H, W]
    per_frame_max = cams.amax(dim=(2, 3))  # [2, T]
    # each clip peaks at 1 once, in its strongest (last) frame; earlier frames are weaker, not rescaled
    assert torch.allclose(cams.amax(dim=(1, 2, 3)), torch.ones(2))
    assert torch.all(per_frame_max[:, :-1] < per_frame_max[:, 1:])
    assert per_frame_max[0, 0] < 0.5
    # the weak clip is scaled on its own, not relative to the strong one
    assert torch.allclose(cams[0], cams[1], atol=1e-5)


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_cam_mass_lies_where_the_evidence_is_planted(method: str) -> None:
    model = PlantedEvidence()
    clip = _planted_clip()
    top_left = torch.zeros(model.num_frames, H, W)
    top_left[:, : H // 2, : W // 2] = 1
    bottom_right = torch.zeros_like(top_left)
    bottom_right[:, H // 2 :, W // 2 :] = 1
    red = compute_cams(model, clip[None], [0], method=method)
    blue = compute_cams(model, clip[None], [1], method=method)
    assert red.targets == [0] and blue.targets == [1]
    assert cam_mass(red.cams[0], top_left) > 0.8
    assert cam_mass(blue.cams[0], bottom_right) > 0.8
    # target=None explains the predicted class: here red (its logit is larger)
    assert compute_cams(model, clip[None], method=method).targets == [int(red.logits.argmax())]


def test_eigencam_is_gradient_free_and_finds_the_only_structure() -> None:
    model = PlantedEvidence()
    clip = torch.zeros(model.num_frames, 3, H, W)
    clip[:, 0, 4:12, 4:16] = 2.0  # only a red square
    for p in model.parameters():
        p.requires_grad_(False)  # no gradients anywhere: EigenCAM must not need them
    cam = gradcam(model, clip, method="eigencam")
    box = torch.zeros_like(cam)
    box[:, : H // 2, : W // 2] = 1
    assert cam_mass(cam, box) > 0.8


def test_frozen_weights_training_mode_and_no_grad_context_are_handled() -> None:
    model = _tiny_manet().train()
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        cam = gradcam(model, torch.randn(8, 3, H, W), target=3)
    assert cam.dtype == torch.float32 and cam.max() == pytest.approx(1.0)
    assert model.training  # the caller's mode is restored


def test_bad_inputs_fail_clearly() -> None:
    model = PlantedEvidence()
    with pytest.raises(ValueError, match="unknown CAM method"):
        gradcam(model, _planted_clip(), method="scorecam")
    with pytest.raises(ValueError, match="outside 0..1"):
        gradcam(model, _planted_clip(), target=5)
    with pytest.raises(ValueError, match=r"\[N, T, 3, H, W\]"):
        compute_cams(model, torch.zeros(4, 3, H, W))
    assert method_key("Grad-CAM++") == "gradcam++"


def test_normalize_per_clip_handles_flat_maps() -> None:
    maps = torch.stack([torch.zeros(2, 3, 3), torch.arange(18.0).view(2, 3, 3)])
    out = normalize_per_clip(maps)
    assert out[0].abs().sum() == 0 and out[1].max() == 1 and out[1].min() == 0


def test_region_masks_follow_the_eval_crop() -> None:
    # A portrait frame (like MA-52's 1080x1296): the centre crop drops the top and bottom rows.
    t, h, w = 2, 60, 40
    masks = np.zeros((t, h, w), bool)
    masks[:, :10] = True  # a region in the top rows only, outside the crop
    masks[:, 30, 20] = True  # one pixel in the middle
    frames = torch.from_numpy(np.where(masks, 255, 0).astype(np.uint8))[:, None].repeat(1, 3, 1, 1)
    tf = ClipTransform(train=False, short_side=20, crop_size=16)
    mapped = eval_geometry(masks, short_side=20, crop_size=16)
    assert mapped.shape == (t, 16, 16)
    # the mask goes through exactly the geometry of the frames (same resize and crop)
    from ma52lib.data.transforms import MEAN, STD

    pixels = tf(frames, np.random.default_rng(0))[:, 0] * STD[0] + MEAN[0]  # [T, 16, 16] back to 0..255
    assert torch.allclose(mapped * 255, pixels, atol=1.0)
    assert mapped[:, 0].sum() == 0  # the top rows were cropped away


def test_resolve_class_accepts_ids_and_names_and_suggests() -> None:
    assert resolve_class("9") == 9
    assert resolve_class("Shaking_Head") == 10
    with pytest.raises(ValueError, match="did you mean.*nodding"):
        resolve_class("noding")
    with pytest.raises(ValueError, match="outside"):
        resolve_class("52")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory):
    """A run folder holding an untrained smoke MANet (config.json + checkpoints/best.pt), as load_run reads it."""
    from ma52lib.config import make_config, save_config
    from ma52lib.engine.build import build_model_for, embedding_dim, without_weights
    from ma52lib.engine.checkpoint import save_checkpoint

    out = tmp_path_factory.mktemp("run")
    cfg = without_weights(make_config("smoke", {"data.root": str(out)}))
    torch.manual_seed(0)
    model = build_model_for(cfg, embedding_dim(cfg))
    (out / "checkpoints").mkdir()
    save_config(cfg, out / "config.json")
    save_checkpoint({"model": model.state_dict(), "epoch": -1, "config": {}}, out / "checkpoints" / "best.pt")
    return out


@pytest.fixture(scope="module")
def portrait_video(tmp_path_factory: pytest.TempPathFactory):
    """A 12-frame portrait mp4 (36 wide, 60 high, like MA-52's 1080x1296 framing) with a moving square."""
    from videotools import write_test_video

    frames = np.full((12, 60, 36, 3), 180, np.uint8)
    for t in range(12):
        frames[t, 20 + t : 30 + t, 8:20] = (200, 30, 30)
    return write_test_video(tmp_path_factory.mktemp("video") / "clip.mp4", frames, fps=10)


def test_cam_command_writes_filmstrip_and_gif(run_dir, portrait_video, tmp_path, capsys) -> None:
    from PIL import Image

    from ma52lib.cli import main

    png, gif = tmp_path / "cam.png", tmp_path / "cam.gif"
    assert main(["cam", "--run", str(run_dir), str(portrait_video), "--out", str(png)]) == 0
    printed = capsys.readouterr().out
    assert "1. " in printed and "5. " in printed and f"wrote {png}" in printed
    assert Image.open(png).size[0] > 100
    assert main(["cam", "--run", str(run_dir), str(portrait_video), "--target", "nodding",
                 "--method", "gradcam++", "--out", str(gif)]) == 0
    assert "'nodding'" in capsys.readouterr().out
    with Image.open(gif) as im:
        assert im.n_frames == 8  # the smoke MANet's 8 sampled frames
        assert min(im.size) >= 224


def test_explain_video_uses_the_runs_evaluation_clip(run_dir, portrait_video) -> None:
    from ma52lib.engine.run import load_clip, load_run
    from ma52lib.explain import explain_video

    run = load_run(run_dir)
    result = explain_video(run, portrait_video, target=9)
    clip = load_clip(run, portrait_video)
    assert result.target == 9 and result.cam.shape == (8, 32, 32) and result.frames.shape == (8, 32, 32, 3)
    assert torch.allclose(result.cam, gradcam(run.model, clip, target=9))
    assert abs(float(result.probs.sum()) - 1) < 1e-5 and len(result.top(5)) == 5


def test_cam_command_errors_say_what_to_do(run_dir, portrait_video, tmp_path, capsys) -> None:
    from ma52lib.cli import main

    out = str(tmp_path / "x.png")
    assert main(["cam", "--run", str(tmp_path / "nope"), str(portrait_video), "--out", out]) == 1
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    assert main(["cam", "--run", str(run_dir), str(bad), "--out", out]) == 1
    assert "bad.mp4" in capsys.readouterr().err
    assert main(["cam", "--run", str(run_dir), str(portrait_video), "--target", "shaking hed", "--out", out]) == 2
    assert "did you mean" in capsys.readouterr().err
    assert main(["cam", "--run", str(run_dir), str(portrait_video), "--out", str(tmp_path / "x.bmp")]) == 2


@pytest.fixture(scope="module")
def mini_synth(tmp_path_factory: pytest.TempPathFactory):
    """MA-52-Synth with two portrait test clips (a head class and a leg-hand class), 36x60 px."""
    from ma52lib.synth import synthesize

    zeros = [0] * 52
    train, test = list(zeros), list(zeros)
    train[9] = test[9] = test[48] = 1
    return synthesize(tmp_path_factory.mktemp("synth") / "ma52-synth", profile="smoke", size=(36, 60),
                      counts={"train": train, "val": train, "test": test}, workers=1, progress=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, mini_synth):
    from ma52lib.config import make_config
    from ma52lib.engine.run import LoadedRun

    torch.manual_seed(0)
    cfg = make_config("smoke", {"data.root": str(mini_synth)})
    return LoadedRun(tmp_path_factory.mktemp("tiny_run"), cfg, _tiny_manet(), torch.device("cpu"))


def test_region_masks_line_up_with_the_clip_the_model_sees(mini_synth, tiny_run) -> None:
    # Re-rendered frames at the study's sampled indices, through the eval transform, must be the decoded
    # clip the dataset gives the model (up to h264 loss), so the masks rendered with them line up too.
    from ma52lib.engine.build import build_dataset
    from ma52lib.explain.mass import _sampled
    from ma52lib.synth import clip_table, frames_of

    ds = build_dataset(tiny_run.cfg, mini_synth, "test", tiny_run.model, train=False)
    records = {r["file"]: r for r in clip_table(mini_synth) if r["split"] == "test"}
    for i in range(len(ds)):
        frames = frames_of(mini_synth, records[ds.clips[i].path])
        idx = _sampled(ds, i, len(frames))
        rendered = ds.transform(torch.from_numpy(frames[idx]).permute(0, 3, 1, 2), np.random.default_rng(0))
        decoded = ds[i][0]
        assert (rendered - decoded).abs().mean() < 0.1  # normalised units: ~6 grey levels of h264 loss
        mirrored = torch.from_numpy(frames[idx][:, :, ::-1].copy()).permute(0, 3, 1, 2)  # flipped left-right
        wrong = ds.transform(mirrored, np.random.default_rng(0))
        assert (wrong - decoded).abs().mean() > 2 * (rendered - decoded).abs().mean()  # the check can tell


def test_cam_study_measures_mass_on_the_acting_region(mini_synth, tiny_run) -> None:
    from ma52lib.explain.mass import SynthRegions, cam_study, mass_by_body, mass_summary, pick_clips

    study = cam_study({"manet": tiny_run}, mini_synth, split="test", method="gradcam++")
    assert len(study) == 2 and set(study["body"]) == {"head", "leg-hand"}
    masks = SynthRegions(mini_synth).masks("test", "test0000.mp4")
    assert set(masks) == {"body", "head", "upper limb", "lower limb", "body-hand", "head-hand", "leg-hand"}
    for _, row in study.iterrows():
        assert 0 < row["area"] < 1 and (np.isnan(row["mass"]) or 0 <= row["mass"] <= 1)
    # a head is a smaller part of the frame than both arms and the legs
    areas = dict(zip(study["body"], study["area"]))
    assert areas["head"] < areas["leg-hand"]
    summary = mass_summary(study, names={"manet": "MANet"})
    assert list(summary.index) == ["MANet"] and summary.loc["MANet", "clips"] == 2
    table = mass_by_body(study)
    assert table.index[-1] == "region area (chance)"
    assert sorted(pick_clips(study, model="manet", n=2)) == [0, 1]


def test_cli_start_up_does_not_load_the_cam_library_and_the_function_wins_the_name() -> None:
    # `ma52 --help` imports ma52lib.explain.cli; pytorch-grad-cam (OpenCV, SciPy) loads on first use only.
    import subprocess
    import sys

    code = ("import sys, ma52lib.explain.cli, ma52lib.explain as ex; "
            "assert 'pytorch_grad_cam' not in sys.modules, 'pytorch_grad_cam imported at start-up'; "
            "assert callable(ex.gradcam), 'ma52lib.explain.gradcam must be the function'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]
