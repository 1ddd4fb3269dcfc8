"""Network step loop: synaptic kernels vs analytic responses, delays, delivery, chunking."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurodyn import LIF, SimState
from neurodyn.network import (
    ConductanceSynapse,
    CurrentSynapse,
    Network,
    Projection,
    fixed_probability,
    from_lists,
    random_initial_state,
    simulate_network,
)

# A presynaptic neuron that fires once at the end of the first step (it starts above
# threshold) and never again (long refractory period, no input).
QUIET = dict(tau_m=20.0, v_rest=0.0, threshold=10.0, v_reset=0.0, refractory_period=1e6)


def _pair_network(synapse, weight, delays=(0.0,)):
    """Population "src" (1 neuron) → one target population per delay, 1 neuron each."""
    pops = {"src": 1, **{f"t{j}": 1 for j in range(len(delays))}}
    one = from_lists([0], [0], weight, n_pre=1, n_post=1)
    projs = [Projection("src", f"t{j}", one, synapse.name, delay=d) for j, d in enumerate(delays)]
    net = Network(LIF(**QUIET), [synapse], pops, projs)
    y0 = {"v": jnp.array([20.0] + [0.0] * len(delays))}
    return net, y0


def test_cuba_psc_and_psp_match_the_analytic_kernel():
    """One spike of weight w: g = w e^{−t/τs}; V − EL = w τs/(τm − τs)(e^{−t/τm} − e^{−t/τs})."""
    dt, tau_s, tau_m, w = 0.01, 5.0, 20.0, 1.0
    net, y0 = _pair_network(CurrentSynapse("ge", tau=tau_s), w)
    res = simulate_network(net, 40.0, dt, initial_state=y0, record=("v", "ge"))
    assert int(res.n_spikes) == 1 and float(res.spikes()[0][0]) == pytest.approx(dt)
    t = np.asarray(res.times) - dt  # time since the spike (detected at the end of step 0)
    g = np.asarray(res.traces["ge"][:, 1])
    v = np.asarray(res.traces["v"][:, 1])
    assert g[0] == 0.0 and g[1] == pytest.approx(w)  # arrives exactly one step later
    after = t >= 0
    k = np.round(t[after] / dt)
    # Euler's decay is exactly w (1 − dt/τ)^k up to float32 rounding, which accumulates
    # to at most k·2⁻²⁴ = 2.4e-4 relative after k = 4000 steps ...
    np.testing.assert_allclose(g[after], w * (1 - dt / tau_s) ** k, rtol=2.5e-4, atol=1e-7)
    # ... which is the exponential to O(k (dt/τ)²/2) = 0.8 % at 40 ms.
    np.testing.assert_allclose(g[after], w * np.exp(-t[after] / tau_s), rtol=1e-2, atol=1e-6)
    # PSP: peak time and height against the closed form; Euler's O(dt/τs) = 0.2 % error.
    t_peak = tau_m * tau_s / (tau_m - tau_s) * math.log(tau_m / tau_s)  # 9.242 ms
    v_peak = w * tau_s / (tau_m - tau_s) * (math.exp(-t_peak / tau_m) - math.exp(-t_peak / tau_s))
    assert t[np.argmax(v)] == pytest.approx(t_peak, abs=0.05)
    assert v.max() == pytest.approx(v_peak, rel=5e-3)
    v_exact = w * tau_s / (tau_m - tau_s) * (np.exp(-t[after] / tau_m) - np.exp(-t[after] / tau_s))
    np.testing.assert_allclose(v[after], v_exact, atol=2e-3 * v_peak)


def test_coba_conductance_decays_and_drives_towards_reversal():
    dt, tau, w = 0.05, 10.0, 0.5
    net, y0 = _pair_network(ConductanceSynapse("gi", tau=tau, reversal=-80.0), w)
    res = simulate_network(net, 20.0, dt, initial_state=y0, record=("v", "gi"))
    t = np.asarray(res.times) - dt
    g = np.asarray(res.traces["gi"][:, 1])
    after = t >= 0
    np.testing.assert_allclose(g[after], w * (1 - dt / tau) ** np.round(t[after] / dt), rtol=4e-5)  # k·2⁻²⁴, k = 400
    v = np.asarray(res.traces["v"][:, 1])
    # dV/dt right after the spike: (−(V − EL) + g (Ei − V))/τm = 0.5·(−80)/20 = −2 mV/ms
    assert (v[2] - v[1]) / dt == pytest.approx(w * -80.0 / 20.0, rel=1e-5)
    assert v.min() < -1.0 and v[-1] < 0.0


def test_delays_are_exact_to_the_step():
    dt, w = 0.1, 1.0
    delays = (0.0, 0.1, 0.3, 2.5)
    net, y0 = _pair_network(CurrentSynapse("ge", tau=5.0), w, delays)
    res = simulate_network(net, 5.0, dt, initial_state=y0, record=("ge",))
    g = np.asarray(res.traces["ge"])
    for j, d in enumerate(delays):
        arrival = 1 + round(d / dt)  # spike at the end of step 0, plus the delay
        first = int(np.argmax(g[:, 1 + j] > 0))
        assert first == arrival, (d, first, arrival)
        assert g[arrival, 1 + j] == pytest.approx(w)
    # one ring buffer shared by the delayed projections onto ge, held by the first: the
    # largest delay (25 steps) x the span of their targets t1..t3; none for delay 0
    rings = res.final_state.buffers
    assert rings[0] is None and rings[1].shape == (25, 3) and rings[2] is None and rings[3] is None


def test_event_driven_delivery_equals_dense_product():
    key = jax.random.key(0)
    n_pre, n_post = 300, 200
    w = jax.random.uniform(key, (n_pre, n_post))
    mask = jax.random.uniform(jax.random.key(1), (n_pre, n_post)) < 0.1
    pre, post = np.nonzero(np.asarray(mask))
    conn = from_lists(pre, post, np.asarray(w)[pre, post], n_pre=n_pre, n_post=n_post)
    net = Network(LIF(), [CurrentSynapse("ge")], {"A": n_pre, "B": n_post}, [Projection("A", "B", conn, "ge")])
    deliver = eqx.filter_jit(lambda net, y, spiked: net.deliver(y, (None,), spiked, jnp.int32(0), None, 0.1))
    for p_spike in (0.0, 0.01, 0.2, 1.0):  # 0, a few, several ROWS blocks, all rows
        spiked = jax.random.uniform(jax.random.key(2), (n_pre + n_post,)) < p_spike
        y, _ = deliver(net, net.initial_state(), spiked)
        expected = np.asarray(spiked[:n_pre], float) @ np.asarray(conn.to_dense())
        np.testing.assert_allclose(y["ge"][n_pre:], expected, rtol=1e-5, atol=1e-5)
        assert float(jnp.abs(y["ge"][:n_pre]).max()) == 0.0


def _small_coba(delay=0.5, n=200):
    k1, k2, k3 = jax.random.split(jax.random.key(3), 3)
    n_e = int(0.8 * n)
    net = Network(
        LIF(tau_m=20.0, v_rest=-60.0, threshold=-50.0, v_reset=-60.0, refractory_period=5.0),
        [ConductanceSynapse("ge", 5.0, 0.0), ConductanceSynapse("gi", 10.0, -80.0)],
        {"E": n_e, "I": n - n_e},
        [
            Projection("E", "all", fixed_probability(k1, n_e, n, 0.1, 0.6), "ge", delay=delay),
            Projection("I", "all", fixed_probability(k2, n - n_e, n, 0.1, 6.7), "gi"),
        ],
    )
    y0 = random_initial_state(k3, net, {"v": -55.0, "ge": 0.4, "gi": 2.0}, {"v": 5.0, "ge": 0.15, "gi": 1.2})
    return net, y0


def test_chunked_run_equals_unchunked():
    net, y0 = _small_coba()
    # unroll=1 only to halve compile time; chunking does not depend on it
    whole = simulate_network(net, 60.0, 0.1, input=20.0, initial_state=y0, unroll=1)
    a = simulate_network(net, 30.0, 0.1, input=20.0, initial_state=y0, unroll=1)
    assert isinstance(a.final_state, SimState)
    b = simulate_network(net, 60.0, 0.1, input=20.0, initial_state=a.final_state, unroll=1)
    assert int(whole.n_spikes) > 100  # the network is active, so the test means something
    assert int(a.n_spikes) + int(b.n_spikes) == int(whole.n_spikes)
    t_ab = np.concatenate([a.spikes()[0], b.spikes()[0]])
    i_ab = np.concatenate([a.spikes()[1], b.spikes()[1]])
    np.testing.assert_allclose(t_ab, whole.spikes()[0], atol=1e-4)
    np.testing.assert_array_equal(i_ab, whole.spikes()[1])
    np.testing.assert_array_equal(a.spike_counts + b.spike_counts, whole.spike_counts)
    for k in whole.final_state.y:
        np.testing.assert_allclose(b.final_state.y[k], whole.final_state.y[k], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.final_state.buffers[0], whole.final_state.buffers[0], atol=1e-6)
    assert int(b.final_state.step) == int(whole.final_state.step) == 600


def test_spike_buffer_overflow_is_reported_and_counts_stay_exact():
    net, y0 = _small_coba()
    with pytest.warns(RuntimeWarning, match="not stored"):
        res = simulate_network(net, 30.0, 0.1, input=20.0, initial_state=y0, max_spikes=10, unroll=1)
    assert int(res.n_spikes_stored) == 10
    assert int(res.spikes_dropped) == int(res.n_spikes) - 10 > 0
    assert int(res.spike_counts.sum()) == int(res.n_spikes)


def test_bad_network_input_raises_clear_errors():
    one = from_lists([0], [0], 1.0, n_pre=1, n_post=1)
    lif, cuba = LIF(), CurrentSynapse("ge")
    with pytest.raises(ValueError, match="weights must be >= 0"):
        Network(lif, [ConductanceSynapse("ge")], {"A": 1}, [Projection("A", "A", one.with_weight(-1.0), "ge")])
    with pytest.raises(ValueError, match="connectivity is 1 -> 1 neurons but the populations have 2 -> 2"):
        Network(lif, [cuba], {"A": 2}, [Projection("A", "A", one, "ge")])
    with pytest.raises(ValueError, match="unknown receptor 'gi'"):
        Network(lif, [cuba], {"A": 1}, [Projection("A", "A", one, "gi")])
    with pytest.raises(ValueError, match="unknown population 'B'"):
        Network(lif, [cuba], {"A": 1}, [Projection("A", "B", one, "ge")])
    with pytest.raises(ValueError, match="synapse names must be distinct"):
        Network(lif, [cuba, CurrentSynapse("v")], {"A": 1})
    with pytest.raises(ValueError, match="delay must be a finite number of ms >= 0"):
        Projection("A", "A", one, "ge", delay=-1.0)
    net = Network(lif, [cuba], {"A": 1}, [Projection("A", "A", one, "ge", delay=0.05)])
    with pytest.raises(ValueError, match="shorter than dt = 0.1 ms"):
        simulate_network(net, 1.0, 0.1)
    net = Network(lif, [cuba], {"A": 1}, [Projection("A", "A", one, "ge", delay=0.25)])
    with pytest.raises(ValueError, match="not a whole number of steps"):
        simulate_network(net, 1.0, 0.1)
