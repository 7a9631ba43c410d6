"""Video Swin Transformer (Liu et al., "Video Swin Transformer", CVPR 2022), Swin-T.

The network is torchvision's ``SwinTransformer3d`` (the paper size is exactly ``swin3d_t``: patch 2x4x4,
window 8x7x7, C=96, depths 2-2-6-2, heads 3-6-12-24, drop-path 0.1). Simplified for size: smaller
presets pass a narrower ``width``, fewer blocks (``depth``), fewer ``heads`` and a smaller ``window``.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import Tensor, nn
from torchvision.models.video.swin_transformer import SwinTransformer3d

from ma52lib.models.baselines.common import ClipClassifier, dense_interval, load_pretrained, resolve_size
from ma52lib.models.facts import ModelFacts

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "width": 96, "depth": (2, 2, 6, 2), "heads": (3, 6, 12, 24), "window": (8, 7, 7), "patch": (2, 4, 4),
        "drop_path": 0.1,
    },
    "cpu": {
        "width": 32, "depth": (2, 2, 6, 2), "heads": (1, 2, 4, 8), "window": (8, 7, 7), "patch": (2, 4, 4),
        "drop_path": 0.1,
    },
    "tiny": {
        "width": 16, "depth": (1, 1, 1, 1), "heads": (1, 1, 2, 2), "window": (2, 4, 4), "patch": (2, 4, 4),
        "drop_path": 0.0,
    },
}  # fmt: skip


class VideoSwin(ClipClassifier):
    """Video Swin over a dense clip; ``width``/``depth``/``heads``/``window``/``patch`` set the size."""

    facts = ModelFacts(paper_start="its mmaction2 config inflates the Swin authors' ImageNet-1K Swin-T, which "
                                   "torchvision does not provide (torchvision's swin3d_t weights are trained on "
                                   "Kinetics-400, another start)")

    def __init__(
        self,
        num_classes: int = 52,
        num_segments: int = 8,
        *,
        size: str = "paper",
        pretrained: str | None = None,
        dropout: float = 0.5,
        **overrides: Any,
    ) -> None:
        cfg = resolve_size("vswin", size, PRESETS, overrides)
        if isinstance(cfg["depth"], int) or isinstance(cfg["heads"], int):
            raise ValueError("vswin: depth and heads are per stage, e.g. depth=(2, 2, 6, 2), heads=(3, 6, 12, 24)")
        depths, heads = list(cfg["depth"]), list(cfg["heads"])
        if len(depths) != len(heads) or sum(depths) < 2:
            raise ValueError(f"vswin: depth {depths} and heads {heads} need one entry per stage and >= 2 blocks")
        for stage, h in enumerate(heads):
            if (cfg["width"] * 2**stage) % h:
                dim = cfg["width"] * 2**stage
                raise ValueError(f"vswin: stage {stage} has width {dim}, not a multiple of its {h} heads")
        net = SwinTransformer3d(
            patch_size=list(cfg["patch"]),
            embed_dim=cfg["width"],
            depths=depths,
            num_heads=heads,
            window_size=list(cfg["window"]),
            stochastic_depth_prob=cfg["drop_path"],
        )
        net.head = nn.Identity()  # the head lives in ClipClassifier
        super().__init__(
            num_classes=num_classes,
            num_frames=num_segments,
            sampling="dense",
            frame_interval=dense_interval(num_segments, 32, 2),  # the paper's 32x2 clip
            feature_dim=net.num_features,
            dropout=dropout,
            # torchvision pads the clip to whole patches and windows, so any size >= one patch fits.
            min_size=max(cfg["patch"][1:]),
        )
        self.net = net
        nn.init.trunc_normal_(self.fc_cls.weight, std=0.02)
        if pretrained:
            load_pretrained(self, pretrained, skip=("fc_cls.", "net.head."))

    def _features(self, x: Tensor) -> Tensor:
        x = self.net.patch_embed(self.to_3d(x))  # [N, T, 3, H, W] -> [N, 3, T, H, W] -> [N, t, h, w, C]
        x = self.net.norm(self.net.features(self.net.pos_drop(x)))
        return x.mean(dim=(1, 2, 3))  # [N, t, h, w, C] -> [N, C]

    @property
    def cam_target_layer(self) -> nn.Module:
        """The norm after the last block, channels-last ``[N, t, h, w, C]``."""
        return self.net.norm

    @property
    def cam_reshape(self) -> Callable[[Tensor], Tensor]:
        """``[N, t, h, w, C] -> [N, C, t, h, w]``."""
        return lambda x: x.permute(0, 4, 1, 2, 3)
