"""What the book's pages are made of: tables and figures with their files (chapters.common), the rerun section,
the front page's commands, and the browser check's layout rules (scripts/check_book.py)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest

from ma52lib.chapters import common, frontpage
from ma52lib.chapters.reproduce import CHAPTERS
from ma52lib.commands.reproduce import add_parser
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


@pytest.mark.parametrize("params_tags, expected", [
    (["parameters", "remove-cell"], ["injected-parameters", "remove-cell"]),  # the chapters: both off the page
    (["parameters", "hide-cell"], ["injected-parameters", "hide-cell"]),
    (["parameters"], ["injected-parameters", "hide-cell"])])  # a notebook that says nothing: folded
def test_hide_injected_parameters_tags_papermills_cell_like_the_parameters(tmp_path: Path, params_tags: list[str],
                                                                         expected: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "smoke"')
    params.metadata["tags"] = params_tags
    injected = nbformat.v4.new_code_cell('profile = "cpu"')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [params, injected, nbformat.v4.new_code_cell("x = 1")]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    common.hide_injected_parameters(path)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[1].metadata["tags"] == expected and "tags" not in cells[2].metadata


def test_claims_table_puts_the_verdict_next_to_the_claim(generated: Path) -> None:
    df = pd.DataFrame({"claim": ["MANet beats TSN", "the loss helps"], "paper's evidence": ["+3.1", "not public"],
                       "ours (points, 95% CI)": ["+2 [1, 3]", "+0.5 [-2, 3]"],
                       "verdict": ["supported", "inconclusive at this size (4x the clips)"]}).set_index("claim")
    shown = common.claims_table(df, "ledger", first=("ours (points, 95% CI)", "renamed since"))
    heads = re.findall(r'<th scope="col">([^<]*)</th>', shown.html)
    assert heads == ["claim", "verdict", "ours (points, 95% CI)", "paper&#x27;s evidence"]
    assert '<span class="ma52-verdict ma52-verdict-supported">supported</span>' in shown.html
    assert "ma52-verdict-inconclusive" in shown.html and 'data-label="ours (points, 95% CI)"' in shown.html
    assert (generated / "site" / "downloads" / "ledger.csv").read_text() == df.to_csv()  # the CSV as the ledger
    assert [common.verdict_class(v) for v in ("contradicted", "no effect of the paper's size",
                                              "not comparable: TSN did not learn")] == [
        "ma52-verdict-contradicted", "ma52-verdict-no-effect", "ma52-verdict-undecided"]


def _parameters_notebook(path: Path, source: str) -> nbformat.NotebookNode:
    """A notebook at ``path`` whose one cell, tagged ``parameters``, is ``source``."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nbformat.write(nb, path)
    return nb


def test_notebook_parameters_reads_names_defaults_and_comments(tmp_path: Path) -> None:
    nb = _parameters_notebook(tmp_path / "x.ipynb", 'profile = "smoke"  # smoke or cpu\ntop_pairs = 10  # rows of '
                              'the table\n# that the chapter shows\nsplit = "test"')
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


def test_a_none_default_is_stated_per_profile_from_the_code(tmp_path: Path) -> None:
    _parameters_notebook(tmp_path / "x.ipynb", "n_seeds = None  # seeds; None: the profile's\n"
                         "sizes = None  # None: the profile's\nruns = 5  # refits")
    seeds = ", ".join(f"{p} {len(s)}" for p, s in common.SEEDS.items())
    text = common.rerun_markdown("x", tmp_path / "x.ipynb", defaults={"cpu": {"sizes": (4, 8)}, "paper": {"runs": 2}})
    assert f"- **n_seeds** = `None`: seeds; None: the profile's ({seeds}); set with" in text
    assert "- **sizes** = `None`: None: the profile's (cpu 4, 8); set with" in text
    assert "- **runs** = `5`: refits; set with" in text  # a value of its own: no profile's stated


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
        # the parameters are off the page (the rerun section lists them, the executed notebook has them)
        assert tags[0] == ["parameters", "remove-cell"], chapter
        # then the setup, one fold at most, and the result: its output shows, not its code
        first_shown = next(i for i, t in enumerate(tags) if i > 0 and "hide-cell" not in t)
        assert first_shown <= 2 and all(t == ["hide-cell"] for t in tags[1:first_shown]), chapter
        assert tags[first_shown][0] == "remove-input" and set(tags[first_shown]) <= {"remove-input", "full-width"}, \
            chapter
        off_page = {"hide-cell", "remove-cell"}
        assert all("import " not in c.source for c, t in zip(code, tags) if not off_page & set(t)), chapter
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.count("\n") == 0, chapter  # the title


def test_front_page_commands_come_from_the_makefile(tmp_path: Path) -> None:
    text = frontpage.make_commands(project_root() / "Makefile")
    assert text.startswith("```console\n# build the Jupyter Book") and "\nmake book\n" in text
    assert "# run the linter (ruff) and the test suite\nmake test\n```" in text
    assert "$(PROFILE)" not in text and "(profile cpu)" in text  # what `make book` builds
    (tmp_path / "Makefile").write_text('help:\n\t@echo "make book   build it"\n')
    with pytest.raises(ValueError, match="does not describe `make test`"):
        frontpage.make_commands(tmp_path / "Makefile")


def test_front_page_files(generated: Path) -> None:
    frontpage.write_front_page(generated, "smoke", None)
    assert (generated / "site" / "downloads" / "recipe.csv").exists()  # html_extra_path must exist at build
    assert 'href="../downloads/recipe.csv"' in (generated / "recipe.md").read_text()
    assert "has not run in this build yet" in (generated / frontpage.CHART_FILE).read_text()
    frontpage.write_front_chart("benchmark-chart.png", "MANet is first.")
    chart = (generated / frontpage.CHART_FILE).read_text()
    assert chart.startswith("MANet is first.") and 'src="../downloads/benchmark-chart.png"' in chart
    frontpage.write_front_page(generated, "smoke", None)  # a later build keeps the chart the benchmark wrote
    assert (generated / frontpage.CHART_FILE).read_text() == chart


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


def test_reading_problems_name_each_rule() -> None:
    cb = _check_book()
    seen = {"folds": 3, "firstText": "The paper compares", "maths": 1, "rendered": 0, "rawTex": ["\\["],
            "hidden": ["verdict (its cell spans 900-1100 px)"]}
    problems = cb.reading_problems(seen, "m.html @1280px", min_math=1,
                                   external=["https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"])
    assert any("3 folds before the first paragraph ('The paper compares')" in p for p in problems)
    assert any("0 of 1 equation(s) rendered" in p for p in problems) and any("raw TeX \\[ in" in p for p in problems)
    assert any("claims table's verdict (its cell spans 900-1100 px) column is not visible" in p for p in problems)
    assert any("asks the network for https://cdn.jsdelivr.net" in p for p in problems)
    clean = {"folds": 1, "firstText": "x", "maths": 1, "rendered": 1, "rawTex": [], "hidden": []}
    assert cb.reading_problems(clean, "x", min_math=1) == []
    assert cb.reading_problems({**clean, "maths": 0, "rendered": 0}, "x", min_math=1) != []  # the method's equation


def test_math_is_drawn_at_build_time_as_inline_svg() -> None:
    from ma52lib.chapters.mathsvg import tex_to_svg

    svg = tex_to_svg(r"\mathcal{L} = \mathrm{CE}(\bar z, y) + \lambda \cdot \mathrm{MSE}(\bar e, E_y)", display=True)
    assert svg.startswith("<svg ") and 'role="img"' in svg and "<path" in svg and "http://www.w3.org/1999" in svg
    assert 'aria-label="\\mathcal{L} = ' in svg and "display:block" in svg and "<metadata>" not in svg
    assert "vertical-align:" in tex_to_svg(r"52 \times D")  # inline: on the text's baseline
    with pytest.raises(ValueError, match="mathtext cannot draw"):
        tex_to_svg(r"\frac{1}")


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


_READING_PAGE = """<html><head><style>.scroll {{ width: 300px; overflow-x: auto; }}</style></head><body><main><article>
<h1>Ledger</h1>{folds}<p>The ledger checks 2 claims.</p>
<div class="ma52-table scroll"><table><thead><tr><th>claim</th><th>{cols}</th></tr></thead>
<tbody><tr><th>MANet beats TSN</th><td>{cells}</td></tr></tbody></table></div>
<p class="ma52-download"><a class="ma52-download" href="t.csv" download>t.csv</a></p>
<div class="math notranslate nohighlight">{math}</div>
</article></main></body></html>"""


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")), reason="no chromium here")
def test_browser_check_sees_folds_hidden_verdicts_and_raw_math(tmp_path: Path) -> None:
    pytest.importorskip("playwright")
    cb = _check_book()
    fold = '<details class="hide above-input"><summary>Show code cell content</summary><pre>x = 1</pre></details>'
    wide = "x" * 150
    (tmp_path / "good.html").write_text(_READING_PAGE.format(
        folds=fold, cols="verdict</th><th>ours</th><th>paper's evidence", cells="supported</td><td>+2</td><td>" + wide,
        math='<svg width="40" height="10" role="img" aria-label="x"></svg>'))
    (tmp_path / "bad.html").write_text(_READING_PAGE.format(
        folds=fold * 3, cols="paper's evidence</th><th>ours</th><th>verdict",
        cells=wide + "</td><td>+2</td><td>supported",
        math=r"\[\mathcal{L} = 1\]"))
    cb.EXPECTED_MATH.update({"good.html": 1, "bad.html": 1})
    reports = cb.check_book(tmp_path, {"good.html": 1, "bad.html": 1}, widths=(1280,), front=None)
    good, bad = (r.problems for r in reports)
    assert good == [], good
    assert any("3 folds before the first paragraph ('The ledger checks 2 claims.')" in p for p in bad)
    assert any("claims table's verdict" in p for p in bad) and any("claims table's effect" in p for p in bad)
    assert not any("claims table's claim" in p for p in bad)
    assert any("0 of 1 equation(s) rendered" in p for p in bad) and any("raw TeX \\[" in p for p in bad)
