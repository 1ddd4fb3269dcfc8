"""Sharding over devices gives the same spikes as one device (4 forced host CPU devices)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurodyn.parallel import shard_batch, vmap_sharded

SCRIPT = Path(__file__).parent / "scripts" / "sharded_runs.py"


@pytest.fixture(scope="module")
def runs():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_population_sharded_over_4_devices_gives_the_same_spikes(runs):
    pop = runs["population"]
    assert pop["devices"] == 4
    assert len(pop["single"][0]) > 50  # most of the 64 neurons fire
    np.testing.assert_array_equal(pop["sharded"][1], pop["single"][1])
    np.testing.assert_allclose(pop["sharded"][0], pop["single"][0], atol=1e-4)


def test_batch_of_networks_sharded_over_4_devices_gives_the_same_spikes(runs):
    b = runs["batch"]
    assert b["devices"] == 4
    counts = np.asarray(b["single"])
    assert counts.shape == (4, 200) and counts.sum() > 100
    assert len({int(c.sum()) for c in counts}) == 4  # the drives differ, so do the runs
    np.testing.assert_array_equal(b["sharded"], b["single"])


def test_vmap_sharded_runs_each_devices_share_and_gives_the_same_spikes(runs):
    b = runs["vmap_sharded"]
    assert b["devices"] == 4 and b["one_share"] == [1]  # one network per device
    np.testing.assert_array_equal(b["sharded"], runs["batch"]["single"])
    np.testing.assert_array_equal(b["two_devices_one_at_a_time"], runs["batch"]["single"])


def test_bad_shardings_raise(runs):
    assert "every argument leaf needs the same leading batch axis" in runs["bad_vmap_sharded"]
    assert runs["bad_batch"] == "shard_batch: the batch of 3 does not split over 4 devices"
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        vmap_sharded(lambda x: x, batch_size=0)
    with pytest.raises(ValueError, match="no array with a batch axis"):
        shard_batch({"a": 1.0})
