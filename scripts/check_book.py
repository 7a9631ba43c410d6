"""Browser check of the built book: every chapter opens, has its tables, and every image loaded.

    python scripts/check_book.py _build/html --screenshots _build/screenshots

Drives Debian's chromium (``/usr/bin/chromium``, ``apt-get install chromium``) headless through
playwright's Python package; playwright's own browser download is never used. Each chapter page is
opened from the file system at each window width (``--widths``: a 1280-px laptop and a 390-px phone),
checked, and saved as a full-page screenshot. Beside the tables, images and failure markers, it checks
that the page reads like a paper's companion: no parameters or imports cell open by default, a CSV under
every table and a PNG/SVG/GIF under every figure, no table cut at the edge of its box (a wide one must
scroll inside it), and a front page with the ledger's summary, the benchmark chart and the two commands. And
that it reads at a glance and offline: at most one fold before a chapter's first paragraph, the claims table's
claim, verdict and effect visible without scrolling at every width, every equation rendered (no raw TeX) and no
network request for a page's own rendering (math included).
Exits 1 with one line per problem, 2 when the browser or the book is missing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

# The least number of <table> a page must show (path under the HTML folder): the tables its chapter
# notebook displays. Pages are taken from _toc.yml; one not listed here needs none.
EXPECTED_TABLES: dict[str, int] = {
    "book/generated/ledger.html": 1,  # the claims with their verdicts
    "book/generated/dataset.html": 1,  # motion inside / outside the acting body part
    # main (with intervals), seeds, long tail, confused pairs, reversed pairs, separation
    "book/generated/benchmark.html": 6,
    "book/generated/ablations.html": 6,  # components, seeds, contrasts, lambda, segments, embeddings
    # environment, run times, 2 x configs, chapter times (+ the fault table in the smoke book)
    "book/generated/reproducibility.html": 5,
    "book/generated/study.html": 1,  # one row per lever
}

FRONT_PAGE = "book/intro.html"  # the root page in _toc.yml: it shows the recipe table (--profile)

# Text that marks a chapter that did not run to the end.
FAILURE_MARKERS: tuple[str, ...] = (
    "This chapter was not produced",  # the runner's placeholder (missing or never executed notebook)
    "An Exception was encountered at",  # papermill's banner above the failing cell
    "Execution using papermill encountered an exception",
)

CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
)

# Runs in the page: every <img> with its load state (complete and a decoded width).
_IMAGES_JS = """() => Array.from(document.images).map(img => ({
    src: img.getAttribute('src') || '', complete: img.complete, width: img.naturalWidth}))"""

WIDTHS: tuple[int, ...] = (1280, 390)  # a laptop window and a phone
FRONT_COMMANDS: tuple[str, ...] = ("make book", "make test")

# Runs in the page: what a reader sees of the plumbing, the downloads and the tables' boxes. A cell's input
# "shows" when the browser renders it (a folded <details> does not); a table is "cut" when an ancestor that
# clips (overflow other than visible) is narrower than the table and does not scroll.
_LAYOUT_JS = r"""() => {
  const main = document.querySelector('main') || document.body;
  const shows = el => !!el && el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
  const name = el => (el.id || (el.querySelector('caption, th, td') || {}).textContent || el.tagName)
      .trim().slice(0, 60);
  const linked = (el, exts) => !!el && Array.from(el.querySelectorAll('a.ma52-download, a[download]'))
      .some(a => exts.some(e => (a.getAttribute('href') || '').toLowerCase().endsWith(e)));
  const box = el => el.closest('div.cell_output') || el.closest('div.pst-scrollable-table-container')
      || el.closest('div.ma52-table') || el;
  const hasFile = (el, exts) => { const b = box(el); return linked(b, exts) || linked(b.nextElementSibling, exts); };
  const plumbing = [];
  main.querySelectorAll('div.cell').forEach((cell, i) => {
    const input = cell.querySelector('div.cell_input');
    if (!shows(input)) return;
    const tags = Array.from(cell.classList).filter(c => c.startsWith('tag_')).map(c => c.slice(4));
    const code = input.innerText;
    if (tags.includes('parameters') || tags.includes('injected-parameters'))
      plumbing.push(`cell ${i + 1} (${tags.join(', ')})`);
    else if (/^\s*(import \w|from [\w.]+ import )/m.test(code))
      plumbing.push(`cell ${i + 1} (imports: ${code.trim().split('\n')[0].slice(0, 50)})`);
  });
  const tables = Array.from(main.querySelectorAll('table')).filter(shows);
  const noCsv = tables.filter(t => !hasFile(t, ['.csv'])).map(name);
  const figures = Array.from(main.querySelectorAll('img')).filter(shows);
  const noFile = figures.filter(img => !hasFile(img, ['.png', '.svg', '.gif']))
      .map(img => (img.getAttribute('src') || '').split('/').pop());
  const cut = [];
  tables.forEach(t => {
    let seen = t.getBoundingClientRect();
    for (let el = t.parentElement; el && el !== document.documentElement; el = el.parentElement) {
      const style = getComputedStyle(el);
      if (style.overflowX === 'visible') continue;
      const r = el.getBoundingClientRect();
      if (seen.right > r.right + 1 || seen.left < r.left - 1) {
        if (style.overflowX !== 'auto' && style.overflowX !== 'scroll') { cut.push(name(t)); return; }
        seen = {left: Math.max(seen.left, r.left), right: Math.min(seen.right, r.right)};
      }
    }
    if (seen.right > window.innerWidth + 1) cut.push(name(t));
  });
  const chart = Array.from(document.images).some(img => /benchmark-chart/.test(img.getAttribute('src') || '')
      && img.complete && img.naturalWidth > 0);
  const code = Array.from(main.querySelectorAll('pre')).map(p => p.innerText).join('\n');
  const summary = Array.from(main.querySelectorAll('a'))
      .some(a => /generated\/ledger/.test(a.getAttribute('href') || '')
                 && /checks \d+ claims/.test((a.closest('p') || a).innerText));
  return {plumbing, noCsv, noFile, cut, chart, code, summary};
}"""


# The columns a claims table (one with a "claim" and a "verdict" column: the ledger) must show at every width
# without scrolling: a reader sees the claim, its verdict and our effect at a glance; the paper's evidence may follow.
CLAIM_COLUMNS: dict[str, str] = {"claim": "^claim", "verdict": "^verdict", "effect": "^ours|effect"}
MAX_FOLDS_BEFORE_TEXT = 1  # folded setup ("Show code cell content") above a chapter's first paragraph
EXPECTED_MATH: dict[str, int] = {"book/method.html": 1}  # pages with equations: the least number rendered

# Runs in the page: what a reader meets first and what the math and the claims table look like. A fold is an
# outermost <details> (a hide-cell) or a sphinx-togglebutton button; the first text is the first shown paragraph,
# list item, table or image of the article outside a fold and a cell's code. Math is rendered when its element
# holds an <svg>, <math>, MathJax's or KaTeX's output, and the article's text has no raw TeX delimiters.
# A claims-table column is hidden when its cell in the first row ends outside the window or outside an
# ancestor that clips or scrolls (a reader would have to scroll to read it).
_READING_JS = r"""(columns) => {
  const main = document.querySelector('main') || document.body;
  const article = main.querySelector('article') || main;
  const shows = el => !!el && el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
  const outside = el => !el.closest('details') && !el.closest('div.cell_input') && !el.closest('h1, h2, h3');
  const first = Array.from(article.querySelectorAll('p, li, table, img'))
      .find(el => shows(el) && outside(el) && (el.tagName === 'IMG' || el.innerText.trim() !== ''));
  const folds = Array.from(article.querySelectorAll('details, button.toggle-button'))
      .filter(el => !el.parentElement.closest('details'))
      .filter(el => !first || (el.compareDocumentPosition(first) & Node.DOCUMENT_POSITION_FOLLOWING));
  const maths = Array.from(article.querySelectorAll('div.math, span.math'));
  const rendered = maths.filter(m => m.querySelector('svg, math, mjx-container, .katex')).length;
  const text = article.innerText;
  const rawTex = ['\\[', '\\(', '$$'].filter(d => text.includes(d));
  const hidden = [];
  article.querySelectorAll('table').forEach(t => {
    const heads = Array.from(t.querySelectorAll('thead tr')).map(tr => Array.from(tr.children)
        .map(c => c.textContent.trim().toLowerCase()));
    const has = re => heads.some(h => h.some(c => re.test(c)));
    if (!has(/^verdict/) || !has(/^claim/)) return;
    const row = t.querySelector('tbody tr');
    if (!row) return;
    const cells = Array.from(row.children);
    Object.entries(columns).forEach(([what, pattern]) => {
      const re = new RegExp(pattern);
      const at = heads.map(h => h.findIndex(c => re.test(c))).find(i => i >= 0);
      const cell = at === undefined ? null : cells[at];
      if (!cell) { hidden.push(`${what} (no such column)`); return; }
      const r = cell.getBoundingClientRect();
      let ok = r.width > 0 && r.left >= -1 && r.right <= window.innerWidth + 1;
      for (let el = cell.parentElement; ok && el && el !== document.documentElement; el = el.parentElement) {
        if (getComputedStyle(el).overflowX === 'visible') continue;
        const b = el.getBoundingClientRect();
        if (r.right > b.right + 1 || r.left < b.left - 1) ok = false;
      }
      if (!ok) hidden.push(`${what} (its cell spans ${Math.round(r.left)}-${Math.round(r.right)} px)`);
    });
  });
  return {folds: folds.length, firstText: first ? first.innerText.trim().slice(0, 50) : null,
          maths: maths.length, rendered, rawTex, hidden};
}"""


@dataclass
class PageReport:
    """What the browser saw on one page."""

    page: str
    tables: int = 0
    images: int = 0
    problems: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)  # http(s) resources the page asked for (blocked)
    reading: dict = field(default_factory=dict)  # what _READING_JS saw (folds, math, claims columns)


def toc_pages(toc: Path) -> list[str]:
    """HTML pages of the book in _toc.yml order (``root`` and every ``file:`` entry)."""
    pages = []
    for number, line in enumerate(toc.read_text().splitlines(), start=1):
        match = re.match(r"^\s*(?:-\s*)?(root|file):\s*(\S+)\s*$", line.split("#", 1)[0])
        if match:
            pages.append(str(Path(match.group(2)).with_suffix(".html")))
        elif re.match(r"^\s*-?\s*(url|glob):", line):
            raise SystemExit(f"{toc}:{number}: this check reads only root/file entries, got {line.strip()!r}")
    if not pages:
        raise SystemExit(f"{toc} lists no pages (expected 'root:' and '- file:' entries)")
    return pages


def parse_expect(items: list[str]) -> dict[str, int]:
    """``["book/generated/x.html=3", ...]`` -> mapping; a clear error for a malformed item."""
    out = {}
    for item in items:
        page, sep, count = item.rpartition("=")
        if not sep or not page or not count.isdigit():
            raise SystemExit(f"--expect wants PAGE=COUNT (e.g. book/generated/benchmark.html=7), got {item!r}")
        out[page] = int(count)
    return out


def parse_widths(text: str) -> tuple[int, ...]:
    """``"1280,390"`` -> (1280, 390); a clear error for anything else."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise SystemExit(f"--widths wants window widths in px separated by commas (e.g. 1280,390), got {text!r}")
    return tuple(int(p) for p in parts)


def front_page_facts(profile: str) -> tuple[str, ...]:
    """What the front page must say for a book of ``profile``: every value of its column in the recipe table, as
    the page shows it (a `code span` loses its backticks)."""
    from ma52lib.chapters.frontpage import recipe_table

    return tuple(value.replace("`", "") for value in recipe_table(profile)[f"this book ({profile})"])


def find_chromium(explicit: str | None) -> str:
    """Path of the system chromium: --chromium, $CHROMIUM, or chromium on PATH."""
    for candidate in (explicit, os.environ.get("CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError(
        "no chromium found; install Debian's (`apt-get install -y chromium`) or pass --chromium /path/to/chromium"
    )


def layout_problems(seen: dict, where: str, *, front: bool = False) -> list[str]:
    """Problems in what ``_LAYOUT_JS`` saw on one page (``where``: page and width), the front page's included."""
    problems = [f"{where}: {what} shows by default; tag it hide-cell (or remove-input)" for what in seen["plumbing"]]
    problems += [f"{where}: table {t!r} has no CSV download under it (chapters.common.table)" for t in seen["noCsv"]]
    problems += [f"{where}: figure {f!r} has no PNG/SVG download under it (chapters.common.figure)"
                 for f in seen["noFile"]]
    problems += [f"{where}: table {t!r} is cut: wider than its box, which does not scroll" for t in seen["cut"]]
    if front:
        problems += [f"{where}: the front page lacks the ledger's summary (a link to the ledger that 'checks N claims')"
                     ] if not seen["summary"] else []
        problems += [f"{where}: the front page lacks the benchmark chart (an image benchmark-chart.png that loads)"
                     ] if not seen["chart"] else []
        problems += [f"{where}: the front page lacks the command `{c}`" for c in FRONT_COMMANDS
                     if c not in seen["code"]]
    return problems


def reading_problems(seen: dict, where: str, *, min_math: int = 0, external: list[str] = ()) -> list[str]:
    """Problems in what ``_READING_JS`` saw on one page: folds before the first text, math not rendered, claims
    columns a reader must scroll to, and ``external``, the http(s) requests of the page's own rendering."""
    problems = []
    if seen["folds"] > MAX_FOLDS_BEFORE_TEXT:
        problems.append(f"{where}: {seen['folds']} folds before the first paragraph ({seen['firstText']!r}); "
                        f"at most {MAX_FOLDS_BEFORE_TEXT}: one setup cell, parameters removed (remove-cell)")
    if seen["rendered"] < min_math or seen["rendered"] < seen["maths"]:
        problems.append(f"{where}: {seen['rendered']} of {seen['maths']} equation(s) rendered (expected at least "
                        f"{min_math}); math must render offline (html_math_renderer in _config.yml)")
    problems += [f"{where}: raw TeX {d} in the page's text (math not rendered)" for d in seen["rawTex"]]
    problems += [f"{where}: the claims table's {c} column is not visible without scrolling" for c in seen["hidden"]]
    problems += [f"{where}: asks the network for {u}; the book must render offline (serve it from the book)"
                 for u in external]
    return problems


def _screenshot(page, shots: Path, rel: str, width: int) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    stem = rel.replace("/", "_").removesuffix(".html")
    page.screenshot(path=str(shots / f"{stem}@{width}.png"), full_page=True)


def check_page(page, html_dir: Path, rel: str, min_tables: int, shots: Path | None,
               texts: tuple[str, ...] = (), *, front: bool = False) -> PageReport:
    """Open one page, count its tables, check its images, failure markers, ``texts`` and layout (plumbing hidden,
    downloads, tables not cut; the front page's parts when ``front``), save a screenshot."""
    width = page.viewport_size["width"]
    report = PageReport(f"{rel} @{width}px")
    path = html_dir / rel
    if not path.exists():
        report.problems.append(f"{rel}: page missing from {html_dir} (is the chapter in _toc.yml, did the build run?)")
        return report
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.wait_for_load_state("networkidle")
    body = page.inner_text("main") if page.query_selector("main") else page.inner_text("body")
    marker = next((m for m in FAILURE_MARKERS if m in body), None)
    if marker:
        report.problems.append(f"{rel}: the chapter did not run to the end (page says {marker!r})")
    flat = " ".join(body.split())
    report.problems += [f"{rel}: does not say {t!r}" for t in texts if " ".join(t.split()) not in flat]
    report.tables = page.locator("main table").count() if page.query_selector("main") else page.locator("table").count()
    if report.tables < min_tables:
        report.problems.append(f"{rel}: {report.tables} table(s), expected at least {min_tables}")
    images = page.evaluate(_IMAGES_JS)
    report.images = len(images)
    for img in images:
        if not img["complete"] or img["width"] == 0:
            report.problems.append(f"{rel}: image {img['src']!r} did not load (naturalWidth 0)")
    report.problems += layout_problems(page.evaluate(_LAYOUT_JS), report.page, front=front)
    report.reading = page.evaluate(_READING_JS, CLAIM_COLUMNS)
    if shots is not None:
        _screenshot(page, shots, rel, width)
    return report


def check_book(html_dir: Path, expected: dict[str, int], *, shots: Path | None = None,
               chromium: str | None = None, widths: tuple[int, ...] = WIDTHS,
               texts: dict[str, tuple[str, ...]] | None = None, front: str | None = FRONT_PAGE) -> list[PageReport]:
    """Check every page of ``expected`` at each of ``widths`` in headless chromium (and that it says
    ``texts[page]``; ``front`` is the page that must show the summary, chart and commands); one report each."""
    from playwright.sync_api import sync_playwright

    exe = find_chromium(chromium)
    reports = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=list(CHROMIUM_FLAGS))
        failed: list[str] = []
        try:
            for width in widths:
                page = browser.new_page(viewport={"width": width, "height": 900})
                # The check runs offline and must not depend on the network: http(s) requests are refused
                # and listed; a local file that fails to load (a missing image or stylesheet) is a problem.
                page.route("http*://**", lambda route: route.abort())
                page.on("requestfailed", lambda req: failed.append(req.url))
                for rel, count in expected.items():
                    failed.clear()
                    report = check_page(page, html_dir, rel, count, shots, (texts or {}).get(rel, ()),
                                        front=rel == front)
                    report.external = sorted({u for u in failed if u.startswith(("http://", "https://"))})
                    report.problems += [f"{rel}: could not load {u}" for u in failed if u.startswith("file:")]
                    if report.reading:
                        report.problems += reading_problems(report.reading, report.page,
                                                            min_math=EXPECTED_MATH.get(rel, 0),
                                                            external=report.external)
                    reports.append(report)
                page.close()
        finally:
            browser.close()
    return reports


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("html_dir", type=Path, help="the built book (e.g. _build/html)")
    p.add_argument("--screenshots", type=Path, help="save a full-page PNG of every page here")
    p.add_argument("--expect", action="append", default=[], metavar="PAGE=COUNT",
                   help="least number of tables on PAGE (path under html_dir); adds or replaces a default")
    p.add_argument("--chromium", help="chromium executable (default: $CHROMIUM or chromium on PATH)")
    p.add_argument("--widths", default=",".join(map(str, WIDTHS)), metavar="W,W",
                   help="window widths in px to check each page at (default: %(default)s, a laptop and a phone)")
    p.add_argument("--toc", type=Path, default=Path(__file__).resolve().parent.parent / "_toc.yml",
                   help="the book's table of contents (default: _toc.yml of this checkout)")
    p.add_argument("--profile", choices=["smoke", "cpu", "paper"],
                   help="the profile the book was built with: its front page must state that profile's recipe "
                   "as `ma52 config --profile PROFILE` gives it")
    args = p.parse_args(argv)

    if not (args.html_dir / "index.html").exists():
        print(f"error: {args.html_dir / 'index.html'} not found; build the book first (make book-smoke)",
              file=sys.stderr)
        return 2
    extra = parse_expect(args.expect)
    wanted = {**EXPECTED_TABLES, **extra}
    expected = {page: wanted.get(page, 0) for page in toc_pages(args.toc)}
    expected.update({page: n for page, n in extra.items() if page not in expected})  # pages outside the toc
    try:
        reports = check_book(args.html_dir, expected, shots=args.screenshots, chromium=args.chromium,
                             widths=parse_widths(args.widths),
                             texts={FRONT_PAGE: front_page_facts(args.profile)} if args.profile else None)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problems = [msg for r in reports for msg in r.problems]
    for r in reports:
        state = "ok" if not r.problems else f"{len(r.problems)} problem(s)"
        print(f"{r.page}: {r.tables} table(s), {r.images} image(s): {state}")
    if args.screenshots:
        print(f"screenshots in {args.screenshots}")
    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stderr)
        for msg in problems:
            print(f"  - {msg}", file=sys.stderr)
        return 1
    print("book check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
