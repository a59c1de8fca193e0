"""Readers for the real CMU-MOSI on-disk layouts, producing one in-memory ``RawData``.

Supported layouts (all read without the CMU-MultimodalSDK):

1. ``csd``: CMU-MultimodalSDK computational sequences (HDF5), word-aligned here.
2. ``mult``: MulT-style pickles (``mosi_data.pkl`` / ``mosi_data_noalign.pkl``).
3. ``mmsa``: MMSA-style pickles (``aligned_50.pkl`` / ``unaligned_50.pkl``).

The synthetic default (``mosi_lib.synthetic``) is written in layout 1 and read back through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mosi_lib.config import MODALITIES

# ----------------------------------------------------------------------------- container


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
            ``pause_tokens_dropped``, ``segments_dropped_empty``); never a silent drop.
    """

    ids: np.ndarray
    video: np.ndarray
    labels: np.ndarray
    features: dict[str, list[np.ndarray]]
    source: str
    synthetic: bool = False
    files: list[str] = field(default_factory=list)
    report: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def modalities(self) -> list[str]:
        """Modalities present, in canonical (text, audio, visual) order."""
        return [m for m in MODALITIES if m in self.features]

    def dims(self) -> dict[str, int]:
        """Feature width of each present modality."""
        return {m: int(self.features[m][0].shape[1]) for m in self.modalities}


# ----------------------------------------------------------------------------- .csd files

CSD_FILES = {
    "text": "CMU_MOSI_TimestampedWordVectors.csd",
    "words": "CMU_MOSI_TimestampedWords.csd",
    "facet41": "CMU_MOSI_Visual_Facet_41.csd",
    "facet42": "CMU_MOSI_Visual_Facet_42.csd",
    "audio": "CMU_MOSI_COVAREP.csd",
    "labels": "CMU_MOSI_Opinion_Labels.csd",
}
"""File names of the CMU-MultimodalSDK computational sequences for CMU-MOSI."""


@dataclass
class CSDSequence:
    """One computational sequence: per-video features and intervals plus metadata.

    Attributes:
        root_name: name of the top-level HDF5 group.
        data: video id -> (features (n, d), intervals (n, 2) start/end seconds).
        metadata: key -> decoded JSON value.
        path: the file it came from (for error messages).
    """

    root_name: str
    data: dict[str, tuple[np.ndarray, np.ndarray]]
    metadata: dict[str, object]
    path: str = ""


def read_csd(path) -> CSDSequence:
    """Read a ``.csd`` computational sequence with h5py (no SDK needed).

    The layout (see ``shared/data/README.md``): one top-level group holding ``data`` and
    ``metadata``; ``data/<video>/features`` (n, d) and ``data/<video>/intervals`` (n, 2);
    ``metadata/<key>`` a (1,) string of JSON text.

    Args:
        path: the ``.csd`` file.

    Returns:
        The sequence; features as stored (float32 or bytes for word tokens), intervals float64.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: not HDF5, or the layout differs (names the file and the group or field).
    """
    import json
    from pathlib import Path

    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: computational sequence file not found")
    try:
        fh = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 .csd file ({err})") from err
    with fh:
        roots = list(fh.keys())
        if len(roots) != 1:
            raise ValueError(f"{path}: expected exactly one top-level group, found {roots}")
        root = fh[roots[0]]
        for part in ("data", "metadata"):
            if part not in root or not isinstance(root[part], h5py.Group):
                raise ValueError(f"{path}: group '{roots[0]}/{part}' missing")
        data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for vid, grp in root["data"].items():
            where = f"{path}: '{roots[0]}/data/{vid}'"
            if "features" not in grp or "intervals" not in grp:
                raise ValueError(f"{where} must hold 'features' and 'intervals' datasets")
            feats = grp["features"][()]
            ivals = np.asarray(grp["intervals"][()], dtype=np.float64)
            if feats.ndim != 2:
                raise ValueError(f"{where}/features: expected 2-d (n, d), got {feats.shape}")
            if ivals.ndim != 2 or ivals.shape[1] != 2 or len(ivals) != len(feats):
                raise ValueError(
                    f"{where}/intervals: expected shape ({len(feats)}, 2), got {ivals.shape}"
                )
            data[vid] = (feats, ivals)
        metadata: dict[str, object] = {}
        for key, ds in root["metadata"].items():
            raw = ds[()]
            raw = raw[0] if getattr(raw, "shape", ()) else raw
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            try:
                metadata[key] = json.loads(text)
            except json.JSONDecodeError:
                metadata[key] = text
    return CSDSequence(root_name=roots[0], data=data, metadata=metadata, path=str(path))


def write_csd(path, root_name: str, data, metadata: dict[str, object] | None = None) -> None:
    """Write a ``.csd`` computational sequence in the CMU-MultimodalSDK layout.

    Args:
        path: output file.
        root_name: top-level group name, e.g. ``"Opinion Segment Labels"``.
        data: video id -> (features (n, d), intervals (n, 2)); gzip-compressed as the SDK does.
        metadata: key -> JSON-serialisable value, stored as a (1,) variable-length string.
    """
    import json

    import h5py

    meta = {"root name": root_name, **(metadata or {})}
    with h5py.File(path, "w") as fh:
        root = fh.create_group(root_name)
        grp = root.create_group("data")
        for vid, (feats, ivals) in data.items():
            g = grp.create_group(vid)
            g.create_dataset("features", data=feats, compression="gzip")
            g.create_dataset("intervals", data=np.asarray(ivals, np.float32), compression="gzip")
        md = root.create_group("metadata")
        str_t = h5py.special_dtype(vlen=str)
        for key, value in meta.items():
            md.create_dataset(key, (1,), dtype=str_t, data=[json.dumps(value)])
