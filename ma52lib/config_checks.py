"""Every config value checked together, before a run writes a file or reads a clip.

``make_config`` checks each field's type (and a few sections check their own choices); what it cannot see
is a value against the others: the crop against the short side it is cut from, the milestones against the
epochs, the training split against the one that selects the model. ``check_config`` sees them all at
once, so a run with a bad value stops in a second, not after a pretraining or an epoch. Errors name the
field (and the CLI shortcut that sets it); contradictions that may be meant are warnings with their reason.
"""

from __future__ import annotations

import math
from typing import Any

from ma52lib.config import Config

# The flags of `ma52 train` that set a field directly: an error names the one the user typed.
SHORTCUTS: dict[str, str] = {"optim.epochs": "--epochs", "optim.batch_size": "--batch-size", "optim.lr": "--lr",
                             "runtime.seed": "--seed", "data.root": "--data-root"}


class ConfigError(ValueError):
    """One or more config values that cannot make a run; the message lists each with the field that set it."""


def field_name(dotted: str) -> str:
    """``optim.lr (--lr)``: the field, and the shortcut flag where there is one."""
    flag = SHORTCUTS.get(dotted)
    return f"{dotted} ({flag})" if flag else dotted


def _at_least(errors: list[str], dotted: str, value: Any, low: float, what: str) -> None:
    if value is not None and not value >= low:  # `not >=` also catches nan
        errors.append(f"{field_name(dotted)} must be at least {low:g} ({what}), got {value}")


def _range_errors(cfg: Config) -> list[str]:
    """Values outside the range their field allows, each on its own."""
    errors: list[str] = []
    d, m, o, r = cfg.data, cfg.model, cfg.optim, cfg.runtime
    _at_least(errors, "optim.epochs", o.epochs, 1, "epochs to train")
    _at_least(errors, "optim.batch_size", o.batch_size, 1, "clips per step")
    _at_least(errors, "model.num_segments", m.num_segments, 1, "frames the model sees")
    _at_least(errors, "data.short_side", d.short_side, 1, "pixels")
    _at_least(errors, "data.crop_size", d.crop_size, 1, "pixels")
    _at_least(errors, "data.num_workers", d.num_workers, 0, "loader processes; 0: none")
    _at_least(errors, "runtime.eval_every", r.eval_every, 1, "validate every N epochs")
    _at_least(errors, "optim.weight_decay", o.weight_decay, 0, "a penalty")
    _at_least(errors, "loss.weight", cfg.loss.weight, 0, "0: plain cross-entropy")
    for dotted, value in (("optim.lr", o.lr), ("optim.gamma", o.gamma)):
        if not (math.isfinite(value) and value > 0):
            errors.append(f"{field_name(dotted)} must be a finite number above 0, got {value}")
    if not 0 <= m.dropout < 1:
        errors.append(f"model.dropout must be in [0, 1), got {m.dropout}")
    if d.on_error not in ("raise", "skip"):
        errors.append(f"data.on_error must be 'raise' or 'skip', got {d.on_error!r}")
    if any(not 0 < s <= 1 for s in d.scales):
        errors.append(f"data.scales are fractions of the short side in (0, 1], got {list(d.scales)}")
    return errors


def _contradictions(cfg: Config) -> tuple[list[str], list[str]]:
    """(errors, warnings) of values that contradict each other."""
    errors: list[str] = []
    warnings: list[str] = []
    d, o = cfg.data, cfg.optim
    if d.crop_size > d.short_side > 0:
        errors.append(f"data.crop_size={d.crop_size} is larger than data.short_side={d.short_side}, the frame it is "
                      f"cut from; set data.crop_size <= {d.short_side} or raise data.short_side")
    late = [m for m in o.milestones if m >= o.epochs]
    if o.schedule == "step" and late and o.epochs >= 1:
        warnings.append(f"optim.milestones {list(o.milestones)}: {', '.join(map(str, late))} not before the last "
                        f"epoch ({o.epochs}), so the lr never decays there; set optim.milestones below "
                        f"optim.epochs (e.g. optim.milestones={max(1, o.epochs // 2)})")
    if d.train_split in (d.val_split, d.test_split):
        which = "data.val_split (it selects the best epoch)" if d.train_split == d.val_split else \
            "data.test_split (it reports the result)"
        warnings.append(f"data.train_split={d.train_split!r} is also {which}: the model is scored on clips it "
                        "trained on, so its scores are inflated; train on another split for a real result")
    return errors, warnings


def check_config(cfg: Config) -> list[str]:
    """Raise ``ConfigError`` listing every bad value of ``cfg``; return the warnings (contradictions maybe meant)."""
    errors = _range_errors(cfg)
    more, warnings = _contradictions(cfg)
    errors += more
    if errors:
        head = "" if len(errors) == 1 else f"{len(errors)} config values cannot make a run:\n  "
        raise ConfigError(head + "\n  ".join(errors) + "; nothing was read or written (`ma52 config` lists the fields)")
    return warnings


__all__ = ["ConfigError", "SHORTCUTS", "check_config", "field_name"]
