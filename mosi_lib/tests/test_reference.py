"""The logistic-regression reference row (mosi_lib.study.classifier_runs)."""

from __future__ import annotations

import numpy as np
import pytest

from mosi_lib.config import DataConfig
from mosi_lib.data.preprocess import preprocess
from mosi_lib.report import collect, tables
from mosi_lib.study import classifier_runs
from mosi_lib.tests.conftest import make_raw


def _data():
    cfg = DataConfig(
        source="synthetic", modalities=["text", "audio", "visual"], max_len=6, protocol="paper"
    )
    return preprocess(make_raw(n=300), cfg)


def test_pooled_features_mean_over_valid_steps_only():
    data = _data()
    x = classifier_runs.pooled_features(data)
    assert x.shape == (len(data), 5 + 3 + 4)
    i = int(np.argmin(data.masks["text"].sum(1)))  # a row with padding
    n = data.masks["text"][i].sum()
    np.testing.assert_allclose(x[i, :5], data.x["text"][i, :n].mean(0), rtol=1e-5)


def test_fit_logistic_learns_and_selects_on_valid():
    data = _data()
    res = classifier_runs.fit_logistic(data, labels="labeled", zero_policy="has0")
    assert res["C"] in classifier_runs.C_GRID and len(res["search"]) == len(classifier_runs.C_GRID)
    best = max(s["valid_acc"] for s in res["search"])
    assert res["valid"]["acc_has0"] == best  # the chosen C is the best on valid
    assert res["report"]["acc_has0"] > 0.8  # the text sign is learnable
    assert res["n_train"] == int(data.labeled.sum())
    assert res["test"] is None and res["report"] is res["valid"]  # paper protocol: no test


def test_logistic_references_once_per_study_and_in_table(tiny_config, tmp_path):
    data = _data()
    first = classifier_runs.logistic_references(tiny_config, data, root=tmp_path)
    again = classifier_runs.logistic_references(tiny_config, data, root=tmp_path)
    assert [r.run_id for r in first] == [r.run_id for r in again]
    df = collect.collect_runs(tmp_path)
    # synthetic three-modality data: the pooled and the text-only reference, no transcripts
    assert sorted(zip(df["init"], df["labels"], strict=True)) == [
        ("logreg", "all"),
        ("logreg", "labeled"),
        ("logreg_text", "all"),
        ("logreg_text", "labeled"),
    ]
    table = tables.comparison_table(df, include_literature=False)
    assert {
        "Logistic regression, mean-pooled (all labels)",
        "Logistic regression, mean word vectors (40%)",
    } <= set(table["Model"])
    assert set(table["Seeds"]) == {"1 (0)"}
    text = [r for r in first if r.metrics()["init"] == "logreg_text"][0].metrics()
    assert text["n_params"] == 5 + 1  # the text modality's 5 features and the bias


def test_text_reference_is_the_mean_of_the_word_vectors():
    data = _data()
    x = classifier_runs.reference_features(data, "logreg_text")
    np.testing.assert_allclose(x, classifier_runs.pooled_features(data)[:, :5], rtol=1e-6)


def test_tfidf_reference_fits_on_training_transcripts_only():
    data = _data()
    texts = {
        s: ("great fine" if y >= 0 else "awful bad")
        for s, y in zip(data.ids, data.labels, strict=True)
    }
    for s in data.ids[data.split != "train"]:
        texts[s] += " unseenword"  # a word only evaluation rows hold: not in the vocabulary
    x = classifier_runs.tfidf_features(data, texts)
    assert x.shape == (len(data), 6)  # 4 words + 2 bigrams of the training transcripts
    res = classifier_runs.fit_logistic(
        data, labels="labeled", zero_policy="has0", init="tfidf", texts=texts
    )
    assert res["report"]["acc_has0"] == 1.0 and res["n_features"] == 6
    del texts[data.ids[0]]
    with pytest.raises(ValueError, match=r"TF-IDF reference: 1 segments have no transcript"):
        classifier_runs.tfidf_features(data, texts)
