"""runtime.precision: the auto rule both ways (probe injected), forced precisions, and the run's identity."""

from __future__ import annotations

import json

import pytest
import torch

from ma52lib.config import config_hash, from_dict, make_config, to_dict
from ma52lib.engine import precision as P
from ma52lib.engine.train import default_run_dir, train
from ma52lib.models import build_model

from tinydata import make_tiny_dataset

CPU = torch.device("cpu")


def fake(fp32_s: float, bf16_s: float, native: bool, kind: str = "conv2d"):
    """A probe that measured ``fp32_s`` and ``bf16_s`` on a CPU with or without native bf16."""
    return lambda *_: P.Probe(kind, fp32_s, bf16_s, native)


@pytest.fixture
def machine(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A fresh runs folder (no remembered choices); ``machine(native, fp32_s, bf16_s)`` fakes this CPU."""
    monkeypatch.setenv("MA52_RUNS_DIR", str(tmp_path / "runs"))
    calls: list[str] = []

    def set_cpu(native: bool, fp32_s: float, bf16_s: float) -> list[str]:
        monkeypatch.setattr(P, "native_bf16", lambda: native)
        monkeypatch.setattr(P, "probe", lambda kind: (calls.append(kind), P.Probe(kind, fp32_s, bf16_s, native))[1])
        monkeypatch.setattr(P, "model_probe", lambda cfg: (calls.append("step"), P.Probe("step", fp32_s, bf16_s,
                                                                                          native))[1])
        return calls

    return set_cpu


def test_auto_takes_bf16_only_where_native_and_faster() -> None:
    fast = P.choose("auto", CPU, "conv2d", measure=fake(0.010, 0.005, True))
    assert fast.precision == "bf16" and "2.0x faster" in fast.reason
    emulated = P.choose("auto", CPU, "conv2d", measure=fake(0.010, 0.104, False))
    assert emulated.precision == "fp32"
    assert "emulated" in emulated.reason and "10.4x slower" in emulated.reason
    # Native but not worth it: a 5% gain is below the margin, a slowdown is named as such.
    assert P.choose("auto", CPU, "conv2d", measure=fake(0.0105, 0.010, True)).precision == "fp32"
    slower = P.choose("auto", CPU, "matmul", measure=fake(0.010, 0.012, True, "matmul"))
    assert slower.precision == "fp32" and "1.2x slower" in slower.reason and "matmul" in slower.reason


def test_forced_precisions_are_kept_and_emulation_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    never = lambda: pytest.fail("a forced precision must not run the probe")  # noqa: E731
    assert P.choose("fp32", CPU, "conv2d", measure=never) == P.Choice("fp32", "as asked")
    monkeypatch.setattr(P, "native_bf16", lambda: False)
    forced = P.choose("bf16", CPU, "conv2d", measure=never)
    assert forced.precision == "bf16" and "emulates" in forced.reason
    monkeypatch.setattr(P, "native_bf16", lambda: True)
    assert P.choose("bf16", CPU, "conv2d", measure=never) == P.Choice("bf16", "as asked")
    with pytest.raises(ValueError, match="runtime.precision"):
        P.choose("fp16", CPU, "conv2d")


def test_the_real_probes_measure_both_precisions() -> None:
    p = P.probe("conv2d")
    assert p.kind == "conv2d" and p.fp32_s > 0 and p.bf16_s > 0
    assert P.probe("conv2d") is p  # cached for the process
    assert P.decide(p).precision in ("fp32", "bf16")
    step = P.model_probe(make_config("smoke", {"model.num_segments": 2, "optim.batch_size": 2}))
    assert step.kind == "manet step" and step.fp32_s > 0 and step.bf16_s > 0


def test_a_large_run_is_probed_at_a_smaller_batch() -> None:
    assert P.probe_batch(16, 8, 56) == 16  # the cpu profile: its own batch
    assert P.probe_batch(10, 8, 224) == 1  # the paper's 224 px: one clip, seconds instead of minutes
    assert P.probe_batch(4, 32, 224) == 1  # never below one clip
    assert P.probe_batch(4, 8, 32) == 4  # the smoke size: capped by the run's batch, not the budget
    assert P.probe_batch(64, 8, 32) == 49  # a large batch of small clips: cut to the budget


def test_work_kind_follows_the_weights() -> None:
    assert P.work_kind(build_model("manet", depth=18, width=16, num_segments=4)) == "conv2d"
    assert P.work_kind(build_model("i3d", size="tiny", num_segments=4)) == "conv3d"
    assert P.work_kind(build_model("timesformer", size="tiny", num_segments=4)) == "matmul"


def test_resolved_precision_is_part_of_the_run_identity(machine) -> None:
    cfg = make_config("smoke")
    assert cfg.runtime.precision == "auto"
    fp32, why = P.resolve(cfg, measure=fake(0.01, 0.1, False))
    bf16, _ = P.resolve(cfg, measure=fake(0.01, 0.005, True))
    assert (fp32.runtime.precision, bf16.runtime.precision) == ("fp32", "bf16")
    assert "emulated" in why.reason
    # auto resolved to fp32 is the same run as asking for fp32; a bf16 run is another run.
    assert config_hash(fp32) == config_hash(make_config("smoke", {"runtime.precision": "fp32"}))
    assert config_hash(fp32) != config_hash(bf16)
    machine(False, 0.01, 0.1)
    assert default_run_dir(cfg) == default_run_dir(fp32)


def test_a_measured_choice_is_remembered_on_this_machine(machine, tmp_path) -> None:
    calls = machine(True, 0.010, 0.005)  # native and 2x faster: bf16, timed on the run's own step
    cfg = make_config("smoke")
    first, why = P.resolve(cfg)
    assert first.runtime.precision == "bf16" and calls == ["step"] and "2.0x faster" in why.reason
    # Another process on the same machine (same model and input) reuses the choice, even if a new
    # measurement would now land on the other side of the margin: the run keeps its folder.
    machine(True, 0.010, 0.0095)
    again, why_again = P.resolve(cfg)
    assert again == first and calls == ["step"] and "measured" in why_again.reason
    # Its ablation variants share the choice (a contrast compares runs of one precision) ...
    variant, _ = P.resolve(make_config("smoke", {"model.se": False, "model.num_segments": 4, "loss.weight": 0.0}))
    assert variant.runtime.precision == "bf16" and calls == ["step"]
    # ... another model is measured on its own.
    other, _ = P.resolve(make_config("smoke", {"model.name": "tsn", "loss.weight": 0.0}))
    assert other.runtime.precision == "fp32" and calls == ["step", "step"]
    (tmp_path / "runs" / P.MEMORY_FILE).unlink()
    assert P.resolve(cfg)[0].runtime.precision == "fp32" and len(calls) == 3
    # Without native bf16 no step is timed: a small probe of the model's kind says how much slower it is.
    machine(False, 0.01, 0.1)
    (tmp_path / "runs" / P.MEMORY_FILE).unlink()
    assert P.resolve(cfg)[0].runtime.precision == "fp32" and calls[-1] == "conv2d"


def test_a_run_records_its_precision_and_why(tmp_path, machine) -> None:
    root = make_tiny_dataset(tmp_path / "data", {"train": 2, "val": 1, "test": 1})
    machine(False, 0.01, 0.104)
    cfg = make_config("smoke", {"data.root": str(root), "optim.epochs": 1, "optim.batch_size": 8,
                                "model.num_segments": 4, "data.num_workers": 0})
    out = train(cfg, out=tmp_path / "run", echo=None)
    saved = json.loads((out / "config.json").read_text())
    assert saved["runtime"]["precision"] == "fp32"
    results = json.loads((out / "results.json").read_text())
    assert results["precision"]["used"] == "fp32" and "10.4x slower" in results["precision"]["reason"]
    assert "precision: fp32 (auto: bf16 is emulated" in (out / "train.log").read_text()
    # Asking again for the same run (auto) reuses it.
    lines: list[str] = []
    assert train(cfg, out=out, echo=lines.append) == out
    assert any("reusing finished run" in line for line in lines)


def test_configs_of_runs_made_before_precision_existed_still_load() -> None:
    raw = to_dict(make_config("cpu"))
    raw["runtime"].pop("precision")
    raw["runtime"]["bf16"] = False
    assert from_dict(raw).runtime.precision == "fp32"
    with pytest.raises(ValueError, match="runtime.precision"):
        make_config("cpu", {"runtime.bf16": "false"})


def test_the_model_probe_times_the_runs_own_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe steps the trainee a run builds: frozen stages, joint loss and the profile's optimiser."""
    seen = []
    real = P.train_step

    def spy(trainee, clips, labels, *, bf16):
        seen.append((trainee.n_frozen > 0, trainee.loss_fn is not None, type(trainee.optimizer).__name__, bf16))
        return real(trainee, clips, labels, bf16=bf16)

    monkeypatch.setattr(P, "train_step", spy)
    before = torch.random.get_rng_state()
    P.model_probe(make_config("cpu", {"model.size": "tiny", "model.num_segments": 2, "optim.batch_size": 2,
                                      "data.crop_size": 32, "data.short_side": 36}))
    assert set(seen) == {(True, True, "AdamW", False), (True, True, "AdamW", True)}
    assert torch.equal(torch.random.get_rng_state(), before)  # the run's random stream is untouched
