"""Project paths, derived from this file's location so notebooks work from any working directory.

Every path in the library and notebooks comes from here (style guide section 10): papermill runs a
kernel in the caller's directory while JupyterLab starts it in ``notebooks/``, so relative paths
would break one of the two. ``MOSI_RUNS_DIR``, ``MOSI_FIGURES_DIR`` and ``MOSI_DATA_DIR`` override
the defaults (tests point them at temporary folders).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
RESOURCES_DIR = PACKAGE_DIR / "resources"
STD_FOLDS_FILE = RESOURCES_DIR / "mosi_std_folds.json"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
CONFIGS_DIR = PROJECT_ROOT / "configs"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return Path(value).expanduser().resolve()
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise ValueError(f"{name}={value}: the path cannot be followed ({e}); expected a "
                         "folder") from e


def data_dir() -> Path:
    """Root of ``data/`` (``raw/`` read-only inputs, ``processed/`` caches)."""
    return _env_path("MOSI_DATA_DIR", PROJECT_ROOT / "data")


def raw_dir() -> Path:
    """Folder for raw inputs; the synthetic default is written to ``raw/synthetic_s<seed>/``."""
    return data_dir() / "raw"


def processed_dir() -> Path:
    """Folder for preprocessed HDF5 caches."""
    return data_dir() / "processed"


def runs_dir() -> Path:
    """Folder holding one sub-folder per run (``runs/<run_id>/``)."""
    return _env_path("MOSI_RUNS_DIR", PROJECT_ROOT / "runs")


def figures_dir() -> Path:
    """Folder for regenerated figures and tables."""
    return _env_path("MOSI_FIGURES_DIR", PROJECT_ROOT / "figures")


def check_stem(name: str, example: str, *, field: str = "name") -> str:
    """Return ``name`` if it is a safe file or folder stem, else raise ``ValueError``.

    A stem starts with a letter or digit and holds only letters, digits, ``_``, ``.``, ``-``
    (no folders, no ``..``, no spaces), e.g. ``example``; ``field`` names the value in the
    error (e.g. ``run_id`` or ``--run-id``).
    """
    if (not isinstance(name, str) or ".." in name
            or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name)):
        raise ValueError(f"{field}={name!r}: expected a name like {example!r} (letters, digits, "
                         "'_', '.', '-'; no folder, no '..')")
    return name


MIN_FREE_MB = 500
"""``check_writable`` refuses a folder on a disk with less free space than this (a study writes
run folders with checkpoints of a few MB each, executed notebooks and figures)."""


def dangling(path: str | Path) -> bool:
    """Whether ``path`` is a symbolic link that leads nowhere (a loop or a missing target)."""
    path = Path(path)
    return path.is_symlink() and not path.exists()


DANGLING = "a symbolic link that leads nowhere (a loop or a missing target); expected a file"
"""How a file that is a dangling link is named (``dangling``), instead of "not found"."""


def check_writable(folder: str | Path, what: str) -> Path:
    """Check that files can be written in ``folder`` (or where it will be made), with room.

    Run before anything trains, so that a read-only folder, a symlink loop or a full disk is one
    line naming the folder instead of a traceback (and a run left ``running``) hours later. A
    folder that does not exist yet is not made: its nearest existing parent is checked.

    Raises:
        ValueError: a link that leads nowhere, a folder that cannot be written, or under
            ``MIN_FREE_MB`` free.
    """
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.is_symlink():
            raise ValueError(f"{probe}: {what} folder is a symbolic link that leads nowhere "
                             "(a loop or a missing target); expected a folder")
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"{probe}: {what} folder path holds a file; expected a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".write-check-"):
            pass
    except OSError as e:
        raise ValueError(f"{probe}: {what} folder is not writable ({e.strerror or e}); "
                         "expected a folder this user can write") from e
    free_mb = shutil.disk_usage(probe).free / 2**20
    if free_mb < MIN_FREE_MB:
        raise ValueError(f"{probe}: {what} folder has {free_mb:.0f} MB free; expected at least "
                         f"{MIN_FREE_MB} MB (paths.MIN_FREE_MB)")
    return folder
