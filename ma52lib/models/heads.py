"""The MANet head (classifier + label-embedding branch), shared by MANet and the 2-D baselines.

Per-frame features go through dropout and both branches, then each output is averaged over the
frames ("average consensus"), exactly as the official ``MANetHead``. Module order matters for the
paper's parameter groups: the last ``nn.Linear`` of the model is ``fc_emb_t`` when the embedding
branch exists (the official quirk that gives it 5x/10x learning rate), else ``fc_cls``.
"""

from __future__ import annotations

from torch import Tensor, nn

EMBEDDING_HIDDEN = 300  # width of the embedding branch's first layer in the official head


class ClsEmbHead(nn.Module):
    """Dropout -> ``fc_cls`` (logits) and optionally ``fc_emb`` -> tanh -> ``fc_emb_t`` (embedding).

    ``emb_dim=None`` builds no embedding branch. Weights are N(0, ``init_std``), biases 0.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        emb_dim: int | None = 300,
        dropout: float = 0.5,
        init_std: float = 0.001,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.num_classes = num_classes
        self.emb_dim = emb_dim
        self.dropout = nn.Dropout(p=dropout) if dropout > 0 else nn.Identity()
        self.fc_cls = nn.Linear(in_features, num_classes)
        if emb_dim is not None:
            self.fc_emb = nn.Linear(in_features, EMBEDDING_HIDDEN)
            self.tanh = nn.Tanh()
            self.fc_emb_t = nn.Linear(EMBEDDING_HIDDEN, emb_dim)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=init_std)
                nn.init.zeros_(module.bias)

    @property
    def has_embedding(self) -> bool:
        """Whether the head predicts a label embedding."""
        return self.emb_dim is not None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Map per-frame features [N, T, F] to (logits [N, K], embedding [N, D] or None)."""
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"ClsEmbHead expects per-frame features [N, T, {self.in_features}], got {tuple(x.shape)}"
                " (use T = 1 for clip-level features)"
            )
        x = self.dropout(x)
        # Linear layers act on the last dim, so [N, T, F] stays framewise; mean(1) is the consensus.
        logits = self.fc_cls(x).mean(dim=1)
        if self.emb_dim is None:
            return logits, None
        embedding = self.fc_emb_t(self.tanh(self.fc_emb(x))).mean(dim=1)
        return logits, embedding


class FramesToClip:
    """Grad-CAM ``reshape_transform`` for 2-D video backbones: [N*T, C, h, w] -> [N, C, T, h, w].

    A plain top-level class (picklable), parameterised by the number of frames per clip.
    """

    def __init__(self, num_segments: int) -> None:
        self.num_segments = num_segments

    def __call__(self, x: Tensor) -> Tensor:
        nt, c, h, w = x.shape
        if nt % self.num_segments:
            raise ValueError(f"FramesToClip: {nt} frames is not a multiple of num_segments={self.num_segments}")
        # [N*T, C, h, w] -> [N, T, C, h, w] -> [N, C, T, h, w]
        return x.reshape(nt // self.num_segments, self.num_segments, c, h, w).permute(0, 2, 1, 3, 4)

    def __repr__(self) -> str:
        return f"FramesToClip(num_segments={self.num_segments})"
