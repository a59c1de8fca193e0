"""mosi_lib: semi-supervised multimodal sentiment classification on CMU-MOSI.

A thin helper library for the notebooks in ``notebooks/``: reading and preprocessing the data
(``data``), models (``models``), losses (``losses``), training (``train``), run and study
folders, grids and the CLI's commands (``study``), metrics (``metrics``), and tables and figures
read from ``runs/`` alone (``report``). Importing the package is cheap: submodules are imported
where used.
"""

__version__ = "0.1.0"

import warnings as _warnings

# Inside a Jupyter kernel, transformers' import of tqdm.auto warns "IProgress not found. Please
# update jupyter and ipywidgets" when ipywidgets is not installed (it is not a dependency), once
# per notebook of a headless run. The bars then print as text, which is what a papermill run and
# its executed copy want; install ipywidgets for widget bars in JupyterLab.
_warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")
