"""The Python entries: ``mosi_lib.run`` trains one arm, ``setup`` opens every notebook.

The documented Python entry: ``mosi_lib.run(config, arm=..., seed=...)`` runs one arm.

One call trains one arm of the study for one seed, as notebooks 02-04 do, and returns its run
folder (``study.runs.Run``):

* ``arm="scratch"``: the transformer classifier from scratch (notebook 02, and 04's
  all-labels baseline);
* ``arm="dec"``: DEC pretraining (both stages, notebook 03), then the classifier initialised
  with its encoder and fine-tuned (notebook 04).

``labels`` chooses the labeled pool (``data.labeled_fraction`` of the training rows, 40% by
default) or every training label. A finished run of the same recipe, seed and data in the study
is returned instead of training again (``reuse``), and said. Like MMSA's
``MMSA_run(model, dataset, config)``, but the config is this project's (a profile YAML or a
``Config``) and the result is a run folder with its ``metrics.json``, history and checkpoints.

What every notebook does first: config, study folder, data, and a one-line header.

The notebooks under ``notebooks/`` are the source (edit them in JupyterLab; papermill runs
copies with their outputs into ``runs/<study>/notebooks/``). Each one calls ``setup`` right
after its ``parameters`` cell, so the loading rules live here, once. Nothing is chosen
silently: the header names the study and why it is that one (new, named, or the latest of this
very config), and an explicit override beats ``smoke``'s tiny defaults, said on the page.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from mosi_lib import config, paths, runs
from mosi_lib import config as config_mod
from mosi_lib.config import Config, apply_overrides, flatten_overrides
from mosi_lib.data import preprocess
from mosi_lib.data.preprocess import Processed, prepare_data
from mosi_lib.study import studies
from mosi_lib.study.classifier_runs import train_classifier
from mosi_lib.study.execution import say
from mosi_lib.study.pretrain_runs import pretrain_dec

# =============================================================================
# What every notebook does first: config, study folder, data, and a one-line header.

def setup(
    config_file: str,
    overrides: dict[str, Any] | None = None,
    *,
    run_id: str | None = None,
    seed: int | None = None,
    smoke: bool = False,
    kind: str = "main",
    load_data: bool = True,
    show: bool = True,
    create: bool = True,
) -> tuple[Config, Any, Processed | None]:
    """Load the config, open the study folder and (optionally) the preprocessed data.

    Args:
        config_file: profile YAML under ``configs/`` (``quick.yaml``, ``paper.yaml``).
        overrides: dotted config keys (the notebook's ``overrides`` parameter).
        run_id: the study folder. None: the latest study of ``kind`` run with this very config
            (profile, protocol, smoke, result overrides: ``studies.setup_identity``), else a new
            one; never a study of another config. A named study run with another config is
            refused (``runs.StudyMismatch``, one line).
        seed: ``system.seed`` (None keeps the profile's).
        smoke: shrink epochs (``config.smoke``) for tests and CI; a key set in ``overrides``
            keeps its value (``smoke_config``).
        kind: ``main`` (notebooks 01..05), ``sweep`` (06) or ``ablations`` (07); a new study of
            another kind is named ``<config name>-<kind>``.
        load_data: read ``preprocess.prepare_data(cfg.data)`` (through the cache).
        show: display a Markdown header (study, config, data, protocol, cache hit).
        create: make the study folder when there is none; ``False`` (05, reporting) raises
            ``FileNotFoundError`` instead, so a report never creates or changes a study.

    Returns:
        ``(cfg, study folder, data or None)``.
    """
    studies.watch_parent_if_asked()  # a kernel of the CLI ends when the CLI is gone
    over = dict(overrides or {})
    if seed is not None:
        over["system.seed"] = seed
    cfg = config.load_config(config_file, over)
    kept = smoke_config(cfg, over) if smoke else []
    setup_id = studies.setup_identity(cfg, overrides, smoke=smoke)
    how = _how_chosen(run_id, kind, setup_id)
    study = studies.open_study(run_id, name=cfg.name if kind == "main" else f"{cfg.name}-{kind}",
                               kind=kind, create=create, setup=setup_id)
    data = preprocess.prepare_data(cfg.data, progress=cfg.system.progress) if load_data else None
    if show:
        from IPython.display import Markdown, display

        parts = [f"**Study** `{study.name}` ({how})", f"**config** `{cfg.name}`"]
        if kept:
            parts.append("smoke, but " + ", ".join(f"`{k}`" for k in kept) + " as set")
        if data is not None:
            parts.append(f"**{data.meta['description']}**")
        parts.append(f"protocol `{cfg.data.protocol}`")
        if data is not None:
            parts.append(f"cache hit: {data.meta['cache']['hit']}")
        display(Markdown(" · ".join(parts)))
    return cfg, study, data


def smoke_config(cfg: Config, overrides: dict[str, Any] | None) -> list[str]:
    """``config.smoke(cfg)`` in place, except for the keys ``overrides`` sets: those keep theirs.

    ``smoke`` shrinks epochs to 2; ``{"train.epochs": 5}`` with ``smoke=True`` trains 5 epochs
    (and the other parts of the config stay shrunk).

    Returns:
        The dotted keys whose explicit value was kept against smoke's (for the page's header).
    """
    explicit = flatten_overrides(dict(overrides or {}))
    before = {k: _value(cfg, k) for k in explicit}
    config.smoke(cfg)
    kept = [k for k in explicit if _value(cfg, k) != before[k]]
    config.validate(apply_overrides(cfg, {k: explicit[k] for k in kept}))
    return kept


def _value(cfg: Config, key: str) -> Any:
    """The value of a dotted key of ``cfg``."""
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def _how_chosen(run_id: str | None, kind: str, setup_id: dict[str, Any]) -> str:
    """How ``setup`` finds its study, for the header: named, new, or the latest of its config."""
    if run_id is not None:
        return "named by run_id"
    latest = studies.latest_study(kind=kind, setup=setup_id)
    if latest is None:
        return f"new: no {kind} study of {studies.describe_setup(setup_id)} yet"
    return (f"the latest {kind} study of {studies.describe_setup(setup_id)}; pass run_id to "
            "choose another")


# =============================================================================
# The documented Python entry: ``mosi_lib.run(config, arm=..., seed=...)`` runs one arm.

ARMS = ("scratch", "dec")
"""What ``run`` trains: the classifier from scratch, or DEC pretraining then fine-tuning."""
LABELS = ("labeled", "all")


def run(
    config: str | Path | Config = "quick.yaml",
    *,
    arm: str = "scratch",
    seed: int | None = 0,
    labels: str = "labeled",
    overrides: dict[str, Any] | None = None,
    smoke: bool = False,
    study: str | None = None,
    root: str | Path | None = None,
    data: Processed | None = None,
    reuse: bool = True,
    extra: dict[str, Any] | None = None,
) -> runs.Run:
    """Train one arm for one seed and return its finished run.

    Example::

        import mosi_lib
        r = mosi_lib.run("quick.yaml", arm="dec", seed=1)
        r.metrics()["report"]["acc_has0"]   # Acc-2 (has0) on the report split, a fraction
        r.metrics()["transfer"]["dec_run"]  # the DEC run it was initialised from

    Args:
        config: a profile YAML under ``configs/`` (``quick.yaml``, ``paper.yaml``), a path to
            one, or a ``Config`` (used as given; ``overrides`` still apply).
        arm: ``scratch`` (classifier from scratch) or ``dec`` (DEC pretraining, then the
            classifier fine-tuned from its encoder).
        seed: ``system.seed`` (training, k-means; with ``data.draw=seed`` also the labeled
            draw); None keeps the config's.
        labels: ``labeled`` (the labeled pool's training rows) or ``all`` (every training
            label; DEC still sees only the labeled pool's labels).
        overrides: dotted config keys, e.g. ``{"train.epochs": 50}``.
        smoke: shrink epochs for a quick check (``config.smoke``); a key of ``overrides``
            keeps its value.
        study: the study folder under ``runs/`` (None: as a notebook does, the latest study of
            this very config, else a new one; one of another config is refused:
            ``api.setup``).
        root: a folder to write the runs into instead of a study (no study is opened).
        data: preprocessed data (None: ``prepare_data(cfg.data)``, through the cache).
        reuse: return a finished run of the same recipe, seed and data instead of training.
        extra: more provenance for each run's ``config.yaml``.

    Returns:
        The classifier's ``Run``: ``run.path``, ``run.metrics()`` (``report``: the report
        split's Acc-2 has0/non0, F1, MAE, Corr, Acc-7; ``valid``; ``best_epoch``),
        ``run.history()``; ``run.reused`` when it was found finished.

    Raises:
        ValueError: ``arm`` or ``labels`` is not one of ``ARMS`` / ``LABELS`` (one line), or
            the config is invalid (the field and what was expected).
    """
    if arm not in ARMS:
        raise ValueError(f"arm={arm!r}: expected one of {list(ARMS)}")
    if labels not in LABELS:
        raise ValueError(f"labels={labels!r}: expected one of {list(LABELS)}")
    over = dict(overrides or {})
    if seed is not None:
        over["system.seed"] = seed
    cfg = _resolve(config, over, smoke=smoke)
    if root is None:
        changes = over if not isinstance(config, Config) else {**_changes(cfg), **over}
        root = studies.open_study(study, name=cfg.name,
                                  setup=studies.setup_identity(cfg, changes, smoke=smoke))
        say(f"study {Path(root).name}")
    if data is None:
        data = prepare_data(cfg.data, progress=cfg.system.progress)
    extra = {"entry": "mosi_lib.run", **(extra or {})}
    init_run = None
    if arm == "dec":
        init_run = pretrain_dec(cfg, data, root=root, reuse=reuse, extra=extra,
                                run_id=runs.make_run_id("dec", cfg.system.seed))
    name = f"dec_ft_{labels}" if arm == "dec" else f"baseline_{labels}"
    return train_classifier(cfg, data, labels=labels, init_run=init_run, root=root, extra=extra,
                            reuse=reuse, run_id=runs.make_run_id(name, cfg.system.seed))


def _resolve(config: str | Path | Config, over: dict[str, Any], *, smoke: bool) -> Config:
    """The validated config of ``run``: loaded or copied, overridden, shrunk if ``smoke``."""
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)  # the caller's is kept as it is
        config_mod.validate(apply_overrides(cfg, over))
    elif isinstance(config, (str, Path)):
        cfg = config_mod.load_config(config, over)
    else:
        raise ValueError(f"config={config!r}: expected a profile YAML name or path, or a Config")
    if smoke:
        smoke_config(cfg, over)
    return cfg


def _changes(cfg: Config) -> dict[str, Any]:
    """Dotted keys where ``cfg`` differs from its profile (``configs/<name>.yaml``, else defaults).

    What names a ``Config`` object's study, as ``overrides`` name a profile's.
    """
    profile = paths.CONFIGS_DIR / f"{cfg.name}.yaml"
    base = config_mod.load_config(profile if profile.exists() else None)
    have, ref = flatten_overrides(cfg.to_dict()), flatten_overrides(base.to_dict())
    return {k: v for k, v in have.items() if k != "name" and ref.get(k) != v}
