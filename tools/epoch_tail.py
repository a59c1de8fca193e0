"""What a classifier epoch spends outside its training steps, part by part.

``python tools/epoch_tail.py [--device cpu|cuda] [--repeats 50] [--profile paper] [--set K=V ...]``
builds the
classifier of the profile on its data (the embedded real text + audio by default) and prints the
median time per call of:

* one training step of a batch of 128 (forward, BCE, backward, Adam), eager: the unit an epoch
  repeats (6 times with the 40% labels, 14 with all of them);
* the parts of ``evaluate.evaluate_classifier`` on the validation rows, which every epoch runs
  once: the forward (``predict_logits``), then loss and metrics on the host;
* ``metrics.binary_metrics`` as it is (accuracy and weighted F1 counted with numpy) and as it
  was before 2026-11-26 (``sklearn.metrics`` ``accuracy_score`` and ``f1_score``), equal to the
  bit (``test_acc_f1_equals_sklearn_to_the_bit``);
* ``_select``'s copy of the weights, paid when an epoch improves the selection;
* on CUDA, the same training step and validation forward replayed as CUDA graphs
  (``graphs.StepRunner`` and ``graphs.ForwardRunner``, what ``system.cuda_graphs`` does), the
  runners' call counts printed below the table.

On CUDA each timed call ends with a synchronisation, so a time is the call's whole cost.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score

from mosi_lib import bench, metrics, models
from mosi_lib.__main__ import parse_sets
from mosi_lib.config import ZERO_POLICIES, load_config
from mosi_lib.data.preprocess import prepare_data
from mosi_lib.train import graphs, loop
from mosi_lib.train.loop import DeviceData, evaluate_classifier, predict_logits


def _sklearn_binary_metrics(pred_pos: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """``metrics.binary_metrics`` before 2026-11-26: sklearn's accuracy and weighted F1."""
    out = {}
    for conv in ZERO_POLICIES:
        pos, keep = metrics.binary_target(scores, conv)
        out[f"acc_{conv}"] = float(accuracy_score(pos[keep], pred_pos[keep]))
        out[f"f1_{conv}"] = float(f1_score(pos[keep], pred_pos[keep], average="weighted",
                                           zero_division=0.0))
    return out


def _median_ms(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        bench.sync(device)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    """Print the table (markdown)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--profile", default="paper", choices=["quick", "paper"])
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides, as for python -m mosi_lib reproduce")
    args = ap.parse_args(argv)
    cfg = load_config(f"{args.profile}.yaml", parse_sets(args.set))
    data = prepare_data(cfg.data)
    device = loop.select_device(args.device)
    loop.seed_everything(0)
    dd = DeviceData(data, device)
    model = models.build_classifier(cfg.model, data.dims, data.max_len).to(device)
    tr = torch.as_tensor(data.train_rows("all", cfg.data.zero_policy), device=device)
    va = torch.as_tensor(data.rows("valid"), device=device)
    target = metrics.binary_target(dd.scores, cfg.data.zero_policy)[0].float()
    bidx = tr[:128]
    amp = cfg.system.amp

    def make_step(opt: torch.optim.Optimizer, cache: bool = True):
        def step(idx: torch.Tensor) -> None:  # the bench's classifier step
            x, masks = dd.batch(idx)
            bench.batch_loss("classifier", model, x, masks, target.index_select(0, idx), None,
                             amp=amp, device=device, weights={}, cache=cache).backward()
            opt.step()

        return step

    def adam(capturable: bool = False) -> torch.optim.Adam:
        return torch.optim.Adam(model.parameters(), lr=cfg.train.lr,
                                weight_decay=cfg.train.weight_decay, capturable=capturable)

    eager = graphs.StepRunner(make_step(opt := adam()), optimizer=opt, device=device,
                              enabled=False)
    logits = predict_logits(model, dd, va, amp=amp)
    pred = (logits > 0).cpu().numpy()
    scores = dd.scores.index_select(0, va).cpu().numpy()
    parts = [
        ("training step, batch of 128 (eager)", lambda: eager(bidx)),
        (f"validation forward, {len(va)} rows (predict_logits)",
         lambda: predict_logits(model, dd, va, amp=amp)),
        ("validation: forward + loss + metrics (evaluate_classifier)",
         lambda: evaluate_classifier(model, dd, va, cfg.data.zero_policy, amp=amp)),
        ("metrics.binary_metrics (numpy counts)", lambda: metrics.binary_metrics(pred, scores)),
        ("the same with sklearn accuracy_score + f1_score (before)",
         lambda: _sklearn_binary_metrics(pred, scores)),
        ("copy of the weights (_select, on an improvement)",
         lambda: {k: v.detach().clone() for k, v in model.state_dict().items()}),
    ]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {name}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"bf16 autocast {'on' if amp and device.type == 'cuda' else 'off'}, median of "
          f"{args.repeats} calls\n")
    print("| part | ms per call |\n|---|---:|")
    for label, fn in parts:
        print(f"| {label} | {_median_ms(fn, args.repeats, device):.2f} |", flush=True)
    label = "training step, batch of 128, CUDA graph replay (system.cuda_graphs)"
    if not graphs.supported(device):
        print(f"| {label} | CUDA only |\n| validation forward, CUDA graph replay | CUDA only |")
        return
    runner = graphs.StepRunner(make_step(opt := adam(capturable=True), cache=False),
                               optimizer=opt, device=device, enabled=True)
    for _ in range(runner.warmup + 1):  # the eager warm-up steps, then the capture
        runner(bidx)
    ms = _median_ms(lambda: runner(bidx), args.repeats, device)
    print(f"| {label} | {ms:.2f} |", flush=True)
    forward = graphs.ForwardRunner(lambda: predict_logits(model, dd, va, amp=amp,
                                                          cache=False),
                                   device=device, enabled=True)
    for _ in range(forward.warmup + 1):
        forward()
    ms = _median_ms(forward, args.repeats, device)
    print(f"| validation forward, {len(va)} rows, CUDA graph replay (system.cuda_graphs) | "
          f"{ms:.2f} |")
    print(f"\nthe graphed runners' calls: steps {runner.counts()}, validation forwards "
          f"{forward.counts()}")


if __name__ == "__main__":
    main()
