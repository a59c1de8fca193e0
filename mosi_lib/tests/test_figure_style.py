from matplotlib.figure import Figure

from mosi_lib.report import figure_style

MARK = figure_style.SYNTHETIC_MARK


def test_mark_synthetic_prefixes_title_once():
    fig = Figure()
    fig.suptitle("Loss curves")
    figure_style.mark_synthetic(fig)
    figure_style.mark_synthetic(fig)
    assert fig.get_suptitle() == f"{MARK} · Loss curves"
    assert figure_style.shows_synthetic(fig) is True
    assert figure_style.mark_synthetic(Figure()).get_suptitle() == MARK
