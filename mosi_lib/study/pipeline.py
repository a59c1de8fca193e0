"""Executing notebooks headless with papermill: one after the other, or a group at the same time.

``run_notebooks`` writes each executed copy (with its outputs) into the study's ``notebooks/``
folder; a notebook that fails is one line naming the cell and the copy with its traceback.
``STAGES`` is the order of notebooks 01..05 (``study.commands.reproduce``).
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from mosi_lib import paths
from mosi_lib.files import with_path

STAGES = ("01_preprocess", ("02_baseline", "03_dec_pretrain"), "04_finetune", "05_results")
"""Notebooks 01..05 in the order ``reproduce`` runs them: a tuple is a group run at the same
time (02 trains the baseline, 03 pretrains DEC; 04 needs 03's run, 05 every run)."""
NOTEBOOKS = tuple(n for item in STAGES for n in (item if isinstance(item, tuple) else (item,)))
"""The notebooks of ``STAGES``, one after the other."""
EXTRA_NOTEBOOKS = ("06_label_sweep", "07_ablations")
STUDY_NOTEBOOKS = {"06_label_sweep": "sweep", "07_ablations": "ablations"}
"""Notebooks of ``study`` -> their study kind (``studies.open_study``)."""

DISK_ERRORS = re.compile(r"\[Errno (13|28|30|122)\]")
"""A cell's error that stops a study rather than failing a notebook: permission denied, no
space left on the device, a read-only file system, a disk quota exceeded."""


class NotebookStopped(RuntimeError):
    """A notebook stopped by its surroundings (a dead kernel, a full or read-only folder).

    Not by its code: one line names the notebook and the cause; the study can be resumed.
    """


KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]
"""Arguments of every kernel started here: its own log quiet. Nobody can act on what it logs:
"Kernel is running over TCP without encryption" (WARNING, once per notebook; the kernels listen
on localhost only, started by this process), and "KeyboardInterrupt caught in kernel" (ERROR,
now and then), which is jupyter_client's own shutdown: it interrupts every kernel it shuts down,
and the interrupt sometimes lands while the kernel still answers a message. A notebook's errors
reach the user through papermill (the failing cell, one line, and the ``.failed.ipynb`` copy);
its warnings go to its executed copy."""


def run_notebooks(
    names: tuple[str | tuple[str, ...], ...],
    params: dict,
    *,
    out_dir: Path | None = None,
    log_output: bool = True,
) -> list[Path]:
    """Execute ``names`` in order with papermill; return the executed copies' paths.

    Args:
        names: notebook stems under ``notebooks/``; an item that is a tuple of stems is a group
            executed at the same time, each in its own kernel (``_run_group``).
        params: papermill parameters of every notebook; ``params["run_id"]`` is the study
            folder under the runs dir (01..05 take ``seed``, 06/07 take ``seeds``).
        out_dir: where executed copies go (default ``runs/<run_id>/notebooks``).
        log_output: stream cell output (progress bars, prints) to this terminal (not for a
            group, whose outputs would interleave: they stay in the executed copies).

    Raises:
        SystemExit: a notebook failed (one line naming its cell and executed copy).
        NotebookStopped: a notebook's kernel died, or a folder it writes is full or read-only
            (one line naming the notebook and the cause).
    """
    out_dir = out_dir or paths.runs_dir() / params["run_id"] / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    total = sum(len(item) if isinstance(item, tuple) else 1 for item in names)
    done: list[Path] = []
    for item in names:
        group = item if isinstance(item, tuple) else (item,)
        first = len(done) + 1
        if len(group) > 1:
            done += _run_group(group, params, out_dir, first, total)
            continue
        t0 = time.perf_counter()
        print(f"[{first}/{total}] {group[0]} ...", flush=True)
        (out,) = _in_threads(group, params, out_dir, log_output=log_output)
        print(f"[{first}/{total}] {group[0]} done in {time.perf_counter() - t0:.0f} s -> {out}",
              flush=True)
        done.append(out)
    return done


def _execute(name: str, params: dict, out_dir: Path, *, log_output: bool) -> Path:
    """One notebook through papermill; a failing cell becomes one line naming the copy.

    The executed copy is written as ``.<name>.running.ipynb`` and moved into place as
    ``<name>.ipynb`` when every cell ran, so a failed or interrupted run never replaces a good
    executed copy: it is kept as ``<name>.failed.ipynb``.
    """
    import papermill as pm
    from nbclient.exceptions import DeadKernelError

    out, failed = out_dir / f"{name}.ipynb", out_dir / f"{name}.failed.ipynb"
    part = out_dir / f".{name}.running.ipynb"
    try:
        pm.execute_notebook(
            str(paths.NOTEBOOKS_DIR / f"{name}.ipynb"), str(part), parameters=params,
            kernel_name="python3", cwd=str(paths.NOTEBOOKS_DIR), log_output=log_output,
            progress_bar=False, extra_arguments=KERNEL_ARGS,
        )
    except pm.PapermillExecutionError as exc:  # one line; the traceback is in the copy
        if part.exists():
            os.replace(part, failed)
        where = (f"in cell {exc.exec_count}: {exc.ename}: {exc.evalue} (executed copy with the "
                 f"traceback: {failed})")
        if DISK_ERRORS.match(str(exc.evalue)):  # a full or read-only folder: resumable
            raise NotebookStopped(f"{name} stopped {where}") from None
        raise SystemExit(f"python -m mosi_lib: {name} failed {where}") from None
    except DeadKernelError as exc:  # killed (kill -9, out of memory): its runs are resumable
        first = (str(exc).strip().splitlines() or ["no reason given"])[0]
        if part.exists():
            os.replace(part, failed)
        raise NotebookStopped(f"{name} stopped: its kernel died ({first})") from None
    except OSError as exc:  # papermill could not write the executed copy (a full disk)
        raise NotebookStopped(f"{name} stopped: {with_path(exc, out_dir)}") from None
    if part.exists():
        os.replace(part, out)
    return out


def _in_threads(
    group: tuple[str, ...],
    params: dict,
    out_dir: Path,
    *,
    log_output: bool,
    first: int = 1,
    total: int = 1,
) -> list[Path]:
    """Execute ``group``'s notebooks, each in a daemon thread, while this thread stays free.

    The main thread only waits, so Ctrl-C (``KeyboardInterrupt``) reaches it at once, and
    daemon threads never hold the exit (the CLI then stops the kernels). Every notebook runs
    to its end; then the first failure (in group order) is raised.
    """
    t0 = time.perf_counter()
    result: dict[str, Any] = {}

    def target(name: str) -> None:
        try:
            result[name] = _execute(name, params, out_dir, log_output=log_output)
        except BaseException as exc:  # noqa: BLE001 - raised below, in the main thread
            result[name] = exc

    threads = [threading.Thread(target=target, args=(n,), name=f"nb-{n}", daemon=True)
               for n in group]
    for t in threads:
        t.start()
    pending = set(group)
    while pending:
        for t, name in zip(threads, group, strict=True):
            if name in pending and not t.is_alive():
                pending.discard(name)
                if len(group) > 1:  # a single notebook's line is its caller's
                    got, i = result.get(name), first + group.index(name)
                    print(f"[{i}/{total}] {name} failed" if isinstance(got, BaseException) else
                          f"[{i}/{total}] {name} done in {time.perf_counter() - t0:.0f} s -> "
                          f"{got}", flush=True)
        if pending:
            time.sleep(0.2)
    for name in group:
        if isinstance(result.get(name), BaseException):
            raise result[name]
    return [result[name] for name in group]


def _run_group(
    group: tuple[str, ...], params: dict, out_dir: Path, first: int, total: int
) -> list[Path]:
    """Execute independent notebooks at the same time, each in its own kernel process.

    The kernels share the CPU cores: unless ``OMP_NUM_THREADS`` is set already, it is set to
    ``cpu_count // len(group)`` (at least 1) for them, so two kernels on a 2-core machine run
    one thread each instead of fighting over the cores (oversubscribed, PyTorch slows down
    many times). A config's ``system.num_threads`` still wins inside a kernel. Every notebook
    of the group runs to its end; then the first failure is raised.
    """
    threads = max(1, (os.cpu_count() or 1) // len(group))
    before = os.environ.get("OMP_NUM_THREADS")
    if before is None:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # read by the kernels as they start
    print(f"[{first}-{first + len(group) - 1}/{total}] {' + '.join(group)} at the same time "
          f"(OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} each; cell output in the executed "
          "copies) ...", flush=True)
    try:
        return _in_threads(group, params, out_dir, log_output=False, first=first, total=total)
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
