"""The library's house rules, checked on its source: modules by concept (each says its one
concept, few of them, none sprawling), no import circle (imports inside functions count), no
package pair importing each other, no private name used across modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mosi_lib import paths

MAX_MODULES = 40
"""At most this many library modules (``__init__`` files counted, tests not): a newcomer reads
the library in an afternoon. Split a file when it holds two concepts, never by a line count."""
MAX_LINES = 800
"""A module longer than this holds more than one concept: split it by concept."""
ROOT = paths.PROJECT_ROOT
LIBRARY = sorted(p for p in paths.PACKAGE_DIR.rglob("*.py") if "tests" not in p.parts)
ALL_CODE = sorted([*paths.PACKAGE_DIR.rglob("*.py"), *(ROOT / "tools").glob("*.py"),
                   *(ROOT / "tests").glob("*.py")])


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """Every ``mosi_lib`` import of a file, at any depth: (module, imported names)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return [(m, names) for m, names in found if m == "mosi_lib" or m.startswith("mosi_lib.")]


MODULES = {module_name(p): p for p in LIBRARY}


def edges(name: str) -> set[str]:
    """The library modules ``name`` imports (``from pkg import module`` names the module)."""
    out = set()
    for mod, names in imports(MODULES[name]):
        targets = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in MODULES] or [mod]
        out.update(t for t in targets if t in MODULES and t != name)
    return out


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: module_name(p))
def test_module_says_its_concept(path):
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{path}: {lines} lines (at most {MAX_LINES}: two concepts?)"
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc and doc.strip().splitlines()[0], f"{path}: first docstring line = its one concept"


def test_few_modules():
    assert len(LIBRARY) <= MAX_MODULES, (
        f"{len(LIBRARY)} library modules (at most {MAX_MODULES}): merge by concept")


def package_of(name: str) -> str | None:
    """The subpackage (``data``, ``train``, ``study``, ``report``) a module belongs to."""
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and name in PACKAGES) else None


PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"
            and name != "mosi_lib"}


def test_no_two_packages_import_each_other():
    arrows = {(package_of(a), package_of(b)) for a in MODULES for b in edges(a)}
    arrows = {(a, b) for a, b in arrows if a and b and a != b}
    both = sorted({tuple(sorted(pair)) for pair in arrows if pair[::-1] in arrows})
    assert not both, f"packages importing each other: {both} (arrows go one way)"
    # report reads run records (mosi_lib.runs) and never a study module; study -> report only
    # through grids.best_pretrain (the ablation's ranking)
    assert ("report", "study") not in arrows
    into_report = sorted({a for a in MODULES for b in edges(a)
                          if package_of(a) == "study" and package_of(b) == "report"})
    assert into_report == ["mosi_lib.study.grids"], into_report


def test_no_import_circle():
    graph = {name: edges(name) for name in MODULES}
    # packages' __init__ files import nothing of their own, so a cycle is a real one
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("path", ALL_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_imported_across_modules(path):
    private = [f"{mod}.{n}" for mod, names in imports(path) for n in names
               if n.startswith("_") and not n.startswith("__")]
    assert not private, f"{path}: imports private {private}; make it public or move the code"


def test_the_checks_see_the_library():
    assert "mosi_lib.config" in MODULES and len(MODULES) > 20
    assert "mosi_lib.config" in edges("mosi_lib.data.preprocess")


def test_licence_and_citation_files():
    """MIT for the code (LICENSE, pyproject), and a CITATION.cff that cites the paper too."""
    import tomllib

    import yaml

    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) 2026 the "
                                                     "mosi_lib authors\n")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["license"] == "MIT" and cff["title"] and cff["authors"]
    (paper,) = cff["references"]
    assert [a["family-names"] for a in paper["authors"]] == ["Saadatinia", "Ahmadi", "Abdollahi"]
    assert paper["year"] == 2025 and paper["url"] == "https://arxiv.org/abs/2501.06475"
    assert "Semi-Supervised Clustering" in paper["title"]
    arxiv = {"type": "other", "value": "arXiv:2501.06475"}
    assert arxiv.items() <= paper["identifiers"][0].items()
