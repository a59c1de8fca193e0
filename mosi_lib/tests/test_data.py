"""Tests for the raw-data loaders in mosi_lib.data (files built in the real on-disk layouts)."""

import pickle
import sys
import types

import h5py
import numpy as np
import pytest

from mosi_lib import paths
from mosi_lib.config import DataConfig
from mosi_lib.data import (
    CSD_FILES,
    DataQualityWarning,
    align_to_words,
    check_data_quality,
    read_csd,
    read_csd_dataset,
    read_mmsa_pickle,
    read_mult_pickle,
    write_csd,
)
from mosi_lib.data.csd import CSD_IDENTITY
from mosi_lib.data.sources import modality_files

REAL_LABELS = paths.RESOURCES_DIR / "cmu_mosi" / CSD_FILES["labels"]  # vendored, real


# ---- helpers


def _full(n_rows, width, values):
    """(n_rows, width) float32 array whose row i is filled with values[i]."""
    return np.repeat(np.asarray(values, np.float32)[:, None], width, axis=1)[:n_rows]


def _write_tiny(root, *, words_file=True, skip=()):
    """Two videos in the real .csd layout; see the expected values in the tests below.

    vidA: segments [0, 2) label 1.5 and [2, 4) label -0.5; words
    hi [0, .5], sp, there [1, 1.5], oov [1.5, 2.5] (zero vector, midpoint on the boundary),
    you [2.5, 3.5] (NaN in column 0), sp. vidB: segment [0, 1) label 0 with the word ok
    [.2, .8] and a pause, and segment [5, 6) label 2 with no word.
    """
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "labels": {
            "vidA": (np.array([[1.5], [-0.5]], np.float32), [[0, 2], [2, 4]]),
            "vidB": (np.array([[0.0], [2.0]], np.float32), [[0, 1], [5, 6]]),
        },
    }
    a_iv = [[0, 0.5], [0.5, 1], [1, 1.5], [1.5, 2.5], [2.5, 3.5], [3.5, 4]]
    a_vec = _full(6, 300, [1, 0, 2, 0, 4, 0])
    a_vec[4, 0] = np.nan
    b_iv = [[0.2, 0.8], [0.8, 1.0]]
    files["text"] = {"vidA": (a_vec, a_iv), "vidB": (_full(2, 300, [5, 0]), b_iv)}
    if words_file:
        files["words"] = {
            "vidA": (np.array([[b"hi"], [b"sp"], [b"there"], [b"oov"], [b"you"], [b"sp"]]), a_iv),
            "vidB": (np.array([[b"ok"], [b"sp"]]), b_iv),
        }
    audio_a = _full(8, 74, np.arange(8))
    audio_a[6, 0] = -np.inf
    files["audio"] = {
        "vidA": (audio_a, [[j * 0.5, j * 0.5 + 0.5] for j in range(8)]),
        "vidB": (_full(1, 74, [9]), [[0, 1]]),
    }
    vis_iv = [[0, 0.4], [1.1, 1.4], [2.6, 3.0], [3.0, 3.2]][::-1]  # frames out of time order
    for key, width, scale in (("facet41", 47, 1), ("facet42", 35, 10)):
        files[key] = {
            "vidA": (_full(4, width, np.array([1, 2, 4, 6][::-1]) * scale), vis_iv),
            "vidB": (_full(1, width, [3 * scale]), [[0, 0.5]]),
        }
    for key, data in files.items():
        if key not in skip:
            write_csd(root / CSD_FILES[key], f"seq {key}", data)
    return root


def _row(width, value, first=None):
    out = np.full(width, value, np.float32)
    if first is not None:
        out[0] = first
    return out


# ---- align_to_words


def test_align_to_words_hand_computed():
    words = np.array([[0, 1], [1, 2], [2, 2.5], [3, 4]])
    frames = np.array([[0, 0.5], [0.5, 1], [1, 2], [0.9, 1.1], [3.5, 3.5], [4, 4.5]])
    feats = np.array([[1, 2], [3, 6], [-np.inf, 4], [5, 10], [7, 14], [100, 200]], np.float32)
    # w0: f0 f1 f3 (f2 only touches); w1: f2 (-inf -> 0) and f3; w2: none (f2 ends at 2.0);
    # w3: the zero-length frame at 3.5; f5 only touches w3's end
    expected = np.array([[3, 6], [2.5, 7], [0, 0], [7, 14]], np.float32)
    out, n_empty = align_to_words(words, frames, feats)
    assert out.dtype == np.float32 and out.shape == (4, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert n_empty == 1
    perm = np.array([5, 2, 0, 4, 1, 3])
    out2, _ = align_to_words(words, frames[perm], feats[perm])
    np.testing.assert_allclose(out2, expected, rtol=1e-6)


def test_align_to_words_matches_brute_force():
    rng = np.random.default_rng(0)
    ws = np.round(rng.uniform(0, 10, 60), 1)
    words = np.stack([ws, ws + np.round(rng.uniform(0, 1, 60), 1)], 1)  # some zero-length
    words[-3:] = [[20.0, 20.5], [21.0, 21.0], [11.5, 12.0]]  # after the last frame: no frames
    fs = np.round(rng.uniform(0, 11, 300), 1)
    frames = np.stack([fs, fs + np.round(rng.uniform(0, 0.3, 300), 1)], 1)  # some zero-length
    feats = rng.normal(size=(300, 3)).astype(np.float32)
    out, n_empty = align_to_words(words, frames, feats)
    expected = np.zeros((60, 3))
    for i, (a, b) in enumerate(words):
        point = frames[:, 0] == frames[:, 1]
        hit = np.where(
            point,
            (frames[:, 0] >= a) & (frames[:, 0] < b),
            (frames[:, 0] < b) & (frames[:, 1] > a),
        )
        if hit.any():
            expected[i] = feats[hit].mean(axis=0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert n_empty == int((expected == 0).all(axis=1).sum()) > 0


def test_align_to_words_bad_input():
    with pytest.raises(ValueError, match="frame_intervals: interval row 1"):
        align_to_words([[0, 1]], [[0, 1], [2, 1]], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="frame_features"):
        align_to_words([[0, 1]], [[0, 1]], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="word_intervals"):
        align_to_words([0, 1], [[0, 1]], np.zeros((1, 3)))


# ---- real labels file


def test_real_labels_file_reads(tmp_path):
    seq = read_csd(REAL_LABELS)
    scores = np.concatenate([f[:, 0] for f, _ in seq.data.values()])
    assert seq.root_name == "Opinion Segment Labels"
    assert len(seq.data) == 93 and len(scores) == 2199 and int((scores == 0).sum()) == 96

    # one word at each segment's midpoint, then the full reader on the real labels
    (tmp_path / CSD_FILES["labels"]).symlink_to(REAL_LABELS)
    words = {}
    for vid, (_, iv) in seq.data.items():
        mid = ((iv[:, 0] + iv[:, 1]) / 2).astype(np.float32)
        words[vid] = (np.ones((len(iv), 300), np.float32), np.stack([mid, mid], 1))
    write_csd(tmp_path / CSD_FILES["text"], "glove", words)
    raw = read_csd_dataset(tmp_path, modalities=["text"])
    # 2WGyTLYerpo_44 has a zero-length interval [127.213, 127.213): no word can fall in it
    assert len(raw) == 2198 and raw.report["segments_dropped_no_words"] == 1
    assert "2WGyTLYerpo_44" not in raw.ids and "03bSnISJMiM_1" in raw.ids
    assert len(set(raw.video)) == 93 and int((raw.labels == 0).sum()) == 96
    assert raw.labels.dtype == np.float32 and np.abs(raw.labels).max() == 3.0
    # real label intervals overlap (e.g. 5W7Z1C_fDaE_21 holds _20): shared words are counted
    assert raw.report["words_in_several_segments"] > 0
    assert all(x.shape[0] >= 1 and x.shape[1] == 300 for x in raw.features["text"])


# ---- csd data set


def test_csd_dataset_exact_values(tmp_path):
    raw = read_csd_dataset(_write_tiny(tmp_path / "d"))
    assert raw.ids.tolist() == ["vidA_1", "vidA_2", "vidB_1"]
    assert raw.video.tolist() == ["vidA", "vidA", "vidB"]
    np.testing.assert_array_equal(raw.labels, np.array([1.5, -0.5, 0.0], np.float32))
    assert raw.modalities == ["text", "audio", "visual"]
    assert raw.dims() == {"text": 300, "audio": 74, "visual": 47}
    text = raw.features["text"]
    np.testing.assert_array_equal(text[0], np.stack([_row(300, 1), _row(300, 2)]))
    # "oov" (zero vector, not 'sp') is kept; its midpoint 2.0 is on the boundary -> segment 2
    np.testing.assert_array_equal(text[1], np.stack([_row(300, 0), _row(300, 4, first=0)]))
    np.testing.assert_array_equal(text[2], _row(300, 5)[None])
    audio = raw.features["audio"]
    np.testing.assert_allclose(audio[0], np.stack([_row(74, 0), _row(74, 2)]))
    np.testing.assert_allclose(audio[1], np.stack([_row(74, 3.5), _row(74, 5.5, first=2.5)]))
    np.testing.assert_allclose(audio[2], _row(74, 9)[None])
    vis = raw.features["visual"]
    np.testing.assert_allclose(vis[0], np.stack([_row(47, 1), _row(47, 2)]))
    np.testing.assert_allclose(vis[1], np.stack([_row(47, 0), _row(47, 5)]))
    np.testing.assert_allclose(vis[2], _row(47, 3)[None])
    assert all(x.dtype == np.float32 for m in raw.modalities for x in raw.features[m])
    rep = raw.report
    assert rep["pause_tokens_dropped"] == 3 and rep["segments_dropped_no_words"] == 1
    assert rep["nonfinite_replaced_text"] == 1 and rep["nonfinite_replaced_audio"] == 1
    assert rep["nonfinite_replaced_visual"] == 0
    assert rep["words_without_frames_visual"] == 1 and rep["words_without_frames_audio"] == 0
    assert rep["words_outside_segments"] == 0 and rep["words_in_several_segments"] == 0
    names = {p.rsplit("/", 1)[-1] for p in raw.files}
    assert names == {CSD_FILES[k] for k in ("labels", "text", "words", "audio", "facet41")}
    assert raw.source == "csd" and raw.synthetic is False


def test_csd_facet42_and_zero_vector_pauses(tmp_path):
    root = _write_tiny(tmp_path / "d", words_file=False)
    raw = read_csd_dataset(root, visual_features="facet42", modalities=["visual", "text"])
    assert raw.modalities == ["text", "visual"] and raw.dims() == {"text": 300, "visual": 35}
    # without Words.csd the zero-vector word "oov" counts as a pause too
    assert raw.report["pause_tokens_dropped"] == 4
    assert [len(x) for x in raw.features["text"]] == [2, 1, 1]
    np.testing.assert_allclose(raw.features["visual"][1], _row(35, 50)[None])
    np.testing.assert_allclose(raw.features["visual"][0][:, 0], [10, 20])
    assert not any(CSD_FILES["audio"] in p for p in raw.files)


def test_csd_missing_and_corrupt_files(tmp_path):
    root = _write_tiny(tmp_path / "d", skip=("audio",))
    with pytest.raises(FileNotFoundError, match=CSD_FILES["audio"]):
        read_csd_dataset(root)
    assert len(read_csd_dataset(root, modalities=["text", "visual"])) == 3  # audio not needed
    with pytest.raises(FileNotFoundError, match="folder"):
        read_csd_dataset(tmp_path / "nowhere")
    (root / CSD_FILES["audio"]).write_text("not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        read_csd_dataset(root)
    with h5py.File(root / CSD_FILES["audio"], "w") as fh:
        fh.create_group("COVAREP").create_group("metadata")
    with pytest.raises(ValueError, match="'COVAREP/data' missing"):
        read_csd_dataset(root)
    with pytest.raises(ValueError, match="visual_features"):
        read_csd_dataset(root, visual_features="openface")
    with pytest.raises(ValueError, match="modalities"):
        read_csd_dataset(root, modalities=["text", "video"])


def test_csd_mismatched_width_across_videos(tmp_path):
    root = _write_tiny(tmp_path / "d")
    seq = read_csd(root / CSD_FILES["audio"])
    seq.data["vidB"] = (np.ones((1, 73), np.float32), seq.data["vidB"][1])
    write_csd(root / CSD_FILES["audio"], "COVAREP", seq.data)
    with pytest.raises(ValueError, match=r"COVAREP\.csd: video 'vidB' has feature width 73.*74"):
        read_csd_dataset(root)


@pytest.mark.parametrize("bad", [3.5, np.nan])
def test_csd_bad_label(tmp_path, bad):
    root = _write_tiny(tmp_path / "d")
    labels = read_csd(root / CSD_FILES["labels"]).data
    labels["vidA"][0][1, 0] = bad
    write_csd(root / CSD_FILES["labels"], "Opinion Segment Labels", labels)
    with pytest.raises(ValueError, match=r"Opinion_Labels\.csd: video 'vidA' row 1: label"):
        read_csd_dataset(root)


def test_csd_video_missing_in_one_modality(tmp_path):
    root = _write_tiny(tmp_path / "d")
    seq = read_csd(root / CSD_FILES["audio"])
    del seq.data["vidB"]
    write_csd(root / CSD_FILES["audio"], "COVAREP", seq.data)
    with pytest.warns(UserWarning, match=r"COVAREP\.csd: 1 labelled video"):
        raw = read_csd_dataset(root)
    assert raw.ids.tolist() == ["vidA_1", "vidA_2"]
    assert raw.report["segments_dropped_missing_audio"] == 2
    assert raw.report["segments_dropped_missing_visual"] == 0
    del seq.data["vidA"]
    seq.data["other"] = (np.ones((1, 74), np.float32), [[0, 1]])
    write_csd(root / CSD_FILES["audio"], "COVAREP", seq.data)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no labelled video"):
        read_csd_dataset(root)


def test_csd_word_count_mismatch(tmp_path):
    root = _write_tiny(tmp_path / "d")
    words = read_csd(root / CSD_FILES["words"]).data
    words["vidB"] = (words["vidB"][0][:1], words["vidB"][1][:1])
    write_csd(root / CSD_FILES["words"], "words", words)
    with pytest.raises(ValueError, match=r"Words\.csd: video 'vidB' has 1 words.*2 word vectors"):
        read_csd_dataset(root)


# ---- csd identity (root names, dimension names, widths)


def _with_sdk_roots(root, names=None):
    """Rewrite every file of ``_write_tiny`` with the SDK's root name (or ``names[key]``)."""
    for key, file in CSD_FILES.items():
        if (root / file).exists():
            seq = read_csd(root / file)
            name = (names or {}).get(key, CSD_IDENTITY[key][0])
            write_csd(root / file, name, seq.data, {"dimension names": [key]})
    return root


def _swap(a, b):
    tmp = a.with_suffix(".tmp")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def test_csd_sdk_root_names_read(tmp_path):
    root = _with_sdk_roots(_write_tiny(tmp_path / "d"))
    assert read_csd_dataset(root).dims() == {"text": 300, "audio": 74, "visual": 47}
    # real files spell the root "FACET 4.1" where the SDK's recipe says "FACET_4.1"
    _with_sdk_roots(root, {"facet41": "FACET 4.1", "facet42": "Facet_42"})
    assert read_csd_dataset(root, visual_features="facet42").dims()["visual"] == 35


def test_csd_covarep_and_facet_swapped_are_refused(tmp_path):
    root = _with_sdk_roots(_write_tiny(tmp_path / "d"))
    _swap(root / CSD_FILES["audio"], root / CSD_FILES["facet41"])
    with pytest.raises(ValueError, match=r"COVAREP\.csd: root name 'FACET_4\.1' \(47-d\) is the "
                       r"SDK's FACET 4\.1 visual features, expected COVAREP acoustic features "
                       r"\(74-d, root 'COVAREP'\)"):
        read_csd_dataset(root)
    with pytest.raises(ValueError, match=r"Facet_41\.csd: root name 'COVAREP' \(74-d\)"):
        read_csd_dataset(root, modalities=["text", "visual"])


def test_csd_facet42_file_under_the_facet41_name_is_refused(tmp_path):
    root = _with_sdk_roots(_write_tiny(tmp_path / "d"))
    _swap(root / CSD_FILES["facet41"], root / CSD_FILES["facet42"])
    with pytest.raises(ValueError, match=r"Facet_41\.csd: root name 'FACET_4\.2' \(35-d\).*"
                       r"expected FACET 4\.1 visual features \(47-d"):
        read_csd_dataset(root, modalities=["visual"])


def test_csd_labels_saved_as_word_vectors_are_refused(tmp_path):
    root = _with_sdk_roots(_write_tiny(tmp_path / "d"), {"text": "my_vectors"})
    text = root / CSD_FILES["text"]
    text.write_bytes((root / CSD_FILES["labels"]).read_bytes())
    with pytest.raises(ValueError, match=r"TimestampedWordVectors\.csd: root name 'Opinion "
                       r"Segment Labels' \(1-d\) is the SDK's sentiment labels, expected GloVe"):
        read_csd_dataset(root, modalities=["text"])
    # renamed root, but the metadata still say what the file holds
    seq = read_csd(root / CSD_FILES["labels"])
    write_csd(text, "my_vectors", seq.data, {"dimension names": ["sentiment score"]})
    with pytest.raises(ValueError, match=r"WordVectors\.csd: dimension names \['sentiment "
                       r"score'\] are those of the sentiment labels.*the label would become"):
        read_csd_dataset(root, modalities=["text"])


def test_csd_sdk_root_with_another_width_is_refused(tmp_path):
    root = _with_sdk_roots(_write_tiny(tmp_path / "d"))
    seq = read_csd(root / CSD_FILES["audio"])
    data = {vid: (f[:, :47], iv) for vid, (f, iv) in seq.data.items()}
    write_csd(root / CSD_FILES["audio"], "COVAREP", data)
    with pytest.raises(ValueError, match=r"COVAREP\.csd: root name 'COVAREP' with 47-d features, "
                       r"expected COVAREP acoustic features \(74-d"):
        read_csd_dataset(root)


def test_csd_own_word_vectors_with_another_root_and_width_read(tmp_path):
    root = _with_sdk_roots(_write_tiny(tmp_path / "d"))
    seq = read_csd(root / CSD_FILES["text"])
    data = {vid: (f[:, :50], iv) for vid, (f, iv) in seq.data.items()}
    write_csd(root / CSD_FILES["text"], "glove_6B_50d", data)
    assert read_csd_dataset(root, modalities=["text"]).dims() == {"text": 50}


# ---- data quality (large drops warn, past data.max_drop_fraction they stop)


def test_csd_quality_counts_and_threshold(tmp_path):
    raw = read_csd_dataset(_write_tiny(tmp_path / "d"))
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
                              r"data.max_drop_fraction=0.1"):  # fmt: skip
        check_data_quality(rep, len(raw), cfg, modality_files(cfg))


def test_csd_modality_entirely_nan_stops(tmp_path):
    root = _write_tiny(tmp_path / "d")
    seq = read_csd(root / CSD_FILES["audio"])
    nan = {vid: (np.full_like(f, np.nan), iv) for vid, (f, iv) in seq.data.items()}
    write_csd(root / CSD_FILES["audio"], "COVAREP", nan)
    raw = read_csd_dataset(root, modalities=["text", "audio"])  # zeroed and counted
    assert raw.report["nonfinite_replaced_audio"] == raw.report["values_read_audio"] == 9 * 74
    cfg = DataConfig(source="csd", data_dir=str(root), max_drop_fraction=0.5)
    with pytest.warns(DataQualityWarning), pytest.raises(
            ValueError, match=r"audio values NaN/inf, set to 0 in CMU_MOSI_COVAREP\.csd: 666 of "
                              r"666 \(100\.0%\)"):  # fmt: skip
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
                              r"mosi_transcripts\.csv: 120 of 200 \(60\.0%\)"):  # fmt: skip
        check_data_quality(rep, 10, cfg, modality_files(cfg))
    with pytest.warns(DataQualityWarning) as got:
        found = {f["key"]: f for f in check_data_quality(rep, 10, DataConfig(
            source="mmsa", max_drop_fraction=1.0), {})}  # fmt: skip
    assert len(got) == 2 and "segments whose audio is all zero: 3 of 10" in str(got[1].message)
    assert found["all_zero_segments_audio"]["fraction"] == 0.3


# ---- pickles


def _mult_split(n, seed, vid):
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(n, 4, 300)).astype(np.float32)
    audio = rng.normal(size=(n, 4, 5)).astype(np.float32)
    vision = rng.normal(size=(n, 4, 20)).astype(np.float32)
    text[:, 0] = 0  # MulT pads on the left
    audio[:, :2] = 0
    ids = np.array([[vid.encode(), f"{i}.5".encode(), f"{i + 1}.0".encode()] for i in range(n)])
    return {
        "text": text,
        "audio": audio,
        "vision": vision,
        "labels": rng.uniform(-3, 3, (n, 1, 1)).astype(np.float32),
        "id": ids,
    }


def _mult_pickle(path):
    data = {
        "train": _mult_split(2, 0, "vidA"),
        "valid": _mult_split(1, 1, "vidB"),
        "test": _mult_split(1, 2, "vidC"),
    }
    data["train"]["text"][0, 2] = 0  # zero row inside a sequence: kept
    data["train"]["audio"][1, 3, 0] = -np.inf
    data["valid"]["vision"][0] = 0  # all padding: one zero step
    data["test"]["vision"][0, 1, 2] = np.nan
    path.write_bytes(pickle.dumps(data))
    return data


def test_mult_pickle_round_trip(tmp_path):
    path = tmp_path / "mosi_data.pkl"
    data = _mult_pickle(path)
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
    data = _mult_pickle(path)
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


def _mmsa_pickle(path):
    rng = np.random.default_rng(3)
    data = {}
    for split, n in (("train", 2), ("valid", 1), ("test", 1)):
        text = rng.normal(size=(n, 3, 8)).astype(np.float32)
        text[:, 2] = 0  # MMSA pads at the end
        data[split] = {
            "raw_text": ["a b"] * n,
            "text": text,
            "text_bert": np.ones((n, 3, 3)),
            "audio": rng.normal(size=(n, 6, 5)).astype(np.float32),
            "vision": rng.normal(size=(n, 5, 20)).astype(np.float32),
            "audio_lengths": [4] * n,
            "vision_lengths": np.full(n, 5),
            "regression_labels": rng.uniform(-3, 3, n).astype(np.float32),
            "id": [f"{split}Vid$_${i + 1}" for i in range(n)],
        }
    data["train"]["audio_lengths"] = [0, 9]  # 0: one zero step; 9 > T=6: clipped
    data["train"]["text"][1, 0, 3] = np.nan
    path.write_bytes(pickle.dumps(data))
    return data


def test_mmsa_pickle_round_trip(tmp_path):
    path = tmp_path / "unaligned_50.pkl"
    data = _mmsa_pickle(path)
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
    data["valid"]["vision_lengths"] = [-1]
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(ValueError, match=r"\['valid'\]\['vision_lengths'\]: expected 1"):
        read_mmsa_pickle(path)


# ---- load_raw (mosi_lib.data.sources)


def test_load_raw_dispatch(tmp_path, monkeypatch):
    from mosi_lib.data.sources import load_raw

    _mult_pickle(tmp_path / "mosi_data_noalign.pkl")
    _mmsa_pickle(tmp_path / "aligned_50.pkl")
    cfg = DataConfig(source="mult", data_dir=str(tmp_path), aligned=False)
    assert load_raw(cfg).files == [str(tmp_path / "mosi_data_noalign.pkl")]
    with pytest.raises(FileNotFoundError, match="mosi_data.pkl"):
        load_raw(DataConfig(source="mult", data_dir=str(tmp_path)))
    cfg = DataConfig(source="mmsa", data_dir=str(tmp_path / "aligned_50.pkl"), aligned=False)
    assert load_raw(cfg).source == "mmsa"  # a file is used directly
    assert len(load_raw(DataConfig(source="csd", data_dir=str(_write_tiny(tmp_path / "c"))))) == 3
    with pytest.raises(ValueError,
                       match=r"data.source='nope': expected one of \['mosi_text_audio', 'synth"):
        load_raw(DataConfig(source="nope", data_dir=str(tmp_path)))

    calls = []

    def ensure_synthetic(out_dir, seed):
        calls.append((out_dir, seed))
        return _write_tiny(out_dir)

    fake = types.ModuleType("mosi_lib.data.synthetic")
    fake.ensure_synthetic = ensure_synthetic
    monkeypatch.setitem(sys.modules, "mosi_lib.data.synthetic", fake)
    monkeypatch.setenv("MOSI_DATA_DIR", str(tmp_path / "data"))
    raw = load_raw(DataConfig(source="synthetic", synthetic_seed=3, visual_features="facet42",
                               modalities=["visual"]))
    assert calls == [(tmp_path / "data" / "raw" / "synthetic_s3", 3)]
    assert raw.source == "synthetic" and raw.synthetic is True and raw.dims() == {"visual": 35}
