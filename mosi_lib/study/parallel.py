"""The worker pool: independent runs of one run function, in spawned processes or here.

* ``seed_workers`` / ``worker_threads``: how many spawned processes, with how many threads;
* ``in_workers``: call a run function (``fn(cfg, data, **kwargs) -> Run``, e.g.
  ``classifier_runs.train_classifier``) once per job, in those processes.

The pool knows nothing of what a run trains: the recipes and the grids pass it the function.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mosi_lib.config import Config, config_from_dict
from mosi_lib.data.preprocess import Processed
from mosi_lib.study import guard, runs
from mosi_lib.study.run_support import say
from mosi_lib.train import system

RunFn = Callable[..., runs.Run]
"""A run function: ``fn(cfg, data, **kwargs)`` trains one run and returns it."""

# ----------------------------------------------------------------------------- worker processes

_WORKER: dict[str, Any] = {}  # per worker process: the data set and the torch thread count


MAX_AUTO_WORKERS = 8
"""``system.seed_workers=0`` (auto) starts at most this many processes (memory: each holds the
data set and a torch runtime, about 0.5 GB for CMU-MOSI's shape)."""


def seed_workers(cfg: Config, n_jobs: int, device: torch.device | None = None) -> int:
    """Worker processes for ``n_jobs`` independent seed runs (1: run them in this process).

    ``system.seed_workers`` > 0 is taken as is (capped at ``n_jobs``); 0 (auto) gives one
    process per job, at most ``MAX_AUTO_WORKERS``, on a CPU and on CUDA (processes share one
    GPU well), and 1 on MPS (untried there).
    """
    if n_jobs < 2:
        return 1
    n = cfg.system.seed_workers
    if n == 0:
        device = device or system.select_device(cfg.system.device)
        n = min(n_jobs, MAX_AUTO_WORKERS) if device.type in ("cpu", "cuda") else 1
    return max(1, min(n, n_jobs))


def worker_threads(workers: int) -> int:
    """Torch threads per worker: the CPU cores shared out (at least one)."""
    return max(1, (os.cpu_count() or 1) // workers)


def write_data_file(data: Processed, folder: str | Path) -> str:
    """Pickle ``data`` to ``folder``/data.pkl for the workers (``init_worker``); its path.

    The default pickle protocol, as ``spawn``'s pipe used.
    """
    data_file = Path(folder) / "data.pkl"
    with open(data_file, "wb") as f:
        pickle.dump(data, f)
    return str(data_file)


def init_worker(data_file: str, threads: int) -> None:
    """A worker process starts: its signals (``guard.worker_signals``), then the data set."""
    guard.worker_signals()  # Ctrl-C is the parent's to handle; SIGTERM or an orphan: exit
    with open(data_file, "rb") as f:
        _WORKER.update(data=pickle.load(f), threads=threads)


def _worker_job(fn: RunFn, cfg_dict: dict[str, Any], kwargs: dict[str, Any]) -> tuple[str, bool]:
    """One run inside a worker: ``fn`` on the worker's data set; its folder, and if reused."""
    cfg = config_from_dict(cfg_dict)
    cfg.system.num_threads = _WORKER["threads"]  # set by setup_run; recorded in config.yaml
    cfg.system.progress = False  # bars of parallel workers would interleave
    run = fn(cfg, _WORKER["data"], **kwargs)
    return str(run.path), bool(getattr(run, "reused", False))


def in_workers(fn: RunFn, jobs: list[tuple[Config, dict[str, Any]]], data: Processed,
               workers: int) -> list[runs.Run]:
    """Run independent calls ``fn(cfg, data, **kwargs)``, in worker processes.

    ``min(workers, len(jobs))`` processes (``spawn``: safe under Jupyter and with threads),
    each with ``worker_threads`` torch threads; each run's provenance (``extra``) records
    ``seed_workers``. The data set is pickled once to a temporary file that every worker reads
    as it starts (``init_worker``), not passed through ``spawn``'s pipe, where each start would
    wait until the child before had imported torch and read it (``tools/worker_start.py``
    times both). A run trained in a worker equals one trained in this process up to the
    rounding of its thread count. A run a worker found finished (``reused``) is said here, where
    a notebook shows it. An exception in a job is raised here. With one worker (or
    one job) the calls run here, one after the other.

    Args:
        fn: a module-level run function (workers import it by name), e.g.
            ``classifier_runs.train_classifier`` or ``dec_runs.pretrain_dec``.
        jobs: ``(cfg, kwargs)`` per run; kwargs as ``fn``'s (``root`` and ``init_run`` as
            paths or ``Run``).
        workers: from ``seed_workers``.

    Returns:
        The finished runs, in job order.

    Raises:
        ValueError: ``fn`` is not a module-level function.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if not callable(fn) or "<" in getattr(fn, "__qualname__", "<"):
        raise ValueError(f"fn={fn!r}: expected a module-level run function (workers import "
                         "it by name)")
    workers = max(1, min(int(workers), len(jobs)))
    if workers == 1:
        return [fn(c, data, **kw) for c, kw in jobs]
    jobs = [(c, {**kw, "extra": {**(kw.get("extra") or {}), "seed_workers": workers}})
            for c, kw in jobs]
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="mosi-workers-") as tmp:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker,
                                 initargs=(write_data_file(data, tmp),
                                           worker_threads(workers))) as pool:
            futures = [pool.submit(_worker_job, fn, c.to_dict(), kw) for c, kw in jobs]
            try:
                done = [f.result() for f in futures]
            except BaseException:  # Ctrl-C or a failed job: stop the others now, not at exit
                pool.shutdown(wait=False, cancel_futures=True)
                guard.stop_children(grace_s=5.0)
                raise
    out = []
    for path, reused in done:  # a worker's own lines do not reach a notebook's page: say here
        out.append(runs.load_run(path))
        if reused:
            out[-1].reused = True
            say(f"reusing finished run {out[-1].run_id} (same recipe, seed and data; not "
                "trained again)")
    return out
