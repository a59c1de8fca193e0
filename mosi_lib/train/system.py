"""Where and how a run computes (the config's ``system`` section): device, seeds, precision.

* ``select_device``: ``system.device`` (``auto``: cuda, then mps, then cpu), refused when this
  machine lacks it;
* ``seed_everything``: python, numpy and torch seeds, deterministic kernels on request;
* ``autocast``: bf16 autocast on CUDA (``system.amp``), a no-op elsewhere;
* ``capturing``: whether a CUDA graph is being captured (``system.cuda_graphs``).
"""

from __future__ import annotations

import contextlib
import os
import random
from typing import Any

import numpy as np
import torch


def select_device(preference: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; anything else is passed to ``torch.device``.

    Raises:
        ValueError: ``preference`` (``system.device``) names a device this machine lacks.
    """
    if preference != "auto":
        dev = torch.device(preference)
        has_mps = getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"system.device={preference!r}: CUDA is not available on this "
                "machine (use auto or cpu)"
            )
        if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
            n = torch.cuda.device_count()
            raise ValueError(
                f"system.device={preference!r}: this machine has {n} CUDA "
                "device(s), numbered from 0"
            )
        if dev.type == "mps" and not has_mps:
            raise ValueError(
                f"system.device={preference!r}: MPS is not available on this "
                "machine (use auto or cpu)"
            )
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch; optionally force deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def rng_states(gen: torch.Generator, device: torch.device) -> dict[str, Any]:
    """Every random state a run draws from (``set_rng_states`` puts them back).

    ``gen``, torch's (CPU, and CUDA on ``device``), numpy's and python's global ones.
    """
    states = {"gen": gen.get_state(), "torch": torch.get_rng_state(),
              "numpy": np.random.get_state(), "python": random.getstate()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def set_rng_states(states: dict[str, Any], gen: torch.Generator, device: torch.device) -> None:
    """Put back what ``rng_states`` saved (``gen`` is set in place).

    Raises:
        ValueError: the states were saved on CUDA and this run is not (or the reverse), so the
            run could not continue as the saved one would have.
    """
    if ("cuda" in states) != (device.type == "cuda"):
        raise ValueError(f"random states saved {'with' if 'cuda' in states else 'without'} "
                         f"CUDA cannot continue a run on {device.type}")
    gen.set_state(states["gen"])
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"], device)


def capturing() -> bool:
    """Whether the current CUDA stream is capturing a graph (``graphs.StepRunner``).

    Code that needs a host synchronisation (a check, a data-dependent shape) must not run
    then. False on a build or machine without CUDA.
    """
    return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()


def autocast(device: torch.device, enabled: bool, *, cache: bool = True):
    """bf16 autocast on CUDA when ``enabled``; a no-op context elsewhere.

    ``cache=False`` turns off autocast's cache of cast weights, as a step captured into a CUDA
    graph needs (``graphs.StepRunner``).
    """
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()
