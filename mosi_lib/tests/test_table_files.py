import numpy as np
import pandas as pd
import pytest

from mosi_lib.report import collect, outputs, tables
from mosi_lib.tests.fake_runs import runs_frame, three_seeds


def test_to_markdown_alignment_and_escaping():
    df = pd.DataFrame(
        {
            "Model": ["a|b", "c"],
            "Acc": ["73.00 ± 3.61", "-75.00"],
            "x": [0.123456, np.nan],
            "Empty": ["", ""],
            "n": [1, 2000],
        }
    )
    assert outputs.to_markdown(df) == (
        "| Model | Acc | x | Empty | n |\n"
        "|---|---:|---:|---|---:|\n"
        "| a\\|b | 73.00 ± 3.61 | 0.1235 |  | 1 |\n"
        "| c | -75.00 |  |  | 2000 |\n"
    )


def test_save_table_synthetic(tmp_path):
    three_seeds(tmp_path / "study")
    table = tables.comparison_table(collect.collect_runs(tmp_path / "study"))
    files = outputs.save_table(
        table, "05_comparison_table", tmp_path / "out", caption="Binary accuracy (notebook 05)."
    )
    names = ["05_comparison_table.csv", "05_comparison_table.md", "05_comparison_table.tex"]
    assert sorted(files) == names and all(files[n] == tmp_path / "out" / n for n in names)
    md = files["05_comparison_table.md"].read_text()
    first, blank, body = md.split("\n", 2)
    assert first.startswith("Table: SYNTHETIC DATA") and first.endswith("(notebook 05).")
    assert blank == "" and body == outputs.to_markdown(table)
    back = pd.read_csv(files["05_comparison_table.csv"], dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back, table)
    tex = files["05_comparison_table.tex"].read_text()
    assert r"\caption{SYNTHETIC DATA" in tex and r"\label{tab:05_comparison_table}" in tex
    assert r"73.00 $\pm$ 3.61" in tex and r"Transformer (40\%)" in tex
    assert r"\begin{tabular}" in tex and "Acc-2 has0" in tex


def test_save_table_real_and_already_synthetic_captions(tmp_path):
    real = tables.comparison_table(runs_frame([{"synthetic": False, "data_source": "csd"}]))
    files = outputs.save_table(real, "t_real", tmp_path, caption="Real caption, 5% split.")
    assert files["t_real.md"].read_text().startswith("Table: Real caption, 5% split.\n\n")
    assert r"\caption{Real caption, 5\% split.}" in files["t_real.tex"].read_text()
    synth = tables.comparison_table(runs_frame([{}]))
    files = outputs.save_table(synth, "t_syn", tmp_path, caption="SYNTHETIC DATA smoke run.")
    assert files["t_syn.md"].read_text().startswith("Table: SYNTHETIC DATA smoke run.\n")
    # "synthetic" later in the caption (a data description) still gets the leading mark
    files = outputs.save_table(
        synth, "t_syn2", tmp_path, caption="Sweep, SYNTHETIC data (seed 0)"
    )
    assert files["t_syn2.md"].read_text().startswith("Table: SYNTHETIC DATA: measured rows")


def test_save_table_empty_says_so(tmp_path):
    # a skipped part (e.g. --modality-sets with no value) writes a table that says it is empty
    empty = pd.DataFrame(columns=["tag", "acc_has0_mean"])
    files = outputs.save_table(empty, "07_modality_ablation", tmp_path, caption="Mod, study s")
    first = files["07_modality_ablation.md"].read_text().split("\n", 1)[0]
    assert first == f"Table: Mod, study s {outputs.EMPTY_NOTE}"
    assert "EMPTY: no finished run" in files["07_modality_ablation.tex"].read_text()
    files = outputs.save_table(pd.DataFrame({"tag": ["a"]}), "t", tmp_path, caption="c")
    assert "EMPTY" not in files["t.md"].read_text()


def test_save_table_default_dir_and_bad_name(tmp_path):
    df = pd.DataFrame({"a": [1]})
    files = outputs.save_table(df, "t", caption="c")
    assert files["t.csv"].parent == tmp_path / "figures"  # MOSI_FIGURES_DIR
    for bad in ["", "../t", "a b", "-t"]:
        with pytest.raises(ValueError, match="name="):
            outputs.save_table(df, bad, tmp_path / "bad", caption="c")
    assert not (tmp_path / "bad").exists()
