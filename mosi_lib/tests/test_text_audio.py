"""The embedded real source (transcripts + word vectors, openSMILE audio) and its bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from mosi_lib.config import load_config
from mosi_lib.data import text_audio as ta
from mosi_lib.data.sdk import write_csd
from mosi_lib.data.sources import load_raw

WORDS = {"it": 1.0, "was": 2.0, "good": 3.0, "bad": 4.0, "did": 5.0, "n't": 6.0, "really": 7.0,
         "Paris": 8.0}


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


@pytest.fixture
def small(tmp_path):
    """Two videos, five segments, in the vendored files' layouts; a 3-d GloVe text file."""
    labels = {"vidA": [1.5, -2.0, 0.0], "vidB": [2.2, -0.4]}
    write_csd(tmp_path / ta.LABELS_FILE, "Opinion Segment Labels",
              {v: (np.array(s, np.float32)[:, None], np.arange(2 * len(s)).reshape(-1, 2))
               for v, s in labels.items()})
    _write_csv(tmp_path / ta.TRANSCRIPTS_FILE, ["segment_id", "video_id", "clip_id", "text"], [
        ["vidA_1", "vidA", "1", "IT WAS REALLY GOOD"],
        ["vidA_2", "vidA", "2", "IT DIDNT ZZZQ"],
        ["vidA_3", "vidA", "3", "WAS PARIS"],
        ["vidB_1", "vidB", "1", "GOOD GOOD"],
        ["vidB_2", "vidB", "2", "BAD"],
    ])
    _write_csv(tmp_path / ta.AUDIO_FILE, ["segment_id", "f0", "f1"],
               [[s, str(i), str(-i)] for i, s in
                enumerate(["vidA_1", "vidA_2", "vidA_3", "vidB_1", "vidB_2"])])
    glove = tmp_path / "glove.txt"
    glove.write_text("".join(f"{w} {v} {v + 0.5} {-v}\n" for w, v in WORDS.items()))
    return tmp_path, str(glove)


def test_reads_small_set_words_in_order(small):
    root, glove = small
    raw = ta.read_text_audio(root, word_vectors=glove)
    assert raw.source == "mosi_text_audio" and not raw.synthetic
    assert list(raw.ids) == ["vidA_1", "vidA_2", "vidA_3", "vidB_1", "vidB_2"]
    np.testing.assert_allclose(raw.labels, [1.5, -2.0, 0.0, 2.2, -0.4])
    assert raw.dims() == {"text": 3, "audio": 2}
    # "IT WAS REALLY GOOD" -> it, was, really, good in order
    np.testing.assert_allclose(raw.features["text"][0][:, 0], [1, 2, 7, 3])
    # "IT DIDNT ZZZQ": didnt -> did + n't; zzzq unknown (dropped, counted)
    np.testing.assert_allclose(raw.features["text"][1][:, 0], [1, 5, 6])
    # a cased file: PARIS is found as "Paris"
    np.testing.assert_allclose(raw.features["text"][2][:, 0], [2, 8])
    assert raw.features["audio"][4].shape == (1, 2)
    np.testing.assert_allclose(raw.features["audio"][4], [[4, -4]])
    assert raw.report["oov_tokens"] == 1 and raw.report["oov_types"] == 1
    assert raw.report["contractions_split"] == 1 and raw.report["tokens"] == 12
    assert raw.report["segments_dropped_no_words"] == 0


def test_tokenize_and_contractions():
    assert ta.tokenize("  IT'S  Really, GOOD!! ") == ["it's", "really", "good"]
    vocab = {"did", "n't", "should", "'ve", "i", "'m", "ca"}
    assert ta.split_contraction("didnt", vocab) == ["did", "n't"]
    assert ta.split_contraction("cant", vocab) == ["ca", "n't"]
    assert ta.split_contraction("shouldve", vocab) == ["should", "'ve"]
    assert ta.split_contraction("im", vocab) == ["i", "'m"]
    assert ta.split_contraction("zzz", vocab) is None


def test_empty_transcript_and_all_oov_are_counted_drops(small):
    root, glove = small
    rows = list(csv.reader(open(root / ta.TRANSCRIPTS_FILE)))
    rows[2][3] = ""  # vidA_2 empty
    rows[5][3] = "QQQ XXXZ"  # vidB_2: no known word
    _write_csv(root / ta.TRANSCRIPTS_FILE, rows[0], rows[1:])
    raw = ta.read_text_audio(root, word_vectors=glove)
    assert list(raw.ids) == ["vidA_1", "vidA_3", "vidB_1"]
    assert raw.report["segments_dropped_no_words"] == 2
    assert len(raw.features["audio"]) == 3


def test_segment_without_rows_is_a_counted_drop(small):
    root, glove = small
    rows = list(csv.reader(open(root / ta.AUDIO_FILE)))
    _write_csv(root / ta.AUDIO_FILE, rows[0], rows[1:5])  # vidB_2 has no audio row
    raw = ta.read_text_audio(root, word_vectors=glove)
    assert raw.report["segments_dropped_no_audio"] == 1 and len(raw) == 4
    raw = ta.read_text_audio(root, word_vectors=glove, modalities=["text"])
    assert len(raw) == 5 and "segments_dropped_no_audio" not in raw.report


@pytest.mark.parametrize(
    ("file", "line", "edit", "message"),
    [
        (ta.AUDIO_FILE, 3, lambda r: r + ["7"], r"line 3: 4 fields, expected 3"),
        (ta.AUDIO_FILE, 2, lambda r: r[:2], r"line 2: 2 fields, expected 3"),
        (ta.AUDIO_FILE, 4, lambda r: [r[0], "abc", r[2]], r"line 4 field 'f0': 'abc' is not"),
        (ta.AUDIO_FILE, 5, lambda r: [r[0], r[1], "nan"], r"line 5 field 'f1': 'nan' is not fin"),
        (ta.AUDIO_FILE, 2, lambda r: ["vidC_1"] + r[1:], r"line 2: segment_id 'vidC_1' is not"),
        (ta.TRANSCRIPTS_FILE, 3, lambda r: ["vidA_1"] + r[1:], r"line 3: .*'vidA_1' repeats"),
        (ta.TRANSCRIPTS_FILE, 2, lambda r: ["vidA_9"] + r[1:], r"'vidA_9' is not a segment"),
    ],
)
def test_bad_rows_name_file_line_and_field(small, file, line, edit, message):
    root, glove = small
    rows = list(csv.reader(open(root / file)))
    rows[line - 1] = edit(rows[line - 1])
    with open(root / file, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    with pytest.raises(ValueError, match=message) as err:
        ta.read_text_audio(root, word_vectors=glove)
    assert file in str(err.value)


def test_an_excel_bom_is_read_like_utf8_and_an_extra_column_is_named(small):
    """A UTF-8 CSV saved by Excel (byte-order mark) reads the same; a column beyond the known
    ones is named in a warning, not ignored without a word."""
    root, glove = small
    before = ta.read_text_audio(root, word_vectors=glove)
    for name in (ta.TRANSCRIPTS_FILE, ta.AUDIO_FILE):
        path = root / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    after = ta.read_text_audio(root, word_vectors=glove)
    assert after.ids.tolist() == before.ids.tolist()
    for m in before.features:
        for a, b in zip(after.features[m], before.features[m], strict=True):
            np.testing.assert_array_equal(a, b)
    rows = list(csv.reader(open(root / ta.TRANSCRIPTS_FILE, encoding="utf-8-sig")))
    _write_csv(root / ta.TRANSCRIPTS_FILE, rows[0] + ["speaker"], [r + ["x"] for r in rows[1:]])
    with pytest.warns(UserWarning, match=rf"{ta.TRANSCRIPTS_FILE}: column\(s\) \['speaker'\] "
                                         r"ignored; expected the columns \['segment_id', "):
        ta.read_text_audio(root, word_vectors=glove)


def test_missing_or_renamed_files(small, tmp_path):
    root, glove = small
    (root / ta.AUDIO_FILE).rename(root / "audio.csv")
    with pytest.raises(FileNotFoundError, match=ta.AUDIO_FILE):
        ta.read_text_audio(root, word_vectors=glove)
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        ta.read_text_audio(root, word_vectors=str(tmp_path / "nope.txt"), modalities=["text"])
    with pytest.raises(FileNotFoundError, match="not found"):
        ta.read_text_audio(tmp_path / "absent", word_vectors=glove)
    _write_csv(root / ta.TRANSCRIPTS_FILE, ["id", "text"], [["vidA_1", "GOOD"]])
    with pytest.raises(ValueError, match="header must start with"):
        ta.read_text_audio(root, word_vectors=glove, modalities=["text"])


def test_a_file_that_links_to_itself_is_named_a_loop(small):
    """Issue 37: a transcripts file that is a symlink to itself is a link leading nowhere,
    named as such by the check before any folder and by the reader, not "not found"."""
    from mosi_lib.data.sources import check_data_location

    root, glove = small
    path = root / ta.TRANSCRIPTS_FILE
    path.unlink()
    path.symlink_to(path)
    said = (rf"{ta.TRANSCRIPTS_FILE}: a symbolic link that leads nowhere \(a loop or a missing "
            r"target\); expected a file")
    with pytest.raises(FileNotFoundError, match=said):
        ta.read_text_audio(root, word_vectors=glove)
    cfg = load_config(overrides={"data.data_dir": str(root), "data.word_vectors": glove})
    with pytest.raises(FileNotFoundError, match=said):
        check_data_location(cfg.data)


def test_bad_word_vector_file(small):
    root, glove = small
    with open(glove, "a") as fh:
        fh.write("zzzq 1.0 2.0\n")  # a word the transcripts use, one value short
    with pytest.raises(ValueError, match=r"glove.txt line 9: word 'zzzq' has 2 values, line 1 "
                                         r"\(word '\w+'\) has 3"):
        ta.read_text_audio(root, word_vectors=glove)


def test_bad_first_line_of_a_word_vector_file_is_named(small):
    root, glove = small
    lines = Path(glove).read_text().splitlines(keepends=True)
    word = lines[0].split(" ")[0]
    Path(glove).write_text(f"{word} 1.0 2.0 3.0 4.0\n" + "".join(lines[1:]))  # one value too many
    with pytest.raises(ValueError, match=rf"line 2: word '\w+' has 3 values, line 1 "
                                         rf"\(word '{word}'\) has 4"):
        ta.read_text_audio(root, word_vectors=glove)
    Path(glove).write_text(f"{word} 1.0 nan 3.0\n" + "".join(lines[1:]))
    with pytest.raises(ValueError, match=rf"line 1: word '{word}' has a NaN or infinite value"):
        ta.read_text_audio(root, word_vectors=glove)


def test_visual_is_refused(small):
    root, glove = small
    with pytest.raises(ValueError, match="no visual modality"):
        ta.read_text_audio(root, word_vectors=glove, modalities=["text", "visual"])
    with pytest.raises(ValueError, match=r"provides \['text', 'audio'\] only"):
        load_config(overrides={"data.modalities": ["text", "audio", "visual"]})


def test_through_load_raw_and_config(small):
    root, glove = small
    cfg = load_config(overrides={"data.data_dir": str(root), "data.word_vectors": glove})
    assert cfg.data.source == "mosi_text_audio" and cfg.data.modalities == ["text", "audio"]
    raw = load_raw(cfg.data)
    assert len(raw) == 5 and raw.modalities == ["text", "audio"]


def test_vendored_real_data_set():
    """The vendored files: every CMU-MOSI segment, GloVe 6B 50d, openSMILE 73-d."""
    raw = ta.read_text_audio(word_vectors="glove-6b-50d")
    assert len(raw) == 2199 and len(set(raw.video)) == 93
    assert raw.dims() == {"text": 50, "audio": 73}
    assert int((raw.labels == 0).sum()) == 96
    r = raw.report
    assert r["segments_dropped_no_words"] == r["segments_dropped_no_audio"] == 0
    assert r["tokens"] == 27540 and 0 < r["oov_tokens"] < 0.01 * r["tokens"]
    assert all(len(s) >= 1 for s in raw.features["text"])
    assert raw.ids[0] == "03bSnISJMiM_1"
    assert ta.describe("glove-6b-50d") == ("real CMU-MOSI (transcripts + GloVe 6B 50d, "
                                           "openSMILE); not the paper's SDK features")
