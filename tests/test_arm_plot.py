"""tools/arm_plot.py: the arms by labeled share, drawn from an arm table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "arm_plot", Path(__file__).resolve().parents[1] / "tools" / "arm_plot.py")
ap = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ap)

ARMS = pd.DataFrame({"arm": ["scratch", "dec", "scratch", "dec"],
                     "labeled_fraction": [0.1, 0.1, 0.4, 0.4], "n": [10, 10, 20, 20],
                     "mean": [75.0, 76.0, 82.0, 81.0], "boot_low": [73.0, 74.0, 80.0, 79.0],
                     "boot_high": [77.0, 78.0, 84.0, 83.0], "test_features": ["no", "yes"] * 2})


def test_one_series_per_arm_the_transductive_one_open_and_labelled():
    fig = ap.plot(ARMS, title="t", source="s")
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["scratch (n=10/20)", "dec (n=10/20; reads test features)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10%", "40%"]
    lines = [c for c in ax.containers]
    assert lines[1].lines[0].get_markerfacecolor() == "white"
    # the dots stand at the means, arm by arm
    assert list(lines[0].lines[0].get_ydata()) == [75.0, 82.0]


def test_a_table_without_its_columns_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    ARMS.drop(columns="boot_low").to_csv(bad, index=False)
    assert ap.main([str(bad), "--out", str(tmp_path / "x.png")]) == 2
    with pytest.raises(ValueError, match=r"missing columns \['boot_low'\]"):
        ap.plot(ARMS.drop(columns="boot_low"), title="t", source="s")
