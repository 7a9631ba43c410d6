"""Every model of the benchmark, built one way: ``build_model(name, *, num_classes, num_segments, ...)``.

All models share one contract, so the engine, Grad-CAM and the emotion experiment treat them alike:

- input ``[N, T, 3, H, W]`` float clips (T = ``model.num_frames``);
- ``model(x)`` returns logits ``[N, num_classes]``; ``model(x, return_embedding=True)`` returns
  ``(logits, embedding or None)`` (only MANet-style heads have an embedding branch);
- ``model.features(x)`` returns the pooled clip feature ``[N, F]`` before the head;
- attributes ``num_frames`` (T), ``sampling`` (``"tsn"``: one frame per segment, or ``"dense"``:
  consecutive frames every ``frame_interval``), ``frame_interval``, ``has_embedding``;
- ``cam_target_layer`` (the module Grad-CAM hooks) and ``cam_reshape`` (a ``reshape_transform`` for
  pytorch-grad-cam mapping that layer's output to ``[N, C, T, h, w]``, or ``None`` when it already is).

Bring your own model: a name ``package.module:factory`` imports ``factory`` (from an installed package
or the current directory) and calls it like the built-in constructors,
``factory(num_classes=52, num_segments=8, size="cpu", dropout=0.5, ...)`` (accept ``**kwargs`` for the
options you ignore). ``check_contract`` says what a model lacks; Grad-CAM needs ``cam_target_layer``
only when it is asked for. See ``examples/temporal_cnn.py``.

What a model *is* (the ResNet its start weights load into, whether its stages freeze, where the paper starts
it, which config fields it reads) is its ``facts`` (``ma52lib.models.facts.ModelFacts``); ``model_facts(name)``
answers for any name, a factory of your own included (``factory.facts = ModelFacts(...)``); ``display_name``
and ``paper_results`` read a model's table name and published numbers from them. ``BENCHMARK_MODELS`` is the
benchmark's list, in table order.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ma52lib.models.baselines import BASELINES
from ma52lib.models.conv3d_guard import guard_conv3d
from ma52lib.models.facts import ModelFacts
from ma52lib.models.manet import MANet

# Every constructor build_model knows: MANet and the nine baselines.
_CONSTRUCTORS: dict[str, Callable[..., nn.Module]] = {"manet": MANet, **BASELINES}
# The benchmark's models in table order: the nine baselines, then MANet. A new baseline is its file (with its
# facts) and its line in BASELINES.
BENCHMARK_MODELS: tuple[str, ...] = (*BASELINES, "manet")


def available_models() -> list[str]:
    """Names accepted by ``build_model``."""
    return sorted(_CONSTRUCTORS)


def model_facts(name: str) -> ModelFacts:
    """What model ``name`` declares about itself (``ModelFacts()`` for a factory of your own that declares nothing)."""
    if ":" in name:
        facts = getattr(load_factory(name), "facts", None) or ModelFacts()
    else:
        facts = getattr(_constructor(name), "facts", None) or ModelFacts()
    if not isinstance(facts, ModelFacts):
        raise ModelContractError(f"{name}: its facts must be a ma52lib.models.facts.ModelFacts, got "
                                 f"{type(facts).__name__}")
    return facts


def display_name(label: str) -> str:
    """Table name of a run label: its model's ``facts.display_name`` (``"r2plus1d"`` -> ``"R(2+1)D"``); a label that
    names no model, or a model that declares no display name, stays as it is."""
    facts = _facts_of_label(label)
    return (facts.display_name if facts else None) or label


def paper_results(label: str) -> Mapping[str, float] | None:
    """The published MA-52 numbers of the model ``label`` names (``facts.paper_results``), or None: not public."""
    facts = _facts_of_label(label)
    return facts.paper_results if facts else None


def _facts_of_label(label: str) -> ModelFacts | None:
    """The facts of the model ``label`` names, or None when it names none (an ablation's label, a model that
    cannot be imported here)."""
    try:
        return model_facts(label)
    except ValueError:  # an unknown name; ModelContractError (a factory that cannot be imported) is one too
        return None


def _constructor(name: str) -> Callable[..., nn.Module]:
    """The built-in constructor of ``name`` (case and '-' are ignored)."""
    key = name.lower().replace("-", "_")
    if key not in _CONSTRUCTORS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(_CONSTRUCTORS))}, or bring "
                         "your own as package.module:factory")
    return _CONSTRUCTORS[key]


def build_model(name: str, *, num_classes: int = 52, num_segments: int = 8, **options: Any) -> nn.Module:
    """Build model ``name`` (a built-in name or ``package.module:factory``) for ``num_classes`` classes over
    ``num_segments`` frames/segments."""
    if ":" in name:
        factory = load_factory(name)
        model = check_contract(factory(num_classes=num_classes, num_segments=num_segments, **options), name)
        return guard_conv3d(model)
    # Every 3-D model gets the bf16 Conv3d workaround (see conv3d_guard): without it C3D and R(2+1)D
    # diverge within steps under CPU bf16 autocast.
    return guard_conv3d(_constructor(name)(num_classes=num_classes, num_segments=num_segments, **options))


class ModelContractError(ValueError):
    """A model (usually one brought by the user) that does not honour the contract above."""


def load_factory(name: str) -> Callable[..., nn.Module]:
    """The callable ``package.module:attr`` names, imported from an installed package or the current directory."""
    module_name, _, attr = name.partition(":")
    if not module_name or not attr:
        raise ModelContractError(f"a model path looks like package.module:factory, got {name!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        cwd = str(Path.cwd())
        if exc.name is None or not module_name.startswith(exc.name) or cwd in sys.path:
            raise ModelContractError(f"cannot import {module_name!r} for model {name!r}: {exc}") from None
        sys.path.append(cwd)  # as `python -m` would: a module beside the user's working directory
        return load_factory(name)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ModelContractError(f"{module_name} has no callable {attr!r} (model {name!r}); define "
                                 f"def {attr}(*, num_classes, num_segments, **options) returning an nn.Module")
    return factory


_CONTRACT = {"num_frames": int, "sampling": str, "frame_interval": int, "has_embedding": bool}


def check_contract(model: Any, name: str = "model", *, clip_size: int = 32) -> nn.Module:
    """``model`` if it honours the model contract (module docstring), else a ModelContractError saying what
    is missing; one forward on a random ``[2, T, 3, clip_size, clip_size]`` clip checks the outputs."""
    if not isinstance(model, nn.Module):
        raise ModelContractError(f"{name} returned {type(model).__name__}, not a torch.nn.Module")
    missing = [f"{attr} ({kind.__name__})" for attr, kind in _CONTRACT.items()
               if not isinstance(getattr(model, attr, None), kind)]
    if not callable(getattr(model, "features", None)):
        missing.append("features(x) -> [N, F]")
    if missing:
        raise ModelContractError(f"{name} lacks {', '.join(missing)}; see the model contract in ma52lib.models")
    if model.sampling not in ("tsn", "dense") or model.num_frames < 1 or model.frame_interval < 1:
        raise ModelContractError(f"{name}: sampling must be 'tsn' or 'dense' and num_frames, frame_interval >= 1, "
                                 f"got {model.sampling!r}, {model.num_frames}, {model.frame_interval}")
    _check_outputs(model, name, clip_size)
    return model


def _check_outputs(model: nn.Module, name: str, clip_size: int) -> None:
    was_training = model.training
    model.eval()
    clip = torch.randn(2, model.num_frames, 3, clip_size, clip_size)  # [N, T, 3, H, W]
    try:
        with torch.no_grad():
            logits = model(clip)
            pair = model(clip, return_embedding=True)
    except Exception as exc:  # anything the user's forward raises, named with the call that failed
        raise ModelContractError(f"{name} failed on a clip [2, {model.num_frames}, 3, {clip_size}, {clip_size}]: "
                                 f"{type(exc).__name__}: {exc}") from None
    finally:
        model.train(was_training)
    if not (isinstance(pair, tuple) and len(pair) == 2):
        raise ModelContractError(f"{name}: forward(x, return_embedding=True) must return (logits, embedding or None)")
    if not isinstance(logits, torch.Tensor) or logits.shape[0] != 2 or logits.dim() != 2:
        raise ModelContractError(f"{name}: forward(x) must return logits [N, num_classes], got "
                                 f"{getattr(logits, 'shape', type(logits).__name__)}")
