"""The epoch loop over mini-batches (``train.loop``, ``train.loop``)."""

import torch

from mosi_lib.train.loop import minibatches, train_epoch


def test_minibatches_cover_rows_once_and_drop_lone_row():
    idx = torch.arange(10)
    got = list(minibatches(idx, 4, torch.Generator().manual_seed(0)))
    assert [len(b) for b in got] == [4, 4, 2]
    assert sorted(torch.cat(got).tolist()) == list(range(10))
    got = list(minibatches(torch.arange(9), 4, None))
    assert [len(b) for b in got] == [4, 4]  # a lone final row cannot train BatchNorm


def test_train_epoch_steps_every_batch_and_reads_the_sums_once():
    sums = torch.full((2,), 7.0)  # zeroed by the loop before the first step
    seen = []

    def step(bidx):
        seen.append(bidx.tolist())
        sums[0] += len(bidx)
        sums[1] += bidx.sum()

    n, values = train_epoch(step, minibatches(torch.arange(10), 4, None), sums=sums)
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert n == 10 and values == [10.0, 45.0]
    assert train_epoch(lambda b: None, [torch.arange(3)]) == (3, [])
