"""Which config fields identify a result: ``recipe_hash``, ``result_overrides``, ``config_hash``.

Two runs with the same ``recipe_hash`` and seed are the same experiment (grids reuse such a run,
tables pool seeds only within one recipe); ``config_hash`` is the stable short hash under it,
also of the processed-data cache key (``data.preprocess.cache_key``). The values are part of
every recorded run and cache file name: changing what is hashed makes them all new.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import asdict
from typing import Any

from mosi_lib.config import RETIRED_KEYS, Config
from mosi_lib.overrides import flatten_overrides
from mosi_lib.semi_config import PRETRAIN_PREFIX, SemiConfig


def config_hash(obj: Any) -> str:
    """Stable short SHA-256 of a config section (or any JSON-serialisable value)."""
    if dataclasses.is_dataclass(obj):
        obj = asdict(obj)
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


RECIPE_EXCLUDED = ("name", "data.data_dir", "system.device", "system.progress",
                   "system.num_threads", "system.seed_workers", "system.checkpoint_every_s",
                   "system.share_stage1",
                   "system.compile_mode", "system.cuda_graphs", "system.seed", "report",
                   "data.max_drop_fraction")
"""Config fields left out of ``recipe_hash``: where/how fast a run trains (``share_stage1``: a
stage 1 reused gives the result training it gives), its seed (matched on its own) and the
figures. ``data.data_dir`` is left out because the data themselves are matched by ``data_key``
(a hash of the loaded arrays); ``data.max_drop_fraction`` only decides whether the data are
accepted."""


ADDED_AT_DEFAULT: dict[str, Any] = {"data.clip": None, "data.text_layer": "last",
                                    "data.draw": "fixed",
                                    "dec.degenerate_remedy": "none",
                                    "dec.min_cluster_share": 0.1}
"""Fields added after runs were recorded, with the default that gives the earlier behaviour:
left out of ``recipe_hash`` while at that default, so runs recorded before them still match."""

SECTIONS_AT_DEFAULT: dict[str, Any] = {"semi": SemiConfig}
"""Sections added after runs were recorded: each field is left out of ``recipe_hash`` while at
the section's default (the earlier behaviour), and the section when nothing of it is left, so
runs recorded before it still match. ``semi``: the arms beyond DEC (``mosi_lib.semi_config``)."""

RECIPE_KINDS = ("classifier", "dec", "contrastive")
"""What ``recipe_hash`` hashes for: a classifier run, a DEC or a contrastive pretraining run."""


def _at_section_default(key: str, value: Any) -> bool:
    """Whether dotted ``key`` is a ``SECTIONS_AT_DEFAULT`` field holding its default."""
    head, _, tail = key.partition(".")
    section = SECTIONS_AT_DEFAULT.get(head)
    if section is None or tail not in {f.name for f in dataclasses.fields(section)}:
        return False
    return value == getattr(section(), tail)


def _semi_for(d: dict[str, Any], kind: str) -> None:
    """Keep in ``d["semi"]`` the fields ``kind`` reads and holds away from their default.

    DEC runs read none of them; contrastive pretraining runs the ``cmc_*`` fields; classifier
    runs the others (how the classifier trains). No field left: the section is dropped.
    """
    semi = d.get("semi")
    if not isinstance(semi, dict):
        return
    keep = {k: v for k, v in semi.items()
            if kind != "dec" and (k.startswith(PRETRAIN_PREFIX) == (kind == "contrastive"))
            and not _at_section_default(f"semi.{k}", v)}
    if keep:
        d["semi"] = keep
    else:
        d.pop("semi")


def result_overrides(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """``overrides`` as dotted keys, without the fields ``recipe_hash`` leaves out.

    ``ADDED_AT_DEFAULT`` fields are left out when at that default, and so are the fields of
    ``SECTIONS_AT_DEFAULT`` sections. What a study compares when
    it is opened again: ``system.progress=false`` or another thread count does not make it
    another study.
    """
    flat = flatten_overrides(overrides or {})
    return {k: v for k, v in flat.items()
            if not any(k == x or k.startswith(f"{x}.") for x in RECIPE_EXCLUDED + RETIRED_KEYS)
            and not (k in ADDED_AT_DEFAULT and v == ADDED_AT_DEFAULT[k])
            and not _at_section_default(k, v)}


def recipe_hash(cfg: Config | dict[str, Any], kind: str = "classifier") -> str:
    """Hash of every config field that changes a trained result, seed excluded.

    Two runs with the same ``recipe_hash`` and seed are the same experiment: grids reuse such a
    run instead of training it again, and tables pool seeds only within one recipe. The fields
    in ``RECIPE_EXCLUDED`` are left out, those of ``ADDED_AT_DEFAULT`` while at that default,
    and for ``kind="dec"`` (DEC pretraining) the ``train`` section too, which DEC does not read;
    ``kind="contrastive"`` (CMC pretraining) reads neither ``train`` nor ``dec``. Of the
    ``semi`` section each kind hashes the fields it reads, away from their default
    (``_semi_for``).
    """
    if kind not in RECIPE_KINDS:
        raise ValueError(f"recipe_hash kind={kind!r}: expected one of {list(RECIPE_KINDS)}")
    d = copy.deepcopy(cfg.to_dict() if isinstance(cfg, Config) else cfg)
    d = {k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(Config)}}
    if kind in ("dec", "contrastive"):
        d.pop("train", None)
    if kind == "contrastive":
        d.pop("dec", None)
    _semi_for(d, kind)
    if d.get("data", {}).get("draw") == "seed":  # the draw is the seed's, matched on its own
        d["data"].pop("split_seed", None)
    at_default = [k for k, v in ADDED_AT_DEFAULT.items()
                  if d.get(k.partition(".")[0], {}).get(k.partition(".")[2], v) == v]
    for key in RECIPE_EXCLUDED + RETIRED_KEYS + tuple(at_default):
        head, _, tail = key.partition(".")
        if not tail:
            d.pop(head, None)
        elif isinstance(d.get(head), dict):
            d[head].pop(tail, None)
    return config_hash(d)
