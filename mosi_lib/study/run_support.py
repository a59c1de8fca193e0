"""What every single-run recipe shares: device and seeds, the data it draws, its status marks.

The recipes (``classifier_runs``, ``dec_runs``, ``reference_runs``) and the grids built on them
use these steps:

* ``setup_run``: seed everything, set the thread count, pick the device, move the data there;
* ``data_for`` / ``data_info``: the data a run's seed draws, and what a run records about them;
* ``failing_marks``: mark the runs of a block failed or interrupted when it raises;
* ``find_reusable``: a finished run that is this very experiment (how studies resume);
* ``maybe_compile``, ``variant_cfg``, ``say``: ``torch.compile``, a changed and validated copy
  of a config, one line of progress.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import torch

from mosi_lib.config import Config, DataConfig, validate
from mosi_lib.data.preprocess import Processed, prepare_data
from mosi_lib.overrides import apply_overrides
from mosi_lib.study import guard, runs
from mosi_lib.train import system
from mosi_lib.train.batches import DeviceData


def setup_run(cfg: Config, data: Processed) -> tuple[torch.device, DeviceData]:
    """Seed everything, set ``system.num_threads``, pick the device and move ``data`` there."""
    system.seed_everything(cfg.system.seed, cfg.system.deterministic)
    if cfg.system.num_threads:
        torch.set_num_threads(cfg.system.num_threads)
    device = system.select_device(cfg.system.device)
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
    runs in flight (``guard.track``).
    A run killed outright (SIGKILL, power) stays ``running`` until ``guard.sweep_stale`` finds
    its process gone; either way it never enters a table (``runs.find_runs``: finished only).
    """
    for run in runs_:
        guard.track(run)
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
            guard.untrack(run)


def find_reusable(cfg: Config, data: Processed, root, *, kind: str, init_run=None,
                  init_checkpoint: str = "last.pt", **match: Any) -> runs.Run | None:
    """A finished run under ``root`` that is this very experiment, or None.

    Same kind, seed, data, recipe (``hashing.recipe_hash``), ``match`` fields and, for a
    DEC-initialised classifier, the same DEC run and checkpoint. The run returned is marked
    ``reused`` (the notebooks and ``parallel.in_workers`` say so on the page).
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
