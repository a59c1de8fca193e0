"""What the study grids may hold: the grid files, the pretraining variants, the modality sets.

The grids of notebooks 06/07 and ``make study`` are defined in ``configs/experiments/*.yaml``
(``load_grid``); ``PRETRAIN_VARIANTS``, ``SEMI_ARMS`` and ``MODALITY_SETS`` name what their
entries may be;
``check_seeds``, ``check_variants`` and ``check_modality_sets`` refuse what a grid may not hold.
Nothing here trains, so the CLI's checks (``preflight``) read it without the training code.
"""

from __future__ import annotations

from typing import Any

import yaml

from mosi_lib import paths
from mosi_lib.config import SOURCE_MODALITIES, Config

PRETRAIN_VARIANTS: dict[str, dict[str, Any] | None] = {
    "none": None,  # classifier from scratch
    "ae": {},  # autoencoder only: the stage-1 checkpoint of the paper's DEC run
    "dec_unsup": {"dec.stage2_sup_weight": 0.0},  # DEC without the supervised term (b = 0)
    "dec_semi": {},  # the paper: semi-supervised DEC
    "dec_no_disent": {"dec.stage1_disent_weight": 0.0, "dec.stage2_disent_weight": 0.0},
    # the paper's DEC on the training rows' features only (not transductive)
    "dec_train_rows": {"dec.pretrain_rows": "train"},
    # autoencoder only: the stage-1 checkpoint of dec_train_rows (not transductive)
    "ae_train_rows": {"dec.pretrain_rows": "train"},
    # the paper's DEC, but a degenerate k-means start replaced by the labeled classes' mean
    # latents (a start placed by the labels; the DEC arm until 2026-12-07)
    "dec_label_start": {"dec.degenerate_remedy": "labeled_means"},
}
"""Pretraining ablation: variant -> DEC config changes (None: no pretraining)."""

AE_SOURCES = {"ae": "dec_semi", "ae_train_rows": "dec_train_rows"}
"""Autoencoder variants -> the DEC variant whose stage-1 checkpoint (``stage1.pt``) they start
from: one pretraining run serves both arms."""

PRETRAIN_DESCRIPTIONS: dict[str, str] = {
    "none": "none (from scratch)",
    "ae": "autoencoder only (stage 1 of dec_semi), all segments' features",
    "dec_unsup": "DEC without labels (b = 0), all segments' features (transductive)",
    "dec_semi": "the paper's semi-supervised DEC, all segments' features (transductive)",
    "dec_no_disent": "semi-supervised DEC, g = 0, all segments' features (transductive)",
    "dec_train_rows": "the paper's semi-supervised DEC on the training rows' features only",
    "ae_train_rows": "autoencoder only (stage 1 of dec_train_rows), the training rows' features",
    "dec_label_start": "semi-supervised DEC, a degenerate k-means start replaced by the labeled "
                       "classes' mean latents, all segments' features (transductive)",
}
"""What each pretraining variant saw, for the ablation tables. "Transductive": the pretraining
reads the features (never the labels) of the rows the classifier is evaluated on; the
from-scratch arm does not, so ``dec_train_rows`` measures what that access is worth."""

SEMI_ARMS: dict[str, dict[str, Any]] = {
    # self-training: pseudo-labels of the unlabeled training rows (train.self_training)
    "self_training": {"semi.method": "self_training"},
    # mean teacher: consistency with an EMA teacher on every training row (train.mean_teacher)
    "mean_teacher": {"semi.method": "mean_teacher"},
    # contrastive multimodal pretraining (CMC) on all segments' features (transductive)
    "cmc": {"semi.cmc_pretrain_rows": "all"},
    # the same on the training rows' features only (not transductive)
    "cmc_train_rows": {"semi.cmc_pretrain_rows": "train"},
}
"""The semi-supervised arms beyond DEC (issue 34): arm -> config changes. They are variants of
the pretraining ablation (``variants`` of ``configs/experiments/ablations.yaml``, the CLI's
``study --variants``), tagged ``pretrain:<arm>`` like the DEC variants, on the same seeds,
labeled draws, classifier and recipe. The ``CMC_ARMS`` start the classifier from a contrastive
pretraining run's encoder (its ``init`` is ``cmc``); the others change how the classifier itself
trains (``semi.method``). The modality ablation's ``best`` chooses among the DEC variants only.
The recipe values are ``semi_config.SemiConfig``'s."""

CMC_ARMS = ("cmc", "cmc_train_rows")
"""Arms whose classifier starts from a contrastive pretraining run (``contrastive_runs``)."""

PRETRAIN_DESCRIPTIONS.update({
    "self_training": "self-training: pseudo-labels of the unlabeled training rows' confident "
                     "predictions, then trained again (no pretraining)",
    "mean_teacher": "mean teacher: consistency with an EMA teacher on every training row under "
                    "noise (no pretraining)",
    "cmc": "contrastive multimodal pretraining (CMC, text-audio InfoNCE), all segments' "
           "features (transductive)",
    "cmc_train_rows": "contrastive multimodal pretraining (CMC) on the training rows' features "
                      "only",
})

GRIDS = {"sweep": ("fractions", "protocol"),
         "ablations": ("variants", "modality_sets", "modality_pretrain", "protocols", "protocol")}
"""Grid files under ``configs/experiments/`` and the keys each holds."""


def load_grid(name: str, **given: Any) -> dict[str, Any]:
    """The grid of an experiment: ``configs/experiments/<name>.yaml``, then ``given`` values.

    The one place the grids of ``make study`` are defined: the CLI and notebooks 06/07 both
    read it; a ``given`` value that is not None (a CLI option, a notebook parameter) replaces
    the file's.

    Raises:
        ValueError: unknown grid, a key the file lacks or does not know, a modality
            pretraining that is neither ``best`` nor a variant (refused before any run trains).
    """
    if name not in GRIDS:
        raise ValueError(f"grid {name!r}: expected one of {list(GRIDS)}")
    path = paths.CONFIGS_DIR / "experiments" / f"{name}.yaml"
    grid = yaml.safe_load(path.read_text()) or {}
    keys = set(GRIDS[name])
    if set(grid) != keys:
        raise ValueError(f"{path}: expected the keys {sorted(keys)}, found {sorted(grid)}")
    unknown = set(given) - keys
    if unknown:
        raise ValueError(f"grid {name!r}: unknown keys {sorted(unknown)}; known {sorted(keys)}")
    grid.update({k: v for k, v in given.items() if v is not None})
    choice = grid.get("modality_pretrain", "best")
    if choice != "best" and choice not in PRETRAIN_VARIANTS:
        raise ValueError(f"modality pretraining {choice!r}: expected 'best' or one of "
                         f"{list(PRETRAIN_VARIANTS)}")
    return grid


MODALITY_SETS = ("T", "A", "V", "TA", "TV", "AV", "TAV")
"""Modality ablation subsets: T text, A audio, V visual."""

MODALITY_LETTERS = {"T": "text", "A": "audio", "V": "visual"}
"""The letter of each modality in a modality set."""


def default_modality_sets(cfg: Config) -> list[str]:
    """Every subset in ``MODALITY_SETS`` that ``cfg.data.source`` can provide.

    T, A, TA for the embedded text + audio data; all seven for the other sources.
    """
    have = SOURCE_MODALITIES.get(cfg.data.source, tuple(MODALITY_LETTERS.values()))
    return [s for s in MODALITY_SETS if all(MODALITY_LETTERS[ch] in have for ch in s)]


def check_modality_sets(sets, cfg: Config) -> list[str]:
    """``sets`` if each is distinct letters of 'TAV' that ``cfg.data.source`` provides.

    Raises:
        ValueError: naming the bad sets and what was expected.
    """
    sets = [str(s) for s in sets]
    bad = [s for s in sets
           if not s or any(ch not in MODALITY_LETTERS for ch in s) or len(set(s)) < len(s)]
    if bad:
        raise ValueError(f"modality sets {bad}: expected distinct letters from 'TAV'")
    have = SOURCE_MODALITIES.get(cfg.data.source, tuple(MODALITY_LETTERS.values()))
    missing = [s for s in sets if any(MODALITY_LETTERS[ch] not in have for ch in s)]
    if missing:
        raise ValueError(f"modality sets {missing}: data.source={cfg.data.source} provides "
                         f"{list(have)} only; expected some of {default_modality_sets(cfg)}")
    return sets


def check_seeds(seeds) -> list[int]:
    """``seeds`` as ints, if each is given once.

    Raises:
        ValueError: a seed given twice (its runs would count once, under one run id).
    """
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {seeds}: each seed once")
    return seeds


def check_variants(variants) -> None:
    """Refuse a name that is not one of ``PRETRAIN_VARIANTS`` or ``SEMI_ARMS``."""
    known = [*PRETRAIN_VARIANTS, *SEMI_ARMS]
    unknown = [v for v in variants if v not in known]
    if unknown:
        raise ValueError(f"variants {unknown}: expected some of {known}")


def modality_names(letters: str) -> list[str]:
    """The ``data.modalities`` of a modality set, e.g. ``TA`` -> ``["text", "audio"]``."""
    return [MODALITY_LETTERS[ch] for ch in letters]
