"""Provenance of a result: the git commit and dirty flag, library versions, time stamps.

Run folders (``config.yaml``), study folders (``study.json``), figure sidecars and report
manifests record these (style guide section 4: the git hash goes with every result).
"""

from __future__ import annotations

import platform
import subprocess
import time
from typing import Any

from mosi_lib import paths

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
