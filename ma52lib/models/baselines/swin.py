"""Video Swin Transformer (Liu et al., "Video Swin Transformer", CVPR 2022), Swin-T.

The network is torchvision's ``SwinTransformer3d`` (the paper size is exactly ``swin3d_t``: patch 2x4x4,
window 8x7x7, C=96, depths 2-2-6-2, heads 3-6-12-24, drop-path 0.1). Simplified for size: smaller
presets pass a narrower ``width``, fewer blocks (``depth``), fewer ``heads`` and a smaller ``window``.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn
from torchvision.models.video.swin_transformer import PatchMerging, ShiftedWindowAttention3d, SwinTransformer3d

from ma52lib.models.baselines.common import ClipClassifier, dense_interval, load_pretrained, resolve_size
from ma52lib.models.facts import ModelFacts, PublishedStart
from ma52lib.models.published import swin_inflated

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

    facts = ModelFacts(display_name="Video Swin", family="twin", still_start=True, freezable=True,
                       paper_start="its mmaction2 config inflates the Swin authors' ImageNet-1K Swin-T",
                       published=PublishedStart(
                           url="https://github.com/SwinTransformer/storage/releases/download/v1.0.0/"
                               "swin_tiny_patch4_window7_224.pth",
                           what="the Swin authors' ImageNet-1K Swin-T, inflated as mmaction2's Video Swin config "
                                "inflates it (patch embedding over its 2 frames, relative position bias repeated "
                                "over the window's time offsets)",
                           convert=swin_inflated))

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

    def stage_modules(self) -> list[nn.Module]:
        """The patch embedding, then the four stages, each with the patch merging before it."""
        f = self.net.features
        return [self.net.patch_embed, f[0], nn.ModuleList([f[1], f[2]]), nn.ModuleList([f[3], f[4]]),
                nn.ModuleList([f[5], f[6]])]

    # ---- the still start (ma52lib.engine.pretrain): the 2-D Swin, then inflated --------------------------
    def still_maps(self, images: Tensor) -> tuple[list[Tensor], Tensor]:
        """The network on stills ``[N, 3, H, W]``, each a clip of one patch's length (one token in time: the 2-D
        Swin, its windows one frame deep): every stage's map ``[N, C, h, w]`` and the pooled feature ``[N, C]``."""
        kt = self.net.patch_embed.proj.kernel_size[0]
        x = self.net.patch_embed(images[:, :, None].expand(-1, -1, kt, -1, -1))  # -> [N, 1, h, w, C]
        x = self.net.pos_drop(x)
        maps = []
        for layer in self.net.features:
            x = layer(x)
            if not isinstance(layer, PatchMerging):  # a stage's output, before the next merge
                maps.append(x[:, 0].permute(0, 3, 1, 2))  # [N, 1, h, w, C] -> [N, C, h, w]
        return maps, self.net.norm(x).mean(dim=(1, 2, 3))

    @torch.no_grad()
    def inflate_still(self) -> None:
        """Turn the 2-D Swin into the clip start as the Video Swin paper inflates an image Swin: each relative
        position bias table's one-frame slice (time offset 0, the only one a still trains) repeated over every
        time offset of the window. The patch embedding already spans the patch's frames (trained on copies of one)."""
        for m in self.modules():
            if isinstance(m, ShiftedWindowAttention3d):
                wt, wh, ww = m.window_size
                table = m.relative_position_bias_table.view(2 * wt - 1, (2 * wh - 1) * (2 * ww - 1), -1)
                table.copy_(table[wt - 1 : wt].expand_as(table).clone())

    @property
    def cam_target_layer(self) -> nn.Module:
        """The norm after the last block, channels-last ``[N, t, h, w, C]``."""
        return self.net.norm

    @property
    def cam_reshape(self) -> Callable[[Tensor], Tensor]:
        """``[N, t, h, w, C] -> [N, C, t, h, w]``."""
        return lambda x: x.permute(0, 4, 1, 2, 3)
