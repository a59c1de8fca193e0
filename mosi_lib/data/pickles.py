"""MulT and MMSA pickles: ``{'train','valid','test'}`` dicts of padded arrays -> ``RawData``.

Both layouts share one parser (``_read_split_pickle``): padded (N, T, D) arrays per split, a
label key, segment ids, and in unaligned MMSA files the real lengths. ``read_mult_pickle`` reads
``mosi_data.pkl`` / ``mosi_data_noalign.pkl`` (yaohungt/Multimodal-Transformer),
``read_mmsa_pickle`` ``aligned_50.pkl`` / ``unaligned_50.pkl`` (thuiar/MMSA). The pickle's own
split is kept as ``RawData.extra["split"]``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from mosi_lib.config import MODALITIES
from mosi_lib.data.raw import RawData, check_labels, check_modalities, check_unique, zero_nonfinite

_PICKLE_SPLITS = ("train", "valid", "test")  # the pickles' own keys
_PICKLE_KEYS = {"text": "text", "audio": "audio", "visual": "vision"}


def _to_str(x) -> str:
    return (x.decode("utf-8") if isinstance(x, bytes) else str(x)).strip()


def _check_counts(part: dict, keys: list[str], where: str) -> None:
    """Refuse a split whose ``keys`` hold different numbers of segments, naming the odd ones.

    The count most keys agree on is taken as right, so one label too few is blamed on the
    labels, not on the ids or features that still agree with each other.
    """
    sizes = {k: (np.shape(part[k]) or (0,))[0] for k in keys}
    values = list(sizes.values())
    common = max(values, key=values.count)
    odd = [f"{k!r} holds {v}" for k, v in sizes.items() if v != common]
    if odd:
        others = [k for k, v in sizes.items() if v == common]
        raise ValueError(f"{where}: {', '.join(odd)} segment(s), but {others} hold {common}")


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
    mods = check_modalities(modalities)
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
        _check_counts(part, needed, where)  # one label too few names the labels, not the ids
        labels = np.asarray(part[label_key], dtype=np.float64)
        n = len(labels)
        labels = labels.reshape(n, -1)
        if labels.shape[1] != 1:
            raise ValueError(
                f"{where}[{label_key!r}]: expected one score per segment, "
                f"got shape {np.shape(part[label_key])}"
            )
        check_labels(labels[:, 0], f"{where}[{label_key!r}]")
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
            x, n_bad = zero_nonfinite(x)
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
    check_unique(ids_arr, str(path))
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
