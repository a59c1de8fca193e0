"""Data: from files on disk to the padded, scaled, split arrays the models train on.

* ``csd``: the CMU-MultimodalSDK ``.csd`` format (read, write, file identity, the labels file).
* ``readers``: the real layouts (SDK ``.csd`` folders, MulT and MMSA pickles) -> ``RawData``,
  word alignment, data-quality counts.
* ``text_audio``: the embedded real source (transcripts as word vectors, openSMILE audio).
* ``contextual``: contextual word vectors from a frozen text encoder (offline, cached).
* ``synthetic``: the MOSI-shaped generator (test fixture and three-modality demo).
* ``sources``: which folder, files and reader each ``data.source`` uses (``resolve_source``).
* ``splits``: the split protocols (pools, train/valid/test, label budget).
* ``preprocess``: padding, scaling, the ``Processed`` container and the HDF5 cache.

The names below are re-exported for ``from mosi_lib.data import ...``; the other modules are
imported as ``from mosi_lib.data import preprocess`` etc.
"""

from mosi_lib.data.csd import (
    CSD_FILES,
    SYNTHETIC_MARKER,
    CSDSequence,
    check_csd_identity,
    is_synthetic_csd,
    read_csd,
    read_csd_labels,
    write_csd,
)
from mosi_lib.data.readers import (
    DataQualityWarning,
    RawData,
    align_to_words,
    check_data_quality,
    data_quality,
    read_csd_dataset,
    read_mmsa_pickle,
    read_mult_pickle,
)

__all__ = [
    "CSD_FILES", "SYNTHETIC_MARKER", "CSDSequence", "DataQualityWarning", "RawData",
    "align_to_words", "check_csd_identity", "check_data_quality", "data_quality",
    "is_synthetic_csd", "read_csd", "read_csd_dataset", "read_csd_labels", "read_mmsa_pickle",
    "read_mult_pickle", "write_csd",
]
