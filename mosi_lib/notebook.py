"""What every notebook does first: config, study folder, data, and a one-line header.

The notebooks under ``notebooks/`` are the source (edit them in JupyterLab; papermill runs
copies with their outputs into ``runs/<study>/notebooks/``). Each one calls ``setup`` right
after its ``parameters`` cell, so the loading rules live here, once. Nothing is chosen
silently: the header names the study and why it is that one (new, named, or the latest of this
very config), and an explicit override beats ``smoke``'s tiny defaults, said on the page.
"""

from __future__ import annotations

from typing import Any

from mosi_lib import config
from mosi_lib.config import Config
from mosi_lib.data import preprocess
from mosi_lib.data.preprocess import Processed
from mosi_lib.overrides import apply_overrides, flatten_overrides
from mosi_lib.study import guard, studies


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
            refused (``refusals.StudyMismatch``, one line).
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
    guard.watch_parent_if_asked()  # a kernel of the CLI ends when the CLI is gone
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
