"""Around every training step: data on the device, the epoch loop, evaluation, device and seeds.

The epoch loop every fit shares, and the events it reports to hooks.

``train_epoch`` runs one training step per mini-batch and reads the epoch's running sums once
at the end (one host synchronisation per epoch). The classifier, both DEC stages and the
benchmark train through it; what a step computes is theirs.

The fits know nothing of run folders or plotting: they report through hooks (callables called
with an ``Event``) and return their history. ``mosi_lib.study.classifier_runs`` and
``pretrain_runs`` attach the hooks that write ``runs/<run_id>/``.

Where and how a run computes (the config's ``system`` section): device, seeds, precision.

* ``select_device``: ``system.device`` (``auto``: cuda, then mps, then cpu), refused when this
  machine lacks it;
* ``seed_everything``: python, numpy and torch seeds, deterministic kernels on request;
* ``autocast``: bf16 autocast on CUDA (``system.amp``), a no-op elsewhere;
* ``capturing``: whether a CUDA graph is being captured (``system.cuda_graphs``).

The random-number state of a training loop, saved in checkpoints and restored on resume.

With it (the shuffling generator and torch's global generators) a resumed loop continues
exactly where an uninterrupted one would (bit-identical on a CPU with ``system.deterministic``).

Data on the device: a data set moved once as tensors, and its shuffled mini-batches.

The whole data set lives on the device and a mini-batch is a LongTensor of row numbers,
gathered with ``index_select`` inside the training step (no ``DataLoader``, no per-batch host
copies; ``mosi_lib.bench`` compares the two).

Forward passes in eval mode over chosen rows: classifier logits and metrics, DEC's z and q.

Each gathers its rows in chunks from the data on the device (``loop.DeviceData``) and
leaves the model in the mode it found it in.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from mosi_lib import metrics
from mosi_lib.losses import classifier_loss

# =============================================================================
# Where and how a run computes (the config's ``system`` section): device, seeds, precision.

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


# =============================================================================
# The random-number state of a training loop, saved in checkpoints and restored on resume.

def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Everything random a resumed loop needs to continue identically."""
    state = {"shuffle": generator.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(generator: torch.Generator, state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned."""
    generator.set_state(state["shuffle"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# =============================================================================
# Data on the device: a data set moved once as tensors, and its shuffled mini-batches.

class DeviceData:
    """A ``Processed`` data set moved once to ``device`` as tensors.

    Attributes:
        x: modality -> (N, T, D) float32; masks: modality -> (N, T) bool;
        scores: (N,) float32 sentiment scores (on the device, used only through index sets
        the caller chose); n: number of rows.
    """

    def __init__(self, data, device: torch.device):
        self.device = device
        self.x = {m: torch.as_tensor(v, device=device) for m, v in data.x.items()}
        self.masks = {m: torch.as_tensor(v, device=device) for m, v in data.masks.items()}
        self.scores = torch.as_tensor(data.labels, device=device)
        self.n = len(data.labels)

    def batch(self, idx: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Gather rows ``idx`` (a device LongTensor) of every modality."""
        return (
            {m: v.index_select(0, idx) for m, v in self.x.items()},
            {m: v.index_select(0, idx) for m, v in self.masks.items()},
        )


def minibatches(
    idx: torch.Tensor, batch_size: int, generator: torch.Generator | None
) -> Iterator[torch.Tensor]:
    """Yield shuffled (if ``generator``) mini-batches of ``idx``.

    A final batch of a single row is dropped (BatchNorm cannot train on one sample); with at
    least two rows overall nothing else is ever dropped.
    """
    if generator is not None:
        idx = idx[torch.randperm(len(idx), generator=generator).to(idx.device)]
    for start in range(0, len(idx), batch_size):
        chunk = idx[start : start + batch_size]
        if len(chunk) == 1 and len(idx) > 1:
            continue
        yield chunk


# =============================================================================
# The epoch loop every fit shares, and the events it reports to hooks.

Batch = TypeVar("Batch", bound=Sized)


@dataclass
class Event:
    """What a hook receives: the loop's state at a point in training."""

    name: str  # "epoch_end" | "improved" | "stage_end" | "target_update"
    epoch: int
    model: nn.Module
    optimizer: torch.optim.Optimizer | None = None
    row: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


Hook = Callable[[Event], None]


def fire(hooks: list[Hook] | None, event: Event) -> None:
    """Call every hook with ``event``, in order."""
    for hook in hooks or []:
        hook(event)


def train_epoch(
    step: Callable[[Batch], Any], batches: Iterable[Batch], *, sums: torch.Tensor | None = None
) -> tuple[int, list[float]]:
    """One epoch: ``step(batch)`` for every batch of ``batches``.

    Args:
        step: one training step (a ``graphs.StepRunner``, or any callable); it adds what the
            epoch reports into ``sums`` in place.
        batches: the epoch's batches (``loop.minibatches``: LongTensors of row numbers);
            ``len(batch)`` is its number of rows.
        sums: the epoch's running sums on the device, zeroed here before the first step.

    Returns:
        ``(rows trained, the values of sums)`` (an empty list without ``sums``).
    """
    if sums is not None:
        sums.zero_()
    n = 0
    for batch in batches:
        step(batch)
        n += len(batch)
    return n, sums.tolist() if sums is not None else []


# =============================================================================
# Forward passes in eval mode over chosen rows: classifier logits and metrics, DEC's z and q.

@torch.no_grad()
def predict_logits(
    model: nn.Module,
    dd: DeviceData,
    idx: torch.Tensor,
    *,
    amp: bool = False,
    chunk: int = 1024,
    cache: bool = True,
) -> torch.Tensor:
    """Logits (len(idx),) of a classifier in eval mode, float32 on the device.

    ``cache=False`` turns off autocast's weight cache (for a capture, ``graphs.ForwardRunner``).
    """
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(idx), chunk):
        x, masks = dd.batch(idx[start : start + chunk])
        with autocast(dd.device, amp, cache=cache):
            # clone: under CUDA graphs (system.compile_mode=reduce-overhead) the next call
            # overwrites a graph's output in place
            out.append(model(x, masks).float().clone())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, device=dd.device)


def evaluate_classifier(
    model: nn.Module,
    dd: DeviceData,
    idx: torch.Tensor,
    zero_policy: str,
    *,
    amp: bool = False,
    objective: str = "bce",
    logits: torch.Tensor | None = None,
) -> dict[str, float]:
    """Loss and metrics of ``model`` on rows ``idx``.

    ``logits``: the model's logits on ``idx`` when the caller has them (a replayed validation
    forward, ``graphs.ForwardRunner``); computed here otherwise.

    Returns:
        ``loss`` (the training ``objective``, ``losses.classifier_loss``; non0 ignores zero
        scores), ``acc`` and ``f1`` under ``zero_policy``, every key of
        ``metrics.binary_metrics`` (positive class: output > 0) and of
        ``metrics.regression_metrics`` (MAE, Corr, Acc-7 on every row): computed when the
        output is a score (``objective="l1"``), None when it is a logit (``bce``: undefined).
    """
    if logits is None:
        logits = predict_logits(model, dd, idx, amp=amp)
    scores = dd.scores.index_select(0, idx)
    keep = metrics.binary_target(scores, zero_policy)[1]
    loss = classifier_loss(
        logits[keep], scores[keep], objective=objective, zero_policy=zero_policy
    ).item()
    out, true = logits.cpu().numpy(), scores.cpu().numpy()
    res = metrics.binary_metrics(out > 0, true)
    if objective == "l1":
        res.update(metrics.regression_metrics(out, true))
    else:
        res.update(dict.fromkeys(metrics.REGRESSION_KEYS))
    res["loss"] = loss
    res["acc"], res["f1"] = res[f"acc_{zero_policy}"], res[f"f1_{zero_policy}"]
    return res


@torch.no_grad()
def dec_forward_all(
    model: nn.Module,
    dd: DeviceData,
    idx: torch.Tensor,
    *,
    amp: bool = False,
    chunk: int = 1024,
    cache: bool = True,
) -> dict[str, torch.Tensor]:
    """``z`` (N, L) and ``q`` (N, K) of a DEC model over rows ``idx`` in eval mode.

    ``cache=False`` turns off autocast's weight cache (for a capture, ``graphs.ForwardRunner``).
    """
    was_training = model.training
    model.eval()
    zs, qs = [], []
    for start in range(0, len(idx), chunk):
        x, masks = dd.batch(idx[start : start + chunk])
        with autocast(dd.device, amp, cache=cache):
            out = model(x, masks)
        zs.append(out["z"].float().clone())  # clone: see predict_logits
        qs.append(out["q"].float().clone())
    model.train(was_training)
    return {"z": torch.cat(zs), "q": torch.cat(qs)}
