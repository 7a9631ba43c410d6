"""What the book's pages are made of: tables and figures with their files (chapters.common), the rerun section,
the front page's commands, and the browser check's layout rules (scripts/check_book.py)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest

from ma52lib.chapters import common, facts
from ma52lib.chapters.reproduce import CHAPTERS, add_parser
from ma52lib.paths import project_root


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MA52_GENERATED", str(tmp_path / "generated"))
    return tmp_path / "generated"


def _check_book():
    spec = importlib.util.spec_from_file_location("check_book", project_root() / "scripts" / "check_book.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_book"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_table_writes_its_csv_and_links_it_under_a_scrolling_box(generated: Path) -> None:
    df = pd.DataFrame({"model": ["TSN", "MANet"], "Action top-1": [12.5, 40.0]}).set_index("model")
    shown = common.table(df, "benchmark-main")
    assert shown.path == generated / "site" / "downloads" / "benchmark-main.csv"
    assert pd.read_csv(shown.path, index_col=0).equals(df)
    html = shown._repr_html_()
    assert html.startswith('<div class="ma52-table"><table') and html.count("<table") == 1
    # The chapter page is book/generated/NAME.html, the file _build/html/downloads/NAME.csv.
    assert 'href="../../downloads/benchmark-main.csv" download' in html
    styled = common.table(df.style.format("{:.1f}"), "styled")  # a Styler: its data goes to the CSV
    assert pd.read_csv(styled.path, index_col=0).equals(df) and "40.0" in styled.html


def test_table_refuses_a_name_that_is_not_a_file_name(generated: Path) -> None:
    with pytest.raises(ValueError, match="lower-case letters"):
        common.table(pd.DataFrame({"a": [1]}), "../Main table")


def test_figure_writes_a_png_displays_it_with_its_link_and_closes_it(generated: Path, monkeypatch) -> None:
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs: shown.extend(objs))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    assert common.figure(fig, "benchmark-chart") is None  # a cell ending with it shows no value
    path = generated / "site" / "downloads" / "benchmark-chart.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)  # the inline backend would show it a second time
    assert shown[0].format == "png" and 'href="../../downloads/benchmark-chart.png"' in shown[1].data


def test_hide_injected_parameters_folds_papermills_cell(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    injected = nbformat.v4.new_code_cell('profile = "cpu"')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), injected]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    common.hide_injected_parameters(path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[1].metadata["tags"] == ["injected-parameters", "hide-cell"] and "tags" not in cells[0].metadata


def test_notebook_parameters_reads_names_defaults_and_comments(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('profile = "smoke"  # smoke or cpu\ntop_pairs = 10  # rows of the table\n'
                                     "# that the chapter shows\nsplit = \"test\"")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "x.ipynb")
    assert common.notebook_parameters(tmp_path / "x.ipynb") == [
        ("profile", '"smoke"', "smoke or cpu"), ("top_pairs", "10", "rows of the table that the chapter shows"),
        ("split", '"test"', "")]
    text = common.rerun_markdown("x", tmp_path / "x.ipynb")
    assert '- **profile** = `"smoke"`: smoke or cpu; set with `ma52 reproduce --profile smoke|cpu|paper`' in text
    assert "- **top_pairs** = `10`: rows of the table that the chapter shows; set with `-p top_pairs VALUE`" in text
    assert "papermill notebooks/x.ipynb book/generated/x.ipynb -p profile cpu -p top_pairs VALUE" in text
    nb.cells[0].metadata["tags"] = []
    nbformat.write(nb, tmp_path / "x.ipynb")
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        common.notebook_parameters(tmp_path / "x.ipynb")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_lists_its_parameters_with_real_reproduce_flags(chapter: str) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    options = {o for a in parser._subparsers._group_actions[0].choices["reproduce"]._actions for o in a.option_strings}
    text = common.rerun_markdown(chapter)
    for name, _, _ in common.notebook_parameters(project_root() / "notebooks" / f"{chapter}.ipynb"):
        assert f"- **{name}** = " in text
    flags = {flag.split()[0] for flag in common.REPRODUCE_FLAGS.values()}
    assert flags <= options, f"not flags of ma52 reproduce: {flags - options}"


def test_chapter_notebooks_open_with_the_result_and_fold_the_plumbing() -> None:
    for chapter in CHAPTERS:
        nb = nbformat.read(project_root() / "notebooks" / f"{chapter}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        tags = [c.metadata.get("tags", []) for c in code]
        assert "parameters" in tags[0] and "hide-cell" in tags[0], chapter
        first_shown = next(i for i, t in enumerate(tags) if "hide-cell" not in t)
        # everything before the result is folded; the result cell shows its output, not its code
        assert tags[first_shown] == ["remove-input"], chapter
        assert all("import " not in c.source for c, t in zip(code, tags) if "hide-cell" not in t), chapter
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.count("\n") == 0, chapter  # the title


def test_front_page_commands_come_from_the_makefile(tmp_path: Path) -> None:
    text = facts.make_commands(project_root() / "Makefile")
    assert text.startswith("```console\n# build the Jupyter Book") and "\nmake book\n" in text
    assert "# run the linter (ruff) and the test suite\nmake test\n```" in text
    assert "$(PROFILE)" not in text and "(profile cpu)" in text  # what `make book` builds
    (tmp_path / "Makefile").write_text('help:\n\t@echo "make book   build it"\n')
    with pytest.raises(ValueError, match="does not describe `make test`"):
        facts.make_commands(tmp_path / "Makefile")


def test_front_page_files(generated: Path) -> None:
    facts.write_front_page(generated, "smoke", None)
    assert (generated / "site" / "downloads" / "recipe.csv").exists()  # html_extra_path must exist at build
    assert 'href="../downloads/recipe.csv"' in (generated / "recipe.md").read_text()
    assert "has not run in this build yet" in (generated / facts.CHART_FILE).read_text()
    facts.write_front_chart("benchmark-chart.png", "MANet is first.")
    chart = (generated / facts.CHART_FILE).read_text()
    assert chart.startswith("MANet is first.") and 'src="../downloads/benchmark-chart.png"' in chart
    facts.write_front_page(generated, "smoke", None)  # a later build keeps the chart the benchmark wrote
    assert (generated / facts.CHART_FILE).read_text() == chart


def test_layout_problems_name_each_rule() -> None:
    cb = _check_book()
    seen = {"plumbing": ["cell 1 (parameters)"], "noCsv": ["model"], "noFile": ["x.png"], "cut": ["model"],
            "chart": False, "code": "make book", "summary": False}
    problems = cb.layout_problems(seen, "p.html @390px", front=True)
    assert any("cell 1 (parameters) shows by default" in p for p in problems)
    assert any("no CSV download" in p for p in problems) and any("no PNG/SVG download" in p for p in problems)
    assert any("is cut" in p for p in problems) and any("benchmark chart" in p for p in problems)
    assert any("ledger's summary" in p for p in problems) and any("`make test`" in p for p in problems)
    assert not any("make book`" in p for p in problems)
    clean = {"plumbing": [], "noCsv": [], "noFile": [], "cut": [], "chart": True, "code": "make book\nmake test",
             "summary": True}
    assert cb.layout_problems(clean, "x", front=True) == [] and cb.layout_problems(seen, "x") != []
    assert cb.parse_widths("1280, 390") == (1280, 390)
    with pytest.raises(SystemExit, match="--widths"):
        cb.parse_widths("wide")


_PAGE = """<html><head><style>.clip {{ width: 300px; overflow-x: hidden; }} .scroll {{ width: 300px;
overflow-x: auto; }}</style></head><body><main>
<div class="cell tag_parameters"><details><summary>show</summary><div class="cell_input"><pre>seed = 0</pre>
</div></details></div>
<div class="cell"><div class="cell_input"><pre>{imports}</pre></div></div>
<div class="{box}"><table><tr><td>{wide}</td></tr></table></div>
<p class="ma52-download"><a class="ma52-download" href="t.csv" download>t.csv</a></p>
</main></body></html>"""


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")), reason="no chromium here")
def test_browser_check_sees_open_plumbing_and_cut_tables(tmp_path: Path) -> None:
    pytest.importorskip("playwright")
    cb = _check_book()
    wide = "x" * 200
    (tmp_path / "good.html").write_text(_PAGE.format(imports="x = 1", box="ma52-table scroll", wide=wide))
    (tmp_path / "bad.html").write_text(_PAGE.format(imports="import numpy as np", box="ma52-table clip", wide=wide))
    reports = cb.check_book(tmp_path, {"good.html": 1, "bad.html": 1}, widths=(390,), front=None)
    good, bad = (r.problems for r in reports)
    assert good == []
    assert any("imports: import numpy as np" in p for p in bad) and any("is cut" in p for p in bad)
    assert not any("parameters" in p for p in bad)  # folded in its <details>
