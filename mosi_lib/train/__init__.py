"""Training on device-resident data: the step, the epoch loop and the fits built on them.

* ``loop``: the data set on the device and its mini-batches, the one epoch loop and the events
  hooks receive, forwards in eval mode, the random state a resume restores, device, seeds,
  precision;
* ``classifier``: ``fit_classifier`` (paper section 4.2), its checkpoint rule and the epoch
  skeleton every classifier fit shares (``fit_epochs``);
* ``dec``: ``fit_dec``, both DEC stages (section 4.3), and ``init_centers``;
* ``semi``: the arms beyond DEC: self-training, mean teacher, contrastive pretraining;
* ``graphs``: the ordinary step and per-epoch forwards replayed as CUDA graphs (optional).
"""
