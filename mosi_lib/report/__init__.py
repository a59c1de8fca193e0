"""Reporting from ``runs/`` alone: run results as frames, tables, figures and their files.

``collect`` (runs -> frames), ``tables`` and ``pairing`` (frames -> tables), ``table_files``
(tables -> CSV, Markdown, LaTeX), ``stats`` (intervals and paired tests); ``figure_style``,
``data_plots``, ``curve_plots``, ``sweep_plots``, ``tsne_plots`` (figures), ``figure_files``
(figures -> PNG, PDF, sidecar); ``outputs`` (every output's name, written as a set).
"""
