"""What several chapters share: the experiments' base config, training a set of configs, names and columns.

Every number a chapter shows comes from a run folder (``results.json``); the paper's numbers come only
from each model's facts (``ma52lib.models.paper_results``) and are labelled as the paper's.
"""

from __future__ import annotations

import ast
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from ma52lib import stats
from ma52lib.config import Config, make_config, set_field
from ma52lib.data.lists import labels_path, list_path, read_list
from ma52lib.engine.evaluate import load_predictions
from ma52lib.engine.train import TrainingError, train
from ma52lib.files import atomic_write_bytes
from ma52lib.labels import NUM_CLASSES
from ma52lib.paths import generated_dir, project_root

NOT_PUBLIC = "not public"
# Seeds of the claims' core contrasts (TSN, TSM, MANet, MANet without the joint-embedding loss); every
# other run is one seed and says so. Seed k changes the initialisation, the data order and augmentation.
# A profile's number is a budget (its reason: config.DEPARTURES); `--seeds N` (`make book SEEDS=N`) trains N of each
# for intervals over the seed-to-seed spread, and `make book SEEDS=N PLAN=1` says how many runs more and how long.
SEEDS: dict[str, tuple[int, ...]] = {"smoke": (0, 1), "cpu": (0,), "paper": (0, 1, 2)}
HEADLINE: tuple[str, ...] = ("action_top1", "body_top1", "f1_mean")  # metrics shown with intervals

# Columns of the main table, in the paper's order.
TABLE_COLUMNS: tuple[str, ...] = ("body_top1", "action_top1", "action_top5", "body_f1_macro", "body_f1_micro",
                                  "action_f1_macro", "action_f1_micro", "f1_mean")
COLUMN_TITLES = {"body_top1": "Body top-1", "action_top1": "Action top-1", "action_top5": "Action top-5",
                 "body_f1_macro": "Body F1 macro", "body_f1_micro": "Body F1 micro",
                 "action_f1_macro": "Action F1 macro", "action_f1_micro": "Action F1 micro", "f1_mean": "F1_mean"}


def base_config(profile: str, data_root: str | None, seed: int = 0, **overrides: Any) -> Config:
    """The profile's config on ``data_root`` (None -> MA-52-Synth) with dotted overrides."""
    over = {"data.root": data_root, "runtime.seed": seed, **{k.replace("__", "."): v for k, v in overrides.items()}}
    return make_config(profile, over)


class RunSet(dict):
    """Run folders by label (a dict), plus ``failed``: label -> why a run stopped (e.g. a NaN loss)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failed: dict[str, str] = {}

    def __missing__(self, label: str) -> Path:
        if label in self.failed:  # a chapter asking for a stopped run learns why, not a bare KeyError
            raise TrainingError(f"the run {label!r} stopped: {self.failed[label]}")
        raise KeyError(label)


def run_configs(configs: dict[str, Config], *, echo: Callable[[str], None] = print) -> RunSet:
    """Train each config in turn (a finished identical run is reused; an unfinished one resumed).

    A run that stops with a TrainingError (a diverging loss) does not stop the others: it is left out
    of the returned runs and listed in ``.failed``, so the tables show it as failed, not as a number.
    """
    runs = RunSet()
    for label, cfg in configs.items():
        echo(f"== {label}")
        try:
            runs[label] = train(cfg, resume=True, echo=echo)
        except TrainingError as exc:
            runs.failed[label] = str(exc).split(";")[0]
            echo(f"!! {label} failed: {exc}")
    return runs


@dataclass
class ChapterRuns:
    """The runs a chapter needs, as its module's ``chapter_runs`` says (its notebook trains them, the ledger reads
    them, ``ma52 reproduce --plan`` times them): configs by key, and the seeded ones by name and seed."""

    configs: dict[str, Config] = field(default_factory=dict)  # "tsn", "lambda/lambda=50", ...
    seeded: dict[str, dict[int, Config]] = field(default_factory=dict)  # "tsn" -> {seed: config}

    def labelled(self) -> dict[str, Config]:
        """Every config under one label: its key, or ``name@seed``."""
        return {**self.configs, **{f"{n}@{s}": c for n, by in self.seeded.items() for s, c in by.items()}}

    def train(self, *, echo: Callable[[str], None] = print) -> tuple[RunSet, dict[str, RunSet]]:
        """Train (or reuse) every run: the folders by key, and by name and seed."""
        return run_configs(self.configs, echo=echo), {n: run_configs(by, echo=echo) for n, by in self.seeded.items()}


def seeds_of(profile: str, seed: int = 0, n_seeds: int | None = None) -> tuple[int, ...]:
    """The seeds of the core contrasts, starting at the book's ``seed``: ``n_seeds`` of them (``ma52 reproduce
    --seeds N``), or the profile's default number (``SEEDS``)."""
    if n_seeds is None:
        return tuple(seed + k for k in SEEDS.get(profile, (0,)))
    if int(n_seeds) < 1:
        raise ValueError(f"n_seeds must be at least 1, got {n_seeds}")
    return tuple(seed + k for k in range(int(n_seeds)))


def with_seed(cfg: Config, seed: int) -> Config:
    """``cfg`` with another ``runtime.seed``."""
    return set_field(cfg, "runtime.seed", seed)


def scored(run_dir: str | Path, split: str = "test") -> tuple[stats.Scored, str]:
    """A finished run's per-clip predictions on ``split`` (val where test labels are withheld), and the split."""
    probs, labels, used = load_predictions(Path(run_dir), split)
    return stats.Scored.from_probs(probs, labels), used


def interval_of(run_dir: str | Path, metric: str, split: str = "test") -> stats.Interval:
    """``metric`` of a run with its 95% bootstrap interval over the scored clips."""
    return stats.interval(scored(run_dir, split)[0], metric)


def echo_brief(line: str) -> None:
    """An ``echo`` for ``run_configs`` that prints one line per run (its label and outcome), not every epoch."""
    if line.startswith(("== ", "reusing finished run", "done:", "resumed from")):
        print(line, flush=True)


def labelled(root: str | Path, split: str) -> list[tuple[str, int]]:
    """(file, true label) of a split; test labels come from test_labels.txt when present."""
    path = labels_path(root, split) or list_path(root, split)
    return [(c.path, c.label) for c in read_list(path)]


def class_counts(root: str | Path, split: str = "train") -> np.ndarray:
    """Clips per fine class ``[52]`` of ``split`` of a dataset folder (test: its true labels where present)."""
    labels = np.asarray([label for _, label in labelled(root, split)], dtype=np.int64)
    return np.bincount(labels, minlength=NUM_CLASSES)


# -- what the book shows: tables and figures with their files, the rerun section ------------------------------

# Downloads live in book/generated/site/downloads/; _config.yml's html_extra_path copies book/generated/site/ to
# the HTML root, so a chapter page (book/generated/NAME.html) reaches them at ../../downloads/.
SITE, DOWNLOADS = "site", "downloads"
CHAPTER_DEPTH = 2  # folders between the HTML root and a chapter page (book/generated/)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def downloads_dir(out_dir: Path | None = None) -> Path:
    """Where the tables' CSV and the figures' PNG files are written (created when missing)."""
    folder = (out_dir or generated_dir()) / SITE / DOWNLOADS
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def download_link(file: str, depth: int = CHAPTER_DEPTH) -> str:
    """The HTML line under a table or figure: a link to ``file`` in the downloads folder, ``depth`` folders up."""
    href = "../" * depth + f"{DOWNLOADS}/{file}"
    return (f'<p class="ma52-download">Download: <a class="ma52-download" href="{html.escape(href)}" '
            f'download>{html.escape(file)}</a></p>')


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"download name {name!r}: use lower-case letters, digits and '-' (e.g. 'benchmark-main')")
    return name


class Shown:
    """What a chapter cell displays: HTML for the book (a table in its scrolling box, a download link)."""

    def __init__(self, html_text: str, path: Path) -> None:
        self.html, self.path = html_text, path

    def _repr_html_(self) -> str:
        return self.html


def table(df: Any, name: str, *, depth: int = CHAPTER_DEPTH) -> Shown:
    """``df`` (a DataFrame or a pandas Styler) in a box that scrolls sideways, its CSV written as ``name``.csv
    into the downloads folder and linked under it. Display the result (last line of a cell, or ``display``)."""
    data = df.data if hasattr(df, "data") and not isinstance(df, pd.DataFrame) else df
    body = df.to_html() if not isinstance(df, pd.DataFrame) else df.to_html(border=0)
    return _boxed(data, body, name, depth)


def _boxed(data: pd.DataFrame, body: str, name: str, depth: int) -> Shown:
    """A table's HTML ``body`` in its scrolling box, ``data`` written as ``name``.csv and linked under it."""
    path = downloads_dir() / f"{_checked(name)}.csv"
    atomic_write_bytes(path, data.to_csv().encode())
    return Shown(f'<div class="ma52-table">{body}</div>\n{download_link(path.name, depth)}', path)


# A verdict's colour class by its first words (the word itself always shows: colour is never the only mark).
VERDICT_CLASSES: tuple[tuple[str, str], ...] = (
    ("supported", "supported"), ("contradicted", "contradicted"), ("no effect", "no-effect"),
    ("inconclusive", "inconclusive"), ("not ", "undecided"))


def verdict_class(verdict: str) -> str:
    """The CSS class of a verdict (``ma52-verdict-supported``, ...); ``undecided`` for the not-* ones."""
    text = verdict.strip().lower()
    return "ma52-verdict-" + next((cls for start, cls in VERDICT_CLASSES if text.startswith(start)), "undecided")


def claims_table(df: pd.DataFrame, name: str, *, verdict: str = "verdict", first: tuple[str, ...] = (),
                 depth: int = CHAPTER_DEPTH) -> Shown:
    """A table of claims (``df``'s index) read at a glance: the ``verdict`` column right after the claim, marked
    by its word and a colour, then ``first`` and the other columns; the text wraps, and on a phone every row is a
    card of labelled lines (book/_static/ma52.css). Its CSV (``name``.csv, linked under it) keeps ``df`` as is."""
    lead = [verdict, *[c for c in first if c in df.columns and c != verdict]]  # a renamed column just follows
    columns = [*lead, *[c for c in df.columns if c not in lead]]
    esc = html.escape
    head = "".join(f'<th scope="col">{esc(str(c))}</th>' for c in [df.index.name or "", *columns])
    rows = []
    for key, row in df[columns].iterrows():
        cells = [f'<th scope="row" data-label="{esc(str(df.index.name or ""))}">{esc(str(key))}</th>']
        for col in columns:
            value, label = esc(str(row[col])), esc(str(col))
            if col == verdict:
                value = f'<span class="ma52-verdict {verdict_class(str(row[col]))}">{value}</span>'
            cells.append(f'<td data-label="{label}">{value}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    body = (f'<table class="ma52-claims"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")
    return _boxed(df, body, name, depth)


def figure(fig: Any, name: str, *, depth: int = CHAPTER_DEPTH, dpi: int = 120) -> None:
    """Save ``fig`` (matplotlib Figure, or a seaborn grid) as ``name``.png into the downloads folder, display it
    with its link under it, and close it (so the notebook does not show it twice). Returns nothing, so that a
    cell ending with it shows no value; the file is ``downloads_dir() / f"{name}.png"``."""
    import matplotlib.pyplot as plt
    from IPython.display import HTML, Image, display

    path = downloads_dir() / f"{_checked(name)}.png"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    display(Image(data=buf.getvalue(), format="png"), HTML(download_link(path.name, depth)))
    plt.close(getattr(fig, "figure", fig))


def hide_injected_parameters(notebook: Path) -> None:
    """Tag papermill's injected-parameters cell of an executed notebook like the parameters cell above it
    (``remove-cell``, the chapters' way, or ``hide-cell``; papermill tags it only ``injected-parameters``): the
    book shows the two alike, and the executed notebook (the page's download button) keeps both."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    params = next((c.metadata["tags"] for c in nb.cells if "parameters" in c.metadata.get("tags", [])), [])
    how = [t for t in params if t in ("remove-cell", "hide-cell")] or ["hide-cell"]
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    for cell in cells:
        cell.metadata["tags"] = [*cell.metadata["tags"], *how]
    if cells:
        nbformat.write(nb, notebook)


# The flags of `ma52 reproduce` that set a chapter parameter (chapters.reproduce._chapter_params passes them).
REPRODUCE_FLAGS = {"profile": "--profile smoke|cpu|paper (make book PROFILE=...)", "data_root": "--data-root PATH",
                   "seed": "--seed N", "n_seeds": "--seeds N (make book SEEDS=N)",
                   "extra_models": "--extra-model PKG.MODULE:FACTORY", "train": "--study (make book-study)"}


def notebook_parameters(notebook: Path) -> list[tuple[str, str, str]]:
    """(name, default, comment) of each line of a notebook's ``parameters`` cell; comment-only lines continue the
    comment above them."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cell = next((c for c in nb.cells if "parameters" in c.metadata.get("tags", [])), None)
    if cell is None:
        raise ValueError(f"{notebook} has no cell tagged 'parameters'")
    out: list[tuple[str, str, str]] = []
    for line in cell.source.splitlines():
        code, _, comment = line.partition("#")
        if not code.strip() and out:
            name, default, before = out[-1]
            out[-1] = (name, default, f"{before} {comment.strip()}".strip())
        elif "=" in code:
            name, _, default = code.partition("=")
            ast.parse(default.strip(), mode="eval")  # a value papermill can replace, never a statement
            out.append((name.strip(), default.strip(), comment.strip()))
    return out


def profile_defaults(by_profile: Mapping[str, Mapping[str, Any]], name: str) -> str:
    """Parameter ``name``'s value in each profile of ``by_profile`` (profile -> parameter -> value), in words:
    ``"smoke 2, cpu 1, paper 3"``, or ``"cpu 0, 10, 50; paper 0, 10, 50, 100"`` for sequences."""
    values = {profile: given[name] for profile, given in by_profile.items() if name in given}
    several = any(isinstance(v, (tuple, list)) for v in values.values())
    return ("; " if several else ", ").join(f"{profile} {_words(v)}" for profile, v in values.items())


def _words(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ", ".join(map(_words, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def rerun_markdown(chapter: str, notebook: Path | None = None,
                   defaults: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The chapter's parameters in words, each with how to change it: a `ma52 reproduce` flag where one sets it,
    else papermill's ``-p`` on the notebook (then ``ma52 reproduce`` rebuilds the book). A parameter whose default
    is None gets each profile's value from ``defaults`` (profile -> parameter -> value; ``n_seeds``: ``SEEDS``)."""
    notebook = notebook or project_root() / "notebooks" / f"{chapter}.ipynb"
    by_profile = {profile: {"n_seeds": len(seeds), **(defaults or {}).get(profile, {})}
                  for profile, seeds in SEEDS.items()}
    lines = ["`make book` (`ma52 reproduce --profile cpu`) makes this chapter with the others, `make book-smoke` the "
             "tiny book in minutes; a chapter is executed again only when its inputs change. Its parameters, with the "
             "notebook's defaults:", ""]
    by_hand = []
    for name, default, comment in notebook_parameters(notebook):
        how = f"`ma52 reproduce {REPRODUCE_FLAGS[name].split(' (')[0]}`" if name in REPRODUCE_FLAGS else \
            f"`-p {name} VALUE`"
        words = f": {comment}" if comment else ""
        if default == "None" and any(name in values for values in by_profile.values()):
            words += f" ({profile_defaults(by_profile, name)})"
        lines.append(f"- **{name}** = `{default}`{words}; set with {how}")
        by_hand += [] if name in REPRODUCE_FLAGS else [name]
    if by_hand:
        lines += ["", f"The `-p` ones are the notebook's own: `papermill notebooks/{chapter}.ipynb "
                  f"book/generated/{chapter}.ipynb -p profile cpu -p {by_hand[0]} VALUE` runs it (from the checkout, "
                  "`-y` for lists), `jupyter-book build .` rebuilds the HTML, and `ma52 reproduce --force --only "
                  f"{chapter}` brings back the defaults."]
    return "\n".join(lines) + "\n"


__all__ = [
    "COLUMN_TITLES", "ChapterRuns", "HEADLINE", "NOT_PUBLIC", "SEEDS", "TABLE_COLUMNS", "RunSet", "Shown",
    "VERDICT_CLASSES", "base_config", "claims_table",
    "class_counts", "download_link", "downloads_dir", "echo_brief", "figure",
    "hide_injected_parameters",
    "interval_of", "labelled", "notebook_parameters", "profile_defaults", "rerun_markdown", "run_configs", "scored",
    "seeds_of", "table",
    "verdict_class", "with_seed",
]
