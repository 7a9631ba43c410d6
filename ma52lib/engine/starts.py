"""Starting weights built once and shipped with the repository, in ``ma52lib/starts/``.

A pretraining run (``ma52 pretrain``) takes minutes of CPU and gives the same weights to every build of the same
config, so the one the cpu book uses is made once and shipped: ``<run>.pt`` holds its backbone in float16 (half
the bytes; the loaders read it back as float32) and ``<run>.json`` its provenance: the command that made it, the
run's identity (everything that shapes it, hashed into the run's name), the data seed, the minutes, the machine,
the file's sha256 and its final scores. A build that needs the run finds it here by that name and trains
nothing; ``ma52 pretrain --ship`` makes one; ``ma52 pretrain --check`` verifies every shipped file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from ma52lib.engine.weights import sha256_of
from ma52lib.files import atomic_write_text
from ma52lib.machine import bf16_support, cpu_info

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "starts"
REBUILT = ("relative_position_index",)  # buffers a model builds itself, left out of a shipped start


def shipped_path(run: str) -> Path:
    """Where the shipped weights of pretraining run ``run`` (a folder name) are, or would be."""
    return SHIPPED_DIR / f"{run}.pt"


def shipped_file(run: str) -> Path | None:
    """The shipped weights of pretraining run ``run``, or None when none is shipped."""
    path = shipped_path(run)
    return path if path.is_file() else None


def provenance_of(weights: Path) -> dict[str, Any]:
    """The provenance record shipped beside ``weights``."""
    return json.loads(weights.with_suffix(".json").read_text())


def shipped_starts() -> list[Path]:
    """Every shipped weights file."""
    return sorted(SHIPPED_DIR.glob("*.pt"))


def ship(run_dir: Path, *, command: str) -> Path:
    """Copy the finished pretraining run ``run_dir`` into the shipped starts as float16 with its provenance."""
    results = json.loads((run_dir / "results.json").read_text())
    state = torch.load(run_dir / "backbone.pt", map_location="cpu", weights_only=True)
    # Swin's relative position indices are int64 tables the model rebuilds: most of the bytes, none of the weights.
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items() if not k.endswith(REBUILT)}
    out = shipped_path(run_dir.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    torch.save(half, partial)
    partial.replace(out)
    record = {
        "run": run_dir.name,
        "what": _what(results["identity"]),
        "command": command,
        "identity": results["identity"],
        "data_seed": results["identity"]["pretrain"]["seed"],
        "frames": results["frames"],
        "minutes": round((results["render_seconds"] + results["train_seconds"]) / 60, 1),
        "machine": machine(),
        "made": time.strftime("%Y-%m-%d"),
        "final": results["final"],
        "dtype": "float16",
        "bytes": out.stat().st_size,
        "sha256": sha256_of(out),
    }
    atomic_write_text(out.with_suffix(".json"), json.dumps(record, indent=1) + "\n")
    return out


def record_probe(weights: Path, result: dict[str, Any], *, command: str) -> None:
    """Add a start's linear probe (``engine.probe.linear_probe``) to its provenance record; the weights and their
    recorded sha256 are unchanged."""
    record = provenance_of(weights)
    record["probe"] = {"command": command, "val_action_top1_frames_in_order": round(result["val_top1_ordered"], 1),
                       "val_action_top1_frames_averaged": round(result["val_top1_averaged"], 1),
                       "val_majority_class": round(result["val_majority"], 1), "train_clips": result["train_clips"],
                       "val_clips": result["val_clips"]}
    atomic_write_text(weights.with_suffix(".json"), json.dumps(record, indent=1) + "\n")


def _what(ident: dict[str, Any]) -> str:
    """What a shipped start is, in words, from its run's identity."""
    task = ("pretrained on rendered stills of participants who are not in MA-52-Synth (body-part segmentation and 23 "
            "joint positions; no action label)")
    if "model" in ident:
        return (f"the start of {ident['model']} ({ident['size']} size): the model itself as its own 2-D twin, {task}, "
                "then inflated to clips")
    return f"the ImageNet analogue: a 2-D ResNet {task}"


def check_shipped() -> list[str]:
    """Problems with the shipped starts (empty when each file has its recorded sha256 and loads into its network)."""
    problems = []
    for weights in shipped_starts():
        if not weights.with_suffix(".json").is_file():
            problems.append(f"{weights.name}: no provenance file {weights.with_suffix('.json').name} beside it")
            continue
        record = provenance_of(weights)
        digest = sha256_of(weights)
        if digest != record["sha256"]:
            problems.append(f"{weights.name}: sha256 {digest[:12]}... is not the recorded {record['sha256'][:12]}...")
            continue
        net, name, ignored = _network_of(record["identity"])
        state = torch.load(weights, map_location="cpu", weights_only=True)
        missing, unexpected = net.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        missing = [k for k in missing if not k.startswith(ignored) and not k.endswith(REBUILT)]
        if missing or unexpected:
            problems.append(f"{weights.name}: does not load into {name} (missing {missing[:3]}, unexpected "
                            f"{unexpected[:3]})")
    return problems


def _network_of(ident: dict[str, Any]) -> tuple[torch.nn.Module, str, str]:
    """The network a start's identity describes, its name, and the prefix of the keys a start leaves out."""
    from ma52lib.models import build_model  # the models import the engine's weights helpers
    from ma52lib.models.manet import build_resnet

    if "model" not in ident:
        return build_resnet(ident["depth"], ident["width"]), f"ResNet-{ident['depth']} width {ident['width']}", "fc."
    options = {k: ident[k] for k in ("depth", "width") if ident.get(k) is not None}
    net = build_model(ident["model"], size=ident["size"], dropout=ident["dropout"], **options)
    return net, f"{ident['model']} ({ident['size']})", "fc_cls."


def machine() -> str:
    """The CPU a start was made on, as /proc/cpuinfo names it, with its torch threads and widest bf16-relevant ISA."""
    name, flags = cpu_info()
    isa = bf16_support(flags)
    return f"{name}, {torch.get_num_threads()} threads" + (f", {isa}" if isa else "")
