"""Reporting from run records alone: run results as frames, tables, figures and their files.

``collect`` (run records -> frames), ``tables`` (frames -> the comparison table, summaries and
paired comparisons), ``stats`` (intervals and paired tests), ``plots`` (every figure, one
look), ``outputs`` (every output's name; figures -> PNG, PDF, sidecar; tables -> CSV,
Markdown, LaTeX; written as a set), ``pages`` (compact tables for a page or terminal, the
generated blocks of the Markdown pages). Nothing here imports ``mosi_lib.study``.
"""
