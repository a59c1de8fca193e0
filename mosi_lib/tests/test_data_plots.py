import dataclasses
import json

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from mosi_lib.data.preprocess import preprocess
from mosi_lib.report import outputs, plots
from mosi_lib.tests.conftest import make_raw

matplotlib.use("Agg")  # never a GUI; the plot functions build Figures without pyplot anyway

MARK = plots.SYNTHETIC_MARK


@pytest.fixture
def synth(tiny_config):
    return preprocess(make_raw(n=60), tiny_config.data)


@pytest.fixture
def real(tiny_config):
    raw = dataclasses.replace(make_raw(n=60), synthetic=False, source="csd")
    return preprocess(raw, tiny_config.data)


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


@pytest.mark.parametrize(
    "plot",
    [
        plots.plot_label_histogram,
        plots.plot_length_histogram,
        plots.plot_feature_stats,
    ],
)
def test_data_figures_follow_the_synthetic_flag(plot, synth, real, tmp_path):
    fig = plot(synth)
    assert isinstance(fig, Figure) and fig.get_suptitle().startswith(MARK)
    with pytest.raises(ValueError, match="synthetic=False"):
        outputs.save_figure(fig, "x", runs=["r"], synthetic=False, out_dir=tmp_path / "no")
    assert not (tmp_path / "no").exists()  # refused before writing anything
    fig_real = plot(real)
    assert MARK not in fig_real.get_suptitle()
    files = outputs.save_figure(
        fig_real, "real", runs=["r"], synthetic=False, out_dir=tmp_path
    )
    assert json.loads(files["real.json"].read_text())["synthetic"] is False


def test_label_histogram_counts(synth):
    with pytest.raises(ValueError, match="contradicts"):
        plots.plot_label_histogram(synth, synthetic=False)
    fig = plots.plot_label_histogram(synth, synthetic=True)
    (ax,) = fig.axes
    n_zero = int((synth.labels == 0).sum())
    assert n_zero >= 4  # make_raw sets the first four scores to 0
    expected = {f"{s} (n = {int((synth.split == s).sum())})" for s in ("train", "valid")}
    expected.add(f"score = 0 ({n_zero} segments)")
    assert set(_legend(ax)) == expected  # no test split in the paper protocol: no empty entry
    assert ax.get_title() == "Sentiment scores by split (60 segments)"


def test_length_histogram_reports_truncation(synth):
    fig = plots.plot_length_histogram(synth)
    assert len(fig.axes) == 3
    for ax, m in zip(fig.axes, synth.modalities, strict=True):
        assert ax.get_title() == f"{m} (D = {synth.dims[m]})"
        trunc = synth.meta["report"][f"truncated_{m}"]
        mean = synth.masks[m].sum(1).mean()
        assert _legend(ax) == [f"mean {mean:.1f} steps", f"max_len = 6 ({trunc} truncated)"]


def test_feature_stats_are_zero_mean_unit_std(synth):
    fig = plots.plot_feature_stats(synth)
    assert "(48 rows)" in fig.get_suptitle()
    for ax, m in zip(fig.axes, synth.modalities, strict=True):
        mean, std = ax.lines[2].get_ydata(), ax.lines[3].get_ydata()
        assert len(mean) == synth.dims[m]
        np.testing.assert_allclose(mean, 0, atol=1e-5)
        np.testing.assert_allclose(std, 1, atol=1e-4)
        assert ax.get_title() == f"{m} (D = {synth.dims[m]}, 0 constant)"
