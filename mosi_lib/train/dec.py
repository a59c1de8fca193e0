"""Two-stage multimodal semi-supervised DEC pretraining (paper section 4.3) and its centres.

* ``init_centers``: the cluster centres' start, k-means on the latents, checked and remedied
  when degenerate;
* ``fit_dec``: stage 1 trains the autoencoder; stage 2 starts the centres and minimises the
  DEC objective (``losses.dec_objective``) against a target distribution P refreshed every
  ``dec.update_interval`` epochs, until the assignments settle (``dec.tol``) or the budget ends.

``fit_dec`` reads as its named steps (``DECFit``: ``stage1``, ``start_centres``, ``stage2``);
both stages train through ``loop.train_epoch`` with the ordinary step (``DECFit.runner``) and
report to hooks (``loop.Event``).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from mosi_lib import losses, metrics
from mosi_lib.config import DECConfig, SystemConfig
from mosi_lib.train import graphs, loop
from mosi_lib.train.loop import (
    DeviceData,
    Event,
    Hook,
    dec_forward_all,
    fire,
    minibatches,
    train_epoch,
)

# ----------------------------------------------------------------------------- centres

TRIM_SHARE = 0.01
"""``clipped`` / ``trimmed``: the 1% of rows farthest from the latent's median are pulled in /
left out of the k-means fit (the degenerate starts seen on CMU-MOSI isolated 2-3 of 2199 rows,
0.1%: 1% leaves a margin of ten, and costs k-means one row in a hundred)."""


def _order(centers: np.ndarray, assign: np.ndarray, lp: np.ndarray | None):
    """With two clusters and labeled rows: swap so that cluster 1 holds more positive labels."""
    if len(centers) != 2 or lp is None:
        return centers, assign
    share = [
        lp[(assign == j) & (lp >= 0)].mean() if ((assign == j) & (lp >= 0)).any() else 0.5
        for j in range(2)
    ]
    if share[0] > share[1]:
        return centers[::-1].copy(), 1 - assign
    return centers, assign


def _robust_kmeans(zz: np.ndarray, remedy: str, *, n_clusters: int, n_init: int,
                   seed: int) -> np.ndarray:
    """Centres in ``z`` of k-means without the pull of far rows (``clipped`` / ``trimmed``).

    No label is read. Distances are Euclidean from the latent's per-dimension median (the
    latent's own geometry, no rescaling); ``r`` is their ``1 - TRIM_SHARE`` quantile.
    ``clipped``: every row farther than ``r`` is moved along its ray to distance ``r``, then
    k-means on all rows (centres: winsorised means). ``trimmed``: k-means on the rows within
    ``r`` only (centres: the kept rows' means).
    """
    from sklearn.cluster import KMeans

    med = np.median(zz, axis=0)
    x = zz - med
    dist = np.sqrt((x**2).sum(1))
    r = np.quantile(dist, 1 - TRIM_SHARE)
    if remedy == "clipped":
        x = x * np.minimum(1.0, r / np.maximum(dist, 1e-12))[:, None]
    else:
        x = x[dist <= r]
    km = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit(x)
    return med + km.cluster_centers_


def init_centers(
    model: nn.Module,
    z: torch.Tensor,
    *,
    n_clusters: int,
    n_init: int,
    seed: int,
    labeled_pos: torch.Tensor | None = None,
    min_share: float = 0.0,
    remedy: str = "none",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Start the cluster centres: k-means on ``z``, checked, remedied if degenerate.

    k-means (``n_init`` restarts, set explicitly) runs first. Its start is *degenerate* when
    its smallest cluster holds fewer than ``min_share`` of the rows (a few outliers in one
    cluster, every other row in the other: DEC's KL term then has nothing to sharpen). A
    degenerate start is then replaced by ``remedy``:

    * ``none``: kept as it is (the paper's recipe);
    * ``clipped`` (label-free): k-means again after the ``TRIM_SHARE`` of rows farthest from
      the latent's median are moved in to the distance of the nearest of them, so a few far
      rows cannot hold a cluster of their own (centres: winsorised means);
    * ``trimmed`` (label-free): k-means again without those farthest rows (centres: the kept
      rows' means);
    * ``labeled_means`` (uses labels: not the paper's DEC): centre j = the mean ``z`` of the
      labeled training rows of class j (the labels the supervised term trains on, nothing
      else). Two clusters only (cluster j = class j): with more, or without labeled rows of
      both classes, the start is kept and the warning says why.

    After any remedy the rows are assigned to the nearest centre in ``z``.

    With two clusters and ``labeled_pos`` (for the labeled training rows: True = positive, else
    False; other rows -1) k-means' centres are ordered so that cluster 1 holds the larger share
    of positive labeled rows, so that "cluster j = class j" starts consistent.

    Returns:
        ``(hard assignments (N,), info)``; ``info``: ``kmeans_sizes``, ``degenerate``,
        ``min_share``, ``remedy`` (the one applied, or None) and ``sizes`` (of the start used).
    """
    from sklearn.cluster import KMeans

    zz = z.cpu().numpy().astype(np.float64)
    km = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed)
    assign = km.fit_predict(zz)
    centers = km.cluster_centers_
    lp = labeled_pos.cpu().numpy() if labeled_pos is not None else None
    centers, assign = _order(centers, assign, lp)
    sizes = np.bincount(assign, minlength=n_clusters)
    degenerate = bool(sizes.min() < min_share * len(assign))
    info = {
        "kmeans_sizes": sizes.tolist(),
        "degenerate": degenerate,
        "min_share": min_share,
        "remedy": None,
    }
    applied = remedy
    if degenerate and remedy in ("clipped", "trimmed"):
        centers = _robust_kmeans(zz, remedy, n_clusters=n_clusters, n_init=n_init, seed=seed)
        assign = ((zz[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
        centers, assign = _order(centers, assign, lp)
        info["remedy"] = remedy
    if degenerate and remedy == "labeled_means":
        if n_clusters != 2 or lp is None or not all((lp == j).any() for j in range(2)):
            applied = "none (labeled_means needs two clusters and labeled rows of both classes)"
        else:
            centers = np.stack([zz[lp == j].mean(0) for j in range(2)])
            assign = ((zz[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
            info["remedy"] = remedy
    if degenerate:
        warnings.warn(
            f"DEC k-means start is degenerate: cluster sizes {sizes.tolist()} (the "
            f"smallest < {min_share:.0%} of the rows); remedy: {applied}",
            stacklevel=3,
        )
    info["sizes"] = np.bincount(assign, minlength=n_clusters).tolist()
    model.cluster_centers.data.copy_(torch.as_tensor(centers, dtype=torch.float32))
    return assign, info


# ----------------------------------------------------------------------------- fit

_DEC_TERMS = ("loss", "kl", "recon", "sup", "disent")
"""The terms of ``losses.dec_objective`` averaged into each DEC history row."""


def fit_dec(
    model: nn.Module,
    dd: DeviceData,
    cfg_dec: DECConfig,
    cfg_system: SystemConfig,
    *,
    rows: np.ndarray,
    labeled_rows: np.ndarray,
    zero_policy: str = "has0",
    hooks: list[Hook] | None = None,
    stage1: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Two-stage multimodal semi-supervised DEC pretraining (paper section 4.3).

    Stage 1 trains the autoencoder: ``a * masked_mse + g * disentanglement`` (the centres get
    no gradient). Stage 2 initialises the centres by k-means on ``z`` of every row in ``rows``,
    then minimises ``KL(P || Q) + a * mse + b * CE(label, Q) + g * disentanglement``; with
    ``stage2_mode="eval"`` (default) its forward passes run in eval mode (no dropout, BatchNorm
    running statistics), the mode in which P is computed, else in train mode. P is computed
    over all ``rows`` every ``update_interval`` epochs and held fixed in between (Xie et al.
    2016); training stops early when fewer than ``tol`` of the hard assignments change between
    two updates. Cluster sizes are logged at each update and a warning is raised when a cluster
    holds < 2% of rows (collapse).

    Args:
        model: a ``DECModel`` (forward -> dict z, recon, q; ``cluster_centers``).
        dd: data on the device.
        cfg_dec: the recipe, a ``DECConfig``.
        cfg_system: how to run, a ``SystemConfig``: ``seed`` (shuffling and k-means),
            ``amp`` and ``progress`` as in ``classifier.fit_classifier``, ``cuda_graphs`` (on
            CUDA, replay each stage's training step as a CUDA graph per batch size,
            ``graphs.StepRunner``, with P in one tensor refreshed in place, and stage 2's
            target-update forward as another, ``graphs.ForwardRunner``; ignored elsewhere).
        rows: rows whose features are used (paper: every segment).
        labeled_rows: rows whose labels the supervised term may use (labeled training pool).
        zero_policy: binary target of the supervised term (non0 drops zero scores).
        hooks: as in ``classifier.fit_classifier``; hook rows carry a ``stage`` column.
        stage1: a finished stage 1 to start from instead of training it (its ``stage_end``
            event row: ``model_state``, the ``rng`` states, ``history``; ``dec_runs`` shares
            one stage 1 between the labeled shares, which it does not read): the model, the
            shuffling generator and the global random states are set to what they were when
            that stage 1 ended, its history rows are reported again, and stage 2 runs exactly
            as it would have after training stage 1 here.

    Returns:
        ``{"history": rows, "assign": (N,) final hard clusters, "z": (N, L), "q": (N, K),
        "stopped_early": bool, "stage2_stop": {"reason": "tol" | "budget" | "no stage 2",
        "epoch": last stage-2 epoch trained, "delta_label": the last share of rows that changed
        cluster}, "center_init": ``init_centers``' info, "rows": rows,
        "steps": {"eager", "graph_replays"},
        "target_forwards": {"eager", "graph_replays"}}`` (arrays on the CPU, in the order of
        ``rows``; ``steps`` counts both stages' steps by how they ran, ``target_forwards`` the
        forwards over all rows of stage 2's target updates).
    """
    fit = DECFit(model, dd, cfg_dec, cfg_system, rows=rows, labeled_rows=labeled_rows,
                 zero_policy=zero_policy, hooks=hooks)
    runner = fit.stage1(stage1)
    assign, center_init = fit.start_centres()
    steps = runner.counts()
    del runner  # frees stage 1's graphs
    end = fit.stage2(assign)
    final = dec_forward_all(model, dd, fit.all_idx, amp=fit.amp)
    fire(hooks, Event("stage_end", cfg_dec.stage2_epochs, model, end["optimizer"], {"stage": 2}))
    return {
        "history": fit.history,
        "z": final["z"].cpu().numpy(),
        "q": final["q"].cpu().numpy(),
        "assign": final["q"].argmax(1).cpu().numpy(),
        "stopped_early": end["stopped_early"],
        "stage2_stop": end["stop"],
        "center_init": center_init,
        "rows": np.asarray(rows),
        "steps": graphs.merge_counts(steps, end["steps"]),
        "target_forwards": end["target_forwards"],
    }


class DECFit:
    """The state of one DEC fit and its named steps (``fit_dec`` runs them in order).

    On the device: the rows, each row's label for the supervised term, the terms' running sums
    and P (changed in place only, so that a captured step reads them); the shuffling
    generator; the history so far.
    """

    def __init__(self, model: nn.Module, dd: DeviceData, cfg_dec: DECConfig,
                 cfg_system: SystemConfig, *, rows: np.ndarray, labeled_rows: np.ndarray,
                 zero_policy: str, hooks: list[Hook] | None):
        self.model, self.dd, self.cfg, self.hooks = model, dd, cfg_dec, hooks
        self.device, self.amp, self.progress = dd.device, cfg_system.amp, cfg_system.progress
        self.seed = cfg_system.seed
        device = self.device
        self.all_idx = torch.as_tensor(np.asarray(rows), dtype=torch.long, device=device)
        # per-row label for the supervised term: class index, or -1 where hidden / unusable
        self.y = torch.full((dd.n,), -1, dtype=torch.long, device=device)
        lab = torch.as_tensor(np.asarray(labeled_rows), dtype=torch.long, device=device)
        pos, keep = metrics.binary_target(dd.scores.index_select(0, lab), zero_policy)
        self.y[lab[keep]] = pos[keep].long()
        self.gen = torch.Generator().manual_seed(cfg_system.seed)
        self.history: list[dict[str, Any]] = []
        self.use_graphs = cfg_system.cuda_graphs and graphs.supported(device)
        # the terms' running sums stay on the device (one host sync per epoch, not per batch)
        # and P in one tensor; both changed in place only, so that a captured step reads them
        sums_dtype = torch.float64 if device.type != "mps" else torch.float32
        self.sums = torch.zeros(len(_DEC_TERMS), dtype=sums_dtype, device=device)
        self.p_all = torch.zeros(len(self.all_idx), cfg_dec.n_clusters, device=device)

    def adam(self, params, lr: float) -> torch.optim.Adam:
        """Adam for a stage (``capturable`` under CUDA graphs)."""
        return torch.optim.Adam(params, lr=lr,
                                capturable=graphs.capturable(self.use_graphs, self.device))

    def runner(self, stage: int, opt: torch.optim.Optimizer, weights: dict) -> graphs.StepRunner:
        """A stage's step: ``zero_grad``, forward, DEC objective, ``backward``, ``step``.

        Run eagerly, or replayed as a CUDA graph (``graphs.StepRunner``).
        """
        model, dd, device, amp = self.model, self.dd, self.device, self.amp
        all_idx, y, p_all, sums = self.all_idx, self.y, self.p_all, self.sums
        use_graphs = self.use_graphs

        def step(bidx: torch.Tensor) -> None:
            opt.zero_grad(set_to_none=True)
            ridx = all_idx.index_select(0, bidx)
            x, masks = dd.batch(ridx)
            with loop.autocast(device, amp, cache=not use_graphs):
                out = model(x, masks)
            terms = losses.dec_objective(
                out,
                x,
                masks,
                weights=weights,
                class_head=model.class_head,
                p=None if stage == 1 else p_all.index_select(0, bidx),
                y=None if stage == 1 else y.index_select(0, ridx),
                # a captured step cannot select the labeled rows (a host-side size)
                static_shapes=loop.capturing(),
            )
            terms["loss"].backward()
            opt.step()
            with torch.no_grad():
                terms_now = torch.stack([terms[k].detach().to(sums.dtype) for k in _DEC_TERMS])
                sums.add_(terms_now * len(bidx))

        return graphs.StepRunner(step, optimizer=opt, device=device, enabled=use_graphs)

    def epoch(self, stage: int, epoch: int, runner: graphs.StepRunner) -> dict[str, Any]:
        """One epoch of a stage over every row; its history row (appended)."""
        t0 = time.perf_counter()
        # stage 2 in eval mode: the batch Q is computed as P's Q was (no dropout, BatchNorm
        # running statistics), so KL(P || Q) compares like with like
        self.model.train(stage == 1 or self.cfg.stage2_mode == "train")
        batches = minibatches(torch.arange(len(self.all_idx), device=self.device),
                              self.cfg.batch_size, self.gen)
        n, values = train_epoch(runner, batches, sums=self.sums)
        row = {
            "stage": stage,
            "epoch": epoch,
            **{k: v / n for k, v in zip(_DEC_TERMS, values, strict=True)},
            "lr": runner.optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - t0,
        }
        self.history.append(row)
        return row

    def stage1(self, shared: dict[str, Any] | None) -> graphs.StepRunner:
        """Stage 1, the autoencoder alone; returns the stage's runner (its counts).

        Trained here, or ``shared`` (a finished stage 1) taken over; ends with the
        ``stage_end`` event.
        The centres are not trained and get no gradient: a gradient outside the optimizer is
        never cleared by ``zero_grad``, and under CUDA graphs
        (``system.compile_mode=reduce-overhead``) accumulating into it reads a graph output
        that a later replay overwrote.
        """
        from tqdm import tqdm

        model, cfg, hooks = self.model, self.cfg, self.hooks
        params1 = [p for n_, p in model.named_parameters() if n_ != "cluster_centers"]
        opt1 = self.adam(params1, cfg.stage1_lr)
        runner = self.runner(1, opt1, losses.dec_stage_weights(cfg, 1))
        if shared is None:
            bar = tqdm(range(1, cfg.stage1_epochs + 1), desc="DEC stage 1",
                       disable=not self.progress, leave=False)
            model.cluster_centers.requires_grad_(False)
            try:
                for epoch in bar:
                    row = self.epoch(1, epoch, runner)
                    bar.set_postfix(recon=f"{row['recon']:.4f}")
                    fire(hooks, Event("epoch_end", epoch, model, opt1, row))
            finally:
                model.cluster_centers.requires_grad_(True)
            bar.close()
        else:
            model.load_state_dict(shared["model_state"])
            loop.set_rng_states(shared["rng"], self.gen, self.device)
            for row in shared["history"]:
                self.history.append(dict(row))
                fire(hooks, Event("epoch_end", int(row["epoch"]), model, opt1, dict(row)))
        fire(hooks, Event("stage_end", cfg.stage1_epochs, model, opt1,
                          {"stage": 1, "rng": loop.rng_states(self.gen, self.device),
                           "history": [dict(h) for h in self.history if h["stage"] == 1]}))
        return runner

    def start_centres(self) -> tuple[np.ndarray, dict[str, Any]]:
        """The centres' start: ``init_centers`` on ``z`` of every row after stage 1."""
        first = dec_forward_all(self.model, self.dd, self.all_idx, amp=self.amp)
        return init_centers(
            self.model,
            first["z"],
            n_clusters=self.cfg.n_clusters,
            n_init=self.cfg.kmeans_n_init,
            seed=self.seed,
            labeled_pos=self.y.index_select(0, self.all_idx),
            min_share=self.cfg.min_cluster_share,
            remedy=self.cfg.degenerate_remedy,
        )

    def stage2(self, assign_prev: np.ndarray) -> dict[str, Any]:
        """Stage 2: KL(P || Q) + reconstruction + supervision, until settled or out of budget.

        P is refreshed every ``dec.update_interval`` epochs; training stops when fewer than
        ``dec.tol`` of the assignments changed between two updates, or after
        ``dec.stage2_epochs``.

        Returns:
            ``optimizer``, ``stopped_early``, ``stop`` (``reason``, ``epoch``,
            ``delta_label``), ``steps`` and ``target_forwards`` (how they ran).
        """
        from tqdm import tqdm

        model, cfg, hooks = self.model, self.cfg, self.hooks
        opt2 = self.adam(model.parameters(), cfg.stage2_lr)
        runner = self.runner(2, opt2, losses.dec_stage_weights(cfg, 2))
        # the target update's forward over the same rows every time: under cuda_graphs a graph
        q_forward = graphs.ForwardRunner(
            lambda: dec_forward_all(model, self.dd, self.all_idx, amp=self.amp,
                                    cache=not self.use_graphs)["q"],
            device=self.device,
            enabled=self.use_graphs,
            what="target update's forward",
        )
        stopped_early, delta = False, float("nan")
        stop = {
            "reason": "budget" if cfg.stage2_epochs else "no stage 2",
            "epoch": cfg.stage2_epochs,
        }
        sizes = np.bincount(assign_prev, minlength=cfg.n_clusters)
        bar = tqdm(
            range(1, cfg.stage2_epochs + 1), desc="DEC stage 2", disable=not self.progress,
            leave=False
        )
        for epoch in bar:
            if (epoch - 1) % cfg.update_interval == 0:
                q_all = q_forward()  # consumed before the next call (a graph's static output)
                self.p_all.copy_(losses.target_distribution(q_all))
                assign = q_all.argmax(1).cpu().numpy()
                delta = float((assign != assign_prev).mean())
                sizes = np.bincount(assign, minlength=cfg.n_clusters)
                if sizes.min() < 0.02 * len(assign):
                    warnings.warn(
                        f"DEC stage 2 epoch {epoch}: cluster collapse, sizes {sizes.tolist()}",
                        stacklevel=3,
                    )
                update = {"delta_label": delta, "sizes": sizes.tolist()}
                fire(hooks, Event("target_update", epoch, model, opt2, update))
                if epoch > 1 and delta < cfg.tol:
                    stopped_early = True
                    stop = {"reason": "tol", "epoch": epoch - 1}
                    break
                assign_prev = assign
            row = self.epoch(2, epoch, runner)
            row["delta_label"] = delta
            row.update({f"size_{j}": int(c) for j, c in enumerate(sizes)})
            bar.set_postfix(loss=f"{row['loss']:.4f}", delta=f"{delta:.4f}")
            fire(hooks, Event("epoch_end", epoch, model, opt2, row))
        bar.close()
        return {"optimizer": opt2, "stopped_early": stopped_early,
                "stop": {**stop, "delta_label": delta},  # the last target update's share
                "steps": runner.counts(), "target_forwards": q_forward.counts()}
