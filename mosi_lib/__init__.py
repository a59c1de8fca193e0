"""mosi_lib: semi-supervised multimodal sentiment classification on CMU-MOSI.

A thin helper library for the notebooks in ``notebooks/``: data loading (``data``,
``synthetic``), preprocessing (``preprocess``), models (``models``), losses (``losses``),
training (``engine``, ``runs``), metrics (``metrics``) and figures (``plotting``, ``results``).
Importing the package is cheap: submodules are imported where used.
"""

__version__ = "0.1.0"
