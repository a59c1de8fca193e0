"""Training steps and per-epoch forwards replayed as CUDA graphs (``system.cuda_graphs``).

On a GPU the step of this small model is launch-bound: almost all of its time goes to
launching several hundred small kernels (forward, backward and Adam) while the GPU waits
(docs/gpu.md "Speed"). ``torch.compile(mode="reduce-overhead")`` graphs the model only, compiles
first and records new graphs per batch and chunk shape. Here the *whole* step is captured once
per batch size, without compiling: the gather of the batch from the resident data, forward,
loss, backward, the optimizer step and the running sums of the epoch. A replay is then one copy
of the batch's row numbers into the graph's index tensor and one graph launch.

``StepRunner(step, optimizer=..., enabled=...)`` is called once per mini-batch with ``idx``, a
device LongTensor of row numbers. Off (the default, and always on a device other than CUDA) it
calls ``step(idx)``: the ordinary eager step, which zeroes its gradients itself. On, each
batch size first runs
``warmup`` eager steps on a side stream (real training steps, exactly those of the eager loop:
they create the optimizer state and let cuBLAS and the allocator warm up, as capture
requires), then a graph of ``step`` on a static index tensor is captured for that size (the
capture runs nothing) and replayed for this and every later batch of that size, each in its
own memory pool.

The ordinary step is written as in any PyTorch loop (``optimizer.zero_grad(set_to_none=True)``,
forward, loss, ``backward``, ``optimizer.step``); this module only wraps it. What ``step`` must
be to be captured (those of ``classifier.fit_classifier`` and ``dec.fit_dec`` are):

* no host synchronisation: no ``.item()``, ``float(t)``, boolean-mask indexing or Python
  branch on a tensor's value (``loop.capturing()`` tells code that needs one to take another
  path: ``fit_dec``'s step asks ``losses.dec_objective`` for its static-shape form);
* every tensor it reads or accumulates into that lives across steps (the resident data, the
  parameters, running sums, DEC's target distribution) is allocated before the capture and
  changed only in place afterwards (``copy_``, ``zero_``, ``+=``);
* an optimizer built with ``capturable=True`` (its step counter lives on the GPU), whose
  learning rate does not change and whose state is not replaced (load a checkpoint before
  the first step);
* the model's train/eval mode fixed for the runner's lifetime (a captured step replays the
  mode it was captured in); a runner per mode (DEC's two stages have one each).

``ForwardRunner(fn, device=..., enabled=...)`` does the same for a forward over fixed rows,
repeated every epoch (the classifier's validation rows; DEC's target update over all rows):
``fn()`` returns one tensor, which a replay writes into a static output tensor (the caller
consumes it before the next call).

If a capture fails (an operator that this PyTorch cannot capture, say), the runner warns,
records the error (``counts()["capture_failed"]``, in the run's ``metrics.json``) and trains
on eagerly: the steps before it were eager anyway, and the capture ran nothing.

A replayed step draws its dropout masks from CUDA's graph-safe random stream: a graphed run is
an equivalent, not bit-identical, twin of the eager run of the same seed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Protocol

import torch


def supported(device: torch.device) -> bool:
    """Whether ``system.cuda_graphs`` takes effect on ``device`` (CUDA only)."""
    return device.type == "cuda"


def capturable(enabled: bool, device: torch.device) -> bool:
    """The optimizer's ``capturable`` flag for a ``StepRunner`` with ``enabled`` graphs.

    True on CUDA only: PyTorch refuses it on a CPU, where the tests emulate the capture.
    """
    return bool(enabled) and device.type == "cuda"


class Backend(Protocol):
    """How a ``StepRunner`` runs an eager warm-up step and captures a graph."""

    def eager(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` now (a warm-up step)."""

    def capture(self, fn: Callable[[], Any]) -> Callable[[], None]:
        """Record ``fn`` without running it; return what replays the recording."""


class CudaGraphBackend:
    """``torch.cuda.CUDAGraph`` capture; warm-up steps and captures on one side stream."""

    def __init__(self, device: torch.device):
        self.device = device
        self.stream = torch.cuda.Stream(device)

    def eager(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the side stream and make the current stream wait for it."""
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.stream):
            fn()
        torch.cuda.current_stream(self.device).wait_stream(self.stream)

    def capture(self, fn: Callable[[], Any]) -> Callable[[], None]:
        """Capture ``fn`` into a new ``CUDAGraph``; return its ``replay``."""
        graph = torch.cuda.CUDAGraph()
        # on the warm-up steps' stream: per-stream library handles and workspaces (cuBLAS) were
        # made by the warm-up, not lazily inside the capture (PyTorch moved make_graphed_callables
        # to one stream for warm-up and capture for this reason). Its own memory pool: graphs
        # of different batch sizes replay interleaved
        with torch.cuda.graph(graph, stream=self.stream):
            fn()
        return graph.replay


def make_backend(device: torch.device) -> Backend:
    """The capture backend of ``device`` (tests replace this to run the runner on a CPU)."""
    return CudaGraphBackend(device)


def merge_counts(*counts: dict[str, Any]) -> dict[str, Any]:
    """Several runners' ``counts()`` as one (DEC's two stages).

    Step counts are added; the capture errors, if any, joined.
    """
    out: dict[str, Any] = {
        "eager": sum(c["eager"] for c in counts),
        "graph_replays": sum(c["graph_replays"] for c in counts),
    }
    failed = [c["capture_failed"] for c in counts if c.get("capture_failed")]
    if failed:
        out["capture_failed"] = "; ".join(failed)
    return out


class _Runner:
    """What both runners share: the backend, the counts, giving up on a failed capture."""

    what = ""  # the captured thing, for the warning

    def __init__(self, device: torch.device, enabled: bool):
        self.enabled = bool(enabled) and supported(device)
        if self.enabled:
            self.backend = make_backend(device)
        self.eager_steps = 0
        self.replays = 0
        self.capture_failed: str | None = None

    def counts(self) -> dict[str, Any]:
        """How the calls ran: ``eager`` and ``graph_replays`` counts.

        ``capture_failed`` (the error that stopped the graphs) is added when a capture failed.
        """
        out: dict[str, Any] = {"eager": self.eager_steps, "graph_replays": self.replays}
        if self.capture_failed:
            out["capture_failed"] = self.capture_failed
        return out

    def _give_up(self, where: str, err: Exception) -> None:
        """A capture failed: warn, record why, go on eagerly (a long run is not lost)."""
        self.enabled = False
        first = (str(err).strip().splitlines() or [""])[0]
        self.capture_failed = f"{where}{type(err).__name__}: {first}"
        warnings.warn(
            f"system.cuda_graphs: capturing the {self.what} failed "
            f"({self.capture_failed}); it goes on eagerly",
            RuntimeWarning,
            stacklevel=3,
        )


class StepRunner(_Runner):
    """Run a training step per mini-batch, eagerly or as a CUDA graph per batch size.

    Attributes:
        enabled: graphs in use (``enabled`` asked and ``supported(device)``).
        eager_steps, replays: counts of steps run each way (the tests and the bench read them).
    """

    what = "training step"

    def __init__(
        self,
        step: Callable[[torch.Tensor], Any],
        *,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        enabled: bool,
        warmup: int = 2,
    ):
        """Wrap ``step``.

        Args:
            step: ``step(idx)``: one whole training step on rows ``idx``, ``zero_grad`` first
                (with ``set_to_none=True``: inside a capture that is Python only, no kernel;
                the captured backward allocates the gradients in the graph's pool and every
                replay writes them afresh).
            optimizer: the optimizer ``step`` steps (``capturable=True`` on CUDA,
                ``capturable``).
            device: where the data and the model live.
            enabled: use graphs (ignored off CUDA: ``supported``).
            warmup: eager steps of each batch size before its graph is captured (>= 1).
        """
        if warmup < 1:
            raise ValueError(
                f"warmup={warmup}: a batch size needs at least one eager step "
                "before its graph is captured"
            )
        if enabled and supported(device) and capturable(True, device):
            if not all(g.get("capturable", False) for g in optimizer.param_groups):
                raise ValueError(
                    "system.cuda_graphs: the optimizer must be built with "
                    "capturable=True (its step counter on the GPU)"
                )
        super().__init__(device, enabled)
        self.step, self.optimizer, self.warmup = step, optimizer, warmup
        self._seen: dict[int, int] = {}
        self._graphs: dict[int, tuple[Callable[[], None], torch.Tensor]] = {}

    def _eager(self, idx: torch.Tensor) -> None:
        self.step(idx)
        self.eager_steps += 1

    def __call__(self, idx: torch.Tensor) -> None:
        """One training step on rows ``idx`` (a device LongTensor)."""
        if not self.enabled:
            self._eager(idx)
            return
        n = len(idx)
        if n not in self._graphs:
            if self._seen.get(n, 0) < self.warmup:
                self._seen[n] = self._seen.get(n, 0) + 1
                self.backend.eager(lambda: self._eager(idx))
                return
            static = idx.clone()
            try:
                replay = self.backend.capture(lambda: self.step(static))
            except RuntimeError as err:  # e.g. an operator this torch cannot capture
                self._graphs.clear()
                self._give_up(f"batch size {n}: ", err)
                self._eager(idx)
                return
            self._graphs[n] = (replay, static)
        replay, static = self._graphs[n]
        static.copy_(idx)
        replay()
        self.replays += 1


class ForwardRunner(_Runner):
    """Run a forward over fixed rows, eagerly or replayed as one CUDA graph.

    For an evaluation repeated every epoch on the same rows (``classifier.fit_classifier``'s
    validation, ``dec.fit_dec``'s target update): ``fn()`` takes no argument, reads only
    tensors that live across calls (the resident data, a fixed index tensor, the parameters
    and buffers, which training changes in place), sets the mode it needs itself, and returns
    one tensor of the same shape at every call. Off, a call is ``fn()``. On, the first
    ``warmup`` calls run eagerly, the next one captures ``fn`` writing its result into a
    static output tensor, and each call from then on replays the graph and returns that
    tensor: the next call overwrites it, so consume (or clone) it first. Autocast inside
    ``fn`` must not cache (``system.autocast(cache=False)``).

    Attributes:
        enabled, eager_steps, replays: as ``StepRunner`` (``eager_steps`` counts eager calls).
    """

    def __init__(
        self,
        fn: Callable[[], torch.Tensor],
        *,
        device: torch.device,
        enabled: bool,
        warmup: int = 2,
        what: str = "forward",
    ):
        """Wrap ``fn``.

        ``warmup`` eager calls (>= 1) come before the capture; ``what`` names ``fn`` in the
        warning of a failed capture.
        """
        if warmup < 1:
            raise ValueError(
                f"warmup={warmup}: a forward needs at least one eager call "
                "before its graph is captured"
            )
        super().__init__(device, enabled)
        self.fn, self.warmup, self.what = fn, warmup, what
        self._replay: Callable[[], None] | None = None
        self._out: torch.Tensor | None = None  # the last eager result, then the static output

    def _eager(self) -> torch.Tensor:
        self.eager_steps += 1
        return self.fn()

    def __call__(self) -> torch.Tensor:
        """``fn()``'s result: a new tensor eagerly, the static output tensor when replayed."""
        if not self.enabled:
            return self._eager()
        if self._replay is None:
            if self.eager_steps < self.warmup:
                out: list[torch.Tensor] = []
                self.backend.eager(lambda: out.append(self._eager()))
                self._out = out[0]
                return out[0]
            static = self._out = torch.empty_like(self._out)
            try:
                self._replay = self.backend.capture(lambda: static.copy_(self.fn()))
            except RuntimeError as err:
                self._out = None
                self._give_up("", err)
                return self._eager()
        self._replay()
        self.replays += 1
        return self._out
