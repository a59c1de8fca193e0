"""``graphs.StepRunner``, ``graphs.ForwardRunner`` (system.cuda_graphs): warm-up, capture, replay.

On a CPU the capture is emulated (the ``emulated`` fixture of conftest: a "graph" that re-runs
the recorded step and checks that it reads the same outside tensors at every replay and never
waits for the device); the CUDA tests at the end capture real graphs.
"""

import copy

import numpy as np
import pytest
import torch

from mosi_lib import models
from mosi_lib.config import Config, SystemConfig, TrainConfig, validate
from mosi_lib.data.preprocess import preprocess
from mosi_lib.tests.conftest import make_raw
from mosi_lib.train import graphs, loop
from mosi_lib.train.classifier import fit_classifier
from mosi_lib.train.dec import fit_dec
from mosi_lib.train.loop import DeviceData, predict_logits


@pytest.fixture
def data(tiny_config):
    return preprocess(make_raw(n=160), tiny_config.data)


def _recording_runner(warmup=2):
    seen = []
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)

    def step(idx):
        seen.append(idx.tolist())

    runner = graphs.StepRunner(
        step, optimizer=opt, device=torch.device("cpu"), enabled=True, warmup=warmup
    )
    return runner, seen


def test_runner_is_eager_off_cuda():
    runner, seen = _recording_runner()
    assert not runner.enabled  # CPU: cuda_graphs is ignored
    for i in range(5):
        runner(torch.tensor([i, i + 1]))
    assert runner.eager_steps == 5 and runner.replays == 0
    assert seen == [[i, i + 1] for i in range(5)]


def test_runner_warms_up_then_captures_each_batch_size_once(emulated):
    runner, seen = _recording_runner(warmup=2)
    batches = [[0, 1, 2], [3, 4, 5], [6], [7, 8, 9], [10], [11], [12, 13, 14], [15]]
    for b in batches:
        runner(torch.tensor(b))
    # size 3: two eager steps, then captured at its third batch; size 1 likewise
    assert runner.eager_steps == 4 and emulated.captures == 2 and runner.replays == 4
    # every step, eager or replayed, saw its own batch (a replay reads the static index
    # tensor, into which the runner copied the batch)
    assert seen == batches


def test_runner_needs_a_warmup_step():
    w = torch.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match="at least one eager step"):
        graphs.StepRunner(
            lambda idx: None,
            optimizer=torch.optim.SGD([w], lr=0.1),
            device=torch.device("cpu"),
            enabled=True,
            warmup=0,
        )


def _counting_forward():
    w = torch.tensor([1.0, 2.0])
    calls = []

    def fn():
        calls.append(1)
        return w * 3

    return w, fn, calls


def test_forward_runner_is_eager_off_cuda():
    w, fn, calls = _counting_forward()
    runner = graphs.ForwardRunner(fn, device=torch.device("cpu"), enabled=True)
    assert not runner.enabled
    outs = [runner() for _ in range(3)]
    assert len(calls) == 3 and runner.counts() == {"eager": 3, "graph_replays": 0}
    assert outs[0] is not outs[1]  # eager: a new tensor per call


def test_forward_runner_replays_into_one_static_tensor(emulated):
    w, fn, calls = _counting_forward()
    runner = graphs.ForwardRunner(fn, device=torch.device("cpu"), enabled=True, warmup=2)
    first, second = runner(), runner()  # the two eager warm-up calls
    assert emulated.captures == 0 and first.tolist() == second.tolist() == [3.0, 6.0]
    w.mul_(2)  # training changes the weights in place
    third = runner()  # captured, then replayed
    assert emulated.captures == 1 and third.tolist() == [6.0, 12.0]
    w.add_(1)
    fourth = runner()
    # the same static tensor, overwritten by each replay with the current weights' result
    assert fourth is third and fourth.tolist() == [9.0, 15.0]
    assert runner.counts() == {"eager": 2, "graph_replays": 2}
    with pytest.raises(ValueError, match="at least one eager call"):
        graphs.ForwardRunner(fn, device=torch.device("cpu"), enabled=True, warmup=0)


def test_forward_runner_replay_must_read_the_captured_tensors(emulated):
    """A forward that reads a rebound tensor (not changed in place) fails the emulated
    replay, as a real graph would silently read the old tensor's memory."""
    holder = [torch.tensor([1.0])]
    runner = graphs.ForwardRunner(
        lambda: holder[0] * 2, device=torch.device("cpu"), enabled=True, warmup=1
    )
    runner(), runner(), runner()
    holder[0] = torch.tensor([5.0])
    with pytest.raises(AssertionError, match="a replay read tensors the first replay did not"):
        runner()


def test_config_refuses_cuda_graphs_with_compile():
    cfg = Config()
    cfg.system.cuda_graphs, cfg.system.compile = True, True
    with pytest.raises(ValueError, match="system.cuda_graphs=true with system.compile"):
        validate(cfg)


def _fit(tiny_config, data, cuda_graphs, device="cpu", epochs=4, amp=False, batch_size=32):
    loop.seed_everything(0)
    dd = DeviceData(data, torch.device(device))
    model = models.build_classifier(tiny_config.model, data.dims, data.max_len).to(device)
    recipe = TrainConfig(epochs=epochs, batch_size=batch_size, lr=3e-3, weight_decay=1e-2)
    how = SystemConfig(amp=amp, progress=False, cuda_graphs=cuda_graphs)
    res = fit_classifier(
        model,
        dd,
        recipe,
        how,
        train_idx=data.train_rows("all", "has0"),
        val_idx=data.rows("valid"),
    )
    return res, model


def test_graphed_classifier_steps_equal_eager_ones(tiny_config, data, emulated):
    """With the emulated capture the graphed loop trains exactly as the eager one: the step
    takes its batch only from the static index tensor and adds into the epoch's sums in place.
    """
    n = len(data.train_rows("all", "has0"))
    assert n % 30 > 1  # two batch sizes: 30 and the last batch's
    eager, m_eager = _fit(tiny_config, data, cuda_graphs=False, batch_size=30)
    graphed, m_graphed = _fit(tiny_config, data, cuda_graphs=True, batch_size=30)
    assert emulated.captures == 3  # a step per batch size, the validation forward
    total = 4 * (n // 30 + 1)  # 4 epochs
    assert eager["steps"] == {"eager": total, "graph_replays": 0}
    assert graphed["steps"] == {"eager": 4, "graph_replays": total - 4}  # 2 warm-ups per size
    assert eager["val_forwards"] == {"eager": 4, "graph_replays": 0}
    assert graphed["val_forwards"] == {"eager": 2, "graph_replays": 2}  # 2 warm-ups
    keys = ("train_loss", "train_acc", "val_loss", "val_acc", "val_f1")
    assert [[h[k] for k in keys] for h in graphed["history"]] == [
        [h[k] for k in keys] for h in eager["history"]
    ]
    for a, b in zip(m_eager.state_dict().values(), m_graphed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def _assert_replayed(res):
    """The graphs ran: no capture fell back to eager calls; most steps were replays, and the
    per-epoch forward (the classifier's validation, DEC's target update) after its two
    warm-ups."""
    for key in ("steps", "val_forwards", "target_forwards"):
        if key not in res:
            continue
        counts = res[key]
        assert "capture_failed" not in counts, (key, counts["capture_failed"])
        if key == "steps":
            assert counts["graph_replays"] > counts["eager"], (key, counts)
        else:
            assert counts["eager"] == 2 and counts["graph_replays"] > 0, (key, counts)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graphs_classifier_matches_eager_on_cuda(tiny_config, data):
    """Real capture: without dropout and in fp32 the graphed run follows the eager run to
    rounding (capturable Adam, another kernel order), and its steps are replays."""
    tiny_config.model.enc_dropout = tiny_config.model.dropout = 0.0
    eager, _ = _fit(tiny_config, data, cuda_graphs=False, device="cuda")
    graphed, _ = _fit(tiny_config, data, cuda_graphs=True, device="cuda")
    _assert_replayed(graphed)
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose(
            [h[key] for h in graphed["history"]],
            [h[key] for h in eager["history"]],
            rtol=1e-3,
            err_msg=key,
        )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graphs_classifier_learns_with_dropout_and_bf16(tiny_config, data):
    res, model = _fit(tiny_config, data, cuda_graphs=True, device="cuda", epochs=30, amp=True)
    _assert_replayed(res)
    hist = res["history"]
    assert all(np.isfinite([h["train_loss"] for h in hist]))
    assert np.mean([h["train_loss"] for h in hist[-3:]]) < 0.8 * hist[0]["train_loss"]
    assert res["best"]["acc"] > 0.75  # the synthetic text sign is learnable
    before = copy.deepcopy(model.state_dict())
    predict_logits(
        model, DeviceData(data, torch.device("cuda")), torch.arange(len(data), device="cuda")
    )
    for k, v in model.state_dict().items():  # evaluation replays nothing that trains
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def _fit_dec(tiny_config, data, cuda_graphs, device="cpu", amp=False):
    cfg = tiny_config.dec
    # P refreshed every stage-2 epoch: 4 target updates, the last two replayed under graphs
    cfg.stage1_epochs, cfg.stage2_epochs, cfg.update_interval, cfg.tol = 3, 4, 1, 0.0
    cfg.batch_size = 30  # 160 rows: batches of 30 and a last one of 10
    loop.seed_everything(0)
    dd = DeviceData(data, torch.device(device))
    model = models.build_dec(tiny_config.model, cfg, data.dims, data.max_len).to(device)
    how = SystemConfig(amp=amp, progress=False, cuda_graphs=cuda_graphs)
    res = fit_dec(
        model,
        dd,
        cfg,
        how,
        rows=np.arange(len(data)),
        labeled_rows=data.train_rows("labeled", "has0"),
    )
    return res


def test_graphed_dec_steps_equal_eager_ones(tiny_config, data, emulated):
    """Both DEC stages through the runner (emulated capture): the history and assignments of
    the eager loop, P read from the tensor refreshed in place, no host synchronisation. Stage
    1 is the eager arithmetic exactly; stage 2's replays weight the labeled rows instead of
    selecting them (``losses.supervised_cluster_ce``'s static-shape form, which the step asks
    for under capture): equal to rounding."""
    eager = _fit_dec(tiny_config, data, cuda_graphs=False)
    graphed = _fit_dec(tiny_config, data, cuda_graphs=True)
    # stage 1: sizes 30 and 10 captured at their third batch; stage 2 (own runner) likewise;
    # stage 2's target-update forward at its third update
    assert emulated.captures == 5
    steps = 7 * 6  # 3 + 4 epochs of 6 batches
    assert eager["steps"] == {"eager": steps, "graph_replays": 0}
    assert graphed["steps"] == {"eager": 8, "graph_replays": steps - 8}
    assert eager["target_forwards"] == {"eager": 4, "graph_replays": 0}
    assert graphed["target_forwards"] == {"eager": 2, "graph_replays": 2}
    assert [h["stage"] for h in graphed["history"]] == [1, 1, 1, 2, 2, 2, 2]
    keys = ("loss", "kl", "recon", "sup", "disent")
    got = np.array([[h[k] for k in keys] for h in graphed["history"]])
    want = np.array([[h[k] for k in keys] for h in eager["history"]])
    np.testing.assert_array_equal(got[:3], want[:3])
    np.testing.assert_allclose(got[3:], want[3:], rtol=1e-5)
    assert (got[3:, keys.index("sup")] > 0).all()
    np.testing.assert_allclose(graphed["q"], eager["q"], rtol=1e-4, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graphs_dec_matches_eager_on_cuda(tiny_config, data):
    """Real capture of both DEC stages (stage 2's supervised term in its static-shape form):
    without dropout and in fp32 the stage-1 curve follows the eager one to rounding; stage 2
    runs, its loss is finite and Q stays a distribution."""
    tiny_config.model.enc_dropout = tiny_config.model.dropout = 0.0
    eager = _fit_dec(tiny_config, data, cuda_graphs=False, device="cuda")
    graphed = _fit_dec(tiny_config, data, cuda_graphs=True, device="cuda")
    _assert_replayed(graphed)
    s1 = [[h["recon"], h["disent"]] for h in eager["history"] if h["stage"] == 1]
    g1 = [[h["recon"], h["disent"]] for h in graphed["history"] if h["stage"] == 1]
    np.testing.assert_allclose(g1, s1, rtol=1e-3)
    s2 = [h for h in graphed["history"] if h["stage"] == 2]
    assert len(s2) == 4 and all(np.isfinite([h["loss"] for h in s2]))
    assert all(h["sup"] > 0 for h in s2)  # labeled rows reach the supervised term
    np.testing.assert_allclose(graphed["q"].sum(1), 1.0, atol=1e-4)
    bf16 = _fit_dec(tiny_config, data, cuda_graphs=True, device="cuda", amp=True)
    _assert_replayed(bf16)
    assert all(np.isfinite([h["loss"] for h in bf16["history"]]))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runner_refuses_a_non_capturable_optimizer_on_cuda():
    w = torch.zeros(1, device="cuda", requires_grad=True)
    with pytest.raises(ValueError, match="capturable=True"):
        graphs.StepRunner(
            lambda idx: None,
            optimizer=torch.optim.Adam([w]),
            device=torch.device("cuda"),
            enabled=True,
        )


def test_a_failed_capture_warns_and_trains_on_eagerly(tiny_config, data, emulated, monkeypatch):
    """A capture error does not end a run: a warning, the error in the step counts, and the
    steps after it eager (here exactly the eager run: the failed capture ran nothing)."""

    def fail(fn):
        raise RuntimeError("operation not permitted when stream is capturing\nmore detail")

    monkeypatch.setattr(emulated, "capture", fail)
    eager, _ = _fit(tiny_config, data, cuda_graphs=False)
    with pytest.warns(RuntimeWarning) as caught:
        graphed, _ = _fit(tiny_config, data, cuda_graphs=True)
    said = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert len(said) == 2  # once per runner, not once per call
    assert "capturing the training step failed (batch size 32: RuntimeError" in said[0]
    assert "capturing the validation forward failed (RuntimeError" in said[1]
    error = "RuntimeError: operation not permitted when stream is capturing"
    assert graphed["steps"] == {
        "eager": eager["steps"]["eager"],
        "graph_replays": 0,
        "capture_failed": f"batch size 32: {error}",
    }
    assert graphed["val_forwards"] == {"eager": 4, "graph_replays": 0, "capture_failed": error}
    keys = ("train_loss", "val_loss", "val_acc")
    assert [[h[k] for k in keys] for h in graphed["history"]] == [
        [h[k] for k in keys] for h in eager["history"]
    ]


def test_merge_counts_adds_steps_and_keeps_every_capture_error():
    a = {"eager": 4, "graph_replays": 10}
    b = {"eager": 6, "graph_replays": 0, "capture_failed": "batch size 30: RuntimeError: x"}
    assert graphs.merge_counts(a, a) == {"eager": 8, "graph_replays": 20}
    assert graphs.merge_counts(a, b) == {
        "eager": 10,
        "graph_replays": 10,
        "capture_failed": "batch size 30: RuntimeError: x",
    }
    assert (
        graphs.merge_counts(b, b)["capture_failed"] == f"{b['capture_failed']}; "
        f"{b['capture_failed']}"
    )
