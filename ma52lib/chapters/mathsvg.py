"""The book's math, drawn at build time as inline SVG with matplotlib's mathtext (a Sphinx extension).

The book is read from disk and built offline: MathJax from a CDN would leave raw TeX (``\\[\\mathcal{L} = ...``)
on the page, and no JavaScript math package is in the pinned environment. ``_config.yml`` loads this module
(``sphinx.extra_extensions``) and picks it as the HTML math renderer (``html_math_renderer: ma52svg``), so every
``$...$`` and ``$$...$$`` becomes an ``<svg>`` in the page itself, with its TeX kept as the accessible label.
"""

from __future__ import annotations

import html
import io
import re
from functools import lru_cache
from typing import Any

RENDERER = "ma52svg"
FONT_PT = 11.0  # mathtext's size; the SVG is scaled to the text around it through its size in em
_TEXT_PT = 9.5  # mathtext's points per em of the page's text (Computer Modern draws small beside the theme's sans)


@lru_cache(maxsize=256)
def tex_to_svg(tex: str, *, display: bool = False) -> str:
    """``tex`` (without dollars) as a self-contained ``<svg>`` element sized in em, its baseline on the text's
    (inline) or centred (display). Raises ValueError with the TeX when mathtext cannot parse it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import MathTextParser

    source = f"${' '.join(tex.split())}$"
    prop = FontProperties(size=FONT_PT, math_fontfamily="cm")
    try:
        width, height, depth, *_ = MathTextParser("path").parse(source, dpi=72, prop=prop)
    except ValueError as exc:
        raise ValueError(f"mathtext cannot draw {tex!r} (use the TeX subset matplotlib knows): {exc}") from exc
    fig = Figure(figsize=(width / 72, height / 72))
    fig.text(0, depth / height, source, fontproperties=prop)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": tex}):
        fig.savefig(buf, format="svg", transparent=True, metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # no XML header or doctype inside HTML
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r"\s*<style[^>]*>.*?</style>", "", svg, flags=re.S)  # its '*{...}' would apply to the whole page
    em = _TEXT_PT
    style = f"width:{width / em:.3f}em;height:{height / em:.3f}em;"
    style += "display:block;margin:0 auto;max-width:100%" if display else f"vertical-align:{-depth / em:.3f}em"
    label = html.escape(tex.strip(), quote=True)
    return re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"',
                  lambda m: f'<svg {m.group(1)}role="img" aria-label="{label}" fill="currentColor" style="{style}"',
                  svg, count=1)  # the glyphs take the text's colour (the theme's dark mode included)


def _visit_inline(self: Any, node: Any) -> None:
    from docutils import nodes

    self.body.append(f'<span class="math ma52-math">{tex_to_svg(node.astext())}</span>')
    raise nodes.SkipNode


def _visit_block(self: Any, node: Any) -> None:
    from docutils import nodes

    number = ""
    if node.get("number") is not None:
        number = f'<span class="eqno">({node["number"]})</span>'
    self.body.append(self.starttag(node, "div", CLASS="math ma52-math notranslate nohighlight")
                     + number + tex_to_svg(node.astext(), display=True) + "</div>\n")
    raise nodes.SkipNode


def setup(app: Any) -> dict[str, Any]:
    """Register the renderer (picked by ``html_math_renderer: ma52svg`` in _config.yml)."""
    app.add_html_math_renderer(RENDERER, (_visit_inline, None), (_visit_block, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}


__all__ = ["RENDERER", "setup", "tex_to_svg"]
