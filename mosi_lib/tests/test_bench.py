"""The benchmark's seeds table runs in every mode (mechanics only: speed is measured, not
tested)."""

import pytest
import torch

from mosi_lib import bench


@pytest.mark.slow  # integration-scale: seeds trained in worker processes
@pytest.mark.parametrize("mode", ["sequential", "processes"])
def test_time_seeds_modes(tiny_config, mode):
    data = bench.fake_data(40, tiny_config.data.max_len, {"text": 5, "audio": 3, "visual": 4})
    sec = bench.time_seeds(
        mode,
        n_seeds=3,
        epochs=1,
        device=torch.device("cpu"),
        amp=False,
        data=data,
        cfg=tiny_config,
        workers=2,
    )
    assert sec > 0


def test_time_epochs_refuses_an_unknown_compile_mode(tiny_config):
    data = bench.fake_data(8, 4, {"text": 2})
    with pytest.raises(ValueError, match="compile='fast'"):
        bench.time_epochs(
            "classifier",
            "resident",
            epochs=1,
            device=torch.device("cpu"),
            amp=False,
            data=data,
            cfg=tiny_config,
            compile="fast",
        )


def test_time_seeds_bad_mode(tiny_config):
    data = bench.fake_data(8, 4, {"text": 2})
    with pytest.raises(ValueError, match="mode='parallel'"):
        bench.time_seeds(
            "parallel",
            n_seeds=2,
            epochs=1,
            device=torch.device("cpu"),
            amp=False,
            data=data,
            cfg=tiny_config,
        )


@pytest.mark.parametrize("task", ["classifier", "dec"])
@pytest.mark.parametrize("mode", ["resident", "dataloader", "graphs"])
def test_time_epochs_loops(tiny_config, task, mode):
    data = bench.fake_data(20, tiny_config.data.max_len, {"text": 5, "audio": 3})
    warm = []
    sec = bench.time_epochs(
        task,
        mode,
        epochs=2,
        device=torch.device("cpu"),
        amp=False,
        data=data,
        cfg=tiny_config,
        warmup=warm,
    )
    assert sec > 0 and len(warm) == 1 and warm[0] > 0


@pytest.mark.parametrize("task", ["classifier", "dec"])
def test_time_epochs_graphs_replays_the_whole_step(tiny_config, emulated, task):
    """The bench's graphs loop (emulated capture on a CPU): two batch sizes, each captured
    once after its warm-up, replays that read the same tensors and never synchronise."""
    data = bench.fake_data(40, tiny_config.data.max_len, {"text": 5, "audio": 3})
    tiny_config.train.batch_size = 16  # batches of 16, 16 and 8 per epoch
    bench.time_epochs(
        task, "graphs", epochs=3, device=torch.device("cpu"), amp=False, data=data, cfg=tiny_config
    )
    assert emulated.captures == 2


def test_time_epochs_refuses_an_unknown_loop(tiny_config):
    data = bench.fake_data(8, 4, {"text": 2})
    with pytest.raises(ValueError, match="mode='fast'"):
        bench.time_epochs(
            "classifier",
            "fast",
            epochs=1,
            device=torch.device("cpu"),
            amp=False,
            data=data,
            cfg=tiny_config,
        )


@pytest.mark.slow  # integration-scale: the whole benchmark, every table
def test_main_prints_every_table_and_skips_precision_off_cuda(tiny_config, monkeypatch, capsys):
    monkeypatch.setattr(bench, "Config", lambda: tiny_config)
    bench.main(["--device", "cpu", "--n", "24", "--epochs", "1", "--seeds", "2", "--workers", "1",
                "--encoders", "minilm-l6"])
    out = capsys.readouterr().out
    assert "  minilm-l6      last  384      2199" in out  # the text table: its encoder, layer, dim
    assert "| classifier | resident |" in out and "| dec | dataloader |" in out
    assert "| 1 | alone |" in out and "| 2 | sequential |" in out and "| 2 | 1 processes |" in out
    assert "precision/compile table: CUDA only" in out
    assert "CUDA graph, system.cuda_graphs: CUDA only" in out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_precision_table_on_cuda(tiny_config, monkeypatch, capsys):
    monkeypatch.setattr(bench, "Config", lambda: tiny_config)
    bench.main(["--device", "cuda", "--n", "64", "--epochs", "1", "--only", "precision"])
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| o")]
    assert [r.split(" | ")[1] for r in rows] == [
        "off",
        "off",
        "default",
        "default",
        "reduce-overhead",
        "reduce-overhead",
    ]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("compile", [None, "reduce-overhead"])
def test_loops_table_on_cuda(tiny_config, monkeypatch, capsys, compile):
    """Eager: a CUDA-graphs row per task; compiled: none (not with --compile)."""
    monkeypatch.setattr(bench, "Config", lambda: tiny_config)
    bench.main(
        ["--device", "cuda", "--n", "64", "--epochs", "2", "--only", "loops"]
        + (["--compile", compile] if compile else [])
    )
    out = capsys.readouterr().out
    assert "| dec | resident |" in out
    graph_rows = [r for r in out.splitlines() if "| resident, CUDA graphs |" in r]
    if compile:
        assert "torch.compile mode reduce-overhead" in out and "not with --compile" in out
        assert graph_rows == []
    else:
        assert [r.split(" | ")[0] for r in graph_rows] == ["| classifier", "| dec"]


def test_text_extraction_counts_the_real_transcripts_words():
    res = bench.text_extraction("minilm-l6", "last", limit=20)
    assert res["segments"] == 20 and res["words"] > 20 and res["seconds"] > 0
    # MiniLM's cache stores float32: 384 values of 4 bytes per word
    assert res["dim"] == 384 and res["cache_dtype"] == "float32"
    assert res["cache_mb"] == pytest.approx(res["words"] * 384 * 4 / 1e6)
