"""Reporting from ``runs/`` alone: ``results`` (tables), ``plotting`` (figures), ``stats``."""
