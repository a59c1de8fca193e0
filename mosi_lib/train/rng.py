"""The random-number state of a training loop, saved in checkpoints and restored on resume.

With it (the shuffling generator and torch's global generators) a resumed loop continues
exactly where an uninterrupted one would (bit-identical on a CPU with ``system.deterministic``).
"""

from __future__ import annotations

from typing import Any

import torch


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
