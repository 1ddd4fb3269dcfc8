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


@pytest.mark.no_typecheck  # checks simulate's own message; the annotation hook would answer first
def test_mismatched_parameter_shapes():
    model = nd.HodgkinHuxley(g_na=jnp.full((3,), 120.0), g_k=jnp.full((4,), 36.0))
    with pytest.raises(ValueError, match=r"HodgkinHuxley\.g_k has 4 values .* 3 neurons"):
        nd.simulate(model, t1=1.0, dt=0.01)


def test_exact_mode_needs_a_spiking_model():
    from neurodyn.neurons import AbstractPopulation

    class Leak(AbstractPopulation):
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
    # bit-identical: every step's time is t0 + step·dt, and chunks are whole spike blocks
    np.testing.assert_array_equal(chunked.times, one.times)
    np.testing.assert_array_equal(chunked.traces["v"], one.traces["v"])
    np.testing.assert_array_equal(chunked.spikes()[0], one.spikes()[0])
    np.testing.assert_array_equal(chunked.spike_counts, one.spike_counts)


@pytest.mark.parametrize("t0", [0.0, 3.7])
def test_chunked_interpolated_spike_times_are_bit_identical(t0):
    """#17: a non-resetting model (HH: spike time interpolated inside the step), started at
    t0 = 0 or not, gives the same float32 spike times in 7 chunks as in one call (they used
    to differ by one ulp)."""
    hh, current = nd.HodgkinHuxley(), jnp.linspace(5.0, 15.0, 8)
    one = nd.simulate(hh, t0 + 50.0, 0.01, t0=t0, input=current, record=())
    chunked = nd.simulate(hh, t0 + 50.0, 0.01, t0=t0, input=current, record=(), progress=7)
    assert int(one.n_spikes) == 27  # 8 neurons, 5-15 µA/cm², 50 ms
    for a, b in zip(one.spikes(), chunked.spikes()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one.final_state.y["v"], chunked.final_state.y["v"])


def test_exact_mode_rearms_a_detector_after_a_refractory_period():
    """Regression: a non-resetting model whose V falls back below threshold during its
    refractory period (Traub-Miles, 3 ms) lost every second spike in exact mode."""
    clock = nd.simulate(nd.TraubMiles(), 100.0, 0.01, input=0.5, record=())
    exact = nd.simulate(nd.TraubMiles(), 100.0, 0.01, input=0.5, mode="exact", record=())
    t_clock, t_exact = clock.spikes()[0], exact.spikes()[0]
    assert len(t_clock) == len(t_exact) == 9
    # Euler at dt = 0.01 ms vs Tsit5 with located events: ISIs agree to ~1 %
    np.testing.assert_allclose(np.diff(t_exact), np.diff(t_clock), rtol=0.015)


# --------------------------------------------------------------------------- blow-up (#17)


def _two_blowups(t):
    """NaN input: neuron 4 from step 20 (t = 0.2 ms), neuron 1 from step 35 (both in block
    0); the thresholds sit between steps, away from float32 rounding of k·dt."""
    return jnp.zeros(6).at[4].set(jnp.where(t >= 0.195, jnp.nan, 0.0)).at[1].set(
        jnp.where(t >= 0.345, jnp.nan, 0.0))


def test_blow_up_is_located_to_the_step_and_first_neuron():
    """Two neurons blow up at different steps inside one 64-step block: the report names
    the first one (the higher index, 4) and the step after which its state was NaN
    (input NaN from step 20, t = 0.2 ms: state 21, t = 0.21 ms), not the block's end."""
    r = nd.simulate(nd.LIF(), 2.0, 0.01, input=_two_blowups, record=(), throw=False)
    assert bool(r.blew_up())
    assert int(r.blowup_step) == 21 and int(r.blowup_neuron) == 4
    assert float(r.blowup_time) == pytest.approx(0.21, abs=1e-6)
    with pytest.raises(nd.NumericalBlowUpError, match=r"neuron 4 .* t = 0\.21 ms \(state 21"):
        nd.simulate(nd.LIF(), 2.0, 0.01, input=_two_blowups, record=())
    # chunked: the same step, counted from the start of the run
    chunked = nd.simulate(nd.LIF(), 2.0, 0.01, input=_two_blowups, record=(), throw=False, progress=4)
    assert int(chunked.blowup_step) == 21 and int(chunked.blowup_neuron) == 4


def test_blow_up_in_exact_mode_is_located_to_the_solver_step():
    """Exact mode used to report the end of the segment (here: the end of the run).
    Tsit5's last stage of the step ending at 0.2 ms already sees the NaN input."""
    r = nd.simulate(nd.LIF(), 2.0, 0.01, input=_two_blowups, record=(), mode="exact", throw=False)
    assert int(r.blowup_neuron) == 4
    assert float(r.blowup_time) == pytest.approx(0.2, abs=1e-5)
    assert int(r.blowup_step) == 20


def test_throw_fires_under_jit_and_vmap():
    """The blow-up check runs inside jit/vmap (eqx.error_if); throw=False returns the status."""

    def counts(current, throw=True):
        return nd.simulate(nd.LIF(), 10.0, 0.1, input=current, record=(), throw=throw).spike_counts

    bad = jnp.array([20.0, jnp.nan])  # traced: the host-side input check cannot see it
    with pytest.raises(Exception, match="NaN or infinite"):
        jax.block_until_ready(jax.jit(counts)(bad))
    with pytest.raises(Exception, match="NaN or infinite"):
        jax.block_until_ready(jax.vmap(counts)(jnp.stack([jnp.full(2, 20.0), bad])))
    # finite: runs; LIF (tau_m 10 ms, threshold 10) at I = 20 first fires at 10·ln 2 = 6.9 ms
    np.testing.assert_array_equal(jax.jit(counts)(jnp.full(2, 20.0)), [1, 1])

    status = jax.jit(lambda c: nd.simulate(nd.LIF(), 10.0, 0.1, input=c, record=(), throw=False).blew_up())
    assert bool(status(bad)) and not bool(status(jnp.full(2, 20.0)))


# --------------------------------------------------------------------------- bad inputs (#17)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: nd.LIF(tau_m=float("inf")), ValueError, "LIF.tau_m must be finite"),
        (lambda: nd.HodgkinHuxley(g_na=jnp.array([120.0, jnp.inf])), ValueError, "g_na must be finite"),
        (lambda: nd.LIF(tau_m="10"), TypeError, "LIF.tau_m must be a number"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, input=float("inf")), ValueError, "input must be finite"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, input=jnp.array([1.0, jnp.nan])), ValueError,
         "input must be finite"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, input="10"), TypeError, "input must be a number"),
        (lambda: nd.inputs.Step(jnp.inf, 1.0, 2.0), ValueError, "Step.amplitude must be finite"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, max_spikes=10.5), TypeError, "max_spikes must be an integer"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, max_spikes=10.0), TypeError, "max_spikes must be an integer"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, max_spikes="10"), TypeError, "max_spikes must be an integer"),
        (lambda: nd.simulate(nd.LIF(), "10", 0.1), TypeError, "t1 must be a Python number"),
        (lambda: nd.simulate(nd.LIF(), 1.0, "0.1"), TypeError, "dt must be a Python number"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, n_neurons=2.0), TypeError, "n_neurons must be an integer"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, record_every=2.0), TypeError, "record_every must be an integer"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, spike_block="4"), TypeError, "spike_block must be an integer"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, progress=0), ValueError, "progress must be an integer >= 1"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, key=0), TypeError, "key must be a PRNG key"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, key=jax.random.PRNGKey(0)), TypeError,
         "key must be a typed PRNG key"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, throw="yes"), TypeError, "throw must be True or False"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, monitors=[object()]), TypeError, "monitors must be monitor"),
        (lambda: nd.simulate(nd.LIF(), 1.0, 0.1, monitors=[nd.SpikeMonitor()], record=("v",), record_every=2),
         ValueError, "either monitors= or the shorthand"),
    ],
)
@pytest.mark.no_typecheck  # checks the models' own messages; the annotation hook would answer first
def test_bad_inputs_are_refused_with_the_argument_named(call, error, match):
    """21 bad inputs to neurons, inputs and simulate (#17's silent accepts and unclear errors)."""
    with pytest.raises(error, match=match):
        call()


def test_abstract_input_needs_call_shape_and_noise():
    class Half(nd.inputs.AbstractInput):
        def __call__(self, t):
            return 1.0

    with pytest.raises(TypeError, match="abstract"):
        Half()


def test_float32_run_is_unchanged_when_64_bit_jax_is_on():
    """A float32 run with jax_enable_x64 on: the solver's local step ends were Python floats,
    which x64 turns into float64 arrays that promoted the float32 state (the loop then failed
    with a carry dtype mismatch). Same spikes and traces as without x64."""
    model = nd.LIF(tau_m=jnp.linspace(8.0, 12.0, 5))
    plain = nd.simulate(model, 50.0, 0.1, input=20.0, record_every=3)
    with jax.enable_x64(True):
        wide = nd.simulate(model, 50.0, 0.1, input=20.0, record_every=3)
    assert wide.traces["v"].dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(wide.spike_counts), np.asarray(plain.spike_counts))
    np.testing.assert_array_equal(np.asarray(wide.traces["v"]), np.asarray(plain.traces["v"]))
