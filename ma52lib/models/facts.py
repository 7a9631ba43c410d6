"""What a model is, said by the model: its name in the tables, its published numbers on MA-52, its family, the
2-D ResNet its start weights load into, whether its stages can be frozen, where the paper starts it, and which
model-config fields its constructor reads.

Every built-in model class carries ``facts = ModelFacts(...)``; a model brought as ``package.module:factory``
may carry them on its factory (``factory.facts = ModelFacts(...)``, see ``examples/temporal_cnn.py``). The
engine asks ``ma52lib.models.model_facts(name)`` and keeps no list of model names of its own (as timm keeps a
model's pretrained source and input size with the model). A model without facts gets ``ModelFacts()``: random
initialisation, every layer trained, only the common options.

The layout its convolutions run fastest in is the model's own attribute ``memory_format`` (read by
``engine.build.memory_format_of``; without one, channels_last for 2-D and channels_last_3d for 3-D layers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torch import Tensor, nn

# The model-config fields every constructor receives (as ``dropout``, ``size``, ``depth``, ``width``,
# ``pretrained``); ``ModelFacts.options`` names the ones a model reads beyond these.
OWN_OPTIONS = ("se", "tsm", "shift_div", "embedding")

# The model families, by how a model starts; a profile's recipe (``config.FAMILY_RECIPES``) names the families
# it applies to, so a model of your own that declares its family gets that family's recipe.
FAMILIES: dict[str, str] = {
    "segments": "2-D networks over TSN segments, started from a 2-D ResNet",
    "inflated": "3-D ResNets inflated from a 2-D ResNet start",
    "twin": "models a 2-D ResNet cannot start: pretrained on stills as their own 2-D twin, then inflated",
    "vit": "a video ViT, pretrained on stills as its own 2-D twin",
}


@dataclass(frozen=True)
class PublishedStart:
    """A start the paper profile fetches by URL (``model.pretrained="imagenet"``, the paper's start of every model):
    a published file in its publisher's layout, and the converter that renames it to ours. It fits the paper size."""

    url: str  # the file; torch's cache keeps it under the URL's last path component
    what: str  # the weights in words, with the config or code that starts the model from them
    # (state dict in the file's names, our model) -> ({our key: (the file's key, tensor)}, the file's keys known and
    # left out: its publisher's classifier); ma52lib.models.published
    convert: Callable[[dict[str, Tensor], nn.Module], tuple[dict[str, tuple[str, Tensor]], list[str]]]
    # Our key prefixes the paper initialises fresh (never taken from the file): the classifier, new parts.
    fresh: tuple[str, ...] = ("fc_cls.",)


@dataclass(frozen=True)
class ModelFacts:
    """What the engine needs to know about a model before it builds one."""

    # Its name in the book's tables ("R(2+1)D"); None: the model's own name.
    display_name: str | None = None
    # Its published numbers on MA-52 (percent, the keys of ``metrics.compute_metrics``); None: not public.
    paper_results: Mapping[str, float] | None = None
    # Its family (a key of FAMILIES), or None: the profile's recipe without a family's fields.
    family: str | None = None
    # (depth, width) of the 2-D ResNet the model's backbone is or inflates, per size preset: the shape of
    # the start weights ("imagenet", "synth") it loads. None: the paper does not start it from an ImageNet
    # ResNet, so those values leave it at random initialisation.
    resnet: Mapping[str, tuple[int, int]] | None = None
    # Whether the paper's config starts it from ImageNet weights (``model.pretrained="imagenet"`` gives it
    # torchvision's ResNet); False for a model that only the synthetic start ("synth") begins from a 2-D ResNet.
    paper_imagenet: bool = True
    # ``model.frozen_stages`` applies: its backbone is a torchvision 2-D ResNet or an inflated one (stem, layer1..4),
    # or the model lists its stem and stages itself (``stage_modules()``).
    freezable: bool = False
    # Its start ("synth") is the model itself pretrained on stills as its own 2-D twin and then inflated
    # (``still_maps`` and ``inflate_still`` on the model; ma52lib.engine.pretrain): the analogue of a start that a
    # 2-D ResNet cannot stand in for (a C3D, a ViT, a Swin).
    still_start: bool = False
    # Where the paper's (mmaction2) config starts it, in words: the log's reason for a random start.
    paper_start: str = "a model of your own"
    # The published file the paper profile starts it from, when that is not torchvision's ImageNet ResNet (``resnet``).
    published: PublishedStart | None = None
    # How the paper profile's start departs from the field's config of the model, or "" (said wherever the start is).
    departure: str = ""
    # Model-config fields beyond the common ones that its constructor reads (a subset of OWN_OPTIONS);
    # "embedding" also passes ``emb_dim``, the label-embedding size of the joint loss.
    options: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.family is not None and self.family not in FAMILIES:
            raise ValueError(f"ModelFacts.family: unknown family {self.family!r}; choose from {', '.join(FAMILIES)}")
        unknown = sorted(set(self.options) - set(OWN_OPTIONS))
        if unknown:
            raise ValueError(f"ModelFacts.options: unknown field(s) {unknown}; choose from {', '.join(OWN_OPTIONS)}")
        if self.freezable and self.resnet is None and not self.still_start:
            raise ValueError("ModelFacts: a freezable model has a pretrained start to keep (resnet or still_start)")
        if self.published is not None and self.resnet is not None and self.paper_imagenet:
            raise ValueError("ModelFacts: the paper starts a model from an ImageNet ResNet or a published file, "
                             "not both")
        if self.still_start and self.resnet is not None:
            raise ValueError("ModelFacts: a model starts from a 2-D ResNet (resnet) or stills (still_start), not both")

    def resnet_shape(self, size: str, depth: int | None = None, width: int | None = None) -> tuple[int, int] | None:
        """(depth, width) of the start weights' ResNet at ``size`` (explicit ``depth``/``width`` win), or None."""
        if self.resnet is None:
            return None
        if size not in self.resnet:
            raise ValueError(f"unknown size {size!r}; choose one of {', '.join(self.resnet)}")
        preset_depth, preset_width = self.resnet[size]
        return depth or preset_depth, width or preset_width


IMAGENET_RESNET50 = "the paper starts it from torchvision's ImageNet ResNet-50"
