"""Tests for the data-quality shares: large drops warn, past data.max_drop_fraction they stop."""

import numpy as np
import pytest

from mosi_lib.config import DataConfig
from mosi_lib.data.raw import DataQualityWarning, check_data_quality
from mosi_lib.data.sdk import CSD_FILES, read_csd, read_csd_dataset, write_csd
from mosi_lib.data.sources import modality_files
from mosi_lib.tests.tiny_data import write_tiny_csd


def test_csd_quality_counts_and_threshold(tmp_path):
    raw = read_csd_dataset(write_tiny_csd(tmp_path / "d"))
    rep = raw.report
    assert rep["segments_in_labels"] == 4 and rep["words_read"] == 5  # hi there oov you | ok
    assert rep["values_read_text"] == 5 * 300 and rep["values_read_audio"] == 9 * 74
    cfg = DataConfig(source="csd", data_dir=str(tmp_path / "d"),
                     modalities=["text", "audio", "visual"], max_drop_fraction=0.3)
    with pytest.warns(DataQualityWarning) as got:
        found = check_data_quality(rep, len(raw), cfg, modality_files(cfg))
    texts = [str(w.message) for w in got]
    assert any("segments dropped: 1 of 4 (25.0%) (segments_dropped_no_words 1)" in t
               for t in texts)
    assert any("words with no visual frame, visual set to 0 in CMU_MOSI_Visual_Facet_41.csd: "
               "1 of 5 (20.0%)" in t for t in texts)
    levels = {f["key"]: f["level"] for f in found}
    assert levels["segments_dropped"] == "warning" and levels["nonfinite_replaced_visual"] == "ok"
    cfg.max_drop_fraction = 0.1
    with pytest.warns(DataQualityWarning), pytest.raises(
            ValueError, match=r"segments dropped: 1 of 4 \(25\.0%\).*above "
                              r"data.max_drop_fraction=0.1"):
        check_data_quality(rep, len(raw), cfg, modality_files(cfg))


def test_csd_modality_entirely_nan_stops(tmp_path):
    root = write_tiny_csd(tmp_path / "d")
    seq = read_csd(root / CSD_FILES["audio"])
    nan = {vid: (np.full_like(f, np.nan), iv) for vid, (f, iv) in seq.data.items()}
    write_csd(root / CSD_FILES["audio"], "COVAREP", nan)
    raw = read_csd_dataset(root, modalities=["text", "audio"])  # zeroed and counted
    assert raw.report["nonfinite_replaced_audio"] == raw.report["values_read_audio"] == 9 * 74
    cfg = DataConfig(source="csd", data_dir=str(root), max_drop_fraction=0.5)
    with pytest.warns(DataQualityWarning), pytest.raises(
            ValueError, match=r"audio values NaN/inf, set to 0 in CMU_MOSI_COVAREP\.csd: 666 of "
                              r"666 \(100\.0%\)"):
        check_data_quality(raw.report, len(raw), cfg, modality_files(cfg))


def test_quality_of_oov_tokens_and_all_zero_segments():
    cfg = DataConfig(max_drop_fraction=0.5)
    rep = {"segments_in_labels": 10, "segments_dropped_no_words": 0, "tokens": 200,
           "oov_tokens": 1, "all_zero_segments_audio": 3}
    with pytest.warns(DataQualityWarning) as got:
        found = {f["key"]: f for f in check_data_quality(rep, 10, cfg, modality_files(cfg))}
    assert [str(w.message) for w in got] == [  # 0.5% OOV: no warning
        "data.source=mosi_text_audio: segments whose audio is all zero in "
        "mosi_opensmile_audio.csv: 3 of 10 (30.0%)"]
    assert found["oov_tokens"]["level"] == "ok" and found["segments_dropped"]["count"] == 0
    rep["oov_tokens"] = 120
    with pytest.warns(DataQualityWarning), pytest.raises(
            ValueError, match=r"text tokens not in the word vectors, dropped in "
                              r"mosi_transcripts\.csv: 120 of 200 \(60\.0%\)"):
        check_data_quality(rep, 10, cfg, modality_files(cfg))
    with pytest.warns(DataQualityWarning) as got:
        found = {f["key"]: f for f in check_data_quality(rep, 10, DataConfig(
            source="mmsa", max_drop_fraction=1.0), {})}
    assert len(got) == 2 and "segments whose audio is all zero: 3 of 10" in str(got[1].message)
    assert found["all_zero_segments_audio"]["fraction"] == 0.3
