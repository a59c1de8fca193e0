"""The SDK layout: a folder of CMU-MOSI ``.csd`` sequences -> word-level ``RawData``.

``read_csd_dataset`` cuts the labelled segments out of the word-vector sequence and averages the
frame-level streams (COVAREP audio, FACET visual) over each word's interval
(``align_to_words``). The ``.csd`` format itself is ``mosi_lib.data.csd``; the synthetic default
(``mosi_lib.data.synthetic``) is written in this layout and read back through it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from mosi_lib.config import MODALITIES, VISUAL_FEATURES
from mosi_lib.data.csd import (
    CSD_FILES,
    CSDSequence,
    check_csd_identity,
    is_synthetic_csd,
    read_csd,
    read_csd_labels,
)
from mosi_lib.data.quality import (
    DataQualityWarning,
    check_intervals,
    check_modalities,
    check_unique,
    zero_nonfinite,
)
from mosi_lib.data.raw import RawData

# ----------------------------------------------------------------------------- word alignment


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
    x, _ = zero_nonfinite(frame_features)
    if words.ndim != 2 or words.shape[1] != 2:
        raise ValueError(f"word_intervals: expected shape (n, 2), got {words.shape}")
    if frames.ndim != 2 or frames.shape[1] != 2:
        raise ValueError(f"frame_intervals: expected shape (m, 2), got {frames.shape}")
    if x.ndim != 2 or len(x) != len(frames):
        raise ValueError(f"frame_features: expected shape ({len(frames)}, d), got {x.shape}")
    check_intervals(words, "word_intervals")
    check_intervals(frames, "frame_intervals")
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
    mods = check_modalities(modalities)
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
        check_intervals(w_ivals, where)
        mid = w_ivals.mean(axis=1)
        order = np.argsort(mid, kind="stable")  # words by midpoint: a segment is a slice
        mid, w_ivals = mid[order], w_ivals[order]
        per_word = {}
        for m in mods:
            if m == "text":
                x, n_bad = zero_nonfinite(vectors[~pause][order])
                report["values_read_text"] += int(x.size)
            else:
                frames, f_ivals = seqs[m].data[vid]
                x, n_bad = zero_nonfinite(frames)
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
    check_unique(ids_arr, str(data_dir))
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
