"""The simulation path itself: populations, continuation, recording, errors, blow-up."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurodyn as nd
from neurodyn.inputs import Ramp, Step, TimeSeries


def test_heterogeneous_population_equals_each_neuron_alone():
    g_na = jnp.array([100.0, 120.0, 140.0])
    current = jnp.array([8.0, 10.0, 12.0])
    pop = nd.simulate(nd.HodgkinHuxley(g_na=g_na), t1=50.0, dt=0.01, input=current, record=("v", "n"))
    for i in range(3):
        alone = nd.simulate(nd.HodgkinHuxley(g_na=float(g_na[i])), t1=50.0, dt=0.01,
                            input=float(current[i]), record=("v", "n"))
        for k in ("v", "n"):
            np.testing.assert_allclose(pop.traces[k][:, i], alone.traces[k][:, 0], rtol=1e-5, atol=1e-4)
        assert int(pop.spike_counts[i]) == int(alone.n_spikes)


@pytest.mark.parametrize("model, current", [(nd.HodgkinHuxley(), 10.0), (nd.LIF(), 20.0)])
def test_continuing_from_final_state_equals_one_run(model, current):
    whole = nd.simulate(model, t1=100.0, dt=0.05, input=current, record=("v",))
    first = nd.simulate(model, t1=40.0, dt=0.05, input=current, record=("v",))
    second = nd.simulate(model, t1=100.0, dt=0.05, input=current, record=("v",),
                         initial_state=first.final_state)
    v = np.concatenate([first.traces["v"], second.traces["v"]])
    np.testing.assert_allclose(v, whole.traces["v"], atol=2e-4)
    t = np.concatenate([first.spikes()[0], second.spikes()[0]])
    np.testing.assert_allclose(t, whole.spikes()[0], atol=1e-4)
    np.testing.assert_allclose(np.concatenate([first.times, second.times]), whole.times, atol=1e-4)


def test_record_every_and_record_neurons():
    r = nd.simulate(nd.HodgkinHuxley(), t1=10.0, dt=0.01, input=jnp.arange(5.0), record=("v", "m"),
                    record_neurons=[1, 3], record_every=7)
    n_records = -(-1000 // 7)
    assert r.times.shape == (n_records,)
    assert r.traces["v"].shape == (n_records, 2) and r.traces["m"].shape == (n_records, 2)
    np.testing.assert_allclose(r.times[:3], [0.0, 0.07, 0.14], atol=1e-6)
    full = nd.simulate(nd.HodgkinHuxley(), t1=10.0, dt=0.01, input=jnp.arange(5.0), record=("v",))
    np.testing.assert_allclose(r.traces["v"][:, 1], full.traces["v"][::7, 3], atol=1e-5)


def test_time_dependent_inputs():
    step = Step(10.0, t_on=20.0, t_off=60.0)
    r = nd.simulate(nd.HodgkinHuxley(), t1=100.0, dt=0.01, input=step, record=())
    t, _ = r.spikes()
    assert t.size >= 2 and t.min() > 20.0 and t.max() < 62.0
    fn = nd.simulate(nd.HodgkinHuxley(), t1=100.0, dt=0.01,
                     input=lambda t: jnp.where((t >= 20.0) & (t < 60.0), 10.0, 0.0), record=())
    np.testing.assert_allclose(fn.spikes()[0], t, atol=1e-4)
    series = TimeSeries([0.0, 50.0, 100.0], [0.0, 20.0, 20.0])
    ramp = Ramp(0.0, 20.0, 0.0, 50.0)
    for t_ in [0.0, 12.5, 50.0, 80.0]:
        assert float(series(t_)) == pytest.approx(float(ramp(t_)))


def test_izhikevich_and_adex_match_a_hand_written_euler_loop():
    """An independent NumPy Euler loop with the published equations and resets."""

    def izh_numpy(i_ext, dt=0.1, steps=3000):
        a, b, c, d = 0.02, 0.2, -65.0, 8.0
        v = (-(5 - b) - np.sqrt((5 - b) ** 2 - 4 * 0.04 * 140)) / 0.08
        u, spikes = b * v, []
        for k in range(steps):
            v, u = v + dt * (0.04 * v * v + 5 * v + 140 - u + i_ext), u + dt * a * (b * v - u)
            if v >= 30.0:
                spikes.append((k + 1) * dt)
                v, u = c, u + d
        return np.array(spikes)

    def adex_numpy(i_ext, dt=0.05, steps=10000):
        C, gl, el, vt, dT, tw, a, b, vr, vp = 281, 30, -70.6, -50.4, 2, 144, 4, 80.5, -70.6, -40.4
        v, w, spikes = el, 0.0, []
        for k in range(steps):
            dv = (-gl * (v - el) + gl * dT * np.exp(min((v - vt) / dT, 30.0)) - w + i_ext) / C
            v, w = v + dt * dv, w + dt * (a * (v - el) - w) / tw
            if v >= vp:
                spikes.append((k + 1) * dt)
                v, w = vr, w + b
        return np.array(spikes)

    r = nd.simulate(nd.Izhikevich(), t1=300.0, dt=0.1, input=10.0, record=())
    ref = izh_numpy(10.0)
    assert ref.size > 5
    np.testing.assert_allclose(r.spikes()[0], ref, atol=0.11)
    r = nd.simulate(nd.AdEx(), t1=500.0, dt=0.05, input=1000.0, record=())
    ref = adex_numpy(1000.0)
    assert ref.size > 5
    np.testing.assert_allclose(r.spikes()[0], ref, atol=0.06)
    # spike-frequency adaptation: intervals lengthen
    isi = np.diff(ref)
    assert isi[-1] > 1.5 * isi[0]


def test_any_diffrax_solver():
    rates = {}
    for solver in [diffrax.Euler(), diffrax.Heun(), diffrax.Midpoint(), diffrax.Ralston(),
                   diffrax.Bosh3(), diffrax.Tsit5(), diffrax.Dopri5()]:
        r = nd.simulate(nd.HodgkinHuxley(), t1=200.0, dt=0.01, input=10.0, solver=solver, record=())
        t, _ = r.spikes()
        rates[type(solver).__name__] = 1000 * (t.size - 1) / (t[-1] - t[0])
    for name, rate in rates.items():
        assert rate == pytest.approx(68.32, rel=0.01), name


def test_vmap_over_parameter_sets_is_one_call():
    @jax.jit
    def n_spikes(g_k):
        return nd.simulate(nd.HodgkinHuxley(g_k=g_k), t1=100.0, dt=0.02, input=10.0, record=()).n_spikes

    batched = jax.vmap(n_spikes)(jnp.array([30.0, 36.0, 42.0]))
    looped = [int(n_spikes(g)) for g in (30.0, 36.0, 42.0)]
    assert [int(x) for x in batched] == looped


def test_spike_buffer_overflow_is_reported_not_silent():
    with pytest.warns(RuntimeWarning, match="not stored"):
        r = nd.simulate(nd.LIF(), t1=200.0, dt=0.1, input=jnp.full((10,), 30.0), record=(), max_spikes=20)
    assert int(r.n_spikes_stored) == 20
    assert int(r.n_spikes) == int(r.spike_counts.sum()) > 20
    assert int(r.spikes_dropped) == int(r.n_spikes) - 20


def test_blow_up_reports_time_and_neuron():
    def current(t):
        bad = jnp.where(t >= 5.0, jnp.nan, 0.0)
        return jnp.zeros(6).at[4].set(bad)

    with pytest.raises(nd.NumericalBlowUpError, match=r"neuron 4 .* t = 5\.\d"):
        nd.simulate(nd.HodgkinHuxley(), t1=20.0, dt=0.01, input=current, record=())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dt=0.0), "dt must be > 0"),
        (dict(dt=-0.1), "dt must be > 0"),
        (dict(t1=0.0), "t1 must be > t0"),
        (dict(t1=10.0, t0=20.0), "t1 must be > t0"),
        (dict(dt=0.03), "whole number of steps"),
        (dict(record=("v", "x")), "unknown variable 'x'"),
        (dict(record_every=0), "record_every"),
        (dict(record_neurons=[5]), "record_neurons"),
        (dict(input=jnp.ones(3), n_neurons=4), "input has 3 values"),
        (dict(input=jnp.ones((2, 2))), "input"),
        (dict(mode="fast"), "mode"),
        (dict(max_spikes=0), "max_spikes"),
        (dict(input=float("nan")), "NaN"),
        (dict(initial_state={"v": jnp.zeros(1)}), "initial_state"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    args = dict(t1=10.0, dt=0.01)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        nd.simulate(nd.HodgkinHuxley(), **args)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: nd.HodgkinHuxley(g_na=-1.0), "g_na must be >= 0"),
        (lambda: nd.HodgkinHuxley(g_k=float("nan")), "g_k contains NaN"),
        (lambda: nd.HodgkinHuxley(c_m=0.0), "c_m must be > 0"),
        (lambda: nd.HodgkinHuxley(g_l=jnp.array([0.3, -0.1])), "g_l must be >= 0"),
        (lambda: nd.AdEx(delta_t=0.0), "delta_t"),
        (lambda: nd.Izhikevich(a=-0.02), "a must be > 0"),
    ],
)
def test_bad_parameters_fail_at_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_mismatched_parameter_shapes():
    model = nd.HodgkinHuxley(g_na=jnp.full((3,), 120.0), g_k=jnp.full((4,), 36.0))
    with pytest.raises(ValueError, match=r"HodgkinHuxley\.g_k has 4 values .* 3 neurons"):
        nd.simulate(model, t1=1.0, dt=0.01)


def test_exact_mode_needs_a_spiking_model():
    from neurodyn.neurons.base import AbstractNeuron

    class Leak(AbstractNeuron):
        state_names = ("v",)

        def vector_field(self, t, y, i):
            return {"v": -y["v"] + i}

        def initial_state(self, n):
            return {"v": jnp.zeros(n)}

    with pytest.raises(ValueError, match="spiking model"):
        nd.simulate(Leak(), t1=1.0, dt=0.1, mode="exact")
    # a non-spiking model runs in clock mode and matches the analytic solution 1 − e^{−t}
    r = nd.simulate(Leak(), t1=2.0, dt=0.01, input=1.0, solver=diffrax.Tsit5())
    np.testing.assert_allclose(r.final_state.y["v"], 1 - np.exp(-2.0), rtol=1e-5)


def test_float64_needs_x64():
    if jax.config.read("jax_enable_x64"):
        pytest.skip("x64 already enabled")
    with pytest.raises(ValueError, match="jax_enable_x64"):
        nd.simulate(nd.LIF(), t1=1.0, dt=0.1, dtype=jnp.float64)


def test_progress_chunks_give_identical_results():
    model, current = nd.LIF(), jnp.array([15.0, 20.0, 30.0])
    one = nd.simulate(model, t1=200.0, dt=0.1, input=current, record=("v",), record_every=3)
    chunked = nd.simulate(model, t1=200.0, dt=0.1, input=current, record=("v",), record_every=3,
                          progress=7)
    np.testing.assert_allclose(chunked.times, one.times, atol=1e-4)
    np.testing.assert_allclose(chunked.traces["v"], one.traces["v"], atol=1e-4)
    np.testing.assert_allclose(chunked.spikes()[0], one.spikes()[0], atol=1e-4)
    np.testing.assert_array_equal(chunked.spike_counts, one.spike_counts)


def test_exact_mode_rearms_a_detector_after_a_refractory_period():
    """Regression: a non-resetting model whose V falls back below threshold during its
    refractory period (Traub-Miles, 3 ms) lost every second spike in exact mode."""
    clock = nd.simulate(nd.TraubMiles(), 100.0, 0.01, input=0.5, record=())
    exact = nd.simulate(nd.TraubMiles(), 100.0, 0.01, input=0.5, mode="exact", record=())
    t_clock, t_exact = clock.spikes()[0], exact.spikes()[0]
    assert len(t_clock) == len(t_exact) == 9
    # Euler at dt = 0.01 ms vs Tsit5 with located events: ISIs agree to ~1 %
    np.testing.assert_allclose(np.diff(t_exact), np.diff(t_clock), rtol=0.015)
