"""The library's house rules, checked on its source: small modules with one concern each, no
import circle (imports inside functions count), no private name used across modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mosi_lib import paths

MAX_LINES = 500
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
def test_module_is_small_and_says_its_concern(path):
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{path}: {lines} lines (at most {MAX_LINES}: split it by concern)"
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc and doc.strip().splitlines()[0], f"{path}: first docstring line = its one concern"


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
