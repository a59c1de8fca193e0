from matplotlib.figure import Figure

from mosi_lib.report import plots

MARK = plots.SYNTHETIC_MARK


def test_mark_synthetic_prefixes_title_once():
    fig = Figure()
    fig.suptitle("Loss curves")
    plots.mark_synthetic(fig)
    plots.mark_synthetic(fig)
    assert fig.get_suptitle() == f"{MARK} · Loss curves"
    assert plots.shows_synthetic(fig) is True
    assert plots.mark_synthetic(Figure()).get_suptitle() == MARK
