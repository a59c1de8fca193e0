"""The grids beyond the paper (notebooks 06/07, ``make study``): label sweep and ablations.

Grid definitions live in ``configs/experiments/*.yaml`` (``load_grid``); each function here
runs one grid of single-run recipes (``recipes``) into one study folder.
"""

from __future__ import annotations

from typing import Any

from mosi_lib.config import Config
from mosi_lib.data.preprocess import Processed
from mosi_lib.study import runs
from mosi_lib.study.recipes import (
    _reusable,
    _say,
    _variant_cfg,
    init_name,
    logistic_references,
    train_classifiers,
)
from mosi_lib.study.workers import in_workers, seed_workers

# ----------------------------------------------------------------------------- experiments
# Beyond the paper (issue 5): each function runs a grid of the calls above into one study folder,
# tags the runs, and skips a grid point whose finished run already exists (so an interrupted
# grid continues where it stopped, and a second call adds only new seeds or points) or is the
# same experiment as a run under another tag (which then counts under both: Run.add_tag).

PRETRAIN_VARIANTS: dict[str, dict[str, Any] | None] = {
    "none": None,  # classifier from scratch
    "ae": {},  # autoencoder only: the stage-1 checkpoint of the paper's DEC run
    "dec_unsup": {"dec.stage2_sup_weight": 0.0},  # DEC without the supervised term (b = 0)
    "dec_semi": {},  # the paper: semi-supervised DEC
    "dec_no_disent": {"dec.stage1_disent_weight": 0.0, "dec.stage2_disent_weight": 0.0},
    # the paper's DEC on the training rows' features only (not transductive)
    "dec_train_rows": {"dec.pretrain_rows": "train"},
}
"""Pretraining ablation: variant -> DEC config changes (None: no pretraining)."""

PRETRAIN_DESCRIPTIONS: dict[str, str] = {
    "none": "none (from scratch)",
    "ae": "autoencoder only (stage 1 of dec_semi), all segments' features",
    "dec_unsup": "DEC without labels (b = 0), all segments' features (transductive)",
    "dec_semi": "the paper's semi-supervised DEC, all segments' features (transductive)",
    "dec_no_disent": "semi-supervised DEC, g = 0, all segments' features (transductive)",
    "dec_train_rows": "the paper's semi-supervised DEC on the training rows' features only",
}
"""What each pretraining variant saw, for the ablation tables. "Transductive": the pretraining
reads the features (never the labels) of the rows the classifier is evaluated on; the
from-scratch arm does not, so ``dec_train_rows`` measures what that access is worth."""

GRIDS = {"sweep": ("fractions", "protocol"),
         "ablations": ("variants", "modality_sets", "modality_pretrain", "protocols", "protocol")}
"""Grid files under ``configs/experiments/`` and the keys each holds."""


def load_grid(name: str, **given: Any) -> dict[str, Any]:
    """The grid of an experiment: ``configs/experiments/<name>.yaml``, then ``given`` values.

    The one place the grids of ``make study`` are defined: the CLI and notebooks 06/07 both
    read it; a ``given`` value that is not None (a CLI option, a notebook parameter) replaces
    the file's.

    Raises:
        ValueError: unknown grid, a key the file lacks or does not know.
    """
    import yaml

    from mosi_lib import paths

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
    return grid


MODALITY_SETS = ("T", "A", "V", "TA", "TV", "AV", "TAV")
"""Modality ablation subsets: T text, A audio, V visual."""

_LETTER = {"T": "text", "A": "audio", "V": "visual"}


def _adopt(found: runs.Run | None, tag: str, what: str, seed: int) -> runs.Run | None:
    """Count ``found`` (this very experiment under another tag of the study) under ``tag``."""
    if found is not None:
        _say(f"{what}, seed {seed}: the same experiment as {found.run_id} "
             f"(tag {found.tags()[0]!r}); counted under {tag!r} too, not trained again")
        found.add_tag(tag)
    return found


def _classifiers_for(cfg: Config, data: Processed, *, root, seeds, find: dict[str, Any],
                     what: str, prefix: str, init_runs=None,
                     init_checkpoint="last.pt") -> list[runs.Run]:  # fmt: skip
    """Classifier runs of one grid point, one per seed.

    Each is found under ``root`` (by ``find`` and seed), or is the same experiment under
    another tag of the study (same recipe, seed, data, labels and initialisation, for a
    DEC-initialised one the same DEC run and checkpoint: ``recipes._reusable``), which then
    counts under this tag too (``Run.add_tag``), or is trained; the missing seeds train in one
    ``train_classifiers`` call (in worker processes where ``seed_workers``).
    """
    found = {}
    for s in map(int, seeds):
        hits = runs.find_same(root, cfg, kind="classifier", seed=s, **find)
        found[s] = hits[-1] if hits else _adopt(_reusable(
            _variant_cfg(cfg, {"system.seed": s}), data, root, kind="classifier",
            init_run=None if init_runs is None else init_runs[s],
            init_checkpoint=init_checkpoint, labels="labeled",
            init=init_name(init_runs and init_runs[s], init_checkpoint),
            modalities=data.modalities,
        ), find["tag"], what, s)  # fmt: skip
    todo = [s for s in found if found[s] is None]
    if todo:
        _say(f"{what}, seed{'s' if len(todo) > 1 else ''} {', '.join(map(str, todo))}: "
             "classifier")  # fmt: skip
        inits = None if init_runs is None else [init_runs[s] for s in todo]
        new = train_classifiers(cfg, data, seeds=todo, labels="labeled", init_runs=inits,
                                init_checkpoint=init_checkpoint, root=root, tag=find["tag"],
                                run_ids=[runs.make_run_id(prefix, s) for s in todo])
        found.update(zip(todo, new, strict=True))
    return [found[int(s)] for s in seeds]


def _decs_for(cfg: Config, data: Processed, *, root, seeds, tag: str, what: str,
              prefix: str) -> dict[int, runs.Run]:  # fmt: skip
    """The DEC runs of one grid point, one per seed: found under ``root`` or pretrained.

    A run is found by tag, or is the same experiment under another tag of the study (same
    recipe, seed, data, modalities), which then counts under this tag too (``Run.add_tag``).
    Missing seeds pretrain one after the other, or in worker processes (``seed_workers``).
    A DEC run written before runs recorded ``modalities`` matches on the other keys alone:
    studies made DEC runs on the configured modalities only then, under tags the modality
    ablation does not use.
    """
    found: dict[int, runs.Run | None] = {}
    for s in map(int, seeds):
        hits = [r for r in runs.find_same(root, cfg, kind="dec", seed=s, tag=tag)
                if r.metrics().get("modalities", data.modalities) == data.modalities]  # fmt: skip
        found[s] = hits[-1] if hits else _adopt(_reusable(
            _variant_cfg(cfg, {"system.seed": s}), data, root, kind="dec",
            modalities=data.modalities), tag, what, s)  # fmt: skip
    todo = [s for s, r in found.items() if r is None]
    if not todo:
        return found
    _say(f"{what}, seed{'s' if len(todo) > 1 else ''} {', '.join(map(str, todo))}: "
         "DEC pretraining")  # fmt: skip
    jobs = [(_variant_cfg(cfg, {"system.seed": s}),
             dict(root=root, tag=tag, run_id=runs.make_run_id(f"{prefix}_dec", s)))
            for s in todo]  # fmt: skip
    new = in_workers("dec", jobs, data, seed_workers(cfg, len(todo)))
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
    decs = _decs_for(cfg, data, root=root, seeds=seeds, tag=tag, what=what, prefix=prefix)
    find = {"tag": tag, "labels": "labeled", "labeled_fraction_cfg": frac}
    return [
        *_classifiers_for(cfg, data, root=root, seeds=seeds, find={**find, "init": "scratch"},
                          what=f"{what} (scratch)", prefix=f"{prefix}_scratch"),
        *(_classifiers_for(cfg, data, root=root, seeds=seeds, find={**find, "init": "ae"},
                           what=f"{what} (ae)", prefix=f"{prefix}_fromae", init_runs=decs,
                           init_checkpoint="stage1.pt") if with_ae else []),
        *_classifiers_for(cfg, data, root=root, seeds=seeds, find={**find, "init": "dec"},
                          what=f"{what} (dec)", prefix=f"{prefix}_fromdec", init_runs=decs),
    ]  # fmt: skip


def label_sweep(
    cfg: Config, *, fractions, seeds, root, tag: str = "sweep"
) -> list[runs.Run]:
    """Label-efficiency sweep: from scratch, autoencoder- and DEC-initialised per fraction.

    Each fraction also gets the linear references (``recipes.reference_inits``: deterministic,
    one run per labeled draw: per seed under ``data.draw=seed``, else one) on the same pool.

    For each fraction the data are re-split with ``data.labeled_fraction`` (other data fields
    as in ``cfg``; with the same ``split_seed`` the labeled pools are nested: the same per-class
    permutation, a longer prefix; each seed's own under ``data.draw=seed``). For each seed: DEC
    pretraining on every row with the labels of that pool, then the classifier on the labeled
    pool from scratch, from the DEC run's stage-1 autoencoder and from its final encoder.

    Args:
        cfg: base config (its ``labeled_fraction`` and ``system.seed`` are replaced).
        fractions: labeled fractions in (0, 1].
        seeds: training seeds (``system.seed``).
        root: the study folder.
        tag: stored in every run's ``metrics.json``.

    Returns:
        The classifier runs (found or trained), in grid order.
    """
    from mosi_lib.data.preprocess import prepare_data

    out = []
    for frac in fractions:
        fcfg = _variant_cfg(cfg, {"data.labeled_fraction": float(frac)})
        data = prepare_data(fcfg.data)
        frac = fcfg.data.labeled_fraction
        out += _scratch_and_dec(fcfg, data, root=root, tag=tag, seeds=seeds, with_ae=True,
                                what=f"[sweep] {100 * frac:g}% labels",
                                prefix=f"sweep{100 * frac:g}")  # fmt: skip
        for s in seeds if fcfg.data.draw == "seed" else [fcfg.system.seed]:
            out += logistic_references(_variant_cfg(fcfg, {"system.seed": int(s)}), data,
                                       root=root, tag=tag, labels=("labeled",))
    return out


def pretrain_ablation(
    cfg: Config, data: Processed, *, seeds, root, variants=tuple(PRETRAIN_VARIANTS)
) -> list[runs.Run]:
    """Pretraining ablation on the labeled pool of ``data`` (paper: 40%).

    Variants (``PRETRAIN_VARIANTS``): ``none`` (from scratch), ``ae`` (autoencoder only: the
    classifier starts from the stage-1 checkpoint of the ``dec_semi`` run, which trained stage 1
    with the paper's settings), ``dec_unsup`` (b = 0), ``dec_semi`` (the paper), ``dec_no_disent``
    (g = 0 in both stages), ``dec_train_rows`` (the paper's DEC on the training rows only, not
    transductive). Runs are tagged ``pretrain:<variant>``; ``PRETRAIN_DESCRIPTIONS`` says what
    each saw.

    Returns:
        The classifier runs (found or trained).
    """
    unknown = [v for v in variants if v not in PRETRAIN_VARIANTS]
    if unknown:
        raise ValueError(f"variants {unknown}: expected some of {list(PRETRAIN_VARIANTS)}")
    out = []
    dec_runs: dict[str, dict[int, runs.Run]] = {}
    for variant in variants:
        changes = PRETRAIN_VARIANTS[variant]
        source = "dec_semi" if variant == "ae" else variant
        if changes is not None and source not in dec_runs:
            vcfg = _variant_cfg(cfg, PRETRAIN_VARIANTS[source])
            dec_runs[source] = _decs_for(vcfg, data, root=root, seeds=seeds,
                                         tag=f"pretrain:{source}", what=f"[ablation] {source}",
                                         prefix=f"abl_{source}")  # fmt: skip
        out += _classifiers_for(
            cfg, data, root=root, seeds=seeds, find={"tag": f"pretrain:{variant}"},
            what=f"[ablation] {variant}", prefix=f"abl_{variant}",
            init_runs=None if changes is None else dec_runs[source],
            init_checkpoint="stage1.pt" if variant == "ae" else "last.pt",
        )  # fmt: skip
    return out


def default_modality_sets(cfg: Config) -> list[str]:
    """Every subset in ``MODALITY_SETS`` that ``cfg.data.source`` can provide.

    T, A, TA for the embedded text + audio data; all seven for the other sources.
    """
    from mosi_lib.config import SOURCE_MODALITIES

    have = SOURCE_MODALITIES.get(cfg.data.source, tuple(_LETTER.values()))
    return [s for s in MODALITY_SETS if all(_LETTER[ch] in have for ch in s)]


def check_modality_sets(sets, cfg: Config) -> list[str]:
    """``sets`` if each is distinct letters of 'TAV' that ``cfg.data.source`` provides.

    Raises:
        ValueError: naming the bad sets and what was expected.
    """
    from mosi_lib.config import SOURCE_MODALITIES

    sets = [str(s) for s in sets]
    bad = [s for s in sets if not s or any(ch not in _LETTER for ch in s) or len(set(s)) < len(s)]
    if bad:
        raise ValueError(f"modality sets {bad}: expected distinct letters from 'TAV'")
    have = SOURCE_MODALITIES.get(cfg.data.source, tuple(_LETTER.values()))
    missing = [s for s in sets if any(_LETTER[ch] not in have for ch in s)]
    if missing:
        raise ValueError(f"modality sets {missing}: data.source={cfg.data.source} provides "
                         f"{list(have)} only; expected some of {default_modality_sets(cfg)}")
    return sets


def modality_ablation(
    cfg: Config, *, sets=None, seeds, root, pretrain: str = "none",
    tag: str = "modality",
) -> list[runs.Run]:  # fmt: skip
    """The classifier on each modality subset (T, A, V, TA, ...) with one pretraining variant.

    ``sets=None``: ``default_modality_sets(cfg)``, the subsets the data source provides.

    ``pretrain`` is a ``PRETRAIN_VARIANTS`` name: ``none`` trains from scratch; a DEC variant
    pretrains DEC on that subset's features (every segment, labels of the labeled pool) and
    fine-tunes from it, exactly as in ``pretrain_ablation`` (``ae``: from the stage-1
    checkpoint). The notebook passes the variant the pretraining ablation found best on the
    validation split (``tables.best_by_valid``). The data are re-read for each subset
    (``data.modalities``); splits do not depend on the modalities, so every subset sees the
    same rows. Runs are tagged ``<tag>:<pretrain>`` (classifiers) and ``<tag>:<DEC variant>``
    (DEC runs).

    Returns:
        The classifier runs (found or trained).
    """
    from mosi_lib.data.preprocess import prepare_data

    if pretrain not in PRETRAIN_VARIANTS:
        raise ValueError(f"pretrain={pretrain!r}: expected one of {list(PRETRAIN_VARIANTS)}")
    sets = default_modality_sets(cfg) if sets is None else check_modality_sets(sets, cfg)
    source = "dec_semi" if pretrain == "ae" else pretrain
    out = []
    for letters in sets:
        mcfg = _variant_cfg(cfg, {"data.modalities": [_LETTER[ch] for ch in letters]})
        data = prepare_data(mcfg.data)
        decs = None
        if PRETRAIN_VARIANTS[pretrain] is not None:
            vcfg = _variant_cfg(mcfg, PRETRAIN_VARIANTS[source])
            decs = _decs_for(vcfg, data, root=root, seeds=seeds, tag=f"{tag}:{source}",
                             what=f"[modality] {letters}", prefix=f"mod_{letters}")
        out += _classifiers_for(mcfg, data, root=root, seeds=seeds,
                                find={"tag": f"{tag}:{pretrain}", "modalities": data.modalities},
                                what=f"[modality] {letters} ({pretrain})",
                                prefix=f"mod_{letters}_{pretrain}", init_runs=decs,
                                init_checkpoint="stage1.pt" if pretrain == "ae" else "last.pt")
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
    from mosi_lib.report import collect, tables

    if choice != "best":
        if choice not in PRETRAIN_VARIANTS:
            raise ValueError(f"modality pretraining {choice!r}: expected 'best' or one of "
                             f"{list(PRETRAIN_VARIANTS)}")  # fmt: skip
        return choice, None
    df = collect.collect_runs(root)
    pre = df[df["tag"].str.startswith("pretrain:")]
    if pre.empty:
        raise ValueError(f"modality pretraining 'best': no pretraining-ablation run under {root}; "
                         "run the pretraining ablation first or name a variant")  # fmt: skip
    best, table = tables.best_by_valid(pre, by="tag", metric=f"valid_acc_{cfg.data.zero_policy}",
                                       prefer="pretrain:none")  # fmt: skip
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
    from mosi_lib.data.preprocess import prepare_data

    out = []
    for protocol in protocols:
        pcfg = _variant_cfg(cfg, {"data.protocol": protocol})
        data = prepare_data(pcfg.data)
        out += _scratch_and_dec(pcfg, data, root=root, tag=f"{tag_prefix}:{protocol}",
                                seeds=seeds, what=f"[protocol] {protocol}",
                                prefix=f"prot_{protocol}")  # fmt: skip
    return out
