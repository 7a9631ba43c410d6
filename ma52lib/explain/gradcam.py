"""Class activation maps of video clips with pytorch-grad-cam, for MANet and every baseline.

The library does the work (hooks, class targets, channel weights of Grad-CAM / Grad-CAM++, the SVD of
EigenCAM); three things are done here because the library assumes images:

1. Every model exposes ``cam_target_layer`` and ``cam_reshape`` (see ``ma52lib.models``), so the hooked
   activations and gradients are ``[N, C, t, h, w]`` for 2-D segment models and 3-D models alike.
2. The library resizes maps to the input's size, reading a 5-D input as ``[N, C, D, H, W]``; our clips
   are ``[N, T, 3, H, W]`` and a 3-D model's t may be T/2 or T/alpha. So the maps are taken at feature
   resolution (``_FeatureMaps`` below skips the library's resize) and upsampled here to ``[T, H, W]``.
3. The library min-max scales each map on its own; scaling frame by frame would make every frame
   peak at 1. Maps are scaled once per clip instead, so frames can be compared.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ma52lib.engine.run import load_clip
from ma52lib.explain.viz import denormalize


class _FeatureMaps:
    """Mixin for a pytorch-grad-cam class: keep each clip's map at the target layer's resolution.

    Replaces ``BaseCAM.compute_cam_per_layer`` (which would resize with the image-only size logic and
    min-max scale every map) and ``aggregate_multi_layers`` (which would scale again). What is left is
    the library's own ``get_cam_image`` followed by its ReLU: ``[N, t, h, w]``, unscaled.
    """

    def compute_cam_per_layer(self, input_tensor: Tensor, targets: list[Any], eigen_smooth: bool) -> list[np.ndarray]:
        acts = [a.cpu().data.numpy() for a in self.activations_and_grads.activations]
        grads = [g.cpu().data.numpy() for g in self.activations_and_grads.gradients]
        maps = []
        for i, layer in enumerate(self.target_layers):
            cam = self.get_cam_image(
                input_tensor, layer, targets, acts[i] if i < len(acts) else None,
                grads[i] if i < len(grads) else None, eigen_smooth,
            )
            maps.append(np.maximum(cam, 0))
        return maps

    def aggregate_multi_layers(self, cam_per_target_layer: list[np.ndarray]) -> np.ndarray:
        return np.mean(np.stack(cam_per_target_layer), axis=0)


def _eigen_cam_image(self: Any, input_tensor: Tensor, target_layer: nn.Module, target_category: Any,
                     activations: np.ndarray, grads: Any, eigen_smooth: bool) -> np.ndarray:
    """EigenCAM's projection on the first principal component, with the library's sign correction.

    The sign of an SVD component is arbitrary, so plain EigenCAM (projection, then ReLU) keeps the
    salient half or its complement depending on numerics; the library's Seg-Eigen-CAM correction
    (flip when |min| > |max|) makes the salient side positive. One projection per clip (all frames).
    """
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction  # see cam_class

    return get_2d_projection_with_sign_correction(activations)


# name -> whether the method uses gradients, i.e. explains one target class
_USES_GRADIENTS: dict[str, bool] = {"gradcam": True, "gradcam++": True, "eigencam": False}
METHODS: tuple[str, ...] = tuple(_USES_GRADIENTS)


@functools.cache
def cam_class(method: str) -> type:
    """The pytorch-grad-cam class of ``method`` giving feature-resolution clip maps (``_FeatureMaps``).

    Built on first use: the library imports OpenCV and SciPy, which every `ma52` command would
    otherwise pay for at start-up (the CLI imports this module to list the methods).
    """
    from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus

    key = method_key(method)
    base = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "eigencam": EigenCAM}[key]
    body = {"get_cam_image": _eigen_cam_image} if key == "eigencam" else {}
    return type(f"Clip{base.__name__}", (_FeatureMaps, base), body)


def method_key(method: str) -> str:
    """Canonical method name (``Grad-CAM++`` -> ``gradcam++``); raises on an unknown method."""
    key = method.lower().replace("-", "").replace("_", "").replace(" ", "")
    key = {"gradcampp": "gradcam++", "gradcamplusplus": "gradcam++"}.get(key, key)
    if key not in _USES_GRADIENTS:
        raise ValueError(f"unknown CAM method {method!r}; choose one of: {', '.join(METHODS)}")
    return key


def is_class_specific(method: str) -> bool:
    """Whether ``method`` explains one class (gradient methods) or is class-agnostic (EigenCAM)."""
    return _USES_GRADIENTS[method_key(method)]


@dataclass
class ClipCams:
    """CAMs of a batch of clips: ``cams`` [N, T, H, W] in [0, 1] (scaled per clip), the model's
    ``logits`` [N, K], and the class each map explains (``targets``; the predicted class by default)."""

    cams: Tensor
    logits: Tensor
    targets: list[int]


def normalize_per_clip(maps: Tensor, eps: float = 1e-7) -> Tensor:
    """Min-max scale each clip of ``maps`` [N, ...] over all its frames at once (an all-flat map -> 0)."""
    flat = maps.flatten(1)  # [N, T, H, W] -> [N, T*H*W]
    lo = flat.min(dim=1).values.view(-1, *[1] * (maps.dim() - 1))
    hi = flat.max(dim=1).values.view(-1, *[1] * (maps.dim() - 1))
    span = hi - lo
    # A clip whose map is flat (e.g. every gradient of the target was negative) has no evidence: 0.
    return torch.where(span > eps, (maps - lo) / span.clamp_min(eps), torch.zeros_like(maps))


def upsample_maps(maps: Tensor, size: tuple[int, int, int]) -> Tensor:
    """Trilinearly resize feature-resolution maps [N, t, h, w] to [N, T, H, W] = ``size``.

    ``align_corners=False`` lines feature cells up with the pixel (and frame) blocks they summarise,
    which also spreads a 3-D model's t = T/k (SlowFast: T/alpha) steps over the T input frames.
    """
    # [N, t, h, w] -> [N, 1, t, h, w] (one channel) -> [N, 1, T, H, W] -> [N, T, H, W]
    return F.interpolate(maps[:, None].float(), size=size, mode="trilinear", align_corners=False)[:, 0]


def _reshape_of(model: nn.Module) -> Callable[[Tensor], Tensor] | None:
    """The model's ``cam_reshape``, looked up at every call (TimeSformer's depends on the last forward's grid)."""
    if model.cam_reshape is None:
        return None
    return lambda x: model.cam_reshape(x)


def _target_list(targets: int | Sequence[int] | None, n: int, num_classes: int) -> list[int] | None:
    if targets is None:
        return None
    items = [int(targets)] * n if isinstance(targets, (int, np.integer)) else [int(t) for t in targets]
    if len(items) != n:
        raise ValueError(f"got {len(items)} targets for {n} clips; pass one class id per clip (or one for all)")
    bad = [t for t in items if not 0 <= t < num_classes]
    if bad:
        raise ValueError(f"target class(es) {bad} outside 0..{num_classes - 1}")
    return items


def compute_cams(model: nn.Module, clips: Tensor, targets: int | Sequence[int] | None = None,
                 *, method: str = "gradcam") -> ClipCams:
    """CAMs of ``clips`` [N, T, 3, H, W] for ``targets`` (class ids; None = each clip's predicted class).

    Runs in eval mode, fp32 (autocast off) with gradients on, whatever the caller's context; restores the
    model's training flag. EigenCAM ignores ``targets`` (it is class-agnostic).
    """
    if clips.dim() != 5 or clips.shape[2] != 3:
        raise ValueError(f"compute_cams expects clips [N, T, 3, H, W], got {tuple(clips.shape)}")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # see cam_class

    key = method_key(method)
    uses_grads = _USES_GRADIENTS[key]
    n, t, _, h, w = clips.shape
    device = next(model.parameters()).device
    wanted = _target_list(targets, n, int(model.num_classes))
    x = clips.detach().to(device=device, dtype=torch.float32)
    if uses_grads:
        # Gradients must reach the hooked layer even when the weights are frozen.
        x.requires_grad_(True)
    was_training = model.training
    # Not `with cam_class(...)`: BaseCAM.__exit__ swallows IndexError, which would hide real bugs.
    cam = cam_class(key)(model, [model.cam_target_layer], reshape_transform=_reshape_of(model))
    try:
        with torch.set_grad_enabled(uses_grads), torch.autocast(device_type=device.type, enabled=False):
            cam_targets = None if wanted is None else [ClassifierOutputTarget(c) for c in wanted]
            maps = cam(x, cam_targets)  # [N, t, h, w], unscaled, >= 0
            logits = cam.outputs.detach().float().cpu()
    finally:
        cam.activations_and_grads.release()
        model.zero_grad(set_to_none=True)  # the backward pass left gradients on the weights
        model.train(was_training)
    if maps.ndim != 4:
        raise RuntimeError(
            f"{type(model).__name__}: the CAM of its target layer has shape {maps.shape}, expected [N, t, h, w]; "
            "check the model's cam_target_layer/cam_reshape (they must give [N, C, t, h, w])"
        )
    chosen = wanted if wanted is not None else logits.argmax(dim=1).tolist()
    cams = normalize_per_clip(upsample_maps(torch.from_numpy(np.ascontiguousarray(maps)), (t, h, w)))
    return ClipCams(cams=cams, logits=logits, targets=[int(c) for c in chosen])


def gradcam(model: nn.Module, clip: Tensor, target: int | None = None, method: str = "gradcam") -> Tensor:
    """Heat map per frame of one clip [T, 3, H, W]: [T, H, W] in [0, 1], scaled once over the clip.

    ``target`` is the class to explain (default: the predicted one); ``method`` is one of ``METHODS``.
    A batch [N, T, 3, H, W] gives [N, T, H, W].
    """
    single = clip.dim() == 4
    batch = clip[None] if single else clip  # [T, 3, H, W] -> [1, T, 3, H, W]
    cams = compute_cams(model, batch, target, method=method).cams
    return cams[0] if single else cams


@dataclass
class VideoCam:
    """The CAM of one video under a run: display ``frames`` uint8 [T, H, W, 3] (the model's resized crop),
    ``cam`` [T, H, W] in [0, 1], the class probabilities ``probs`` [K] and the explained class ``target``."""

    video: str
    frames: np.ndarray
    cam: Tensor
    probs: Tensor
    target: int
    method: str

    def top(self, k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` most probable classes as (class id, probability)."""
        values, ids = torch.topk(self.probs, min(k, self.probs.numel()))
        return [(int(i), float(p)) for p, i in zip(values, ids)]


def explain_video(run: Any, video: str, *, target: int | None = None, method: str = "gradcam") -> VideoCam:
    """CAM of any mp4 under a loaded run (``ma52lib.engine.run.LoadedRun``): decoded, sampled and transformed
    exactly as the run's evaluation does (``load_clip``), so any size or aspect ratio works."""
    clip = load_clip(run, video)  # [T, 3, H, W], normalised
    result = compute_cams(run.model, clip[None], None if target is None else [target], method=method)
    probs = torch.softmax(result.logits[0], dim=0)
    return VideoCam(str(video), denormalize(clip), result.cams[0], probs, result.targets[0], method_key(method))
