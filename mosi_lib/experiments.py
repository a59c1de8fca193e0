"""The study's experiments as single calls: each trains one model and writes one run folder.

Notebooks 02-04 call these; they bind ``engine`` loops to ``runs`` bookkeeping with hooks:

* ``train_classifier``: the transformer classifier from scratch or DEC-initialised, on the
  labeled pool (``labels="labeled"``, e.g. 40%) or on every training label (``labels="all"``).
* ``pretrain_dec``: both DEC stages on every segment's features (labels of the labeled training
  pool only); writes latents for the t-SNE figure and cluster metrics.
* ``resume_classifier``: continue an interrupted classifier run from ``checkpoints/last.pt``.
"""

from __future__ import annotations

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
    run_id: str | None = None,
    root=None,
    extra: dict[str, Any] | None = None,
) -> runs.Run:
    """Train the transformer classifier and write a run folder.

    Args:
        cfg: resolved config (``train``, ``model``, ``system`` sections are used).
        data: preprocessed data.
        labels: ``labeled`` (the labeled pool's training rows) or ``all`` (every training row).
        init_run: a DEC run whose encoder initialises the classifier (``None``: from scratch).
        run_id, root: run folder name and parent (defaults: auto id under ``runs/``).
        extra: more provenance for ``config.yaml`` (e.g. papermill parameters).

    Returns:
        The finished ``Run`` (``metrics.json`` written).
    """
    device, dd = _setup(cfg, data)
    model = models.build_classifier(cfg.model, data.dims, data.max_len)
    transfer = None
    if init_run is not None:
        dec_run = runs.load_run(init_run)
        dec = model_from_checkpoint(load_checkpoint(dec_run.checkpoints / "last.pt"))
        transfer = models.transfer_encoder(dec, model)
        transfer["dec_run"] = dec_run.run_id
    model.to(device)
    init = "dec" if init_run is not None else "scratch"
    run = runs.create_run(cfg, kind="classifier", run_id=run_id, root=root,
                          extra={**_data_info(data), "init": init, "labels": labels,
                                 **(extra or {})})  # fmt: skip
    if transfer is not None:
        run.save_json("transfer.json", transfer)
    train_idx = data.train_rows(labels, cfg.data.zero_policy)
    return _fit_and_report(cfg, data, dd, model, run, train_idx, init=init, labels=labels,
                           transfer=transfer)  # fmt: skip


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
                           labels=meta["labels"], transfer=transfer, resume=ckpt)  # fmt: skip


def _fit_and_report(cfg, data, dd, model, run, train_idx, *, init, labels, transfer,
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
        "kind": "classifier", "run_id": run.run_id, "name": cfg.name, "init": init,
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
                          extra={**_data_info(data), **(extra or {})})  # fmt: skip
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
        "kind": "dec", "run_id": run.run_id, "name": cfg.name, "seed": cfg.system.seed,
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
