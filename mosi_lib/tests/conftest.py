"""Shared fixtures: a tiny config, a small hand-built raw data set, isolated run/data folders."""

from __future__ import annotations

import numpy as np
import pytest

from mosi_lib.config import Config, smoke
from mosi_lib.data import RawData


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    """Every test writes runs, figures and caches under its own tmp folder."""
    monkeypatch.setenv("MOSI_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MOSI_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("MOSI_DATA_DIR", str(tmp_path / "data"))


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
                   synthetic=True)  # fmt: skip


@pytest.fixture
def raw() -> RawData:
    """A small hand-built ``RawData``."""
    return make_raw()
