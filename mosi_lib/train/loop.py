"""The epoch loop every fit shares, and the events it reports to hooks.

``train_epoch`` runs one training step per mini-batch and reads the epoch's running sums once
at the end (one host synchronisation per epoch). The classifier, both DEC stages and the
benchmark train through it; what a step computes is theirs.

The fits know nothing of run folders or plotting: they report through hooks (callables called
with an ``Event``) and return their history. ``mosi_lib.study.classifier_runs`` and
``dec_runs`` attach the hooks that write ``runs/<run_id>/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn

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
        batches: the epoch's batches (``batches.minibatches``: LongTensors of row numbers);
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
