"""Forward passes in eval mode over chosen rows: classifier logits and metrics, DEC's z and q.

Each gathers its rows in chunks from the data on the device (``batches.DeviceData``) and
leaves the model in the mode it found it in.
"""

from __future__ import annotations

import torch
from torch import nn

from mosi_lib import metrics
from mosi_lib.losses import classifier_loss
from mosi_lib.train.batches import DeviceData
from mosi_lib.train.system import autocast


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    dd: DeviceData,
    idx: torch.Tensor,
    *,
    amp: bool = False,
    chunk: int = 1024,
    cache: bool = True,
) -> torch.Tensor:
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


def evaluate_classifier(
    model: nn.Module,
    dd: DeviceData,
    idx: torch.Tensor,
    zero_policy: str,
    *,
    amp: bool = False,
    objective: str = "bce",
    logits: torch.Tensor | None = None,
) -> dict[str, float]:
    """Loss and metrics of ``model`` on rows ``idx``.

    ``logits``: the model's logits on ``idx`` when the caller has them (a replayed validation
    forward, ``graphs.ForwardRunner``); computed here otherwise.

    Returns:
        ``loss`` (the training ``objective``, ``losses.classifier_loss``; non0 ignores zero
        scores), ``acc`` and ``f1`` under ``zero_policy``, every key of
        ``metrics.binary_metrics`` (positive class: output > 0) and of
        ``metrics.regression_metrics`` (MAE, Corr, Acc-7 on every row): computed when the
        output is a score (``objective="l1"``), None when it is a logit (``bce``: undefined).
    """
    if logits is None:
        logits = predict_logits(model, dd, idx, amp=amp)
    scores = dd.scores.index_select(0, idx)
    keep = metrics.binary_target(scores, zero_policy)[1]
    loss = classifier_loss(
        logits[keep], scores[keep], objective=objective, zero_policy=zero_policy
    ).item()
    out, true = logits.cpu().numpy(), scores.cpu().numpy()
    res = metrics.binary_metrics(out > 0, true)
    if objective == "l1":
        res.update(metrics.regression_metrics(out, true))
    else:
        res.update(dict.fromkeys(metrics.REGRESSION_KEYS))
    res["loss"] = loss
    res["acc"], res["f1"] = res[f"acc_{zero_policy}"], res[f"f1_{zero_policy}"]
    return res


@torch.no_grad()
def dec_forward_all(
    model: nn.Module,
    dd: DeviceData,
    idx: torch.Tensor,
    *,
    amp: bool = False,
    chunk: int = 1024,
    cache: bool = True,
) -> dict[str, torch.Tensor]:
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
