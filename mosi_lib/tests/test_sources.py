"""Tests for ``sources.load_raw``: which reader and file each ``data.source`` uses."""

import sys
import types

import pytest

from mosi_lib.config import DataConfig
from mosi_lib.data.sources import load_raw
from mosi_lib.tests.tiny_data import mmsa_pickle, mult_pickle, write_tiny_csd


def test_load_raw_dispatch(tmp_path, monkeypatch):
    mult_pickle(tmp_path / "mosi_data_noalign.pkl")
    mmsa_pickle(tmp_path / "aligned_50.pkl")
    cfg = DataConfig(source="mult", data_dir=str(tmp_path), aligned=False)
    assert load_raw(cfg).files == [str(tmp_path / "mosi_data_noalign.pkl")]
    with pytest.raises(FileNotFoundError, match="mosi_data.pkl"):
        load_raw(DataConfig(source="mult", data_dir=str(tmp_path)))
    cfg = DataConfig(source="mmsa", data_dir=str(tmp_path / "aligned_50.pkl"), aligned=False)
    assert load_raw(cfg).source == "mmsa"  # a file is used directly
    tiny = str(write_tiny_csd(tmp_path / "c"))
    assert len(load_raw(DataConfig(source="csd", data_dir=tiny))) == 3
    with pytest.raises(ValueError,
                       match=r"data.source='nope': expected one of \['mosi_text_audio', 'synth"):
        load_raw(DataConfig(source="nope", data_dir=str(tmp_path)))

    calls = []

    def ensure_synthetic(out_dir, seed):
        calls.append((out_dir, seed))
        return write_tiny_csd(out_dir)

    fake = types.ModuleType("mosi_lib.data.synthetic")
    fake.ensure_synthetic = ensure_synthetic
    monkeypatch.setitem(sys.modules, "mosi_lib.data.synthetic", fake)
    monkeypatch.setenv("MOSI_DATA_DIR", str(tmp_path / "data"))
    raw = load_raw(DataConfig(source="synthetic", synthetic_seed=3, visual_features="facet42",
                               modalities=["visual"]))
    assert calls == [(tmp_path / "data" / "raw" / "synthetic_s3", 3)]
    assert raw.source == "synthetic" and raw.synthetic is True and raw.dims() == {"visual": 35}
