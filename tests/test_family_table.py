"""tools/family_table.py: the family of paired comparisons, against the stats functions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mosi_lib.report import stats

_SPEC = importlib.util.spec_from_file_location(
    "family_table", Path(__file__).resolve().parents[1] / "tools" / "family_table.py")
ft = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ft)


def _records(seed: int = 0):
    """Runs of three arms x two shares x four seeds; predictions on 40 test rows of 5 videos."""
    rng = np.random.default_rng(seed)
    label = rng.uniform(-3, 3, 40).astype(np.float32)
    video = np.repeat([f"v{i}" for i in range(5)], 8)
    rows, preds = [], {}
    for frac in (0.1, 0.4):
        for tag, skill in (("pretrain:none", 0.6), ("pretrain:ae", 0.7), ("pretrain:dec", 0.75)):
            for s in range(4):
                right = rng.random(40) < skill
                out = np.where(right, label, -label).astype(np.float32)
                out[out == 0] = 0.1
                rid = f"{tag}_{frac}_s{s}"
                preds[rid] = {"ids": np.array([f"x{i}" for i in range(40)]), "video": video,
                              "split": np.full(40, "test"), "label": label, "output": out}
                acc = float(((out > 0) == (label >= 0)).mean())
                rows.append({"run_id": rid, "seed": s, "labeled_fraction": frac, "tag": tag,
                             "report_split": "test", "acc_has0": acc})
    return pd.DataFrame(rows), preds


ARMS = {"scratch": {"tag": "pretrain:none"}, "ae": {"tag": "pretrain:ae"},
        "dec": {"tag": "pretrain:dec"}}


def test_each_row_is_the_stats_functions_on_the_paired_runs():
    df, preds = _records()
    table = ft.family(df, preds, ARMS, [("dec", "scratch"), ("ae", "scratch"), ("dec", "ae")],
                      n_boot=300)
    assert list(table.columns) == ft.COLUMNS and len(table) == 6  # 3 comparisons x 2 shares
    row = table[(table["comparison"] == "dec - scratch") & (table["labeled_fraction"] == 0.4)]
    row = row.iloc[0]
    a = df[(df["tag"] == "pretrain:dec") & (df["labeled_fraction"] == 0.4)].sort_values("seed")
    b = df[(df["tag"] == "pretrain:none") & (df["labeled_fraction"] == 0.4)].sort_values("seed")
    t = stats.paired_test(100 * a["acc_has0"].to_numpy(), 100 * b["acc_has0"].to_numpy())
    assert row["n"] == 4 and row["seeds"] == "0,1,2,3" and row["wins"] == t["wins"]
    assert (row["mean_diff"], row["ci_low"], row["ci_high"], row["p_wilcoxon"]) == pytest.approx(
        (t["mean_diff"], t["ci_low"], t["ci_high"], t["p_wilcoxon"]), nan_ok=True)
    boot = stats.two_level_bootstrap([[preds[r] for r in a["run_id"]],
                                      [preds[r] for r in b["run_id"]]], split="test", n_boot=300)
    assert (row["boot_low"], row["boot_high"]) == (boot["ci_low"], boot["ci_high"])
    assert row["mean_diff"] == pytest.approx(boot["estimate"])  # both from the same runs
    assert row["detectable"] == pytest.approx(stats.detectable_difference(t["std_diff"], 4))
    # Holm over the whole family of six Wilcoxon p-values
    np.testing.assert_allclose(table["p_holm"], stats.holm(table["p_wilcoxon"].to_numpy()))


def test_seeds_paired_and_bad_specs_refused():
    df, preds = _records()
    df = df[~((df["tag"] == "pretrain:none") & (df["seed"] == 3))]  # scratch lacks seed 3
    table = ft.family(df, preds, ARMS, [("dec", "scratch")], n_boot=50)
    assert set(table["seeds"]) == {"0,1,2"} and set(table["n"]) == {3}
    with pytest.raises(ValueError, match=r"arm 'bogus' is not defined"):
        ft.family(df, preds, ARMS, [("bogus", "scratch")])
    twice = pd.concat([df, df.iloc[:1]])
    with pytest.raises(ValueError, match=r"several runs of one seed \[0\]"):
        ft.family(twice, preds, ARMS, [("dec", "scratch")])
    with pytest.raises(ValueError, match=r"--arm 'x': expected NAME=KEY=VALUE"):
        ft.parse_arm("x")
    assert ft.parse_arm('dec=tag=pretrain:dec labels=labeled') == (
        "dec", {"tag": "pretrain:dec", "labels": "labeled"})
    with pytest.raises(ValueError, match=r"arm key 'nope': not a column"):
        ft.select(df, {"nope": "1"})
    assert len(ft.select(df, {"labeled_fraction": "0.4", "tag": "pretrain:ae"})) == 4


def test_committed_numbers_recomputed_from_the_committed_records():
    """The mpnet headline: the table's mean and the family's DEC - scratch row, from the files."""
    prefix = ft.run_records.ROOT / "docs" / "results" / "mpnet_standard"
    df, preds = ft.run_records.read_records(prefix)
    scratch = df[(df["init"] == "scratch") & (df["labels"] == "labeled")]
    table = pd.read_csv(f"{prefix}_table.csv").set_index("Model")
    acc = 100 * scratch["acc_has0"]
    assert table.loc["Transformer (40%)", "Acc-2 has0"] == f"{acc.mean():.2f} ± {acc.std():.2f}"
    for rid in scratch["run_id"]:  # each run's accuracy from its own predictions
        p = preds[rid]
        assert scratch.set_index("run_id").loc[rid, "acc_has0"] == pytest.approx(
            ((p["output"] > 0) == (p["label"] >= 0)).mean())
    arms = {"scratch": {"init": "scratch", "labels": "labeled"},
            "dec": {"init": "dec", "labels": "labeled"}}
    row = ft.family(df, preds, arms, [("dec", "scratch")]).iloc[0]
    family = pd.read_csv(f"{prefix}_family.csv")
    want = family[family["comparison"] == "dec - scratch"].iloc[0]
    for col in ("mean_diff", "ci_low", "ci_high", "boot_low", "boot_high", "detectable"):
        assert row[col] == pytest.approx(want[col], rel=1e-3), col


def test_family_plot_draws_the_committed_table(tmp_path):
    """tools/family_plot.py: one PNG from a family CSV; a CSV without its columns is refused."""
    spec = importlib.util.spec_from_file_location(
        "family_plot", Path(__file__).resolve().parents[1] / "tools" / "family_plot.py")
    fp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fp)
    src = ft.run_records.ROOT / "docs" / "results" / "mpnet_standard_family.csv"
    out = tmp_path / "f.png"
    assert fp.main([str(src), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = fp.plot(pd.read_csv(src), title="t", source="s")
    assert len(fig.axes[0].get_yticklabels()) == len(pd.read_csv(src))
    with pytest.raises(ValueError, match=r"missing columns \['boot_low'"):
        fp.plot(pd.read_csv(src).drop(columns="boot_low"), title="t", source="s")


def test_batches_configs_merge_seeds_as_their_union():
    merged = ft.merged_config([{"protocol": "standard", "seeds": [0, 1, 2, 3]},
                               {"protocol": "standard", "seeds": [4, 5, 6, 7]}])
    assert merged == {"protocol": "standard", "seeds": [0, 1, 2, 3, 4, 5, 6, 7]}
