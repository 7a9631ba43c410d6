"""TimeSformer (Bertasius et al., "Is Space-Time Attention All You Need for Video Understanding?", ICML 2021).

Follows the official divided space-time attention: per block, temporal attention (+ ``temporal_fc``) over
the same patch across frames, then spatial attention within each frame with the class token, then the
MLP; ViT-B/16 at the paper size with module names of the official code (so a ViT state dict loads).
Simplified for size: ``width``/``depth``/``heads``/``patch`` set a smaller ViT; no drop-path.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ma52lib.models.baselines.common import ClipClassifier, dense_interval, load_pretrained, resolve_size
from ma52lib.models.facts import ModelFacts, PublishedStart
from ma52lib.models.published import vit_for_timesformer

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"width": 768, "depth": 12, "heads": 12, "patch": 16, "img_size": 224},
    "cpu": {"width": 64, "depth": 4, "heads": 2, "patch": 8, "img_size": 56},
    "tiny": {"width": 32, "depth": 2, "heads": 2, "patch": 8, "img_size": 32},
}


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection (timm/ViT layout)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"timesformer: width {dim} must be a multiple of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        # [B, n, 3C] -> [3, B, heads, n, C/heads]
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))  # [B, heads, n, C/h] -> [B, n, C]


class Mlp(nn.Module):
    """ViT MLP: Linear - GELU - Linear (ratio 4)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DividedBlock(nn.Module):
    """Divided space-time block: temporal attention, then spatial attention, then MLP."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.temporal_norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.temporal_attn = Attention(dim, heads)
        self.temporal_fc = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim)

    def forward(self, x: Tensor, t: int) -> Tensor:
        b, n, c = x.shape
        hw = (n - 1) // t
        cls, patches = x[:, :1], x[:, 1:]
        if t > 1:  # a still (t = 1) is the image ViT's block: its start trains only the spatial parts
            # Time: each patch position attends over the t frames. [B, t*hw, C] -> [B*hw, t, C]
            xt = patches.reshape(b, t, hw, c).transpose(1, 2).reshape(b * hw, t, c)
            xt = self.temporal_fc(self.temporal_attn(self.temporal_norm1(xt)))
            patches = patches + xt.reshape(b, hw, t, c).transpose(1, 2).reshape(b, t * hw, c)
        # Space: each frame attends over its patches plus a copy of the class token. -> [B*t, 1+hw, C]
        xs = torch.cat([cls.repeat_interleave(t, dim=0), patches.reshape(b * t, hw, c)], dim=1)
        xs = self.attn(self.norm1(xs))
        cls = cls + xs[:, :1].reshape(b, t, c).mean(dim=1, keepdim=True)  # the frames' class tokens averaged
        patches = patches + xs[:, 1:].reshape(b, t * hw, c)
        x = torch.cat([cls, patches], dim=1)
        return x + self.mlp(self.norm2(x))


class TimeSformer(ClipClassifier):
    """TimeSformer with divided space-time attention; ``width``/``depth``/``heads``/``patch`` set the size."""

    facts = ModelFacts(display_name="TimeSformer", family="vit", still_start=True, freezable=True,
                       paper_start="its mmaction2 config starts from an ImageNet-21k ViT-B/16",
                       published=PublishedStart(
                           url="https://download.openmmlab.com/mmaction/recognition/timesformer/"
                               "vit_base_patch16_224.pth",
                           what="the ImageNet-21k ViT-B/16 of mmaction2's TimeSformer config (temporal attention "
                                "copied from the spatial, temporal_fc and the time embedding at zero)",
                           convert=vit_for_timesformer))

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
        cfg = resolve_size("timesformer", size, PRESETS, overrides)
        dim, patch, img = cfg["width"], cfg["patch"], cfg["img_size"]
        if img % patch:
            raise ValueError(f"timesformer: img_size {img} must be a multiple of patch {patch}")
        super().__init__(
            num_classes=num_classes,
            num_frames=num_segments,
            sampling="dense",
            # The paper's 8x32 clip spans 256 frames, more than a whole MA-52 clip: capped (common.py).
            frame_interval=dense_interval(num_segments, 8, 32),
            feature_dim=dim,
            dropout=dropout,
            min_size=patch,
            size_multiple=patch,
        )
        self.patch = patch
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, patch, stride=patch)
        grid = img // patch
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim))
        self.time_embed = nn.Parameter(torch.zeros(1, num_segments, dim))
        self.blocks = nn.ModuleList(DividedBlock(dim, cfg["heads"]) for _ in range(cfg["depth"]))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self._grid: tuple[int, int, int] = (num_segments, grid, grid)  # last input's token grid, for cam_reshape
        for p in (self.cls_token, self.pos_embed, self.time_embed):
            nn.init.trunc_normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear) and m is not self.fc_cls:
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        for block in list(self.blocks)[1:]:
            # As the official code: temporal branches after the first start at zero (ViT blocks at init).
            nn.init.zeros_(block.temporal_fc.weight)
        if pretrained:
            loaded = load_pretrained(self, pretrained)
            if not any(".temporal_" in key for key in loaded):
                # An image ViT: start each temporal attention from its block's spatial one (official code).
                for block in self.blocks:
                    block.temporal_attn.load_state_dict(block.attn.state_dict())
                    block.temporal_norm1.load_state_dict(block.norm1.state_dict())

    def _pos_embed(self, h: int, w: int) -> Tensor:
        cls_pos, pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        g = int(round(pos.shape[1] ** 0.5))
        if (h, w) != (g, g):  # another input size: resample the position grid, as ViT fine-tuning does
            pos = pos.reshape(1, g, g, -1).permute(0, 3, 1, 2)  # [1, g*g, C] -> [1, C, g, g]
            pos = F.interpolate(pos, size=(h, w), mode="bicubic", align_corners=False)
            pos = pos.flatten(2).transpose(1, 2)  # [1, C, h, w] -> [1, h*w, C]
        return torch.cat([cls_pos, pos], dim=1)

    def _features(self, x: Tensor) -> Tensor:
        n, t = x.shape[:2]
        x = self.patch_embed.proj(x.flatten(0, 1))  # [N*T, 3, H, W] -> [N*T, C, h, w]
        h, w = x.shape[-2:]
        self._grid = (t, h, w)
        x = x.flatten(2).transpose(1, 2)  # [N*T, C, h, w] -> [N*T, h*w, C]
        x = torch.cat([self.cls_token.expand(n * t, -1, -1), x], dim=1) + self._pos_embed(h, w)
        cls = x[:n * t : t, :1]  # one class token per clip (all copies are equal)
        time = self.time_embed
        if t != time.shape[1]:
            time = F.interpolate(time.transpose(1, 2), size=t, mode="linear").transpose(1, 2)  # [1, t, C]
        patches = x[:, 1:].reshape(n, t, h * w, -1) + time[:, :, None]  # [N*T, hw, C] -> [N, T, hw, C]
        x = torch.cat([cls, patches.reshape(n, t * h * w, -1)], dim=1)  # [N, 1 + T*hw, C]
        for block in self.blocks:
            x = block(x, t)
        return self.norm(x)[:, 0]

    def stage_modules(self) -> list[nn.Module]:
        """The patch embedding, then the blocks in four equal groups (what ``model.frozen_stages`` counts)."""
        blocks = list(self.blocks)
        per = -(-len(blocks) // 4)
        return [self.patch_embed] + [nn.ModuleList(blocks[i * per:(i + 1) * per]) for i in range(4)]

    # ---- the still start (ma52lib.engine.pretrain): the image ViT, then its temporal parts added --------
    def still_maps(self, images: Tensor) -> tuple[list[Tensor], Tensor]:
        """The image ViT on stills ``[N, 3, H, W]`` (one frame, no temporal branch): every block's patch tokens
        as a map ``[N, C, h, w]`` and the class token ``[N, C]``."""
        x = self.patch_embed.proj(images)  # [N, 3, H, W] -> [N, C, h, w]
        n, c, h, w = x.shape
        x = torch.cat([self.cls_token.expand(n, -1, -1), x.flatten(2).transpose(1, 2)], dim=1) + self._pos_embed(h, w)
        maps = []
        for block in self.blocks:
            x = block(x, 1)
            maps.append(x[:, 1:].transpose(1, 2).reshape(n, c, h, w))  # [N, hw, C] -> [N, C, h, w]
        return maps, self.norm(x)[:, 0]

    @torch.no_grad()
    def inflate_still(self) -> None:
        """Turn the image ViT into the clip start as the TimeSformer code does: each temporal attention and its norm
        copy the block's spatial ones, ``temporal_fc`` and the time embedding start at zero, so the network begins
        as the image ViT on each frame."""
        for block in self.blocks:
            block.temporal_attn.load_state_dict(block.attn.state_dict())
            block.temporal_norm1.load_state_dict(block.norm1.state_dict())
            nn.init.zeros_(block.temporal_fc.weight)
            nn.init.zeros_(block.temporal_fc.bias)
        nn.init.zeros_(self.time_embed)

    @property
    def cam_target_layer(self) -> nn.Module:
        """The last block's spatial-attention norm, ``[N*T, 1 + h*w, C]`` (the class token reads it)."""
        return self.blocks[-1].norm1

    @property
    def cam_reshape(self) -> Callable[[Tensor], Tensor]:
        """``[N*T, 1 + h*w, C] -> [N, C, T, h, w]`` (drops the per-frame class tokens)."""
        t, h, w = self._grid

        def reshape(tokens: Tensor) -> Tensor:
            c = tokens.shape[-1]
            x = tokens[:, 1:].reshape(-1, t, h, w, c)  # [N*T, hw, C] -> [N, T, h, w, C]
            return x.permute(0, 4, 1, 2, 3)

        return reshape
