"""The study's experiments as single calls: each trains one model and writes one run folder.

Notebooks 02-04 call these; they bind ``engine`` loops to ``runs`` bookkeeping with hooks:

* ``train_classifier``: the transformer classifier from scratch or DEC-initialised, on the
  labeled pool (``labels="labeled"``, e.g. 40%) or on every training label (``labels="all"``).
* ``pretrain_dec``: both DEC stages on every segment's features (labels of the labeled training
  pool only); writes latents for the t-SNE figure and cluster metrics.
* ``resume_classifier``: continue an interrupted classifier run from ``checkpoints/last.pt``.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import numpy as np
import torch

from mosi_lib import engine, metrics, models, runs
from mosi_lib.config import Config, config_from_dict
from mosi_lib.preprocess import Processed

# ----------------------------------------------------------------------------- helpers


def _setup(cfg: Config, data: Processed) -> tuple[torch.device, engine.DeviceData]:
    engine.seed_everything(cfg.system.seed, cfg.system.deterministic)
    if cfg.system.num_threads:
        torch.set_num_threads(cfg.system.num_threads)
    device = engine.select_device(cfg.system.device)
    return device, engine.DeviceData(data, device)


def _data_info(data: Processed) -> dict[str, Any]:
    return {
        "data_source": data.meta.get("source"),
        "synthetic": data.synthetic,
        "protocol": data.meta.get("protocol"),
        "data_key": data.meta.get("key") or data.meta.get("cache", {}).get("key"),
        "n_segments": len(data),
    }


def _maybe_compile(model: torch.nn.Module, cfg: Config) -> torch.nn.Module:
    # nn.Module.compile works in place: state_dict keys stay free of the "_orig_mod." prefix
    if cfg.system.compile:
        model.compile()
    return model


def _checkpoint(kind: str, model, cfg: Config, state: dict[str, Any]) -> dict[str, Any]:
    """A self-describing checkpoint: enough to rebuild the model and to resume."""
    return {"kind": kind, "model_kwargs": model.init_kwargs, "config": cfg.to_dict(), **state}


def load_checkpoint(path) -> dict[str, Any]:
    """Read a checkpoint written by a run (``weights_only=False``: it holds our own dicts)."""
    return torch.load(path, map_location="cpu", weights_only=False)


def model_from_checkpoint(ckpt: dict[str, Any], which: str = "model_state") -> torch.nn.Module:
    """Rebuild the model a checkpoint describes and load its weights (``best_state`` or last)."""
    model = models.rebuild(ckpt["kind"], ckpt["model_kwargs"])
    model.load_state_dict(ckpt[which])
    return model


def _classifier_hooks(run: runs.Run, cfg: Config, model) -> list[engine.Hook]:
    def on_event(ev: engine.Event) -> None:
        if ev.name == "epoch_end":
            run.append_history(ev.row)
            ckpt = _checkpoint("classifier", model, cfg, ev.state)
            torch.save(ckpt, run.checkpoints / "last.pt")
        elif ev.name == "improved":
            state = {"epoch": ev.epoch, "model_state": ev.state["best_state"],
                     "best": ev.state["best"]}  # fmt: skip
            torch.save(_checkpoint("classifier", model, cfg, state), run.checkpoints / "best.pt")

    return [on_event]


# ----------------------------------------------------------------------------- classifier


def train_classifier(
    cfg: Config,
    data: Processed,
    *,
    labels: str = "labeled",
    init_run: str | runs.Run | None = None,
    init_checkpoint: str = "last.pt",
    run_id: str | None = None,
    root=None,
    tag: str | None = None,
    extra: dict[str, Any] | None = None,
) -> runs.Run:
    """Train the transformer classifier and write a run folder.

    Args:
        cfg: resolved config (``train``, ``model``, ``system`` sections are used).
        data: preprocessed data.
        labels: ``labeled`` (the labeled pool's training rows) or ``all`` (every training row).
        init_run: a DEC run whose encoder initialises the classifier (``None``: from scratch).
        init_checkpoint: which checkpoint of ``init_run``: ``last.pt`` (after stage 2, the
            paper) or ``stage1.pt`` (autoencoder only, the pretraining ablation).
        run_id, root: run folder name and parent (defaults: auto id under ``runs/``).
        tag: experiment label stored in ``metrics.json`` (e.g. ``sweep``, ``pretrain:ae``) so
            tables can group runs of one experiment; None for the main study.
        extra: more provenance for ``config.yaml`` (e.g. papermill parameters).

    Returns:
        The finished ``Run`` (``metrics.json`` written).
    """
    device, dd = _setup(cfg, data)
    model = models.build_classifier(cfg.model, data.dims, data.max_len)
    transfer = None
    if init_run is not None:
        dec_run = runs.load_run(init_run)
        if init_checkpoint not in ("last.pt", "stage1.pt"):
            raise ValueError(f"init_checkpoint={init_checkpoint!r}: expected 'last.pt' or "
                             "'stage1.pt'")  # fmt: skip
        dec = model_from_checkpoint(load_checkpoint(dec_run.checkpoints / init_checkpoint))
        transfer = models.transfer_encoder(dec, model)
        transfer["dec_run"] = dec_run.run_id
        transfer["checkpoint"] = init_checkpoint
    model.to(device)
    init = "dec" if init_run is not None else "scratch"
    run = runs.create_run(cfg, kind="classifier", run_id=run_id, root=root,
                          extra={**_data_info(data), "init": init, "labels": labels, "tag": tag,
                                 **(extra or {})})  # fmt: skip
    if transfer is not None:
        run.save_json("transfer.json", transfer)
    train_idx = data.train_rows(labels, cfg.data.zero_policy)
    return _fit_and_report(cfg, data, dd, model, run, train_idx, init=init, labels=labels,
                           transfer=transfer, tag=tag)  # fmt: skip


def resume_classifier(run: str | runs.Run, data: Processed) -> runs.Run:
    """Continue an interrupted classifier run from its ``checkpoints/last.pt``.

    The history rows after the checkpoint's epoch are discarded and the RNG states restored,
    so the finished run equals an uninterrupted one.
    """
    run = runs.load_run(run)
    ckpt = load_checkpoint(run.checkpoints / "last.pt")
    cfg = config_from_dict(ckpt["config"])
    device, dd = _setup(cfg, data)
    model = models.rebuild("classifier", ckpt["model_kwargs"]).to(device)
    hist = run.history()
    hist[hist["epoch"] <= ckpt["epoch"]].to_csv(run.path / "history.csv", index=False)
    meta = run.config()["provenance"]
    train_idx = data.train_rows(meta["labels"], cfg.data.zero_policy)
    tfile = run.path / "transfer.json"
    transfer = json.loads(tfile.read_text()) if tfile.exists() else None
    return _fit_and_report(cfg, data, dd, model, run, train_idx, init=meta["init"],
                           labels=meta["labels"], transfer=transfer, tag=meta.get("tag"),
                           resume=ckpt)  # fmt: skip


def _fit_and_report(cfg, data, dd, model, run, train_idx, *, init, labels, transfer, tag=None,
                    resume=None) -> runs.Run:  # fmt: skip
    val_idx = data.rows("valid")
    t0 = time.perf_counter()
    amp = cfg.system.amp
    res = engine.fit_classifier(
        _maybe_compile(model, cfg), dd, train_idx=train_idx, val_idx=val_idx,
        epochs=cfg.train.epochs, batch_size=cfg.train.batch_size, lr=cfg.train.lr,
        weight_decay=cfg.train.weight_decay, zero_policy=cfg.data.zero_policy,
        seed=cfg.system.seed, amp=amp, progress=cfg.system.progress,
        hooks=_classifier_hooks(run, cfg, model), resume=resume,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    # the best weights are in `model`; evaluate them on every evaluation split
    train_scores = data.labels[train_idx]
    evals = {}
    for split in ("valid", "test"):
        idx = data.rows(split)
        if len(idx) == 0:
            evals[split] = None
            continue
        ev = engine.evaluate_classifier(model, dd, torch.as_tensor(idx, device=dd.device),
                                        cfg.data.zero_policy, amp=amp)  # fmt: skip
        ev.update(metrics.majority_metrics(train_scores, data.labels[idx]))
        evals[split] = ev
    n_train_total = int((data.split == "train").sum())
    out = {
        "kind": "classifier", "run_id": run.run_id, "name": cfg.name, "tag": tag, "init": init,
        "labels": labels, "label_fraction": len(train_idx) / max(n_train_total, 1),
        "labeled_fraction_cfg": cfg.data.labeled_fraction if labels == "labeled" else 1.0,
        "n_train": len(train_idx), "n_params": models.count_parameters(model),
        "seed": cfg.system.seed, "zero_policy": cfg.data.zero_policy,
        "modalities": data.modalities, **_data_info(data), "best_epoch": res["best"]["epoch"],
        "epochs": cfg.train.epochs, "train_seconds": seconds, "device": str(dd.device),
        "select_split": "valid", "report_split": data.report_split,
        "valid": evals["valid"], "test": evals["test"], "report": evals[data.report_split],
        "transfer": transfer,
    }  # fmt: skip
    run.save_metrics(out)
    return run


# ----------------------------------------------------------------------------- DEC


def pretrain_dec(
    cfg: Config,
    data: Processed,
    *,
    run_id: str | None = None,
    root=None,
    tag: str | None = None,
    extra: dict[str, Any] | None = None,
) -> runs.Run:
    """Run both DEC stages and write a run folder with latents and cluster metrics.

    Rows: every segment (``dec.pretrain_rows="all"``, the paper) or training rows only. Labels:
    only the labeled pool's training rows enter the supervised term.

    Returns:
        The finished ``Run``: ``checkpoints/stage1.pt`` and ``last.pt``, ``latents.npz`` (z, q,
        cluster, label, split, pool, ids of the used rows), ``metrics.json``.
    """
    device, dd = _setup(cfg, data)
    model = models.build_dec(cfg.model, cfg.dec, data.dims, data.max_len).to(device)
    run = runs.create_run(cfg, kind="dec", run_id=run_id, root=root,
                          extra={**_data_info(data), "tag": tag, **(extra or {})})  # fmt: skip
    rows = np.arange(len(data)) if cfg.dec.pretrain_rows == "all" else data.rows("train")
    updates: list[dict[str, Any]] = []

    def on_event(ev: engine.Event) -> None:
        if ev.name == "epoch_end":
            run.append_history(ev.row)
        elif ev.name == "target_update":
            updates.append({"epoch": ev.epoch, **ev.row})
        elif ev.name == "stage_end":
            name = "stage1.pt" if ev.row["stage"] == 1 else "last.pt"
            state = {"epoch": ev.epoch, "stage": ev.row["stage"],
                     "model_state": model.state_dict()}  # fmt: skip
            torch.save(_checkpoint("dec", model, cfg, state), run.checkpoints / name)

    t0 = time.perf_counter()
    res = engine.fit_dec(
        _maybe_compile(model, cfg), dd, rows=rows, labeled_rows=data.train_rows("labeled", "has0"),
        cfg_dec=cfg.dec, zero_policy=cfg.data.zero_policy, seed=cfg.system.seed,
        amp=cfg.system.amp, progress=cfg.system.progress, hooks=[on_event],
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    truth = (data.labels[rows] >= 0).astype(int)  # for reporting only; never trained on
    split = data.split[rows]
    cluster = {"all": metrics.cluster_metrics(truth, res["assign"])}
    rep = split == data.report_split
    cluster[data.report_split] = metrics.cluster_metrics(truth[rep], res["assign"][rep])
    run.save_latents(z=res["z"], q=res["q"], cluster=res["assign"], label=data.labels[rows],
                     split=split, pool=data.pool[rows], ids=data.ids[rows])  # fmt: skip
    last = {k: v for k, v in res["history"][-1].items()} if res["history"] else {}
    out = {
        "kind": "dec", "run_id": run.run_id, "name": cfg.name, "tag": tag,
        "seed": cfg.system.seed, "labeled_fraction_cfg": cfg.data.labeled_fraction,
        **_data_info(data), "n_rows": len(rows),
        "n_labeled_rows": int(len(data.train_rows("labeled", cfg.data.zero_policy))),
        "n_params_total": models.count_parameters(model),
        "n_params_encoder": models.count_parameters(model.encoder),
        "cluster": cluster, "cluster_sizes": np.bincount(res["assign"],
                                                         minlength=cfg.dec.n_clusters).tolist(),
        "target_updates": updates, "stopped_early": res["stopped_early"],
        "final": last, "train_seconds": seconds, "device": str(dd.device),
    }  # fmt: skip
    run.save_metrics(out)
    return run


# ----------------------------------------------------------------------------- experiments
# Beyond the paper (issue 5): each function runs a grid of the calls above into one study folder,
# tags the runs, and skips a grid point whose finished run already exists (so an interrupted
# grid continues where it stopped, and a second call adds only new seeds or points).

PRETRAIN_VARIANTS: dict[str, dict[str, Any] | None] = {
    "none": None,  # classifier from scratch
    "ae": {},  # autoencoder only: the stage-1 checkpoint of the paper's DEC run
    "dec_unsup": {"dec.stage2_sup_weight": 0.0},  # DEC without the supervised term (b = 0)
    "dec_semi": {},  # the paper: semi-supervised DEC
    "dec_no_disent": {"dec.stage1_disent_weight": 0.0, "dec.stage2_disent_weight": 0.0},
}
"""Pretraining ablation: variant -> DEC config changes (None: no pretraining)."""

MODALITY_SETS = ("T", "A", "V", "TA", "TV", "AV", "TAV")
"""Modality ablation subsets: T text, A audio, V visual."""

_LETTER = {"T": "text", "A": "audio", "V": "visual"}


def _variant_cfg(cfg: Config, changes: dict[str, Any]) -> Config:
    from mosi_lib.config import apply_overrides, validate

    out = copy.deepcopy(cfg)
    return validate(apply_overrides(out, changes))


def _existing(root, **match: Any) -> runs.Run | None:
    found = runs.find_runs(root, **match)
    return found[-1] if found else None


def _say(msg: str) -> None:
    print(msg, flush=True)


def _scratch_and_dec(
    cfg: Config, data: Processed, *, root, key: dict[str, Any], what: str, prefix: str
) -> list[runs.Run]:
    """One grid point of the main comparison: DEC, then the classifier from scratch and from DEC.

    The classifiers train on the labeled pool; each run is found by ``key`` (tag, seed, ...)
    among the finished runs under ``root`` or trained.
    """
    seed = cfg.system.seed
    dec = _existing(root, kind="dec", **key)
    if dec is None:
        _say(f"{what}, seed {seed}: DEC pretraining")
        dec = pretrain_dec(cfg, data, root=root, tag=key["tag"],
                           run_id=runs.make_run_id(f"{prefix}_dec", seed))  # fmt: skip
    out = []
    for init_run, name in ((None, "scratch"), (dec, "dec")):
        run = _existing(root, kind="classifier", init=name, labels="labeled", **key)
        if run is None:
            _say(f"{what}, seed {seed}: classifier ({name})")
            run = train_classifier(cfg, data, labels="labeled", init_run=init_run, root=root,
                                   tag=key["tag"], run_id=runs.make_run_id(f"{prefix}_{name}",
                                                                           seed))  # fmt: skip
        out.append(run)
    return out


def label_sweep(
    cfg: Config, *, fractions, seeds, root, tag: str = "sweep"
) -> list[runs.Run]:
    """Label-efficiency sweep: baseline vs DEC-initialised classifier per labeled fraction.

    For each fraction the data are re-split with ``data.labeled_fraction`` (other data fields
    as in ``cfg``; with the same ``split_seed`` the labeled pools are nested: the same per-class
    permutation, a longer prefix). For each seed: DEC pretraining on every row with the labels of
    that pool, then the classifier on the labeled pool from scratch and from the DEC encoder.

    Args:
        cfg: base config (its ``labeled_fraction`` and ``system.seed`` are replaced).
        fractions: labeled fractions in (0, 1].
        seeds: training seeds (``system.seed``).
        root: the study folder.
        tag: stored in every run's ``metrics.json``.

    Returns:
        The classifier runs (found or trained), in grid order.
    """
    from mosi_lib.preprocess import prepare_data

    out = []
    for frac in fractions:
        fcfg = _variant_cfg(cfg, {"data.labeled_fraction": float(frac)})
        data = prepare_data(fcfg.data)
        frac = fcfg.data.labeled_fraction
        for seed in seeds:
            scfg = _variant_cfg(fcfg, {"system.seed": int(seed)})
            key = {"tag": tag, "seed": int(seed), "labeled_fraction_cfg": frac}
            out += _scratch_and_dec(scfg, data, root=root, key=key,
                                    what=f"[sweep] {100 * frac:g}% labels",
                                    prefix=f"sweep{100 * frac:g}")  # fmt: skip
    return out


def pretrain_ablation(
    cfg: Config, data: Processed, *, seeds, root, variants=tuple(PRETRAIN_VARIANTS)
) -> list[runs.Run]:
    """Pretraining ablation on the labeled pool of ``data`` (paper: 40%).

    Variants (``PRETRAIN_VARIANTS``): ``none`` (from scratch), ``ae`` (autoencoder only: the
    classifier starts from the stage-1 checkpoint of the ``dec_semi`` run, which trained stage 1
    with the paper's settings), ``dec_unsup`` (b = 0), ``dec_semi`` (the paper), ``dec_no_disent``
    (g = 0 in both stages). Runs are tagged ``pretrain:<variant>``.

    Returns:
        The classifier runs (found or trained).
    """
    unknown = [v for v in variants if v not in PRETRAIN_VARIANTS]
    if unknown:
        raise ValueError(f"variants {unknown}: expected some of {list(PRETRAIN_VARIANTS)}")
    out = []
    for seed in seeds:
        scfg = _variant_cfg(cfg, {"system.seed": int(seed)})
        dec_runs: dict[str, runs.Run] = {}
        for variant in variants:
            changes = PRETRAIN_VARIANTS[variant]
            source = "dec_semi" if variant == "ae" else variant
            tag = f"pretrain:{variant}"
            if changes is not None and source not in dec_runs:
                dtag = f"pretrain:{source}"
                dec = _existing(root, kind="dec", tag=dtag, seed=int(seed))
                if dec is None:
                    _say(f"[ablation] seed {seed}: DEC pretraining ({source})")
                    dec = pretrain_dec(_variant_cfg(scfg, PRETRAIN_VARIANTS[source]), data,
                                       root=root, tag=dtag,
                                       run_id=runs.make_run_id(f"abl_{source}_dec", seed))
                dec_runs[source] = dec
            run = _existing(root, kind="classifier", tag=tag, seed=int(seed))
            if run is None:
                _say(f"[ablation] seed {seed}: classifier ({variant})")
                run = train_classifier(
                    scfg, data, labels="labeled", root=root, tag=tag,
                    init_run=None if changes is None else dec_runs[source],
                    init_checkpoint="stage1.pt" if variant == "ae" else "last.pt",
                    run_id=runs.make_run_id(f"abl_{variant}", seed))
            out.append(run)
    return out


def modality_ablation(
    cfg: Config, *, sets=MODALITY_SETS, seeds, root, tag: str = "modality"
) -> list[runs.Run]:
    """Classifier from scratch on the labeled pool for each modality subset (T, A, V, TA, ...).

    The data are re-read for each subset (``data.modalities``); splits do not depend on the
    modalities, so every subset sees the same rows.

    Returns:
        The classifier runs (found or trained).
    """
    from mosi_lib.preprocess import prepare_data

    out = []
    for letters in sets:
        if not letters or any(ch not in _LETTER for ch in letters):
            raise ValueError(f"modality set {letters!r}: expected letters from 'TAV'")
        mods = [_LETTER[ch] for ch in letters]
        mcfg = _variant_cfg(cfg, {"data.modalities": mods})
        data = prepare_data(mcfg.data)
        for seed in seeds:
            found = [r for r in runs.find_runs(root, kind="classifier", tag=tag, seed=int(seed))
                     if r.metrics().get("modalities") == mcfg.data.modalities]
            if found:
                out.append(found[-1])
                continue
            _say(f"[modality] {letters}, seed {seed}: classifier (scratch)")
            out.append(train_classifier(
                _variant_cfg(mcfg, {"system.seed": int(seed)}), data, labels="labeled",
                root=root, tag=tag, run_id=runs.make_run_id(f"mod_{letters}", seed)))
    return out


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
    from mosi_lib.preprocess import prepare_data

    out = []
    for protocol in protocols:
        pcfg = _variant_cfg(cfg, {"data.protocol": protocol})
        data = prepare_data(pcfg.data)
        tag = f"{tag_prefix}:{protocol}"
        for seed in seeds:
            scfg = _variant_cfg(pcfg, {"system.seed": int(seed)})
            out += _scratch_and_dec(scfg, data, root=root, key={"tag": tag, "seed": int(seed)},
                                    what=f"[protocol] {protocol}",
                                    prefix=f"prot_{protocol}")  # fmt: skip
    return out
