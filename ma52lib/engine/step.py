"""What a run trains and its one training step: training, ``ma52 bench``, the GPU check and the precision probe
all build with ``build_trainee`` and step with ``train_step``, so every timing measures the runs' own program.

``build_trainee(cfg, device)`` is the model ``cfg`` describes with its frozen stages fixed, in its fastest
memory layout (``runtime.channels_last``), on ``device``, with the loss (the joint-embedding loss where the
model has an embedding branch and ``loss.weight > 0``, else cross-entropy) and the optimiser (the official
parameter groups). ``train_step`` is one forward (under bf16 autocast when asked), the loss, a check that it
is finite, backward, gradient clipping, the optimiser step and, when the trainee has one, the schedule's step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import torch
from torch import nn

from ma52lib.config import Config
from ma52lib.engine.build import build_model_to_train, embedding_table, memory_format_of, without_weights
from ma52lib.engine.evaluate import autocast
from ma52lib.engine.optim import param_groups
from ma52lib.engine.pretrain import resolve_pretrained
from ma52lib.losses import JointEmbeddingLoss

TIMING_LR = 1e-6  # random clips at the run's lr could drive weights to overflow (NaNs, denormals: other timings)


class NonFiniteLoss(ArithmeticError):
    """The loss of a step was NaN or infinite; nothing was updated (``value`` is the loss)."""

    def __init__(self, value: float) -> None:
        super().__init__(f"loss became {value}")
        self.value = value


@dataclass
class Trainee:
    """Everything one training step touches."""

    model: nn.Module
    net: nn.Module  # what the step calls: the model, or its DDP wrapper, or a compiled model
    loss_fn: nn.Module | None  # None: plain cross-entropy
    optimizer: torch.optim.Optimizer
    device: torch.device
    clip_grad: float | None
    n_frozen: int  # parameters the frozen stages hold fixed
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None  # stepped after every optimiser step


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """SGD with the official parameter groups, or AdamW with the same groups (the cpu profile's)."""
    groups = param_groups(model, cfg.optim)
    if cfg.optim.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.optim.lr, momentum=cfg.optim.momentum)
    if cfg.optim.name == "adamw":
        # The fused kernel (CPU and CUDA): one pass over all parameters instead of a chain of foreach ops (a third
        # less optimiser time on a cpu-profile step; the step's profile in the performance chapter).
        return torch.optim.AdamW(groups, lr=cfg.optim.lr, fused=True)
    raise ValueError(f"optim.name must be 'sgd' or 'adamw', got {cfg.optim.name!r}")


def build_trainee(cfg: Config, device: torch.device | str = "cpu") -> Trainee:
    """The model (frozen stages fixed, in its layout, on ``device``), loss and optimiser a run of ``cfg`` trains.

    Built in the order training always built them (model, loss, optimiser): the same seed gives the same weights.
    """
    device = torch.device(device)
    table = embedding_table(cfg)  # the loss's; its width sizes the model's embedding branch
    model, n_frozen = build_model_to_train(cfg, None if table is None else int(table.shape[1]))
    if cfg.runtime.channels_last:
        model = model.to(memory_format=memory_format_of(model))
    model.to(device)
    loss_fn = None
    if table is not None and model.has_embedding:
        loss_fn = JointEmbeddingLoss(table, weight=cfg.loss.weight).to(device)
    optimizer = build_optimizer(model, cfg)
    return Trainee(model, model, loss_fn, optimizer, device, cfg.optim.clip_grad, n_frozen)


def for_timing(cfg: Config) -> Config:
    """``cfg`` for timing its step on random clips: frozen stages as its runs have them (its start resolved), but
    random init (no start weights needed) and a tiny learning rate."""
    cfg = without_weights(resolve_pretrained(cfg))
    return replace(cfg, optim=replace(cfg.optim, lr=TIMING_LR))


def compute_loss(loss_fn: nn.Module | None, logits: torch.Tensor, labels: torch.Tensor,
                 emb: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss (in fp32 whatever the autocast) and its named parts as floats."""
    if loss_fn is None:
        loss = nn.functional.cross_entropy(logits.float(), labels)
        return loss, {"ce": float(loss.detach())}
    loss, parts = loss_fn(logits.float(), labels, None if emb is None else emb.float())
    return loss, {k: float(v) for k, v in parts.items()}


def train_step(t: Trainee, clips: torch.Tensor, labels: torch.Tensor, *, bf16: bool,
               clock: Callable[[str], None] | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """One optimiser step on a batch already on the device; returns the loss and its parts.

    A NaN or infinite loss raises ``NonFiniteLoss`` before anything is updated. ``clock(phase)``, when given, is
    called as each phase ends ("forward", "backward", "optimiser"): the profile of the loop times the runs' step.
    """
    tick = clock or (lambda _phase: None)
    with autocast(t.device, bf16):
        logits, emb = t.net(clips, return_embedding=True)
    loss, parts = compute_loss(t.loss_fn, logits, labels, emb)
    if not torch.isfinite(loss):
        raise NonFiniteLoss(float(loss.detach()))
    tick("forward")
    t.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    tick("backward")
    if t.clip_grad:
        nn.utils.clip_grad_norm_(t.net.parameters(), t.clip_grad)
    t.optimizer.step()
    if t.scheduler is not None:
        t.scheduler.step()
    tick("optimiser")
    return loss, parts
