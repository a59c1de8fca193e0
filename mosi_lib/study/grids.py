"""The grids beyond the paper (notebooks 06/07, ``make study``): label sweep and ablations.

Each function runs one grid of single-run recipes (``classifier_runs``, ``pretrain_runs``)
into one study folder; ``label_sweep`` and ``ablations`` are what notebooks
06 and 07 call, and refuse a bad grid (``check_grid``) before any training. What a grid may
hold is in ``pipeline`` (``PRETRAIN_VARIANTS``, ``SEMI_ARMS``).

Every grid tags its runs and skips a grid point whose finished run already exists (so an
interrupted grid continues where it stopped, and a second call adds only new seeds or points)
or is the same experiment as a run under another tag (which then counts under both:
``Run.add_tag``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mosi_lib import runs
from mosi_lib.config import Config
from mosi_lib.data.preprocess import Processed, prepare_data
from mosi_lib.report import collect, tables  # the one reporting call: best_pretrain
from mosi_lib.study.classifier_runs import init_name, logistic_references, train_classifiers
from mosi_lib.study.execution import (
    RunFn,
    find_reusable,
    in_workers,
    say,
    seed_workers,
    variant_cfg,
)
from mosi_lib.study.pipeline import (
    AE_SOURCES,
    CMC_ARMS,
    PRETRAIN_VARIANTS,
    SEMI_ARMS,
    check_draws,
    check_modality_sets,
    check_seeds,
    check_values,
    check_variants,
    default_modality_sets,
    modality_names,
)
from mosi_lib.study.pretrain_runs import pretrain_contrastive, pretrain_dec

# =============================================================================
# The grids beyond the paper (notebooks 06/07, ``make study``): label sweep and ablations.

# ----------------------------------------------------------------------------- grid points


def _adopt(found: runs.Run | None, tag: str, what: str, seed: int) -> runs.Run | None:
    """Count ``found`` (this very experiment under another tag of the study) under ``tag``."""
    if found is not None:
        say(f"{what}, seed {seed}: the same experiment as {found.run_id} "
            f"(tag {found.tags()[0]!r}); counted under {tag!r} too, not trained again")
        found.add_tag(tag)
    return found


def _classifiers_for(cfg: Config, data: Processed, *, root, seeds, find: dict[str, Any],
                     what: str, prefix: str, init_runs=None,
                     init_checkpoint="last.pt") -> list[runs.Run]:
    """Classifier runs of one grid point, one per seed.

    Each is found under ``root`` (by ``find`` and seed), or is the same experiment under
    another tag of the study (same recipe, seed, data, labels and initialisation, for a
    DEC-initialised one the same DEC run and checkpoint: ``execution.find_reusable``), which
    then counts under this tag too (``Run.add_tag``), or is trained; the missing seeds train in
    one ``train_classifiers`` call (in worker processes where ``seed_workers``).
    """
    found = {}
    for s in map(int, seeds):
        hits = runs.find_same(root, cfg, kind="classifier", seed=s, **find)
        found[s] = hits[-1] if hits else _adopt(find_reusable(
            variant_cfg(cfg, {"system.seed": s}), data, root, kind="classifier",
            init_run=None if init_runs is None else init_runs[s],
            init_checkpoint=init_checkpoint, labels="labeled",
            init=init_name(init_runs and init_runs[s], init_checkpoint),
            modalities=data.modalities,
        ), find["tag"], what, s)
    todo = [s for s in found if found[s] is None]
    if todo:
        say(f"{what}, seed{'s' if len(todo) > 1 else ''} {', '.join(map(str, todo))}: "
            "classifier")
        inits = None if init_runs is None else [init_runs[s] for s in todo]
        new = train_classifiers(cfg, data, seeds=todo, labels="labeled", init_runs=inits,
                                init_checkpoint=init_checkpoint, root=root, tag=find["tag"],
                                run_ids=[runs.make_run_id(prefix, s) for s in todo])
        found.update(zip(todo, new, strict=True))
    return [found[int(s)] for s in seeds]


PRETRAININGS = {"dec": ("dec", "DEC pretraining"),
                "contrastive": ("cmc", "contrastive pretraining")}
"""Pretraining run kind -> (its run ids' infix, what the progress line calls it)."""


def pretrainings_for(kind: str, fn: RunFn, cfg: Config, data: Processed, *, root, seeds,
                     tag: str, what: str, prefix: str) -> dict[int, runs.Run]:
    """The pretraining runs of ``kind`` of one grid point, one per seed: found or pretrained.

    A run is found under ``root`` by kind, tag and seed, or is the same experiment under
    another tag of the study (same recipe, seed, data, modalities: ``find_reusable``), which
    then counts under this tag too (``Run.add_tag``). Missing seeds are pretrained by ``fn``
    (``pretrain_dec``, ``pretrain_contrastive``), one after the other or in worker processes
    (``seed_workers``). A run that records no ``modalities`` matches on the other keys alone
    (such runs were made on the configured modalities, under tags the modality ablation does
    not use).

    Returns:
        seed -> run (``<prefix>_dec_s<seed>`` or ``<prefix>_cmc_s<seed>`` when pretrained here).
    """
    infix, doing = PRETRAININGS[kind]
    found: dict[int, runs.Run | None] = {}
    for s in map(int, seeds):
        hits = [r for r in runs.find_same(root, cfg, kind=kind, seed=s, tag=tag)
                if r.metrics().get("modalities", data.modalities) == data.modalities]
        found[s] = hits[-1] if hits else _adopt(find_reusable(
            variant_cfg(cfg, {"system.seed": s}), data, root, kind=kind,
            modalities=data.modalities), tag, what, s)
    todo = [s for s, r in found.items() if r is None]
    if not todo:
        return found
    say(f"{what}, seed{'s' if len(todo) > 1 else ''} {', '.join(map(str, todo))}: {doing}")
    jobs = [(variant_cfg(cfg, {"system.seed": s}),
             dict(root=root, tag=tag, run_id=runs.make_run_id(f"{prefix}_{infix}", s)))
            for s in todo]
    new = in_workers(fn, jobs, data, seed_workers(cfg, len(todo)))
    found.update(zip(todo, new, strict=True))
    return found


def _scratch_and_dec(
    cfg: Config, data: Processed, *, root, tag: str, seeds, what: str, prefix: str,
    with_ae: bool = False,
) -> list[runs.Run]:
    """One grid point of the main comparison: DEC, then classifiers from scratch and from DEC.

    Per seed a DEC run (``<prefix>_dec_s<seed>``), then the classifiers on the labeled pool
    (``<prefix>_scratch_s<seed>``; with ``with_ae`` ``<prefix>_fromae_s<seed>`` from the DEC
    run's stage-1 autoencoder, ``init="ae"``; ``<prefix>_fromdec_s<seed>`` from its final
    encoder); each run is found under ``root`` by tag, seed and labeled fraction, or trained
    (missing seeds in worker processes where ``seed_workers``).

    Returns:
        The from-scratch runs of every seed, then the autoencoder- (``with_ae``) and the
        DEC-initialised ones.
    """
    frac = cfg.data.labeled_fraction
    decs = pretrainings_for("dec", pretrain_dec, cfg, data, root=root, seeds=seeds, tag=tag,
                            what=what, prefix=prefix)
    find = {"tag": tag, "labels": "labeled", "labeled_fraction_cfg": frac}
    return [
        *_classifiers_for(cfg, data, root=root, seeds=seeds, find={**find, "init": "scratch"},
                          what=f"{what} (scratch)", prefix=f"{prefix}_scratch"),
        *(_classifiers_for(cfg, data, root=root, seeds=seeds, find={**find, "init": "ae"},
                           what=f"{what} (ae)", prefix=f"{prefix}_fromae", init_runs=decs,
                           init_checkpoint="stage1.pt") if with_ae else []),
        *_classifiers_for(cfg, data, root=root, seeds=seeds, find={**find, "init": "dec"},
                          what=f"{what} (dec)", prefix=f"{prefix}_fromdec", init_runs=decs),
    ]


# ----------------------------------------------------------------------------- checks


def check_grid(cfg: Config, data: Processed, *, seeds, fractions=(), protocols=()) -> None:
    """Refuse, before any training, a grid that would fail part-way.

    Seeds given twice (``check_seeds``); a seed, labeled fraction or protocol the config
    refuses (``config.validate``, e.g. a fraction outside (0, 1]); a labeled draw (protocol,
    fraction, seed) with too few labels of a class (``pipeline.check_draws`` on the labels
    and videos of ``data``, from which every draw of the grid is made).

    Args:
        cfg: the grid's base config.
        data: a data set of the grid (any fraction or protocol: the same segments).
        seeds: training seeds.
        fractions, protocols: the labeled fractions and protocols the grid sets (empty: the
            config's).

    Raises:
        ValueError, KeyError, TypeError: one line naming the bad value.
    """
    seeds = check_seeds(seeds)
    fractions = [float(f) for f in fractions]
    check_values(cfg, seeds=seeds, fractions=fractions, protocols=protocols)
    check_draws(cfg, seeds=seeds, fractions=fractions, protocols=list(protocols),
                labels=data.labels, video=data.video)


# ----------------------------------------------------------------------------- notebook 06


def label_sweep(
    cfg: Config, *, fractions, seeds, root, tag: str = "sweep"
) -> list[runs.Run]:
    """Label-efficiency sweep: from scratch, autoencoder- and DEC-initialised per fraction.

    Each fraction also gets the linear references (``classifier_runs.reference_inits``:
    deterministic, one run per labeled draw: per seed under ``data.draw=seed``, else one) on
    the same pool.

    For each fraction the data are re-split with ``data.labeled_fraction`` (other data fields
    as in ``cfg``; with the same ``split_seed`` the labeled pools are nested: the same per-class
    permutation, a longer prefix; each seed's own under ``data.draw=seed``). For each seed: DEC
    pretraining on every row with the labels of that pool, then the classifier on the labeled
    pool from scratch, from the DEC run's stage-1 autoencoder and from its final encoder.
    The whole grid is checked first (``check_grid``): nothing trains if any point would fail.

    Args:
        cfg: base config (its ``labeled_fraction`` and ``system.seed`` are replaced).
        fractions: labeled fractions in (0, 1].
        seeds: training seeds (``system.seed``), each once.
        root: the study folder.
        tag: stored in every run's ``metrics.json``.

    Returns:
        The classifier runs (found or trained), in grid order.

    Raises:
        ValueError, KeyError, TypeError: a bad grid (``check_grid``), before any training.
    """
    check_seeds(seeds)
    fcfgs = [variant_cfg(cfg, {"data.labeled_fraction": float(frac)}) for frac in fractions]
    out = []
    for i, fcfg in enumerate(fcfgs):
        data = prepare_data(fcfg.data)
        if i == 0:  # every draw of the sweep, on the segments of its first data set
            check_grid(cfg, data, seeds=seeds, fractions=fractions)
        frac = fcfg.data.labeled_fraction
        out += _scratch_and_dec(fcfg, data, root=root, tag=tag, seeds=seeds, with_ae=True,
                                what=f"[sweep] {100 * frac:g}% labels",
                                prefix=f"sweep{100 * frac:g}")
        for s in seeds if fcfg.data.draw == "seed" else [fcfg.system.seed]:
            out += logistic_references(variant_cfg(fcfg, {"system.seed": int(s)}), data,
                                       root=root, tag=tag, labels=("labeled",))
    return out


# ----------------------------------------------------------------------------- notebook 07


def pretrain_ablation(
    cfg: Config, data: Processed, *, seeds, root, variants=tuple(PRETRAIN_VARIANTS)
) -> list[runs.Run]:
    """Pretraining ablation on the labeled pool of ``data`` (paper: 40%).

    Variants (``PRETRAIN_VARIANTS``): ``none`` (from scratch), ``ae`` (autoencoder only: the
    classifier starts from the stage-1 checkpoint of the ``dec_semi`` run, which trained stage 1
    with the paper's settings), ``dec_unsup`` (b = 0), ``dec_semi`` (the paper), ``dec_no_disent``
    (g = 0 in both stages), ``dec_train_rows`` (the paper's DEC on the training rows only, not
    transductive), ``ae_train_rows`` (the stage-1 checkpoint of ``dec_train_rows``); and the
    arms beyond DEC (``SEMI_ARMS``: ``self_training``, ``mean_teacher`` change how the classifier
    trains; ``cmc``, ``cmc_train_rows`` start it from a contrastive pretraining run). Runs are
    tagged ``pretrain:<variant>``; ``PRETRAIN_DESCRIPTIONS`` says what each saw.

    Returns:
        The classifier runs (found or trained).
    """
    check_variants(variants)
    check_seeds(seeds)
    out = []
    dec_runs: dict[str, dict[int, runs.Run]] = {}
    for variant in variants:
        if variant in SEMI_ARMS:
            out += _semi_arm(cfg, data, variant, seeds=seeds, root=root)
            continue
        changes = PRETRAIN_VARIANTS[variant]
        source = AE_SOURCES.get(variant, variant)
        if changes is not None and source not in dec_runs:
            vcfg = variant_cfg(cfg, PRETRAIN_VARIANTS[source])
            dec_runs[source] = pretrainings_for("dec", pretrain_dec, vcfg, data, root=root,
                                                seeds=seeds,
                                        tag=f"pretrain:{source}", what=f"[ablation] {source}",
                                        prefix=f"abl_{source}")
        out += _classifiers_for(
            cfg, data, root=root, seeds=seeds, find={"tag": f"pretrain:{variant}"},
            what=f"[ablation] {variant}", prefix=f"abl_{variant}",
            init_runs=None if changes is None else dec_runs[source],
            init_checkpoint="stage1.pt" if variant in AE_SOURCES else "last.pt",
        )
    return out


def _semi_arm(cfg: Config, data: Processed, arm: str, *, seeds, root) -> list[runs.Run]:
    """The classifier runs of one ``SEMI_ARMS`` arm (tag ``pretrain:<arm>``), per seed.

    A ``CMC_ARMS`` arm first finds or pretrains its contrastive runs (``pretrainings_for``, tag
    ``pretrain:<arm>``) and starts each seed's classifier from its run's encoder.
    """
    acfg = variant_cfg(cfg, SEMI_ARMS[arm])
    inits = (pretrainings_for("contrastive", pretrain_contrastive, acfg, data, root=root,
                              seeds=seeds, tag=f"pretrain:{arm}",
                              what=f"[ablation] {arm}", prefix=f"abl_{arm}")
             if arm in CMC_ARMS else None)
    return _classifiers_for(acfg, data, root=root, seeds=seeds, find={"tag": f"pretrain:{arm}"},
                            what=f"[ablation] {arm}", prefix=f"abl_{arm}", init_runs=inits)


def modality_ablation(
    cfg: Config, *, sets=None, seeds, root, pretrain: str = "none", tag: str = "modality",
) -> list[runs.Run]:
    """The classifier on each modality subset (T, A, V, TA, ...) with one pretraining variant.

    ``sets=None``: ``default_modality_sets(cfg)``, the subsets the data source provides.

    ``pretrain`` is a ``PRETRAIN_VARIANTS`` name: ``none`` trains from scratch; a DEC variant
    pretrains DEC on that subset's features (every segment, labels of the labeled pool) and
    fine-tunes from it, exactly as in ``pretrain_ablation`` (``ae``: from the stage-1
    checkpoint). The notebook passes the variant the pretraining ablation found best on the
    validation split (``best_pretrain``). The data are re-read for each subset
    (``data.modalities``); splits do not depend on the modalities, so every subset sees the
    same rows. Runs are tagged ``<tag>:<pretrain>`` (classifiers) and ``<tag>:<DEC variant>``
    (DEC runs).

    Returns:
        The classifier runs (found or trained).
    """
    if pretrain not in PRETRAIN_VARIANTS:
        raise ValueError(f"pretrain={pretrain!r}: expected one of {list(PRETRAIN_VARIANTS)}")
    sets = default_modality_sets(cfg) if sets is None else check_modality_sets(sets, cfg)
    check_seeds(seeds)
    source = AE_SOURCES.get(pretrain, pretrain)
    out = []
    for letters in sets:
        mcfg = variant_cfg(cfg, {"data.modalities": modality_names(letters)})
        data = prepare_data(mcfg.data)
        decs = None
        if PRETRAIN_VARIANTS[pretrain] is not None:
            vcfg = variant_cfg(mcfg, PRETRAIN_VARIANTS[source])
            decs = pretrainings_for("dec", pretrain_dec, vcfg, data, root=root, seeds=seeds,
                                    tag=f"{tag}:{source}",
                            what=f"[modality] {letters}", prefix=f"mod_{letters}")
        out += _classifiers_for(mcfg, data, root=root, seeds=seeds,
                                find={"tag": f"{tag}:{pretrain}", "modalities": data.modalities},
                                what=f"[modality] {letters} ({pretrain})",
                                prefix=f"mod_{letters}_{pretrain}", init_runs=decs,
                                init_checkpoint="stage1.pt" if pretrain in AE_SOURCES else
                                "last.pt")
    return out


def best_pretrain(choice: str, cfg: Config, root):
    """Resolve the modality ablation's pretraining variant.

    ``choice`` is a ``PRETRAIN_VARIANTS`` name (returned as is) or ``best``: the variant of the
    pretraining ablation under ``root`` with the highest mean validation accuracy
    (``valid_acc_<zero_policy>``, seeds common to all variants; a tie goes to ``none``), via
    ``tables.best_by_valid``. The test fold is never read.

    Returns:
        ``(variant, table)``: the table ranks the variants (None when ``choice`` is explicit).
    """
    if choice != "best":
        if choice not in PRETRAIN_VARIANTS:
            raise ValueError(f"modality pretraining {choice!r}: expected 'best' or one of "
                             f"{list(PRETRAIN_VARIANTS)}")
        return choice, None
    df = collect.collect_runs(root)
    # the DEC variants only: the modality ablation pretrains DEC (SEMI_ARMS are not offered)
    pre = df[df["tag"].str.startswith("pretrain:")
             & df["tag"].str.removeprefix("pretrain:").isin(list(PRETRAIN_VARIANTS))]
    if pre.empty:
        raise ValueError(f"modality pretraining 'best': no pretraining-ablation run under {root}; "
                         "run the pretraining ablation first or name a variant")
    best, table = tables.best_by_valid(pre, by="tag", metric=f"valid_acc_{cfg.data.zero_policy}",
                                       prefer="pretrain:none")
    return best.removeprefix("pretrain:"), table


def protocol_comparison(
    cfg: Config, *, protocols=("paper", "standard"), seeds, root, tag_prefix: str = "protocol"
) -> list[runs.Run]:
    """The main comparison (from scratch vs DEC-initialised, labeled pool) under each protocol.

    ``paper``: random 80/20 inside the pools, checkpoint chosen and reported on the same
    validation rows (selection-biased). ``standard``: speaker-independent folds, chosen on valid,
    reported on test. Runs are tagged ``protocol:<name>``; both binary conventions are in every
    run's metrics.

    Returns:
        The classifier runs (found or trained).
    """
    check_seeds(seeds)
    out = []
    for protocol in protocols:
        pcfg = variant_cfg(cfg, {"data.protocol": protocol})
        data = prepare_data(pcfg.data)
        out += _scratch_and_dec(pcfg, data, root=root, tag=f"{tag_prefix}:{protocol}",
                                seeds=seeds, what=f"[protocol] {protocol}",
                                prefix=f"prot_{protocol}")
    return out


@dataclass
class Ablations:
    """What ``ablations`` ran: the runs of each part and how the modality variant was chosen."""

    pretrain: list[runs.Run]
    modality_pretrain: str | None = None
    choice: pd.DataFrame | None = None  # the ranking behind modality_pretrain="best"
    modality: list[runs.Run] = field(default_factory=list)
    protocols: list[runs.Run] = field(default_factory=list)


def ablations(
    cfg: Config,
    data: Processed,
    *,
    seeds,
    root,
    variants=tuple(PRETRAIN_VARIANTS),
    modality_sets=None,
    modality_pretrain: str = "best",
    protocols=("paper", "standard"),
) -> Ablations:
    """Notebook 07's grid: pretraining ablation, modality ablation, protocol comparison.

    The whole grid is checked first (variants, modality sets, the modality ablation's
    pretraining, ``check_grid``: seeds, protocols, every labeled draw): nothing trains if any
    part would fail. Then ``pretrain_ablation`` on ``data``; the modality ablation on each of
    ``modality_sets`` (None: ``default_modality_sets``; empty: skipped) with the variant
    ``best_pretrain`` resolves from ``modality_pretrain`` (``best``: the highest mean
    validation accuracy of the pretraining ablation); ``protocol_comparison`` under each of
    ``protocols`` (empty: skipped).

    Args:
        cfg: the study's config (its protocol and labeled fraction).
        data: ``prepare_data(cfg.data)``.
        seeds: training seeds, each once.
        root: the study folder.
        variants, modality_sets, modality_pretrain, protocols: the grid
            (``pipeline.load_grid("ablations")``).

    Returns:
        The runs of each part (found or trained) and the modality ablation's variant.

    Raises:
        ValueError, KeyError, TypeError: a bad grid, before any training.
    """
    check_variants(variants)
    sets = default_modality_sets(cfg) if modality_sets is None else check_modality_sets(
        modality_sets, cfg)
    if sets and modality_pretrain != "best":
        best_pretrain(modality_pretrain, cfg, root)  # an unknown variant: refused now
    every = list(dict.fromkeys([cfg.data.protocol, *protocols]))  # the protocols it draws
    check_grid(cfg, data, seeds=seeds, protocols=every)
    out = Ablations(pretrain=pretrain_ablation(cfg, data, seeds=seeds, root=root,
                                               variants=variants))
    if sets:
        out.modality_pretrain, out.choice = best_pretrain(modality_pretrain, cfg, root)
        say(f"modality ablation: pretraining {out.modality_pretrain!r}"
            + (" (best mean validation accuracy of the pretraining ablation)"
               if out.choice is not None else " (named by modality_pretrain)"))
        out.modality = modality_ablation(cfg, sets=sets, seeds=seeds, root=root,
                                         pretrain=out.modality_pretrain)
    out.protocols = protocol_comparison(cfg, protocols=protocols, seeds=seeds, root=root)
    return out
