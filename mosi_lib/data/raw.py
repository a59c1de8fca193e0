"""``RawData``, what every reader returns, and the input checks every reader shares.

``RawData``: the unpadded, unscaled segments every reader returns (one container, no I/O).

Input checks shared by every reader, and the data-quality shares of what a reader dropped.

* ``check_modalities``, ``check_labels``, ``check_intervals``, ``check_unique``: refuse a bad
  request or a bad file with one line naming the file, row and field.
* ``zero_nonfinite``: NaN/±inf feature values set to 0 and counted (never a silent change).
* ``data_quality`` / ``check_data_quality``: the counts of ``RawData.report`` as shares of the
  data; above ``QUALITY_WARN_FRACTION`` a ``DataQualityWarning``, above
  ``data.max_drop_fraction`` an error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mosi_lib.config import MODALITIES

# =============================================================================
# ``RawData``: the unpadded, unscaled segments every reader returns (one container, no I/O).

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


# =============================================================================
# Input checks shared by every reader, and the data-quality shares of what a reader dropped.

class DataQualityWarning(UserWarning):
    """A loader dropped or replaced a large share of the data (see ``check_data_quality``)."""


# ----------------------------------------------------------------------------- input checks


def check_modalities(modalities) -> list[str]:
    """Return ``modalities`` in canonical order; raise ``ValueError`` if not a valid subset."""
    mods = list(modalities)
    if not mods or any(m not in MODALITIES for m in mods) or len(set(mods)) != len(mods):
        raise ValueError(f"modalities={mods!r}: expected a non-empty subset of {list(MODALITIES)}")
    return [m for m in MODALITIES if m in mods]


def check_labels(y: np.ndarray, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` and the row of the first non-finite or >3 label."""
    bad = ~np.isfinite(y) | (np.abs(y) > 3)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{where} row {row}: label {y[row]} is not a finite score in [-3, 3]")


def check_intervals(ivals: np.ndarray, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` and the row of a non-finite or reversed interval."""
    bad = ~np.isfinite(ivals).all(axis=1) | (ivals[:, 1] < ivals[:, 0])
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"{what}: interval row {row} is {ivals[row].tolist()}; expected finite start <= end"
        )


def check_unique(ids: np.ndarray, where: str) -> None:
    """Raise ``ValueError`` listing duplicated segment ids."""
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][:5].tolist()
        raise ValueError(
            f"{where}: duplicate segment ids {dup} ({int((counts > 1).sum())} in all)"
        )


def zero_nonfinite(x) -> tuple[np.ndarray, int]:
    """Return ``x`` as float32 with NaN/±inf set to 0, and how many values were replaced."""
    x = np.asarray(x, dtype=np.float32)
    bad = ~np.isfinite(x)
    n_bad = int(np.count_nonzero(bad))
    return (np.where(bad, np.float32(0), x) if n_bad else x), n_bad


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
                    "text": text})

    if report.get("segments_in_labels"):
        reasons = [f"{k} {v}" for k, v in report.items()
                   if k.startswith("segments_dropped_") and v]
        add("segments_dropped", report["segments_in_labels"] - n_segments,
            report["segments_in_labels"], "segments dropped",
            f" ({', '.join(reasons)})" if reasons else "")
    add("oov_tokens", report.get("oov_tokens"), report.get("tokens"),
        f"text tokens not in the word vectors, dropped{_in(files, 'text')}")
    for m in MODALITIES:
        add(f"nonfinite_replaced_{m}", report.get(f"nonfinite_replaced_{m}"),
            report.get(f"values_read_{m}"), f"{m} values NaN/inf, set to 0{_in(files, m)}")
        add(f"words_without_frames_{m}", report.get(f"words_without_frames_{m}"),
            report.get("words_read"), f"words with no {m} frame, {m} set to 0{_in(files, m)}")
        add(f"all_zero_segments_{m}", report.get(f"all_zero_segments_{m}"), n_segments,
            f"segments whose {m} is all zero{_in(files, m)}")
    return out


def _in(files: dict[str, str], m: str) -> str:
    return f" in {files[m]}" if m in files else ""


def check_data_quality(report: dict[str, int], n_segments: int, cfg,
                       files: dict[str, str] | None = None) -> list[dict[str, Any]]:
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
