"""``RawData``: the unpadded, unscaled segments every reader returns (one container, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mosi_lib.config import MODALITIES


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
