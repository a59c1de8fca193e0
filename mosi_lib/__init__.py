"""mosi_lib: semi-supervised multimodal sentiment classification on CMU-MOSI.

A thin helper library for the notebooks in ``notebooks/``: reading and preprocessing the data
(``data``), models (``models``), losses (``losses``), training (``train``), run and study
folders, grids and the CLI's commands (``study``), metrics (``metrics``), and tables and figures
read from ``runs/`` alone (``report``). Importing the package is cheap: submodules are imported
where used.

The one Python entry, for a script or a notebook of your own (``api.run``)::

    import mosi_lib
    r = mosi_lib.run("quick.yaml", arm="dec", seed=0)   # or arm="scratch"; labels="all"
    r.metrics()["report"]                               # Acc-2, F1, MAE, Corr, Acc-7
"""

import warnings as _warnings
from typing import Any as _Any

__version__ = "0.1.0"
__all__ = ["run"]


def __getattr__(name: str) -> _Any:
    """``mosi_lib.run`` (``api.run``), imported on first use: the package itself stays cheap."""
    if name == "run":
        from mosi_lib.api import run

        return run
    raise AttributeError(f"module 'mosi_lib' has no attribute {name!r}")

# Inside a Jupyter kernel, transformers' import of tqdm.auto warns "IProgress not found. Please
# update jupyter and ipywidgets" when ipywidgets is not installed (it is not a dependency), once
# per notebook of a headless run. The bars then print as text, which is what a papermill run and
# its executed copy want; install ipywidgets for widget bars in JupyterLab.
_warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")
