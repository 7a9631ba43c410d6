"""The package's shape: the library does not import the book's machinery, and no two modules import each other.

Read from the source (every import statement, at module level or inside a function), so a circle that
only closes at run time is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ma52lib"


def _imports() -> dict[str, set[str]]:
    """Module name -> the ma52lib modules it imports (``from a.b import c`` counts ``a.b.c`` when it is a module)."""
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        # A submodule importing its own parent package is the import system at work, not a dependency.
        graph[name] = {m for m in found if m in files and m != name and not name.startswith(m + ".")}
    return graph


def test_nothing_in_the_library_imports_the_chapters() -> None:
    """The book's machinery sits on top of the library: only the command line (``ma52lib.cli`` and
    ``ma52lib.commands``, where `ma52 reproduce` and `ma52 bench` live) reaches into it."""
    allowed = ("ma52lib.chapters", "ma52lib.commands.")  # the machinery itself, and the command line beside cli
    offenders = {name: sorted(m for m in deps if m.startswith("ma52lib.chapters"))
                 for name, deps in _imports().items()
                 if not name.startswith(allowed) and name != "ma52lib.cli"}
    assert not {k: v for k, v in offenders.items() if v}


def test_no_import_circle() -> None:
    graph = _imports()
    circles = []

    def visit(name: str, path: list[str], done: set[str]) -> None:
        for dep in sorted(graph[name]):
            if dep in path:
                circles.append(path[path.index(dep):] + [dep])
            elif dep not in done:
                visit(dep, path + [dep], done)
        done.add(name)

    finished: set[str] = set()
    for name in sorted(graph):
        if name not in finished:
            visit(name, [name], finished)
    assert not circles, circles[:5]


def test_the_files_module_is_at_the_bottom() -> None:
    assert _imports()["ma52lib.files"] == set()


def test_the_renderer_stands_alone() -> None:
    """MA-52-Synth (clips, stills, emotion sessions) imports neither the emotion package nor argparse."""
    offenders = {}
    for path in (PACKAGE / "synth").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad = [n for n in names if n == "argparse" or n.startswith("ma52lib.emotion")]
            if bad:
                offenders[path.name] = bad
    assert not offenders


def test_no_private_name_crosses_a_package() -> None:
    """``from ma52lib.a.b import _x`` only from inside ma52lib.a: a private name is not another package's API."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        package = ".".join(path.relative_to(PACKAGE.parent).parts[:2])
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ma52lib"):
                own = node.module == package or node.module.startswith(package + ".")
                offenders += [f"{path.name}: {node.module}.{a.name}" for a in node.names
                              if a.name.startswith("_") and not own]
    assert not offenders
