"""Self-describing checkpoints: what a run's checkpoint holds, reading it, rebuilding its model.

A checkpoint alone is enough to rebuild the model (``kind`` and ``model_kwargs``) and to resume
the run (its config and the training state the fit hands to its hooks).
"""

from __future__ import annotations

from typing import Any

import torch

from mosi_lib import files, models
from mosi_lib.config import Config
from mosi_lib.train.contrastive import ContrastiveModel


def checkpoint_dict(kind: str, model, cfg: Config, state: dict[str, Any]) -> dict[str, Any]:
    """A self-describing checkpoint: enough to rebuild the model and to resume."""
    return {"kind": kind, "model_kwargs": model.init_kwargs, "config": cfg.to_dict(), **state}


def load_checkpoint(path) -> dict[str, Any]:
    """Read a checkpoint written by a run (``weights_only=False``: it holds our own dicts)."""
    return files.load_checkpoint(path, map_location="cpu")


def model_from_checkpoint(ckpt: dict[str, Any], which: str = "model_state") -> torch.nn.Module:
    """Rebuild the model a checkpoint describes and load its weights (``best_state`` or last).

    Kinds: ``classifier``, ``dec`` (``models.rebuild``) and ``contrastive``
    (``train.contrastive.ContrastiveModel``).
    """
    if ckpt["kind"] == "contrastive":
        model = ContrastiveModel.rebuild(ckpt["model_kwargs"])
    else:
        model = models.rebuild(ckpt["kind"], ckpt["model_kwargs"])
    model.load_state_dict(ckpt[which])
    return model
