"""Run folders: ``runs/<run_id>/`` bookkeeping, written here and only here.

Layout of one run (style guide section 4)::

    runs/<run_id>/
      config.yaml        resolved config + provenance (git commit, dirty flag, versions, data hash)
      history.csv        one row per epoch, appended live (partial runs can be plotted)
      metrics.json       final and best metrics, parameter count, data source, protocol
      checkpoints/       best.pt, last.pt: self-describing (model kwargs, state, optimizer, epoch)
      latents.npz        embeddings for t-SNE (DEC runs)

``run_id`` is ``YYYYmmdd-HHMMSS_<name>_s<seed>``; an existing folder is never overwritten.
"""

from __future__ import annotations

import csv
import json
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mosi_lib import paths
from mosi_lib.config import Config, save_config

# ----------------------------------------------------------------------------- provenance


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


def make_run_id(name: str, seed: int) -> str:
    """``YYYYmmdd-HHMMSS_<name>_s<seed>``: sorts by time, names the config and seed."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}_{name}_s{seed}"


# ----------------------------------------------------------------------------- run object


@dataclass
class Run:
    """Handle on one run folder."""

    path: Path

    @property
    def run_id(self) -> str:
        """The folder name."""
        return self.path.name

    @property
    def checkpoints(self) -> Path:
        """Folder of ``best.pt`` / ``last.pt``."""
        return self.path / "checkpoints"

    # -- writers
    def append_history(self, row: dict[str, Any]) -> None:
        """Append one epoch's row to ``history.csv`` (a new column rewrites the header)."""
        file = self.path / "history.csv"
        if file.exists():
            with file.open(newline="") as fh:
                reader = csv.DictReader(fh)
                header = list(reader.fieldnames or [])
                if set(row) - set(header):
                    rows = list(reader)
                    header += [k for k in row if k not in header]
                    with file.open("w", newline="") as out:
                        writer = csv.DictWriter(out, fieldnames=header)
                        writer.writeheader()
                        writer.writerows(rows)
        else:
            header = list(row)
            with file.open("w", newline="") as out:
                csv.DictWriter(out, fieldnames=header).writeheader()
        with file.open("a", newline="") as out:
            csv.DictWriter(out, fieldnames=header).writerow(row)

    def save_metrics(self, metrics: dict[str, Any]) -> Path:
        """Write ``metrics.json`` (numpy scalars converted) and return its path."""
        file = self.path / "metrics.json"
        file.write_text(json.dumps(metrics, indent=2, default=json_default))
        return file

    def save_latents(self, **arrays: np.ndarray) -> Path:
        """Write ``latents.npz`` (e.g. ``z``, ``labels``, ``clusters``, ``ids``)."""
        file = self.path / "latents.npz"
        np.savez_compressed(file, **arrays)
        return file

    def save_json(self, name: str, obj: Any) -> Path:
        """Write any JSON side file (e.g. ``transfer.json``) into the run folder."""
        file = self.path / name
        file.write_text(json.dumps(obj, indent=2, default=json_default))
        return file

    # -- readers
    def config(self) -> dict[str, Any]:
        """The resolved config plus provenance, as a dict."""
        import yaml

        return yaml.safe_load((self.path / "config.yaml").read_text())

    def history(self):
        """``history.csv`` as a DataFrame (empty if no epoch finished)."""
        import pandas as pd

        file = self.path / "history.csv"
        return pd.read_csv(file) if file.exists() else pd.DataFrame()

    def metrics(self) -> dict[str, Any]:
        """``metrics.json`` as a dict (empty if the run has not finished)."""
        file = self.path / "metrics.json"
        return json.loads(file.read_text()) if file.exists() else {}

    def latents(self) -> dict[str, np.ndarray]:
        """``latents.npz`` as a dict of arrays."""
        with np.load(self.path / "latents.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def json_default(obj: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars and arrays to Python values, paths to str."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ----------------------------------------------------------------------------- create / load


def create_run(
    cfg: Config,
    *,
    kind: str,
    run_id: str | None = None,
    root: str | Path | None = None,
    extra: dict[str, Any] | None = None,
) -> Run:
    """Create ``<root>/<run_id>/`` and write ``config.yaml``; refuse an existing folder.

    Args:
        cfg: the resolved config.
        kind: what the run trains (``classifier`` or ``dec``), stored in the provenance.
        run_id: folder name; None makes ``make_run_id(cfg.name, cfg.system.seed)``.
        root: parent folder; None uses ``paths.runs_dir()``.
        extra: more provenance (papermill parameters, data hash, ...).

    Returns:
        The new ``Run``.

    Raises:
        FileExistsError: the folder exists (runs are never overwritten).
    """
    root = Path(root) if root else paths.runs_dir()
    run_id = run_id or make_run_id(cfg.name, cfg.system.seed)
    path = root / run_id
    if path.exists():
        raise FileExistsError(f"run folder {path} exists; runs are never overwritten")
    (path / "checkpoints").mkdir(parents=True)
    meta = {
        **cfg.to_dict(),
        "provenance": {
            "run_id": run_id,
            "kind": kind,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "git": git_info(),
            "versions": versions(),
            **(extra or {}),
        },
    }
    save_config(meta, path / "config.yaml")
    return Run(path)


def load_run(run: str | Path | Run, root: str | Path | None = None) -> Run:
    """Open an existing run by folder path or run id (looked up under ``root``/runs dir)."""
    if isinstance(run, Run):
        return run
    path = Path(run)
    if not path.is_dir():
        path = (Path(root) if root else paths.runs_dir()) / str(run)
    if not (path / "config.yaml").exists():
        raise FileNotFoundError(f"no run at {path} (config.yaml missing)")
    return Run(path)


def find_runs(root: str | Path | None = None, **match: Any) -> list[Run]:
    """Finished runs (with ``metrics.json``) under ``root`` whose metrics match ``match``.

    Example: ``find_runs(kind="classifier", init="dec")``. Sorted by run id (time).
    """
    root = Path(root) if root else paths.runs_dir()
    out = []
    for path in sorted(root.glob("*/metrics.json")):
        run = Run(path.parent)
        metrics = run.metrics()
        if all(metrics.get(k) == v for k, v in match.items()):
            out.append(run)
    return out


# ----------------------------------------------------------------------------- studies


def make_study_id(name: str) -> str:
    """``YYYYmmdd-HHMMSS_<name>``: one study = one pass of notebooks 01..05."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}_{name}"


def open_study(
    run_id: str | None = None, *, name: str = "study", root=None, kind: str = "main"
) -> Path:
    """Folder ``runs/<run_id>/`` that groups one study's runs, notebooks and summaries.

    Args:
        run_id: the study's folder name (created if missing). ``None`` picks the most recent
            study of this ``kind`` under ``root``, or creates ``make_study_id(name)`` if there
            is none, so each notebook also runs on its own in JupyterLab.
        name: used for a new study's id.
        root: parent folder (default ``paths.runs_dir()``).
        kind: ``main`` (notebooks 01..05), ``sweep`` (06) or ``ablations`` (07); stored in
            ``study.json`` so that 05 never picks up a sweep study as "the latest".

    Returns:
        The study folder (exists on return).
    """
    root = Path(root) if root else paths.runs_dir()
    if run_id is None:
        studies = sorted(p for p in root.glob("*") if (p / "study.json").exists())
        studies = [p for p in studies
                   if json.loads((p / "study.json").read_text()).get("kind", "main") == kind]
        if studies:
            return studies[-1]
        run_id = make_study_id(name)
    path = root / run_id
    path.mkdir(parents=True, exist_ok=True)
    if not (path / "study.json").exists():
        (path / "study.json").write_text(
            json.dumps({"run_id": run_id, "kind": kind,
                        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git": git_info()},
                       indent=2)  # fmt: skip
        )
    return path


def latest_run(root: str | Path, **match: Any) -> Run:
    """The most recent finished run under ``root`` matching ``match`` (see ``find_runs``)."""
    found = find_runs(root, **match)
    if not found:
        raise FileNotFoundError(f"no finished run under {root} with {match}")
    return found[-1]
