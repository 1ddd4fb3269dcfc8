"""The Brunel (2000) network builder and the statistics benchmarks/compare_nest.py reports."""

import importlib.util
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from neurodyn.network import DeltaSynapse, PoissonDrive
from neurodyn.network.brunel import brunel_network, population_spectrum

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_brunel_network_has_brunels_in_degrees_weights_and_drive():
    """N = 1000, ε = 0.1: C_E = 80, C_I = 20 per neuron; J and −gJ; ν_ext = η θ/(J C_E τ_m)."""
    net, y0 = brunel_network(jax.random.key(0), 1000, g=5.0, eta=2.0, j=0.1)
    assert [p[0] for p in net.populations] == ["E", "I"] and net.n == 1000
    proj_e, proj_i = net.projections
    np.testing.assert_array_equal(proj_e.connectivity.in_degree(), 80)
    np.testing.assert_array_equal(proj_i.connectivity.in_degree(), 20)
    w = proj_e.connectivity.to_lists()[2]
    assert np.all(w == np.float32(0.1))
    assert np.all(proj_i.connectivity.to_lists()[2] == np.float32(-0.5))
    assert proj_e.delay == pytest.approx(1.4)  # NEST's D = 1.5 ms lands at t_spike + 1.5 (see synapses)
    (drive,) = net.drives
    assert isinstance(drive, PoissonDrive) and isinstance(net.synapses[0], DeltaSynapse)
    assert drive.n_inputs == 80 and float(drive.rate) == pytest.approx(2 * 1000 * 20 / (0.1 * 80 * 20))
    v = np.asarray(y0["v"])
    assert 0.0 <= v.min() and v.max() < 20.0 and abs(v.mean() - 10.0) < 0.6  # U(0, θ)
    with pytest.raises(ValueError, match="delay must be >= dt"):
        brunel_network(jax.random.key(0), 100, delay=0.05)
    # compare_nest's export of the recurrent synapses (for NEST's one_to_one Connect): every
    # neuron has exactly 80 sources in E (indices < 800) and 20 in I, the total is 100 000
    from compare_nest import brunel_pairs

    pre, post = brunel_pairs(net)
    assert pre.size == post.size == 100_000 and pre.min() >= 0 and pre.max() < 1000
    np.testing.assert_array_equal(np.bincount(post[pre < 800], minlength=1000), 80)
    np.testing.assert_array_equal(np.bincount(post[pre >= 800], minlength=1000), 20)


def test_population_spectrum_finds_the_frequency_of_a_periodic_population():
    """Every neuron fires at t = 10 k ms (100 Hz): the periodogram's peak is at 100 Hz."""
    times = np.repeat(np.arange(0.0, 1000.0, 10.0), 50)
    freqs, power = population_spectrum(times, 0.0, 1000.0, 50)
    assert freqs[np.argmax(power)] == pytest.approx(100.0)


def test_compare_nest_statistics_of_regular_and_poisson_trains():
    from compare_nest import statistics_of

    rng = np.random.default_rng(0)
    n, t_ms = 200, 2000.0
    # regular 50 Hz trains with random phases: rate 50, CV 0
    phase = rng.uniform(0, 20.0, n)
    t = (phase[:, None] + 20.0 * np.arange(100)[None, :]).ravel()
    i = np.repeat(np.arange(n), 100)
    s = statistics_of(t, i, n, 0.0, t_ms)
    assert s["rate_hz"] == pytest.approx(50.0, rel=0.01) and s["cv_isi"] < 1e-9
    # Poisson 20 Hz: CV ≈ 1
    counts = rng.poisson(20.0 * t_ms / 1000.0, n)
    t = np.concatenate([np.sort(rng.uniform(0, t_ms, c)) for c in counts])
    i = np.repeat(np.arange(n), counts)
    s = statistics_of(t, i, n, 0.0, t_ms)
    assert s["rate_hz"] == pytest.approx(20.0, rel=0.05) and s["cv_isi"] == pytest.approx(1.0, abs=0.05)


@pytest.mark.skipif(importlib.util.find_spec("nest") is None, reason="NEST (extra 'nest') not installed")
def test_compare_nest_small_run(capsys):
    import json

    from compare_nest import main

    main(["--n", "500", "--t-ms", "200", "--t-skip", "50", "--seeds", "1", "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["rate_hz"]["nest"]["mean"] > 0 and out["rate_hz"]["neurodyn"]["mean"] > 0
