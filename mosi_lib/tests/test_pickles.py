"""Tests for the MulT and MMSA pickle readers."""

import pickle

import numpy as np
import pytest

from mosi_lib.data.pickles import read_mmsa_pickle, read_mult_pickle
from mosi_lib.tests.tiny_data import mmsa_pickle, mult_pickle


def test_mult_pickle_round_trip(tmp_path):
    path = tmp_path / "mosi_data.pkl"
    data = mult_pickle(path)
    raw = read_mult_pickle(path)
    assert raw.ids.tolist() == ["vidA_0.5_1.0", "vidA_1.5_2.0", "vidB_0.5_1.0", "vidC_0.5_1.0"]
    assert raw.video.tolist() == ["vidA", "vidA", "vidB", "vidC"]
    assert raw.extra["split"].tolist() == ["train", "train", "valid", "test"]
    assert raw.source == "mult" and raw.files == [str(path)]
    expected_y = np.concatenate([data[s]["labels"].ravel() for s in ("train", "valid", "test")])
    np.testing.assert_array_equal(raw.labels, expected_y)
    np.testing.assert_array_equal(raw.features["text"][0], data["train"]["text"][0, 1:])
    assert [len(x) for x in raw.features["text"]] == [3, 3, 3, 3]
    audio1 = data["train"]["audio"][1, 2:].copy()
    audio1[1, 0] = 0
    np.testing.assert_array_equal(raw.features["audio"][1], audio1)
    np.testing.assert_array_equal(raw.features["visual"][2], np.zeros((1, 20), np.float32))
    assert raw.features["visual"][3][1, 2] == 0
    assert raw.dims() == {"text": 300, "audio": 5, "visual": 20}
    rep = raw.report
    assert rep["padding_rows_stripped_text"] == 4 and rep["padding_rows_stripped_audio"] == 8
    assert rep["padding_rows_stripped_visual"] == 4 and rep["all_zero_segments_visual"] == 1
    assert rep["nonfinite_replaced_audio"] == 1 and rep["nonfinite_replaced_visual"] == 1
    assert rep["nonfinite_replaced_text"] == 0


def test_mult_pickle_modalities_and_errors(tmp_path):
    path = tmp_path / "mosi_data.pkl"
    data = mult_pickle(path)
    for split in data.values():
        del split["vision"]
    path.write_bytes(pickle.dumps(data))
    raw = read_mult_pickle(path, modalities=["audio", "text"])
    assert raw.modalities == ["text", "audio"] and "visual" not in raw.features
    with pytest.raises(
        KeyError, match=r"mosi_data\.pkl: \['train'\]: missing key\(s\) \['vision'\]"
    ):
        read_mult_pickle(path)
    data["valid"]["id"] = data["train"]["id"][:1]
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(ValueError, match=r"duplicate segment ids \['vidA_0.5_1.0'\]"):
        read_mult_pickle(path, modalities=["text"])
    data["valid"]["id"] = np.array([[b"vidB", b"0", b"1"]])
    data["test"]["labels"][0, 0, 0] = -4
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(ValueError, match=r"\['test'\]\['labels'\] row 0: label -4"):
        read_mult_pickle(path, modalities=["text"])
    data["test"]["labels"][0, 0, 0] = 1
    data["test"]["text"] = data["test"]["text"][:, :, :299]
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(ValueError, match=r"\['test'\]\['text'\]: feature width 299, expected 300"):
        read_mult_pickle(path, modalities=["text"])
    path.write_text("not a pickle")
    with pytest.raises(ValueError, match="not a readable pickle"):
        read_mult_pickle(path)
    with pytest.raises(FileNotFoundError, match="nope.pkl"):
        read_mult_pickle(tmp_path / "nope.pkl")


def test_mmsa_pickle_round_trip(tmp_path):
    path = tmp_path / "unaligned_50.pkl"
    data = mmsa_pickle(path)
    raw = read_mmsa_pickle(path)
    assert raw.ids.tolist() == ["trainVid_1", "trainVid_2", "validVid_1", "testVid_1"]
    assert raw.video.tolist() == ["trainVid", "trainVid", "validVid", "testVid"]
    assert raw.extra["split"].tolist() == ["train", "train", "valid", "test"]
    np.testing.assert_array_equal(raw.labels[:2], data["train"]["regression_labels"])
    assert [len(x) for x in raw.features["audio"]] == [1, 6, 4, 4]
    np.testing.assert_array_equal(raw.features["audio"][0], np.zeros((1, 5), np.float32))
    np.testing.assert_array_equal(raw.features["audio"][2], data["valid"]["audio"][0, :4])
    np.testing.assert_array_equal(raw.features["visual"][3], data["test"]["vision"][0])
    text1 = data["train"]["text"][1, :2].copy()
    text1[0, 3] = 0
    np.testing.assert_array_equal(raw.features["text"][1], text1)
    rep = raw.report
    assert rep["all_zero_segments_audio"] == 1 and rep["lengths_clipped_audio"] == 1
    assert rep["padding_rows_stripped_audio"] == 6 + 0 + 2 + 2
    assert rep["padding_rows_stripped_text"] == 4 and rep["nonfinite_replaced_text"] == 1
    assert raw.source == "mmsa"
    raw = read_mmsa_pickle(path, modalities=["text"])
    assert raw.modalities == ["text"]
    # B23b: one label too few is blamed on the labels, not on the ids that still agree
    labels = data["train"]["regression_labels"]
    data["train"]["regression_labels"] = labels[:1]
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(ValueError, match=r"\['train'\]: 'regression_labels' holds 1 segment\(s\), "
                       r"but \['id', 'text', 'audio', 'vision'\] hold 2$"):
        read_mmsa_pickle(path)
    data["train"]["regression_labels"] = labels
    data["valid"]["vision_lengths"] = [-1]
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(ValueError, match=r"\['valid'\]\['vision_lengths'\]: expected 1"):
        read_mmsa_pickle(path)
