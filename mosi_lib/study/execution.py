"""How a run executes: its set-up, data draw and status marks, and the worker pool of runs.

What every single-run recipe shares: device and seeds, the data it draws, its status marks.

The recipes (``classifier_runs``, ``dec_runs``, ``reference_runs``) and the grids built on them
use these steps:

* ``setup_run``: seed everything, set the thread count, pick the device, move the data there;
* ``data_for`` / ``data_info``: the data a run's seed draws, and what a run records about them;
* ``failing_marks``: mark the runs of a block failed or interrupted when it raises;
* ``find_reusable``: a finished run that is this very experiment (how studies resume);
* ``maybe_compile``, ``variant_cfg``, ``say``: ``torch.compile``, a changed and validated copy
  of a config, one line of progress.

The worker pool: independent runs of one run function, in spawned processes or here.

* ``seed_workers`` / ``worker_threads``: how many spawned processes, with how many threads;
* ``in_workers``: call a run function (``fn(cfg, data, **kwargs) -> Run``, e.g.
  ``classifier_runs.train_classifier``) once per job, in those processes.

The pool knows nothing of what a run trains: the recipes and the grids pass it the function.
"""

from __future__ import annotations

import contextlib
import copy
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from mosi_lib import runs
from mosi_lib.config import Config, DataConfig, apply_overrides, config_from_dict, validate
from mosi_lib.data.preprocess import Processed, prepare_data
from mosi_lib.study import studies
from mosi_lib.train import loop
from mosi_lib.train.loop import DeviceData

# =============================================================================
# What every single-run recipe shares: device and seeds, the data it draws, its status marks.

def setup_run(cfg: Config, data: Processed) -> tuple[torch.device, DeviceData]:
    """Seed everything, set ``system.num_threads``, pick the device and move ``data`` there."""
    loop.seed_everything(cfg.system.seed, cfg.system.deterministic)
    if cfg.system.num_threads:
        torch.set_num_threads(cfg.system.num_threads)
    device = loop.select_device(cfg.system.device)
    return device, DeviceData(data, device)


def data_info(data: Processed) -> dict[str, Any]:
    """What a run records about its data (``config.yaml`` provenance, ``metrics.json``)."""
    return {
        "data_source": data.meta.get("source"),
        "synthetic": data.synthetic,
        "data_description": data.meta.get("description"),
        "protocol": data.meta.get("protocol"),
        "modalities": data.modalities,
        "data_key": data.meta.get("key") or data.meta.get("cache", {}).get("key"),
        "n_segments": len(data),
    }


def data_for(cfg: Config, data: Processed) -> Processed:
    """``data`` drawn with ``cfg``'s ``data.split_seed``: ``data`` itself, or it drawn again.

    With ``data.draw=seed`` every seed has its own labeled draw, so a study's data set (drawn
    for one seed) is drawn again for another seed: the same data config but the split seed,
    through ``prepare_data`` and its cache (seconds). Every run entry point calls this, so a
    grid or notebook may pass one data set for all its seeds.

    Raises:
        ValueError: the draws differ and ``data`` was not made by ``prepare_data`` (it cannot
            be drawn again: set ``data.draw=fixed``).
    """
    have = data.meta.get("config", {})
    if have.get("split_seed", cfg.data.split_seed) == cfg.data.split_seed:
        return data
    if not data.meta.get("cache"):
        raise ValueError(f"data drawn with data.split_seed={have['split_seed']}, the run needs "
                         f"{cfg.data.split_seed} (data.draw=seed, system.seed="
                         f"{cfg.system.seed}); data not made by prepare_data cannot be drawn "
                         "again: set data.draw=fixed")
    return prepare_data(DataConfig(**{**have, "split_seed": cfg.data.split_seed}))


@contextlib.contextmanager
def failing_marks(*runs_: runs.Run):
    """Mark ``runs_`` failed if the block raises, ``interrupted`` on Ctrl-C; track them meanwhile.

    The status file gets a one-line reason; while the block runs the runs are this process's
    runs in flight (``studies.track``).
    A run killed outright (SIGKILL, power) stays ``running`` until ``studies.sweep_stale`` finds
    its process gone; either way it never enters a table (``runs.find_runs``: finished only).
    """
    for run in runs_:
        studies.track(run)
    try:
        yield
    except KeyboardInterrupt:
        for run in runs_:
            run.mark_interrupted("KeyboardInterrupt (Ctrl-C)")
        raise
    except BaseException as exc:
        for run in runs_:
            run.mark_failed(f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        raise
    finally:
        for run in runs_:
            studies.untrack(run)


def find_reusable(cfg: Config, data: Processed, root, *, kind: str, init_run=None,
                  init_checkpoint: str = "last.pt", **match: Any) -> runs.Run | None:
    """A finished run under ``root`` that is this very experiment, or None.

    Same kind, seed, data, recipe (``runs.recipe_hash``), ``match`` fields and, for a
    DEC-initialised classifier, the same DEC run and checkpoint. The run returned is marked
    ``reused`` (the notebooks and ``execution.in_workers`` say so on the page).
    """
    found = runs.find_same(root, cfg, kind=kind, seed=cfg.system.seed,
                           data_key=data_info(data_for(cfg, data))["data_key"], **match)
    if init_run is not None:
        dec_id = runs.load_run(init_run).run_id
        found = [r for r in found if (r.metrics().get("transfer") or {}).get("dec_run") == dec_id
                 and r.metrics()["transfer"].get("checkpoint") == init_checkpoint]
    if not found:
        return None
    found[-1].reused = True
    return found[-1]


def maybe_compile(model: torch.nn.Module, cfg: Config) -> torch.nn.Module:
    """``torch.compile`` ``model`` in place with ``system.compile_mode`` when ``system.compile``.

    ``nn.Module.compile`` keeps the state_dict keys free of the ``_orig_mod.`` prefix, so
    checkpoints of compiled and eager runs are interchangeable.
    """
    if cfg.system.compile:
        model.compile(mode=cfg.system.compile_mode)
    return model


def variant_cfg(cfg: Config, changes: dict[str, Any]) -> Config:
    """A copy of ``cfg`` with ``changes`` (dotted keys) applied and validated.

    Raises:
        ValueError, KeyError, TypeError: ``config.validate`` / ``apply_overrides`` refuse it.
    """
    out = copy.deepcopy(cfg)
    return validate(apply_overrides(out, changes))


def say(msg: str) -> None:
    """Print one line of progress, flushed at once."""
    print(msg, flush=True)


# =============================================================================
# The worker pool: independent runs of one run function, in spawned processes or here.

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
        device = device or loop.select_device(cfg.system.device)
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
    """A worker process starts: its signals (``studies.worker_signals``), then the data set."""
    studies.worker_signals()  # Ctrl-C is the parent's to handle; SIGTERM or an orphan: exit
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
            ``classifier_runs.train_classifier`` or ``pretrain_runs.pretrain_dec``.
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
                studies.stop_children(grace_s=5.0)
                raise
    out = []
    for path, reused in done:  # a worker's own lines do not reach a notebook's page: say here
        out.append(runs.load_run(path))
        if reused:
            out[-1].reused = True
            say(f"reusing finished run {out[-1].run_id} (same recipe, seed and data; not "
                "trained again)")
    return out
