"""Data: from files on disk to the padded, scaled, split arrays the models train on.

Import each name from its module (``from mosi_lib.data.sdk import read_csd_dataset``); arrows
point down this list, never up:

* ``preprocess``: padding, scaling, the ``Processed`` container and the HDF5 cache.
* ``splits``: the split protocols (pools, train/valid/test, label budget).
* ``sources``: which folder, files and reader each ``data.source`` uses (``resolve_source``).
* ``download``: fetch the SDK ``.csd`` files (``python -m mosi_lib download``).
* ``synthetic``: the generated demo folder (written once, reused), its difficulty probe and CLI;
  ``synthetic_gen`` / ``synthetic_words``: the MOSI-shaped generator itself.
* ``sdk``: a folder of SDK ``.csd`` files -> word-aligned ``RawData`` (``align_to_words``).
* ``pickles``: MulT and MMSA pickles -> ``RawData``.
* ``text_audio``: the embedded real source (transcripts as word vectors, openSMILE audio).
* ``contextual``: contextual word vectors from a frozen text encoder (offline, cached).
* ``csd``: the CMU-MultimodalSDK ``.csd`` format (read, write, file identity, the labels file).
* ``raw``: ``RawData``, what every reader returns.
* ``quality``: input checks shared by the readers, and the data-quality shares of their drops.
"""
