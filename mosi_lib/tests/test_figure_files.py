import json
from pathlib import Path

import matplotlib
import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.figure import Figure

from mosi_lib.report import outputs, plots
from mosi_lib.tests.fake_runs import classifier_history

matplotlib.use("Agg")  # never a GUI; the plot functions build Figures without pyplot anyway

MARK = plots.SYNTHETIC_MARK


def test_save_figure_writes_png_pdf_and_sidecar(tmp_path):
    fig = plots.plot_loss_curves(classifier_history(), title="run r1")
    extra = {"n": np.int64(3), "kl": np.float32(0.5), "arr": np.arange(2), "p": Path("a/b")}
    files = outputs.save_figure(
        fig, "02_loss_curves", runs=["r1", "r2"], synthetic=False, out_dir=tmp_path, extra=extra
    )
    names = ["02_loss_curves.png", "02_loss_curves.pdf", "02_loss_curves.json"]
    assert sorted(files) == sorted(names)
    assert all(files[n] == tmp_path / n and files[n].stat().st_size > 0 for n in names)
    assert files["02_loss_curves.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert files["02_loss_curves.pdf"].read_bytes()[:5] == b"%PDF-"
    h, w = mpimg.imread(files["02_loss_curves.png"]).shape[:2]
    assert (w, h) == (
        round(11.0 * plots.DPI),
        round(4.0 * plots.DPI),
    )  # fixed size, dpi
    meta = json.loads(files["02_loss_curves.json"].read_text())
    assert meta["name"] == "02_loss_curves"
    assert meta["files"] == ["02_loss_curves.pdf", "02_loss_curves.png"]
    assert meta["runs"] == ["r1", "r2"] and meta["synthetic"] is False
    assert meta["dpi"] == plots.DPI and meta["size_inches"] == [11.0, 4.0]
    assert set(meta["git"]) == {"commit", "dirty"}
    assert meta["matplotlib"] == matplotlib.__version__ and meta["created"]
    assert meta["extra"] == {"n": 3, "kl": 0.5, "arr": [0, 1], "p": "a/b"}
    assert MARK not in fig.get_suptitle()


def test_save_figure_synthetic_marks_and_default_dir(tmp_path):
    fig = plots.plot_loss_curves(classifier_history(), title="smoke")
    files = outputs.save_figure(fig, "02_loss", runs=[], synthetic=True)
    assert files["02_loss.png"].parent == tmp_path / "figures"  # MOSI_FIGURES_DIR
    assert fig.get_suptitle() == f"{MARK} · smoke"
    meta = json.loads(files["02_loss.json"].read_text())
    assert meta["synthetic"] is True and meta["extra"] == {}
    # saving again replaces the files and does not repeat the mark
    outputs.save_figure(fig, "02_loss", runs=[], synthetic=True)
    assert fig.get_suptitle().count(MARK) == 1
    with pytest.raises(ValueError, match="synthetic=False"):
        outputs.save_figure(fig, "02_loss", runs=[], synthetic=False)


def test_save_figure_of_a_smoke_run_says_smoke_first(tmp_path):
    fig = plots.plot_loss_curves(classifier_history(), title="loss")
    files = outputs.save_figure(fig, "02_loss", runs=[], synthetic=True, smoke=True,
                                     out_dir=tmp_path)
    assert fig.get_suptitle() == f"{plots.SMOKE_MARK} · {MARK} · loss"
    assert json.loads(files["02_loss.json"].read_text())["smoke"] is True
    outputs.save_figure(fig, "02_loss", runs=[], synthetic=True, smoke=True,
                             out_dir=tmp_path)
    assert fig.get_suptitle().count("SMOKE") == 1


@pytest.mark.parametrize("name", ["", "../x", "a b", "_x", "x/y", "fig.png/"])
def test_save_figure_rejects_bad_name(name, tmp_path):
    with pytest.raises(ValueError, match="name="):
        outputs.save_figure(Figure(), name, runs=["r"], synthetic=False, out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad_runs", ["r1", ["r1", 2]])
def test_save_figure_rejects_bad_runs(bad_runs, tmp_path):
    with pytest.raises(ValueError, match="runs="):
        outputs.save_figure(Figure(), "x", runs=bad_runs, synthetic=False, out_dir=tmp_path)
