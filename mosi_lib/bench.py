"""Speed benchmark: ``python -m mosi_lib.bench [--epochs N] [--device auto] [--seeds E]``.

Table 1 (``--only loops``) times training epochs of the classifier and of DEC stage 2 in two
ways, same model, same process, both through the training epoch loop (``loop.train_epoch``):

* ``resident``: the training code's way: every array on the device once, batches gathered by
  ``index_select`` (``loop.DeviceData`` + ``loop.minibatches``).
* ``dataloader``: a plain ``torch.utils.data.DataLoader`` over a map-style dataset of host
  tensors (per-row ``__getitem__``, default collate, ``.to(device)`` per batch).

Table 2 (``--only seeds``) times one classifier alone, then E classifier seeds (``--seeds``,
default 5) trained one after the other with ``classifier.fit_classifier``, and the seeds
shared out over ``--workers`` processes (``system.seed_workers``), validation included
(``time_seeds``). The last column divides by the one-classifier time: what E seeds cost
against one.

On CUDA table 1 has a third row per task, ``resident, CUDA graphs``: the resident loop with
``system.cuda_graphs`` (``graphs.StepRunner``: the whole step, from the batch gather to Adam,
captured once per batch size and replayed; the first two batches of each size run eagerly,
inside the warm-up epoch).

``--compile MODE`` compiles the model of both loops of table 1 with ``torch.compile`` in that
mode (``system.compile_mode``): with ``reduce-overhead`` (CUDA graphs) the step stops being
launch-bound, which is where the two data paths can differ most. (No graphs row then: the
study refuses ``system.cuda_graphs`` with ``system.compile``.)

Table 3 (``--only precision``, CUDA only: autocast is a no-op elsewhere) times the resident
classifier loop with bf16 autocast (``system.amp``) on and off, each eager and compiled in the
``default`` and ``reduce-overhead`` modes (``system.compile``, ``system.compile_mode``); the
compiled rows' warm-up epoch holds the compilation (reported apart).

Table 0 (``--only text``) times the extraction of the text input, one row per encoder
(``--encoders``, default ``minilm-l6`` and ``mpnet-base``, each at its chosen layer,
``contextual.CHOSEN_LAYER``; mpnet is installed first if missing) over all 2199 real
transcripts, no cache, on the CPU with the process's torch threads (``--threads``; notebook 01
extracts once, then the cache serves every later run), and the size of the cache file's
vectors as that encoder's cache stores them (float32 or float16).

Data of tables 1-3 are random tensors of CMU-MOSI's shape (2199 segments, 30 steps, 300/74/47
features): speed does not depend on the values. Prints seconds per epoch, samples/s and ratios
(> 1 means faster than the row it is compared with).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

from mosi_lib import losses, models
from mosi_lib.config import COMPILE_MODES, Config
from mosi_lib.data import contextual
from mosi_lib.train import graphs, loop
from mosi_lib.train.classifier import fit_classifier
from mosi_lib.train.loop import DeviceData, minibatches, train_epoch

# ----------------------------------------------------------------------------- data


class _RowDataset(torch.utils.data.Dataset):
    """Map-style dataset: one segment per item (the DataLoader baseline)."""

    def __init__(self, x, masks, y):
        self.x, self.masks, self.y = x, masks, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return (
            {m: v[i] for m, v in self.x.items()},
            {m: v[i] for m, v in self.masks.items()},
            i,
            self.y[i],
        )


@dataclasses.dataclass
class _HostBatch:
    """One ``DataLoader`` batch of host tensors; ``len`` is its number of rows."""

    x: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]
    rows: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.rows)


def fake_data(n: int, t: int, dims: dict[str, int], seed: int = 0):
    """Random data of a shape: ``(x, masks, y)``, ``n`` segments of at most ``t`` steps.

    ``x``: modality -> (n, t, D) normal noise (``dims``: modality -> D); ``masks``: the same
    random lengths for every modality; ``y``: (n,) 0/1 labels.
    """
    g = torch.Generator().manual_seed(seed)
    x = {m: torch.randn(n, t, d, generator=g) for m, d in dims.items()}
    lengths = torch.randint(1, t + 1, (n,), generator=g)
    mask = torch.arange(t)[None, :] < lengths[:, None]
    masks = {m: mask.clone() for m in dims}
    y = (torch.rand(n, generator=g) > 0.45).float()
    return x, masks, y


# ----------------------------------------------------------------------------- steps


def batch_loss(
    task: str, model, x, masks, y, p, *, amp: bool, device, weights: dict, cache: bool = True
):
    """The loss of one batch: BCE of the classifier, or DEC stage 2's objective.

    DEC: every row labeled (``losses.dec_objective``). ``cache``: autocast's weight cache (off
    in a captured graph).
    """
    with loop.autocast(device, amp, cache=cache):
        out = model(x, masks)
    if task == "classifier":
        return F.binary_cross_entropy_with_logits(out.float(), y)
    terms = losses.dec_objective(
        out,
        x,
        masks,
        weights=weights,
        p=p,
        y=y.long(),
        class_head=model.class_head,
        static_shapes=loop.capturing(),  # as dec.fit_dec's step
    )
    return terms["loss"]


def sync(device: torch.device) -> None:
    """Wait for ``device``'s queued work (CUDA), so that a clock reads finished work."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_epochs(
    task: str,
    mode: str,
    *,
    epochs: int,
    device,
    amp: bool,
    data,
    cfg: Config,
    compile: str | None = None,
    warmup: list[float] | None = None,
) -> float:
    """Seconds per epoch (median over ``epochs`` after one warm-up epoch).

    ``compile``: a ``torch.compile`` mode (``COMPILE_MODES``) to compile the model with first
    (``nn.Module.compile``, as the study's ``system.compile`` + ``system.compile_mode``), None
    for eager; the warm-up epoch's seconds are appended to ``warmup`` when given.
    """
    x, masks, y = data
    dims = {m: v.shape[2] for m, v in x.items()}
    torch.manual_seed(0)
    if task == "classifier":
        model = models.build_classifier(cfg.model, dims, x["text"].shape[1]).to(device)
    else:
        model = models.build_dec(cfg.model, cfg.dec, dims, x["text"].shape[1]).to(device)
    if compile is not None:
        if compile not in COMPILE_MODES:
            raise ValueError(f"compile={compile!r}: expected None or one of {list(COMPILE_MODES)}")
        model.compile(mode=compile)
    if mode not in LOOPS:
        raise ValueError(f"mode={mode!r}: expected one of {list(LOOPS)}")
    graphed = mode == "graphs" and graphs.supported(device)
    opt = torch.optim.Adam(
        model.parameters(), lr=1e-4, capturable=graphs.capturable(graphed, device)
    )
    n, bs = len(y), cfg.train.batch_size
    p_all = torch.full((n, cfg.dec.n_clusters), 1.0 / cfg.dec.n_clusters, device=device)
    how = dict(amp=amp, device=device, weights=losses.dec_stage_weights(cfg.dec, 2))
    if mode in ("resident", "graphs"):
        xd = {m: v.to(device) for m, v in x.items()}
        md = {m: v.to(device) for m, v in masks.items()}
        yd = y.to(device)
        idx = torch.arange(n, device=device)
        gen = torch.Generator().manual_seed(0)

        def step(b):  # gather, forward, backward, Adam: the whole step (graphs.StepRunner)
            xb = {m: v.index_select(0, b) for m, v in xd.items()}
            mb = {m: v.index_select(0, b) for m, v in md.items()}
            yb, pb = yd.index_select(0, b), p_all.index_select(0, b)
            batch_loss(task, model, xb, mb, yb, pb, **how, cache=not graphed).backward()
            opt.step()

        runner = graphs.StepRunner(step, optimizer=opt, device=device, enabled=graphed)

        def one_epoch():  # the rows only: the step gathers them from the resident tensors
            train_epoch(runner, minibatches(idx, bs, gen))  # (a last lone row is dropped)
    else:
        loader = torch.utils.data.DataLoader(
            _RowDataset(x, masks, y), batch_size=bs, shuffle=True, drop_last=False
        )

        def host_step(b: _HostBatch) -> None:
            opt.zero_grad(set_to_none=True)
            xb = {m: v.to(device) for m, v in b.x.items()}
            mb = {m: v.to(device) for m, v in b.masks.items()}
            yb, pb = b.y.to(device), p_all.index_select(0, b.rows.to(device))
            batch_loss(task, model, xb, mb, yb, pb, **how).backward()
            opt.step()

        def one_epoch():
            # BatchNorm cannot train on one row (as batches.minibatches)
            train_epoch(host_step, (_HostBatch(*b) for b in loader if len(b[2]) >= 2))

    times = []
    for epoch in range(epochs + 1):
        sync(device)
        t0 = time.perf_counter()
        one_epoch()
        sync(device)
        if epoch:  # epoch 0 warms up kernels and allocators (and compiles)
            times.append(time.perf_counter() - t0)
        elif warmup is not None:
            warmup.append(time.perf_counter() - t0)
    return float(np.median(times))


LOOPS = ("dataloader", "resident", "graphs")
"""``time_epochs`` modes; ``graphs`` is the resident loop with ``system.cuda_graphs`` (its
whole step a CUDA graph per batch size, ``graphs.StepRunner``), the resident loop off CUDA."""

_SEEDS: dict = {}  # a seeds-table process's setup: device, data, config, amp


def _seeds_setup(device, amp: bool, data, cfg: Config, threads: int | None = None) -> None:
    """Store what ``_fit_seeds`` needs (in this process, or in a worker as its initializer)."""
    from types import SimpleNamespace

    if threads:
        torch.set_num_threads(threads)
    x, masks, y = data
    scores = torch.where(y > 0, 1.0, -1.0)
    n_train = int(0.8 * len(y))
    _SEEDS.update(
        device=device,
        cfg=cfg,
        amp=amp,
        dims={m: v.shape[2] for m, v in x.items()},
        t=x["text"].shape[1],
        dd=DeviceData(SimpleNamespace(x=x, masks=masks, labels=scores), device),
        rows=dict(train_idx=np.arange(n_train), val_idx=np.arange(n_train, len(y))),
    )


def _build(seed: int):
    torch.manual_seed(seed)
    return models.build_classifier(_SEEDS["cfg"].model, _SEEDS["dims"], _SEEDS["t"]).to(
        _SEEDS["device"]
    )


def _fit_seeds(seeds: list[int], n_epochs: int) -> None:
    """Train classifiers for ``seeds``, one after the other (``fit_classifier``)."""
    cfg = _SEEDS["cfg"]
    ms = [_build(s) for s in seeds]
    cfg_train = dataclasses.replace(cfg.train, epochs=n_epochs)
    for s, m in zip(seeds, ms, strict=True):
        cfg_system = dataclasses.replace(cfg.system, seed=s, amp=_SEEDS["amp"], progress=False)
        fit_classifier(m, _SEEDS["dd"], cfg_train, cfg_system, **_SEEDS["rows"])
    sync(_SEEDS["device"])


def time_seeds(
    mode: str, *, n_seeds: int, epochs: int, device, amp: bool, data, cfg: Config, workers: int = 2
) -> float:
    """Seconds per epoch for ``n_seeds`` classifiers (all seeds), with validation.

    ``sequential``: ``classifier.fit_classifier`` once per seed, one after the other (what a
    loop over seeds costs). ``processes``: the seeds spread over ``workers`` spawned processes
    with ``execution.worker_threads(workers)`` torch threads each, one after the other
    inside a worker (``system.seed_workers``); the pool is started and warmed up before the
    clock starts, as a grid point's pool is reused over hundreds of epochs. All use the
    study's 80/20 train/validation split of the rows and time ``epochs`` epochs after a
    one-epoch warm-up call.
    """
    seeds = list(range(n_seeds))
    if mode == "sequential":
        _seeds_setup(device, amp, data, cfg)

        def run(n_epochs):
            t0 = time.perf_counter()
            _fit_seeds(seeds, n_epochs)
            return time.perf_counter() - t0

        run(1)  # warm-up: kernels, allocator
        return run(epochs) / epochs
    if mode != "processes":
        raise ValueError(f"mode={mode!r}: expected sequential or processes")
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from mosi_lib.study.execution import worker_threads

    shares = [seeds[i::workers] for i in range(workers) if seeds[i::workers]]
    with ProcessPoolExecutor(
        len(shares),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_seeds_setup,
        initargs=(device, amp, data, cfg, worker_threads(workers)),
    ) as pool:

        def run(n_epochs):
            t0 = time.perf_counter()
            for f in [pool.submit(_fit_seeds, share, n_epochs) for share in shares]:
                f.result()
            return time.perf_counter() - t0

        run(1)  # warm-up: process start, imports, kernels
        return run(epochs) / epochs


def main(argv: list[str] | None = None) -> None:
    """Print the benchmark table."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per cell (median)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--n", type=int, default=2199, help="segments (CMU-MOSI: 2199)")
    seeds_help = "classifiers trained in the seeds table (0: skip that table)"
    ap.add_argument("--seeds", type=int, default=5, help=seeds_help)
    workers_help = (
        "worker processes of the seeds table's 'processes' row (default: one per "
        "seed, as system.seed_workers auto on a CPU)"
    )
    ap.add_argument("--workers", type=int, default=None, help=workers_help)
    threads_help = "torch CPU threads of the text table (default: torch's)"
    ap.add_argument("--threads", type=int, default=None, help=threads_help)
    ap.add_argument("--encoders", nargs="+", default=list(contextual.CHOSEN_LAYER),
                    metavar="NAME",
                    help="encoders of the text table (default: minilm-l6 mpnet-base)")
    tables = ("text", "loops", "seeds", "precision")
    ap.add_argument("--only", choices=tables, default=None, help="print one table only")
    ap.add_argument(
        "--compile",
        choices=COMPILE_MODES,
        default=None,
        metavar="MODE",
        help="torch.compile both loops of the loops table in this mode "
        f"({', '.join(COMPILE_MODES)}; default: eager)",
    )
    args = ap.parse_args(argv)
    args.workers = args.workers or max(1, min(args.seeds, 8))
    device = loop.select_device(args.device)
    cfg = Config()
    amp = cfg.system.amp and device.type == "cuda"
    data = fake_data(args.n, cfg.data.max_len, {"text": 300, "audio": 74, "visual": 47})
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu"
    print(
        f"device: {device} ({name}), torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}, amp {amp}, N={args.n}, batch {cfg.train.batch_size}, "
        f"{args.epochs} timed epochs per cell (loops: median, seeds: mean)"
    )
    if args.only in (None, "text"):
        _text_table(args, cfg)
    if args.only in (None, "loops"):
        _loops_table(args, device, amp, data, cfg)
    if args.only in (None, "seeds") and args.seeds:
        _seeds_table(args, device, amp, data, cfg)
    if args.only in (None, "precision"):
        _precision_table(args, device, data, cfg)


def text_extraction(word_vectors: str, layer: str, *, limit: int | None = None) -> dict:
    """Seconds to encode the real transcripts (all, or the first ``limit``) without the cache.

    The model is loaded (and its checksum checked) before the clock starts. ``cache_mb``: the
    vectors' bytes as the encoder's cache stores them (``Encoder.cache_dtype``).
    """
    from mosi_lib.data import contextual, text_audio

    texts = text_audio.read_transcripts()
    words = [text_audio.tokenize(t) for t in texts.values()][:limit]
    enc = contextual.locate(word_vectors)
    tok, model = contextual.load(enc)
    t0 = time.perf_counter()
    out, counts = contextual.encode_words(words, tok, model, layers=[layer])
    seconds = time.perf_counter() - t0
    n_values = sum(v.size for v in out[layer])
    return {"segments": len(words), "words": counts["words"], "seconds": seconds,
            "dim": int(out[layer][0].shape[1]), "cache_dtype": enc.cache_dtype,
            "cache_mb": n_values * np.dtype(enc.cache_dtype).itemsize / 1e6}


def _text_table(args, cfg) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"\ntext input: cpu, {torch.get_num_threads()} thread(s), no cache")
    print(f"{'encoder':>11} {'layer':>9} {'dim':>4} {'segments':>9} {'words':>7} {'seconds':>8} "
          f"{'words/s':>8} {'cache MB':>9} {'stored':>8}")
    for name in args.encoders:
        layer = contextual.resolve_layer(name, "auto")
        res = text_extraction(name, layer)
        print(f"{name:>11} {layer:>9} {res['dim']:>4} {res['segments']:>9} {res['words']:>7} "
              f"{res['seconds']:>8.1f} {res['words'] / res['seconds']:>8.0f} "
              f"{res['cache_mb']:>9.1f} {res['cache_dtype']:>8}")


def _seeds_table(args, device, amp, data, cfg) -> None:
    print(
        f"\nclassifier, {args.seeds} seeds, train {int(0.8 * args.n)} + validate "
        f"{args.n - int(0.8 * args.n)} rows per epoch per seed"
    )
    print(
        "| seeds | loop | s/epoch (all seeds) | s/epoch per seed | speed-up vs sequential "
        "| time vs one seed |"
    )
    print("|---|---|---|---|---|---|")
    how = dict(epochs=args.epochs, device=device, amp=amp, data=data, cfg=cfg)
    one = time_seeds("sequential", n_seeds=1, **how)
    print(f"| 1 | alone | {one:.3f} | {one:.3f} | | 1.00x |", flush=True)
    res = {}
    for mode in ("sequential", "processes"):
        res[mode] = time_seeds(mode, n_seeds=args.seeds, workers=args.workers, **how)
        label = f"{args.workers} processes" if mode == "processes" else mode
        print(
            f"| {args.seeds} | {label} | {res[mode]:.3f} | {res[mode] / args.seeds:.3f} | "
            f"{res['sequential'] / res[mode]:.2f}x | {res[mode] / one:.2f}x |",
            flush=True,
        )


def _precision_table(args, device, data, cfg) -> None:
    if device.type != "cuda":
        print(
            f"\nprecision/compile table: CUDA only (bf16 autocast is off on {device.type}); "
            "skipped"
        )
        return
    print("\nclassifier, resident loop: bf16 autocast and torch.compile")
    print(
        "| amp (bf16) | compile | s/epoch | samples/s | speed-up vs fp32 eager | warm-up epoch s |"
    )
    print("|---|---|---|---|---|---|")
    base = None
    for comp in (None, "default", "reduce-overhead"):
        for amp in (False, True):
            warm: list[float] = []
            how = dict(epochs=args.epochs, device=device, amp=amp, data=data, cfg=cfg)
            sec = time_epochs("classifier", "resident", **how, compile=comp, warmup=warm)
            base = base or sec
            print(
                f"| {'on' if amp else 'off'} | {comp or 'off'} | {sec:.4f} | "
                f"{args.n / sec:,.0f} | {base / sec:.2f}x | {warm[0]:.2f} |",
                flush=True,
            )


def _loops_table(args, device, amp, data, cfg) -> None:
    how = "eager" if args.compile is None else f"torch.compile mode {args.compile}"
    print(f"\nresident loop vs DataLoader loop, model {how}")
    print("| task | loop | s/epoch | samples/s | speed-up vs DataLoader |")
    print("|---|---|---|---|---|")
    # the whole step as a CUDA graph: CUDA only, and not over a compiled model (as the config)
    modes = [
        m for m in LOOPS if m != "graphs" or (graphs.supported(device) and args.compile is None)
    ]
    for task in ("classifier", "dec"):
        how = dict(epochs=args.epochs, device=device, amp=amp, data=data, cfg=cfg)
        res = {mode: time_epochs(task, mode, **how, compile=args.compile) for mode in modes}
        for mode in modes:
            ratio = res["dataloader"] / res[mode]
            label = "resident, CUDA graphs" if mode == "graphs" else mode
            print(
                f"| {task} | {label} | {res[mode]:.3f} | {args.n / res[mode]:,.0f} | "
                f"{ratio:.2f}x |",
                flush=True,
            )
    if "graphs" not in modes:
        why = "CUDA only" if not graphs.supported(device) else "not with --compile"
        print(f"(resident loop with its whole step as a CUDA graph, system.cuda_graphs: {why})")


if __name__ == "__main__":
    main()
