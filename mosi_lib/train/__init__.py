"""Training: the loops (``engine``: classifier, seeds together, DEC), on device-resident data."""
