"""Start weights that come from a file: torchvision's ImageNet ResNets (the paper's start), the other published starts
of the paper profile (``fetch_url``: a file by URL, its name's sha256 prefix checked where it carries one; the
models name theirs, ``ModelFacts.published``) or a local state_dict.

The official MANet, TSN, TSM and TIN configs start the backbone from ``torchvision://resnet50``, and I3D
inflates it. mmcv 1.x resolves that alias to the URL of ``torchvision.models.resnet50(pretrained=True)``,
which is ``ResNet50_Weights.IMAGENET1K_V1`` (``resnet50-0676ba61.pth``, 76.13% ImageNet top-1; torchvision
releases before 0.10 served the same weights as ``resnet50-19c8e357.pth``), not the later IMAGENET1K_V2.

The file is fetched through torchvision's own weights API into torch's cache
(``$TORCH_HOME/hub/checkpoints/<file>``, by default ``~/.cache/torch/hub/checkpoints``), once; an offline
machine can be given the file there. A run names its start with the file's sha256
(``imagenet:resnet50-0676ba61.pth@sha256:<hex>``, or ``/path/file.pth@sha256:<hex>``), so two runs that
started from different weights never share a folder.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import torch
from torchvision.models import WeightsEnum, get_weight

IMAGENET = "imagenet"
DIGEST = "@sha256:"
# torchvision's original ImageNet ResNets (what ``resnet<depth>(pretrained=True)`` loaded): all at width 64.
IMAGENET_RESNETS = {depth: f"ResNet{depth}_Weights.IMAGENET1K_V1" for depth in (18, 34, 50, 101, 152)}
DOWNLOAD_TIMEOUT_S = 60.0  # per socket operation: a machine whose firewall drops packets fails in a minute, not ten
_DIGESTS: dict[tuple[str, int, int], str] = {}


class WeightsUnavailable(FileNotFoundError):
    """The start weights a run names are neither on this machine nor downloadable; the message says what to do."""


def imagenet_weights(depth: int, width: int) -> WeightsEnum:
    """torchvision's ImageNet weights for a ResNet of ``depth`` and ``width`` (a ValueError when there are none)."""
    if width != 64 or depth not in IMAGENET_RESNETS:
        raise ValueError(f"model.pretrained={IMAGENET} needs a ResNet-18/34/50/101/152 of width 64 (torchvision's "
                         f"ImageNet weights); this model's backbone is ResNet-{depth} at width {width}: use the "
                         f"paper size (model.size=paper), model.pretrained=synth or model.pretrained=none")
    return get_weight(IMAGENET_RESNETS[depth])


def file_name(weights: WeightsEnum) -> str:
    """The file torchvision stores ``weights`` under, e.g. ``resnet50-0676ba61.pth``."""
    return url_file(weights.url)


def cache_dir() -> Path:
    """Where torchvision keeps downloaded weights: ``torch.hub.get_dir()/checkpoints``, under ``$TORCH_HOME``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cache_path(weights: WeightsEnum) -> Path:
    """The file torchvision keeps ``weights`` in."""
    return url_cache_path(weights.url)


def fetch(weights: WeightsEnum, *, progress: bool = True) -> Path:
    """``weights``' file in torch's cache, downloaded once from torchvision's URL (its name's hash prefix checked, as
    torchvision checks it) if it is not there yet."""
    return fetch_url(weights.url, f"torchvision's {weights}", progress=progress)


def url_file(url: str) -> str:
    """The file name torch's cache keeps the download of ``url`` under (its last path component)."""
    return os.path.basename(urlparse(url).path)


def url_cache_path(url: str) -> Path:
    """Where torch's cache keeps the file at ``url``."""
    return cache_dir() / url_file(url)


def published_prefix(url: str) -> str | None:
    """The sha256 prefix a publisher wrote into the file name (``name-<hex>.pth``, as torchvision and OpenMMLab's
    publish_model name their files; what torch.hub checks), or None when the name carries none."""
    match = torch.hub.HASH_REGEX.search(url_file(url))
    return match.group(1) if match and match.group(1) else None


def fetch_url(url: str, what: str, *, progress: bool = True) -> Path:
    """The file at ``url`` in torch's cache, downloaded once by torch.hub (its name's sha256 prefix checked where the
    name carries one); ``what`` names it in the one-line error when it can be neither found nor downloaded."""
    path = url_cache_path(url)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        torch.hub.download_url_to_file(url, str(path), hash_prefix=published_prefix(url), progress=progress)
    except Exception as exc:  # noqa: BLE001 - no network, a proxy, a bad hash: one message says what to do
        raise WeightsUnavailable(url_unavailable_message(url, what, f"{type(exc).__name__}: {exc}")) from None
    finally:
        socket.setdefaulttimeout(previous)
    return path


def url_unavailable_message(url: str, what: str, reason: str) -> str:
    """One line: which published file is missing, where to put it, and the two alternatives."""
    name, path = url_file(url), url_cache_path(url)
    reason = " ".join(reason.split())[:200]
    return (f"model.pretrained={IMAGENET}: {what} ({name}) is not in {path.parent} and could not be downloaded "
            f"({reason}); copy {name} (from {url}) to {path}, or pass --set model.pretrained=/path/to/{name} "
            "(model.pretrained=none trains from random init)")


def sha256_of(path: Path) -> str:
    """Hex sha256 of the file at ``path``, computed once per process for each (file, size, mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def split_digest(value: str) -> tuple[str, str | None]:
    """``"name@sha256:<hex>"`` -> ``("name", "<hex>")``; a value without a digest -> ``(value, None)``."""
    name, sep, digest = value.rpartition(DIGEST)
    return (name, digest) if sep else (value, None)


def with_digest(name: str, path: Path) -> str:
    """``name`` (a start value without digest) naming the file at ``path`` by its sha256."""
    return f"{name}{DIGEST}{sha256_of(path)}"
