"""What every notebook does first: config, study folder, data, and a one-line header.

The notebooks under ``notebooks/`` are the source (edit them in JupyterLab; papermill runs
copies with their outputs into ``runs/<study>/notebooks/``). Each one calls ``setup`` right
after its ``parameters`` cell, so the loading rules live here, once.
"""

from __future__ import annotations

from typing import Any

from mosi_lib import config
from mosi_lib.config import Config
from mosi_lib.data import preprocess
from mosi_lib.data.preprocess import Processed
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
        run_id: the study folder (None: the latest study of ``kind``, or a new one).
        seed: ``system.seed`` (None keeps the profile's).
        smoke: shrink epochs (``config.smoke``) for tests and CI.
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
    if smoke:
        config.smoke(cfg)
    study = studies.open_study(run_id, name=cfg.name if kind == "main" else f"{cfg.name}-{kind}",
                               kind=kind, create=create)
    data = preprocess.prepare_data(cfg.data, progress=cfg.system.progress) if load_data else None
    if show:
        from IPython.display import Markdown, display

        parts = [f"**Study** `{study.name}`", f"**config** `{cfg.name}`"]
        if data is not None:
            parts.append(f"**{data.meta['description']}**")
        parts.append(f"protocol `{cfg.data.protocol}`")
        if data is not None:
            parts.append(f"cache hit: {data.meta['cache']['hit']}")
        display(Markdown(" · ".join(parts)))
    return cfg, study, data
