"""What the nine baselines share: the model contract, size presets, dense-clip intervals and local
pre-trained weights (never downloaded).

Every baseline subclasses ``ClipClassifier``: it implements ``_features(x) -> [N, F]`` on the clip
``[N, T, 3, H, W]`` and gets ``forward``/``features``/the head, dropout and input checks from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

# MA-52 clips are 45-75 frames (1.5-2.5 s at 30 fps), so a dense clip never spans more than this:
# papers whose clip covers more frames (TimeSformer 8x32 = 256) are capped to the whole micro-action.
MAX_DENSE_SPAN = 64


def resolve_size(
    model: str, size: str, presets: Mapping[str, Mapping[str, Any]], overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``size`` preset of ``model`` with explicit ``overrides`` (e.g. ``width=``) applied."""
    if size not in presets:
        raise ValueError(f"{model}: unknown size {size!r}; choose one of {', '.join(presets)}")
    cfg = dict(presets[size])
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise TypeError(
            f"{model}: unknown option(s) {', '.join(unknown)}; the options of this model are "
            f"{', '.join(sorted(cfg))} (plus size, pretrained, dropout)"
        )
    # None means "keep the preset", so config fields left at None (ModelConfig.width/depth) are harmless.
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return cfg


def dense_interval(num_frames: int, paper_frames: int, paper_interval: int) -> int:
    """Frame interval for a dense clip of ``num_frames`` covering the paper's span (at most 64 frames)."""
    span = min(paper_frames * paper_interval, MAX_DENSE_SPAN)
    return max(1, span // num_frames)


class ClipClassifier(nn.Module):
    """Base of every baseline: clip checks, dropout + linear head and the shared model contract."""

    has_embedding = False
    # What the engine passes to ``model.to(memory_format=...)``: channels_last only suits 4-D weights.
    memory_format = torch.contiguous_format

    def __init__(
        self,
        *,
        num_classes: int,
        num_frames: int,
        sampling: str,
        frame_interval: int,
        feature_dim: int,
        dropout: float,
        min_size: int = 1,
        size_multiple: int = 1,
    ) -> None:
        super().__init__()
        if num_frames < 1:
            raise ValueError(f"{type(self).__name__}: num_segments must be >= 1, got {num_frames}")
        self.num_classes = num_classes
        self.num_frames = num_frames
        self.sampling = sampling
        self.frame_interval = frame_interval
        self.feature_dim = feature_dim
        self.min_size = min_size
        self.size_multiple = size_multiple
        self.dropout = nn.Dropout(dropout)
        self.fc_cls = nn.Linear(feature_dim, num_classes)
        nn.init.normal_(self.fc_cls.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc_cls.bias)

    # ---- contract -------------------------------------------------------------------------------
    def features(self, x: Tensor) -> Tensor:
        """Pooled clip feature ``[N, F]`` of clip ``x`` ``[N, T, 3, H, W]``."""
        self.check_input(x)
        return self._features(x)

    def forward(self, x: Tensor, return_embedding: bool = False) -> Tensor | tuple[Tensor, None]:
        """Logits ``[N, num_classes]``; ``(logits, None)`` with ``return_embedding`` (no embedding head)."""
        logits = self.fc_cls(self.dropout(self.features(x)))
        return (logits, None) if return_embedding else logits

    @property
    def cam_target_layer(self) -> nn.Module:
        """The module Grad-CAM hooks (the last convolutional stage or the last block's norm)."""
        raise NotImplementedError

    @property
    def cam_reshape(self) -> Callable[[Tensor], Tensor] | None:
        """Maps the target layer's output to ``[N, C, T, h, w]``; None when it already is."""
        return None

    # ---- helpers for subclasses -----------------------------------------------------------------
    def _features(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def check_input(self, x: Tensor) -> None:
        """Raise a clear error unless ``x`` is a clip ``[N, T, 3, H, W]`` this model can take."""
        name = type(self).__name__
        if x.dim() != 5 or x.shape[2] != 3:
            raise ValueError(
                f"{name} expects clips shaped [N, T, 3, H, W], got {list(x.shape)}; a batch from the "
                "MA-52 loader has this shape (add a batch dimension to a single clip with x[None])"
            )
        h, w = x.shape[-2:]
        if min(h, w) < self.min_size or h % self.size_multiple or w % self.size_multiple:
            raise ValueError(
                f"{name} cannot take {h}x{w} frames: it needs sides of at least {self.min_size} px that "
                f"are multiples of {self.size_multiple}; change data.crop_size or the model's "
                "patch size (patch=...)"
            )

    @staticmethod
    def to_3d(x: Tensor) -> Tensor:
        """Clip to the 3-D CNN layout: ``[N, T, 3, H, W] -> [N, 3, T, H, W]``."""
        return x.transpose(1, 2)


def _clean_key(key: str) -> str:
    for prefix in ("module.", "backbone.", "net.", "model."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key


def read_weights(path: str | Path) -> dict[str, Tensor]:
    """The tensors of the local state dict at ``path``, float32 (the shipped float16 starts are widened, so that
    inflation divides in float32), with wrapper prefixes (``module.``, ``backbone.``, ``net.``) dropped."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights {path} not found; pass the path of a local state_dict saved with "
            "torch.save (nothing is downloaded)"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model", "model_state"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    return {_clean_key(k): v.float() if v.dtype == torch.float16 else v for k, v in state.items()
            if isinstance(v, Tensor)}


def load_pretrained(model: nn.Module, path: str | Path, *, skip: tuple[str, ...] = ("fc_cls.",)) -> list[str]:
    """Copy matching weights from the local state dict at ``path`` into ``model``; returns loaded keys.

    Keys are matched after dropping wrapper prefixes (``module.``, ``backbone.``, ``net.``); a 2-D conv
    kernel ``[O, I, h, w]`` is inflated into a 3-D ``[O, I, t, h, w]`` one (repeated over t, divided by
    t, as I3D does). The classifier and tensors of another shape are skipped.
    """
    source = read_weights(path)
    loaded = load_state(model, source, skip=skip)
    if not loaded:
        raise ValueError(
            f"no tensor of {path} matches {type(model).__name__} (first keys there: {', '.join(list(source)[:3])}); "
            "pass a state dict of the same backbone (e.g. a torchvision ResNet for TSN/TSM/TIN/I3D/SlowFast)"
        )
    return loaded


def load_state(model: nn.Module, source: dict[str, Tensor], *, skip: tuple[str, ...] = ("fc_cls.",),
               prefix: str = "", fit: str = "exact") -> list[str]:
    """Copy ``source`` (a 2-D or 3-D state dict, keys under ``prefix`` in ``model``) into ``model``; returns the
    loaded keys. 2-D kernels are inflated (repeated over time, divided by its length). ``fit`` says what to do with
    a tensor of other channel counts: "exact" skips it; "pad" puts it in the first input channels of a wider conv
    and zeros the rest (the extra inputs of SlowFast's fused lateral features, as mmaction2 inflates them);
    "subset" keeps its first channels (a narrower pathway started from a slice of the wide one)."""
    target = model.state_dict()
    loaded: list[str] = []
    with torch.no_grad():
        for key, dst in target.items():
            if not key.startswith(prefix) or key.startswith(skip):
                continue
            src = source.get(_clean_key(key[len(prefix):]))
            if src is None:
                continue
            src = _fit_channels(src, dst, fit)
            if src.dim() == 4 and dst.dim() == 5 and src.shape == dst.shape[:2] + dst.shape[3:]:
                t = dst.shape[2]
                src = src.unsqueeze(2).repeat(1, 1, t, 1, 1) / t  # [O, I, h, w] -> [O, I, t, h, w]
            if src.shape != dst.shape:
                continue
            dst.copy_(src)
            loaded.append(key)
    return loaded


def _fit_channels(src: Tensor, dst: Tensor, fit: str) -> Tensor:
    """``src`` with its channel counts made ``dst``'s as ``fit`` says (see ``load_state``), or unchanged."""
    if fit == "subset" and src.dim() >= 1 and all(a >= b for a, b in zip(src.shape[:2], dst.shape[:2])):
        return src[tuple(slice(0, n) for n in dst.shape[:2])]
    same_kernel = src.dim() >= 4 and src.shape[-2:] == dst.shape[-2:]  # a 2-D or 3-D conv of the same h x w
    if fit == "pad" and same_kernel and src.shape[0] == dst.shape[0] and src.shape[1] < dst.shape[1]:
        wide = src.new_zeros((src.shape[0], dst.shape[1], *src.shape[2:]))  # [O, I + lateral, ...]
        wide[:, : src.shape[1]] = src
        return wide
    return src
