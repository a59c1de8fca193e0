"""Studies: ``runs`` (folders, status, checkpoints), ``experiments`` (runs, grids, resume)."""
