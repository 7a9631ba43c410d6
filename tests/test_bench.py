"""`ma52 bench` in its tiny mode writes a complete bench.json; the loader it measures is worker-independent."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from ma52lib.chapters.performance import bench_tables, load_bench
from ma52lib.chapters.reproduce import CHAPTERS
from ma52lib.commands.bench import add_parser, reproduce_timings, run_bench
from ma52lib.config import make_config
from ma52lib.data import MA52Dataset
from ma52lib.engine.build import EpochSampler, build_loader, default_threads

from tinydata import make_tiny_dataset


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny", {"train": 3, "val": 1, "test": 1})


def test_tiny_bench_writes_every_section(tiny_root: Path, tmp_path: Path) -> None:
    log = tmp_path / "reproduce_runs.jsonl"
    rows = [
        {"profile": "cpu", "seconds": 900.0, "chapters": {name: ["executed", 100.0] for name in CHAPTERS}},
        {"profile": "cpu", "seconds": 20.0, "chapters": {name: ["cached", 0.0] for name in CHAPTERS}},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "bench.json"
    result = run_bench(out, mode="tiny", data_root=tiny_root, reproduce_log=log, echo=None)
    saved = load_bench(out)
    assert saved == json.loads(json.dumps(result))
    for key in ("machine", "load_before", "load_after", "ceilings", "steps", "loader", "train_loop", "reproduce",
                "targets"):
        assert key in saved, key
    assert len(saved["load_before"]) == 3
    assert isinstance(saved["contended"], bool) and 0 < saved["median_cpu_util"]
    tables = bench_tables(saved)  # the performance chapter's tables
    assert set(tables) == {"machine", "steps", "loader", "train_loop", "phases", "profile", "kernels", "render",
                           "book", "targets"}
    assert len(tables["steps"]) == len(saved["steps"]) and len(tables["loader"]) == len(saved["loader"])
    assert saved["ceilings"]["bf16"]["gflops"] > 0 and saved["ceilings"]["fp32"]["gflops"] > 0
    used = saved["precision"]["used"]
    assert used in ("fp32", "bf16") and saved["precision"]["reason"].startswith("auto: ")
    assert saved["ceilings"]["bf16"]["emulated"] is not saved["precision"]["native_bf16"]
    steps = saved["steps"]
    # MANet training in the precision runs use here (both layouts) and once in the other; inference; two baselines.
    manet_train = {(r["bf16"], r["channels_last"]) for r in steps if r["model"] == "manet" and r["mode"] == "train"}
    chosen = used == "bf16"
    assert manet_train == {(chosen, True), (chosen, False), (not chosen, True)}
    assert any(r["model"] == "manet" and r["mode"] == "infer" for r in steps)
    assert {r["model"] for r in steps} == {"manet", "tsm", "i3d"}  # the tiny mode's; the others: every model
    assert all(r["bf16"] is chosen for r in steps if r["model"] != "manet")
    for r in steps:
        assert r["clips_per_s"] > 0 and r["gflop_per_step"] > 0
        ceiling = saved["ceilings"]["bf16" if r["bf16"] else "fp32"]
        if ceiling.get("emulated"):
            assert r["fraction_of_ceiling"] is None  # an emulated matmul is no ceiling
        else:
            assert r["fraction_of_ceiling"] == pytest.approx(r["gflops"] / ceiling["gflops"])
    train_rows = [r for r in steps if r["mode"] == "train" and r["model"] == "manet"]
    infer_rows = [r for r in steps if r["mode"] == "infer" and r["model"] == "manet"]
    # Counted FLOPs: a training step costs about three forwards.
    assert 2.0 < train_rows[0]["gflop_per_step"] / infer_rows[0]["gflop_per_step"] < 4.0
    # Decoding at 0 and 1 workers, then the cpu profile's setting: 0 workers from the warm frame cache.
    assert [(r["workers"], r["cache"]) for r in saved["loader"]] == [(0, False), (1, False), (0, True)]
    assert saved["loader"][-1]["cache_fill_s"] > 0
    assert [r["cache"] for r in saved["train_loop"]][-1] is True
    for r in saved["loader"] + saved["train_loop"]:
        assert r["clips_per_s"] > 0
    for r in saved["train_loop"]:
        assert 0.0 <= r["data_wait_fraction"] < 1.0
        shares = r["phase_shares"]  # data, forward, backward, optimiser and the rest make the whole loop
        assert set(shares) == {"data", "forward", "backward", "optimiser", "other"}
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-6) and min(shares.values()) >= 0.0
        assert shares["data"] == pytest.approx(r["data_wait_fraction"])
        assert shares["forward"] > 0 and shares["backward"] > 0 and shares["optimiser"] > 0
    # The profile: MANet's step by kernel (both precisions where bf16 is native) and the renderer by function.
    profile = saved["profile"]
    assert [(r["model"], r["bf16"]) for r in profile["steps"]][0] == ("manet", chosen)
    assert len(profile["steps"]) == (2 if saved["precision"]["native_bf16"] else 1)
    for r in profile["steps"]:
        assert sum(r["groups"].values()) == pytest.approx(1.0) and r["groups"]["convolution"] > 0
        assert r["kernels"] and all(0 < k["share"] <= 1 for k in r["kernels"])
        assert [k["share"] for k in r["kernels"]] == sorted((k["share"] for k in r["kernels"]), reverse=True)
    render = profile["render"]
    assert render["clips"] == 2 and render["clips_per_s_one_core"] > 0
    assert render["shares"]["draw"] + render["shares"]["encode"] == pytest.approx(1.0)
    assert any("encode" in f["function"] for f in render["functions"])
    assert saved["reproduce"] == {"cpu": {"cold": {"seconds": 900.0, "time": None},
                                          "cached": {"seconds": 20.0, "time": None}}}
    targets = {t["name"]: t for t in saved["targets"]}
    assert len(targets) == 5
    assert any("frame cache" in name for name in targets)
    book = [t for t in saved["targets"] if "make book" in t["name"]]
    assert [t["met"] for t in book] == [True, True]


def test_reproduce_timings_skip_failed_and_missing_runs(tmp_path: Path) -> None:
    assert reproduce_timings(tmp_path / "absent.jsonl") == {}
    log = tmp_path / "runs.jsonl"
    mixed = {name: ["executed" if i == 0 else "cached", 1.0] for i, name in enumerate(CHAPTERS)}
    rows = [
        {"profile": "cpu", "seconds": 50.0, "chapters": {name: ["failed", 5.0] for name in CHAPTERS}},
        {"profile": "cpu", "seconds": 60.0, "chapters": {CHAPTERS[0]: ["executed", 60.0]}},  # --only
        {"profile": "smoke", "seconds": 70.0, "chapters": mixed},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{cut by a kill")
    assert reproduce_timings(log) == {"cpu": {"partial": {"seconds": 60.0, "time": None}},
                                      "smoke": {"partial": {"seconds": 70.0, "time": None}}}


def test_bench_refuses_unknown_mode_and_missing_data(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown bench mode"):
        run_bench(tmp_path / "b.json", mode="huge", echo=None)
    with pytest.raises(FileNotFoundError, match="ma52 bench --quick"):
        load_bench(tmp_path / "none.json")


def test_cli_parser() -> None:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["bench", "--quick", "--workers", "0,2", "--size", "cpu"])
    assert args.quick and args.workers == "0,2" and args.size == ["cpu"] and callable(args.func)


def _epoch_clips(loader, epoch: int) -> dict[int, torch.Tensor]:
    loader.sampler.set_epoch(epoch)
    loader.dataset.set_epoch(epoch)
    return {int(i): c for clips, _, idx, _ in loader for i, c in zip(idx, clips)}


def test_persistent_workers_see_each_epoch(tiny_root: Path) -> None:
    # Workers forked once must still draw epoch 1's augmentation in epoch 1: the sampler carries it.
    serial_cfg = make_config("smoke", {"data.num_workers": 0, "optim.batch_size": 4})
    pooled_cfg = make_config("smoke", {"data.num_workers": 2, "optim.batch_size": 4})
    ds = MA52Dataset(tiny_root, "train", num_segments=4, short_side=40, crop_size=32)
    serial, pooled = build_loader(serial_cfg, ds, train=True), build_loader(pooled_cfg, ds, train=True)
    assert isinstance(pooled.sampler, EpochSampler) and pooled.persistent_workers
    for epoch in (0, 1):
        a, b = _epoch_clips(serial, epoch), _epoch_clips(pooled, epoch)
        assert sorted(a) == sorted(b) == list(range(len(ds)))
        assert all(torch.equal(a[i], b[i]) for i in a)
    assert not torch.equal(_epoch_clips(serial, 0)[0], _epoch_clips(serial, 1)[0])


def test_default_threads() -> None:
    def threads(profile: str, current: int = 2, **over) -> int:
        return default_threads(make_config(profile, over), cores=2, current=current)

    assert threads("cpu", **{"data.num_workers": 1}) == 1
    assert threads("cpu", **{"data.num_workers": 0}) == 2
    assert threads("cpu", current=1, **{"data.num_workers": 0}) == 1  # OMP_NUM_THREADS=1 is kept
    assert threads("cpu", **{"data.num_workers": 4}) == 1
    assert threads("cpu", current=1, **{"runtime.threads": 2, "data.num_workers": 1}) == 2  # asked for
    assert default_threads(make_config("paper", {"data.num_workers": 8}), cuda=True, cores=16, current=16) == 4


def test_other_datasets_keep_plain_keys_and_per_epoch_workers() -> None:
    class Plain(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, index: int):
            return torch.zeros(1, 3, 2, 2), index, index

    loader = build_loader(make_config("smoke", {"data.num_workers": 1, "optim.batch_size": 2}), Plain(), train=False)
    assert not isinstance(loader.sampler, EpochSampler) and not loader.persistent_workers
    assert [int(i) for _, _, idx, _ in loader for i in idx] == [0, 1, 2, 3]


def test_the_bench_times_the_engines_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """step_benchmark (also the GPU check's) calls engine.step.train_step on the trainee the runs build."""
    from ma52lib.engine import measure

    seen = []
    real = measure.train_step

    def spy(trainee, clips, labels, *, bf16):
        seen.append((trainee.n_frozen, trainee.loss_fn is not None, bf16))
        return real(trainee, clips, labels, bf16=bf16)

    monkeypatch.setattr(measure, "train_step", spy)
    row = measure.step_benchmark("manet", "tiny", train=True, bf16=False, channels_last=True, repeats=1, warmup=1,
                                 device=torch.device("cpu"), ceilings={"fp32": 1.0, "bf16": None})
    assert row["clips_per_s"] > 0 and len(seen) == 2  # the counted warm-up and one timed step
    assert all(has_loss and not bf16 for _, has_loss, bf16 in seen)


def test_kernel_groups_name_the_work() -> None:
    from ma52lib.engine.profiling import OTHER, kernel_group

    assert kernel_group("aten::mkldnn_convolution") == "convolution"
    assert kernel_group("aten::convolution_backward") == "convolution"
    assert kernel_group("aten::addmm") == kernel_group("aten::mm") == "matmul"
    assert kernel_group("aten::native_batch_norm") == kernel_group("aten::native_layer_norm") == "normalisation"
    assert kernel_group("aten::_fused_adamw_") == "optimiser"
    assert kernel_group("aten::copy_") == "copies and layout"
    assert kernel_group("aten::relu_") == kernel_group("aten::clamp_min_") == OTHER


def test_a_bench_of_another_version_is_refused_in_words(tmp_path: Path) -> None:
    old = tmp_path / "bench.json"
    old.write_text(json.dumps({"version": 1, "steps": []}))
    with pytest.raises(ValueError, match=r"another version of `ma52 bench` \(version 1, this one writes \d+\): run "):
        load_bench(old)
