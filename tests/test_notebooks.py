"""The chapter notebooks run under papermill (smoke profile, tiny data), and the batch runner caches,
re-executes with --force, and reports a failing notebook while the others still publish.

Select with ``pytest -m notebook``. The chapters share one runs folder, so a run trained by the
benchmark is reused by the ablations and listed by the reproducibility chapter, as in `ma52 reproduce`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

from ma52lib.chapters import reproduce as rp
from ma52lib.commands import reproduce as reproduce_cli
from ma52lib.paths import project_root

pytestmark = pytest.mark.notebook

ROOT = project_root()
NOTEBOOKS = ROOT / "notebooks"
# Chapters written by other contributors: the data each runs on here ("tiny", sharing the benchmark's
# runs, or "synth": MA-52-Synth smoke, for chapters that read its meta.json) and their cheapest knobs.
OTHER_CHAPTERS: dict[str, tuple[str, dict]] = {
    "dataset": ("synth", {}),
    "gradcam": ("tiny", {"n_clips": 2, "mass_clips": 20}),
    "emotion": ("tiny", {"n_seeds": 2}),
    "performance": ("synth", {}),
    "study": ("tiny", {}),
}


@pytest.fixture(scope="module")
def book_env(tmp_path_factory: pytest.TempPathFactory):
    """Tiny data, a private runs folder and a kernel environment that imports this checkout."""
    sys.path.insert(0, str(Path(__file__).parent))
    from tinydata import make_tiny_dataset

    base = tmp_path_factory.mktemp("book")
    data = make_tiny_dataset(base / "tiny", per_class={"train": 2, "val": 1, "test": 1})
    saved = {k: os.environ.get(k) for k in ("MA52_RUNS_DIR", "MA52_DATA_DIR", "MA52_QUIET", "PYTHONPATH", "MPLBACKEND",
                                            "MA52_GENERATED")}
    os.environ["MA52_RUNS_DIR"] = str(base / "runs")
    os.environ["MA52_GENERATED"] = str(base / "generated")  # the ledger's evidence and summary
    os.environ["MA52_DATA_DIR"] = str(base / "data")
    os.environ["MA52_QUIET"] = "1"
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    # The kernel runs in notebooks/: a relative PYTHONPATH (".") would not find ma52lib there.
    inherited = [p for p in (saved["PYTHONPATH"] or "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + inherited)
    yield {"base": base, "data": data}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _execute(name: str, out: Path, **params) -> nbformat.NotebookNode:
    import papermill as pm

    pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out),
                        parameters={"profile": "smoke", "seed": 0, **params}, cwd=str(NOTEBOOKS),
                        progress_bar=False, kernel_name="python3", language="python")
    return nbformat.read(out, as_version=4)


def _outputs(nb: nbformat.NotebookNode) -> dict[str, int]:
    """Counts of HTML tables, PNG images and error outputs in an executed notebook."""
    counts = {"tables": 0, "images": 0, "errors": 0}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            counts["tables"] += data.get("text/html", "").count("<table")
            counts["images"] += "image/png" in data
            counts["errors"] += out.get("output_type") == "error"
    return counts


def _parameters_cell(name: str) -> str:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"notebooks/{name}.ipynb needs exactly one cell tagged 'parameters'"
    return tagged[0].source


@pytest.mark.parametrize("name", ["benchmark", "ablations", "reproducibility"])
def test_chapter_notebooks_are_clean_and_parameterised(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code"), \
        f"notebooks/{name}.ipynb is committed with outputs; clear them"
    params = _parameters_cell(name)
    for knob in ('profile = "smoke"', "data_root = None", "seed = 0"):
        assert knob in params, f"notebooks/{name}.ipynb parameters lack {knob!r}"
    headings = [line for c in nb.cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("#")]
    assert headings[0].startswith("# ") and all(not h.startswith("# ") for h in headings[1:]), \
        "one '# Title' then '##' sections (Sphinx -W rejects skipped or repeated top levels)"


def test_benchmark_notebook(book_env, tmp_path: Path) -> None:
    nb = _execute("benchmark", tmp_path / "benchmark.ipynb", data_root=str(book_env["data"]), models=["tsn", "manet"])
    counts = _outputs(nb)
    # main table, long tail, confused pairs, order accuracy, reversed pairs, feature separation; bar, per-class,
    # confusion, t-SNE
    assert counts == {"tables": 6, "images": 4, "errors": 0}
    main = next(o["data"]["text/html"] for c in nb.cells for o in c.get("outputs", [])
                if "text/html" in o.get("data", {}))
    assert "MANet" in main and "not public" in main and "78.95" in main  # the paper's row beside ours
    assert "2 seeds (mean ± sd)" in main and "95% CI" in main
    dirs = [p.name for p in (book_env["base"] / "runs").iterdir() if p.is_dir()]
    # Both models at the smoke profile's two seeds, and the ImageNet analogue they start from (one run).
    assert sorted(d.split("-")[0] for d in dirs if not d.startswith("pretrain-")) == ["manet", "manet", "tsn", "tsn"]
    assert len([d for d in dirs if d.startswith("pretrain-")]) == 1


def test_ablations_notebook(book_env, tmp_path: Path) -> None:
    runs = book_env["base"] / "runs"
    before = set(runs.iterdir()) if runs.exists() else set()
    nb = _execute("ablations", tmp_path / "ablations.ipynb", data_root=str(book_env["data"]),
                  lambdas=[0, 50], segments=[8], embedding_sources=["default"])
    counts = _outputs(nb)
    # components (seed 0, the seeded configurations, their contrasts) and one table per sweep; the lambda plot
    assert counts == {"tables": 6, "images": 1, "errors": 0}
    new = {p for p in set(runs.iterdir()) - before if p.is_dir() and not p.name.startswith("pretrain-")}
    # The base and +TSM points are the benchmark's TSN and TSM runs, the full MANet (lambda 50, T=8,
    # default table) is the benchmark's MANet and lambda=0 is +TSM+SE; the components also run at the
    # smoke profile's two seeds. When the benchmark test ran first (TSN and MANet at both seeds), only
    # TSM and +TSM+SE at both seeds and +SE are new.
    benchmark_ran = any(p.name.startswith("manet-") for p in before)
    assert len(new) == (5 if benchmark_ran else 9)
    assert any(p.name.startswith("tsm-") for p in new)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "reusing finished run" in text


def test_reproducibility_notebook(book_env, tmp_path: Path) -> None:
    # The fault suite has its own tests (tests/faults); here the chapter only has to run around it.
    nb = _execute("reproducibility", tmp_path / "reproducibility.ipynb", data_root=str(book_env["data"]),
                  fault_suite=False)
    counts = _outputs(nb)
    assert counts["errors"] == 0 and counts["tables"] >= 5
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "torchrun --nproc_per_node 8 -m ma52lib.cli train --profile paper --model manet" in text
    runs = book_env["base"] / "runs"
    # Training runs on the data (the pretraining run renders its own stills and is not one of them).
    finished = [p for p in runs.iterdir() if (p / "results.json").exists() and not p.name.startswith("pretrain-")] \
        if runs.exists() else []
    assert f"{len(finished)} finished run(s)" in text


def test_ledger_notebook(book_env, tmp_path: Path) -> None:
    # Last, as in the book: it reuses what the other chapters trained and reads their evidence.
    nb = _execute("ledger", tmp_path / "ledger.ipynb", data_root=str(book_env["data"]),
                  extra_models=["examples.temporal_cnn:build"])
    counts = _outputs(nb)
    assert counts["errors"] == 0 and counts["tables"] == 1
    table = next(o["data"]["text/html"] for c in nb.cells for o in c.get("outputs", [])
                 if "text/html" in o.get("data", {}))
    assert "MANet beats TSN" in table and "MANet beats examples.temporal_cnn:build" in table
    assert "time reverse" in table and "joint-embedding loss helps" in table
    summary = (book_env["base"] / "generated" / "ledger_summary.md").read_text()
    assert "the [findings ledger](generated/ledger) checks" in summary


@pytest.mark.parametrize("name", list(OTHER_CHAPTERS))
def test_other_chapters(name: str, book_env, tmp_path: Path) -> None:
    if not (NOTEBOOKS / f"{name}.ipynb").exists():
        pytest.skip(f"notebooks/{name}.ipynb is not written yet")
    kind, knobs = OTHER_CHAPTERS[name]
    if kind == "synth":
        from ma52lib.synth import synthesize

        data = synthesize(book_env["base"] / "synth-smoke", profile="smoke", seed=0, progress=False)
    else:
        data = book_env["data"]
    nb = _execute(name, tmp_path / f"{name}.ipynb", data_root=str(data), **knobs)
    assert _outputs(nb)["errors"] == 0


# -- the batch runner, with throwaway notebooks ------------------------------------------------------------


def _throwaway(path: Path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "smoke"\ndata_root = None\nseed = 0\ncounter = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


_COUNT = ("from pathlib import Path\n"
          "p = Path(counter)\n"
          "p.write_text(str(int(p.read_text()) + 1 if p.exists() else 1))\n"
          "print('ran', p.read_text())")


def test_runner_caches_and_force_reexecutes(tmp_path: Path) -> None:
    src, out = tmp_path / "notebooks", tmp_path / "generated"
    out.mkdir()
    _throwaway(src / "good.ipynb", _COUNT)
    counter = tmp_path / "count.txt"
    params = {"profile": "smoke", "data_root": "/x", "seed": 0, "counter": str(counter)}

    def run(**kw):
        return rp.execute_chapter("good", {**params, **kw.pop("params", {})}, source_dir=src, out_dir=out,
                                  pkg=kw.pop("pkg", "p1"), data="d1", force=kw.pop("force", False), timeout=60)

    assert run().status == "executed" and counter.read_text() == "1"
    assert run().status == "cached" and counter.read_text() == "1"
    assert run(force=True).status == "executed" and counter.read_text() == "2"
    assert run(pkg="p2").status == "executed" and counter.read_text() == "3"  # ma52lib's code changed
    assert run(params={"seed": 1}).status == "executed" and counter.read_text() == "4"
    executed = nbformat.read(out / "good.ipynb", as_version=4)
    assert "ran 4" in executed.cells[-1].outputs[0]["text"]


def test_the_kernels_stderr_goes_to_the_chapter_log_not_the_terminal(tmp_path: Path, capfd) -> None:
    """Jupyter's kernel warnings (and anything a kernel writes to its stderr) land in logs/<chapter>.log."""
    src, out = tmp_path / "notebooks", tmp_path / "generated"
    out.mkdir()
    _throwaway(src / "noisy.ipynb", "import os\nos.write(2, b'noise from the kernel\\n')\nprint('cell ran')")
    capfd.readouterr()
    result = rp.execute_chapter("noisy", {"profile": "smoke", "data_root": "/x", "seed": 0}, source_dir=src,
                                out_dir=out, pkg="p", data="d", force=False, timeout=60)
    err = capfd.readouterr().err
    assert result.status == "executed"
    assert "noise from the kernel" not in err and "IPKernelApp" not in err
    assert "noise from the kernel" in (out / "logs" / "noisy.log").read_text()
    print("stderr works again", file=sys.stderr)
    assert "stderr works again" in capfd.readouterr().err


def test_runner_reports_a_failing_notebook_and_publishes_the_rest(book_env, tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "project"
    _throwaway(project / "notebooks" / "bad.ipynb", "raise RuntimeError('boom in the bad chapter')")
    _throwaway(project / "notebooks" / "good.ipynb", _COUNT)
    counter = tmp_path / "count.txt"
    monkeypatch.setattr(rp, "project_root", lambda: project)
    monkeypatch.delenv("MA52_GENERATED")  # book_env's private folder: reproduce writes the project's own
    monkeypatch.setattr(rp, "package_hash", lambda: "fixed")  # others may edit ma52lib meanwhile
    monkeypatch.setattr(rp, "CHAPTERS", ("bad", "good", "absent"))
    # The throwaway notebooks take a `counter` parameter the runner does not pass: give it a default path.
    nb = nbformat.read(project / "notebooks" / "good.ipynb", as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("counter = None", f"counter = {str(counter)!r}")
    nbformat.write(nb, project / "notebooks" / "good.ipynb")

    report = rp.reproduce("smoke", data_root=str(book_env["data"]), build=False, echo=lambda s: None)
    status = {c.name: c.status for c in report.chapters}
    assert status == {"bad": "failed", "good": "executed", "absent": "missing"}
    assert report.failed == ["bad", "absent"]
    assert "boom in the bad chapter" in next(c.message for c in report.chapters if c.name == "bad")
    generated = project / "book" / "generated"
    for name in ("bad", "good", "absent"):
        assert (generated / f"{name}.ipynb").exists(), f"{name} must still get a page"
    assert not (generated / ".cache" / "bad.json").exists()  # a failure is never cached
    bad = nbformat.read(generated / "bad.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in bad.cells for o in c.get("outputs", []))
    history = [json.loads(line) for line in (generated / "reproduce_runs.jsonl").read_text().splitlines()]
    assert history[-1]["chapters"]["bad"][0] == "failed"

    again = rp.reproduce("smoke", data_root=str(book_env["data"]), build=False, echo=lambda s: None)
    assert {c.name: c.status for c in again.chapters} == {"bad": "failed", "good": "cached", "absent": "missing"}
    assert counter.read_text() == "1"


def test_runner_gives_the_profiles_own_synth_as_none(book_env, tmp_path: Path, monkeypatch) -> None:
    # Same config hash as `ma52 train --profile P` (data.root unset): the CLI and the book share runs.
    seen: list[dict] = []

    def record(name, params, **kwargs):
        seen.append(dict(params))
        return rp.ChapterResult(name, "cached")

    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    monkeypatch.setattr(rp, "project_root", lambda: project)
    monkeypatch.delenv("MA52_GENERATED")  # book_env's private folder: reproduce writes the project's own
    monkeypatch.setattr(rp, "execute_chapter", record)
    monkeypatch.setattr(rp, "CHAPTERS", ("one",))
    rp.reproduce("smoke", build=False, echo=lambda s: None)
    rp.reproduce("smoke", seed=3, build=False, echo=lambda s: None)
    rp.reproduce("smoke", data_root=str(book_env["data"]), build=False, echo=lambda s: None)
    assert seen[0]["data_root"] is None
    assert seen[1]["data_root"].endswith("ma52-synth-smoke-3")  # another seed: another dataset, named
    assert seen[2]["data_root"] == str(Path(book_env["data"]).resolve())


def test_chapter_parameters_and_reproduce_flags() -> None:
    common = {"profile": "cpu", "data_root": None, "seed": 0}
    assert rp._chapter_params("dataset", common, ["m:build"], True) == common
    assert rp._chapter_params("benchmark", common, ["m:build"], False)["extra_models"] == ["m:build"]
    assert rp._chapter_params("ledger", common, None, False)["extra_models"] == []
    assert rp._chapter_params("study", common, None, True)["train"] is True
    assert "train" not in rp._chapter_params("study", common, None, False)  # the notebook's default decides
    # --seeds N reaches the chapters that train or read the seeds; without it their parameters (cache keys) stay.
    assert [name for name in rp.CHAPTERS if "n_seeds" in rp._chapter_params(name, common, None, False, 3)] == [
        "benchmark", "ablations", "ledger"]
    assert rp._chapter_params("ablations", common, None, False, 3)["n_seeds"] == 3
    assert all("n_seeds" not in rp._chapter_params(name, common, None, False) for name in rp.CHAPTERS)
    assert "n_seeds" not in rp._chapter_params("ledger", common, None, False, 1)  # cpu's own number: same cache key
    import argparse

    parser = argparse.ArgumentParser()
    reproduce_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["reproduce", "--study", "--extra-model", "a.b:c", "--extra-model", "d:e"])
    assert args.study and args.extra_model == ["a.b:c", "d:e"]
    assert parser.parse_args(["reproduce", "--seeds", "1"]).seeds == 1
    assert parser.parse_args(["reproduce"]).seeds is None
    with pytest.raises(SystemExit) as stop:  # argparse refuses it before anything is rendered or trained
        parser.parse_args(["reproduce", "--seeds", "0"])
    assert stop.value.code == 2
    with pytest.raises(ValueError, match="at least 1"):
        rp.reproduce("smoke", n_seeds=0, build=False, echo=lambda s: None)
    # The ledger runs last (it reads the others) but the book shows it first, after the introduction.
    assert rp.CHAPTERS[-1] == "ledger"
    toc = (ROOT / "_toc.yml").read_text()
    assert toc.index("generated/ledger") < toc.index("generated/dataset")


@pytest.mark.parametrize("name", ["benchmark", "ablations", "ledger"])
def test_the_seeds_a_parameter_comment_states_are_the_profiles(name: str) -> None:
    # The parameters cell's comments are published in the chapter's "Rerun with other parameters" section: the
    # notebook says what None means, and the page adds each profile's number from SEEDS.
    import re

    from ma52lib.chapters import ablations as ab
    from ma52lib.chapters.common import SEEDS, notebook_parameters, rerun_markdown

    comments = {n: c for n, _, c in notebook_parameters(NOTEBOOKS / f"{name}.ipynb")}
    assert comments["n_seeds"].endswith("None: the profile's"), f"notebooks/{name}.ipynb: n_seeds says what None is"
    for param, comment in comments.items():  # a profile's value is the code's, never typed in a comment
        assert not re.search(r"the profile's.*\d", comment), f"notebooks/{name}.ipynb: {param}: {comment}"
    page = rerun_markdown(name, defaults=ab.ABLATION_DEFAULTS if name == "ablations" else None)
    stated = re.search(r"\*\*n_seeds\*\*.*None: the profile's \(([^)]*)\)", page)
    assert stated, f"the {name} page names each profile's seeds"
    assert dict(pair.split() for pair in stated[1].split(", ")) == {p: str(len(s)) for p, s in SEEDS.items()}
    if name == "ablations":
        for param in ("lambdas", "segments"):
            given = re.search(rf"\*\*{param}\*\*.*None: the profile's \(([^)]*)\)", page)[1]
            stated_values = {p.split(" ", 1)[0]: [float(v) for v in p.split(" ", 1)[1].split(", ")]
                             for p in given.split("; ")}
            assert stated_values == {p: list(d[param]) for p, d in ab.ABLATION_DEFAULTS.items()}, param
