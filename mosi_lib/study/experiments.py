"""The study's experiments as notebooks and the CLI call them: one import for every part.

The code lives in modules of one concern each:

* ``classifier_runs``: classifier runs (``train_classifier``, ``train_classifiers``,
  ``finetune_runs``, ``resume_classifier``); ``dec_runs``: ``pretrain_dec``;
  ``reference_runs``: ``logistic_reference(s)``; ``checkpoints``: ``load_checkpoint``,
  ``model_from_checkpoint``;
* ``parallel``: how several runs share the machine (``seed_workers``, ``worker_threads``,
  ``in_workers``);
* ``grid_specs``: what the grids of ``make study`` may hold (``load_grid``, the variants and
  modality sets); ``grids``: the grids themselves (``label_sweep``, ``ablations``,
  ``pretrain_ablation``, ``modality_ablation``, ``protocol_comparison``).
"""

from mosi_lib.study.checkpoints import load_checkpoint, model_from_checkpoint
from mosi_lib.study.classifier_runs import (
    finetune_runs,
    resume_classifier,
    train_classifier,
    train_classifiers,
)
from mosi_lib.study.dec_runs import pretrain_dec
from mosi_lib.study.grid_specs import (
    GRIDS,
    MODALITY_SETS,
    PRETRAIN_DESCRIPTIONS,
    PRETRAIN_VARIANTS,
    default_modality_sets,
    load_grid,
)
from mosi_lib.study.grids import (
    ablations,
    best_pretrain,
    label_sweep,
    modality_ablation,
    pretrain_ablation,
    protocol_comparison,
)
from mosi_lib.study.parallel import MAX_AUTO_WORKERS, in_workers, seed_workers, worker_threads
from mosi_lib.study.reference_runs import logistic_reference, logistic_references

__all__ = [
    "GRIDS", "MAX_AUTO_WORKERS", "MODALITY_SETS", "PRETRAIN_DESCRIPTIONS", "PRETRAIN_VARIANTS",
    "ablations", "best_pretrain", "default_modality_sets", "finetune_runs", "in_workers",
    "label_sweep", "load_checkpoint", "load_grid", "logistic_reference", "logistic_references",
    "modality_ablation", "model_from_checkpoint", "pretrain_ablation", "pretrain_dec",
    "protocol_comparison", "resume_classifier", "seed_workers", "train_classifier",
    "train_classifiers", "worker_threads",
]
