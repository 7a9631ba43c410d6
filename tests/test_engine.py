"""The engine on a tiny real dataset: train, reuse, resume equality, NaN stop, parameter groups, DDP."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from ma52lib.chapters.benchmark import results_table
from ma52lib.chapters.common import run_configs
from ma52lib.config import make_config
from ma52lib.engine import step as step_mod
from ma52lib.engine.build import build_model_for, without_weights
from ma52lib.engine.optim import param_groups
from ma52lib.engine.train import TrainingError, train

from tinydata import make_tiny_dataset


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("ma52tiny"))


def tiny_cfg(root: Path, **over):
    base = {"data.root": str(root), "data.num_workers": 0, "optim.epochs": 2, "optim.batch_size": 4,
            "runtime.precision": "fp32", "runtime.channels_last": False, "model.num_segments": 4}
    base.update(over)
    return make_config("smoke", base)


def _scalars(metrics: dict) -> dict:
    from ma52lib.metrics import SCALAR_KEYS

    return {k: metrics[k] for k in SCALAR_KEYS}


def test_train_writes_a_complete_run_and_reuses_it(tiny_root, tmp_path):
    out = tmp_path / "run"
    run = train(tiny_cfg(tiny_root), out=out, echo=None)
    assert run == out
    res = json.loads((out / "results.json").read_text())
    assert set(res) >= {"val", "test", "config", "timings", "best_epoch", "num_params"}
    assert res["val"]["n"] == 8 and res["test"]["n"] == 4  # test labels come from test_labels.txt
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert "action_f1_macro" in json.loads(lines[0])["val"]
    assert (out / "checkpoints" / "best.pt").exists() and (out / "checkpoints" / "last.pt.sha256").exists()
    stamp = (out / "results.json").stat().st_mtime_ns
    train(tiny_cfg(tiny_root), out=out, echo=None)  # same config: reused, not retrained
    assert (out / "results.json").stat().st_mtime_ns == stamp


def test_validation_every_n_epochs_and_after_the_last(tiny_root, tmp_path):
    out = tmp_path / "run"
    train(tiny_cfg(tiny_root, **{"optim.epochs": 3, "runtime.eval_every": 2}), out=out, echo=None)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert ["val" in r for r in rows] == [False, True, True]
    assert rows[0]["eval_seconds"] == 0.0
    log = (out / "train.log").read_text()
    assert "epoch 1/3: " in log and "not validated this epoch" in log
    assert json.loads((out / "results.json").read_text())["best_epoch"] in (2, 3)
    with pytest.raises(ValueError, match="eval_every"):
        train(tiny_cfg(tiny_root, **{"runtime.eval_every": 0}), out=tmp_path / "bad", echo=None)


def test_a_loaded_run_scores_exactly_as_training_did(tiny_root, tmp_path):
    # bf16 kernels differ by memory layout: the reloaded model must use the layout training scored in.
    from ma52lib.engine.run import load_run, predict_split
    from ma52lib.metrics import compute_metrics

    out = tmp_path / "run"
    cfg = tiny_cfg(tiny_root, **{"optim.epochs": 1, "runtime.precision": "bf16", "runtime.channels_last": True})
    train(cfg, out=out, echo=None)
    run = load_run(out)
    conv = next(m for m in run.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    _, pred = predict_split(run, "val")
    saved = json.loads((out / "results.json").read_text())["val"]
    assert _scalars(compute_metrics(pred["probs"], pred["labels"])) == _scalars(saved)


def test_finished_run_of_another_config_is_not_overwritten(tiny_root, tmp_path):
    out = tmp_path / "run"
    train(tiny_cfg(tiny_root, **{"optim.epochs": 1}), out=out, echo=None)
    with pytest.raises(TrainingError, match="different config"):
        train(tiny_cfg(tiny_root, **{"optim.epochs": 1, "optim.lr": 0.5}), out=out, echo=None)


def test_resume_after_interruption_gives_identical_results(tiny_root, tmp_path):
    cfg = tiny_cfg(tiny_root, **{"optim.epochs": 3})
    full = train(cfg, out=tmp_path / "full", echo=None)
    part = train(cfg, out=tmp_path / "part", echo=None, stop_after_epoch=1)
    assert not (part / "results.json").exists()
    with pytest.raises(TrainingError, match="--resume"):
        train(cfg, out=part, echo=None)
    train(cfg, out=part, resume=True, echo=None)
    a = json.loads((full / "results.json").read_text())
    b = json.loads((part / "results.json").read_text())
    assert _scalars(a["val"]) == _scalars(b["val"]) and _scalars(a["test"]) == _scalars(b["test"])
    la = [json.loads(line)["loss"] for line in (full / "metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(line)["loss"] for line in (part / "metrics.jsonl").read_text().splitlines()]
    assert la == lb
    wa = torch.load(full / "checkpoints" / "last.pt", weights_only=True)["model"]
    wb = torch.load(part / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_root, tmp_path, monkeypatch):
    cfg = tiny_cfg(tiny_root, **{"optim.epochs": 2})
    out = train(cfg, out=tmp_path / "nan", echo=None, stop_after_epoch=1)
    good = (out / "checkpoints" / "last.pt").read_bytes()
    real = step_mod.compute_loss

    def poisoned(*args):
        loss, parts = real(*args)
        return loss * float("nan"), parts

    monkeypatch.setattr(step_mod, "compute_loss", poisoned)
    with pytest.raises(TrainingError, match="loss became nan at epoch 2"):
        train(cfg, out=out, resume=True, echo=None)
    assert (out / "checkpoints" / "last.pt").read_bytes() == good


def test_paper_parameter_groups_follow_the_official_constructor():
    cfg = without_weights(make_config("smoke"))
    model = build_model_for(cfg, emb_dim=300)
    groups = {g["name"]: g for g in param_groups(model, make_config("paper").optim)}
    lr = 0.00125
    ids = [id(p) for g in groups.values() for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))  # every parameter exactly once
    # The quirk: the last Linear in module order is the embedding branch's second layer, not fc_cls.
    lin = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert lin.out_features == 300
    assert [id(p) for p in groups["last_linear_weight_5x"]["params"]] == [id(lin.weight)]
    assert groups["last_linear_weight_5x"]["lr"] == pytest.approx(5 * lr)
    assert groups["last_linear_bias_10x"]["lr"] == pytest.approx(10 * lr)
    assert groups["last_linear_bias_10x"]["weight_decay"] == 0
    assert groups["normal_bias"]["lr"] == pytest.approx(2 * lr) and groups["normal_bias"]["weight_decay"] == 0
    assert groups["norm"]["weight_decay"] == 0 and groups["normal_weight"]["weight_decay"] == 1e-4
    bn_ids = {id(p) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()}
    assert {id(p) for p in groups["norm"]["params"]} == bn_ids


# --- DDP with two gloo processes -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str, root: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from torch.nn.parallel import DistributedDataParallel

    from ma52lib.engine import dist

    dist.setup("cpu")
    cfg = tiny_cfg(Path(root))
    torch.manual_seed(0)
    model = build_model_for(without_weights(cfg), emb_dim=None).eval()  # eval: BatchNorm/dropout identical
    ddp = DistributedDataParallel(model)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 4, 3, 32, 32, generator=g)
    y = torch.tensor([0, 9, 24, 43])
    shard = slice(2 * rank, 2 * rank + 2)
    loss = torch.nn.functional.cross_entropy(ddp(x[shard]), y[shard])
    loss.backward()
    if rank == 0:
        torch.save({n: p.grad.clone() for n, p in model.named_parameters()}, Path(out) / "ddp_grads.pt")
    dist.barrier()
    # the engine end to end under DDP: rank 0 writes, both ranks train
    train(tiny_cfg(Path(root), **{"optim.epochs": 1}), out=Path(out) / "ddp_run", echo=None)


@pytest.mark.slow
def test_ddp_two_gloo_processes_match_one_process(tiny_root, tmp_path):
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path), str(tiny_root)), nprocs=2, join=True)
    cfg = tiny_cfg(tiny_root)
    torch.manual_seed(0)
    model = build_model_for(without_weights(cfg), emb_dim=None).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 4, 3, 32, 32, generator=g)
    y = torch.tensor([0, 9, 24, 43])
    torch.nn.functional.cross_entropy(model(x), y).backward()
    ddp_grads = torch.load(tmp_path / "ddp_grads.pt", weights_only=True)
    for name, p in model.named_parameters():
        torch.testing.assert_close(ddp_grads[name], p.grad, rtol=1e-4, atol=1e-6, msg=name)
    res = json.loads((tmp_path / "ddp_run" / "results.json").read_text())
    assert res["environment"]["world_size"] == 2 and res["val"]["n"] == 8


def test_a_diverging_run_is_reported_not_fatal(tiny_root, tmp_path, monkeypatch):
    real = step_mod.compute_loss

    def poisoned(*args):
        loss, parts = real(*args)
        return loss * float("nan"), parts

    monkeypatch.setenv("MA52_RUNS_DIR", str(tmp_path))
    monkeypatch.setattr(step_mod, "compute_loss", poisoned)
    runs = run_configs({"tsn": tiny_cfg(tiny_root, **{"model.name": "tsn", "optim.epochs": 1})}, echo=lambda m: None)
    assert dict(runs) == {} and "loss became nan" in runs.failed["tsn"]
    table = results_table(runs)
    assert table.loc[("TSN", "this run"), "Body top-1"].startswith("failed: loss became nan")


def test_schedules_step_per_optimiser_step():
    from ma52lib.config import OptimConfig
    from ma52lib.engine.optim import build_scheduler

    def lrs(cfg: OptimConfig, steps_per_epoch: int = 3) -> list[float]:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
        sched = build_scheduler(opt, cfg, steps_per_epoch)
        out = []
        for _ in range(cfg.epochs * steps_per_epoch):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    # step: the paper's MultiStepLR stepped per epoch, now per optimiser step with the same values.
    step = lrs(OptimConfig(lr=1.0, epochs=4, milestones=(2, 3), gamma=0.1))
    assert step == pytest.approx([1.0] * 6 + [0.1] * 3 + [0.01] * 3)
    cosine = lrs(OptimConfig(lr=1.0, epochs=4, schedule="cosine", warmup_epochs=1))
    assert cosine[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])  # linear warm-up over the first epoch
    assert cosine[3] == pytest.approx(1.0) and all(a > b for a, b in zip(cosine[3:], cosine[4:])) and cosine[-1] < 0.1
    with pytest.raises(ValueError, match="optim.schedule"):
        OptimConfig(schedule="linear")
    with pytest.raises(ValueError, match="warmup_epochs"):
        OptimConfig(epochs=2, warmup_epochs=2)
