"""Training on device-resident data: the classifier and DEC fits and what they share.

* ``batches``: the data set on the device and its shuffled mini-batches;
* ``loop``: the one epoch loop and the events hooks receive;
* ``classifier``: ``fit_classifier`` (paper section 4.2) and its checkpoint rule;
* ``dec``: ``fit_dec``, both DEC stages (section 4.3), and ``init_centers``;
* ``evaluate``: forwards in eval mode (classifier logits and metrics, DEC's z and q);
* ``rng``: the random-number state a checkpoint saves and a resume restores;
* ``graphs``: training steps and forwards replayed as CUDA graphs;
* ``system``: device, seeds, precision.
"""
