"""tools/text_input_table.py: every cell copied from its source summary, a missing source named."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "text_input_table", Path(__file__).resolve().parents[1] / "tools" / "text_input_table.py")
tit = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(tit)


def _results(tmp_path: Path) -> Path:
    """The committed GloVe and MiniLM summaries, and the MiniLM one again standing for mpnet."""
    for f in ("glove50_comparison.csv", "glove50.json", "minilm_standard_table.csv",
              "minilm_standard.json"):
        shutil.copy(tit.RESULTS / f, tmp_path / f)
    shutil.copy(tit.RESULTS / "minilm_standard_table.csv", tmp_path / "mpnet_standard_table.csv")
    shutil.copy(tit.RESULTS / "minilm_standard.json", tmp_path / "mpnet_standard.json")
    return tmp_path


def test_cells_are_the_sources_cells(tmp_path):
    table, sources = tit.build(_results(tmp_path))
    assert list(table["Model"]) == list(tit.MODELS) and len(sources) == 3
    minilm = pd.read_csv(tmp_path / "minilm_standard_table.csv", dtype=str).set_index("Model")
    row = minilm.loc["Transformer + DEC (40%)"]
    want = f"{row['Acc-2 has0']} {row['95% CI has0']}"  # 78.66 ± 1.95 [76.24, 81.08]
    got = table.set_index("Model").loc["Transformer + DEC (40%)"]
    assert got["all-MiniLM-L6-v2, last layer"] == want == got[
        "all-mpnet-base-v2, mean of the layers"]
    glove = pd.read_csv(tmp_path / "glove50_comparison.csv", dtype=str).set_index("model")
    assert got["GloVe 6B 50d"] == glove.loc["Transformer + DEC (40%)"].iloc[1]
    # GloVe-50 has no "mean word vectors" reference: an empty cell, not a made-up number
    assert table.set_index("Model").loc["LR, mean word vectors (40%)", "GloVe 6B 50d"] == ""


def test_missing_source_named(tmp_path):
    results = _results(tmp_path)
    (results / "mpnet_standard.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"mpnet_standard.json: summary of "
                                                r"'all-mpnet-base-v2, mean of the layers'"):
        tit.build(results)
