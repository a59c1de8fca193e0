"""Files written whole or not at all, with their provenance (commit, versions, time).

Files written whole or not at all: atomic writes, checkpoints, and JSON objects read back.

Every file is written to a temporary name in its folder, flushed and renamed over the target
(``atomic_path``), so an interrupted write leaves the previous file intact. Run folders
(``study.runs``), study folders and report manifests all write through here.

Provenance of a result: the git commit and dirty flag, library versions, time stamps.

Run folders (``config.yaml``), study folders (``study.json``), figure sidecars and report
manifests record these (style guide section 4: the git hash goes with every result).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mosi_lib import paths

# =============================================================================
# Provenance of a result: the git commit and dirty flag, library versions, time stamps.

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
"""``time.strftime`` format of ``timestamp``; stamps of one time zone sort as text by time."""


def timestamp() -> str:
    """The local time now, e.g. ``2026-12-02T06:00:00+0100`` (``TIMESTAMP_FORMAT``)."""
    return time.strftime(TIMESTAMP_FORMAT)


def git_info() -> dict[str, Any]:
    """Return ``{"commit": sha or None, "dirty": bool or None}`` for the project checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=paths.PROJECT_ROOT, capture_output=True,
            text=True, check=True, timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=paths.PROJECT_ROOT,
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout
        return {"commit": sha, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def versions() -> dict[str, str]:
    """Versions of python and the main libraries."""
    import numpy
    import sklearn
    import torch

    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "numpy": str(numpy.__version__),
        "sklearn": str(sklearn.__version__),
        "platform": platform.platform(),
    }


# =============================================================================
# Files written whole or not at all: atomic writes, checkpoints, and JSON objects read back.

# ----------------------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one step.

    The caller writes the temporary file; on leaving the block it is flushed to disk
    (``fsync``) and renamed over ``path`` (``os.replace``), so ``path`` always holds either
    the old or the new complete content. On an exception the temporary file is removed and
    ``path`` is untouched. The temporary name keeps the suffix (``np.savez`` adds one).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        with naming(path):  # a full disk names the file, not the bare errno
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (the rename) to disk where the OS allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


FULL = (errno.ENOSPC, errno.EDQUOT)
"""A full disk (or quota): no block for a new file."""


def write_text_atomic(path: str | Path, text: str, *, in_place_when_full: bool = False) -> Path:
    """Write ``text`` to ``path`` through ``atomic_path``; return ``path``.

    ``in_place_when_full``: on a full disk, overwrite an existing small file in place (its
    block is allocated already) rather than leave it stale: a run's ``status.json`` must say
    ``interrupted`` even when the disk that stopped the run is full.
    """
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    except OSError as err:
        if not (in_place_when_full and err.errno in FULL and path.is_file()):
            raise
        data = text.encode()
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, data)
                os.ftruncate(fd, len(data))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            raise err from None
    return path


# ----------------------------------------------------------------------------- JSON


def json_default(obj: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars and arrays to Python values, paths to str."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json_object(file: Path, remedy: str) -> dict[str, Any]:
    """The JSON object in ``file``; ``{}`` when the file does not exist.

    Raises:
        ValueError: the file is not a JSON object (truncated, edited): names it, the reason
            and ``remedy`` (what the user can do).
    """
    if not file.exists():
        return {}
    try:
        out = json.loads(file.read_text())
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{file}: not readable as JSON ({err}); {remedy}") from None
    if not isinstance(out, dict):
        raise ValueError(f"{file}: expected a JSON object, found {type(out).__name__}")
    return out


def with_path(err: OSError, path: str | Path) -> OSError:
    """``err`` naming ``path`` when it names no file (same type and errno); else ``err``.

    A write that fails in a buffer flush or inside a library (h5py, pandas, matplotlib) often
    raises ``[Errno 28] No space left on device`` naming no file; the user needs the folder.
    """
    if err.filename or err.errno is None:
        return err if err.filename else type(err)(f"{err} (writing {path})")
    # a library's own account of a full or read-only disk (h5py: several lines of its
    # internals) gives way to the errno's words
    said = os.strerror(err.errno) if err.errno in (*FULL, errno.EROFS) else err.strerror
    return type(err)(err.errno, said or str(err), str(path))


@contextlib.contextmanager
def naming(path: str | Path) -> Iterator[None]:
    """Within the block, an ``OSError`` that names no file names ``path`` (``with_path``)."""
    try:
        yield
    except OSError as err:
        named = with_path(err, path)
        if named is err:
            raise
        raise named from None


def digest_arrays(arrays: dict[str, Any], text: str = "") -> str:
    """sha256 of named arrays (name, dtype, shape and values; strings by value) and ``text``.

    The same for an array read back from a file as for the one written (a string array counts
    by its values, whatever its numpy string type), so a file can carry the digest of its own
    content and be checked when read.
    """
    import hashlib

    h = hashlib.sha256(text.encode())
    for name in sorted(arrays):
        a = np.asarray(arrays[name])
        if a.dtype.kind in "OUS":  # object (HDF5 strings), unicode or bytes: by value
            kind, body = "str", "\x00".join(map(str, a.ravel().tolist())).encode()
        else:
            kind, body = a.dtype.str, np.ascontiguousarray(a).tobytes()
        h.update(f"{name}|{kind}|{a.shape}|".encode())
        h.update(body)
    return h.hexdigest()


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically: a kill mid-write keeps the old file.

    Args:
        obj: the checkpoint (a dict of tensors and plain values).
        path: the target file, e.g. ``run.checkpoints / "last.pt"``.

    Returns:
        ``path`` as a ``Path``.
    """
    import torch

    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def load_checkpoint(
    path: str | Path, *, map_location: Any = "cpu", weights_only: bool = False
) -> Any:
    """Read a checkpoint written by ``save_checkpoint`` (``weights_only=False``: our own dicts).

    Raises:
        FileNotFoundError: ``path`` does not exist (named in the message).
        RuntimeError: ``path`` is empty or cannot be unpickled (named in the message).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path}: not found")
    if path.stat().st_size == 0:
        raise RuntimeError(
            f"checkpoint {path}: empty file (0 bytes, an interrupted write); train this run again"
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    except Exception as exc:  # noqa: BLE001 - any unpickling error means the same to the user
        raise RuntimeError(
            f"checkpoint {path}: cannot be read ({type(exc).__name__}: {exc}); "
            "the file is damaged or not a checkpoint: train this run again"
        ) from exc
