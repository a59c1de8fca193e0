"""Run records: ``runs/<run_id>/`` folders written and read, and what identifies a run.

Run folders: ``runs/<run_id>/`` bookkeeping, written here and only here; finding runs.

Layout of one run (style guide section 4)::

    runs/<run_id>/
      config.yaml        resolved config + provenance (git commit, dirty flag, versions, data hash,
                         ``recipe``: ``runs.recipe_hash``)
      status.json        ``{"state": "running" | "finished" | "failed" | "interrupted", ...}``
      history.csv        one row per epoch, appended live (partial runs can be plotted)
      metrics.json       final and best metrics, parameter count, data source, protocol
      checkpoints/       best.pt, last.pt: self-describing (model kwargs, state, optimizer, epoch)
      latents.npz        embeddings for t-SNE (DEC runs)
      tags.json          optional: more experiment tags it counts under (``Run.add_tag``)

``run_id`` is ``YYYYmmdd-HHMMSS-mmm_<name>_s<seed>``; an existing folder is never overwritten.
Files are written through ``files.atomic_path``, so an interrupted write leaves the previous
file intact. Only finished runs (``metrics.json`` written, status ``finished``) are found by
``find_runs``, so interrupted or failed runs never enter a table.

Which config fields identify a result: ``recipe_hash``, ``result_overrides``.

Two runs with the same ``recipe_hash`` and seed are the same experiment (grids reuse such a run,
tables pool seeds only within one recipe); ``config.config_hash`` is the stable short hash
under it, also of the processed-data cache key (``data.preprocess.cache_key``). The values are
part of every recorded run and cache file name: changing what is hashed makes them all new.

One-line refusals: errors a notebook page shows as one line, not as a traceback.

A refusal is the user's to act on (run another notebook first, choose another study), not a bug
to debug: IPython shows an exception through its ``_render_traceback_`` when it has one, so a
refusal shows only its type and message there. Papermill and the CLI see an ordinary exception
(``ename``, ``evalue``), which the CLI prints as one line anyway.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mosi_lib import paths
from mosi_lib.config import (
    PRETRAIN_PREFIX,
    RETIRED_KEYS,
    Config,
    SemiConfig,
    config_hash,
    flatten_overrides,
    save_config,
)
from mosi_lib.files import (
    atomic_path,
    git_info,
    json_default,
    naming,
    read_json_object,
    timestamp,
    versions,
    write_text_atomic,
)

# =============================================================================
# One-line refusals: errors a notebook page shows as one line, not as a traceback.

class OneLine:
    """Mixin: IPython (JupyterLab, papermill's kernels) shows the exception as one line."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class StudyMismatch(OneLine, ValueError):
    """A notebook's config differs from the one its study was run with (profile, protocol...)."""


class MissingRun(OneLine, FileNotFoundError):
    """A notebook needs a finished run its study lacks; names the notebook that makes it."""


# =============================================================================
# Which config fields identify a result: ``recipe_hash``, ``result_overrides``.

RECIPE_EXCLUDED = ("name", "data.data_dir", "system.device", "system.progress",
                   "system.num_threads", "system.seed_workers", "system.checkpoint_every_s",
                   "system.share_stage1",
                   "system.compile_mode", "system.cuda_graphs", "system.seed", "report",
                   "data.max_drop_fraction")
"""Config fields left out of ``recipe_hash``: where/how fast a run trains (``share_stage1``: a
stage 1 reused gives the result training it gives), its seed (matched on its own) and the
figures. ``data.data_dir`` is left out because the data themselves are matched by ``data_key``
(a hash of the loaded arrays); ``data.max_drop_fraction`` only decides whether the data are
accepted."""


ADDED_AT_DEFAULT: dict[str, Any] = {"data.clip": None, "data.text_layer": "last",
                                    "data.draw": "fixed",
                                    "dec.degenerate_remedy": "none",
                                    "dec.min_cluster_share": 0.1}
"""Fields added after runs were recorded, with the default that gives the earlier behaviour:
left out of ``recipe_hash`` while at that default, so runs recorded before them still match."""

SECTIONS_AT_DEFAULT: dict[str, Any] = {"semi": SemiConfig}
"""Sections added after runs were recorded: each field is left out of ``recipe_hash`` while at
the section's default (the earlier behaviour), and the section when nothing of it is left, so
runs recorded before it still match. ``semi``: the arms beyond DEC (``mosi_lib.config``)."""

REFERENCES = {
    "logreg": "Logistic regression, mean-pooled",
    "logreg_text": "Logistic regression, mean word vectors",
    "tfidf": "TF-IDF 1-2 grams + logistic regression",
}
"""``init`` of a linear reference run (``study.classifier_runs``, section "linear references")
-> its model name in the tables: the run records and the tables share these names."""


RECIPE_KINDS = ("classifier", "dec", "contrastive")
"""What ``recipe_hash`` hashes for: a classifier run, a DEC or a contrastive pretraining run."""


def _at_section_default(key: str, value: Any) -> bool:
    """Whether dotted ``key`` is a ``SECTIONS_AT_DEFAULT`` field holding its default."""
    head, _, tail = key.partition(".")
    section = SECTIONS_AT_DEFAULT.get(head)
    if section is None or tail not in {f.name for f in dataclasses.fields(section)}:
        return False
    return value == getattr(section(), tail)


def _semi_for(d: dict[str, Any], kind: str) -> None:
    """Keep in ``d["semi"]`` the fields ``kind`` reads and holds away from their default.

    DEC runs read none of them; contrastive pretraining runs the ``cmc_*`` fields; classifier
    runs the others (how the classifier trains). No field left: the section is dropped.
    """
    semi = d.get("semi")
    if not isinstance(semi, dict):
        return
    keep = {k: v for k, v in semi.items()
            if kind != "dec" and (k.startswith(PRETRAIN_PREFIX) == (kind == "contrastive"))
            and not _at_section_default(f"semi.{k}", v)}
    if keep:
        d["semi"] = keep
    else:
        d.pop("semi")


def result_overrides(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """``overrides`` as dotted keys, without the fields ``recipe_hash`` leaves out.

    ``ADDED_AT_DEFAULT`` fields are left out when at that default, and so are the fields of
    ``SECTIONS_AT_DEFAULT`` sections. What a study compares when
    it is opened again: ``system.progress=false`` or another thread count does not make it
    another study.
    """
    flat = flatten_overrides(overrides or {})
    return {k: v for k, v in flat.items()
            if not any(k == x or k.startswith(f"{x}.") for x in RECIPE_EXCLUDED + RETIRED_KEYS)
            and not (k in ADDED_AT_DEFAULT and v == ADDED_AT_DEFAULT[k])
            and not _at_section_default(k, v)}


def recipe_hash(cfg: Config | dict[str, Any], kind: str = "classifier") -> str:
    """Hash of every config field that changes a trained result, seed excluded.

    Two runs with the same ``recipe_hash`` and seed are the same experiment: grids reuse such a
    run instead of training it again, and tables pool seeds only within one recipe. The fields
    in ``RECIPE_EXCLUDED`` are left out, those of ``ADDED_AT_DEFAULT`` while at that default,
    and for ``kind="dec"`` (DEC pretraining) the ``train`` section too, which DEC does not read;
    ``kind="contrastive"`` (CMC pretraining) reads neither ``train`` nor ``dec``. Of the
    ``semi`` section each kind hashes the fields it reads, away from their default
    (``_semi_for``).
    """
    if kind not in RECIPE_KINDS:
        raise ValueError(f"recipe_hash kind={kind!r}: expected one of {list(RECIPE_KINDS)}")
    d = copy.deepcopy(cfg.to_dict() if isinstance(cfg, Config) else cfg)
    d = {k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(Config)}}
    if kind in ("dec", "contrastive"):
        d.pop("train", None)
    if kind == "contrastive":
        d.pop("dec", None)
    _semi_for(d, kind)
    if d.get("data", {}).get("draw") == "seed":  # the draw is the seed's, matched on its own
        d["data"].pop("split_seed", None)
    at_default = [k for k, v in ADDED_AT_DEFAULT.items()
                  if d.get(k.partition(".")[0], {}).get(k.partition(".")[2], v) == v]
    for key in RECIPE_EXCLUDED + RETIRED_KEYS + tuple(at_default):
        head, _, tail = key.partition(".")
        if not tail:
            d.pop(head, None)
        elif isinstance(d.get(head), dict):
            d[head].pop(tail, None)
    return config_hash(d)


# =============================================================================
# Run folders: ``runs/<run_id>/`` bookkeeping, written here and only here; finding runs.

STATUS_FILE = "status.json"
STATES = ("running", "finished", "failed", "interrupted", "unknown")
"""``Run.status()`` values; ``interrupted``: stopped by Ctrl-C, SIGTERM or the death of its
process (``guard``); ``unknown``: no ``status.json`` and no ``metrics.json``."""


def make_run_id(name: str, seed: int) -> str:
    """``YYYYmmdd-HHMMSS-mmm_<name>_s<seed>``: sorts by time, names the config and seed.

    Milliseconds, so that two grid calls within one second get two ids.
    """
    now = time.time()
    ms = int(now * 1000) % 1000
    return f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{ms:03d}_{name}_s{seed}"


def _recipe_kind(kind: Any) -> str:
    """``runs.recipe_hash`` kind of a run kind (pretraining runs do not read ``train``)."""
    return kind if kind in ("dec", "contrastive") else "classifier"


# ----------------------------------------------------------------------------- the run record


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
"""A record field a run of its kind does not write (left out of ``metrics.json``)."""


@dataclass
class ClassifierRecord:
    """What a classifier run's ``metrics.json`` holds, field by field (``kind: classifier``).

    One type for the writers (``study.classifier_runs``: the transformer's runs and the linear
    references') and the readers (``report.collect``, the tables and pairing built on it, the
    figures' titles). ``to_dict`` gives the file's keys in this order without the fields a run
    of its kind does not write (``ABSENT``: a linear reference has no ``objective``,
    ``transfer``, ``steps``, ``val_forwards``; only a reference has ``C`` and ``search``; only
    a run of a ``semi.method`` has ``semi``); ``Run.save_metrics`` adds ``recipe``. ``read``
    takes a record back, also one of an earlier version (a field it lacks reads as None), and
    refuses one without a field the tables need (``REQUIRED``), naming it.
    """

    kind: str = "classifier"
    run_id: str = ABSENT
    name: str = ABSENT  # the config's name (its profile)
    tag: str | None = ABSENT  # experiment tag; None: the main study
    init: str = ABSENT  # scratch | dec | ae | cmc | a REFERENCES key
    labels: str = ABSENT  # labeled (the labeled pool's rows) | all (every training label)
    label_fraction: float = ABSENT  # rows trained on / training rows
    labeled_fraction_cfg: float = ABSENT  # data.labeled_fraction; 1.0 for labels=all
    n_train: int = ABSENT
    n_params: int = ABSENT
    seed: int = ABSENT
    zero_policy: str = ABSENT  # has0 | non0: the training target
    objective: str = ABSENT  # bce | l1 (train.objective; l1 reports MAE, Corr, Acc-7)
    # the data (study.execution.data_info)
    data_source: str = ABSENT
    synthetic: bool = ABSENT
    data_description: str | None = ABSENT
    protocol: str = ABSENT
    modalities: list[str] = ABSENT
    data_key: str | None = ABSENT
    n_segments: int = ABSENT
    best_epoch: int = ABSENT  # the selected epoch; 0: no epochs (a reference)
    epochs: int = ABSENT
    train_seconds: float = ABSENT
    device: str = ABSENT
    select_split: str = ABSENT  # where the epoch (or C) is chosen: valid
    report_split: str = ABSENT  # valid (paper protocols) | test (standard)
    valid: dict[str, Any] | None = ABSENT  # each split's metrics (None: a split without rows)
    test: dict[str, Any] | None = ABSENT
    report: dict[str, Any] = ABSENT  # the report split's
    transfer: dict[str, Any] | None = ABSENT  # what initialised it (None: from scratch)
    steps: dict[str, Any] = ABSENT  # how the training steps ran (eager, graph replays)
    val_forwards: dict[str, Any] = ABSENT  # how the validation forwards ran
    semi: dict[str, Any] = ABSENT  # semi.method other than none: its recipe and what it did
    C: float = ABSENT  # a reference's chosen inverse regularisation strength
    search: dict[str, Any] = ABSENT  # a reference's validation accuracy of every C
    recipe: str = ABSENT  # recipe_hash of its config (Run.save_metrics adds it)

    REQUIRED: ClassVar[tuple[str, ...]] = (
        "init", "labels", "labeled_fraction_cfg", "report", "n_params", "seed", "data_source",
        "synthetic", "protocol", "report_split", "zero_policy", "epochs", "best_epoch")
    """What every table needs of a record: ``read`` refuses a record without one."""

    def to_dict(self) -> dict[str, Any]:
        """The record as ``metrics.json`` holds it: the fields written, in order."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not ABSENT}

    @classmethod
    def read(cls, metrics: dict[str, Any], where: Any = "metrics.json", *,
             check: bool = True) -> ClassifierRecord:
        """A record from ``metrics.json``'s dict; a field it lacks reads as None.

        Raises:
            ValueError: (``check``) a ``REQUIRED`` field is missing or null, naming ``where``
                and the field.
        """
        for key in cls.REQUIRED if check else ():
            if metrics.get(key) is None:
                raise ValueError(f"{where}: field {key!r} is missing or null")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: metrics.get(k) for k in names})


# ----------------------------------------------------------------------------- run object


@dataclass
class Run:
    """Handle on one run folder (``reused``: found finished, not trained by this call)."""

    path: Path
    reused: bool = field(default=False, compare=False)

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
        """Append one epoch's row to ``history.csv`` (a new column rewrites the header).

        The header rewrite goes through a temporary file; an append adds one line.
        """
        file = self.path / "history.csv"
        if file.exists():
            with file.open(newline="") as fh:
                reader = csv.DictReader(fh)
                header = list(reader.fieldnames or [])
                rows = list(reader) if set(row) - set(header) else None
            if rows is not None:
                header += [k for k in row if k not in header]
                with atomic_path(file) as tmp, tmp.open("w", newline="") as out:
                    writer = csv.DictWriter(out, fieldnames=header)
                    writer.writeheader()
                    writer.writerows(rows)
        else:
            header = list(row)
            with atomic_path(file) as tmp, tmp.open("w", newline="") as out:
                csv.DictWriter(out, fieldnames=header).writeheader()
        with naming(file), file.open("a", newline="") as out:
            csv.DictWriter(out, fieldnames=header).writerow(row)

    def save_metrics(self, metrics: dict[str, Any] | ClassifierRecord) -> Path:
        """Write ``metrics.json`` and mark the run ``finished``; return the file's path.

        Metrics are the last thing a run writes: a classifier run's ``ClassifierRecord``, a
        pretraining run's dict. ``recipe`` (the config's ``recipe_hash``, from ``config.yaml``)
        is added unless ``metrics`` has one; numpy values are converted.
        """
        file = self.path / "metrics.json"
        out = metrics.to_dict() if isinstance(metrics, ClassifierRecord) else dict(metrics)
        if "recipe" not in out and (recipe := self.recipe()) is not None:
            out["recipe"] = recipe
        write_text_atomic(file, json.dumps(out, indent=2, default=json_default))
        self._set_status("finished", finished=timestamp())
        return file

    def save_latents(self, **arrays: np.ndarray) -> Path:
        """Write ``latents.npz`` (e.g. ``z``, ``labels``, ``clusters``, ``ids``)."""
        file = self.path / "latents.npz"
        with atomic_path(file) as tmp:
            np.savez_compressed(tmp, **arrays)
        return file

    def save_predictions(self, *, ids, video, split, label, output) -> Path:
        """Write ``predictions.npz``: the selected model's output on every evaluation row.

        One entry per row of the valid and test splits: segment ``ids``, ``video``, ``split``,
        annotated ``label`` (score) and model ``output`` (positive class: output > 0). What
        the video-level bootstrap of the tables resamples (``report.stats.video_bootstrap``).
        """
        file = self.path / "predictions.npz"
        with atomic_path(file) as tmp:
            np.savez_compressed(tmp, ids=np.asarray(ids, str), video=np.asarray(video, str),
                                split=np.asarray(split, str),
                                label=np.asarray(label, np.float32),
                                output=np.asarray(output, np.float32))
        return file

    def predictions(self) -> dict[str, np.ndarray] | None:
        """``predictions.npz`` as a dict of arrays; None for runs written before it existed."""
        file = self.path / "predictions.npz"
        if not file.exists():
            return None
        with np.load(file, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def save_json(self, name: str, obj: Any) -> Path:
        """Write any JSON side file (e.g. ``transfer.json``) into the run folder."""
        file = self.path / name
        write_text_atomic(file, json.dumps(obj, indent=2, default=json_default))
        return file

    def mark_running(self) -> None:
        """Mark the run ``running`` again (a resumed run; its start time is kept)."""
        self._set_status("running", resumed=timestamp(), pid=os.getpid(), host=platform.node())

    def mark_interrupted(self, reason: str) -> None:
        """Mark the run ``interrupted`` (Ctrl-C, SIGTERM, its process gone); never in a table."""
        self._set_status("interrupted", interrupted=timestamp(), error=str(reason))

    def mark_failed(self, error: str) -> None:
        """Mark the run ``failed`` with a one-line ``error`` (it never enters a table)."""
        self._set_status("failed", failed=timestamp(), error=str(error))

    def _set_status(self, state: str, **info: Any) -> None:
        old = self.status_info()
        new = {"state": state, "started": old.get("started"), **info}
        write_text_atomic(self.path / STATUS_FILE, json.dumps(new, indent=2) + "\n",
                          in_place_when_full=True)  # a full disk still gets "interrupted"

    def status_info(self) -> dict[str, Any]:
        """``status.json`` as a dict (state, times, pid, host, error); ``{}`` if unreadable."""
        try:
            out = json.loads((self.path / STATUS_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return out if isinstance(out, dict) else {}

    # -- readers
    def status(self) -> str:
        """``running``, ``finished``, ``failed``, ``interrupted`` or ``unknown`` (``STATES``).

        ``status.json`` decides; a folder written before status files existed counts as
        ``finished`` when it holds ``metrics.json`` and ``unknown`` otherwise.
        """
        state = self.status_info().get("state")
        if state in STATES:
            return state
        if (self.path / STATUS_FILE).exists():
            return "unknown"  # unreadable status: never treated as finished
        return "finished" if (self.path / "metrics.json").exists() else "unknown"

    def recipe(self) -> str | None:
        """The run's recipe hash (``runs.recipe_hash``); None without a readable config.

        Computed from ``config.yaml`` (runs of any version compare alike, whatever
        ``files.recipe`` was stored at creation); the one place runs are matched by recipe.
        """
        try:
            cfg = self.config()
        except (OSError, ValueError):  # no or a damaged config: matches no recipe, trains again
            return None
        return recipe_hash(cfg, _recipe_kind((cfg.get("provenance") or {}).get("kind")))

    def config(self) -> dict[str, Any]:
        """The resolved config plus provenance, as a dict.

        Raises:
            FileNotFoundError: no ``config.yaml``.
            ValueError: ``config.yaml`` is not a YAML mapping (truncated, edited), naming it.
        """
        import yaml

        file = self.path / "config.yaml"
        try:
            out = yaml.safe_load(file.read_text())
        except (UnicodeDecodeError, yaml.YAMLError) as err:
            mark = getattr(err, "problem_mark", None)
            why = getattr(err, "problem", None) or str(err).splitlines()[0]
            at = f"line {mark.line + 1}: " if mark is not None else ""
            raise ValueError(f"{file}: not readable as YAML ({at}{why})") from None
        if not isinstance(out, dict):
            raise ValueError(f"{file}: expected a YAML mapping, found {type(out).__name__}")
        return out

    def history(self):
        """``history.csv`` as a DataFrame (empty if no epoch finished)."""
        import pandas as pd

        file = self.path / "history.csv"
        return pd.read_csv(file) if file.exists() else pd.DataFrame()

    def metrics(self) -> dict[str, Any]:
        """``metrics.json`` as a dict (empty if the run has not finished).

        Raises:
            ValueError: the file is not a JSON object (truncated, edited), naming it.
        """
        return read_json_object(self.path / "metrics.json",
                                "the run's results are lost: delete its folder to train it again")

    def record(self) -> ClassifierRecord:
        """A classifier run's ``metrics.json`` as its record (``ClassifierRecord.read``)."""
        return ClassifierRecord.read(self.metrics(), self.path / "metrics.json")

    def problem(self) -> str | None:
        """Why a run marked ``finished`` cannot be read, or None.

        No or unreadable ``metrics.json``, or no ``config.yaml`` (its recipe is unknown). An
        unreadable ``config.yaml`` is named where it is read (``collect_runs``): parsing every
        config here would slow down each ``find_runs``.
        """
        if self.status() != "finished":
            return None
        if not (self.path / "metrics.json").exists():
            return f"{self.path / 'metrics.json'}: missing"
        try:
            self.metrics()
        except ValueError as err:
            return str(err)
        if not (self.path / "config.yaml").exists():
            return f"{self.path / 'config.yaml'}: missing"
        return None

    def tags(self, metrics: dict[str, Any] | None = None) -> list[str | None]:
        """The experiment labels this finished run counts under, its own first.

        Its own is ``metrics["tag"]`` (None: the main study); ``add_tag`` adds more, in
        ``tags.json``, when a grid finds this very experiment under another tag of the study.
        ``metrics``: this run's ``metrics()`` when the caller has read them already.
        """
        metrics = self.metrics() if metrics is None else metrics
        return [metrics.get("tag"), *self._added_tags()]

    def _added_tags(self) -> list[str]:
        """The tags of ``tags.json`` (``add_tag``); [] without it."""
        file = self.path / "tags.json"
        if not file.exists():
            return []
        try:
            also = json.loads(file.read_text())["also"]
            if not isinstance(also, list) or not all(isinstance(t, str) for t in also):
                raise TypeError(also)
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{file}: expected {{\"also\": [tag, ...]}} (strings); "
                             f"unreadable: {err!r}") from err
        return also

    def add_tag(self, tag: str) -> None:
        """Count this finished run under ``tag`` too (``tags.json``; ``metrics.json`` is kept).

        For a grid point that is the same experiment as this run (same recipe, seed, data,
        labels, initialisation) under another tag: instead of training it again.
        """
        if self.status() != "finished":
            raise ValueError(f"add_tag({tag!r}): run {self.path} has not finished")
        if tag not in self.tags():
            added = {"also": [*self._added_tags(), tag]}
            write_text_atomic(self.path / "tags.json", json.dumps(added, indent=2))

    def latents(self) -> dict[str, np.ndarray]:
        """``latents.npz`` as a dict of arrays."""
        with np.load(self.path / "latents.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


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
    created = timestamp()
    meta = {
        **cfg.to_dict(),
        "provenance": {
            "run_id": run_id,
            "kind": kind,
            "created": created,
            "recipe": recipe_hash(cfg, _recipe_kind(kind)),
            "git": git_info(),
            "versions": versions(),
            **(extra or {}),
        },
    }
    with atomic_path(path / "config.yaml") as tmp:
        save_config(meta, tmp)
    run = Run(path)
    run._set_status("running", started=created, pid=os.getpid(), host=platform.node())
    return run


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


# ----------------------------------------------------------------------------- find


def find_runs(root: str | Path | None = None, **match: Any) -> list[Run]:
    """Finished runs under ``root`` whose metrics match ``match``.

    Finished: ``metrics.json`` written and ``Run.status()`` is ``finished``; running, failed
    and interrupted runs are left out (``unfinished_runs`` lists them). ``tag`` matches any of
    ``Run.tags()``. Example:
    ``find_runs(kind="classifier", init="dec")``. Sorted by run id (time).
    """
    root = Path(root) if root else paths.runs_dir()
    out = []
    for path in sorted(root.glob("*/metrics.json")):
        run = Run(path.parent)
        if run.status() != "finished" or run.problem():  # broken_runs names the latter
            continue
        metrics = run.metrics()
        tags = run.tags(metrics) if "tag" in match else []
        if all(v in tags if k == "tag" else metrics.get(k) == v for k, v in match.items()):
            out.append(run)
    return out


def find_same(
    root: str | Path | None, cfg: Config | dict[str, Any], *, kind: str, seed: int, **match: Any
) -> list[Run]:
    """Finished runs of ``kind`` and ``seed`` trained with ``cfg``'s recipe, oldest first.

    The recipe is ``runs.recipe_hash`` (every result-changing field, seed aside), recomputed
    from each run's ``config.yaml`` so that runs of any version compare alike. ``match``: more
    metrics fields, as in ``find_runs`` (e.g. ``tag``, ``init``, ``labels``, ``data_key``). A
    grid point or notebook step with such a run needs no training (how studies resume), and one
    with a run of another recipe does train: nothing is shown under a title it did not run.
    """
    want = recipe_hash(cfg, _recipe_kind(kind))
    return [r for r in find_runs(root, kind=kind, seed=seed, **match) if r.recipe() == want]


def broken_runs(root: str | Path | None = None) -> list[tuple[Run, str]]:
    """Runs marked ``finished`` whose ``metrics.json`` is missing or unreadable, with why."""
    root = Path(root) if root else paths.runs_dir()
    out = []
    for path in sorted(root.glob("*/status.json")):
        run = Run(path.parent)
        why = run.problem()
        if why:
            out.append((run, why))
    return out


def unfinished_runs(root: str | Path | None = None, kind: str | None = None) -> list[Run]:
    """Run folders under ``root`` (of ``kind``, from ``config.yaml``) that did not finish.

    Their ``Run.status()`` is ``running`` (or interrupted), ``failed`` or ``unknown``. Sorted by
    run id.
    """
    root = Path(root) if root else paths.runs_dir()
    out = []
    for path in sorted(root.glob("*/config.yaml")):
        run = Run(path.parent)
        if run.status() == "finished":
            continue
        if kind is not None:
            try:
                run_kind = (run.config().get("provenance") or {}).get("kind")
            except Exception:  # noqa: BLE001 - an unreadable config is still an unfinished run
                run_kind = None
            if run_kind != kind:
                continue
        out.append(run)
    return out


def latest_run(root: str | Path, **match: Any) -> Run:
    """The most recent finished run under ``root`` matching ``match`` (see ``find_runs``)."""
    found = find_runs(root, **match)
    if not found:
        raise _missing(root, match)
    return found[-1]


def seed_run(root: str | Path, seed: int, **match: Any) -> Run:
    """The finished run of ``seed`` matching ``match`` for a figure, else that of the lowest seed.

    A study of seeds 0-4 draws its loss curves and t-SNE from one run: that of the notebook's
    ``seed`` parameter, not the latest run (``latest_run``), whose seed may be another. The
    most recent run of the chosen seed is returned; its seed is ``run.metrics()["seed"]``, which
    the figure's title names. ``MissingRun`` (a ``FileNotFoundError`` naming the notebook
    that makes such a run) when no run matches ``match`` at all.
    """
    found = find_runs(root, **match)
    if not found:
        raise _missing(root, match)
    same = [r for r in found if r.metrics().get("seed") == seed]
    if same:
        return same[-1]
    low = min(r.metrics().get("seed", 0) for r in found)
    return [r for r in found if r.metrics().get("seed", 0) == low][-1]


def _missing(root: str | Path, match: dict[str, Any]) -> MissingRun:
    """One line: no finished run of ``match`` under ``root``, and which notebook makes one."""
    if match.get("kind") == "dec":
        what, nb = "DEC run", "03_dec_pretrain"
    elif match.get("init") not in (None, "scratch") or match.get("labels") == "all":
        what, nb = "fine-tuned or all-labels classifier run", "04_finetune"
    else:
        what, nb = "classifier run", "02_baseline"
    seed = f" of seed {match['seed']}" if "seed" in match else ""
    return MissingRun(f"study {Path(root).name} holds no finished {what}{seed} ({match}): run "
                      f"notebooks/{nb}.ipynb on it first (same run_id, config and seed), or "
                      "`python -m mosi_lib reproduce`")
