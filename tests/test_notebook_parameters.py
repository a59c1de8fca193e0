"""Every notebook's ``parameters`` cell is fully readable by papermill.

papermill skips a line it cannot parse (e.g. an ``=`` inside the comment) with only a log
warning: the parameter then vanishes from ``papermill --help-notebook`` and every batch run
logs "Passed unknown parameter". This checks that papermill sees each assigned name, with its
help text.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from click.testing import CliRunner
from papermill.cli import papermill as papermill_cli

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_parses(path):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name}: expected one cell tagged 'parameters'"
    assigned = []  # in order: plain (name = value) and annotated (name: type = value)
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.Assign):
            assigned += [t.id for t in node.targets]
        elif isinstance(node, ast.AnnAssign):
            assigned.append(node.target.id)
    seen = pm.inspect_notebook(str(path))
    assert list(seen) == assigned, f"{path.name}: papermill could not parse some lines"
    assert {"config_file", "run_id", "smoke"} <= set(seen)
    assert all(p["help"] for p in seen.values()), f"{path.name}: a parameter lacks a comment"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_has_a_type_papermill_reads(path):
    """``papermill --help-notebook`` shows each parameter's type, never "Unknown type"."""
    seen = pm.inspect_notebook(str(path))
    untyped = [n for n, p in seen.items() if p["inferred_type_name"] in ("None", "")]
    assert not untyped, f"{path.name}: annotate {untyped} (name: type = value  # help)"
    result = CliRunner().invoke(papermill_cli, ["--help-notebook", str(path)])
    assert result.exit_code == 0, result.output
    assert "Unknown type" not in result.output
    for name, p in seen.items():
        assert f"  {name}: {p['inferred_type_name']} (default {p['default']})" in result.output


def test_notebooks_found():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_source_is_clean_and_uses_setup(path):
    """The .ipynb files are the source: stored without outputs, and each loads its config,
    study and data through ``mosi_lib.api.setup`` right after the parameters cell."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), (
        f"{path.name}: clear the outputs before committing")
    tags = [c.metadata.get("tags", []) for c in code]
    i = next(k for k, t in enumerate(tags) if "parameters" in t)
    assert "api.setup(" in code[i + 1].source, f"{path.name}: setup cell missing"
    assert sum("api.setup(" in c.source for c in code) == 1
