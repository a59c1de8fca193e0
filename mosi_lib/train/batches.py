"""Data on the device: a data set moved once as tensors, and its shuffled mini-batches.

The whole data set lives on the device and a mini-batch is a LongTensor of row numbers,
gathered with ``index_select`` inside the training step (no ``DataLoader``, no per-batch host
copies; ``mosi_lib.bench`` compares the two).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


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
