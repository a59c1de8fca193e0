"""Raw segments -> padded, scaled, split arrays, cached to HDF5 (paper section 4.1).

Raw segments -> padded, scaled, split arrays, cached to HDF5 (paper section 4.1).

Recipe, every choice a ``DataConfig`` field:

* **Pad/truncate** each modality to ``max_len`` steps (paper: 30). Truncation keeps the first
  ``max_len`` words; padding appends zeros at the end. A boolean mask per modality marks valid
  steps. A modality whose longest sequence is shorter (the one-step openSMILE audio of the
  embedded real data) is padded to its longest sequence only: padded steps are masked
  everywhere, so this saves compute and changes no result.
* **Scaling** (``scaling="minmax_zscore"``, the paper's): per modality and feature, min-max to
  [0, 1], then z-score, both fitted on the valid steps of *training rows only* (``split ==
  "train"``, labeled and unlabeled pools; features only, never labels). Note that a z-score after
  an affine min-max equals a z-score of the raw values up to floating point; we keep both steps
  because the paper lists both, and ``scaling="zscore"``/``"minmax"``/``"none"`` are available.
  Constant features (zero spread) are divided by 1 instead of 0. Padded steps stay 0 after scaling.
  ``clip`` (None: the paper's recipe) then clips every value to ``[-clip, clip]``: a constant,
  so no evaluation row informs it; it bounds rows far outside the training range.
* **Binary target** (``zero_policy``): ``has0`` trains on every labeled row with positive = score
  >= 0; ``non0`` drops exact zeros from the supervised loss (they still count as unlabeled rows for
  pretraining) with positive = score > 0. Evaluation reports both conventions either way
  (``mosi_lib.metrics``).
* **Protocols** (``protocol``):

  - ``paper``: a stratified (by has0 class), seeded draw puts ``labeled_fraction`` of all
    segments in the labeled pool and the rest in the unlabeled pool; inside each pool a
    stratified ``1 - val_fraction`` / ``val_fraction`` split gives train/valid rows. There is no
    test split: as in the paper, the best checkpoint is chosen and reported on the validation
    rows, which are the union of both pools' validation rows (one fixed evaluation set for every
    condition, 40% or all labels).
    Label budget: "40% labels" trains on 32% of the segments and selects the checkpoint on
    another 20% (both pools' validation rows), 52% in all; the tables state it. Across labeled
    fractions the validation rows change (they are drawn inside each pool), so a label sweep
    under this protocol is neither nested nor scored on the same rows: use ``standard``.
  - ``paper_strict``: the same pools and training rows as ``paper`` (same draws), but the
    checkpoint is selected on the labeled pool's validation rows only (40% labels = 32% + 8%)
    and reported on the unlabeled pool's validation rows, which become the ``test`` split.
  - ``standard``: the CMU-MultimodalSDK speaker-independent folds (52/10/31 videos, shipped in
    ``mosi_lib/resources``); ``labeled_fraction`` of the train fold is drawn (stratified, seeded)
    as the labeled pool. Selection on valid, report on test.

  Only training rows of the labeled pool have ``labeled == True``; validation and test labels
  never reach training, pretraining, the scaling statistics or the labeled mask.
* **Cache**: ``data/processed/mosi_<key>.h5`` where ``key`` hashes the data config, the preprocess
  version and each source file's name and content (sha256). A hit skips loading; a changed input
  or option gives a new key. The file carries a checksum of its own content: a file changed after
  it was written (same size and time or not) is named in a warning and rebuilt.

Split protocols: which rows train, select and report, and which labels are visible.

``make_splits`` assigns each segment a split (``train``/``valid``/``test``) and a pool
(``labeled``/``unlabeled``/``eval``) under ``data.protocol`` (``paper``, ``paper_strict``,
``standard``); the protocols and their label budgets are described in
``mosi_lib.data.preprocess`` (module docstring) and docs/method.md.
"""

from __future__ import annotations

import json
import os
import secrets
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mosi_lib import paths
from mosi_lib.config import MODALITIES, PROTOCOLS, DataConfig, config_hash
from mosi_lib.data import sources, text_audio
from mosi_lib.data.raw import check_data_quality
from mosi_lib.files import digest_arrays, naming
from mosi_lib.metrics import binary_target

# =============================================================================
# Split protocols: which rows train, select and report, and which labels are visible.

SPLITS = ("train", "valid", "test")

def _stratified_take(rng: np.random.Generator, idx: np.ndarray, strata: np.ndarray, frac: float):
    """Split ``idx`` into (taken, rest) with ``frac`` of each stratum taken (rounded)."""
    taken = []
    for s in np.unique(strata[idx]):
        members = idx[strata[idx] == s]
        members = rng.permutation(members)
        taken.append(members[: int(round(frac * len(members)))])
    taken = np.sort(np.concatenate(taken)) if taken else np.array([], int)
    return taken, np.setdiff1d(idx, taken)

def make_splits(
    labels: np.ndarray, video: np.ndarray, cfg: DataConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Assign each row a split and a pool under ``cfg.protocol``.

    Args:
        labels: (N,) scores (only their has0 sign is used, to stratify the draws).
        video: (N,) video ids (standard protocol).
        cfg: protocol, labeled_fraction, val_fraction, split_seed.

    Returns:
        ``(split, pool)`` string arrays (N,).
    """
    n = len(labels)
    rng = np.random.default_rng(cfg.split_seed)
    strata = (labels >= 0).astype(int)
    split = np.empty(n, dtype=object)
    pool = np.empty(n, dtype=object)
    if cfg.protocol in ("paper", "paper_strict"):
        lab, unl = _stratified_take(rng, np.arange(n), strata, cfg.labeled_fraction)
        pool[lab], pool[unl] = "labeled", "unlabeled"
        for members in (lab, unl):
            val, tr = _stratified_take(rng, members, strata, cfg.val_fraction)
            split[val], split[tr] = "valid", "train"
        if cfg.protocol == "paper_strict":  # same draws; held-out rows report, never select
            split[(pool == "unlabeled") & (split == "valid")] = "test"
    elif cfg.protocol == "standard":
        folds = json.loads(paths.STD_FOLDS_FILE.read_text())
        fold_of = {v: s for s in SPLITS for v in folds[f"standard_{s}_fold"]}
        unknown = sorted({v for v in video if v not in fold_of})
        if unknown:
            raise ValueError(
                f"protocol='standard': {len(unknown)} video ids are not in the standard folds "
                f"({paths.STD_FOLDS_FILE.name}), e.g. {unknown[:3]}"
            )
        split[:] = [fold_of[v] for v in video]
        pool[:] = "eval"
        train = np.flatnonzero(split == "train")
        lab, unl = _stratified_take(rng, train, strata, cfg.labeled_fraction)
        pool[lab], pool[unl] = "labeled", "unlabeled"
    else:
        raise ValueError(f"protocol={cfg.protocol!r}: expected one of {list(PROTOCOLS)}")
    split, pool = split.astype(str), pool.astype(str)
    check_labeled_counts(strata, split, pool, cfg)
    return split, pool


MIN_PER_CLASS = 2
"""Labeled segments of each binary class (has0) that every split which trains or selects on
labels must hold: fewer cannot train a classifier or choose a checkpoint."""


def check_labeled_counts(strata: np.ndarray, split: np.ndarray, pool: np.ndarray,
                         cfg: DataConfig) -> None:
    """Refuse a draw with fewer than ``MIN_PER_CLASS`` labeled rows of a class in a split.

    The labeled training rows, and the validation rows checkpoints are chosen on (the labeled
    pool's under the paper protocols; the whole validation fold under the standard one).

    Raises:
        ValueError: naming ``data.labeled_fraction``, the split and the counts.
    """
    train = (split == "train") & (pool == "labeled")
    valid = (split == "valid") & ((pool == "labeled") | (pool == "eval"))
    for name, rows in (("labeled training", train), ("validation", valid)):
        neg, pos = (int(((strata == c) & rows).sum()) for c in (0, 1))
        if min(neg, pos) < MIN_PER_CLASS:
            raise ValueError(f"data.labeled_fraction={cfg.labeled_fraction}: the {name} rows "
                             f"hold {pos} positive and {neg} negative segments (protocol "
                             f"{cfg.protocol}, data.split_seed={cfg.split_seed}); at least "
                             f"{MIN_PER_CLASS} of each class are needed: raise "
                             "data.labeled_fraction")


# =============================================================================
# Raw segments -> padded, scaled, split arrays, cached to HDF5 (paper section 4.1).

PREPROCESS_VERSION = 3  # 2: meta['description']; 3: a modality is padded to min(T, longest)


# ----------------------------------------------------------------------------- container


@dataclass
class Processed:
    """Preprocessed data set, every array indexed by segment (N rows).

    Attributes:
        x: modality -> float32 (N, T, D) scaled features, zeros on padded steps.
        masks: modality -> bool (N, T), True on valid steps.
        labels: float32 (N,) sentiment scores in [-3, 3].
        ids: segment ids (N,); video: video ids (N,).
        split: ``train`` / ``valid`` / ``test`` per row.
        pool: ``labeled`` / ``unlabeled`` (both protocols' train rows; paper valid rows too) or
            ``eval`` (standard protocol valid/test rows).
        labeled: bool (N,), True only for training rows of the labeled pool.
        stats: modality -> {"min", "max", "mean", "std"} float32 (D,) fitted on training rows.
        meta: source, synthetic flag, protocol, config, loader report, cache key.
    """

    x: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    labels: np.ndarray
    ids: np.ndarray
    video: np.ndarray
    split: np.ndarray
    pool: np.ndarray
    labeled: np.ndarray
    stats: dict[str, dict[str, np.ndarray]]
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def modalities(self) -> list[str]:
        """Modalities present, canonical order."""
        return [m for m in MODALITIES if m in self.x]

    @property
    def dims(self) -> dict[str, int]:
        """Feature width per modality."""
        return {m: int(self.x[m].shape[2]) for m in self.modalities}

    @property
    def max_len(self) -> int:
        """Longest padded sequence length T over the modalities (the models' ``max_len``)."""
        return max(int(x.shape[1]) for x in self.x.values())

    @property
    def synthetic(self) -> bool:
        """True when the data were generated (label every output "synthetic")."""
        return bool(self.meta.get("synthetic", False))

    @property
    def report_split(self) -> str:
        """Split whose metrics are reported: ``valid`` (paper protocol) or ``test`` (standard)."""
        return "test" if (self.split == "test").any() else "valid"

    def rows(self, split: str, pool: str | None = None) -> np.ndarray:
        """Indices of rows in ``split`` (and ``pool`` if given)."""
        sel = self.split == split
        if pool is not None:
            sel &= self.pool == pool
        return np.flatnonzero(sel)

    def train_rows(self, labels: str, zero_policy: str) -> np.ndarray:
        """Indices of the rows whose labels train the classifier.

        Args:
            labels: ``labeled`` (the labeled pool's training rows, e.g. 40%) or ``all`` (every
                training row; the "all labels" condition).
            zero_policy: ``has0`` keeps every row; ``non0`` drops rows whose score is exactly 0.

        Returns:
            Row indices (int64).
        """
        if labels == "labeled":
            sel = self.labeled.copy()
        elif labels == "all":
            sel = self.split == "train"
        else:
            raise ValueError(f"labels={labels!r}: expected 'labeled' or 'all'")
        return np.flatnonzero(sel & binary_target(self.labels, zero_policy)[1])


# ----------------------------------------------------------------------------- steps


def pad_truncate(seqs: list[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Pad (zeros at the end) or truncate (keep the first steps) to ``max_len``.

    Args:
        seqs: N arrays (T_i, D).
        max_len: output length T.

    Returns:
        ``(x (N, T, D) float32, mask (N, T) bool, n_truncated)``.
    """
    n, d = len(seqs), seqs[0].shape[1]
    x = np.zeros((n, max_len, d), np.float32)
    mask = np.zeros((n, max_len), bool)
    n_trunc = 0
    for i, s in enumerate(seqs):
        t = min(len(s), max_len)
        n_trunc += len(s) > max_len
        x[i, :t] = s[:t]
        mask[i, :t] = True
    return x, mask, n_trunc


def fit_scaler(x: np.ndarray, mask: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per-feature min, max, and mean/std after min-max, over valid steps of ``rows``.

    Args:
        x: (N, T, D) features; mask: (N, T) valid steps; rows: training row indices.

    Returns:
        ``{"min", "max", "mean", "std"}`` each float32 (D,); ``mean``/``std`` are of the
        min-max-scaled values.
    """
    vals = x[rows][mask[rows]].astype(np.float64)  # (n_valid_steps, D)
    if len(vals) == 0:
        raise ValueError("cannot fit scaling statistics: no valid training steps")
    lo, hi = vals.min(0), vals.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = (vals - lo) / span
    std = scaled.std(0)
    return {
        "min": lo.astype(np.float32),
        "max": hi.astype(np.float32),
        "mean": scaled.mean(0).astype(np.float32),
        "std": np.where(std > 0, std, 1.0).astype(np.float32),
    }


def apply_scaler(
    x: np.ndarray, mask: np.ndarray, stats: dict[str, np.ndarray], scaling: str,
    clip: float | None = None,
) -> np.ndarray:
    """Scale ``x`` (N, T, D) with fitted ``stats``; padded steps are set back to 0.

    ``clip``: then clip every value to ``[-clip, clip]`` (``DataConfig.clip``; None: not).
    """
    lo, hi = stats["min"], stats["max"]
    span = np.where(hi > lo, hi - lo, 1.0)
    if scaling == "none":
        out = x.copy()
    elif scaling == "minmax":
        out = (x - lo) / span
    elif scaling == "minmax_zscore":
        out = ((x - lo) / span - stats["mean"]) / stats["std"]
    elif scaling == "zscore":
        # z-score of raw values: mean/std of raw = lo + span * mean/std of min-max values
        out = (x - (lo + span * stats["mean"])) / (span * stats["std"])
    else:
        raise ValueError(f"scaling={scaling!r}: expected minmax_zscore, zscore, minmax or none")
    out = out.astype(np.float32)
    if clip is not None:
        np.clip(out, -clip, clip, out=out)
    out[~mask] = 0.0
    return out


# ----------------------------------------------------------------------------- pipeline


def describe_data(cfg: DataConfig, raw) -> str:
    """What the data are, as every table and figure names them (``raw``: the ``RawData``)."""
    if raw.synthetic and raw.source != "synthetic":  # generated files read from data_dir
        return f"SYNTHETIC data (generated, read from {cfg.data_dir}); not CMU-MOSI"
    if raw.synthetic:
        return f"SYNTHETIC data (generated, seed {cfg.synthetic_seed}); not CMU-MOSI"
    if raw.source == "mosi_text_audio":
        return text_audio.describe(cfg.word_vectors, cfg.text_layer)
    return {"csd": "real CMU-MOSI (CMU-MultimodalSDK .csd features)",
            "mult": "real CMU-MOSI (MulT pickle features)",
            "mmsa": "real CMU-MOSI (MMSA pickle features)"}.get(
                raw.source, f"real data ({raw.source})")


def cache_key(cfg: DataConfig, files: list[Path]) -> str:
    """Hash of the data config, the preprocessing code's version and the source files' content.

    Content, not size and modification time: an edit that keeps both still rebuilds. Each file
    is read once per call (sha256; about 1 s per 500 MB).
    """
    import hashlib

    sig = []
    for f in files:
        if not f.is_file():
            what = paths.DANGLING if paths.dangling(f) else "data file not found"
            raise FileNotFoundError(f"{f}: {what}")
        with open(f, "rb") as fh:
            sig.append([f.name, hashlib.file_digest(fh, "sha256").hexdigest()])
    return config_hash({"cfg": asdict(cfg), "version": PREPROCESS_VERSION, "files": sig})


def preprocess(raw, cfg: DataConfig) -> Processed:
    """Pad, split and scale ``raw`` (a ``mosi_lib.data.raw.RawData``) following ``cfg``.

    Args:
        raw: segments as loaded.
        cfg: the data config.

    Returns:
        The ``Processed`` data set (not cached; see ``prepare_data``).
    """
    missing = [m for m in cfg.modalities if m not in raw.features]
    if missing:
        raise ValueError(f"modalities {missing} requested but the data hold {raw.modalities}")
    labels = np.asarray(raw.labels, np.float32)
    if not np.isfinite(labels).all() or np.abs(labels).max() > 3:
        raise ValueError("labels must be finite and in [-3, 3]")
    split, pool = make_splits(labels, np.asarray(raw.video), cfg)
    train = np.flatnonzero(split == "train")
    x, masks, stats, n_trunc = {}, {}, {}, {}
    for m in cfg.modalities:
        # a modality whose longest sequence is shorter than max_len (the one-step openSMILE
        # audio) is padded only that far: the padded steps would be masked anyway (attention,
        # pooling, reconstruction), so only the wasted compute changes
        longest = max(len(s) for s in raw.features[m])
        xm, mask, n_trunc[m] = pad_truncate(raw.features[m], min(cfg.max_len, longest))
        stats[m] = fit_scaler(xm, mask, train)
        x[m] = apply_scaler(xm, mask, stats[m], cfg.scaling, clip=cfg.clip)
        masks[m] = mask
    labeled = (split == "train") & (pool == "labeled")
    report = dict(raw.report)
    report.update({f"truncated_{m}": int(v) for m, v in n_trunc.items()})
    return Processed(
        x=x, masks=masks, labels=labels, ids=np.asarray(raw.ids).astype(str),
        video=np.asarray(raw.video).astype(str), split=split, pool=pool, labeled=labeled,
        stats=stats,
        meta={
            "source": raw.source, "synthetic": bool(raw.synthetic), "protocol": cfg.protocol,
            "description": describe_data(cfg, raw),
            "config": asdict(cfg), "report": report, "files": [str(f) for f in raw.files],
            "provenance": raw.provenance,
        },
    )


def prepare_data(cfg: DataConfig, *, cache: bool = True, force: bool = False,
                 progress: bool = False) -> Processed:
    """Load and preprocess the data for ``cfg``, through the HDF5 cache.

    Args:
        cfg: the data config.
        cache: read/write ``data/processed/mosi_<key>.h5``.
        force: recompute even on a cache hit (and overwrite the cache file).
        progress: a progress bar while a text encoder extracts word vectors (once per
            transcript set, model and layer; then cached, ``data.contextual``).

    Returns:
        The ``Processed`` data set (a cache file that cannot be read is named in a warning and
        rebuilt); ``meta["cache"]`` says the file and whether it was a hit,
        ``meta["quality"]`` the shares of the data the loader dropped or replaced
        (``raw.check_data_quality``, on a cache hit too).

    Warns:
        DataQualityWarning: a share above 1% (e.g. segments dropped, a modality's NaN values).

    Raises:
        ValueError: a share above ``cfg.max_drop_fraction`` (nothing is cached then).
    """
    source = sources.resolve_source(cfg)  # generates the synthetic data set once, if needed
    key = cache_key(cfg, source.files)
    file = paths.processed_dir() / f"mosi_{key}.h5"
    if cache and file.exists() and not force:
        try:
            data = load_processed(file)
        except ValueError as err:  # damaged (e.g. a write cut short): said, then rebuilt
            warnings.warn(f"{err}; rebuilding the cache", stacklevel=2)
        else:
            quality = check_data_quality(data.meta.get("report", {}), len(data), cfg,
                                         sources.modality_files(cfg))
            data.meta["cache"] = {"path": str(file), "hit": True, "key": key}
            data.meta["quality"] = quality
            return data
    data = preprocess(sources.load_raw(cfg, source, progress=progress), cfg)
    quality = check_data_quality(data.meta["report"], len(data), cfg, sources.modality_files(cfg))
    data.meta["key"] = key
    if cache:
        save_processed(data, file)
    data.meta["cache"] = {"path": str(file) if cache else None, "hit": False, "key": key}
    data.meta["quality"] = quality
    return data


def quality_markdown(data: Processed) -> str:
    """Markdown list of the shares of the data the loader dropped or replaced (notebook 01).

    Reads ``data.meta["quality"]`` (set by ``prepare_data``); warnings and errors are bold.
    """
    limit = data.meta.get("config", {}).get("max_drop_fraction")
    head = (f"**Data quality**: a share above 1% warns, above `data.max_drop_fraction` = "
            f"{limit} stops preprocessing.")
    lines = []
    for f in data.meta.get("quality", []):
        text = f"{f['text']} (`{f['key']}`)"
        lines.append(f"- **{f['level']}**: {text}" if f.get("level", "ok") != "ok" else
                     f"- {text}")
    return "\n".join([head, ""] + (lines or ["- nothing to measure in this loader's report"]))


# ----------------------------------------------------------------------------- HDF5 cache


def save_processed(data: Processed, file: str | Path) -> Path:
    """Write ``data`` to an HDF5 file (written to a temporary name, then renamed).

    The temporary name is this process's own, so that processes building the same cache at
    once never write into one file.
    """
    import h5py

    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    # a name of this process's own: two processes may build the same cache at once (notebooks
    # 02 and 03 of one seed drawing its labeled pool); the last rename wins, both are whole
    tmp = file.with_name(f".{file.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    str_t = h5py.string_dtype()
    try:
        with naming(file), h5py.File(tmp, "w") as fh:  # a full disk names the cache file
            for m in data.modalities:
                fh.create_dataset(f"x/{m}", data=data.x[m], compression="gzip",
                                  compression_opts=1)
                fh.create_dataset(f"masks/{m}", data=data.masks[m])
                for k, v in data.stats[m].items():
                    fh.create_dataset(f"stats/{m}/{k}", data=v)
            fh.create_dataset("labels", data=data.labels)
            fh.create_dataset("labeled", data=data.labeled)
            for name in ("ids", "video", "split", "pool"):
                fh.create_dataset(name, data=getattr(data, name).astype(object), dtype=str_t)
            meta = json.dumps({k: v for k, v in data.meta.items() if k != "cache"})
            fh.attrs["meta"] = meta
            fh.attrs["checksum"] = digest_arrays(_content(data), meta)  # checked when read
        tmp.replace(file)
    finally:
        tmp.unlink(missing_ok=True)
    return file


def load_processed(file: str | Path) -> Processed:
    """Read a file written by ``save_processed``.

    Raises:
        ValueError: the file cannot be opened, or a dataset or the metadata is missing or
            cannot be read (e.g. a truncated or half-written file); names the file and cause.
    """
    import h5py

    file = Path(file)
    try:
        with h5py.File(file, "r") as fh:
            mods = [m for m in MODALITIES if m in fh["x"]]

            def strs(name: str) -> np.ndarray:
                return fh[name].asstr()[()].astype(str)

            meta, stored = str(fh.attrs["meta"]), fh.attrs.get("checksum")
            out = Processed(
                x={m: fh[f"x/{m}"][()] for m in mods},
                masks={m: fh[f"masks/{m}"][()] for m in mods},
                labels=fh["labels"][()], ids=strs("ids"), video=strs("video"),
                split=strs("split"), pool=strs("pool"), labeled=fh["labeled"][()],
                stats={m: {k: v[()] for k, v in fh[f"stats/{m}"].items()} for m in mods},
                meta=json.loads(meta),
            )
    except (OSError, KeyError, ValueError) as err:  # h5py raises these for damaged files
        raise ValueError(f"{file}: not a readable processed-data HDF5 file "
                         f"({type(err).__name__}: {err})") from err
    if stored != digest_arrays(_content(out), meta):  # e.g. values edited in place
        raise ValueError(f"{file}: its content does not match its checksum (changed after it "
                         "was written, or written by an older version)")
    return out


def _content(data: Processed) -> dict[str, np.ndarray]:
    """Every array of ``data`` by its HDF5 name: what the cache file's checksum covers."""
    out = {f"{g}/{m}": getattr(data, g)[m] for g in ("x", "masks") for m in data.modalities}
    out.update({f"stats/{m}/{k}": v for m in data.modalities for k, v in data.stats[m].items()})
    names = ("labels", "labeled", "ids", "video", "split", "pool")
    return out | {n: getattr(data, n) for n in names}


# ----------------------------------------------------------------------------- summaries


def split_counts(data: Processed):
    """Segments per split and pool, with labeled flag and share of has0-positive labels.

    Returns:
        A DataFrame with columns split, pool, n, labeled_for_training, pos_rate_has0, zeros.
    """
    import pandas as pd

    df = pd.DataFrame({"split": data.split, "pool": data.pool, "y": data.labels,
                       "labeled": data.labeled})
    out = df.groupby(["split", "pool"], sort=False).agg(
        n=("y", "size"),
        labeled_for_training=("labeled", "sum"),
        pos_rate_has0=("y", lambda s: float((s >= 0).mean())),
        zeros=("y", lambda s: int((s == 0).sum())),
    )
    return out.reset_index()


def feature_summary(data: Processed):
    """Per-modality feature statistics on the training rows after scaling.

    Returns:
        DataFrame: modality, dim, mean, std (over valid training steps and features), mean
        valid length, share of segments truncated (from the loader report).
    """
    import pandas as pd

    train = data.rows("train")
    rows = []
    for m in data.modalities:
        vals = data.x[m][train][data.masks[m][train]]
        rows.append({
            "modality": m, "dim": data.dims[m], "mean": float(vals.mean()),
            "std": float(vals.std()), "mean_len": float(data.masks[m].sum(1).mean()),
            "truncated": int(data.meta.get("report", {}).get(f"truncated_{m}", 0)),
        })
    return pd.DataFrame(rows)
