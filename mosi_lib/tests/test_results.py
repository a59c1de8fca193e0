from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mosi_lib import paths
from mosi_lib.config import Config
from mosi_lib.report import results
from mosi_lib.study import runs

# three seeds of one recipe, with known report metrics (fractions)
ACC_HAS0 = [0.70, 0.72, 0.77]  # mean 73.00, sample std sqrt(13) = 3.61 (population: 2.94)
F1_HAS0 = [0.60, 0.60, 0.60]
ACC_NON0 = [0.71, None, 0.75]  # None skipped: mean 73.00, std sqrt(8) = 2.83
F1_NON0 = [0.50, 0.60, 0.70]


def _report(acc_has0=0.7, f1_has0=0.6, acc_non0=0.71, f1_non0=0.5) -> dict:
    return {"acc_has0": acc_has0, "f1_has0": f1_has0, "acc_non0": acc_non0, "f1_non0": f1_non0,
            "majority_acc_has0": 0.55, "majority_acc_non0": 0.5}  # fmt: skip


def _classifier_metrics(seed: int = 0, **over) -> dict:
    """The keys ``experiments.train_classifier`` writes that ``collect_runs`` reads."""
    m = {
        "kind": "classifier", "init": "scratch", "labels": "labeled",
        "labeled_fraction_cfg": 0.4, "n_params": 851_713, "seed": seed,
        "data_source": "synthetic", "synthetic": True, "protocol": "paper",
        "report_split": "valid", "zero_policy": "has0", "epochs": 2, "best_epoch": 1,
        "report": _report(), "valid": _report(), "test": None,
    }  # fmt: skip
    m.update(over)
    return m


def _write(root: Path, run_id: str, metrics: dict | None, kind: str = "classifier") -> runs.Run:
    run = runs.create_run(Config(), kind=kind, root=root, run_id=run_id)
    if metrics is not None:
        run.save_metrics(metrics)
    return run


def _three_seeds(root: Path, **over) -> None:
    for s in range(3):
        rep = _report(ACC_HAS0[s], F1_HAS0[s], ACC_NON0[s], F1_NON0[s])
        _write(root, f"run{s}_s{s}", _classifier_metrics(s, report=rep, **over))


def _runs_df(rows: list[dict]) -> pd.DataFrame:
    """A ``collect_runs``-shaped frame from partial rows (defaults: one synthetic run)."""
    base = {
        "run_id": "r", "variant": "Transformer (40%)", "init": "scratch", "labels": "labeled",
        "labeled_fraction": 0.4, "acc_has0": 0.7, "f1_has0": 0.6, "acc_non0": 0.7,
        "f1_non0": 0.6, "majority_acc_has0": 0.55, "majority_acc_non0": 0.5,
        "n_params": 851_713, "seed": 0, "data_source": "synthetic", "synthetic": True,
        "protocol": "paper", "report_split": "valid", "zero_policy": "has0", "epochs": 2,
        "best_epoch": 1, "recipe": "recipe-a", "created": "", "n_train": 100, "n_select": 40,
        "n_segments": 200,
    }  # fmt: skip
    return pd.DataFrame([{**base, **r} for r in rows], columns=results.RUN_COLUMNS)


# ----------------------------------------------------------------------------- variant names


def test_variant_name():
    assert results.variant_name("scratch", "labeled", 0.4) == "Transformer (40%)"
    assert results.variant_name("dec", "labeled", 0.125) == "Transformer + DEC (12.5%)"
    assert results.variant_name("dec", "all", 0.4) == "Transformer + DEC (all labels)"
    assert (results.variant_name("dec", "all", 1.0, dec_fraction=0.4)
            == "Transformer + DEC (all labels; DEC pretrained with 40%)")
    assert results.variant_name("scratch", "all", 1.0) == "Transformer (all labels)"
    with pytest.raises(ValueError, match="init='pretrained'"):
        results.variant_name("pretrained", "all", 1.0)
    with pytest.raises(ValueError, match="labels='some'"):
        results.variant_name("dec", "some", 0.4)


# ----------------------------------------------------------------------------- collect_runs


def test_collect_runs_reads_finished_classifier_runs(tmp_path):
    root = tmp_path / "study"
    _write(root, "b_dec", _classifier_metrics(7, init="dec", labels="all",
                                              labeled_fraction_cfg=1.0))  # fmt: skip
    _three_seeds(root)
    _write(root, "c_unfinished", None)  # no metrics.json: skipped
    _write(root, "d_dec_pretrain", {"kind": "dec", "seed": 0}, kind="dec")  # not a classifier
    df = results.collect_runs(root)
    assert list(df.columns) == results.RUN_COLUMNS
    assert df["run_id"].tolist() == ["b_dec", "run0_s0", "run1_s1", "run2_s2"]  # sorted by id
    # fine-tuned on all labels from a DEC that saw the 40% pool (the run config's fraction)
    assert df["variant"].tolist() == (["Transformer + DEC (all labels; DEC pretrained with 40%)"]
                                      + 3 * ["Transformer (40%)"])  # fmt: skip
    ours = df.iloc[1:]
    np.testing.assert_allclose(ours["acc_has0"], ACC_HAS0)
    np.testing.assert_allclose(ours["f1_non0"], F1_NON0)
    assert np.isnan(ours["acc_non0"].iloc[1])  # a null metric becomes NaN, not an error
    assert ours["seed"].tolist() == [0, 1, 2] and ours["labeled_fraction"].tolist() == [0.4] * 3
    first = ours.iloc[0]
    assert (first["n_params"], first["synthetic"], first["protocol"]) == (851_713, True, "paper")
    assert (first["report_split"], first["zero_policy"], first["epochs"]) == ("valid", "has0", 2)
    assert first["majority_acc_has0"] == 0.55 and first["best_epoch"] == 1
    assert df.iloc[0]["labeled_fraction"] == 1.0 and df.iloc[0]["init"] == "dec"
    # the selection split's accuracy travels along (for choices that must not read test)
    np.testing.assert_allclose(ours["valid_acc_has0"], [0.7] * 3)
    np.testing.assert_allclose(ours["valid_acc_non0"], [0.71] * 3)


def test_collect_runs_valid_columns_are_nan_without_valid_split(tmp_path):
    _write(tmp_path, "r0", _classifier_metrics(0, valid=None))
    df = results.collect_runs(tmp_path)
    assert np.isnan(df["valid_acc_has0"].iloc[0]) and df["acc_has0"].iloc[0] == 0.7


def test_collect_runs_default_root_and_empty(tmp_path):
    assert results.collect_runs().empty  # MOSI_RUNS_DIR does not exist yet
    _three_seeds(paths.runs_dir())
    assert len(results.collect_runs()) == 3  # default root: MOSI_RUNS_DIR
    df = results.collect_runs(tmp_path / "empty")
    assert df.empty and list(df.columns) == results.RUN_COLUMNS


@pytest.mark.parametrize("field", ["protocol", "n_params", "synthetic", "init", "report",
                                   "labeled_fraction_cfg", "best_epoch"])  # fmt: skip
def test_collect_runs_missing_field_names_file_and_field(tmp_path, field):
    m = _classifier_metrics()
    del m[field]
    run = _write(tmp_path, "bad", m)
    with pytest.raises(ValueError, match=f"field '{field}' is missing") as err:
        results.collect_runs(tmp_path)
    assert str(run.path / "metrics.json") in str(err.value)


def test_collect_runs_null_field_and_missing_report_key(tmp_path):
    _write(tmp_path, "a_null", _classifier_metrics(n_params=None))
    with pytest.raises(ValueError, match=r"a_null/metrics.json: field 'n_params' is missing"):
        results.collect_runs(tmp_path)
    rep = _report()
    del rep["f1_non0"]
    _write(tmp_path / "b", "b_rep", _classifier_metrics(report=rep))
    with pytest.raises(ValueError, match=r"b_rep/metrics.json: field 'report.f1_non0'"):
        results.collect_runs(tmp_path / "b")


# ----------------------------------------------------------------------------- comparison_table


def test_comparison_table_mean_and_sample_std(tmp_path):
    _three_seeds(tmp_path)
    table = results.comparison_table(results.collect_runs(tmp_path))
    assert list(table.columns) == results.TABLE_COLUMNS
    assert len(table) == len(results.LITERATURE) + 1  # the three seeds share one row
    row = table.iloc[-1].to_dict()
    assert row == {
        "Model": "Transformer (40%)", "Source": "measured: SYNTHETIC data",
        "Protocol": "paper, valid split, has0 training", "Acc-2 reported": "",
        "Acc-2 has0": "73.00 ± 3.61", "F1 has0": "60.00 ± 0.00", "Acc-2 non0": "73.00 ± 2.83",
        "95% video bootstrap has0": "-",  # these hand-written runs have no predictions.npz
        # sd sqrt(13), t_{0.975, 2} = 4.302653: 73 -/+ 4.302653 * sqrt(13 / 3) = 8.957
        "95% CI has0": "[64.04, 81.96]",
        "F1 non0": "60.00 ± 10.00", "Majority has0": "55.00 ± 0.00",
        "Majority non0": "50.00 ± 0.00", "Params": "851,713", "Epochs": "2",
        "Seeds": "3 (0,1,2)", "Labels (train + selection)": "not recorded", "Pretraining": "-",
        "Recipe": results.collect_runs(tmp_path)["recipe"].iloc[0][:8],
    }  # fmt: skip
    assert results.has_synthetic(table)


def test_same_run_id_twice_counts_one_seed_once(tmp_path, capsys):
    """Issue 10 item 3: a study run twice under one id showed "43.24 ± 0.00, Seeds 2 (0,0)"."""
    _write(tmp_path, "first_s0", _classifier_metrics(0, report=_report(acc_has0=0.40)))
    _write(tmp_path, "second_s0", _classifier_metrics(0, report=_report(acc_has0=0.50)))
    df = results.collect_runs(tmp_path)
    assert df["run_id"].tolist() == ["second_s0"]  # the latest run of the seed
    assert "1 repeated run" in capsys.readouterr().out  # dropped with a count, not silently
    assert len(results.collect_runs(tmp_path, keep_repeats=True)) == 2
    row = results.comparison_table(df, include_literature=False).iloc[0]
    assert (row["Seeds"], row["Acc-2 has0"]) == ("1 (0)", "50.00")
    # a frame with repeats (keep_repeats) is deduplicated by the table itself
    row = results.comparison_table(results.collect_runs(tmp_path, keep_repeats=True),
                                   include_literature=False).iloc[0]  # fmt: skip
    assert row["Seeds"] == "1 (0)"


def test_another_learning_rate_is_another_row_not_a_seed(tmp_path):
    """Issue 10 item 3: a second run with another lr was averaged in as a second seed."""
    _write(tmp_path, "a_s0", _classifier_metrics(0, report=_report(acc_has0=0.80)))
    cfg = Config()
    cfg.train.lr = 1.0
    run = runs.create_run(cfg, kind="classifier", root=tmp_path, run_id="c_s1")
    run.save_metrics(_classifier_metrics(1, report=_report(acc_has0=0.20)))
    df = results.collect_runs(tmp_path)
    assert df["recipe"].nunique() == 2
    table = results.comparison_table(df, include_literature=False)
    assert sorted(table["Acc-2 has0"]) == ["20.00", "80.00"]  # never "50.00 ± 42.43"
    assert table["Recipe"].nunique() == 2
    summary = results.summary_table(df, ["init"])
    assert len(summary) == 2 and sorted(summary["acc_has0_mean"]) == [20.0, 80.0]
    assert summary["n"].tolist() == [1, 1]


def test_table_states_label_budget_and_dec_pretraining():
    df = _runs_df([
        {"run_id": "a", "n_train": 704, "n_select": 440, "n_segments": 2199},
        {"run_id": "b", "init": "dec", "labels": "all", "labeled_fraction": 1.0,
         "variant": "Transformer + DEC (all labels; DEC pretrained with 40%)",
         "n_train": 1759, "n_select": 440, "n_segments": 2199, "dec_rows": "all",
         "dec_fraction": 0.4, "dec_stage2_epochs": 1, "dec_stage2_max": 10, "seed": 0},
        {"run_id": "c", "init": "dec", "labels": "all", "labeled_fraction": 1.0,
         "variant": "Transformer + DEC (all labels; DEC pretrained with 40%)",
         "n_train": 1759, "n_select": 440, "n_segments": 2199, "dec_rows": "all",
         "dec_fraction": 0.4, "dec_stage2_epochs": 10, "dec_stage2_max": 10, "seed": 1},
        {"run_id": "d", "init": "dec", "variant": "Transformer + DEC (40%)", "dec_rows": "train",
         "dec_fraction": 0.4, "dec_stage2_epochs": 3, "dec_stage2_max": 10},
    ])  # fmt: skip
    table = results.comparison_table(df, include_literature=False).set_index("Model")
    # the paper protocol's "40%": 704 training labels + 440 selection labels = 52% of the labels
    budget = table.loc["Transformer (40%)", "Labels (train + selection)"]
    assert budget == "704 + 440 = 52% of 2199"
    assert table.loc["Transformer (40%)", "Pretraining"] == "-"
    pre = table.loc["Transformer + DEC (all labels; DEC pretrained with 40%)", "Pretraining"]
    assert pre == ("DEC on all segments (transductive: incl. the valid rows' features), 40% "
                   "labels; stage 2 ran 1-10 of 10 epochs")
    assert table.loc["Transformer + DEC (40%)", "Pretraining"] == (
        "DEC on training rows only, 40% labels; stage 2 ran 3 of 10 epochs")


def test_comparison_table_literature_rows():
    table = results.comparison_table(_runs_df([]))
    assert len(table) == len(results.LITERATURE) == 7
    lit = table.set_index("Model")
    for model, acc in [("Transformer (40%)", "73.14"), ("Transformer + DEC (40%)", "75.86"),
                       ("Transformer + DEC (all labels)", "81.50")]:  # fmt: skip
        assert lit.loc[model, "Acc-2 reported"] == acc
        assert lit.loc[model, "Params"] == "851,713"
        assert lit.loc[model, "Source"] == "reported in the paper, Table 1"
    assert lit.loc["TFN", "Params"] == "14,707,911" and lit.loc["DF", "Params"] == "not reported"
    assert lit.loc["MARNN", "Acc-2 reported"] == "84.31"
    assert (table["Protocol"] == "as reported").all()
    assert (table[["Acc-2 has0", "F1 non0", "Seeds", "Epochs"]] == "").all().all()
    assert not results.has_synthetic(table)  # reported rows are never called synthetic
    assert results.comparison_table(_runs_df([]), include_literature=False).empty


def test_comparison_table_keeps_recipes_apart():
    df = _runs_df([
        {"run_id": "a", "seed": 0, "acc_has0": 0.70},
        {"run_id": "b", "seed": 1, "acc_has0": 0.80},
        {"run_id": "c", "seed": 2, "acc_has0": 0.10, "protocol": "standard",
         "report_split": "test"},
        {"run_id": "d", "seed": 3, "acc_has0": 0.20, "epochs": 50},
        {"run_id": "e", "seed": 4, "acc_has0": 0.30, "zero_policy": "non0"},
        {"run_id": "f", "seed": 5, "acc_has0": 0.40, "synthetic": False, "data_source": "csd"},
        {"run_id": "g", "seed": 6, "acc_has0": 0.90, "init": "dec",
         "variant": "Transformer + DEC (40%)"},
    ])  # fmt: skip
    table = results.comparison_table(df, include_literature=False)
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
    real_only = results.comparison_table(df[~df["synthetic"]])
    assert not results.has_synthetic(real_only)


def test_comparison_table_row_order_and_params():
    df = _runs_df([
        {"run_id": "a", "init": "dec", "variant": "Transformer + DEC (40%)", "n_params": 900},
        {"run_id": "b", "labels": "all", "labeled_fraction": 1.0,
         "variant": "Transformer (all labels)"},
        {"run_id": "c", "n_params": 851_713},
        {"run_id": "d", "seed": 1, "n_params": 1_000},
    ])  # fmt: skip
    table = results.comparison_table(df, include_literature=False)
    assert table["Model"].tolist() == ["Transformer (40%)", "Transformer + DEC (40%)",
                                       "Transformer (all labels)"]  # fmt: skip
    assert table["Params"].tolist() == ["1,000-851,713", "900", "851,713"]


def test_comparison_table_missing_column():
    with pytest.raises(ValueError, match=r"missing columns \['seed'\]"):
        results.comparison_table(_runs_df([{}]).drop(columns="seed"))


# ----------------------------------------------------------------------------- writers


def test_to_markdown_alignment_and_escaping():
    df = pd.DataFrame({"Model": ["a|b", "c"], "Acc": ["73.00 ± 3.61", "-75.00"],
                       "x": [0.123456, np.nan], "Empty": ["", ""], "n": [1, 2000]})  # fmt: skip
    assert results.to_markdown(df) == (
        "| Model | Acc | x | Empty | n |\n"
        "|---|---:|---:|---|---:|\n"
        "| a\\|b | 73.00 ± 3.61 | 0.1235 |  | 1 |\n"
        "| c | -75.00 |  |  | 2000 |\n"
    )


def test_save_table_synthetic(tmp_path):
    _three_seeds(tmp_path / "study")
    table = results.comparison_table(results.collect_runs(tmp_path / "study"))
    files = results.save_table(table, "05_comparison_table", tmp_path / "out",
                               caption="Binary accuracy (notebook 05).")  # fmt: skip
    names = ["05_comparison_table.csv", "05_comparison_table.md", "05_comparison_table.tex"]
    assert sorted(files) == names and all(files[n] == tmp_path / "out" / n for n in names)
    md = files["05_comparison_table.md"].read_text()
    first, blank, body = md.split("\n", 2)
    assert first.startswith("Table: SYNTHETIC DATA") and first.endswith("(notebook 05).")
    assert blank == "" and body == results.to_markdown(table)
    back = pd.read_csv(files["05_comparison_table.csv"], dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back, table)
    tex = files["05_comparison_table.tex"].read_text()
    assert r"\caption{SYNTHETIC DATA" in tex and r"\label{tab:05_comparison_table}" in tex
    assert r"73.00 $\pm$ 3.61" in tex and r"Transformer (40\%)" in tex
    assert r"\begin{tabular}" in tex and "Acc-2 has0" in tex


def test_save_table_real_and_already_synthetic_captions(tmp_path):
    real = results.comparison_table(_runs_df([{"synthetic": False, "data_source": "csd"}]))
    files = results.save_table(real, "t_real", tmp_path, caption="Real caption, 5% split.")
    assert files["t_real.md"].read_text().startswith("Table: Real caption, 5% split.\n\n")
    assert r"\caption{Real caption, 5\% split.}" in files["t_real.tex"].read_text()
    synth = results.comparison_table(_runs_df([{}]))
    files = results.save_table(synth, "t_syn", tmp_path, caption="SYNTHETIC DATA smoke run.")
    assert files["t_syn.md"].read_text().startswith("Table: SYNTHETIC DATA smoke run.\n")
    # "synthetic" later in the caption (a data description) still gets the leading mark
    files = results.save_table(synth, "t_syn2", tmp_path, caption="Sweep, SYNTHETIC data (seed 0)")
    assert files["t_syn2.md"].read_text().startswith("Table: SYNTHETIC DATA: measured rows")


def test_save_table_empty_says_so(tmp_path):
    # a skipped part (e.g. --modality-sets with no value) writes a table that says it is empty
    empty = pd.DataFrame(columns=["tag", "acc_has0_mean"])
    files = results.save_table(empty, "07_modality_ablation", tmp_path, caption="Mod, study s")
    first = files["07_modality_ablation.md"].read_text().split("\n", 1)[0]
    assert first == f"Table: Mod, study s {results.EMPTY_NOTE}"
    assert "EMPTY: no finished run" in files["07_modality_ablation.tex"].read_text()
    files = results.save_table(pd.DataFrame({"tag": ["a"]}), "t", tmp_path, caption="c")
    assert "EMPTY" not in files["t.md"].read_text()


def test_save_table_default_dir_and_bad_name(tmp_path):
    df = pd.DataFrame({"a": [1]})
    files = results.save_table(df, "t", caption="c")
    assert files["t.csv"].parent == tmp_path / "figures"  # MOSI_FIGURES_DIR
    for bad in ["", "../t", "a b", "-t"]:
        with pytest.raises(ValueError, match="name="):
            results.save_table(df, bad, tmp_path / "bad", caption="c")
    assert not (tmp_path / "bad").exists()


def test_has_synthetic():
    assert results.has_synthetic(pd.DataFrame({"synthetic": [False, True]}))
    assert not results.has_synthetic(pd.DataFrame({"synthetic": [False, False]}))
    assert results.has_synthetic(pd.DataFrame({"Source": ["measured: SYNTHETIC data"]}))
    assert not results.has_synthetic(pd.DataFrame({"a": [1]}))


# ----------------------------------------------------------------------------- DEC


def _dec_metrics(seed: int = 0, **over) -> dict:
    m = {
        "kind": "dec", "seed": seed, "data_source": "synthetic", "synthetic": True,
        "protocol": "paper", "n_rows": 2199, "stopped_early": False,
        "cluster": {"all": {"acc": 0.61, "nmi": 0.05, "ari": 0.04},
                    "valid": {"acc": 0.58, "nmi": 0.03, "ari": 0.02}},
        "cluster_sizes": [812, 1387], "target_updates": [{"epoch": 1}, {"epoch": 2}],
    }  # fmt: skip
    m.update(over)
    return m


def test_dec_summary(tmp_path):
    _write(tmp_path, "a_dec", _dec_metrics(), kind="dec")
    _write(tmp_path, "b_dec", _dec_metrics(1, target_updates=None, stopped_early=True,
                                           cluster_sizes=[0, 50]), kind="dec")  # fmt: skip
    floor = {"all": {"acc": 0.6, "nmi": 0.0, "ari": 0.0, "floor": 0.55},
             "valid": {"acc": 0.57, "nmi": 0.0, "ari": 0.0, "floor": 0.57}}
    _write(tmp_path, "c_dec", _dec_metrics(2, cluster=floor, stage2_stop={"reason": "tol"},
                                           center_init={"kmeans_sizes": [3, 2196],
                                                        "degenerate": True,
                                                        "remedy": "labeled_means"}),
           kind="dec")  # fmt: skip
    _write(tmp_path, "c_clf", _classifier_metrics())  # not a DEC run
    df = results.dec_summary(tmp_path)
    assert df["run_id"].tolist() == ["a_dec", "b_dec", "c_dec"]
    a = df.iloc[0].to_dict()
    assert a["cluster_sizes"] == "812/1387"
    assert a["min_cluster_share"] == pytest.approx(812 / 2199)
    assert (a["acc_all"], a["nmi_all"], a["ari_all"]) == (0.61, 0.05, 0.04)
    assert (a["acc_report"], a["nmi_report"], a["ari_report"]) == (0.58, 0.03, 0.02)
    assert a["report_split"] == "valid" and a["n_target_updates"] == 2
    assert (a["seed"], a["n_rows"], a["synthetic"], a["stopped_early"]) == (0, 2199, True, False)
    b = df.iloc[1]
    assert b["cluster_sizes"] == "0/50" and b["min_cluster_share"] == 0.0
    assert b["n_target_updates"] == 0 and b["stopped_early"]
    assert all(pd.isna(a[k]) for k in ("floor_report", "start_sizes", "start_degenerate",
                                       "start_remedy", "stage2_stop"))  # not recorded then
    c = df.iloc[2]
    assert (c["acc_report"], c["floor_report"], c["start_sizes"]) == (0.57, 0.57, "3/2196")
    assert c["start_degenerate"] and c["start_remedy"] == "labeled_means"
    assert c["stage2_stop"] == "tol"
    assert results.has_synthetic(df)
    assert results.dec_summary(tmp_path / "none").empty


def test_dec_summary_bad_metrics(tmp_path):
    clusters = _dec_metrics()["cluster"]
    _write(tmp_path / "a", "two", _dec_metrics(cluster={**clusters, "test": clusters["valid"]}),
           kind="dec")  # fmt: skip
    with pytest.raises(ValueError, match=r"two/metrics.json: 'cluster' should hold 'all' and one"):
        results.dec_summary(tmp_path / "a")
    m = _dec_metrics()
    del m["cluster_sizes"]
    _write(tmp_path / "b", "nosizes", m, kind="dec")
    with pytest.raises(ValueError, match=r"nosizes/metrics.json: field 'cluster_sizes'"):
        results.dec_summary(tmp_path / "b")


# ----------------------------------------------------------------------------- best by valid


def _valid_runs(rows: list[tuple[str, int, float, float]]) -> pd.DataFrame:
    """(tag, seed, valid accuracy, test accuracy) rows as ``collect_runs`` output."""
    return _runs_df([{"run_id": f"{tag}_{seed}", "tag": tag, "seed": seed,
                      "valid_acc_has0": val, "acc_has0": test}
                     for tag, seed, val, test in rows])  # fmt: skip


def test_best_by_valid_uses_validation_and_common_seeds():
    df = _valid_runs([
        ("a", 0, 0.70, 0.90), ("a", 1, 0.72, 0.90), ("a", 2, 0.99, 0.90),  # seed 2 only in a
        ("b", 0, 0.80, 0.50), ("b", 1, 0.78, 0.50),
    ])  # fmt: skip
    best, table = results.best_by_valid(df, by="tag")
    # over the common seeds 0 and 1: a 71.0, b 79.0; with seed 2, a would be 80.33 and win,
    # and on the test column a would win too: neither may decide
    assert best == "b"
    assert table["tag"].tolist() == ["b", "a"] and (table["n"] == 2).all()
    np.testing.assert_allclose(table["mean"], [79.0, 71.0])
    assert table["seeds"].tolist() == ["0,1", "0,1"]


def test_best_by_valid_ties_and_latest_run_per_seed():
    df = _valid_runs([("b", 0, 0.79, 0.5), ("c", 0, 0.50, 0.5), ("c", 0, 0.79, 0.5),
                      ("d", 0, 0.60, 0.9)])  # fmt: skip
    df.loc[[1, 2], "run_id"] = ["c_0a", "c_0b"]  # c ran seed 0 twice; the later (0.79) counts
    assert results.best_by_valid(df, by="tag")[0] == "b"  # tie: first in sort order
    assert results.best_by_valid(df, by="tag", prefer="c")[0] == "c"
    assert results.best_by_valid(df, by="tag", prefer="d")[0] == "b"  # d is not tied


def test_best_by_valid_errors():
    df = _valid_runs([("a", 0, 0.7, 0.7), ("b", 1, 0.8, 0.8)])
    with pytest.raises(ValueError, match="share no seed"):
        results.best_by_valid(df, by="tag")
    with pytest.raises(ValueError, match="no column 'nope'"):
        results.best_by_valid(df, by="nope")
    with pytest.raises(ValueError, match="no run with a 'valid_acc_non0' value"):
        results.best_by_valid(df, by="tag", metric="valid_acc_non0")


def test_reference_rows_of_each_seeds_draw_pool_into_one_row(tmp_path):
    from mosi_lib.config import load_config

    for s in (0, 1):  # data.draw=seed: split_seed 0 and 1, one recipe
        cfg = load_config(overrides={"system.seed": s})
        run = runs.create_run(cfg, kind="classifier", root=tmp_path, run_id=f"ref_s{s}")
        run.save_metrics(_classifier_metrics(s, init="logreg"))
    table = results.comparison_table(results.collect_runs(tmp_path), include_literature=False)
    assert len(table) == 1 and table["Seeds"].iloc[0] == "2 (0,1)"
