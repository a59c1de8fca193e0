"""Shared fixtures: a tiny config, a small hand-built raw data set, isolated run/data folders,
an emulated CUDA-graph capture for CPUs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from mosi_lib.config import Config, smoke
from mosi_lib.data.raw import RawData
from mosi_lib.train import graphs, loop


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """Every test writes runs, figures and caches under its own tmp folder."""
    monkeypatch.setenv("MOSI_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MOSI_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("MOSI_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(autouse=True)
def _no_encoder_download(monkeypatch):
    """No test downloads an encoder: MiniLM (a pinned dependency) is the suite's text input, and
    a test that reaches ``contextual.pip_download`` fails, named."""
    from mosi_lib.data import contextual

    def refuse(part, dest):
        raise contextual.InstallError(f"a test asked to download {part.package}: the suite "
                                           "reads MiniLM (data.word_vectors=minilm-l6)")

    monkeypatch.setattr(contextual, "pip_download", refuse)


@pytest.fixture(autouse=True)
def _restore_determinism():
    """A run with ``system.deterministic`` (the tiny config's) turns PyTorch's deterministic
    algorithms on for the whole process; turn them back after each test, so that a later test
    (on CUDA: a captured graph, an ``index_add`` backward) runs as it would alone."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


@pytest.fixture
def tiny_config() -> Config:
    """Smoke-shrunk config with a small model (fast on CPU)."""
    cfg = smoke(Config())
    cfg.data.source, cfg.data.modalities = "synthetic", ["text", "audio", "visual"]
    cfg.model.d_model, cfg.model.ff_dim, cfg.model.latent_dim = 16, 32, 8
    cfg.model.head_dims = [4]
    cfg.data.max_len = 6
    cfg.dec.decoder_hidden = 16
    cfg.train.batch_size = cfg.dec.batch_size = 32
    cfg.system.deterministic = True
    # one hand-built data set serves every seed (data.draw=seed draws again through
    # prepare_data: test_runs.py tests that)
    cfg.data.draw = "fixed"
    return cfg


def make_raw(n: int = 120, seed: int = 0, dims=None) -> RawData:
    """Random variable-length segments with a learnable sign in the text modality."""
    rng = np.random.default_rng(seed)
    dims = dims or {"text": 5, "audio": 3, "visual": 4}
    labels = np.round(rng.uniform(-3, 3, n), 1).astype(np.float32)
    labels[:4] = 0.0
    lengths = rng.integers(1, 10, n)
    feats = {m: [] for m in dims}
    for i in range(n):
        for m, d in dims.items():
            x = rng.normal(size=(lengths[i], d)).astype(np.float32)
            if m == "text":
                x[:, 0] += 1.5 * np.sign(labels[i] + 1e-3)
            feats[m].append(x)
    video = np.array([f"v{i % 12:02d}" for i in range(n)])
    ids = np.array([f"{v}_{i}" for i, v in enumerate(video)])
    return RawData(ids=ids, video=video, labels=labels, features=feats, source="synthetic",
                   synthetic=True)


@pytest.fixture
def raw() -> RawData:
    """A small hand-built ``RawData``."""
    return make_raw()


class _ExternalReads(TorchDispatchMode):
    """Storages of the tensors an operation reads that no earlier operation of the same call
    produced: what a CUDA graph would read from memory allocated outside it."""

    # operators that wait for the GPU (a value or a data-dependent size on the host): a
    # capture fails on them
    SYNCS = ("aten::_local_scalar_dense", "aten::nonzero", "aten::masked_select",
             "aten::_unique2", "aten::unique_consecutive", "aten::repeat_interleave")

    def __init__(self):
        super().__init__()
        self.made, self.read, self.syncs = set(), set(), []
        self.in_optimizer = False

    def __enter__(self):
        # a CPU Adam reads its step count with .item(); on CUDA the runner's optimizer is
        # built capturable (the count stays on the GPU), so the optimizer's syncs don't count
        self._hooks = [
            register_optimizer_step_pre_hook(lambda *a: setattr(self, "in_optimizer", True)),
            register_optimizer_step_post_hook(lambda *a: setattr(self, "in_optimizer", False)),
        ]
        return super().__enter__()

    def __exit__(self, *exc):
        for h in self._hooks:
            h.remove()
        return super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func._schema.name in self.SYNCS and not self.in_optimizer:
            self.syncs.append(func._schema.name)

        def ptr(t):
            return t.untyped_storage().data_ptr() if t.device.type != "meta" else None

        for t in tree_flatten((args, kwargs or {}))[0]:
            if isinstance(t, torch.Tensor) and t.numel() and ptr(t) not in self.made:
                self.read.add((ptr(t), t.storage_offset(), tuple(t.shape), t.dtype))
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.numel():
                self.made.add(ptr(t))
        return out


class Emulated:
    """A capture backend for CPUs: ``capture`` records ``fn`` and a replay calls it again.

    A real graph replays the memory addresses it was captured with, so every replay must read
    the same outside tensors as the first one (the same storages, offsets and shapes): a step
    that rebinds a running sum or P to a new tensor instead of changing it in place, or an
    optimizer whose state was replaced, fails here as it would silently misbehave on a GPU.
    """

    def __init__(self):
        self.captures = 0
        self.replaying = False  # what ``system.capturing`` answers (patched by the fixture)

    def eager(self, fn):
        fn()

    def capture(self, fn):
        self.captures += 1
        first = []

        def replay():
            self.replaying = True
            try:
                with _ExternalReads() as reads:
                    fn()
            finally:
                self.replaying = False
            assert not reads.syncs, f"the step synchronises with the host: {reads.syncs}"
            if not first:
                first.append(reads.read)
            assert reads.read == first[0], "a replay read tensors the first replay did not"

        return replay


@pytest.fixture
def emulated(monkeypatch) -> Emulated:
    """``system.cuda_graphs`` on a CPU, with ``Emulated`` as the capture backend."""
    backend = Emulated()
    monkeypatch.setattr(graphs, "supported", lambda device: True)
    monkeypatch.setattr(graphs, "make_backend", lambda device: backend)
    # code that takes another path while a graph is captured takes it in an emulated replay
    monkeypatch.setattr(loop, "capturing", lambda: backend.replaying)
    return backend
