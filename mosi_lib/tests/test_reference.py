"""The logistic-regression reference row (mosi_lib.reference)."""

from __future__ import annotations

import numpy as np

from mosi_lib import reference
from mosi_lib.config import DataConfig
from mosi_lib.data.preprocess import preprocess
from mosi_lib.report import results
from mosi_lib.study import experiments
from mosi_lib.tests.conftest import make_raw


def _data():
    cfg = DataConfig(source="synthetic", modalities=["text", "audio", "visual"], max_len=6,
                     protocol="paper")  # fmt: skip
    return preprocess(make_raw(n=300), cfg)


def test_pooled_features_mean_over_valid_steps_only():
    data = _data()
    x = reference.pooled_features(data)
    assert x.shape == (len(data), 5 + 3 + 4)
    i = int(np.argmin(data.masks["text"].sum(1)))  # a row with padding
    n = data.masks["text"][i].sum()
    np.testing.assert_allclose(x[i, :5], data.x["text"][i, :n].mean(0), rtol=1e-5)


def test_fit_logistic_learns_and_selects_on_valid():
    data = _data()
    res = reference.fit_logistic(data, labels="labeled", zero_policy="has0")
    assert res["C"] in reference.C_GRID and len(res["search"]) == len(reference.C_GRID)
    best = max(s["valid_acc"] for s in res["search"])
    assert res["valid"]["acc_has0"] == best  # the chosen C is the best on valid
    assert res["report"]["acc_has0"] > 0.8  # the text sign is learnable
    assert res["n_train"] == int(data.labeled.sum())
    assert res["test"] is None and res["report"] is res["valid"]  # paper protocol: no test


def test_logistic_references_once_per_study_and_in_table(tiny_config, tmp_path):
    data = _data()
    first = experiments.logistic_references(tiny_config, data, root=tmp_path)
    again = experiments.logistic_references(tiny_config, data, root=tmp_path)
    assert [r.run_id for r in first] == [r.run_id for r in again]
    df = results.collect_runs(tmp_path)
    assert sorted(df["labels"]) == ["all", "labeled"] and (df["init"] == "logreg").all()
    table = results.comparison_table(df, include_literature=False)
    assert "Logistic regression, mean-pooled (all labels)" in set(table["Model"])
    assert set(table["Seeds"]) == {"1 (0)"}
