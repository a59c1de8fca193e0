import numpy as np
import pandas as pd
import pytest

from mosi_lib import runs
from mosi_lib.config import Config
from mosi_lib.report import collect, tables
from mosi_lib.tests.fake_runs import (
    classifier_metrics,
    report_metrics,
    runs_frame,
    seeded_runs,
    three_seeds,
    write_run,
)

# ----------------------------------------------------------------------------- comparison_table


def test_comparison_table_mean_and_sample_std(tmp_path):
    three_seeds(tmp_path)
    table = tables.comparison_table(collect.collect_runs(tmp_path))
    assert list(table.columns) == tables.TABLE_COLUMNS
    assert len(table) == len(tables.LITERATURE) + 1  # the three seeds share one row
    row = table.iloc[-1].to_dict()
    assert (
        row
        == {
            "Model": "Transformer (40%)",
            "Source": "measured: SYNTHETIC data",
            "Protocol": "paper, valid split, has0 training",
            "Acc-2 reported": "",
            "Acc-2 has0": "73.00 ± 3.61",
            "F1 has0": "60.00 ± 0.00",
            "Acc-2 non0": "73.00 ± 2.83",
            "95% video bootstrap has0": "-",  # these hand-written runs have no predictions.npz
            # sd sqrt(13), t_{0.975, 2} = 4.302653: 73 -/+ 4.302653 * sqrt(13 / 3) = 8.957
            "95% CI has0": "[64.04, 81.96]",
            "F1 non0": "60.00 ± 10.00",
            "Majority has0": "55.00 ± 0.00",
            "Majority non0": "50.00 ± 0.00",
            "Params": "851,713",
            "Epochs": "2",
            "Seeds": "3 (0,1,2)",
            "Labels (train + selection)": "not recorded",
            "Pretraining": "-",
            "Recipe": collect.collect_runs(tmp_path)["recipe"].iloc[0][:8],
            # these runs' metrics.json predate MAE/Corr/Acc-7: empty cells, never an error
            "MAE": "",
            "Corr": "",
            "Acc-7": "",
        }
    )
    assert collect.has_synthetic(table)


def test_another_learning_rate_is_another_row_not_a_seed(tmp_path):
    """A second run with another lr is another recipe's row, never averaged in as a seed."""
    write_run(tmp_path, "a_s0", classifier_metrics(0, report=report_metrics(acc_has0=0.80)))
    cfg = Config()
    cfg.train.lr = 1.0
    run = runs.create_run(cfg, kind="classifier", root=tmp_path, run_id="c_s1")
    run.save_metrics(classifier_metrics(1, report=report_metrics(acc_has0=0.20)))
    df = collect.collect_runs(tmp_path)
    assert df["recipe"].nunique() == 2
    table = tables.comparison_table(df, include_literature=False)
    assert sorted(table["Acc-2 has0"]) == ["20.00", "80.00"]  # never "50.00 ± 42.43"
    assert table["Recipe"].nunique() == 2
    summary = tables.summary_table(df, ["init"])
    assert len(summary) == 2 and sorted(summary["acc_has0_mean"]) == [20.0, 80.0]
    assert summary["n"].tolist() == [1, 1]


def test_table_states_label_budget_and_dec_pretraining():
    df = runs_frame(
        [
            {"run_id": "a", "n_train": 704, "n_select": 440, "n_segments": 2199},
            {
                "run_id": "b",
                "init": "dec",
                "labels": "all",
                "labeled_fraction": 1.0,
                "variant": "Transformer + DEC (all labels; DEC pretrained with 40%)",
                "n_train": 1759,
                "n_select": 440,
                "n_segments": 2199,
                "dec_rows": "all",
                "dec_fraction": 0.4,
                "dec_stage2_epochs": 1,
                "dec_stage2_max": 10,
                "seed": 0,
            },
            {
                "run_id": "c",
                "init": "dec",
                "labels": "all",
                "labeled_fraction": 1.0,
                "variant": "Transformer + DEC (all labels; DEC pretrained with 40%)",
                "n_train": 1759,
                "n_select": 440,
                "n_segments": 2199,
                "dec_rows": "all",
                "dec_fraction": 0.4,
                "dec_stage2_epochs": 10,
                "dec_stage2_max": 10,
                "seed": 1,
            },
            {
                "run_id": "d",
                "init": "dec",
                "variant": "Transformer + DEC (40%)",
                "dec_rows": "train",
                "dec_fraction": 0.4,
                "dec_stage2_epochs": 3,
                "dec_stage2_max": 10,
            },
        ]
    )
    table = tables.comparison_table(df, include_literature=False).set_index("Model")
    # the paper protocol's "40%": 704 training labels + 440 selection labels = 52% of the labels
    budget = table.loc["Transformer (40%)", "Labels (train + selection)"]
    assert budget == "704 + 440 = 52% of 2199"
    assert table.loc["Transformer (40%)", "Pretraining"] == "-"
    pre = table.loc["Transformer + DEC (all labels; DEC pretrained with 40%)", "Pretraining"]
    assert pre == (
        "DEC on all segments (transductive: incl. the valid rows' features), 40% "
        "labels; stage 2 ran 1-10 of 10 epochs"
    )
    assert table.loc["Transformer + DEC (40%)", "Pretraining"] == (
        "DEC on training rows only, 40% labels; stage 2 ran 3 of 10 epochs"
    )


def test_comparison_table_literature_rows():
    table = tables.comparison_table(runs_frame([]))
    assert len(table) == len(tables.LITERATURE) == 7
    lit = table.set_index("Model")
    for model, acc in [
        ("Transformer (40%)", "73.14"),
        ("Transformer + DEC (40%)", "75.86"),
        ("Transformer + DEC (all labels)", "81.50"),
    ]:
        assert lit.loc[model, "Acc-2 reported"] == acc
        assert lit.loc[model, "Params"] == "851,713"
        assert lit.loc[model, "Source"] == "reported in the paper, Table 1"
    assert lit.loc["TFN", "Params"] == "14,707,911" and lit.loc["DF", "Params"] == "not reported"
    assert lit.loc["MARNN", "Acc-2 reported"] == "84.31"
    assert (table["Protocol"] == "as reported").all()
    assert (table[["Acc-2 has0", "F1 non0", "Seeds", "Epochs"]] == "").all().all()
    assert not collect.has_synthetic(table)  # reported rows are never called synthetic
    assert tables.comparison_table(runs_frame([]), include_literature=False).empty


def test_comparison_table_keeps_recipes_apart():
    df = runs_frame(
        [
            {"run_id": "a", "seed": 0, "acc_has0": 0.70},
            {"run_id": "b", "seed": 1, "acc_has0": 0.80},
            {
                "run_id": "c",
                "seed": 2,
                "acc_has0": 0.10,
                "protocol": "standard",
                "report_split": "test",
            },
            {"run_id": "d", "seed": 3, "acc_has0": 0.20, "epochs": 50},
            {"run_id": "e", "seed": 4, "acc_has0": 0.30, "zero_policy": "non0"},
            {"run_id": "f", "seed": 5, "acc_has0": 0.40, "synthetic": False, "data_source": "csd"},
            {
                "run_id": "g",
                "seed": 6,
                "acc_has0": 0.90,
                "init": "dec",
                "variant": "Transformer + DEC (40%)",
            },
        ]
    )
    table = tables.comparison_table(df, include_literature=False)
    assert len(table) == 6
    by_seeds = table.set_index("Seeds")
    assert by_seeds.loc["2 (0,1)", "Acc-2 has0"] == "75.00 ± 7.07"  # only a and b averaged
    assert by_seeds.loc["1 (2)", "Acc-2 has0"] == "10.00"  # one run: no ± part
    assert by_seeds.loc["1 (2)", "Protocol"] == "standard, test split, has0 training"
    assert by_seeds.loc["1 (3)", "Epochs"] == "50"
    assert by_seeds.loc["1 (4)", "Protocol"] == "paper, valid split, non0 training"
    assert by_seeds.loc["1 (5)", "Source"] == "measured: real data (csd)"
    assert by_seeds.loc["1 (6)", "Model"] == "Transformer + DEC (40%)"
    assert table.iloc[0]["Seeds"] == "1 (5)"  # real data first
    assert (table["Source"].iloc[1:] == "measured: SYNTHETIC data").all()
    real_only = tables.comparison_table(df[~df["synthetic"]])
    assert not collect.has_synthetic(real_only)


def test_comparison_table_row_order_and_params():
    df = runs_frame(
        [
            {"run_id": "a", "init": "dec", "variant": "Transformer + DEC (40%)", "n_params": 900},
            {
                "run_id": "b",
                "labels": "all",
                "labeled_fraction": 1.0,
                "variant": "Transformer (all labels)",
            },
            {"run_id": "c", "n_params": 851_713},
            {"run_id": "d", "seed": 1, "n_params": 1_000},
        ]
    )
    table = tables.comparison_table(df, include_literature=False)
    assert table["Model"].tolist() == [
        "Transformer (40%)",
        "Transformer + DEC (40%)",
        "Transformer (all labels)",
    ]
    assert table["Params"].tolist() == ["1,000-851,713", "900", "851,713"]


def test_comparison_table_missing_column():
    with pytest.raises(ValueError, match=r"missing columns \['seed'\]"):
        tables.comparison_table(runs_frame([{}]).drop(columns="seed"))


def test_comparison_table_ci_column():
    df = seeded_runs([("scratch", "labeled", s, a) for s, a in enumerate([0.70, 0.72, 0.74])])
    row = tables.comparison_table(df, include_literature=False).iloc[0]
    # mean 72, sd 2, t_{0.975, 2} = 4.302653: half = 4.302653 * 2 / sqrt(3) = 4.968276
    assert row["95% CI has0"] == "[67.03, 76.97]"
    assert np.isclose(float(row["Acc-2 has0"].split(" ± ")[0]), 72.0)


def test_reference_rows_of_each_seeds_draw_pool_into_one_row(tmp_path):
    from mosi_lib.config import load_config

    for s in (0, 1):  # data.draw=seed: split_seed 0 and 1, one recipe
        cfg = load_config(overrides={"system.seed": s})
        run = runs.create_run(cfg, kind="classifier", root=tmp_path, run_id=f"ref_s{s}")
        run.save_metrics(classifier_metrics(s, init="logreg"))
    table = tables.comparison_table(collect.collect_runs(tmp_path), include_literature=False)
    assert len(table) == 1 and table["Seeds"].iloc[0] == "2 (0,1)"


# ----------------------------------------------------------------------------- best by valid


def _valid_runs(rows: list[tuple[str, int, float, float]]) -> pd.DataFrame:
    """(tag, seed, valid accuracy, test accuracy) rows as ``collect_runs`` output."""
    return runs_frame(
        [
            {
                "run_id": f"{tag}_{seed}",
                "tag": tag,
                "seed": seed,
                "valid_acc_has0": val,
                "acc_has0": test,
            }
            for tag, seed, val, test in rows
        ]
    )


def test_best_by_valid_uses_validation_and_common_seeds():
    df = _valid_runs(
        [
            ("a", 0, 0.70, 0.90),
            ("a", 1, 0.72, 0.90),
            ("a", 2, 0.99, 0.90),  # seed 2 only in a
            ("b", 0, 0.80, 0.50),
            ("b", 1, 0.78, 0.50),
        ]
    )
    best, table = tables.best_by_valid(df, by="tag")
    # over the common seeds 0 and 1: a 71.0, b 79.0; with seed 2, a would be 80.33 and win,
    # and on the test column a would win too: neither may decide
    assert best == "b"
    assert table["tag"].tolist() == ["b", "a"] and (table["n"] == 2).all()
    np.testing.assert_allclose(table["mean"], [79.0, 71.0])
    assert table["seeds"].tolist() == ["0,1", "0,1"]


def test_best_by_valid_ties_and_latest_run_per_seed():
    df = _valid_runs(
        [("b", 0, 0.79, 0.5), ("c", 0, 0.50, 0.5), ("c", 0, 0.79, 0.5), ("d", 0, 0.60, 0.9)]
    )
    df.loc[[1, 2], "run_id"] = ["c_0a", "c_0b"]  # c ran seed 0 twice; the later (0.79) counts
    assert tables.best_by_valid(df, by="tag")[0] == "b"  # tie: first in sort order
    assert tables.best_by_valid(df, by="tag", prefer="c")[0] == "c"
    assert tables.best_by_valid(df, by="tag", prefer="d")[0] == "b"  # d is not tied


def test_best_by_valid_errors():
    df = _valid_runs([("a", 0, 0.7, 0.7), ("b", 1, 0.8, 0.8)])
    with pytest.raises(ValueError, match="share no seed"):
        tables.best_by_valid(df, by="tag")
    with pytest.raises(ValueError, match="no column 'nope'"):
        tables.best_by_valid(df, by="nope")
    with pytest.raises(ValueError, match="no run with a 'valid_acc_non0' value"):
        tables.best_by_valid(df, by="tag", metric="valid_acc_non0")


def test_table_shows_mae_corr_acc7_of_l1_runs_and_reads_older_frames(tmp_path):
    """MMSA's regression metrics are columns after the others, mean ± std over seeds."""
    for s, (mae, corr, acc7) in enumerate([(0.9, 0.6, 0.30), (1.1, 0.7, 0.40)]):
        rep = {**report_metrics(), "mae": mae, "corr": corr, "acc7": acc7}
        write_run(tmp_path, f"l1_s{s}", classifier_metrics(s, report=rep, objective="l1"))
    df = collect.collect_runs(tmp_path)
    assert df["mae"].tolist() == [0.9, 1.1]
    table = tables.comparison_table(df, include_literature=False)
    assert tables.TABLE_COLUMNS[-3:] == ["MAE", "Corr", "Acc-7"]
    row = table.iloc[0]
    assert (row["MAE"], row["Corr"], row["Acc-7"]) == ("1.000 ± 0.141", "0.650 ± 0.071",
                                                        "35.00 ± 7.07")
    # a bce run records None (a logit is not a score): empty cells
    rep = {**report_metrics(), "mae": None, "corr": None, "acc7": None}
    write_run(tmp_path, "bce_s0", classifier_metrics(0, report=rep, tag="bce"))
    bce = tables.comparison_table(collect.collect_runs(tmp_path), include_literature=False)
    assert bce.loc[bce["Seeds"] == "1 (0)", ["MAE", "Corr", "Acc-7"]].values.tolist() == [
        ["", "", ""]]
    # a frame without the columns (records exported before them) still makes the table
    old = df.drop(columns=["mae", "corr", "acc7"])
    assert tables.comparison_table(old, include_literature=False)["MAE"].tolist() == [""]
