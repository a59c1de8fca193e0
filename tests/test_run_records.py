"""tools/run_records.py: the committed export rebuilds what the run folders give, byte-stable."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mosi_lib import metrics, runs
from mosi_lib.config import Config
from mosi_lib.report import collect, stats, tables
from mosi_lib.tests.fake_runs import classifier_metrics, write_run

_SPEC = importlib.util.spec_from_file_location(
    "run_records", Path(__file__).resolve().parents[1] / "tools" / "run_records.py")
rr = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(rr)
_FT_SPEC = importlib.util.spec_from_file_location(
    "family_table", Path(__file__).resolve().parents[1] / "tools" / "family_table.py")
ft = importlib.util.module_from_spec(_FT_SPEC)
_FT_SPEC.loader.exec_module(ft)

N_VIDEOS = {"valid": 3, "test": 6}
SEGMENTS = 5  # per video


@pytest.fixture(autouse=True)
def _quick_runs(monkeypatch):
    """Fake run folders without calling git or importing torch for their provenance."""
    monkeypatch.setattr(runs, "git_info", lambda: {"commit": None, "dirty": None})
    monkeypatch.setattr(runs, "versions", lambda: {})


def fake_predictions(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Valid and test rows of a run: scores in [-3, 3] (some exactly 0), outputs around them."""
    split = np.repeat(["valid"] * N_VIDEOS["valid"] + ["test"] * N_VIDEOS["test"], SEGMENTS)
    video = np.repeat([f"vid{v}" for v in range(sum(N_VIDEOS.values()))], SEGMENTS)
    ids = np.array([f"{v}_{i}" for i, v in enumerate(video)])
    label = rng.choice(np.linspace(-3, 3, 13), size=len(ids)).astype(np.float32)  # has 0.0
    output = (label + rng.normal(0, 2, len(ids))).astype(np.float32)
    return {"ids": ids, "video": video, "split": split, "label": label, "output": output}


def split_metrics(p: dict[str, np.ndarray], split: str) -> dict:
    """``metrics.json``'s metrics of one split, from the predictions (as a run computes them)."""
    sel = p["split"] == split
    return {**metrics.binary_metrics(p["output"][sel] > 0, p["label"][sel]),
            "majority_acc_has0": 0.55, "majority_acc_non0": 0.5}


def new_run(study: Path, run_id: str, seed: int, kind: str) -> runs.Run:
    """A run folder whose ``config.yaml`` records ``seed``."""
    cfg = Config()
    cfg.system.seed = seed
    return runs.create_run(cfg, kind=kind, root=study, run_id=run_id)


def fake_study(root: Path) -> Path:
    """Two DEC runs and, per seed 0 and 1, a scratch and a DEC-initialised classifier."""
    study = root / "study"
    for seed in (0, 1):
        new_run(study, f"a_dec_s{seed}", seed, "dec").save_metrics({
            "kind": "dec", "seed": seed, "data_source": "synthetic", "synthetic": True,
            "protocol": "standard", "n_rows": 45, "stopped_early": seed == 0,
            "cluster": {"all": {"acc": 0.6, "nmi": 0.1, "ari": 0.1, "floor": 0.5},
                        "test": {"acc": 0.6, "nmi": 0.1, "ari": 0.1, "floor": 0.5}},
            "cluster_sizes": [20, 25], "target_updates": [],
            "center_init": {"kmeans_sizes": [2, 43], "degenerate": True,
                            "remedy": "labeled_means"},
            "stage2_stop": {"reason": "tol" if seed == 0 else "budget"},
            "stage2_epochs_run": 7 + seed, "train_seconds": 3.5})
    rng = np.random.default_rng(0)
    for seed in (0, 1):
        for init in ("scratch", "dec"):
            p = fake_predictions(rng)
            transfer = None if init == "scratch" else {
                "dec_run": f"a_dec_s{seed}", "checkpoint": "last.pt", "dec_rows": "all",
                "dec_labeled_fraction": 0.4, "dec_stage2_epochs": 7 + seed}
            m = classifier_metrics(
                seed, init=init, protocol="standard", report_split="test",
                report=split_metrics(p, "test"), test=split_metrics(p, "test"),
                valid=split_metrics(p, "valid"), transfer=transfer,
                train_seconds=12.25 + seed, best_epoch=3 + seed, epochs=30)
            run = new_run(study, f"b_{init}_s{seed}", seed, "classifier")
            run.save_predictions(**p)
            run.save_metrics(m)
    (study / "study.json").write_text(json.dumps(
        {"kind": "main", "git": {"commit": "0123456789abcdef", "dirty": False},
         "params": {"seeds": [0, 1]}}))
    return study


def export(study: Path, out: Path) -> dict[str, Path]:
    """Run the tool's ``export`` with a named machine (no torch import)."""
    return rr.export([study], out, command="make study", machine="test machine")


def arms(df: pd.DataFrame, init: str) -> pd.DataFrame:
    """The rows of one arm, by seed."""
    return df[df["init"] == init].sort_values("seed")


# ----------------------------------------------------------------------------- tests


def test_round_trip_accuracies_from_exported_predictions(tmp_path):
    study = fake_study(tmp_path)
    export(study, tmp_path / "out" / "fake")
    df, preds = rr.read_records(tmp_path / "out" / "fake")
    assert list(df.columns) == [*rr.RUN_CSV, "path"] and len(df) == 4
    assert set(preds) == set(df["run_id"])
    assert df["run_id"].tolist() == ["b_dec_s0", "b_dec_s1", "b_scratch_s0", "b_scratch_s1"]
    for _, row in df.iterrows():
        p = preds[row["run_id"]]
        assert set(p["split"]) == {"test"} and len(p["ids"]) == row["n_predictions"] == 30
        acc = float(np.mean((p["output"] > 0) == (p["label"] >= 0)))
        written = runs.load_run(study / row["run_id"]).metrics()
        assert acc == pytest.approx(row["acc_has0"], abs=1e-12)
        assert row["acc_has0"] == written["report"]["acc_has0"]  # as metrics.json holds it
        assert row["valid_acc_has0"] == written["valid"]["acc_has0"]
        assert row["train_seconds"] == written["train_seconds"]
        assert row["best_epoch"] == written["best_epoch"]
        # the stored arrays, with their dtypes, restricted to the report split
        full = runs.load_run(study / row["run_id"]).predictions()
        test = full["split"] == "test"
        for k in rr.PREDICTION_KEYS:
            assert p[k].dtype.kind == full[k].dtype.kind and np.array_equal(p[k], full[k][test])
    dec, scratch = arms(df, "dec"), arms(df, "scratch")
    assert dec["dec_rows"].tolist() == ["all", "all"] and scratch["dec_rows"].tolist() == ["", ""]
    assert dec["dec_run"].tolist() == ["a_dec_s0", "a_dec_s1"]
    assert dec["dec_start_sizes"].tolist() == ["2/43", "2/43"]
    assert dec["dec_start_degenerate"].tolist() == [True, True]
    assert dec["dec_start_remedy"].tolist() == ["labeled_means"] * 2
    assert dec["dec_stage2_stop"].tolist() == ["tol", "budget"]
    assert dec["dec_stage2_epochs_run"].tolist() == [7, 8]
    assert scratch["dec_start_sizes"].tolist() == ["", ""]
    assert scratch["dec_stage2_epochs_run"].isna().all()
    side = json.loads((tmp_path / "out" / "fake_runs.json").read_text())
    assert side["files"] == ["fake_runs.csv", "fake_predictions.csv.gz"]
    assert side["commit"] == "0123456" and side["config"]["seeds"] == [0, 1]
    assert side["counts"] == {"runs": 4, "rows": 4, "prediction_rows": 120}


def test_statistics_from_the_export_equal_those_from_the_run_folders(tmp_path):
    study = fake_study(tmp_path)
    export(study, tmp_path / "fake")
    got, preds = rr.read_records(tmp_path / "fake")
    want = collect.collect_runs(study)
    # paired t-test and Wilcoxon over seeds, DEC - scratch, points of %
    a, b = (100 * arms(got, i)["acc_has0"].to_numpy() for i in ("dec", "scratch"))
    wa, wb = (100 * arms(want, i)["acc_has0"].to_numpy() for i in ("dec", "scratch"))
    assert stats.paired_test(a, b) == stats.paired_test(wa, wb)
    # video bootstrap of the paired difference and of one arm's mean, same resampling seed
    from_files = [[preds[r] for r in arms(got, i)["run_id"]] for i in ("dec", "scratch")]
    from_runs = [collect.run_predictions(arms(want, i)) for i in ("dec", "scratch")]
    for zero in ("has0", "non0"):
        for groups in (slice(0, 2), slice(1, 2)):
            kw = {"split": "test", "zero_policy": zero, "n_boot": 300, "seed": 3}
            assert (stats.video_bootstrap(from_files[groups], **kw)
                    == stats.video_bootstrap(from_runs[groups], **kw))
    # the paired table's over-seed statistics from the exported frame alone
    cols = ["comparison", "metric", "seeds", "n", "mean_diff", "ci_low", "ci_high", "wins",
            "t", "p_ttest", "p_wilcoxon"]
    table = tables.paired_table(got)[cols]
    pd.testing.assert_frame_equal(table, tables.paired_table(want)[cols])
    assert len(table) == 2
    # and the comparison table's over-seed columns
    cols = ["Model", "Acc-2 has0", "95% CI has0", "F1 has0", "Acc-2 non0", "Seeds"]
    pd.testing.assert_frame_equal(tables.comparison_table(got, include_literature=False)[cols],
                                  tables.comparison_table(want, include_literature=False)[cols])


def test_predictions_file_is_byte_identical_when_exported_twice(tmp_path):
    study = fake_study(tmp_path)
    first = export(study, tmp_path / "one" / "fake")
    gz = first["predictions"].read_bytes()
    csv = first["runs"].read_bytes()
    again = export(study, tmp_path / "one" / "fake")  # the same path, overwritten
    other = export(study, tmp_path / "two" / "fake")  # another folder
    for written in (again, other):
        assert written["predictions"].read_bytes() == gz
        assert written["runs"].read_bytes() == csv
    assert gz[4:8] == b"\0\0\0\0"  # gzip header: mtime 0


def test_a_study_without_runs_is_one_error_line_exit_2(tmp_path, capsys):
    empty = tmp_path / "empty_study"
    empty.mkdir()
    for folder in (empty, tmp_path / "missing"):
        assert rr.main([str(folder), "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(folder) in err[0] and err[0].startswith("run_records: error")
    assert not list(tmp_path.glob("x_*"))


def test_an_unreadable_run_is_named_and_left_out(tmp_path, capsys):
    study = fake_study(tmp_path)
    bad = write_run(study, "c_broken_s0", classifier_metrics(0))
    (bad.path / "metrics.json").write_text('{"kind": "classifier", "seed"')  # truncated
    (study / "b_scratch_s1" / "predictions.npz").unlink()  # a run without its outputs
    assert rr.main([str(study), "--out", str(tmp_path / "fake"), "--machine", "m"]) == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [ln for ln in err if "c_broken_s0" in ln]
    assert len(warnings) == 1 and warnings[0].startswith("warning:")
    assert "left out" in warnings[0] and "metrics.json" in warnings[0]
    assert [ln for ln in err if "b_scratch_s1" in ln and "no predictions.npz" in ln]
    df, preds = rr.read_records(tmp_path / "fake")
    assert "c_broken_s0" not in set(df["run_id"]) | set(preds) and len(df) == 4
    assert "b_scratch_s1" not in preds
    assert df.set_index("run_id")["n_predictions"].to_dict() == {
        "b_dec_s0": 30, "b_dec_s1": 30, "b_scratch_s0": 30, "b_scratch_s1": 0}
    side = json.loads((tmp_path / "fake_runs.json").read_text())
    assert list(side["left_out"]) == ["study/c_broken_s0"]
    assert "not readable as JSON" in side["left_out"]["study/c_broken_s0"]


def test_batches_by_seed_read_back_as_one(tmp_path):
    """A study exported seed batch by seed batch: the batches together are the whole export."""
    study = fake_study(tmp_path)
    rr.export([study], tmp_path / "b0", command="make study", machine="m", seeds=[0])
    rr.export([study], tmp_path / "b1", command="make study", machine="m", seeds=[1])
    export(study, tmp_path / "all")
    df_all, preds_all = rr.read_records(tmp_path / "all")
    df0, _ = rr.read_records(tmp_path / "b0")
    assert set(df0["seed"]) == {0} and len(df0) == 2
    df, preds = ft.read_batches([str(tmp_path / "b0"), str(tmp_path / "b1")])
    key = ["run_id"]
    assert df.sort_values(key).drop(columns="path").reset_index(drop=True).equals(
        df_all.sort_values(key).drop(columns="path").reset_index(drop=True))
    assert set(preds) == set(preds_all)
    with pytest.raises(ValueError, match=r"b0: run .* is also in an earlier records file"):
        ft.read_batches([str(tmp_path / "b0"), str(tmp_path / "b0")])
    with pytest.raises(SystemExit, match=r"--seeds \[7\]: no finished classifier run"):
        rr.export([study], tmp_path / "b7", seeds=[7])
