"""Tests for ``mosi_lib.report.pages``: the tables a person reads (notebooks and the CLI)."""

import pandas as pd
import pytest

from mosi_lib.report import collect, outputs, pages, tables
from mosi_lib.tests.fake_runs import three_seeds


def test_compact_table_keeps_measured_rows_and_says_provenance_once(tmp_path):
    three_seeds(tmp_path)
    table = tables.comparison_table(collect.collect_runs(tmp_path))
    out = pages.compact_table(table)
    assert list(out.rows.columns) == ["Model", "Acc-2 has0", "95% CI has0", "F1 has0", "Seeds"]
    assert out.rows.to_dict("records") == [{
        "Model": "Transformer (40%)", "Acc-2 has0": "73.00 ± 3.61",
        "95% CI has0": "[64.04, 81.96]", "F1 has0": "60.00 ± 0.00", "Seeds": "3 (0,1,2)"}]
    # the source and protocol once, in the note, not on every row; no reported row
    assert out.note == ("Comparison table · SYNTHETIC data · protocol paper, valid split, has0 "
                        "training · 1 measured row(s)")
    text = str(out)
    assert text.splitlines()[0] == out.note and max(map(len, text.splitlines())) < 100
    html = out._repr_html_()
    assert html.startswith("<p>Comparison table") and "<table" in html


def test_compact_table_of_the_csv_read_back_names_the_files(tmp_path, capsys):
    three_seeds(tmp_path / "runs")
    table = tables.comparison_table(collect.collect_runs(tmp_path / "runs"))
    files = outputs.save_table(table, "05_comparison_table", tmp_path, caption="test")
    assert pages.print_table_file(files["05_comparison_table.csv"], title="Study s")
    out = capsys.readouterr().out
    assert "Transformer (40%)  73.00 ± 3.61  [64.04, 81.96]" in out
    assert f"full table: {files['05_comparison_table.csv']}, " in out
    assert not pages.print_table_file(tmp_path / "none.csv", title="x")


def test_compact_table_keeps_a_column_that_differs_and_mae_where_recorded(tmp_path):
    three_seeds(tmp_path)
    table = tables.comparison_table(collect.collect_runs(tmp_path))
    other = table.iloc[[-1]].assign(Protocol="standard, test split, has0 training", MAE="0.900")
    left = table.iloc[[-1]].assign(Model="left out: run x", Source="unreadable")
    gone = table.iloc[[-1]].assign(Model="left out: run y",
                                   Source=str(tmp_path / "y" / "config.yaml") + ": missing")
    lost = table.iloc[[-1]].assign(Model="left out: run z", Source=f"unfinished ({tmp_path}/z/"
                                   "status.json: unreadable, state unknown)")
    out = pages.compact_table(pd.concat([table, other, left, gone, lost], ignore_index=True))
    assert "Protocol" in out.rows.columns and "protocol" not in out.note
    assert "MAE" in out.rows.columns and sorted(out.rows["MAE"]) == ["", "0.900"]
    assert "Corr" not in out.rows.columns  # no row has it
    # issue 37 (C10b): the terminal names each left-out run, its file and the reason
    assert out.note.endswith("2 measured row(s) · 3 run(s) left out: x (unreadable), y "
                             "(config.yaml: missing), z (unfinished (status.json: unreadable, "
                             "state unknown)); see the full table")


def test_compact_table_refuses_another_table():
    with pytest.raises(ValueError, match="compact_table: missing columns"):
        pages.compact_table(pd.DataFrame({"a": [1]}))


def test_compact_summary(tmp_path):
    three_seeds(tmp_path)
    summary = tables.summary_table(collect.collect_runs(tmp_path), ["init", "labeled_fraction"])
    out = pages.compact_summary(summary, ["init", "labeled_fraction"], title="Label sweep")
    assert out.rows.to_dict("records") == [{
        "init": "scratch", "labeled_fraction": "0.4", "Acc-2 has0": "73.00 ± 3.61",
        "95% CI": "[64.04, 81.96]", "Seeds": "3 (0,1,2)"}]
    assert out.note.startswith("Label sweep · protocol paper, valid split · SYNTHETIC data")
    with pytest.raises(ValueError, match="compact_summary: missing columns"):
        pages.compact_summary(summary, ["tag"])
