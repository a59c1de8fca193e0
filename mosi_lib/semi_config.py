"""The ``semi`` config section: the semi-supervised arms beyond DEC (issue 34), and its checks.

Three standard ways to use the unlabeled training rows, each an arm of the same study as DEC:

* ``method=self_training`` (pseudo-labels; Lee 2013, "Pseudo-Label"; Xie et al. 2020, "Noisy
  Student"): ``train.self_training``;
* ``method=mean_teacher`` (Tarvainen & Valpola 2017, "Mean teachers are better role models"):
  ``train.mean_teacher``;
* contrastive multimodal pretraining (Tian, Krishnan & Isola 2019/2020, "Contrastive Multiview
  Coding", CMC): a pretraining run of its own (``cmc_*`` fields, ``train.contrastive``) whose
  encoder initialises the classifier as a DEC run's does; the classifier's ``method`` stays
  ``none``.

The section lives in its own module only to keep ``config.py`` under the library's module size;
``config.Config.semi`` holds it and ``config.validate`` checks it with ``SEMI_CHOICES`` and
``SEMI_RANGES``. Every default gives the earlier behaviour (``method=none``: no arm), and
``hashing.recipe_hash`` leaves a field out while it is at its default, so recipes recorded before
this section existed keep their hash. Each run kind hashes only the fields it reads:
classifier runs the ``method``, ``pseudo_*`` and ``mt_*`` fields, contrastive pretraining runs
the ``cmc_*`` fields, DEC runs none (``PRETRAIN_PREFIX``).

The values are literature defaults, not yet chosen on this data: each comment says where it comes
from; those marked "to be chosen on validation" are the open choices of issue 34.
"""

from __future__ import annotations

from dataclasses import dataclass

SEMI_METHODS = ("none", "self_training", "mean_teacher")
"""How the classifier itself trains (``semi.method``): CMC is a pretraining, not a method here."""

PRETRAIN_PREFIX = "cmc_"
"""Fields read by the contrastive pretraining run only (not by the classifier it initialises)."""


@dataclass
class SemiConfig:
    """Self-training, mean teacher and contrastive (CMC) pretraining: the arms beyond DEC."""

    # none: the classifier trains on its labeled rows only (every earlier run); self_training |
    # mean_teacher: it also uses the unlabeled training rows (never a validation or test row)
    method: str = "none"
    # --- self-training (train.self_training). Round 0 trains on the labeled rows; each further
    # round labels the unlabeled training rows the previous round's selected model is confident
    # about (chosen afresh each round) and trains again, from the run's initial weights, on the
    # labeled plus pseudo-labeled rows. 1 round: the classic one-step pseudo-labeling (Lee
    # 2013); Noisy Student iterates 2-3 times; to be chosen on validation (a run with R rounds
    # records every round's validation accuracy, so one run per seed reads all budgets <= R)
    pseudo_rounds: int = 1
    # train.objective=bce: confident = max(p, 1 - p) >= this (p = sigmoid(logit)); 0.9 between
    # Lee's argmax (0.5) and FixMatch's 0.95; to be chosen on validation
    pseudo_min_prob: float = 0.9
    # train.objective=l1: confident = |predicted score| >= this, and the pseudo-target is the
    # predicted score; 1.0 = "weakly positive/negative" on CMU-MOSI's -3..3 scale, so rows the
    # model places near the neutral boundary (the noisiest signs) are left out; to be chosen on
    # validation
    pseudo_min_score: float = 1.0
    # --- mean teacher (train.mean_teacher). The student trains on labeled loss + w(t) * MSE
    # between its output and the EMA teacher's on a labeled batch plus an equal batch drawn
    # from all training rows, each model seeing its own noise
    # the consistency weight w after the ramp-up. Tarvainen & Valpola used 100 for MSE on 10
    # class probabilities; ours compares one output (a probability under bce, a score under
    # l1, whose squared differences are larger), so 1.0 starts the consistency on the scale of
    # the supervised loss; to be chosen on validation (1, 10, 100)
    mt_consistency_weight: float = 1.0
    # w(t) = w * exp(-5 (1 - t / rampup)^2) over the first rampup epochs (Laine & Aila 2017,
    # used by Tarvainen & Valpola: 80 of 300 epochs); 30 is the same share of the quick
    # profile's 100 epochs; 0 = no ramp-up
    mt_rampup_epochs: int = 30
    # teacher = decay * teacher + (1 - decay) * student after every step, with decay
    # min(1 - 1/(step + 1), this) (the reference implementation's start). Tarvainen & Valpola:
    # 0.99 during the ramp-up, 0.999 after; a quick run has about 450 steps (514 labeled rows,
    # batch 128, 100 epochs), so 0.999 (a 1000-step average) would outlast the run: 0.99
    mt_ema_decay: float = 0.99
    # noise, drawn independently for student and teacher (both also in train mode: dropout).
    # The inputs are pre-extracted features (word vectors, openSMILE), so image augmentations
    # do not apply; what does: Gaussian noise on the scaled (unit-variance) features (Laine &
    # Aila's input noise 0.15 on whitened images; 0.1 here), and word dropout: each valid step
    # of a sequence dropped with this probability, at least one kept (words of a transcript; a
    # modality with one step, openSMILE audio, is never emptied by it)
    mt_noise_std: float = 0.1
    mt_step_dropout: float = 0.1
    # a whole modality of a row masked with this probability (never every modality of a row).
    # 0: with text and audio only, dropping the text (which carries most of the signal) asks
    # the student to match the teacher from audio alone; to be chosen on validation
    mt_modality_dropout: float = 0.0
    # which weights the epoch's validation selects and the run reports: teacher (the EMA
    # weights, the usual choice of Tarvainen & Valpola) or student
    mt_select: str = "teacher"
    # --- contrastive multimodal pretraining (CMC; train.contrastive). Symmetric InfoNCE between
    # two modalities' pooled encoder outputs of the same segment, the batch's other segments
    # as negatives, every pair of modalities (CMC's "full graph"); label-free
    # epochs of the pretraining: the quick profile's DEC stage 1 budget (the same encoder and
    # rows); to be chosen on validation (the held-out contrastive loss, as DEC stage 1's was)
    cmc_epochs: int = 100
    cmc_lr: float = 5e-4  # Adam, as DEC stage 1 (the same encoder); CMC's SGD 0.03 is for ResNets
    # batch: its size - 1 negatives per positive; 128 as DEC's batch
    cmc_batch_size: int = 128
    cmc_temperature: float = 0.07  # tau of CMC (and MoCo); to be chosen on validation
    cmc_proj_dim: int = 128  # per-modality linear head before the similarity (CMC: 128-d)
    # all: every segment's features (transductive, as DEC's dec.pretrain_rows=all); train: the
    # training rows' features only
    cmc_pretrain_rows: str = "all"


SEMI_CHOICES = {
    "semi.method": SEMI_METHODS,
    "semi.mt_select": ("teacher", "student"),
    "semi.cmc_pretrain_rows": ("all", "train"),
}
"""Allowed values of the section's text fields (merged into ``config._CHOICES``)."""

SEMI_RANGES = {
    "semi.pseudo_rounds": ">= 1",
    "semi.pseudo_min_prob": "[0.5, 1]",
    "semi.pseudo_min_score": ">= 0",
    "semi.mt_consistency_weight": ">= 0",
    "semi.mt_rampup_epochs": ">= 0",
    "semi.mt_ema_decay": "[0, 1)",
    "semi.mt_noise_std": ">= 0",
    "semi.mt_step_dropout": "[0, 1)",
    "semi.mt_modality_dropout": "[0, 1)",
    "semi.cmc_epochs": ">= 1",
    "semi.cmc_lr": "> 0",
    "semi.cmc_batch_size": ">= 2",
    "semi.cmc_temperature": "> 0",
    "semi.cmc_proj_dim": ">= 1",
}
"""Allowed numeric ranges of the section (merged into ``config._RANGES``)."""
