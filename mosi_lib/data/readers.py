"""Readers for the real CMU-MOSI on-disk layouts, producing one in-memory ``RawData``.

Supported layouts (all read without the CMU-MultimodalSDK):

1. ``csd``: CMU-MultimodalSDK computational sequences (HDF5), word-aligned here.
2. ``mult``: MulT-style pickles (``mosi_data.pkl`` / ``mosi_data_noalign.pkl``).
3. ``mmsa``: MMSA-style pickles (``aligned_50.pkl`` / ``unaligned_50.pkl``).

The synthetic default (``mosi_lib.data.synthetic``) is written in layout 1 and read back
through it; the ``.csd`` format itself is ``mosi_lib.data.csd``.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mosi_lib.config import MODALITIES, VISUAL_FEATURES
from mosi_lib.data.csd import (
    CSD_FILES,
    CSDSequence,
    _check_intervals,
    _check_labels,
    check_csd_identity,
    is_synthetic_csd,
    read_csd,
    read_csd_labels,
)

# ----------------------------------------------------------------------------- container


class DataQualityWarning(UserWarning):
    """A loader dropped or replaced a large share of the data (see ``check_data_quality``)."""


@dataclass
class RawData:
    """Unpadded, unscaled segments as read from disk.

    Attributes:
        ids: segment ids ``<video>_<clip>``, unique, shape (N,).
        video: video id of each segment, shape (N,).
        labels: sentiment score in [-3, 3], float32, shape (N,).
        features: modality name (``text``/``audio``/``visual``) -> list of N float32 arrays,
            each (T_i, D_m) with T_i >= 1 steps (words) and the modality's feature width D_m.
        source: ``synthetic``, ``csd``, ``mult`` or ``mmsa``.
        synthetic: True when the data were generated (every output says "synthetic").
        files: paths of the files read (for cache keys and provenance).
        report: counts of what the loader replaced or dropped (e.g. ``nonfinite_replaced``,
            ``pause_tokens_dropped``, ``segments_dropped_empty``) and of what it read
            (``segments_in_labels``, ``values_read_<m>``, ...) so that ``check_data_quality``
            can turn them into shares; never a silent drop.
        extra: optional per-segment arrays of shape (N,) a source provides; the pickle readers
            store the pickle's own split (``train``/``valid``/``test``) as ``extra["split"]``.
        provenance: what made the features, beyond the files (JSON-serialisable), e.g. the
            text encoder's name, weights' checksum and layer (``text_audio``); kept in
            ``Processed.meta["provenance"]`` and so in every run's data record.
    """

    ids: np.ndarray
    video: np.ndarray
    labels: np.ndarray
    features: dict[str, list[np.ndarray]]
    source: str
    synthetic: bool = False
    files: list[str] = field(default_factory=list)
    report: dict[str, int] = field(default_factory=dict)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def modalities(self) -> list[str]:
        """Modalities present, in canonical (text, audio, visual) order."""
        return [m for m in MODALITIES if m in self.features]

    def dims(self) -> dict[str, int]:
        """Feature width of each present modality."""
        return {m: int(self.features[m][0].shape[1]) for m in self.modalities}


# ----------------------------------------------------------------------------- word alignment


def _zero_nonfinite(x) -> tuple[np.ndarray, int]:
    """Return ``x`` as float32 with NaN/±inf set to 0, and how many values were replaced."""
    x = np.asarray(x, dtype=np.float32)
    bad = ~np.isfinite(x)
    n_bad = int(np.count_nonzero(bad))
    return (np.where(bad, np.float32(0), x) if n_bad else x), n_bad


def _prefix_sums(order: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Return (m + 1, d) float64 prefix sums of the rows of ``x`` taken in ``order``."""
    sums = np.zeros((len(x) + 1, x.shape[1]), dtype=np.float64)
    # cast first: cumsum of float64 rows is ~3x faster than cumsum(..., dtype=float64)
    sums[1:] = (x if _is_identity(order) else x[order]).astype(np.float64)
    np.cumsum(sums[1:], axis=0, out=sums[1:])
    return sums


def _is_identity(order: np.ndarray) -> bool:
    return bool(np.array_equal(order, np.arange(len(order))))


def align_to_words(word_intervals, frame_intervals, frame_features) -> tuple[np.ndarray, int]:
    """Average a frame-level stream (FACET, COVAREP) over each word's time interval.

    Rule: a frame counts for a word when their intervals overlap by a positive length,
    ``frame_start < word_end`` and ``frame_end > word_start``, so a frame that only touches a
    word's edge does not count; a zero-length frame at time t counts for the words with
    ``word_start <= t < word_end``. Every counted frame has equal weight (the mean, as the
    CMU-MultimodalSDK's average collapse). A word with no frame gets a row of zeros.
    NaN/±inf frame values (real COVAREP holds -inf) are set to 0 before averaging; callers that
    report them count them first.

    Vectorised with prefix sums, no loop over frames or words: frames that start before the word
    ends form a prefix of the start-sorted frames; frames that end at or before the word starts
    form a prefix of the end-sorted frames and are a subset of the first set, so the difference
    of the two prefix sums (and counts) is the sum over the overlapping frames.

    Args:
        word_intervals: (n, 2) word start/end in seconds.
        frame_intervals: (m, 2) frame start/end in seconds, any order.
        frame_features: (m, d) frame values.

    Returns:
        ``(aligned, n_empty)``: float32 (n, d) per-word means and the number of words that had
        no frame (their rows are zeros).

    Raises:
        ValueError: wrong shapes, or a non-finite or reversed (end < start) interval.
    """
    words = np.asarray(word_intervals, dtype=np.float64)
    frames = np.asarray(frame_intervals, dtype=np.float64)
    x, _ = _zero_nonfinite(frame_features)
    if words.ndim != 2 or words.shape[1] != 2:
        raise ValueError(f"word_intervals: expected shape (n, 2), got {words.shape}")
    if frames.ndim != 2 or frames.shape[1] != 2:
        raise ValueError(f"frame_intervals: expected shape (m, 2), got {frames.shape}")
    if x.ndim != 2 or len(x) != len(frames):
        raise ValueError(f"frame_features: expected shape ({len(frames)}, d), got {x.shape}")
    _check_intervals(words, "word_intervals")
    _check_intervals(frames, "frame_intervals")
    start, end = frames[:, 0], frames[:, 1]
    # a zero-length frame must count as "before the word" only when t < word_start
    end_key = np.where(end > start, end, np.nextafter(end, np.inf))
    by_start = np.argsort(start, kind="stable")
    by_end = np.argsort(end_key, kind="stable")
    start_sums = _prefix_sums(by_start, x)
    # frames usually come in time order, so both orders agree and one prefix sum serves
    end_sums = start_sums if np.array_equal(by_start, by_end) else _prefix_sums(by_end, x)
    starts, ends = start[by_start], end_key[by_end]
    n_before_end = np.searchsorted(starts, words[:, 1], side="left")  # frame_start < word_end
    n_done = np.searchsorted(ends, words[:, 0], side="right")  # frame over by word_start
    count = n_before_end - n_done  # (n,)
    sums = start_sums[n_before_end] - end_sums[n_done]  # (n, d)
    out = np.zeros((len(words), x.shape[1]), dtype=np.float32)
    has = count > 0
    out[has] = sums[has] / count[has, None]
    return out, int(np.count_nonzero(~has))


# ----------------------------------------------------------------------------- shared checks


def _check_modalities(modalities) -> list[str]:
    """Return ``modalities`` in canonical order; raise ``ValueError`` if not a valid subset."""
    mods = list(modalities)
    if not mods or any(m not in MODALITIES for m in mods) or len(set(mods)) != len(mods):
        raise ValueError(f"modalities={mods!r}: expected a non-empty subset of {list(MODALITIES)}")
    return [m for m in MODALITIES if m in mods]


def _check_unique(ids: np.ndarray, where: str) -> None:
    """Raise ``ValueError`` listing duplicated segment ids."""
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][:5].tolist()
        raise ValueError(
            f"{where}: duplicate segment ids {dup} ({int((counts > 1).sum())} in all)"
        )


# ----------------------------------------------------------------------------- csd data set


def _check_feature_file(seq: CSDSequence) -> None:
    """Require numeric features of one width across all videos of ``seq``."""
    first = None
    for vid, (feats, _) in seq.data.items():
        if feats.dtype.kind not in "fiu":
            raise ValueError(
                f"{seq.path}: video {vid!r} features have dtype {feats.dtype}, expected numbers"
            )
        if first is None:
            first = (vid, feats.shape[1])
        elif feats.shape[1] != first[1]:
            raise ValueError(
                f"{seq.path}: video {vid!r} has feature width {feats.shape[1]}, expected "
                f"{first[1]} (the width of video {first[0]!r})"
            )


def _pause_mask(tokens: np.ndarray) -> np.ndarray:
    """Return True where a ``CMU_MOSI_TimestampedWords`` token is the pause marker ``sp``."""
    col = tokens.reshape(len(tokens), -1)[:, 0]
    if col.dtype.kind == "S":
        return col == b"sp"
    if col.dtype.kind == "U":
        return col == "sp"
    return np.array([(t.decode() if isinstance(t, bytes) else str(t)) == "sp" for t in col], bool)


def read_csd_dataset(
    data_dir,
    *,
    visual_features: str = "facet41",
    modalities=MODALITIES,
    source: str = "csd",
    synthetic: bool = False,
) -> RawData:
    """Read CMU-MOSI computational sequences and cut them into word-level segments.

    Segments come from the labels file: row i of video v is segment ``f"{v}_{i + 1}"`` with label
    ``features[i, 0]`` and interval ``intervals[i]``. Words come from the word-vector file (always
    read, it defines the words). Pause tokens are rows whose word is ``b'sp'`` when
    ``CMU_MOSI_TimestampedWords.csd`` exists, else rows whose word vector is all zero; they are
    dropped for every modality. A word belongs to each segment whose half-open label interval
    ``[start, end)`` holds the word's midpoint (a word on a boundary goes to the later segment;
    real MOSI label intervals overlap slightly, and a word in an overlap goes to both). Text is
    the word vectors; audio (COVAREP) and visual (FACET) are averaged over each kept word's
    interval by :func:`align_to_words`.

    Args:
        data_dir: folder holding the files named in ``CSD_FILES``.
        visual_features: ``facet41`` (47-d) or ``facet42`` (35-d) for the visual modality.
        modalities: subset of ``("text", "audio", "visual")``; only their files are read.
        source: recorded in ``RawData.source`` (``csd`` or ``synthetic``).
        synthetic: recorded in ``RawData.synthetic``; True anyway when the files are generated
            ones (``is_synthetic_csd``), whatever ``data_dir``.

    Returns:
        ``RawData`` with one (T_i, D_m) float32 array per segment and modality (T_i = words).
        ``report`` counts: ``segments_in_labels``, ``pause_tokens_dropped``, ``words_read``
        (words left after the pauses), ``words_outside_segments``,
        ``words_in_several_segments``, ``segments_dropped_no_words``,
        ``segments_dropped_missing_<file>`` (file key ``text``/``words``/``audio``/``visual``; a
        segment missing from two files counts under both), ``nonfinite_replaced_<modality>``
        and ``words_without_frames_<audio|visual>``, ``values_read_<modality>``.

    Raises:
        FileNotFoundError: ``data_dir`` or a needed file is missing (names the file).
        ValueError: a file is not a valid ``.csd``; a file's root name or dimension names say it
            holds another sequence, or an SDK root has another width (``check_csd_identity``);
            feature widths differ across videos; a label
            is non-finite or outside [-3, 3]; word and token counts differ; nothing is left.
    """
    mods = _check_modalities(modalities)
    if visual_features not in VISUAL_FEATURES:
        raise ValueError(
            f"visual_features={visual_features!r}: expected one of {list(VISUAL_FEATURES)}"
        )
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: folder of CMU-MOSI .csd files not found")
    paths = {"labels": CSD_FILES["labels"], "text": CSD_FILES["text"]}
    if "audio" in mods:
        paths["audio"] = CSD_FILES["audio"]
    if "visual" in mods:
        paths["visual"] = CSD_FILES[visual_features]
    paths = {key: data_dir / name for key, name in paths.items()}
    for key, path in paths.items():
        if not path.exists():
            raise FileNotFoundError(f"{path}: {key} computational sequence not found")
    if (data_dir / CSD_FILES["words"]).exists():
        paths["words"] = data_dir / CSD_FILES["words"]

    label_seq, labels = read_csd_labels(paths.pop("labels"))
    synthetic = synthetic or is_synthetic_csd(data_dir, label_seq.metadata)
    seqs = {key: read_csd(path) for key, path in paths.items()}
    for key in ("text", "audio", "visual"):
        if key in seqs:
            _check_feature_file(seqs[key])
    for key, seq in seqs.items():
        check_csd_identity(seq, visual_features if key == "visual" else key)

    report = {
        "segments_in_labels": sum(len(scores) for scores, _ in labels.values()),
        "pause_tokens_dropped": 0,
        "words_read": 0,
        "words_outside_segments": 0,
        "words_in_several_segments": 0,
        "segments_dropped_no_words": 0,
    }
    report.update({f"values_read_{m}": 0 for m in mods})
    report.update({f"nonfinite_replaced_{m}": 0 for m in mods})
    report.update({f"words_without_frames_{m}": 0 for m in mods if m != "text"})
    for key, seq in seqs.items():
        missing = [v for v in labels if v not in seq.data]
        report[f"segments_dropped_missing_{key}"] = sum(len(labels[v][0]) for v in missing)
        if missing:
            warnings.warn(
                f"{seq.path}: {len(missing)} labelled video(s) missing (e.g. {missing[:3]}); "
                f"their {report[f'segments_dropped_missing_{key}']} segments are dropped",
                DataQualityWarning,
                stacklevel=2,
            )
    videos = [v for v in labels if all(v in seq.data for seq in seqs.values())]
    if not videos:
        raise ValueError(f"{data_dir}: no labelled video is present in every file read")

    ids, video, y = [], [], []
    features: dict[str, list[np.ndarray]] = {m: [] for m in mods}
    for vid in videos:
        vectors, w_ivals = seqs["text"].data[vid]
        where = f"{seqs['text'].path}: video {vid!r}"
        if "words" in seqs:
            tokens = seqs["words"].data[vid][0]
            if len(tokens) != len(vectors):
                raise ValueError(
                    f"{seqs['words'].path}: video {vid!r} has {len(tokens)} words "
                    f"but {where} has {len(vectors)} word vectors"
                )
            pause = _pause_mask(tokens)
        else:
            pause = ~np.any(vectors != 0, axis=1)
        report["pause_tokens_dropped"] += int(pause.sum())
        report["words_read"] += int(np.count_nonzero(~pause))
        w_ivals = w_ivals[~pause]
        _check_intervals(w_ivals, where)
        mid = w_ivals.mean(axis=1)
        order = np.argsort(mid, kind="stable")  # words by midpoint: a segment is a slice
        mid, w_ivals = mid[order], w_ivals[order]
        per_word = {}
        for m in mods:
            if m == "text":
                x, n_bad = _zero_nonfinite(vectors[~pause][order])
                report["values_read_text"] += int(x.size)
            else:
                frames, f_ivals = seqs[m].data[vid]
                x, n_bad = _zero_nonfinite(frames)
                report[f"values_read_{m}"] += int(x.size)
                try:
                    x, n_empty = align_to_words(w_ivals, f_ivals, x)
                except ValueError as err:
                    raise ValueError(f"{seqs[m].path}: video {vid!r}: {err}") from err
                report[f"words_without_frames_{m}"] += n_empty
            report[f"nonfinite_replaced_{m}"] += n_bad
            per_word[m] = x
        scores, s_ivals = labels[vid]
        lo = np.searchsorted(mid, s_ivals[:, 0], side="left")  # first word with mid >= start
        hi = np.searchsorted(mid, s_ivals[:, 1], side="left")  # first word with mid >= end
        cover = np.zeros(len(mid) + 1, dtype=np.int64)  # segments holding each word
        np.add.at(cover, lo, 1)
        np.add.at(cover, hi, -1)
        cover = np.cumsum(cover[:-1])
        report["words_outside_segments"] += int(np.count_nonzero(cover == 0))
        report["words_in_several_segments"] += int(np.count_nonzero(cover > 1))
        for i in range(len(scores)):
            if hi[i] <= lo[i]:
                report["segments_dropped_no_words"] += 1
                continue
            ids.append(f"{vid}_{i + 1}")
            video.append(vid)
            y.append(scores[i])
            for m in mods:
                features[m].append(per_word[m][lo[i] : hi[i]])
    if not ids:
        raise ValueError(f"{data_dir}: no segment holds a word; nothing to read")
    ids_arr = np.array(ids)
    _check_unique(ids_arr, str(data_dir))
    return RawData(
        ids=ids_arr,
        video=np.array(video),
        labels=np.array(y, dtype=np.float32),
        features=features,
        source=source,
        synthetic=synthetic,
        files=[label_seq.path] + [seq.path for seq in seqs.values()],
        report=report,
    )


# ----------------------------------------------------------------------------- pickles

_PICKLE_SPLITS = ("train", "valid", "test")  # the pickles' own keys
_PICKLE_KEYS = {"text": "text", "audio": "audio", "visual": "vision"}


def _to_str(x) -> str:
    return (x.decode("utf-8") if isinstance(x, bytes) else str(x)).strip()


def _parse_ids(raw, n: int, where: str) -> tuple[list[str], list[str]]:
    """Turn a pickle's ``id`` entry into (segment ids, video ids), one per segment.

    Each entry may be a string/bytes or a row of fields. A row of k > 1 fields (MulT MOSI:
    ``(video, start, end)`` as bytes) gives segment ``"_".join(fields)`` and video
    ``fields[0]``. A single string ``"video$_$clip"`` (MMSA) gives ``"video_clip"`` and
    ``"video"``; another string is kept as the segment id, and its video is the part before the
    last ``_`` when what follows is an integer clip number, else the whole string.
    """
    arr = np.asarray(raw, dtype=object)
    if arr.ndim not in (1, 2) or len(arr) != n:
        raise ValueError(f"{where}['id']: expected {n} ids (N,) or (N, k), got shape {arr.shape}")
    seg, vid = [], []
    for row in arr if arr.ndim == 2 else arr[:, None]:
        fields = [_to_str(x) for x in row]
        if len(fields) > 1:
            seg.append("_".join(fields))
            vid.append(fields[0])
        elif "$_$" in fields[0]:
            video, clip = fields[0].split("$_$", 1)
            seg.append(f"{video}_{clip}")
            vid.append(video)
        else:
            head, _, tail = fields[0].rpartition("_")
            seg.append(fields[0])
            vid.append(head if head and tail.isdigit() else fields[0])
    return seg, vid


def _strip_padding(x: np.ndarray, lengths, where: str) -> tuple[list[np.ndarray], dict]:
    """Cut padded (N, T, D) sequences to their real steps.

    With ``lengths`` the first ``lengths[i]`` steps are kept (clipped to T, counted). Without,
    leading and trailing all-zero rows are padding (MulT pads on the left); zero rows inside a
    sequence are kept. A segment left with no step keeps one zero step (counted).

    Returns:
        The list of N float32 (T_i, D) arrays and counts ``padding_rows_stripped``,
        ``all_zero_segments`` and ``lengths_clipped``.
    """
    n, t, d = x.shape
    if lengths is None:
        nz = np.any(x != 0, axis=2)  # (N, T) rows holding a non-zero value
        lo = np.argmax(nz, axis=1)
        hi = t - np.argmax(nz[:, ::-1], axis=1)
        hi[~nz.any(axis=1)] = 0
        n_clip = 0
    else:
        ln = np.asarray(lengths).reshape(-1)
        if len(ln) != n or ln.dtype.kind not in "fiu" or (ln < 0).any() or (ln % 1 != 0).any():
            raise ValueError(
                f"{where}: expected {n} non-negative integer lengths, got "
                f"{ln.dtype} shape {ln.shape}"
            )
        n_clip = int(np.count_nonzero(ln > t))
        lo, hi = np.zeros(n, dtype=np.int64), np.minimum(ln, t).astype(np.int64)
    empty = hi <= lo
    seqs = [
        np.zeros((1, d), np.float32) if empty[i] else x[i, lo[i] : hi[i]].copy() for i in range(n)
    ]
    counts = {
        "padding_rows_stripped": int(n * t - np.maximum(hi - lo, 0).sum()),
        "all_zero_segments": int(empty.sum()),
        "lengths_clipped": n_clip,
    }
    return seqs, counts


def _read_split_pickle(
    path, modalities, *, source: str, label_key: str, length_keys: dict[str, str]
) -> RawData:
    """Read a ``{'train','valid','test'}`` pickle of padded (N, T, D) arrays (MulT/MMSA)."""
    path = Path(path)
    mods = _check_modalities(modalities)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {source} pickle not found")
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: not a readable pickle ({err})") from err
    if not isinstance(data, dict) or any(s not in data for s in _PICKLE_SPLITS):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: expected a dict with keys {list(_PICKLE_SPLITS)}, got {keys}")

    report = {}
    for m in mods:
        report.update(
            {
                f"{k}_{m}": 0
                for k in (
                    "values_read",
                    "nonfinite_replaced",
                    "padding_rows_stripped",
                    "all_zero_segments",
                    "lengths_clipped",
                )
            }
        )
    ids, video, y, split = [], [], [], []
    features: dict[str, list[np.ndarray]] = {m: [] for m in mods}
    widths: dict[str, int] = {}
    for name in _PICKLE_SPLITS:
        part, where = data[name], f"{path}: [{name!r}]"
        needed = [label_key, "id"] + [_PICKLE_KEYS[m] for m in mods]
        if not isinstance(part, dict) or any(k not in part for k in needed):
            have = sorted(part) if isinstance(part, dict) else type(part).__name__
            missing = [k for k in needed if not isinstance(part, dict) or k not in part]
            raise KeyError(f"{where}: missing key(s) {missing} (has {have})")
        labels = np.asarray(part[label_key], dtype=np.float64)
        n = len(labels)
        labels = labels.reshape(n, -1)
        if labels.shape[1] != 1:
            raise ValueError(
                f"{where}[{label_key!r}]: expected one score per segment, "
                f"got shape {np.shape(part[label_key])}"
            )
        _check_labels(labels[:, 0], f"{where}[{label_key!r}]")
        seg, vid = _parse_ids(part["id"], n, where)
        for m in mods:
            key = _PICKLE_KEYS[m]
            x = np.asarray(part[key])
            if x.ndim != 3 or len(x) != n:
                raise ValueError(f"{where}[{key!r}]: expected shape ({n}, T, D), got {x.shape}")
            if widths.setdefault(m, x.shape[2]) != x.shape[2]:
                raise ValueError(
                    f"{where}[{key!r}]: feature width {x.shape[2]}, expected "
                    f"{widths[m]} as in the earlier splits"
                )
            x, n_bad = _zero_nonfinite(x)
            report[f"values_read_{m}"] += int(x.size)
            report[f"nonfinite_replaced_{m}"] += n_bad
            lkey = length_keys.get(m)
            lengths = part[lkey] if lkey in part else None
            seqs, counts = _strip_padding(x, lengths, f"{where}[{lkey or key!r}]")
            for k, v in counts.items():
                report[f"{k}_{m}"] += v
            features[m].extend(seqs)
        ids += seg
        video += vid
        y.append(labels[:, 0])
        split += [name] * n
    ids_arr = np.array(ids)
    _check_unique(ids_arr, str(path))
    return RawData(
        ids=ids_arr,
        video=np.array(video),
        labels=np.concatenate(y).astype(np.float32),
        features=features,
        source=source,
        files=[str(path)],
        report=report,
        extra={"split": np.array(split)},
    )


def read_mult_pickle(path, *, modalities=MODALITIES) -> RawData:
    """Read a MulT-style pickle (``mosi_data.pkl`` aligned or ``mosi_data_noalign.pkl``).

    Layout (yaohungt/Multimodal-Transformer ``src/dataset.py``): ``{'train','valid','test'}``,
    each a dict with ``text`` (N, T, 300), ``audio`` (N, T, D_a), ``vision`` (N, T, D_v),
    ``labels`` (N, 1, 1) and ``id`` (N, 3) bytes ``(video, start, end)``. Any widths and
    lengths are accepted; only the requested modalities must be present. Leading and trailing
    all-zero rows are padding and are stripped (see ``_strip_padding``); NaN/±inf become 0.
    Segment and video ids follow ``_parse_ids``: for the (N, 3) ids, segment
    ``"<video>_<start>_<end>"``, video ``"<video>"``.

    Args:
        path: the pickle file.
        modalities: subset of ``("text", "audio", "visual")`` to read (``visual`` = ``vision``).

    Returns:
        ``RawData`` (source ``mult``) with ``extra["split"]`` the pickle's own split per segment
        and ``report`` counts ``values_read_<m>``, ``nonfinite_replaced_<m>``,
        ``padding_rows_stripped_<m>``, ``all_zero_segments_<m>``.

    Raises:
        FileNotFoundError: no such file.
        KeyError: a split lacks ``labels``, ``id`` or a requested modality's key.
        ValueError: not a pickle, wrong shapes, bad labels or duplicate ids.
    """
    return _read_split_pickle(path, modalities, source="mult", label_key="labels", length_keys={})


def read_mmsa_pickle(path, *, modalities=MODALITIES) -> RawData:
    """Read an MMSA-style pickle (``aligned_50.pkl`` / ``unaligned_50.pkl``, thuiar/MMSA).

    Layout: ``{'train','valid','test'}``, each with ``text`` (N, T, D_t), ``audio``, ``vision``,
    ``regression_labels`` (N,), ``id`` strings ``"video$_$clip"`` (segment ``video_clip``, video
    ``video``), and in unaligned files ``audio_lengths`` / ``vision_lengths``. Where a length
    key is present the first ``length`` steps are kept (lengths above T are clipped and
    counted); otherwise, and always for text (``text_bert`` and ``raw_text`` are not read),
    leading and trailing all-zero rows are stripped. NaN/±inf become 0.

    Args:
        path: the pickle file.
        modalities: subset of ``("text", "audio", "visual")`` to read (``visual`` = ``vision``).

    Returns:
        ``RawData`` (source ``mmsa``) with ``extra["split"]`` and the counts of
        :func:`read_mult_pickle` plus ``lengths_clipped_<m>``.

    Raises:
        FileNotFoundError: no such file.
        KeyError: a split lacks ``regression_labels``, ``id`` or a requested modality's key.
        ValueError: not a pickle, wrong shapes or lengths, bad labels or duplicate ids.
    """
    return _read_split_pickle(
        path,
        modalities,
        source="mmsa",
        label_key="regression_labels",
        length_keys={"audio": "audio_lengths", "visual": "vision_lengths"},
    )


# ----------------------------------------------------------------------------- data quality

QUALITY_WARN_FRACTION = 0.01
"""Share of the data dropped or replaced above which ``check_data_quality`` warns."""


def data_quality(
    report: dict[str, int], n_segments: int, files: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Shares of the data a loader dropped or replaced, from the counts of ``RawData.report``.

    Args:
        report: the loader's counts (``RawData.report``, or ``Processed.meta["report"]``).
        n_segments: segments left after the loader's drops.
        files: modality -> name of the file it came from, named in the texts (optional).

    Returns:
        One dict per quantity the report can measure, with ``key`` (the report count),
        ``count``, ``total``, ``fraction`` and ``text`` (one line: count, total, percentage):
        segments dropped (of ``segments_in_labels``, with the ``segments_dropped_*`` reasons),
        NaN/inf values set to 0 (of ``values_read_<m>``), tokens not in the word vectors (of
        ``tokens``), words without a frame (of ``words_read``), segments whose modality is all
        zero (of the segments).
    """
    files = files or {}
    out: list[dict[str, Any]] = []

    def add(key: str, count, total, what: str, detail: str = "") -> None:
        if count is None or not total:
            return
        frac = count / total
        text = f"{what}: {count} of {total} ({100 * frac:.1f}%){detail}"
        out.append({"key": key, "count": int(count), "total": int(total), "fraction": frac,
                    "text": text})  # fmt: skip

    if report.get("segments_in_labels"):
        reasons = [f"{k} {v}" for k, v in report.items()
                   if k.startswith("segments_dropped_") and v]  # fmt: skip
        add("segments_dropped", report["segments_in_labels"] - n_segments,
            report["segments_in_labels"], "segments dropped",
            f" ({', '.join(reasons)})" if reasons else "")  # fmt: skip
    add("oov_tokens", report.get("oov_tokens"), report.get("tokens"),
        f"text tokens not in the word vectors, dropped{_in(files, 'text')}")  # fmt: skip
    for m in MODALITIES:
        add(f"nonfinite_replaced_{m}", report.get(f"nonfinite_replaced_{m}"),
            report.get(f"values_read_{m}"), f"{m} values NaN/inf, set to 0{_in(files, m)}")
        add(f"words_without_frames_{m}", report.get(f"words_without_frames_{m}"),
            report.get("words_read"), f"words with no {m} frame, {m} set to 0{_in(files, m)}")
        add(f"all_zero_segments_{m}", report.get(f"all_zero_segments_{m}"), n_segments,
            f"segments whose {m} is all zero{_in(files, m)}")  # fmt: skip
    return out


def _in(files: dict[str, str], m: str) -> str:
    return f" in {files[m]}" if m in files else ""


def check_data_quality(report: dict[str, int], n_segments: int, cfg,
                       files: dict[str, str] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Warn about, and past ``data.max_drop_fraction`` refuse, large drops in loaded data.

    Args:
        report: the loader's counts (``RawData.report`` or ``Processed.meta["report"]``).
        n_segments: segments left after the loader's drops.
        cfg: the ``DataConfig`` (``source`` and ``data_dir`` name the data in the messages;
            ``max_drop_fraction`` is the limit).
        files: modality -> file name, named in the messages (``sources.modality_files``).

    Returns:
        The ``data_quality`` findings, each with ``level``: ``ok``, ``warning`` (above
        ``QUALITY_WARN_FRACTION``) or ``error`` (above ``cfg.max_drop_fraction``).

    Warns:
        DataQualityWarning: one per quantity above ``QUALITY_WARN_FRACTION``, with its count.

    Raises:
        ValueError: a quantity above ``cfg.max_drop_fraction`` (one line naming them all).
    """
    where = f"data.source={cfg.source}" + (f" ({cfg.data_dir})" if cfg.data_dir else "")
    findings = data_quality(report, n_segments, files or {})
    for f in findings:
        f["level"] = "ok"
        if f["fraction"] > cfg.max_drop_fraction:
            f["level"] = "error"
        elif f["fraction"] > QUALITY_WARN_FRACTION:
            f["level"] = "warning"
        if f["level"] != "ok":
            warnings.warn(f"{where}: {f['text']}", DataQualityWarning, stacklevel=2)
    bad = [f["text"] for f in findings if f["level"] == "error"]
    if bad:
        raise ValueError(
            f"{where}: {'; '.join(bad)}: above data.max_drop_fraction={cfg.max_drop_fraction} "
            "(check the files, or raise data.max_drop_fraction to accept them)"
        )
    return findings
