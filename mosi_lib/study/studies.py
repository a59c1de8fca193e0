"""Study folders: ``runs/<study>/`` groups one pass of notebooks, with its ``study.json``.

A study holds the run folders (``study.runs``), the executed notebooks and the summaries of one
pass of notebooks 01..05 (kind ``main``), of 06 (``sweep``) or of 07 (``ablations``).
``study.json`` records its kind, creation time, git commit and how the CLI ran it (``params``),
so that ``figures`` re-renders a study with its own config and a second call with another
config is refused. Notebooks record their config's identity (``setup``: profile, protocol, smoke,
the overrides that change results); a notebook without ``run_id`` continues the latest study of
that identity only, and a named study of another identity is refused (``StudyMismatch``).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from mosi_lib import paths
from mosi_lib.files import json_default, write_text_atomic
from mosi_lib.hashing import result_overrides
from mosi_lib.provenance import TIMESTAMP_FORMAT, git_info, timestamp
from mosi_lib.refusals import StudyMismatch


def make_study_id(name: str) -> str:
    """``YYYYmmdd-HHMMSS_<name>``: one study = one pass of notebooks 01..05."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}_{name}"


def open_study(
    run_id: str | None = None,
    *,
    name: str = "study",
    root=None,
    kind: str = "main",
    params: dict[str, Any] | None = None,
    free: tuple[str, ...] = ("seed", "seeds"),
    create: bool = True,
    setup: dict[str, Any] | None = None,
) -> Path:
    """Folder ``runs/<run_id>/`` that groups one study's runs, notebooks and summaries.

    Args:
        run_id: the study's folder name (created if missing), a plain name (no folder, no
            ``..``: ``paths.check_stem``). ``None`` picks the most recently created study of
            this ``kind`` under ``root`` (``study.json`` "created"; folder time for older
            studies), or creates ``make_study_id(name)`` if there is none, so each notebook also
            runs on its own in JupyterLab.
        name: used for a new study's id.
        root: parent folder (default ``paths.runs_dir()``).
        kind: ``main`` (notebooks 01..05), ``sweep`` (06) or ``ablations`` (07); stored in
            ``study.json`` so that 05 never picks up a sweep study as "the latest".
        params: how the study is run (the CLI passes ``config_file``, ``overrides``,
            ``smoke``, ``seed``), stored in ``study.json`` so ``figures`` re-renders it with
            its own config. ``None`` leaves what is stored.
        free: ``params`` keys that may change between calls (the latest is stored); every
            other stored param must match (default: the seeds; the grids of 06/07 add theirs),
            ``overrides`` only in the keys that change results (``hashing.result_overrides``:
            another thread count or ``system.progress`` is the same study).
        create: make the folder and ``study.json`` when missing; ``False`` (reporting) raises
            ``FileNotFoundError`` naming the study instead.
        setup: the identity of the notebook's config (``setup_identity``). With ``run_id=None``
            only a study of this identity is "the latest"; a study that stored another one is
            refused; a study without one (made by the CLI, or older) stores it.

    Returns:
        The study folder (exists on return).

    Raises:
        ValueError: ``run_id`` is not a plain name, or ``params`` differ from those the study
            was opened with (one study, one config; ``free`` keys may change).
        StudyMismatch: ``setup`` differs from the one the study stored (one line: which keys).
    """
    root = Path(root) if root else paths.runs_dir()
    setup = _plain(setup) if setup is not None else None
    if run_id is None:
        latest = latest_study(root, kind=kind, setup=setup)
        if latest is not None:
            run_id = latest.name
        elif not create:
            of = f" of {describe_setup(setup)}" if setup else ""
            raise FileNotFoundError(f"no {kind} study under {root}{of} (study.json); run "
                                    "`python -m mosi_lib reproduce` (or the notebooks before "
                                    "this one) first, or pass run_id")
        else:  # a new id, also when another study was made within the same second
            base = run_id = make_study_id(name)
            n = 1
            while (root / run_id).exists():
                n += 1
                run_id = f"{base}-{n}"
    paths.check_stem(run_id, "20260101-120000_quick", field="run_id")
    path = root / run_id
    if not create and not (path / "study.json").exists():
        raise FileNotFoundError(f"study {path}: no such study (no study.json); run "
                                f"`python -m mosi_lib reproduce --run-id {run_id}` first")
    path.mkdir(parents=True, exist_ok=True)
    file = path / "study.json"
    info = study_info(path) if file.exists() else {
        "run_id": run_id, "kind": kind, "created": timestamp(), "created_ts": time.time(),
        "git": git_info()}
    if params is not None:
        old = info.get("params")
        new = json.loads(json.dumps(params, default=json_default))
        def what(k: str, v: Any) -> Any:  # the part of a param that decides the study
            return result_overrides(v) if k == "overrides" else v

        diff = [] if old is None else sorted(
            k for k in set(old) | set(new)
            if k not in free and what(k, old.get(k)) != what(k, new.get(k)))
        if diff:
            was = ", ".join(f"{k}={old.get(k)!r}" for k in diff)
            now = ", ".join(f"{k}={new.get(k)!r}" for k in diff)
            raise ValueError(f"study {path}: was run with {was}, not {now}; "
                             "choose another --run-id")
        info["params"] = new
    stored = info.get("setup")
    if setup is not None and stored is not None and stored != setup:
        diff = sorted(k for k in set(stored) | set(setup) if stored.get(k) != setup.get(k))
        diff = [k for k in diff if k != "overrides"] or diff  # the overrides say it twice
        was = ", ".join(f"{k}={stored.get(k)!r}" for k in diff)
        now = ", ".join(f"{k}={setup.get(k)!r}" for k in diff)
        raise StudyMismatch(f"study {path.name} holds runs of {was}, not {now}: a study holds "
                            "one config; pass run_id=None (a study of this config) or another "
                            "run_id")
    if setup is not None and stored is None:
        info["setup"] = setup
    if not file.exists() or params is not None or (setup is not None and stored is None):
        write_text_atomic(file, json.dumps(info, indent=2) + "\n")
    return path


def setup_identity(cfg, overrides: dict[str, Any] | None, *, smoke: bool) -> dict[str, Any]:
    """What makes two notebook runs the same study: profile, protocol, smoke and result overrides.

    Args:
        cfg: the notebook's resolved ``Config`` (``name``: the profile, ``data.protocol``).
        overrides: the notebook's ``overrides`` (``system.seed`` and the keys that do not change
            results, e.g. the thread count, are left out: ``hashing.result_overrides``).
        smoke: the notebook's ``smoke``.

    Returns:
        A JSON-plain dict, stored in ``study.json`` as ``setup``.
    """
    over = {k: v for k, v in result_overrides(overrides).items() if k != "system.seed"}
    return _plain({"profile": cfg.name, "protocol": cfg.data.protocol, "smoke": bool(smoke),
                   "overrides": dict(sorted(over.items()))})


def describe_setup(setup: dict[str, Any]) -> str:
    """``profile 'quick', protocol 'paper'`` (+ smoke, + the overrides): one phrase."""
    out = f"profile {setup.get('profile')!r}, protocol {setup.get('protocol')!r}"
    if setup.get("smoke"):
        out += ", smoke"
    if setup.get("overrides"):
        out += f", overrides {setup['overrides']}"
    return out


def _plain(obj: Any) -> Any:
    """``obj`` as JSON would give it back (how ``study.json`` stores it)."""
    return json.loads(json.dumps(obj, default=json_default))


def latest_study(root: str | Path | None = None, *, kind: str = "main",
                 setup: dict[str, Any] | None = None) -> Path | None:
    """The most recently created study of ``kind`` under ``root``, or None if there is none.

    Creation time: ``study.json`` "created_ts" or "created", else the folder's modification
    time; never the name. ``setup`` (``setup_identity``): only studies that stored this one.
    """
    root = Path(root) if root else paths.runs_dir()
    studies = [p for p in root.glob("*") if (p / "study.json").exists()]
    infos = {p: study_info(p) for p in studies}
    studies = [p for p in studies if infos[p].get("kind", "main") == kind
               and (setup is None or infos[p].get("setup") == _plain(setup))]
    if not studies:
        return None
    return max(studies, key=lambda p: (_created_ts(p, infos[p]), p.name))


def study_info(study: str | Path) -> dict[str, Any]:
    """``study.json`` of a study folder as a dict (``params``: how the CLI ran it, if stored).

    Raises:
        ValueError: the file is not valid JSON (named in the message).
    """
    file = Path(study) / "study.json"
    try:
        return json.loads(file.read_text())
    except ValueError as exc:
        raise ValueError(f"{file}: not valid JSON ({exc})") from exc


def _created_ts(study: Path, info: dict[str, Any]) -> float:
    """Creation time of a study: ``created_ts``, else ``created`` parsed, else folder mtime."""
    if isinstance(info.get("created_ts"), (int, float)):
        return float(info["created_ts"])
    try:
        return datetime.strptime(str(info["created"]), TIMESTAMP_FORMAT).timestamp()
    except (KeyError, ValueError):
        return study.stat().st_mtime
