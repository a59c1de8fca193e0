"""Training loops: the classifier recipe (paper section 4.2) and two-stage DEC (section 4.3).

The loops know nothing of run folders or plotting: they report through hooks (callables called
with an ``Event``) and return the history. ``mosi_lib.study.recipes`` attaches the hooks
that write ``runs/<run_id>/``.

Speed choices (measured in ``mosi_lib.bench``): the whole data set lives on the device as tensors
and mini-batches are gathered with ``index_select`` (no ``DataLoader``, no per-batch host copies);
mixed precision (bf16 autocast) on CUDA; optional ``torch.compile``.

Reproducibility: ``system.seed_everything`` seeds python, numpy and torch; the shuffling
generator and the global torch RNG state are stored in every checkpoint so a resumed run continues
exactly where an uninterrupted one would (bit-identical on CPU with ``system.deterministic``).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from mosi_lib import losses, metrics
from mosi_lib.losses import classifier_loss
from mosi_lib.train import graphs
from mosi_lib.train.system import autocast

# ----------------------------------------------------------------------------- data on device


class DeviceData:
    """A ``Processed`` data set moved once to ``device`` as tensors.

    Attributes:
        x: modality -> (N, T, D) float32; masks: modality -> (N, T) bool;
        scores: (N,) float32 sentiment scores (on the device, used only through index sets
        the caller chose); n: number of rows.
    """

    def __init__(self, data, device: torch.device):
        self.device = device
        self.x = {m: torch.as_tensor(v, device=device) for m, v in data.x.items()}
        self.masks = {m: torch.as_tensor(v, device=device) for m, v in data.masks.items()}
        self.scores = torch.as_tensor(data.labels, device=device)
        self.n = len(data.labels)

    def batch(self, idx: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Gather rows ``idx`` (a device LongTensor) of every modality."""
        return (
            {m: v.index_select(0, idx) for m, v in self.x.items()},
            {m: v.index_select(0, idx) for m, v in self.masks.items()},
        )


def minibatches(
    idx: torch.Tensor, batch_size: int, generator: torch.Generator | None
) -> Iterator[torch.Tensor]:
    """Yield shuffled (if ``generator``) mini-batches of ``idx``.

    A final batch of a single row is dropped (BatchNorm cannot train on one sample); with at
    least two rows overall nothing else is ever dropped.
    """
    if generator is not None:
        idx = idx[torch.randperm(len(idx), generator=generator).to(idx.device)]
    for start in range(0, len(idx), batch_size):
        chunk = idx[start : start + batch_size]
        if len(chunk) == 1 and len(idx) > 1:
            continue
        yield chunk


# ----------------------------------------------------------------------------- hooks


@dataclass
class Event:
    """What a hook receives: the loop's state at a point in training."""

    name: str  # "epoch_end" | "improved" | "stage_end" | "target_update"
    epoch: int
    model: nn.Module
    optimizer: torch.optim.Optimizer | None = None
    row: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


Hook = Callable[[Event], None]


def _fire(hooks: list[Hook] | None, event: Event) -> None:
    for hook in hooks or []:
        hook(event)


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """Everything random a resumed loop needs to continue identically."""
    state = {"shuffle": generator.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(generator: torch.Generator, state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned."""
    generator.set_state(state["shuffle"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def predict_logits(model: nn.Module, dd: DeviceData, idx: torch.Tensor, *, amp: bool = False,
                   chunk: int = 1024, cache: bool = True) -> torch.Tensor:  # fmt: skip
    """Logits (len(idx),) of a classifier in eval mode, float32 on the device.

    ``cache=False`` turns off autocast's weight cache (for a capture, ``graphs.ForwardRunner``).
    """
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(idx), chunk):
        x, masks = dd.batch(idx[start : start + chunk])
        with autocast(dd.device, amp, cache=cache):
            # clone: under CUDA graphs (system.compile_mode=reduce-overhead) the next call
            # overwrites a graph's output in place
            out.append(model(x, masks).float().clone())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, device=dd.device)


def evaluate_classifier(model: nn.Module, dd: DeviceData, idx: torch.Tensor, zero_policy: str,
                        *, amp: bool = False, objective: str = "bce",
                        logits: torch.Tensor | None = None) -> dict[str, float]:  # fmt: skip
    """Loss and metrics of ``model`` on rows ``idx``.

    ``logits``: the model's logits on ``idx`` when the caller has them (a replayed validation
    forward, ``graphs.ForwardRunner``); computed here otherwise.

    Returns:
        ``loss`` (the training ``objective``, ``losses.classifier_loss``; non0 ignores zero
        scores), ``acc`` and ``f1`` under ``zero_policy``, plus every key of
        ``metrics.binary_metrics`` (positive class: output > 0).
    """
    if logits is None:
        logits = predict_logits(model, dd, idx, amp=amp)
    scores = dd.scores.index_select(0, idx)
    keep = metrics.binary_target(scores, zero_policy)[1]
    loss = classifier_loss(logits[keep], scores[keep], objective=objective,
                           zero_policy=zero_policy).item()  # fmt: skip
    res = metrics.binary_metrics((logits > 0).cpu().numpy(), scores.cpu().numpy())
    res["loss"] = loss
    res["acc"], res["f1"] = res[f"acc_{zero_policy}"], res[f"f1_{zero_policy}"]
    return res


# ----------------------------------------------------------------------------- classifier


def _new_result(model: nn.Module) -> dict[str, Any]:
    """A training result before epoch 1: no history, the initial weights as "best"."""
    return {"history": [], "best": {"epoch": 0, "acc": -math.inf, "loss": math.inf, "val": {}},
            "best_state": {k: v.detach().clone() for k, v in model.state_dict().items()}}


def _epoch_row(epoch: int, train_loss: float, train_acc: float, val: dict[str, Any], lr: float,
               seconds: float, val_seconds: float) -> dict[str, Any]:  # fmt: skip
    """One epoch's history row (the columns of ``history.csv``).

    ``seconds`` is the epoch's wall time, validation included; ``val_seconds`` the part of it
    spent validating (forward of the validation rows, loss, metrics): what is left when the
    training steps are fast (``system.cuda_graphs``).
    """
    return {
        "epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
        "val_loss": val["loss"], "val_acc": val["acc"], "val_f1": val["f1"],
        "val_acc_has0": val["acc_has0"], "val_acc_non0": val["acc_non0"], "lr": lr,
        "seconds": seconds, "val_seconds": val_seconds,
    }  # fmt: skip


def _select(res: dict[str, Any], epoch: int, val: dict[str, Any], model: nn.Module) -> bool:
    """The checkpoint rule (one place): keep this epoch if it improves the selection.

    Improves: higher validation accuracy, or equal accuracy with a lower validation loss. Then
    ``res["best"]`` and ``res["best_state"]`` take this epoch and ``model``'s weights.

    Returns:
        Whether this epoch improved.
    """
    best = res["best"]
    improved = val["acc"] > best["acc"] or (val["acc"] == best["acc"]
                                            and val["loss"] < best["loss"])  # fmt: skip
    if improved:
        res["best"] = {"epoch": epoch, "acc": val["acc"], "loss": val["loss"], "val": val}
        res["best_state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return improved


def _end_epoch(model: nn.Module, dd: DeviceData, va: torch.Tensor, res: dict[str, Any],
               epoch: int, *, train_loss: float, train_acc: float, lr: float, t0: float,
               before: float = 0.0, hooks: list[Hook] | None, opt, state: Callable[[], dict],
               zero_policy: str, amp: bool, objective: str,
               forward: Callable[[], torch.Tensor] | None = None) -> dict[str, Any]:  # fmt: skip
    """The end of one model's epoch, the same in both classifier loops.

    Validates, appends the history row (``seconds`` = ``before`` + the time since ``t0``,
    ``val_seconds`` = the validation's share),
    applies the checkpoint rule (``_select``) and, when there are hooks, fires ``improved`` and
    ``epoch_end`` with what a checkpoint needs: ``state()`` adds the optimizer state and the
    random-number state of the loop that called. ``forward()``, when given, returns the
    validation logits (a ``graphs.ForwardRunner``).

    Returns:
        The history row.
    """
    t_val = time.perf_counter()
    val = evaluate_classifier(model, dd, va, zero_policy, amp=amp, objective=objective,
                              logits=forward() if forward is not None else None)  # fmt: skip
    now = time.perf_counter()
    row = _epoch_row(epoch, train_loss, train_acc, val, lr, before + now - t0, now - t_val)
    res["history"].append(row)
    improved = _select(res, epoch, val, model)
    if hooks:
        ckpt = {"epoch": epoch, "model_state": model.state_dict(), **state(), "best": res["best"],
                "best_state": res["best_state"], "history": res["history"]}  # fmt: skip
        if improved:
            _fire(hooks, Event("improved", epoch, model, opt, row, ckpt))
        _fire(hooks, Event("epoch_end", epoch, model, opt, row, ckpt))
    return row


def fit_classifier(
    model: nn.Module,
    dd: DeviceData,
    *,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    zero_policy: str = "has0",
    seed: int = 0,
    amp: bool = False,
    progress: bool = True,
    hooks: list[Hook] | None = None,
    resume: dict[str, Any] | None = None,
    objective: str = "bce",
    cuda_graphs: bool = False,
) -> dict[str, Any]:
    """Train the classifier with ``objective`` and Adam; keep the best by val accuracy.

    Selection: highest validation accuracy under ``zero_policy``; ties go to the lower
    validation loss. The best weights are loaded back into ``model`` at the end.

    Args:
        model: maps ``(x, masks)`` to logits (B,).
        dd: data on the device.
        train_idx, val_idx: row indices (the caller applies the zero policy to ``train_idx``).
        epochs, batch_size, lr, weight_decay: the recipe (paper: 500, 128, 4e-5, 1e-2).
        zero_policy: ``has0`` or ``non0`` binary target.
        seed: seeds the shuffling generator.
        objective: ``bce`` (the paper) or ``l1`` (regression on the score; ``losses.OBJECTIVES``).
        amp: bf16 autocast on CUDA.
        progress: show a tqdm bar with live loss/accuracy.
        hooks: called with ``Event("epoch_end")`` after each epoch and ``Event("improved")``
            when the selected metric improves (state holds what a checkpoint needs).
        resume: a checkpoint dict (from ``Event.state``) to continue from.
        cuda_graphs: on CUDA, replay each batch size's whole training step as a CUDA graph
            (``graphs.StepRunner``; Adam with ``capturable=True``) and the validation forward
            as another (``graphs.ForwardRunner``); ignored elsewhere.

    Returns:
        ``{"history": [rows], "best": {"epoch", "val": metrics}, "best_state": state_dict,
        "steps": {"eager", "graph_replays"}, "val_forwards": {"eager", "graph_replays"}}``
        (how the training steps and the epochs' validation forwards ran).
    """
    from tqdm import tqdm

    device = dd.device
    tr = torch.as_tensor(np.asarray(train_idx), dtype=torch.long, device=device)
    va = torch.as_tensor(np.asarray(val_idx), dtype=torch.long, device=device)
    if len(tr) < 2:
        raise ValueError(f"need at least 2 training rows, got {len(tr)}")
    target_all = metrics.binary_target(dd.scores, zero_policy)[0].float()
    lossf = partial(classifier_loss, objective=objective, zero_policy=zero_policy)
    use_graphs = cuda_graphs and graphs.supported(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay,
                           capturable=graphs.capturable(use_graphs, device))  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    res = _new_result(model)
    start_epoch = 1
    if resume is not None:
        model.load_state_dict(resume["model_state"])
        opt.load_state_dict(resume["optimizer_state"])
        set_rng_state(gen, resume["rng"])
        res = {"history": list(resume["history"]), "best": resume["best"],
               "best_state": resume["best_state"]}  # fmt: skip
        start_epoch = resume["epoch"] + 1
    # the epoch's running sums (loss x rows, correct predictions) stay on the device and are
    # changed in place only: a captured step (cuda_graphs) adds into this very tensor
    sums = torch.zeros(2, device=device)

    def step(bidx: torch.Tensor) -> None:
        x, masks = dd.batch(bidx)
        with autocast(device, amp, cache=not use_graphs):
            logits = model(x, masks).float()
        loss = lossf(logits, dd.scores.index_select(0, bidx))
        loss.backward()
        opt.step()
        with torch.no_grad():
            y = target_all.index_select(0, bidx)
            sums[0] += loss.detach() * len(bidx)
            sums[1] += ((logits.detach() > 0).float() == y).sum()

    runner = graphs.StepRunner(step, optimizer=opt, device=device, enabled=use_graphs)
    # the validation rows are the same every epoch: under cuda_graphs their forward is a graph
    val_forward = graphs.ForwardRunner(
        lambda: predict_logits(model, dd, va, amp=amp, cache=not use_graphs),
        device=device, enabled=use_graphs, what="validation forward")  # fmt: skip
    bar = tqdm(range(start_epoch, epochs + 1), desc="classifier", disable=not progress,
               initial=start_epoch - 1, total=epochs, leave=False)  # fmt: skip
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        sums.zero_()
        n_seen = 0
        for bidx in minibatches(tr, batch_size, gen):
            runner(bidx)
            n_seen += len(bidx)
        tot, correct = sums.tolist()
        row = _end_epoch(model, dd, va, res, epoch, train_loss=tot / n_seen,
                         train_acc=correct / n_seen, lr=opt.param_groups[0]["lr"],
                         t0=t0, hooks=hooks, opt=opt, zero_policy=zero_policy, amp=amp,
                         objective=objective, forward=val_forward,
                         state=lambda: {"optimizer_state": opt.state_dict(),
                                        "rng": rng_state(gen)})  # fmt: skip
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_acc=f"{row['val_acc']:.3f}",
                        best=f"{res['best']['acc']:.3f}@{res['best']['epoch']}")  # fmt: skip
    bar.close()
    model.load_state_dict(res["best_state"])
    res["steps"] = runner.counts()
    res["val_forwards"] = val_forward.counts()
    return res


# ----------------------------------------------------------------------------- seeds together


def _seed_view(model: nn.Module, params: dict[str, torch.Tensor],
               buffers: dict[str, torch.Tensor], i: int) -> None:  # fmt: skip
    """Copy seed ``i``'s slice of the stacked parameters and buffers into ``model``."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(params[name][i])
        for name, b in model.named_buffers():
            if name in buffers:
                b.copy_(buffers[name][i])


def _seed_optimizer_state(opt: torch.optim.Optimizer, model: nn.Module,
                          params: dict[str, torch.Tensor], i: int) -> dict[str, Any]:  # fmt: skip
    """The ``state_dict`` a plain Adam over ``model.parameters()`` would have for seed ``i``.

    Adam is elementwise, so the stacked optimizer's moments sliced at ``i`` are exactly the
    moments of a per-seed optimizer; a checkpoint written from them resumes with
    ``fit_classifier``.
    """
    full = opt.state_dict()
    index = {name: k for k, name in enumerate(params)}  # stacked param order = model order
    state = {}
    for k, (name, _) in enumerate(model.named_parameters()):
        st = full["state"].get(index[name])
        if st is not None:
            state[k] = {key: (v[i].clone() if torch.is_tensor(v) and v.ndim > 0 else v)
                        for key, v in st.items()}  # fmt: skip
    group = {**full["param_groups"][0], "params": list(range(len(params)))}
    return {"state": state, "param_groups": [group]}


@contextlib.contextmanager
def _vmap_attention(device: torch.device):
    """Attention that works under ``vmap``: the math kernel on CUDA; quiet fallback on CPU.

    CUDA: the memory-efficient and flash SDPA kernels fail in the backward pass under ``vmap``
    ("LSE is not correctly aligned (strideH)", seen on an H200 with torch 2.11), so the
    seeds-together loop selects the math backend, which is made of batchable ops.

    CPU: the flash-attention kernel has no vmap batching rule, so under ``vmap`` it falls back
    to a loop over the stacked seeds (PyTorch warns at each call site). Measured on the 2-core
    CPU: forcing the math backend was no faster (the epoch time goes to the batched linear
    layers and dropout masks; README, "Seeds together"), so the fallback is kept and the
    warning, which a notebook would print for every run, is filtered.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not yet implemented the batching rule for "
                                "aten::_scaled_dot_product_flash_attention_for_cpu.*")  # fmt: skip
        if device.type == "cuda":
            from torch.nn.attention import SDPBackend, sdpa_kernel

            with sdpa_kernel([SDPBackend.MATH]):
                yield
        else:
            yield


def fit_classifier_seeds(
    models_: list[nn.Module],
    dd: DeviceData,
    *,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seeds: list[int],
    zero_policy: str = "has0",
    amp: bool = False,
    progress: bool = True,
    hooks: list[list[Hook]] | None = None,
    objective: str = "bce",
) -> list[dict[str, Any]]:
    """Train one classifier per seed in a single loop: ``fit_classifier`` for E seeds at once.

    The E models (same architecture, each initialised by its own seed) are stacked with
    ``torch.func.stack_module_state`` and called through ``torch.func.vmap``, so every step
    runs one batched forward/backward for all seeds instead of E small ones. What stays per
    seed, exactly as in ``fit_classifier``: the initial weights, the shuffling generator
    (``torch.Generator().manual_seed(seed)``, hence the same batch order), the BatchNorm
    running statistics, the Adam moments (Adam is elementwise, so one Adam over the stacked
    tensors is E independent Adams), validation, best-epoch selection and the hooks.

    What differs: dropout masks come from the global torch generator under
    ``vmap(randomness="different")``, not from E separate streams, so a seed trained here is
    a statistically equivalent but not bit-identical twin of the same seed trained alone.
    With dropout 0 the two agree to float rounding (tested). ``torch.compile`` is not used.

    Evaluation runs the real per-seed module (``evaluate_classifier``), into which the seed's
    slice is copied after every epoch, so metrics are computed exactly as for a single run.

    Args:
        models_: E classifiers with identical architecture (their weights are overwritten
            with the best epoch's at the end, as ``fit_classifier`` does).
        seeds: E shuffling seeds, one per model.
        hooks: E hook lists (``hooks[i]`` receives seed i's events; ``Event.model`` is
            ``models_[i]`` holding that seed's current weights).
        Others: as ``fit_classifier``.

    Returns:
        One ``fit_classifier`` result dict per seed, in order.
    """
    from torch.func import functional_call, stack_module_state, vmap
    from tqdm import tqdm

    n_seeds = len(models_)
    if n_seeds == 0 or len(seeds) != n_seeds:
        raise ValueError(f"need one seed per model: got {n_seeds} models and {len(seeds)} seeds")
    if hooks is not None and len(hooks) != n_seeds:
        raise ValueError(f"hooks: expected {n_seeds} lists (one per seed), got {len(hooks)}")
    shapes = [{k: tuple(v.shape) for k, v in m.state_dict().items()} for m in models_]
    if any(s != shapes[0] for s in shapes[1:]):
        raise ValueError("models_ must share one architecture to be trained together")
    device = dd.device
    tr = torch.as_tensor(np.asarray(train_idx), dtype=torch.long, device=device)
    va = torch.as_tensor(np.asarray(val_idx), dtype=torch.long, device=device)
    if len(tr) < 2:
        raise ValueError(f"need at least 2 training rows, got {len(tr)}")
    target_all = metrics.binary_target(dd.scores, zero_policy)[0].float()
    lossf = partial(classifier_loss, objective=objective, zero_policy=zero_policy)

    params, buffers = stack_module_state(models_)  # (E, ...) leaves, independent of models_
    base = copy.deepcopy(models_[0]).to("meta")  # structure only; weights come from params

    def call(p, b, x, masks):
        return functional_call(base, (p, b), (x, masks))

    forward = vmap(call, randomness="different")
    opt = torch.optim.Adam(list(params.values()), lr=lr, weight_decay=weight_decay)
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    results = [_new_result(m) for m in models_]
    bar = tqdm(range(1, epochs + 1), desc=f"classifier x{n_seeds} seeds",
               disable=not progress, leave=False)  # fmt: skip
    for epoch in bar:
        t0 = time.perf_counter()
        base.train()
        tot = torch.zeros(n_seeds, device=device)
        correct = torch.zeros(n_seeds, device=device)
        n_seen = 0
        with _vmap_attention(device):
            for chunks in zip(*(minibatches(tr, batch_size, g) for g in gens), strict=True):
                bidx = torch.stack(chunks)  # (E, B): every seed's own batch
                x = {m: v[bidx] for m, v in dd.x.items()}  # (E, B, T, D)
                masks = {m: v[bidx] for m, v in dd.masks.items()}
                y = target_all[bidx]
                with autocast(device, amp):
                    logits = forward(params, buffers, x, masks).float()  # (E, B)
                per_seed = lossf(logits, dd.scores[bidx], reduction="none").mean(1)
                opt.zero_grad(set_to_none=True)
                per_seed.sum().backward()  # seed i's parameters get exactly seed i's gradient
                opt.step()
                tot += per_seed.detach() * bidx.shape[1]
                correct += ((logits.detach() > 0).float() == y).sum(1)
                n_seen += bidx.shape[1]
        tot, correct = tot.tolist(), correct.tolist()  # waits for the device's steps
        train_seconds = (time.perf_counter() - t0) / n_seeds  # the step is shared: 1/E each
        for i, (model, res) in enumerate(zip(models_, results, strict=True)):
            t1 = time.perf_counter()
            _seed_view(model, params, buffers, i)
            _end_epoch(model, dd, va, res, epoch, train_loss=tot[i] / n_seen,
                       train_acc=correct[i] / n_seen, lr=opt.param_groups[0]["lr"], t0=t1,
                       before=train_seconds, hooks=hooks[i] if hooks is not None else None,
                       opt=None, zero_policy=zero_policy, amp=amp, objective=objective,
                       state=lambda i=i, model=model: {
                           "optimizer_state": _seed_optimizer_state(opt, model, params, i),
                           "rng": {"shuffle": gens[i].get_state(),
                                   "torch": torch.get_rng_state()}})  # fmt: skip
        bar.set_postfix(best=" ".join(f"{r['best']['acc']:.3f}" for r in results))
    bar.close()
    for model, res in zip(models_, results, strict=True):
        model.load_state_dict(res["best_state"])
    return results


# ----------------------------------------------------------------------------- DEC


@torch.no_grad()
def dec_forward_all(model: nn.Module, dd: DeviceData, idx: torch.Tensor, *, amp: bool = False,
                    chunk: int = 1024, cache: bool = True) -> dict[str, torch.Tensor]:  # fmt: skip
    """``z`` (N, L) and ``q`` (N, K) of a DEC model over rows ``idx`` in eval mode.

    ``cache=False`` turns off autocast's weight cache (for a capture, ``graphs.ForwardRunner``).
    """
    was_training = model.training
    model.eval()
    zs, qs = [], []
    for start in range(0, len(idx), chunk):
        x, masks = dd.batch(idx[start : start + chunk])
        with autocast(dd.device, amp, cache=cache):
            out = model(x, masks)
        zs.append(out["z"].float().clone())  # clone: see predict_logits
        qs.append(out["q"].float().clone())
    model.train(was_training)
    return {"z": torch.cat(zs), "q": torch.cat(qs)}


def init_centers(model: nn.Module, z: torch.Tensor, *, n_clusters: int, n_init: int, seed: int,
                 labeled_pos: torch.Tensor | None = None, min_share: float = 0.0,
                 remedy: str = "none") -> tuple[np.ndarray, dict[str, Any]]:  # fmt: skip
    """Start the cluster centres: k-means on ``z``, checked, remedied if degenerate.

    k-means (``n_init`` restarts, set explicitly) runs first. Its start is *degenerate* when
    its smallest cluster holds fewer than ``min_share`` of the rows (a few outliers in one
    cluster, every other row in the other: DEC's KL term then has nothing to sharpen). A
    degenerate start is then replaced by ``remedy``:

    * ``none``: kept as it is (the paper's recipe);
    * ``labeled_means``: centre j = the mean ``z`` of the labeled training rows of class j (the
      labels the supervised term trains on, nothing else), rows assigned to the nearest
      centre. Two clusters only (cluster j = class j): with more, or without labeled rows of
      both classes, the start is kept and the warning says why.

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
    if n_clusters == 2 and lp is not None:
        share = [lp[(assign == j) & (lp >= 0)].mean() if ((assign == j) & (lp >= 0)).any()
                 else 0.5 for j in range(2)]  # fmt: skip
        if share[0] > share[1]:
            centers, assign = centers[::-1].copy(), 1 - assign
    sizes = np.bincount(assign, minlength=n_clusters)
    degenerate = bool(sizes.min() < min_share * len(assign))
    info = {"kmeans_sizes": sizes.tolist(), "degenerate": degenerate, "min_share": min_share,
            "remedy": None}  # fmt: skip
    if remedy not in ("none", "labeled_means"):
        raise ValueError(f"dec.degenerate_remedy={remedy!r}: expected 'none' or 'labeled_means'")
    applied = remedy
    if degenerate and remedy == "labeled_means":
        if n_clusters != 2 or lp is None or not all((lp == j).any() for j in range(2)):
            applied = "none (labeled_means needs two clusters and labeled rows of both classes)"
        else:
            centers = np.stack([zz[lp == j].mean(0) for j in range(2)])
            assign = ((zz[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
            info["remedy"] = remedy
    if degenerate:
        warnings.warn(f"DEC k-means start is degenerate: cluster sizes {sizes.tolist()} (the "
                      f"smallest < {min_share:.0%} of the rows); remedy: {applied}",
                      stacklevel=3)  # fmt: skip
    info["sizes"] = np.bincount(assign, minlength=n_clusters).tolist()
    model.cluster_centers.data.copy_(torch.as_tensor(centers, dtype=torch.float32))
    return assign, info


_DEC_TERMS = ("loss", "kl", "recon", "sup", "disent")
"""The terms of ``losses.dec_objective`` averaged into each DEC history row."""


def fit_dec(
    model: nn.Module,
    dd: DeviceData,
    *,
    rows: np.ndarray,
    labeled_rows: np.ndarray,
    cfg_dec,
    zero_policy: str = "has0",
    seed: int = 0,
    amp: bool = False,
    progress: bool = True,
    hooks: list[Hook] | None = None,
    cuda_graphs: bool = False,
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
        rows: rows whose features are used (paper: every segment).
        labeled_rows: rows whose labels the supervised term may use (labeled training pool).
        cfg_dec: a ``DECConfig``.
        zero_policy: binary target of the supervised term (non0 drops zero scores).
        seed: shuffling and k-means seed.
        amp, progress, hooks: as in ``fit_classifier``; hook rows carry a ``stage`` column.
        cuda_graphs: on CUDA, replay each stage's training step as a CUDA graph per batch size
            (``graphs.StepRunner``; P lives in one tensor refreshed in place) and stage 2's
            target-update forward as another (``graphs.ForwardRunner``); ignored elsewhere.

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
    from tqdm import tqdm

    device = dd.device
    all_idx = torch.as_tensor(np.asarray(rows), dtype=torch.long, device=device)
    # per-row label for the supervised term: class index, or -1 where hidden / unusable
    y = torch.full((dd.n,), -1, dtype=torch.long, device=device)
    lab = torch.as_tensor(np.asarray(labeled_rows), dtype=torch.long, device=device)
    pos, keep = metrics.binary_target(dd.scores.index_select(0, lab), zero_policy)
    y[lab[keep]] = pos[keep].long()
    gen = torch.Generator().manual_seed(seed)
    history: list[dict[str, Any]] = []
    use_graphs = cuda_graphs and graphs.supported(device)
    # the terms' running sums stay on the device (one host sync per epoch, not per batch) and
    # P in one tensor; both changed in place only, so that a captured step reads them
    sums = torch.zeros(len(_DEC_TERMS), dtype=torch.float64 if device.type != "mps"
                       else torch.float32, device=device)  # fmt: skip
    p_all = torch.zeros(len(all_idx), cfg_dec.n_clusters, device=device)

    def adam(params, lr: float) -> torch.optim.Adam:
        return torch.optim.Adam(params, lr=lr, capturable=graphs.capturable(use_graphs, device))

    def stage_runner(stage: int, opt, weights: dict) -> graphs.StepRunner:
        def step(bidx: torch.Tensor) -> None:
            ridx = all_idx.index_select(0, bidx)
            x, masks = dd.batch(ridx)
            with autocast(device, amp, cache=not use_graphs):
                out = model(x, masks)
            terms = losses.dec_objective(
                out, x, masks, weights=weights, class_head=model.class_head,
                p=None if stage == 1 else p_all.index_select(0, bidx),
                y=None if stage == 1 else y.index_select(0, ridx),
            )  # fmt: skip
            terms["loss"].backward()
            opt.step()
            with torch.no_grad():
                sums.add_(torch.stack([terms[k].detach().to(sums.dtype) for k in _DEC_TERMS])
                          * len(bidx))  # fmt: skip

        return graphs.StepRunner(step, optimizer=opt, device=device, enabled=use_graphs)

    def run_epoch(stage: int, epoch: int, runner: graphs.StepRunner):
        t0 = time.perf_counter()
        # stage 2 in eval mode: the batch Q is computed as P's Q was (no dropout, BatchNorm
        # running statistics), so KL(P || Q) compares like with like
        model.train(stage == 1 or cfg_dec.stage2_mode == "train")
        sums.zero_()
        n = 0
        for bidx in minibatches(torch.arange(len(all_idx), device=device), cfg_dec.batch_size,
                                gen):  # fmt: skip
            runner(bidx)
            n += len(bidx)
        opt = runner.optimizer
        row = {"stage": stage, "epoch": epoch,
               **{k: v / n for k, v in zip(_DEC_TERMS, sums.tolist(), strict=True)},
               "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}  # fmt: skip
        history.append(row)
        return row

    # -- stage 1: autoencoder only. The centres are not trained and get no gradient: a gradient
    # outside the optimizer is never cleared by zero_grad, and under CUDA graphs
    # (system.compile_mode=reduce-overhead) accumulating into it reads a graph output that a
    # later replay overwrote: the error the study's DEC stopped with on an H100.
    params1 = [p for n_, p in model.named_parameters() if n_ != "cluster_centers"]
    opt1 = adam(params1, cfg_dec.stage1_lr)
    runner = stage_runner(1, opt1, losses.dec_stage_weights(cfg_dec, 1))
    bar = tqdm(range(1, cfg_dec.stage1_epochs + 1), desc="DEC stage 1", disable=not progress,
               leave=False)  # fmt: skip
    model.cluster_centers.requires_grad_(False)
    try:
        for epoch in bar:
            row = run_epoch(1, epoch, runner)
            bar.set_postfix(recon=f"{row['recon']:.4f}")
            _fire(hooks, Event("epoch_end", epoch, model, opt1, row))
    finally:
        model.cluster_centers.requires_grad_(True)
    bar.close()
    _fire(hooks, Event("stage_end", cfg_dec.stage1_epochs, model, opt1, {"stage": 1}))

    # -- stage 2: k-means init, then KL + reconstruction + supervision
    first = dec_forward_all(model, dd, all_idx, amp=amp)
    labeled_pos = y.index_select(0, all_idx)
    assign_prev, center_init = init_centers(
        model, first["z"], n_clusters=cfg_dec.n_clusters, n_init=cfg_dec.kmeans_n_init,
        seed=seed, labeled_pos=labeled_pos, min_share=cfg_dec.min_cluster_share,
        remedy=cfg_dec.degenerate_remedy)  # fmt: skip
    steps = runner.counts()
    del runner  # frees stage 1's graphs
    opt2 = adam(model.parameters(), cfg_dec.stage2_lr)
    runner = stage_runner(2, opt2, losses.dec_stage_weights(cfg_dec, 2))
    # the target update's forward over the same rows every time: under cuda_graphs a graph
    q_forward = graphs.ForwardRunner(
        lambda: dec_forward_all(model, dd, all_idx, amp=amp, cache=not use_graphs)["q"],
        device=device, enabled=use_graphs, what="target update's forward")  # fmt: skip
    stopped_early, delta = False, float("nan")
    stop = {"reason": "budget" if cfg_dec.stage2_epochs else "no stage 2",
            "epoch": cfg_dec.stage2_epochs}  # fmt: skip
    sizes = np.bincount(assign_prev, minlength=cfg_dec.n_clusters)
    bar = tqdm(range(1, cfg_dec.stage2_epochs + 1), desc="DEC stage 2", disable=not progress,
               leave=False)  # fmt: skip
    for epoch in bar:
        if (epoch - 1) % cfg_dec.update_interval == 0:
            q_all = q_forward()  # consumed before the next call (a graph's static output)
            p_all.copy_(losses.target_distribution(q_all))
            assign = q_all.argmax(1).cpu().numpy()
            delta = float((assign != assign_prev).mean())
            sizes = np.bincount(assign, minlength=cfg_dec.n_clusters)
            if sizes.min() < 0.02 * len(assign):
                warnings.warn(
                    f"DEC stage 2 epoch {epoch}: cluster collapse, sizes {sizes.tolist()}",
                    stacklevel=2,
                )
            _fire(hooks, Event("target_update", epoch, model, opt2,
                               {"delta_label": delta, "sizes": sizes.tolist()}))  # fmt: skip
            if epoch > 1 and delta < cfg_dec.tol:
                stopped_early = True
                stop = {"reason": "tol", "epoch": epoch - 1}
                break
            assign_prev = assign
        row = run_epoch(2, epoch, runner)
        row["delta_label"] = delta
        row.update({f"size_{j}": int(c) for j, c in enumerate(sizes)})
        bar.set_postfix(loss=f"{row['loss']:.4f}", delta=f"{delta:.4f}")
        _fire(hooks, Event("epoch_end", epoch, model, opt2, row))
    bar.close()
    final = dec_forward_all(model, dd, all_idx, amp=amp)
    _fire(hooks, Event("stage_end", cfg_dec.stage2_epochs, model, opt2, {"stage": 2}))
    steps = graphs.merge_counts(steps, runner.counts())
    return {
        "history": history, "z": final["z"].cpu().numpy(), "q": final["q"].cpu().numpy(),
        "assign": final["q"].argmax(1).cpu().numpy(), "stopped_early": stopped_early,
        "stage2_stop": {**stop, "delta_label": delta},  # the last target update's share
        "center_init": center_init, "rows": np.asarray(rows), "steps": steps,
        "target_forwards": q_forward.counts(),
    }  # fmt: skip
