"""Study folders: ``runs/<study>/`` with its ``study.json``, its lock, and safe interrupts.

Study folders: ``runs/<study>/`` groups one pass of notebooks, with its ``study.json``.

A study holds the run folders (``study.runs``), the executed notebooks and the summaries of one
pass of notebooks 01..05 (kind ``main``), of 06 (``sweep``) or of 07 (``ablations``).
``study.json`` records its kind, creation time, git commit and how the CLI ran it (``params``),
so that ``figures`` re-renders a study with its own config and a second call with another
config is refused. Notebooks record their config's identity (``setup``: profile, protocol, smoke,
the overrides that change results); a notebook without ``run_id`` continues the latest study of
that identity only, and a named study of another identity is refused (``StudyMismatch``).

Safe to interrupt, safe to run twice: the study lock, runs in flight, stopping a process tree.

* ``StudyLock``: one writing process per study. An OS file lock (``filelock``, released by the
  kernel when its holder dies, even by ``kill -9``) on ``<study>/.lock``, and ``lock.json``
  beside it naming the holder (pid, host, start, command) for the message a second process
  gets. A ``lock.json`` left by a holder that is gone is reported and taken over.
* ``in_flight``: the runs this process is training. On an interrupt (Ctrl-C, SIGTERM, the
  parent gone) they are marked ``interrupted``; ``sweep_stale`` marks ``interrupted`` the runs
  of a study still marked ``running`` whose process is gone (a ``kill -9``, a power cut).
  An interrupted run never enters a table; the next ``reproduce``/``study`` with the same
  ``--run-id`` reuses the finished runs and trains the interrupted ones again.
* ``stop_children``: terminate (then kill) every process below this one: the notebook
  kernels and their worker pools.
* ``watch_parent``: a daemon thread that ends this process within ``interval`` seconds of its
  parent's death (workers; kernels started by the CLI, ``MOSI_WATCH_PARENT=1``), after marking
  its runs in flight ``interrupted`` and stopping its own children.
* ``HeldStudies`` and ``signals_interrupt``: a command that writes studies (``study.commands``)
  locks each one, turns SIGINT, SIGTERM and SIGHUP into ``KeyboardInterrupt``, and on an
  interrupt stops its process tree and marks the runs it left.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import filelock
import psutil

from mosi_lib import paths
from mosi_lib.files import TIMESTAMP_FORMAT, git_info, json_default, timestamp, write_text_atomic
from mosi_lib.runs import Run, StudyMismatch, result_overrides

# =============================================================================
# Study folders: ``runs/<study>/`` groups one pass of notebooks, with its ``study.json``.

STUDY_FILE = "study.json"
"""What makes a folder a study folder: its record (created, kind, config, notebooks run)."""


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
            ``overrides`` only in the keys that change results (``runs.result_overrides``:
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
    if not create and not (path / STUDY_FILE).exists():
        raise FileNotFoundError(f"study {path}: no such study (no study.json); run "
                                f"`python -m mosi_lib reproduce --run-id {run_id}` first")
    path.mkdir(parents=True, exist_ok=True)
    file = path / STUDY_FILE
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
            results, e.g. the thread count, are left out: ``runs.result_overrides``).
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
    studies = [p for p in root.glob("*") if (p / STUDY_FILE).exists()]
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
    file = Path(study) / STUDY_FILE
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


# =============================================================================
# Safe to interrupt, safe to run twice: the study lock, runs in flight, stopping a process tree.

LOCK_FILE = ".lock"
HOLDER_FILE = "lock.json"
WATCH_ENV = "MOSI_WATCH_PARENT"

_IN_FLIGHT: dict[str, Run] = {}  # run folder -> Run, the runs this process is training
_LOCK = threading.Lock()


class StudyLocked(RuntimeError):
    """Another live process holds the study's lock."""


def _read_holder(study: Path) -> dict[str, Any]:
    try:
        out = json.loads((study / HOLDER_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def describe_holder(holder: dict[str, Any]) -> str:
    """``pid 123 on host h since 2026-12-02T06:00:00 (python -m mosi_lib reproduce ...)``."""
    if not holder:
        return "a process that left no lock.json"
    return (f"pid {holder.get('pid')} on host {holder.get('host')} since {holder.get('started')}"
            f" ({holder.get('command', '?')})")


class StudyLock:
    """Hold ``<study>/.lock`` for the life of a writing command (``with StudyLock(study):``).

    Raises ``StudyLocked`` at once (no waiting) when a live process holds it, naming that
    process. Re-entrant within a process is not needed and not supported.
    """

    def __init__(self, study: str | Path, command: str | None = None):
        self.study = Path(study)
        self.command = command or " ".join(["python -m mosi_lib", *sys.argv[1:]])
        self._lock = filelock.FileLock(str(self.study / LOCK_FILE), timeout=0)
        self.took_over: dict[str, Any] | None = None

    def acquire(self) -> StudyLock:
        """Take the lock now or raise ``StudyLocked``; write ``lock.json``."""
        self.study.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise StudyLocked(f"study {self.study} is in use by "
                              f"{describe_holder(_read_holder(self.study))}; wait for it to end "
                              "or stop it, or choose another --run-id") from None
        old = _read_holder(self.study)
        if old:  # its holder let go of the OS lock (gone), or the OS lock would have refused us
            self.took_over = old
            print(f"study {self.study}: took over the lock of {describe_holder(old)}, "
                  f"{_why_free(old)}", flush=True)
        holder = {"pid": os.getpid(), "host": platform.node(),
                  "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": self.command}
        (self.study / HOLDER_FILE).write_text(json.dumps(holder, indent=2) + "\n")
        return self

    def release(self) -> None:
        """Remove ``lock.json`` and let go of the lock (a no-op when not held)."""
        if self._lock.is_locked:
            (self.study / HOLDER_FILE).unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> StudyLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _why_free(holder: dict[str, Any]) -> str:
    """Why the OS lock of ``holder`` (a ``lock.json``) was free, for the takeover line.

    Its process is gone, or it is alive but not the holder (pid 1 in a container, a reused pid,
    a copied study), or it is of another host (unknown).
    """
    pid, host = holder.get("pid"), holder.get("host")
    if host not in (None, platform.node()):
        return "which no longer holds it (a process of another host)"
    if pid_alive(pid, host):
        return (f"which no longer holds it (pid {pid} is alive but does not hold the lock: a "
                "reused pid or a copied lock.json)")
    return "which is gone"


def held_by(study: str | Path) -> dict[str, Any] | None:
    """The live holder of ``study``'s lock (its ``lock.json``), or None when it is free.

    A lock file this process cannot open (a read-only runs folder) is judged by ``lock.json``
    alone: its holder if that process is alive.
    """
    study = Path(study)
    if not (study / LOCK_FILE).exists():
        return None
    probe = filelock.FileLock(str(study / LOCK_FILE), timeout=0)
    try:
        probe.acquire()
    except filelock.Timeout:
        return _read_holder(study) or {"pid": "?"}
    except OSError:  # read-only: nobody can write the study now, but say who started to
        holder = _read_holder(study)
        return holder if holder and pid_alive(holder.get("pid"), holder.get("host")) else None
    probe.release()
    return None


# ----------------------------------------------------------------------------- runs in flight


def track(run: Run) -> None:
    """Record ``run`` as being trained by this process."""
    with _LOCK:
        _IN_FLIGHT[str(run.path)] = run


def untrack(run: Run) -> None:
    """``run`` is no longer trained by this process."""
    with _LOCK:
        _IN_FLIGHT.pop(str(run.path), None)


def mark_in_flight_interrupted(reason: str) -> int:
    """Mark this process's runs in flight ``interrupted``; how many."""
    with _LOCK:
        flying = list(_IN_FLIGHT.values())
        _IN_FLIGHT.clear()
    for run in flying:
        try:
            run.mark_interrupted(reason)
        except OSError:  # a read-only or full disk: the sweep of the next start names it
            pass
    return len(flying)


def pid_alive(pid: Any, host: Any) -> bool:
    """Whether process ``pid`` on ``host`` is alive; a run of another host counts as alive."""
    if host not in (None, platform.node()):
        return True
    try:
        proc = psutil.Process(int(pid))
    except (psutil.NoSuchProcess, TypeError, ValueError):
        return False
    return proc.status() != psutil.STATUS_ZOMBIE


def sweep_stale(study: str | Path, *, reason: str = "its process is gone") -> list[str]:
    """Mark ``interrupted`` the runs of ``study`` marked ``running`` whose process is gone.

    Returns the run ids marked (a ``kill -9``, a lost machine, or the processes just stopped).
    """
    marked = []
    for file in sorted(Path(study).glob("*/status.json")):
        run = Run(file.parent)
        info = run.status_info()
        if info.get("state") == "running" and not pid_alive(info.get("pid"), info.get("host")):
            try:
                run.mark_interrupted(f"{reason} (pid {info.get('pid')})")
            except OSError:
                continue
            marked.append(run.run_id)
    return marked


def interrupted_since(study: str | Path, since: str) -> list[str]:
    """Run ids of ``study`` marked ``interrupted`` at or after ``since`` (a ``timestamp``)."""
    out = []
    for file in sorted(Path(study).glob("*/status.json")):
        info = Run(file.parent).status_info()
        if info.get("state") == "interrupted" and str(info.get("interrupted", "")) >= since:
            out.append(file.parent.name)
    return out


# ----------------------------------------------------------------------------- processes


def stop_children(grace_s: float = 5.0) -> list[int]:
    """Terminate every process below this one, kill those left after ``grace_s``; their pids."""
    try:
        kids = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    for kid in kids:
        try:
            kid.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(kids, timeout=grace_s)
    for kid in alive:
        try:
            kid.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=grace_s)
    return [k.pid for k in kids]


def _exit_interrupted(reason: str, code: int) -> None:
    mark_in_flight_interrupted(reason)
    stop_children(grace_s=2.0)
    os._exit(code)


def watch_parent(interval: float = 2.0) -> threading.Thread | None:
    """End this process within ``interval`` s of its parent's death (started once)."""
    if getattr(watch_parent, "_thread", None) is not None:
        return watch_parent._thread
    parent = os.getppid()
    if parent <= 1:
        return None

    def loop() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                _exit_interrupted(f"parent process {parent} is gone", 1)

    thread = threading.Thread(target=loop, name="mosi-watch-parent", daemon=True)
    thread.start()
    watch_parent._thread = thread
    return thread


def worker_signals() -> None:
    """In a worker process: ignore Ctrl-C (its parent decides), end cleanly on SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: _exit_interrupted("terminated (SIGTERM)", 143))
    watch_parent()


def watch_parent_if_asked() -> None:
    """In a notebook kernel started by the CLI (``MOSI_WATCH_PARENT=1``): ``watch_parent``."""
    if os.environ.get(WATCH_ENV) == "1":
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM,
                          lambda *_: _exit_interrupted("terminated (SIGTERM)", 143))
        watch_parent()


# ----------------------------------------------------------------------------- a command's studies


def raise_interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C, SIGTERM, SIGHUP: ``KeyboardInterrupt``.

    Set for SIGINT too: Python leaves SIGINT ignored when the process started with it ignored
    (a job started with ``&`` by a script), and Ctrl-C must still stop the study.
    """
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Within the block SIGINT, SIGTERM and SIGHUP (a lost terminal) stop as Ctrl-C does.

    In the main thread each raises ``KeyboardInterrupt`` (``raise_interrupt``); kernels started
    in the block end when this process is gone (``WATCH_ENV``). Both are undone on leaving.
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, raise_interrupt)
                    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    os.environ[WATCH_ENV] = "1"
    try:
        yield
    finally:
        os.environ.pop(WATCH_ENV, None)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class HeldStudies:
    """The study folders one command writes: locked for its life, swept after an interrupt."""

    def __init__(self) -> None:
        self.started = timestamp()  # runs interrupted from now on are this command's
        self.locks: list[StudyLock] = []
        self.resume_id: str | None = None  # the --run-id that resumes the command, once chosen

    def take(self, study: Path) -> None:
        """Lock ``study`` for this process and report its stale runs (``sweep_stale``).

        Raises:
            StudyLocked: another live process holds it (named in the message).
        """
        lock = StudyLock(study)
        lock.acquire()
        self.locks.append(lock)
        stale = sweep_stale(study)
        if stale:
            names = ", ".join(stale[:3]) + (", ..." if len(stale) > 3 else "")
            print(f"study {study}: {len(stale)} run(s) marked running by a process that is gone "
                  f"(stale: {names}); marked interrupted, trained again", flush=True)

    def stop(self) -> list[str]:
        """After an interrupt: stop the kernels and workers; the run ids marked ``interrupted``.

        A second Ctrl-C is ignored from here on, so that it cannot cut the clean-up. Runs whose
        process was stopped before it could mark them are swept (``sweep_stale``); the ids
        returned are those of the held studies marked since ``started``.
        """
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        logging.disable(logging.CRITICAL)  # papermill's threads report their dying kernels
        stop_children(grace_s=5.0)
        for lock in self.locks:
            sweep_stale(lock.study, reason="interrupted")
        return [r for lock in self.locks for r in interrupted_since(lock.study, self.started)]

    def release(self) -> None:
        """Let go of every lock taken (``StudyLock.release``)."""
        for lock in self.locks:
            lock.release()
