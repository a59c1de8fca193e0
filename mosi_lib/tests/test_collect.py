import numpy as np
import pandas as pd
import pytest

from mosi_lib import paths
from mosi_lib.report import collect, tables
from mosi_lib.tests.fake_runs import (
    ACC_HAS0,
    F1_NON0,
    classifier_metrics,
    report_metrics,
    three_seeds,
    write_run,
)

# ----------------------------------------------------------------------------- variant names


def test_variant_name():
    assert collect.variant_name("scratch", "labeled", 0.4) == "Transformer (40%)"
    assert collect.variant_name("dec", "labeled", 0.125) == "Transformer + DEC (12.5%)"
    assert collect.variant_name("dec", "all", 0.4) == "Transformer + DEC (all labels)"
    assert (
        collect.variant_name("dec", "all", 1.0, dec_fraction=0.4)
        == "Transformer + DEC (all labels; DEC pretrained with 40%)"
    )
    assert collect.variant_name("scratch", "all", 1.0) == "Transformer (all labels)"
    with pytest.raises(ValueError, match="init='pretrained'"):
        collect.variant_name("pretrained", "all", 1.0)
    with pytest.raises(ValueError, match="labels='some'"):
        collect.variant_name("dec", "some", 0.4)


# ----------------------------------------------------------------------------- collect_runs


def test_collect_runs_reads_finished_classifier_runs(tmp_path):
    root = tmp_path / "study"
    write_run(
        root, "b_dec", classifier_metrics(7, init="dec", labels="all", labeled_fraction_cfg=1.0)
    )
    three_seeds(root)
    write_run(root, "c_unfinished", None)  # no metrics.json: skipped
    write_run(root, "d_dec_pretrain", {"kind": "dec", "seed": 0}, kind="dec")  # not a classifier
    df = collect.collect_runs(root)
    assert list(df.columns) == collect.RUN_COLUMNS
    assert df["run_id"].tolist() == ["b_dec", "run0_s0", "run1_s1", "run2_s2"]  # sorted by id
    # fine-tuned on all labels from a DEC that saw the 40% pool (the run config's fraction)
    assert df["variant"].tolist() == (
        ["Transformer + DEC (all labels; DEC pretrained with 40%)"] + 3 * ["Transformer (40%)"]
    )
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
    write_run(tmp_path, "r0", classifier_metrics(0, valid=None))
    df = collect.collect_runs(tmp_path)
    assert np.isnan(df["valid_acc_has0"].iloc[0]) and df["acc_has0"].iloc[0] == 0.7


def test_collect_runs_default_root_and_empty(tmp_path):
    assert collect.collect_runs().empty  # MOSI_RUNS_DIR does not exist yet
    three_seeds(paths.runs_dir())
    assert len(collect.collect_runs()) == 3  # default root: MOSI_RUNS_DIR
    df = collect.collect_runs(tmp_path / "empty")
    assert df.empty and list(df.columns) == collect.RUN_COLUMNS


@pytest.mark.parametrize(
    "field",
    ["protocol", "n_params", "synthetic", "init", "report", "labeled_fraction_cfg", "best_epoch"],
)
def test_collect_runs_missing_field_names_file_and_field(tmp_path, field):
    m = classifier_metrics()
    del m[field]
    run = write_run(tmp_path, "bad", m)
    with pytest.raises(ValueError, match=f"field '{field}' is missing") as err:
        collect.collect_runs(tmp_path)
    assert str(run.path / "metrics.json") in str(err.value)


def test_collect_runs_null_field_and_missing_report_key(tmp_path):
    write_run(tmp_path, "a_null", classifier_metrics(n_params=None))
    with pytest.raises(ValueError, match=r"a_null/metrics.json: field 'n_params' is missing"):
        collect.collect_runs(tmp_path)
    rep = report_metrics()
    del rep["f1_non0"]
    write_run(tmp_path / "b", "b_rep", classifier_metrics(report=rep))
    with pytest.raises(ValueError, match=r"b_rep/metrics.json: field 'report.f1_non0'"):
        collect.collect_runs(tmp_path / "b")


def test_same_run_id_twice_counts_one_seed_once(tmp_path, capsys):
    """A seed run twice counts once, its latest run (never "43.24 ± 0.00, Seeds 2 (0,0)")."""
    write_run(tmp_path, "first_s0", classifier_metrics(0, report=report_metrics(acc_has0=0.40)))
    write_run(tmp_path, "second_s0", classifier_metrics(0, report=report_metrics(acc_has0=0.50)))
    df = collect.collect_runs(tmp_path)
    assert df["run_id"].tolist() == ["second_s0"]  # the latest run of the seed
    assert "1 repeated run" in capsys.readouterr().out  # dropped with a count, not silently
    assert len(collect.collect_runs(tmp_path, keep_repeats=True)) == 2
    row = tables.comparison_table(df, include_literature=False).iloc[0]
    assert (row["Seeds"], row["Acc-2 has0"]) == ("1 (0)", "50.00")
    # a frame with repeats (keep_repeats) is deduplicated by the table itself
    row = tables.comparison_table(
        collect.collect_runs(tmp_path, keep_repeats=True), include_literature=False
    ).iloc[0]
    assert row["Seeds"] == "1 (0)"


def test_has_synthetic():
    assert collect.has_synthetic(pd.DataFrame({"synthetic": [False, True]}))
    assert not collect.has_synthetic(pd.DataFrame({"synthetic": [False, False]}))
    assert collect.has_synthetic(pd.DataFrame({"Source": ["measured: SYNTHETIC data"]}))
    assert not collect.has_synthetic(pd.DataFrame({"a": [1]}))


# ----------------------------------------------------------------------------- DEC


def _dec_metrics(seed: int = 0, **over) -> dict:
    m = {
        "kind": "dec",
        "seed": seed,
        "data_source": "synthetic",
        "synthetic": True,
        "protocol": "paper",
        "n_rows": 2199,
        "stopped_early": False,
        "cluster": {
            "all": {"acc": 0.61, "nmi": 0.05, "ari": 0.04},
            "valid": {"acc": 0.58, "nmi": 0.03, "ari": 0.02},
        },
        "cluster_sizes": [812, 1387],
        "target_updates": [{"epoch": 1}, {"epoch": 2}],
    }
    m.update(over)
    return m


def test_dec_summary(tmp_path):
    write_run(tmp_path, "a_dec", _dec_metrics(), kind="dec")
    write_run(
        tmp_path,
        "b_dec",
        _dec_metrics(1, target_updates=None, stopped_early=True, cluster_sizes=[0, 50]),
        kind="dec",
    )
    floor = {
        "all": {"acc": 0.6, "nmi": 0.0, "ari": 0.0, "floor": 0.55},
        "valid": {"acc": 0.57, "nmi": 0.0, "ari": 0.0, "floor": 0.57},
    }
    write_run(
        tmp_path,
        "c_dec",
        _dec_metrics(
            2,
            cluster=floor,
            stage2_stop={"reason": "tol"},
            center_init={"kmeans_sizes": [3, 2196], "degenerate": True, "remedy": "labeled_means"},
        ),
        kind="dec",
    )
    write_run(tmp_path, "c_clf", classifier_metrics())  # not a DEC run
    df = collect.dec_summary(tmp_path)
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
    assert all(
        pd.isna(a[k])
        for k in ("floor_report", "start_sizes", "start_degenerate", "start_remedy", "stage2_stop")
    )  # not recorded then
    c = df.iloc[2]
    assert (c["acc_report"], c["floor_report"], c["start_sizes"]) == (0.57, 0.57, "3/2196")
    assert c["start_degenerate"] and c["start_remedy"] == "labeled_means"
    assert c["stage2_stop"] == "tol"
    assert collect.has_synthetic(df)
    assert collect.dec_summary(tmp_path / "none").empty


def test_dec_summary_bad_metrics(tmp_path):
    clusters = _dec_metrics()["cluster"]
    write_run(
        tmp_path / "a",
        "two",
        _dec_metrics(cluster={**clusters, "test": clusters["valid"]}),
        kind="dec",
    )
    with pytest.raises(ValueError, match=r"two/metrics.json: 'cluster' should hold 'all' and one"):
        collect.dec_summary(tmp_path / "a")
    m = _dec_metrics()
    del m["cluster_sizes"]
    write_run(tmp_path / "b", "nosizes", m, kind="dec")
    with pytest.raises(ValueError, match=r"nosizes/metrics.json: field 'cluster_sizes'"):
        collect.dec_summary(tmp_path / "b")
