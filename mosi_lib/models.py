"""Per-modality transformer classifier and the multimodal DEC autoencoder that pretrains it.

References:
    * Paper section 3.2: one Transformer encoder per modality (linear projection, sinusoidal
      positional encoding, ``nn.TransformerEncoder``, masked mean pooling), concatenation, then
      FC -> BatchNorm -> ReLU -> Dropout (the latent z) and narrowing FC layers to one logit.
    * Paper section 3.3 / Xie et al. 2016, "Unsupervised Deep Embedding for Clustering
      Analysis" (DEC): the same encoder, per-modality decoders and Student-t cluster centres.
    * Vaswani et al. 2017, "Attention Is All You Need", section 3.5 (sinusoidal encoding).

Shape letters used in every docstring and shape comment:
    B batch, T time steps (padded length), D features (D_m for modality m), M modalities,
    L latent width (``latent_dim``), K clusters, H hidden width.

Inputs everywhere are two dicts keyed by modality name in ``MODALITIES`` order:
``x[m]`` float (B, T, D_m) and ``masks[m]`` bool (B, T), True = valid step. Each modality has
its own mask because unaligned data can have different lengths per modality.

"""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from typing import Any

import torch
from torch import Tensor, nn

from mosi_lib.config import MODALITIES, DECConfig, ModelConfig
from mosi_lib.losses import soft_assignment

# ---- helpers


def _canonical_dims(dims: dict[str, int]) -> dict[str, int]:
    """Return ``dims`` in MODALITIES order; raise on unknown names or an empty dict."""
    unknown = [m for m in dims if m not in MODALITIES]
    if unknown or not dims:
        raise ValueError(
            f"dims={dims!r}: expected a non-empty mapping with keys from {list(MODALITIES)}"
        )
    return {m: int(dims[m]) for m in MODALITIES if m in dims}


def _check_inputs(x: dict[str, Tensor], masks: dict[str, Tensor], dims: dict[str, int]) -> None:
    """Raise ``ValueError`` naming the modality when an input is missing or mis-shaped."""
    for m, d in dims.items():
        if m not in x or m not in masks:
            raise ValueError(
                f"modality {m!r} missing from inputs: x has {list(x)}, masks has {list(masks)}"
            )
        xm, mm = x[m], masks[m]
        if xm.dim() != 3 or xm.shape[-1] != d:
            raise ValueError(f"x[{m!r}] has shape {tuple(xm.shape)}; expected (B, T, {d})")
        if mm.dtype != torch.bool or tuple(mm.shape) != tuple(xm.shape[:2]):
            raise ValueError(
                f"masks[{m!r}] has shape {tuple(mm.shape)} dtype {mm.dtype}; "
                f"expected bool {tuple(xm.shape[:2])}"
            )


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Count parameter values (not tensors) of ``model``.

    Args:
        model: any module.
        trainable_only: count only parameters with ``requires_grad``.

    Returns:
        The total number of scalar parameter values.

    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# ---- encoder


class PositionalEncoding(nn.Module):
    """Fixed sinusoidal positional encoding added to a (B, T, d_model) sequence."""

    def __init__(self, *, d_model: int, max_len: int, dropout: float = 0.0):
        super().__init__()
        pos = torch.arange(max_len, dtype=torch.float32)[:, None]  # (T, 1)
        freq = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * freq)
        pe[:, 1::2] = torch.cos(pos * freq)[:, : d_model // 2]  # odd d_model: one fewer cos
        # not persistent: a function of (max_len, d_model) only, so it stays out of checkpoints
        self.register_buffer("pe", pe, persistent=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: Tensor) -> Tensor:
        """Add the encoding of steps 0..T-1.

        Args:
            h: (B, T, d_model) with T <= max_len.

        Returns:
            (B, T, d_model).

        """
        t = h.shape[1]
        if t > self.pe.shape[0]:
            raise ValueError(
                f"sequence has {t} steps; this model was built for max_len <= {self.pe.shape[0]}"
            )
        return self.dropout(h + self.pe[:t].to(h.dtype))


class ModalityEncoder(nn.Module):
    """One modality: Linear(D_m -> d_model), positional encoding, Transformer, masked mean pool."""

    def __init__(
        self,
        *,
        in_dim: int,
        d_model: int,
        n_layers: int,
        n_heads: int,
        ff_dim: int,
        dropout: float,
        max_len: int,
    ):
        super().__init__()  # d_model % n_heads == 0: config.validate (nn.MultiheadAttention too)
        self.proj = nn.Linear(in_dim, d_model)
        self.pos = PositionalEncoding(d_model=d_model, max_len=max_len, dropout=dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=d_model,
            nhead=n_heads,
            dim_feedforward=ff_dim,
            dropout=dropout,
            batch_first=True,
        )
        # no nested-tensor fast path: same code path (and padded outputs) in train and eval
        self.transformer = nn.TransformerEncoder(
            layer, num_layers=n_layers, enable_nested_tensor=False
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """Encode and pool one modality.

        Args:
            x: (B, T, D_m) features.
            mask: (B, T) bool, True = valid step.

        Returns:
            (B, d_model) mean of the transformer outputs over valid steps; zeros for a row
            with no valid step.

        """
        h = self.pos(self.proj(x))  # (B, T, d_model)
        empty = ~mask.any(dim=1)  # (B,) rows with no valid step
        # a row with every key masked makes attention softmax over nothing -> NaN; let such
        # rows attend to step 0 inside the transformer (their pooled output is zeroed below)
        attn_mask = mask.clone()
        attn_mask[:, 0] |= empty
        h = self.transformer(h, src_key_padding_mask=~attn_mask)  # (B, T, d_model)
        # masked_fill, not multiply: a padded step can never leak into the mean
        h = h.masked_fill(~mask[..., None], 0.0)
        n_valid = mask.sum(dim=1, keepdim=True).clamp_min(1).to(h.dtype)  # (B, 1)
        return h.sum(dim=1) / n_valid  # (B, d_model)


class MultimodalEncoder(nn.Module):
    """Per-modality encoders, concatenation, then FC -> BatchNorm1d -> ReLU -> Dropout = z."""

    def __init__(self, cfg: ModelConfig, dims: dict[str, int], max_len: int):
        """Build from the model section.

        Args:
            cfg: ``cfg.model`` (widths, layers, heads, dropouts).
            dims: modality -> D_m.
            max_len: the padded length T.
        """
        super().__init__()
        self.dims = _canonical_dims(dims)
        self.encoders = nn.ModuleDict(
            {
                m: ModalityEncoder(
                    in_dim=d,
                    d_model=cfg.d_model,
                    n_layers=cfg.n_layers,
                    n_heads=cfg.n_heads,
                    ff_dim=cfg.ff_dim,
                    dropout=cfg.enc_dropout,
                    max_len=max_len,
                )
                for m, d in self.dims.items()
            }
        )
        self.fusion = nn.Sequential(
            nn.Linear(len(self.dims) * cfg.d_model, cfg.latent_dim),
            nn.BatchNorm1d(cfg.latent_dim),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
        )

    def forward(self, x: dict[str, Tensor], masks: dict[str, Tensor]) -> Tensor:
        """Encode a batch into the latent z.

        Args:
            x: modality -> (B, T, D_m); keys beyond this model's modalities are ignored.
            masks: modality -> (B, T) bool, True = valid step.

        Returns:
            z: (B, L).

        """
        _check_inputs(x, masks, self.dims)
        pooled = [enc(x[m], masks[m]) for m, enc in self.encoders.items()]  # M x (B, d_model)
        return self.fusion(torch.cat(pooled, dim=-1))  # (B, M*d_model) -> (B, L)


# ---- classifier


class SentimentClassifier(nn.Module):
    """Multimodal encoder followed by narrowing FC layers to one sentiment logit."""

    kind = "classifier"

    def __init__(self, cfg: ModelConfig, dims: dict[str, int], max_len: int):
        """Args: ``cfg`` the model section, ``dims`` modality -> D_m, ``max_len`` T."""
        super().__init__()
        # everything needed to rebuild this model from a checkpoint (see ``rebuild``)
        self.init_kwargs: dict[str, Any] = {
            "model": asdict(cfg),
            "dims": dict(dims),
            "max_len": int(max_len),
        }
        self.encoder = MultimodalEncoder(cfg, dims, max_len)
        layers: list[nn.Module] = []
        width = cfg.latent_dim
        for h in cfg.head_dims:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.head = nn.Sequential(*layers)

    def encode(self, x: dict[str, Tensor], masks: dict[str, Tensor]) -> Tensor:
        """Return the latent z (B, L) (fusion output, before the head)."""
        return self.encoder(x, masks)

    def forward(self, x: dict[str, Tensor], masks: dict[str, Tensor]) -> Tensor:
        """Score a batch.

        Args:
            x: modality -> (B, T, D_m).
            masks: modality -> (B, T) bool, True = valid step.

        Returns:
            logits: (B,), positive = positive sentiment.

        """
        return self.head(self.encoder(x, masks)).squeeze(-1)  # (B, 1) -> (B,)


# ---- DEC


class SequenceDecoder(nn.Module):
    """Time-conditioned MLP: step t of the output is Linear(ReLU(Linear(z) + e_t)), e_t learned.

    Shares its weights across steps, so its size grows with T*H + H*D rather than the
    T*D*H of a flat ``Linear(H, T*D)`` output layer.
    """

    def __init__(self, *, latent_dim: int, hidden: int, out_dim: int, max_len: int):
        super().__init__()
        self.inp = nn.Linear(latent_dim, hidden)
        self.step = nn.Parameter(torch.randn(max_len, hidden) * 0.02)  # (T, H) step embedding
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, z: Tensor, n_steps: int) -> Tensor:
        """Reconstruct a padded sequence.

        Args:
            z: (B, L).
            n_steps: T, at most ``max_len``.

        Returns:
            (B, T, D).

        """
        h = self.inp(z)[:, None, :] + self.step[None, :n_steps]  # (B, 1, H) + (1, T, H)
        return self.out(torch.relu(h))  # (B, T, D)


class DECModel(nn.Module):
    """Multimodal autoencoder with Student-t cluster centres on its latent (multimodal DEC)."""

    kind = "dec"

    def __init__(
        self,
        cfg: ModelConfig,
        cfg_dec: DECConfig,
        dims: dict[str, int],
        max_len: int,
        n_classes: int = 2,
    ):
        """Build from the model and DEC sections.

        Args:
            cfg: ``cfg.model`` (the encoder, exactly as the classifier's).
            cfg_dec: ``cfg.dec`` (clusters, decoder width, alpha).
            dims: modality -> D_m.
            max_len: the padded length T.
            n_classes: classes of the supervised term.
        """
        super().__init__()  # n_clusters >= 2: config.validate
        self.init_kwargs: dict[str, Any] = {
            "model": asdict(cfg),
            "dec": asdict(cfg_dec),
            "dims": dict(dims),
            "max_len": int(max_len),
            "n_classes": n_classes,
        }
        self.alpha = cfg_dec.alpha
        # same class as SentimentClassifier.encoder: weights map one-to-one (transfer_encoder)
        self.encoder = MultimodalEncoder(cfg, dims, max_len)
        self.decoders = nn.ModuleDict(
            {
                m: SequenceDecoder(
                    latent_dim=cfg.latent_dim,
                    hidden=cfg_dec.decoder_hidden,
                    out_dim=d,
                    max_len=max_len,
                )
                for m, d in self.encoder.dims.items()
            }
        )
        k = cfg_dec.n_clusters
        # zeros until the caller sets them from k-means on z (stage 2 start)
        self.cluster_centers = nn.Parameter(torch.zeros(k, cfg.latent_dim))  # (K, L)
        # with K == 2 cluster j is class j; otherwise a small map from Q to the classes
        self.class_head = nn.Linear(k, n_classes) if k != 2 else None

    def forward(self, x: dict[str, Tensor], masks: dict[str, Tensor]) -> dict[str, Any]:
        """Encode, reconstruct and soft-assign a batch.

        Args:
            x: modality -> (B, T, D_m).
            masks: modality -> (B, T) bool, True = valid step.

        Returns:
            ``z`` (B, L); ``recon`` modality -> (B, T, D_m) (padded steps included; the loss
            masks them); ``q`` (B, K) Student-t soft assignments.

        """
        z = self.encoder(x, masks)  # (B, L)
        recon = {m: dec(z, x[m].shape[1]) for m, dec in self.decoders.items()}
        q = soft_assignment(z, self.cluster_centers, self.alpha)  # (B, K)
        return {"z": z, "recon": recon, "q": q}


# ---- builders


def build_classifier(
    cfg_model: ModelConfig, dims: dict[str, int], max_len: int
) -> SentimentClassifier:
    """Build the classifier from the model config (kept for callers; same as the class).

    Args:
        cfg_model: ``cfg.model``.
        dims: modality -> feature width D_m (the data's modalities).
        max_len: padded sequence length T (``Processed.max_len``).

    Returns:
        A ``SentimentClassifier``; ``model.init_kwargs`` rebuilds it via ``rebuild``.

    """
    return SentimentClassifier(cfg_model, dims, max_len)


def build_dec(
    cfg_model: ModelConfig, cfg_dec: DECConfig, dims: dict[str, int], max_len: int
) -> DECModel:
    """Build the DEC model whose encoder matches ``build_classifier(cfg_model, ...)``."""
    return DECModel(cfg_model, cfg_dec, dims, max_len)


_KINDS = {"classifier": SentimentClassifier, "dec": DECModel}

_ENCODER_KEYS = (
    "d_model",
    "n_layers",
    "n_heads",
    "ff_dim",
    "enc_dropout",
    "latent_dim",
    "dropout",
)


def _sections(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``init_kwargs`` grouped into config sections, as this version writes them.

    Flat keyword ``init_kwargs`` of earlier checkpoints are converted (the same fields).
    """
    if "model" in kwargs:
        return kwargs
    model = {k: kwargs[k] for k in _ENCODER_KEYS}
    model["head_dims"] = list(kwargs.get("head_dims", ModelConfig().head_dims))
    out = {"model": model, "dims": kwargs["dims"], "max_len": kwargs["max_len"]}
    if "n_clusters" in kwargs:
        out["dec"] = {
            "n_clusters": kwargs["n_clusters"],
            "decoder_hidden": kwargs["decoder_hidden"],
            "alpha": kwargs["alpha"],
        }
        out["n_classes"] = kwargs.get("n_classes", 2)
    return out


def rebuild(kind: str, kwargs: dict[str, Any]) -> nn.Module:
    """Rebuild a freshly initialised model from a checkpoint's ``kind`` and ``init_kwargs``.

    Args:
        kind: ``"classifier"`` or ``"dec"`` (the class attribute ``model.kind``).
        kwargs: ``model.init_kwargs`` (config sections, dims, max_len; flat keywords of
            checkpoints written by earlier versions are read too).

    Returns:
        The model (load the checkpoint's state_dict into it afterwards).

    """
    if kind not in _KINDS:
        raise ValueError(f"model kind {kind!r}: expected one of {list(_KINDS)}")
    kw = _sections(kwargs)
    model_cfg = ModelConfig(**kw["model"])
    if kind == "classifier":
        return SentimentClassifier(model_cfg, kw["dims"], kw["max_len"])
    dec_cfg = DECConfig(
        **{k: v for k, v in kw["dec"].items() if k in {f.name for f in fields(DECConfig)}}
    )
    return DECModel(
        model_cfg, dec_cfg, kw["dims"], kw["max_len"], n_classes=kw.get("n_classes", 2)
    )


def transfer_encoder(dec: DECModel, clf: SentimentClassifier) -> dict[str, Any]:
    """Copy the pretrained DEC encoder (parameters and BatchNorm buffers) into the classifier.

    Args:
        dec: the pretrained ``DECModel``.
        clf: the classifier to initialise; changed in place.

    Returns:
        ``copied``: classifier state_dict names overwritten (all under ``encoder.``);
        ``not_copied``: classifier names left at their initial values (the head);
        ``n_copied_params``: number of scalar parameter values copied (buffers excluded).

    Raises:
        ValueError: naming the first tensor whose name or shape differs between the encoders
            (e.g. different modalities or widths); nothing is copied then.

    """
    src, dst = dec.encoder.state_dict(), clf.encoder.state_dict()
    for name in list(dst) + [n for n in src if n not in dst]:
        if name not in src or name not in dst:
            where = "DEC" if name not in src else "classifier"
            raise ValueError(f"encoder tensor {name!r} is missing from the {where} encoder")
        if src[name].shape != dst[name].shape:
            raise ValueError(
                f"encoder tensor {name!r}: DEC shape {tuple(src[name].shape)} != "
                f"classifier shape {tuple(dst[name].shape)}"
            )
    clf.encoder.load_state_dict(src, strict=True)
    param_names = {n for n, _ in clf.encoder.named_parameters()}
    return {
        "copied": [f"encoder.{n}" for n in dst],
        "not_copied": [n for n in clf.state_dict() if not n.startswith("encoder.")],
        "n_copied_params": sum(src[n].numel() for n in dst if n in param_names),
    }
