import pytest

from mosi_lib.report import collect, tables
from mosi_lib.tests.fake_runs import seeded_runs


def test_paired_table_matches_seeds():
    df = seeded_runs(
        [
            ("dec", "labeled", 0, 0.75),
            ("dec", "labeled", 1, 0.77),
            ("dec", "labeled", 2, 0.76),
            ("scratch", "labeled", 0, 0.73),
            ("scratch", "labeled", 1, 0.74),
            ("scratch", "labeled", 3, 0.90),  # seed 3 has no DEC partner: not used
            ("dec", "all", 0, 0.80),
        ]
    )  # no scratch/all run: no row
    table = tables.paired_table(df)
    assert table["comparison"].tolist() == ["Transformer + DEC (40%) vs Transformer (40%)"] * 2
    row = table.set_index("metric").loc["acc_has0"]
    assert row["seeds"] == "0,1" and row["n"] == 2 and row["wins"] == 2
    assert row["mean_diff"] == pytest.approx(2.5)  # (2 + 3) / 2 points of %
    assert bool(row["synthetic"]) and collect.has_synthetic(table)
    assert "95% CI has0" in tables.comparison_table(df).columns
    assert len(tables.paired_table(df.iloc[0:0])) == 0


def test_paired_table_names_the_dec_label_share_of_the_all_labels_pair():
    df = seeded_runs(
        [
            ("dec", "all", 0, 0.80),
            ("dec", "all", 1, 0.81),
            ("scratch", "all", 0, 0.79),
            ("scratch", "all", 1, 0.78),
        ]
    )
    df["labeled_fraction"], df.loc[df["init"] == "dec", "dec_fraction"] = 1.0, 0.4
    table = tables.paired_table(df)
    assert set(table["comparison"]) == {
        "Transformer + DEC (all labels; DEC pretrained with 40%) vs Transformer (all labels)"
    }
