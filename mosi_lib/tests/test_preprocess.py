"""Tests for preprocessing: padding, scaling, split protocols, the HDF5 cache and quality stops."""

from pathlib import Path

import numpy as np
import pytest

from mosi_lib.config import DataConfig
from mosi_lib.data.preprocess import (
    apply_scaler,
    fit_scaler,
    load_processed,
    make_splits,
    pad_truncate,
    preprocess,
    save_processed,
    split_counts,
)
from mosi_lib.tests.conftest import make_raw


def test_pad_truncate_keeps_first_steps_and_masks():
    seqs = [np.arange(6, dtype=np.float32).reshape(3, 2), np.ones((5, 2), np.float32)]
    x, mask, n_trunc = pad_truncate(seqs, 4)
    assert x.shape == (2, 4, 2) and n_trunc == 1
    np.testing.assert_array_equal(x[0], [[0, 1], [2, 3], [4, 5], [0, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 1, 0], [1, 1, 1, 1]])


def test_scaler_hand_values_and_train_rows_only():
    # row 0 and 1 are training rows; row 2 (huge values) must not influence the statistics
    x = np.array([[[0.0], [2.0]], [[4.0], [0.0]], [[100.0], [100.0]]], np.float32)
    mask = np.array([[1, 1], [1, 0], [1, 1]], bool)
    st = fit_scaler(x, mask, np.array([0, 1]))
    assert st["min"][0] == 0 and st["max"][0] == 4
    # min-max values of valid train steps: 0, .5, 1 -> mean .5, std sqrt(1/6)
    np.testing.assert_allclose(st["mean"], [0.5])
    np.testing.assert_allclose(st["std"], [np.sqrt(1 / 6)], rtol=1e-6)
    out = apply_scaler(x, mask, st, "minmax_zscore")
    np.testing.assert_allclose(out[0, :, 0], [-0.5 / np.sqrt(1 / 6), 0.0], atol=1e-6)
    assert out[1, 1, 0] == 0.0  # padded step stays zero
    # min-max then z-score equals a plain z-score of the raw values
    np.testing.assert_allclose(apply_scaler(x, mask, st, "zscore"), out, atol=1e-5)
    np.testing.assert_allclose(apply_scaler(x, mask, st, "minmax")[0, :, 0], [0.0, 0.5])


def test_clip_bounds_scaled_values_and_keeps_the_rest():
    x = np.array([[[0.0], [2.0]], [[4.0], [0.0]], [[100.0], [-100.0]]], np.float32)
    mask = np.array([[1, 1], [1, 0], [1, 1]], bool)
    st = fit_scaler(x, mask, np.array([0, 1]))
    plain = apply_scaler(x, mask, st, "minmax_zscore")
    # min-max on the training range [0, 4], then z-score (mean .5, std sqrt(1/6)): 100 -> 60.0
    sd = np.sqrt(1 / 6)
    np.testing.assert_allclose(plain[2, :, 0], [(25 - 0.5) / sd, (-25 - 0.5) / sd], rtol=1e-5)
    out = apply_scaler(x, mask, st, "minmax_zscore", clip=3.0)
    np.testing.assert_array_equal(out[2, :, 0], [3.0, -3.0])
    np.testing.assert_array_equal(out[:2], plain[:2])  # within [-3, 3]: unchanged
    assert out[1, 1, 0] == 0.0  # padded step stays zero


def test_clip_none_is_the_earlier_recipe_and_bad_clip_refused():
    from mosi_lib.config import Config, validate
    from mosi_lib.runs import recipe_hash

    raw = make_raw(n=60, seed=0)
    base = preprocess(raw, DataConfig())
    clipped = preprocess(raw, DataConfig(clip=0.5))
    for m in base.x:
        assert np.abs(clipped.x[m]).max() <= 0.5 < np.abs(base.x[m]).max()
    older = Config().to_dict()  # a run recorded before data.clip existed
    del older["data"]["clip"]
    assert recipe_hash(older) == recipe_hash(Config())
    cfg = Config()
    cfg.data.clip = 5.0
    assert recipe_hash(cfg) != recipe_hash(Config())
    cfg.data.clip = 0.0
    with pytest.raises(ValueError, match=r"data.clip=0.0: need > 0"):
        validate(cfg)


def test_constant_feature_does_not_divide_by_zero():
    x = np.full((3, 2, 1), 7.0, np.float32)
    mask = np.ones((3, 2), bool)
    out = apply_scaler(x, mask, fit_scaler(x, mask, np.arange(3)), "minmax_zscore")
    assert np.isfinite(out).all() and np.all(out == 0)


def test_unknown_scaling_raises():
    x, mask = np.zeros((1, 1, 1), np.float32), np.ones((1, 1), bool)
    with pytest.raises(ValueError, match="scaling='robust'"):
        apply_scaler(x, mask, fit_scaler(x, mask, np.arange(1)), "robust")


def test_paper_protocol_fractions_and_disjoint_pools():
    rng = np.random.default_rng(0)
    labels = rng.uniform(-3, 3, 1000)
    split, pool = make_splits(labels, np.array(["v"] * 1000), DataConfig())
    assert set(split) == {"train", "valid"} and set(pool) == {"labeled", "unlabeled"}
    assert abs((pool == "labeled").mean() - 0.4) < 0.01
    for p in ("labeled", "unlabeled"):
        assert abs((split[pool == p] == "valid").mean() - 0.2) < 0.01
        # stratified: positive rate equal in train and valid within a pool
        pos = labels >= 0
        a = pos[(pool == p) & (split == "train")].mean()
        b = pos[(pool == p) & (split == "valid")].mean()
        assert abs(a - b) < 0.03
    again = make_splits(labels, np.array(["v"] * 1000), DataConfig())
    assert (again[0] == split).all() and (again[1] == pool).all()
    other = make_splits(labels, np.array(["v"] * 1000), DataConfig(split_seed=1))
    assert (other[1] != pool).any()


def test_paper_strict_protocol_selects_on_labeled_pool_only(raw):
    """Issue 10 item 4: under ``paper`` "40% labels" uses 52% of the labels (selection on the
    union of both pools' validation rows); ``paper_strict`` keeps the same training rows and
    selects on the labeled pool's validation rows only."""
    rng = np.random.default_rng(0)
    labels = rng.uniform(-3, 3, 1000)
    video = np.array(["v"] * 1000)
    split, pool = make_splits(labels, video, DataConfig())
    s_split, s_pool = make_splits(labels, video, DataConfig(protocol="paper_strict"))
    assert (s_pool == pool).all()  # same draws
    assert ((s_split == "train") == (split == "train")).all()  # same training rows
    assert set(s_pool[s_split == "valid"]) == {"labeled"}  # selection: labeled pool only
    held_out = (pool == "unlabeled") & (split == "valid")
    assert ((s_split == "test") == held_out).all()  # the report rows
    # label budget of "40%": 32% train + 20% selection (paper) vs 32% + 8% (strict)
    train_lab = ((split == "train") & (pool == "labeled")).mean()
    assert abs(train_lab + (split == "valid").mean() - 0.52) < 0.01
    assert abs(train_lab + (s_split == "valid").mean() - 0.40) < 0.01
    data = preprocess(raw, DataConfig(protocol="paper_strict", max_len=6))
    assert data.report_split == "test" and not data.labeled[data.split != "train"].any()


def test_standard_protocol_uses_folds():
    import json

    from mosi_lib import paths

    folds = json.loads(paths.STD_FOLDS_FILE.read_text())
    videos = np.array(folds["standard_train_fold"][:3] + folds["standard_test_fold"][:2]
                      + folds["standard_valid_fold"][:1])
    video = np.repeat(videos, 10)
    labels = np.tile([-1.5, 1.5], len(video) // 2)  # both classes in every fold
    split, pool = make_splits(labels, video, DataConfig(protocol="standard"))
    assert (split[:30] == "train").all() and (split[30:50] == "test").all()
    assert (split[50:] == "valid").all() and (pool[30:] == "eval").all()
    assert (pool[:30] == "labeled").sum() == 12  # 40% of 30 train rows
    with pytest.raises(ValueError, match="not in the standard folds"):
        make_splits(labels, np.array(["nope"] * len(video)), DataConfig(protocol="standard"))


def test_preprocess_no_label_or_eval_leak(raw):
    cfg = DataConfig(max_len=6)
    data = preprocess(raw, cfg)
    assert data.x["text"].shape == (len(raw), 6, 5) and data.masks["audio"].shape == (len(raw), 6)
    # labeled mask: only training rows of the labeled pool
    assert not data.labeled[data.split != "train"].any()
    assert (data.pool[data.labeled] == "labeled").all()
    # scaling statistics are fitted on training rows only: changing a validation row's raw
    # features leaves the statistics unchanged
    val = int(data.rows("valid")[0])
    raw.features["audio"][val][:] = 1e6
    again = preprocess(raw, cfg)
    np.testing.assert_array_equal(again.stats["audio"]["max"], data.stats["audio"]["max"])
    # but changing a training row does change them
    tr = int(data.rows("train")[0])
    raw.features["audio"][tr][:] = 1e6
    assert preprocess(raw, cfg).stats["audio"]["max"].max() == 1e6


def test_train_rows_zero_policies(raw):
    data = preprocess(raw, DataConfig(max_len=6))
    has0 = data.train_rows("labeled", "has0")
    non0 = data.train_rows("labeled", "non0")
    assert set(non0) <= set(has0) and (data.labels[non0] != 0).all()
    assert len(data.train_rows("all", "has0")) == (data.split == "train").sum()
    with pytest.raises(ValueError, match="labels="):
        data.train_rows("some", "has0")


def test_missing_modality_raises(raw):
    del raw.features["visual"]
    with pytest.raises(ValueError, match="visual"):
        preprocess(raw, DataConfig(modalities=["text", "audio", "visual"]))


def test_save_load_roundtrip(tmp_path, raw):
    data = preprocess(raw, DataConfig(max_len=6))
    back = load_processed(save_processed(data, tmp_path / "p.h5"))
    assert [p.name for p in tmp_path.iterdir()] == ["p.h5"]  # no temporary file left
    for m in data.modalities:
        np.testing.assert_array_equal(back.x[m], data.x[m])
        np.testing.assert_array_equal(back.masks[m], data.masks[m])
        np.testing.assert_array_equal(back.stats[m]["std"], data.stats[m]["std"])
    for name in ("labels", "ids", "video", "split", "pool", "labeled"):
        np.testing.assert_array_equal(getattr(back, name), getattr(data, name))
    assert back.meta["synthetic"] is True
    assert split_counts(back)["n"].sum() == len(raw)


def test_load_corrupt_cache_names_file(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    with pytest.raises(ValueError, match="bad.h5"):
        load_processed(bad)


def test_damaged_cache_is_named_and_rebuilt(tmp_path, monkeypatch, raw):
    import h5py

    from mosi_lib.data import preprocess as pp
    from mosi_lib.data import sources

    monkeypatch.setattr(sources, "load_raw", lambda cfg, source=None, progress=False: raw)
    monkeypatch.setattr(sources, "resolve_source",
                        lambda cfg: sources.Source("synthetic", tmp_path, []))
    cfg = DataConfig(source="synthetic", max_len=6)
    first = pp.prepare_data(cfg)
    file = Path(first.meta["cache"]["path"])
    with h5py.File(file, "a") as fh:  # a dataset lost
        del fh["labels"]
    with pytest.raises(ValueError, match=rf"{file.name}: not a readable processed-data HDF5 "
                                         r"file \(KeyError"):
        load_processed(file)
    with pytest.warns(UserWarning, match=rf"{file.name}: not a readable .*; rebuilding"):
        again = pp.prepare_data(cfg)
    assert again.meta["cache"]["hit"] is False
    np.testing.assert_array_equal(again.labels, first.labels)
    assert pp.prepare_data(cfg).meta["cache"]["hit"] is True  # whole again
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])  # a write cut short
    with pytest.warns(UserWarning, match="rebuilding"):
        assert pp.prepare_data(cfg).meta["cache"]["hit"] is False


def test_a_cache_changed_in_place_fails_its_checksum_and_is_rebuilt(tmp_path, monkeypatch, raw):
    """D6: label signs flipped inside the cache file (same size, same mtime) are no cache hit:
    one warning names the file, and the data are built again from the source."""
    import os

    import h5py

    from mosi_lib.data import preprocess as pp
    from mosi_lib.data import sources

    monkeypatch.setattr(sources, "load_raw", lambda cfg, source=None, progress=False: raw)
    monkeypatch.setattr(sources, "resolve_source",
                        lambda cfg: sources.Source("synthetic", tmp_path, []))
    cfg = DataConfig(source="synthetic", max_len=6)
    first = pp.prepare_data(cfg)
    file = Path(first.meta["cache"]["path"])
    stat = file.stat()
    with h5py.File(file, "r+") as fh:
        fh["labels"][...] = -fh["labels"][()]
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file.stat().st_size == stat.st_size and file.stat().st_mtime_ns == stat.st_mtime_ns
    with pytest.raises(ValueError, match=rf"{file.name}: its content does not match its checksum"):
        load_processed(file)
    with pytest.warns(UserWarning, match=rf"{file}: its content does not match .*; rebuilding"):
        again = pp.prepare_data(cfg)
    assert again.meta["cache"]["hit"] is False
    np.testing.assert_array_equal(again.labels, first.labels)
    assert pp.prepare_data(cfg).meta["cache"]["hit"] is True


def test_variable_dims_any_subset():
    raw = make_raw(dims={"text": 7, "visual": 2})
    data = preprocess(raw, DataConfig(modalities=["text", "visual"], max_len=4))
    assert data.dims == {"text": 7, "visual": 2}


def test_short_modality_padded_to_its_longest_sequence(raw):
    raw.features["audio"] = [s[:1] for s in raw.features["audio"]]  # one step each
    data = preprocess(raw, DataConfig(max_len=6))
    assert data.x["audio"].shape[1] == 1 and data.masks["audio"].all()
    assert data.x["text"].shape[1] == 6 and data.max_len == 6


def test_prepare_data_warns_and_stops_on_large_drops(monkeypatch):
    from mosi_lib import paths
    from mosi_lib.data import sources
    from mosi_lib.data.preprocess import prepare_data, quality_markdown
    from mosi_lib.data.raw import DataQualityWarning

    raw = make_raw(n=120, dims={"text": 5, "audio": 3})
    raw.source = "mosi_text_audio"
    # 150 labelled segments, 30 without a word in the vocabulary: 20% dropped
    raw.report = {"segments_in_labels": 150, "segments_dropped_no_words": 30,
                  "tokens": 1000, "oov_tokens": 5}
    monkeypatch.setattr(sources, "load_raw", lambda cfg, source=None, progress=False: raw)
    with pytest.warns(DataQualityWarning), pytest.raises(
            ValueError, match=r"data.source=mosi_text_audio: segments dropped: 30 of 150 "
                              r"\(20\.0%\) \(segments_dropped_no_words 30\): above "
                              r"data.max_drop_fraction=0.1"):
        prepare_data(DataConfig(word_vectors="minilm-l6"))
    assert not list(paths.processed_dir().glob("*.h5"))  # nothing cached
    cfg = DataConfig(max_drop_fraction=0.25, word_vectors="minilm-l6")
    for hit in (False, True):  # shown again on a cache hit
        with pytest.warns(DataQualityWarning, match="segments dropped: 30 of 150"):
            data = prepare_data(cfg)
        assert data.meta["cache"]["hit"] is hit
        levels = {f["key"]: f["level"] for f in data.meta["quality"]}
        assert levels == {"segments_dropped": "warning", "oov_tokens": "ok"}
    md = quality_markdown(data)
    assert "`data.max_drop_fraction` = 0.25" in md
    assert "- **warning**: segments dropped: 30 of 150 (20.0%)" in md
    assert "- text tokens not in the word vectors, dropped in mosi_transcripts.csv: 5 of" in md
