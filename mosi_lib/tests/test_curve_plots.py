import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from mosi_lib import runs
from mosi_lib.config import Config
from mosi_lib.report import outputs, plots
from mosi_lib.tests.fake_runs import classifier_history, classifier_metrics, write_run

matplotlib.use("Agg")  # never a GUI; the plot functions build Figures without pyplot anyway


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _dec_history(stage2: bool = True) -> pd.DataFrame:
    s1 = pd.DataFrame(
        {
            "stage": 1,
            "epoch": [1, 2, 3],
            "loss": [2.0, 1.0, 0.5],
            "recon": [1.5, 0.8, 0.4],
            "disent": [0.5, 0.2, 0.1],
        }
    )
    if not stage2:
        return s1
    s2 = pd.DataFrame(
        {
            "stage": 2,
            "epoch": [1, 2],
            "loss": [0.9, 0.7],
            "recon": [0.4, 0.35],
            "kl": [0.3, 0.2],
            "sup": [0.6, 0.5],
            "delta_label": [0.1, 0.02],
        }
    )
    return pd.concat([s1, s2], ignore_index=True)


def test_best_epoch_rule():
    h = classifier_history()
    assert plots.best_epoch(h) == 3  # tie on val_acc -> lower val_loss
    assert plots.best_epoch(h.iloc[::-1]) == 3  # row order does not matter
    h.loc[h["epoch"] == 3, "val_loss"] = 0.55
    assert plots.best_epoch(h) == 2  # full tie -> earlier epoch
    h.loc[h["epoch"] == 5, ["val_acc", "val_loss"]] = [0.9, 0.9]
    assert plots.best_epoch(h) == 5  # accuracy comes before loss


def test_best_epoch_bad_history():
    with pytest.raises(ValueError, match=r"missing columns \['val_loss'\]"):
        plots.best_epoch(pd.DataFrame({"epoch": [1], "val_acc": [0.5]}))
    with pytest.raises(ValueError, match="NaN"):
        plots.best_epoch(
            pd.DataFrame({"epoch": [1], "val_acc": [np.nan], "val_loss": [1.0]})
        )
    with pytest.raises(ValueError, match="no rows"):
        plots.best_epoch(pd.DataFrame(columns=["epoch", "val_acc", "val_loss"]))


def test_loss_curves_mark_best_epoch():
    h = classifier_history()
    fig = plots.plot_loss_curves(h.iloc[::-1], title="run r1")
    assert fig.get_suptitle() == "run r1"
    ax_loss, ax_acc = fig.axes
    best = "best epoch 3 (val acc 80.00%)"
    assert _legend(ax_loss) == ["train", "validation", best]
    assert _legend(ax_acc) == ["train", "validation (selection metric)", best]
    val = ax_acc.lines[1]
    np.testing.assert_allclose(val.get_xdata(), h["epoch"])  # sorted by epoch
    np.testing.assert_allclose(val.get_ydata(), 100 * h["val_acc"])  # in %
    star = ax_acc.lines[2]
    assert list(star.get_xdata()) == [3] and list(star.get_ydata()) == pytest.approx([80.0])
    assert ax_acc.lines[3].get_xdata()[0] == 3  # dashed line at the kept epoch
    fig = plots.plot_loss_curves(h.drop(columns="train_acc"), title="t")
    assert _legend(fig.axes[1]) == ["validation (selection metric)", best]


def test_loss_curves_name_the_objective_and_save_the_data_note(tmp_path):
    h = classifier_history()
    assert plots.plot_loss_curves(h, title="t").axes[0].get_ylabel() == (
        "binary cross-entropy"
    )
    fig = plots.plot_loss_curves(h, title="t", objective="l1")
    assert fig.axes[0].get_ylabel() == "L1 loss on the score"
    assert fig.axes[0].get_title() == "Loss"
    with pytest.raises(ValueError, match="objective='mse'"):
        plots.plot_loss_curves(h, title="t", objective="mse")
    for _ in range(2):  # saving twice keeps one note
        files = outputs.save_figure(
            fig,
            "02_loss_curves",
            runs=["r"],
            synthetic=False,
            out_dir=tmp_path,
            data="real CMU-MOSI (test)",
        )
    notes = [t.get_text() for t in fig.texts if t.get_text().startswith("data:")]
    assert notes == ["data: real CMU-MOSI (test)"]
    assert json.loads(files["02_loss_curves.json"].read_text())["data"] == "real CMU-MOSI (test)"


def test_data_note_is_legible_and_inside_the_figure(tmp_path):
    """The data note is 8 points or more, wrapped to the width, below the axes, never cut off."""
    data = ("real CMU-MOSI (transcripts + all-mpnet-base-v2 mean-of-layers word vectors, "
            "openSMILE); not the paper's SDK features")
    fig = plots.new_figure(plots.SIZE_SINGLE)  # the narrowest figure kind
    fig.add_subplot().plot([0, 1], [0, 1])
    fig.axes[0].set_xlabel("epoch")
    outputs.save_figure(fig, "02_loss_curves", runs=["r"], synthetic=False,
                             out_dir=tmp_path, data=data)
    (note,) = [t for t in fig.texts if t.get_text().startswith("data:")]
    assert note.get_fontsize() >= 8
    assert note.get_text().replace("\n", " ") == f"data: {data}"
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    box = note.get_window_extent(renderer)
    assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= fig.bbox.x1  # nothing cut off
    assert all(box.y1 <= ax.get_tightbbox(renderer).y0 + 1 for ax in fig.axes)  # below the axes


def test_loss_curves_missing_column():
    h = classifier_history().drop(columns="train_loss")
    with pytest.raises(ValueError, match="train_loss"):
        plots.plot_loss_curves(h, title="t")


def test_dec_curves_both_stages():
    fig = plots.plot_dec_curves(_dec_history())
    assert fig.get_suptitle() == "DEC pretraining"
    ax1, ax2, twin = fig.axes
    assert ax1.get_title() == "Stage 1: autoencoder (3 epochs)"
    assert ax2.get_title() == "Stage 2: clustering (2 epochs)"
    assert _legend(ax1) == ["reconstruction (masked MSE)", "disentanglement"]
    assert _legend(ax2) == [
        "total (weighted)",
        "KL(P||Q)",
        "reconstruction",
        "supervised CE",
        "changed assignments",
    ]
    assert ax1.get_yscale() == "log" and ax2.get_yscale() == "log"
    np.testing.assert_allclose(twin.lines[0].get_ydata(), [10.0, 2.0])  # delta_label in %
    fig.canvas.draw()  # the legends sit below the panels, off every line (the twin's too)
    for ax in (ax1, ax2):
        assert ax.get_legend().get_window_extent().y1 < ax.get_window_extent().y0


def test_dec_curves_stage1_only_and_linear_scale():
    h = _dec_history(stage2=False)
    h.loc[0, "disent"] = -0.1  # a non-positive value: no log scale
    fig = plots.plot_dec_curves(h, title="run d")
    ax1, ax2 = fig.axes
    assert ax1.get_yscale() == "linear"
    assert [t.get_text() for t in ax2.texts] == ["no stage-2 epochs"]
    with pytest.raises(ValueError, match="recon"):
        plots.plot_dec_curves(h.drop(columns="recon"))


def test_run_loss_curves_take_arm_name_and_loss_from_the_run(tmp_path):
    """Notebook 04's dec_ft_labeled run is titled by its arm, its loss axis by its objective."""
    cfg = Config()
    cfg.train.objective = "l1"
    run = runs.create_run(cfg, kind="classifier", root=tmp_path, run_id="dec_ft_labeled_s0")
    for row in classifier_history().to_dict("records"):
        run.append_history(row)
    transfer = {"dec_labeled_fraction": 0.4}
    run.save_metrics(classifier_metrics(0, init="dec", transfer=transfer))
    fig = plots.plot_run_loss_curves(run, context="real CMU-MOSI")
    assert fig.get_suptitle() == "Transformer + DEC (40%): real CMU-MOSI"
    assert "dec_ft" not in fig.get_suptitle()
    assert fig.axes[0].get_ylabel() == "L1 loss on the score"
    # a run whose config.yaml predates train.objective: bce, the default of the time
    old = write_run(tmp_path, "old_s0", classifier_metrics(0))
    (old.path / "history.csv").write_text(classifier_history().to_csv(index=False))
    cfg_file = old.path / "config.yaml"
    text = cfg_file.read_text()
    assert "objective: l1" not in text
    cfg_file.write_text("\n".join(x for x in text.splitlines() if "objective:" not in x))
    fig = plots.plot_run_loss_curves(old)
    assert fig.axes[0].get_ylabel() == "binary cross-entropy"
    assert fig.get_suptitle() == "Transformer (40%)"


def test_long_titles_wrap_to_the_figure_width():
    words = "Transformer + DEC (all labels; DEC pretrained with 40%) on real CMU-MOSI " * 4
    fig = plots.plot_loss_curves(classifier_history(), title=words.strip())
    lines = fig.get_suptitle().split("\n")
    width = plots.title_width(fig)
    assert len(lines) > 1 and all(len(line) <= width for line in lines)
    assert width < 120  # 11 inches at 12 points: about 95 characters
    plots.mark_synthetic(fig)  # the mark's prefix is wrapped in too
    assert all(len(line) <= width for line in fig.get_suptitle().split("\n"))
    # drawn, the title stays inside the figure
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    box = fig._suptitle.get_window_extent(renderer)
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
