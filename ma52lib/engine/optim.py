"""SGD parameter groups as the official MANet recipe builds them (mmaction2's TSM optimizer constructor).

Rules of that constructor, reproduced because they change results: the first conv trains at 1x lr with
decay; other conv/Linear weights 1x with decay; all biases 2x without decay; BatchNorm parameters 1x
without decay; the LAST nn.Linear in module order gets 5x lr on its weight and 10x on its bias. In the
official MANet head that last Linear is the embedding branch's second layer, not the classifier: a quirk
we keep in the ``paper`` recipe on purpose. Parameters the constructor does not know (LayerNorm,
positional embeddings, learned offsets of baselines) go to a generic group: decay on matrices only.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from ma52lib.config import OptimConfig


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """Parameter groups for ``torch.optim.SGD`` (lr/weight_decay set per group)."""
    lr, wd = cfg.lr, cfg.weight_decay
    if not cfg.paper_groups:
        return _plain_groups(model, cfg)

    first_w, first_b, weights, biases, norms = [], [], [], [], []
    linears: list[nn.Linear] = []
    seen_conv = False
    for module in model.modules():
        if isinstance(module, _ConvNd):
            target_w, target_b = (weights, biases) if seen_conv else (first_w, first_b)
            seen_conv = True
            target_w.append(module.weight)
            if module.bias is not None:
                target_b.append(module.bias)
        elif isinstance(module, nn.Linear):
            linears.append(module)
        elif isinstance(module, (_BatchNorm, nn.GroupNorm, nn.LayerNorm)):
            norms.extend(p for p in module.parameters(recurse=False))

    lr5_w, lr10_b = [], []
    for i, lin in enumerate(linears):
        last = i == len(linears) - 1
        (lr5_w if last else weights).append(lin.weight)
        if lin.bias is not None:
            (lr10_b if last else biases).append(lin.bias)

    assigned = {id(p) for group in (first_w, first_b, weights, biases, norms, lr5_w, lr10_b) for p in group}
    other = [p for p in model.parameters() if id(p) not in assigned]
    groups = [
        {"params": first_w, "lr": lr, "weight_decay": wd, "name": "first_conv_weight"},
        {"params": first_b, "lr": 2 * lr, "weight_decay": 0.0, "name": "first_conv_bias"},
        {"params": weights, "lr": lr, "weight_decay": wd, "name": "normal_weight"},
        {"params": biases, "lr": 2 * lr, "weight_decay": 0.0, "name": "normal_bias"},
        {"params": norms, "lr": lr, "weight_decay": 0.0, "name": "norm"},
        {"params": lr5_w, "lr": 5 * lr, "weight_decay": wd, "name": "last_linear_weight_5x"},
        {"params": lr10_b, "lr": 10 * lr, "weight_decay": 0.0, "name": "last_linear_bias_10x"},
        {"params": [p for p in other if p.ndim > 1], "lr": lr, "weight_decay": wd, "name": "other_decay"},
        {"params": [p for p in other if p.ndim <= 1], "lr": lr, "weight_decay": 0.0, "name": "other_no_decay"},
    ]
    groups = [g for g in groups if g["params"]]
    groups = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in groups]
    return [g for g in groups if g["params"]]


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The classifier's parameters: a baseline's ``fc_cls``, MANet's ``head`` (none for a model without either)."""
    return [p for name in ("fc_cls", "head") if isinstance(getattr(model, name, None), nn.Module)
            for p in getattr(model, name).parameters()]


def _plain_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """Weight decay on matrices only; the classifier at ``head_lr_mult`` x lr in groups of its own when that is set."""
    head = {id(p) for p in head_parameters(model)} if cfg.head_lr_mult != 1.0 else set()
    groups = []
    for prefix, mult, in_head in (("", 1.0, False), ("head_", cfg.head_lr_mult, True)):
        params = [p for p in model.parameters() if p.requires_grad and (id(p) in head) == in_head]
        groups += [{"params": [p for p in params if p.ndim > 1], "lr": cfg.lr * mult,
                    "weight_decay": cfg.weight_decay, "name": f"{prefix}decay"},
                   {"params": [p for p in params if p.ndim <= 1], "lr": cfg.lr * mult, "weight_decay": 0.0,
                    "name": f"{prefix}no_decay"}]
    return [g for g in groups if g["params"] or not g["name"].startswith("head_")]


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning-rate schedule, stepped after every optimiser step.

    ``step``: x ``gamma`` from each milestone epoch on (as MultiStepLR stepped per epoch, the paper's);
    ``cosine``: half a cosine from lr to zero over the epochs (per step). Both after ``warmup_epochs``
    of linear warm-up.
    """
    warmup = cfg.warmup_epochs * steps_per_epoch
    total = cfg.epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))
        epoch = step // steps_per_epoch
        return cfg.gamma ** sum(epoch >= m for m in cfg.milestones)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
