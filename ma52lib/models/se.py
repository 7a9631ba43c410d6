"""Squeeze-and-excitation channel gate (Hu et al. 2018), applied per frame as in MANet."""

from __future__ import annotations

from torch import Tensor, nn


class SqueezeExcite(nn.Module):
    """Rescale the channels of ``x`` [B, C, H, W] by sigmoid(fc2(relu(fc1(mean_hw(x))))).

    Both linears have no bias (as in the official MANet); ``reduction`` divides C for the hidden size.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = channels // reduction
        if hidden < 1:
            raise ValueError(f"SqueezeExcite: channels={channels} is smaller than reduction={reduction}")
        self.channels = channels
        self.fc1 = nn.Linear(channels, hidden, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels, bias=False)
        self.gate = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        b, c = x.shape[:2]
        # [B, C, H, W] -> [B, C]
        squeezed = x.mean(dim=(2, 3))
        scale = self.gate(self.fc2(self.relu(self.fc1(squeezed))))
        # [B, C] -> [B, C, 1, 1]; a new tensor, so the identity path keeps the unscaled input.
        return x * scale.view(b, c, 1, 1).to(x.dtype)
