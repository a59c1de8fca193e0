"""Studies: runs of each kind, the grids, the worker pool, study folders and their notebooks.

``classifier_runs`` and ``pretrain_runs`` (one run of each kind, its folder and record),
``execution`` (a run's set-up and status, the worker pool), ``grids`` (sweep, ablations),
``pipeline`` (what a grid may hold, the checks before a study, notebooks headless),
``studies`` (study folders, the lock, interrupts).
"""
