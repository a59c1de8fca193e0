"""Tests for the synthetic MOSI-shaped default (generated, written as .csd, read back)."""

import collections
import json

import numpy as np
import pytest

from mosi_lib.config import DataConfig
from mosi_lib.data import synthetic
from mosi_lib.data.sdk import CSD_FILES, read_csd, read_csd_dataset
from mosi_lib.data.sources import load_raw


@pytest.fixture(scope="module")
def syn_dir(tmp_path_factory):
    return synthetic.generate_synthetic(tmp_path_factory.mktemp("syn") / "s0", seed=0)


@pytest.fixture(scope="module")
def syn_raw(syn_dir):
    return read_csd_dataset(syn_dir, source="synthetic", synthetic=True)


def test_files_in_real_layout_and_marked_synthetic(syn_dir):
    for key, name in CSD_FILES.items():
        seq = read_csd(syn_dir / name)
        assert "SYNTHETIC" in seq.metadata["dataset name"], key
        assert len(seq.data) == 93, key
    labels = read_csd(syn_dir / CSD_FILES["labels"])
    assert labels.root_name == "Opinion Segment Labels"
    words = read_csd(syn_dir / CSD_FILES["words"])
    tokens = np.concatenate([f[:, 0] for f, _ in words.data.values()])
    assert (tokens == b"sp").sum() > 1000  # pauses present, as in the real transcripts
    info = json.loads((syn_dir / synthetic.MARKER_FILE).read_text())
    assert info["synthetic"] is True and info["seed"] == 0
    assert info["generator_version"] == synthetic.GENERATOR_VERSION


def test_mosi_like_shape(syn_raw):
    from mosi_lib import paths

    folds = json.loads(paths.STD_FOLDS_FILE.read_text())
    real_videos = {v for k in folds if k.startswith("standard_") for v in folds[k]}
    assert set(syn_raw.video) == real_videos and len(real_videos) == 93
    assert 2170 <= len(syn_raw) <= 2230
    per_video = collections.Counter(syn_raw.video).values()
    assert min(per_video) >= 9 and max(per_video) <= 63
    assert syn_raw.dims() == {"text": 300, "audio": 74, "visual": 47}
    lengths = np.array([len(x) for x in syn_raw.features["text"]])
    assert 8 <= np.median(lengths) <= 14 and lengths.max() <= 60
    y = syn_raw.labels
    assert np.abs(y).max() <= 3
    assert 0 < (y == 0).mean() < 0.06  # a few exact zeros, like MOSI's 96 of 2199
    assert 0.45 < (y >= 0).mean() < 0.62
    assert syn_raw.report["pause_tokens_dropped"] > 0
    assert syn_raw.report["words_without_frames_audio"] == 0


def test_facet42_has_35_dims(syn_dir):
    raw = read_csd_dataset(syn_dir, visual_features="facet42", modalities=["visual"])
    assert raw.dims() == {"visual": 35}


def test_same_seed_same_data_other_seed_differs():
    a = synthetic.build_synthetic(seed=3)["labels"].data
    b = synthetic.build_synthetic(seed=3)["labels"].data
    c = synthetic.build_synthetic(seed=4)["labels"].data
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[v][0], b[v][0]) for v in a)
    la = np.concatenate([a[v][0] for v in sorted(a)])
    lc = np.concatenate([c[v][0] for v in sorted(c)])
    assert len(la) != len(lc) or not np.array_equal(la, lc)


def test_difficulty_text_strongest_and_well_below_perfect(syn_raw):
    acc = synthetic.probe_accuracy(syn_raw)
    single = {m: acc[m] for m in ("text", "audio", "visual")}
    assert max(single, key=single.get) == "text"
    assert acc["all"] > acc["majority"] + 0.12
    assert min(single.values()) > acc["majority"] + 0.02  # face and voice carry some signal
    assert acc["all"] < 0.9


@pytest.mark.slow  # integration-scale: generates the synthetic data set twice
def test_ensure_reuses_and_regenerates(tmp_path, monkeypatch):
    calls = []
    real = synthetic.generate_synthetic

    def spy(out_dir, *, seed=0):
        calls.append(seed)
        return real(out_dir, seed=seed)

    monkeypatch.setattr(synthetic, "generate_synthetic", spy)
    out = tmp_path / "syn"
    synthetic.ensure_synthetic(out, 1)
    synthetic.ensure_synthetic(out, 1)
    assert calls == [1]
    (out / CSD_FILES["audio"]).unlink()  # incomplete folder -> regenerated
    synthetic.ensure_synthetic(out, 1)
    assert calls == [1, 1]
    # load_raw goes through the real .csd reader and marks the data synthetic
    raw = load_raw(DataConfig(source="synthetic", data_dir=str(out), synthetic_seed=1))
    assert raw.synthetic and raw.source == "synthetic" and calls == [1, 1]
    assert str(out / CSD_FILES["labels"]) in raw.files
