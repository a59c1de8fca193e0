"""The study's experiments, as notebooks and the CLI call them (one import for all three parts).

The code lives in three modules, one concept each:

* ``mosi_lib.study.recipes``: single runs (``train_classifier``, ``train_classifiers``,
  ``pretrain_dec``, ``resume_classifier``, ``logistic_reference(s)``, checkpoints);
* ``mosi_lib.study.workers``: how several seeds share the machine (``seed_workers``,
  ``worker_threads``, ``in_workers``);
* ``mosi_lib.study.grids``: the grids of ``make study`` (``load_grid``, ``label_sweep``,
  ``pretrain_ablation``, ``modality_ablation``, ``protocol_comparison``, the variants).
"""

from mosi_lib.study.grids import (
    GRIDS,
    MODALITY_SETS,
    PRETRAIN_DESCRIPTIONS,
    PRETRAIN_VARIANTS,
    best_pretrain,
    default_modality_sets,
    label_sweep,
    load_grid,
    modality_ablation,
    pretrain_ablation,
    protocol_comparison,
)
from mosi_lib.study.recipes import (
    load_checkpoint,
    logistic_reference,
    logistic_references,
    model_from_checkpoint,
    pretrain_dec,
    resume_classifier,
    train_classifier,
    train_classifiers,
)
from mosi_lib.study.workers import (
    MAX_AUTO_WORKERS,
    in_workers,
    seed_workers,
    worker_threads,
)

__all__ = [
    "GRIDS", "MAX_AUTO_WORKERS", "MODALITY_SETS", "PRETRAIN_DESCRIPTIONS", "PRETRAIN_VARIANTS",
    "best_pretrain", "default_modality_sets", "in_workers", "label_sweep", "load_checkpoint",
    "load_grid", "logistic_reference", "logistic_references", "modality_ablation",
    "model_from_checkpoint", "pretrain_ablation", "pretrain_dec", "protocol_comparison",
    "resume_classifier", "seed_workers", "train_classifier",
    "train_classifiers", "worker_threads",
]  # fmt: skip
