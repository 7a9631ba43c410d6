"""MANet's joint-embedding loss: cross-entropy plus a regression of the predicted label embedding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class JointEmbeddingLoss(nn.Module):
    """``CE(logits, y) + weight * MSE(embedding, table[y])``, the MSE averaged over batch x D.

    ``embeddings`` is the fixed [num_classes, D] label table (a buffer: it follows ``.to(device)``).
    With ``embedding=None`` (a model without the branch) or ``weight == 0`` the loss is CE only.
    """

    def __init__(self, embeddings: Tensor, weight: float = 50.0) -> None:
        super().__init__()
        if embeddings.dim() != 2:
            raise ValueError(f"label embeddings must be [num_classes, D], got shape {tuple(embeddings.shape)}")
        self.weight = float(weight)
        # Not persistent: the table is configuration (a file or a name), not learned state.
        self.register_buffer("table", embeddings.detach().float().clone(), persistent=False)

    def forward(
        self, logits: Tensor, labels: Tensor, embedding: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Return (total loss, {"ce": ..., "mse": ...}); the parts are detached for logging."""
        num_classes, dim = self.table.shape
        if logits.shape[-1] != num_classes:
            raise ValueError(f"logits have {logits.shape[-1]} classes but the label-embedding table has "
                             f"{num_classes} rows; use a table with one row per class")
        ce = F.cross_entropy(logits.float(), labels)
        if embedding is None or self.weight == 0:
            return ce, {"ce": ce.detach(), "mse": torch.zeros((), device=ce.device)}
        if embedding.shape != (labels.shape[0], dim):
            raise ValueError(f"predicted embedding has shape {tuple(embedding.shape)} but the label table has "
                             f"D={dim} for a batch of {labels.shape[0]}; build the model with emb_dim={dim} "
                             "(emb_dim must equal the table's second dimension)")
        mse = F.mse_loss(embedding.float(), self.table[labels])
        loss = ce + self.weight * mse
        return loss, {"ce": ce.detach(), "mse": mse.detach()}

    def extra_repr(self) -> str:
        return f"table={tuple(self.table.shape)}, weight={self.weight}"
