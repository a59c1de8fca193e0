"""Tests for the SDK layout: the .csd format, the word alignment and ``read_csd_dataset``."""

import h5py
import numpy as np
import pytest

from mosi_lib import paths
from mosi_lib.data.sdk import (
    CSD_FILES,
    CSD_IDENTITY,
    align_to_words,
    read_csd,
    read_csd_dataset,
    write_csd,
)
from mosi_lib.tests.tiny_data import write_tiny_csd

REAL_LABELS = paths.RESOURCES_DIR / "cmu_mosi" / CSD_FILES["labels"]  # vendored, real


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
    raw = read_csd_dataset(write_tiny_csd(tmp_path / "d"))
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
    root = write_tiny_csd(tmp_path / "d", words_file=False)
    raw = read_csd_dataset(root, visual_features="facet42", modalities=["visual", "text"])
    assert raw.modalities == ["text", "visual"] and raw.dims() == {"text": 300, "visual": 35}
    # without Words.csd the zero-vector word "oov" counts as a pause too
    assert raw.report["pause_tokens_dropped"] == 4
    assert [len(x) for x in raw.features["text"]] == [2, 1, 1]
    np.testing.assert_allclose(raw.features["visual"][1], _row(35, 50)[None])
    np.testing.assert_allclose(raw.features["visual"][0][:, 0], [10, 20])
    assert not any(CSD_FILES["audio"] in p for p in raw.files)


def test_csd_missing_and_corrupt_files(tmp_path):
    root = write_tiny_csd(tmp_path / "d", skip=("audio",))
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
    root = write_tiny_csd(tmp_path / "d")
    seq = read_csd(root / CSD_FILES["audio"])
    seq.data["vidB"] = (np.ones((1, 73), np.float32), seq.data["vidB"][1])
    write_csd(root / CSD_FILES["audio"], "COVAREP", seq.data)
    with pytest.raises(ValueError, match=r"COVAREP\.csd: video 'vidB' has feature width 73.*74"):
        read_csd_dataset(root)


@pytest.mark.parametrize("bad", [3.5, np.nan])
def test_csd_bad_label(tmp_path, bad):
    root = write_tiny_csd(tmp_path / "d")
    labels = read_csd(root / CSD_FILES["labels"]).data
    labels["vidA"][0][1, 0] = bad
    write_csd(root / CSD_FILES["labels"], "Opinion Segment Labels", labels)
    with pytest.raises(ValueError, match=r"Opinion_Labels\.csd: video 'vidA' row 1: label"):
        read_csd_dataset(root)


def test_csd_video_missing_in_one_modality(tmp_path):
    root = write_tiny_csd(tmp_path / "d")
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
    root = write_tiny_csd(tmp_path / "d")
    words = read_csd(root / CSD_FILES["words"]).data
    words["vidB"] = (words["vidB"][0][:1], words["vidB"][1][:1])
    write_csd(root / CSD_FILES["words"], "words", words)
    with pytest.raises(ValueError, match=r"Words\.csd: video 'vidB' has 1 words.*2 word vectors"):
        read_csd_dataset(root)


# ---- csd identity (root names, dimension names, widths)


def _with_sdk_roots(root, names=None):
    """Rewrite every file of ``write_tiny_csd`` with the SDK's root name (or ``names[key]``)."""
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
    root = _with_sdk_roots(write_tiny_csd(tmp_path / "d"))
    assert read_csd_dataset(root).dims() == {"text": 300, "audio": 74, "visual": 47}
    # real files spell the root "FACET 4.1" where the SDK's recipe says "FACET_4.1"
    _with_sdk_roots(root, {"facet41": "FACET 4.1", "facet42": "Facet_42"})
    assert read_csd_dataset(root, visual_features="facet42").dims()["visual"] == 35


def test_csd_covarep_and_facet_swapped_are_refused(tmp_path):
    root = _with_sdk_roots(write_tiny_csd(tmp_path / "d"))
    _swap(root / CSD_FILES["audio"], root / CSD_FILES["facet41"])
    with pytest.raises(ValueError, match=r"COVAREP\.csd: root name 'FACET_4\.1' \(47-d\) is the "
                       r"SDK's FACET 4\.1 visual features, expected COVAREP acoustic features "
                       r"\(74-d, root 'COVAREP'\)"):
        read_csd_dataset(root)
    with pytest.raises(ValueError, match=r"Facet_41\.csd: root name 'COVAREP' \(74-d\)"):
        read_csd_dataset(root, modalities=["text", "visual"])


def test_csd_facet42_file_under_the_facet41_name_is_refused(tmp_path):
    root = _with_sdk_roots(write_tiny_csd(tmp_path / "d"))
    _swap(root / CSD_FILES["facet41"], root / CSD_FILES["facet42"])
    with pytest.raises(ValueError, match=r"Facet_41\.csd: root name 'FACET_4\.2' \(35-d\).*"
                       r"expected FACET 4\.1 visual features \(47-d"):
        read_csd_dataset(root, modalities=["visual"])


def test_csd_labels_saved_as_word_vectors_are_refused(tmp_path):
    root = _with_sdk_roots(write_tiny_csd(tmp_path / "d"), {"text": "my_vectors"})
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
    root = _with_sdk_roots(write_tiny_csd(tmp_path / "d"))
    seq = read_csd(root / CSD_FILES["audio"])
    data = {vid: (f[:, :47], iv) for vid, (f, iv) in seq.data.items()}
    write_csd(root / CSD_FILES["audio"], "COVAREP", data)
    with pytest.raises(ValueError, match=r"COVAREP\.csd: root name 'COVAREP' with 47-d features, "
                       r"expected COVAREP acoustic features \(74-d"):
        read_csd_dataset(root)


def test_csd_own_word_vectors_with_another_root_and_width_read(tmp_path):
    root = _with_sdk_roots(write_tiny_csd(tmp_path / "d"))
    seq = read_csd(root / CSD_FILES["text"])
    data = {vid: (f[:, :50], iv) for vid, (f, iv) in seq.data.items()}
    write_csd(root / CSD_FILES["text"], "glove_6B_50d", data)
    assert read_csd_dataset(root, modalities=["text"]).dims() == {"text": 50}
