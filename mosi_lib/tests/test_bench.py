"""The benchmark's seeds table runs in every mode (mechanics only: speed is measured, not
tested)."""

import pytest
import torch

from mosi_lib import bench


@pytest.mark.parametrize("mode", ["sequential", "together", "processes"])
def test_time_seeds_modes(tiny_config, mode):
    data = bench._fake_data(40, tiny_config.data.max_len, {"text": 5, "audio": 3, "visual": 4})
    sec = bench.time_seeds(mode, n_seeds=3, epochs=1, device=torch.device("cpu"), amp=False,
                           data=data, cfg=tiny_config, workers=2)  # fmt: skip
    assert sec > 0


def test_time_seeds_bad_mode(tiny_config):
    data = bench._fake_data(8, 4, {"text": 2})
    with pytest.raises(ValueError, match="mode='parallel'"):
        bench.time_seeds("parallel", n_seeds=2, epochs=1, device=torch.device("cpu"), amp=False,
                         data=data, cfg=tiny_config)  # fmt: skip
