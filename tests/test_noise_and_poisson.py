"""Stochastic inputs: white-noise currents and OU currents (Diffrax SDE terms) and Poisson
sources, against their analytic statistics; reproducibility from a PRNG key."""

import diffrax
import jax
import numpy as np
import pytest

import neurodyn as nd
from neurodyn.inputs import WhiteNoise
from neurodyn.network import (
    CurrentSynapse,
    Network,
    OUCurrent,
    PoissonGroup,
    PoissonInput,
    Projection,
    from_lists,
    simulate_network,
)

# A LIF that never fires: its v is a pure readout of the input.
SILENT = dict(v_rest=0.0, threshold=1e9, v_reset=0.0, refractory_period=0.0)


def test_white_noise_current_gives_the_ornstein_uhlenbeck_membrane_variance():
    """tau dV/dt = -V + R I, I = sigma xi: stationary std R sigma / sqrt(2 tau)."""
    tau, sigma, dt = 10.0, 2.0, 0.1
    res = nd.simulate(nd.LIF(tau_m=tau, **SILENT), 300.0, dt, input=WhiteNoise(0.5, sigma),
                      n_neurons=4000, key=jax.random.key(0), record=("v",), record_every=100)
    v = np.asarray(res.traces["v"])[5:]  # from 50 ms = 5 tau on: stationary
    # Euler-Maruyama's AR(1) has variance sigma^2/(2 tau) / (1 - dt/(2 tau)): +0.25 % in std
    expected = sigma / np.sqrt(2 * tau) / np.sqrt(1 - dt / (2 * tau))
    assert v.std() == pytest.approx(expected, rel=0.02)  # 100k samples, ~10 tau apart in pairs
    assert v.mean() == pytest.approx(0.5, abs=0.01)


def test_noise_is_reproducible_and_chunking_does_not_change_it():
    model, inp = nd.LIF(tau_m=10.0, **SILENT), WhiteNoise(0.0, 1.0)
    kw = dict(input=inp, n_neurons=8, record=("v",))
    a = nd.simulate(model, 20.0, 0.1, key=jax.random.key(1), **kw)
    b = nd.simulate(model, 20.0, 0.1, key=jax.random.key(1), progress=4, **kw)
    c = nd.simulate(model, 20.0, 0.1, key=jax.random.key(2), **kw)
    np.testing.assert_allclose(a.traces["v"], b.traces["v"], atol=1e-6)
    assert float(np.abs(np.asarray(a.traces["v"]) - np.asarray(c.traces["v"])).max()) > 0.1


def test_ou_current_has_its_stationary_mean_std_and_correlation_time():
    tau, mean, sigma, dt, n = 5.0, 2.0, 0.5, 0.1, 4000
    net = Network(nd.LIF(**SILENT), [OUCurrent("I_ou", tau=tau, mean=mean, sigma=sigma)], {"A": n})
    res = simulate_network(net, 200.0, dt, key=jax.random.key(3), record=("I_ou",), record_every=10)
    x = np.asarray(res.traces["I_ou"])[20:]  # from 20 ms on (starts at the mean: already stationary in mean)
    a = dt / tau  # Euler-Maruyama: std sigma / sqrt(1 - a/2), lag-k correlation (1 - a)^k
    assert x.mean() == pytest.approx(mean, abs=0.01)
    assert x.std() == pytest.approx(sigma / np.sqrt(1 - a / 2), rel=0.03)
    lag = 50  # 5 ms = tau: records are every 1 ms
    x0, x1 = x[:-5] - mean, x[5:] - mean
    corr = float(np.mean(x0 * x1) / np.sqrt(np.mean(x0**2) * np.mean(x1**2)))
    assert corr == pytest.approx((1 - a) ** lag, abs=0.03)  # e^-1 = 0.368 in the limit


def test_poisson_group_fires_at_its_rate():
    """1000 sources at 50 Hz, one-to-one onto non-decaying counters: Binomial(steps, rate dt)."""
    n, rate, dt, t_ms = 1000, 50.0, 0.1, 1000.0
    one_to_one = from_lists(np.arange(n), np.arange(n), 1.0, n_pre=n, n_post=n)
    net = Network(nd.LIF(**SILENT), [CurrentSynapse("count", tau=1e12)], {"A": n},
                  [Projection("P", "A", one_to_one, "count")], sources=[PoissonGroup("P", n, rate)])
    res = simulate_network(net, t_ms, dt, key=jax.random.key(4))
    counts = np.asarray(res.final_state.y["count"])
    steps, p = round(t_ms / dt), rate * dt / 1000.0
    mean, var = steps * p, steps * p * (1 - p)
    assert counts.mean() == pytest.approx(mean, abs=4 * np.sqrt(var / n))
    assert counts.var() == pytest.approx(var, rel=0.15)  # sampling error of a variance: ~4.5 %


def test_poisson_input_adds_binomial_counts_times_weight():
    n, n_inputs, rate, w, dt, t_ms = 500, 100, 10.0, 0.5, 0.1, 1000.0
    net = Network(nd.LIF(**SILENT), [CurrentSynapse("count", tau=1e12)], {"A": n},
                  poisson_inputs=[PoissonInput("A", "count", n_inputs, rate, w)])
    res = simulate_network(net, t_ms, dt, key=jax.random.key(5))
    counts = np.asarray(res.final_state.y["count"]) / w
    steps, p = round(t_ms / dt), rate * dt / 1000.0
    mean, var = steps * n_inputs * p, steps * n_inputs * p * (1 - p)
    assert counts.mean() == pytest.approx(mean, abs=4 * np.sqrt(var / n))
    assert counts.var() == pytest.approx(var, rel=0.2)


def test_random_runs_need_a_key_and_euler():
    with pytest.raises(ValueError, match="pass key="):
        nd.simulate(nd.LIF(), 1.0, 0.1, input=WhiteNoise(0.0, 1.0))
    with pytest.raises(ValueError, match="Euler-Maruyama"):
        nd.simulate(nd.LIF(), 1.0, 0.1, input=WhiteNoise(0.0, 1.0), key=jax.random.key(0), solver=diffrax.Tsit5())
    with pytest.raises(ValueError, match="WhiteNoise.sigma must be >= 0"):
        WhiteNoise(0.0, -1.0)
    with pytest.raises(ValueError, match="PoissonGroup.rate must be >= 0"):
        PoissonGroup("P", 3, -1.0)
    with pytest.raises(ValueError, match="OUCurrent.tau must be > 0"):
        OUCurrent(tau=0.0)
    net = Network(nd.LIF(), [CurrentSynapse("ge")], {"A": 2}, poisson_inputs=[PoissonInput("A", "ge", 5, 1.0, 1.0)])
    with pytest.raises(ValueError, match="random spike sources"):
        simulate_network(net, 1.0, 0.1)
