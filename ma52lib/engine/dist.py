"""torchrun DDP in a few lines: a no-op when WORLD_SIZE is unset (one process, CPU or one GPU)."""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True inside a torchrun job with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str = "auto") -> tuple[torch.device, int, int]:
    """Pick the device and join the process group if launched by torchrun; returns (device, rank, world)."""
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("runtime.device=cuda asked, but torch sees no CUDA device; use --set runtime.device=cpu")
    rank, world = 0, 1
    if is_distributed():
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        if use_cuda:
            torch.cuda.set_device(local)
            return torch.device("cuda", local), rank, world
    return torch.device("cuda" if use_cuda else "cpu"), rank, world


def cleanup() -> None:
    """Leave the process group (safe to call when none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_main() -> bool:
    """Rank 0 (or the only process): the one that writes files and prints."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def barrier() -> None:
    """Wait for every rank; no-op outside DDP."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` on every rank (a one-element list outside DDP)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (``obj`` itself outside DDP)."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_sum(value: float, device: torch.device) -> float:
    """Sum a scalar over ranks."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item())
