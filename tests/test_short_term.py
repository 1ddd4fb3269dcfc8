"""Short-term plasticity (neurodyn.network.short_term): Tsodyks–Markram synapses.

References: the between-spike ODEs solved by a float64 matrix exponential (independent of
the event-driven propagators the module uses), the stationary amplitude of a depressing
synapse under a regular train (Tsodyks & Markram 1997), and NEST 3.10's `tsodyks_synapse`
(tests/data/nest_tsodyks.json, written by benchmarks/compare_nest.py --model tsodyks).
"""

import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import expm

import neurodyn as nd
from neurodyn.io import load_state, save_state
from neurodyn.io.stream import resume_state
from neurodyn.network import (
    ConductanceSynapse,
    CurrentSynapse,
    ExactIntegration,
    Network,
    PoissonGroup,
    Projection,
    TsodyksSynapse,
    Uniform,
    UXSynapse,
    fixed_probability,
    from_lists,
    simulate_network,
)
from neurodyn.network.delivery import kernel_info
from neurodyn.network.short_term import deliver_short_term

DT = 0.1
requires_kernel = pytest.mark.skipif(
    not kernel_info()["available"], reason=f"compiled kernel unavailable: {kernel_info()['reason']}"
)
METHODS = [pytest.param("ffi", marks=requires_kernel), "jax"]

# Tsodyks, Pawelzik & Markram (1998), Fig. 1A (depressing) and 1B (facilitating), as in NEST's
# tsodyks_depressing/tsodyks_facilitating examples; Brian2's STP example (U, τ_d, τ_f) for UX.
RULES = {
    "nest-depressing": TsodyksSynapse(U=0.5, tau_rec=800.0, tau_fac=0.0, tau_psc=3.0),
    "nest-facilitating": TsodyksSynapse(U=0.03, tau_rec=130.0, tau_fac=530.0, tau_psc=1.5),
    "ux-depressing": UXSynapse(U=0.6, tau_rec=100.0, tau_fac=10.0),
    "ux-facilitating": UXSynapse(U=0.1, tau_rec=1.0, tau_fac=100.0),
}
# a 20 Hz train of 10 spikes, then a recovery spike 500 ms after the last (Fig. 1's protocol)
SPIKE_STEPS = [500 * k for k in range(10)] + [500 * 9 + 5000]


def reference_amplitudes(rule, spike_steps) -> np.ndarray:
    """u·x at each spike: the between-spike ODEs integrated by float64 matrix exponentials."""
    U, tau_rec, tau_fac = (float(p) for p in (rule.U, rule.tau_rec, rule.tau_fac))
    nest = isinstance(rule, TsodyksSynapse)
    if nest:  # (x, y, z, u): dx = z/τ_rec, dy = −y/τ_psc, dz = y/τ_psc − z/τ_rec, du = −u/τ_fac
        tp = float(rule.tau_psc)
        a = np.array([[0, 0, 1 / tau_rec, 0], [0, -1 / tp, 0, 0], [0, 1 / tp, -1 / tau_rec, 0],
                      [0, 0, 0, -1 / tau_fac if tau_fac else 0]])
        s = np.array([1.0, 0.0, 0.0, 0.0])
    else:  # (x, u, 1): dx = (1 − x)/τ_rec, du = (U − u)/τ_fac
        a = np.array([[-1 / tau_rec, 0, 1 / tau_rec], [0, -1 / tau_fac if tau_fac else 0, U / tau_fac if tau_fac else 0],
                      [0, 0, 0]])
        s = np.array([1.0, U, 1.0])
    out, last = [], None
    for step in spike_steps:
        if last is not None:
            s = expm(a * (step - last) * DT) @ s
            if not tau_fac:  # no memory of u between spikes
                s[3 if nest else 1] = 0.0 if nest else U
        last = step
        if nest:
            s[3] += U * (1 - s[3])
            released = s[3] * s[0]
            s[0] -= released
            s[1] += released
        else:
            released = s[1] * s[0]
            s[0] -= released
            s[1] += U * (1 - s[1])
        out.append(released)
    return np.array(out)


def op_amplitudes(rule, spike_steps, method, per_synapse=False, dtype=jnp.float32):
    """u·x of each spike of one presynaptic neuron through deliver_short_term (weight 1)."""
    conn = from_lists(np.array([0, 0]), np.array([0, 1]), np.array([1.0, 1.0]), n_pre=1, n_post=2)
    if per_synapse:
        rule = eqx.tree_at(lambda r: r.U, rule, jnp.full(conn.post_idx.shape, rule.U))
    state = rule.initial_state(rule.check_layout(conn, "test"), dtype)
    step_fn = jax.jit(lambda st, k: deliver_short_term(jnp.zeros(2, dtype), conn, rule, st, jnp.array([True]), k,
                                                       DT, method=method))
    out = []
    for k in spike_steps:
        g, state = step_fn(state, jnp.int32(k))
        np.testing.assert_array_equal(g[0], g[1])  # one release per spike, both synapses
        out.append(float(g[0]))
    return np.array(out)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", list(RULES))
def test_psc_amplitudes_of_a_regular_train_equal_the_analytic_recursion(name, method):
    """Per-spike u·x for a 20 Hz train and a recovery spike: float32 to 2e-6 relative (rounding
    of ~10 exponentials and products), per neuron and per synapse alike."""
    rule = RULES[name]
    expected = reference_amplitudes(rule, SPIKE_STEPS)
    got = op_amplitudes(rule, SPIKE_STEPS, method)
    np.testing.assert_allclose(got, expected, rtol=2e-6)
    np.testing.assert_allclose(op_amplitudes(rule, SPIKE_STEPS, method, per_synapse=True), got, rtol=0)
    if "depressing" in name:
        assert got[9] < 0.6 * got[0] and got[10] > got[9]  # depresses, then recovers
    else:
        assert got[9] > 2.0 * got[0]  # facilitates


def test_depressing_train_reaches_the_stationary_amplitude():
    """UX synapse without facilitation at interval T: u·x → U(1 − e^{−T/τ})/(1 − (1 − U)e^{−T/τ})
    (Tsodyks & Markram 1997, PNAS 94:719, the stationary EPSC of a regular train)."""
    rule, period = UXSynapse(U=0.5, tau_rec=800.0, tau_fac=0.0), 250  # 40 Hz
    got = op_amplitudes(rule, [period * k for k in range(60)], "jax")
    e = np.exp(-period * DT / 800.0)
    assert got[-1] == pytest.approx(0.5 * (1 - e) / (1 - 0.5 * e), rel=1e-5)


@pytest.mark.parametrize("name", ["depressing", "facilitating"])
def test_a_two_neuron_network_reproduces_nests_tsodyks_synapse(name):
    """NEST 3.10's tsodyks examples (Tsodyks, Pawelzik & Markram 1998, Fig. 1): the same
    presynaptic spikes, the per-spike PSC amplitudes w·u·x to 2e-6 relative (float32) and the
    postsynaptic membrane potential to 5e-5 mV."""
    data = json.loads((Path(__file__).parent / "data" / "nest_tsodyks.json").read_text())
    ref, cfg = data["sets"][name], data["sets"][name]["config"]
    nrn = cfg["neuron"]
    iaf = nd.IAF(c_m=nrn["C_m"], tau_m=nrn["tau_m"], e_l=0.0, v_reset=0.0, threshold=np.array([data["theta"], 1e6]),
                 refractory_period=data["t_ref"], i_e=np.array([cfg["I_e_pA"], 0.0]))
    conn = from_lists(np.array([0]), np.array([0]), np.array([cfg["weight_pA"]]), n_pre=1, n_post=1)
    net = Network(iaf, [CurrentSynapse("ex", tau=nrn["tau_syn"])], {"pre": 1, "post": 1},
                  [Projection("pre", "post", conn, "ex", delay=data["delay"],
                              short_term=TsodyksSynapse(**cfg["synapse"]))])
    res = simulate_network(net, data["t_ms"] + DT, DT, record=("v", "ex"), solver=ExactIntegration())
    times, _ = res.spikes()
    np.testing.assert_allclose(np.asarray(times), ref["pre_spike_ms"], atol=1e-3)
    ex = np.asarray(res.traces["ex"][:, 1], np.float64)
    jumps = ex[1:] - ex[:-1] * np.exp(-DT / nrn["tau_syn"])
    psc = jumps[jumps > 1.0]
    assert psc.size == len(ref["psc_pA"]) == 24
    np.testing.assert_allclose(psc, ref["psc_pA"], rtol=2e-6)
    v = np.asarray(res.traces["v"][10::10, 1], np.float64)[: len(ref["v_mV"])]
    np.testing.assert_allclose(v, ref["v_mV"], atol=5e-5)


def _network(short_term, delay=None, per_synapse_delays=False, seed=0, delivery=None):
    """40 LIF neurons (32 E, 8 I) driven by 40 Poisson sources; E→all has the STP rule."""
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    kw = dict(delay=Uniform(0.1, 2.0), dt=DT) if per_synapse_delays else {}
    exc = fixed_probability(k1, 32, 40, 0.3, weight=0.8, **kw)
    inh = fixed_probability(k2, 8, 40, 0.3, weight=4.0)
    inp = fixed_probability(k3, 40, 40, 0.2, weight=1.5)
    if short_term is not None and short_term == "per-synapse":
        short_term = TsodyksSynapse(U=jnp.full(exc.post_idx.shape, 0.3), tau_rec=200.0, tau_fac=50.0, tau_psc=5.0)
    return Network(
        nd.LIF(tau_m=20.0, v_rest=-60.0, threshold=-50.0, v_reset=-60.0, refractory_period=2.0),
        [ConductanceSynapse("ge", 5.0, 0.0), ConductanceSynapse("gi", 10.0, -80.0)],
        {"E": 32, "I": 8},
        [Projection("E", "all", exc, "ge", delay=delay, short_term=short_term), Projection("I", "all", inh, "gi"),
         Projection("P", "all", inp, "ge")],
        sources=[PoissonGroup("P", 40, 40.0)],
        delivery=delivery,
    )


CASES = {
    "tsodyks": dict(short_term=TsodyksSynapse(U=0.3, tau_rec=200.0, tau_fac=50.0, tau_psc=5.0)),
    "ux-delay": dict(short_term=UXSynapse(U=0.2, tau_rec=150.0, tau_fac=300.0), delay=1.0),
    "per-synapse": dict(short_term="per-synapse"),
    "per-synapse-delays": dict(short_term=UXSynapse(U=0.4, tau_rec=100.0), per_synapse_delays=True),
    "per-synapse-state-and-delays": dict(short_term="per-synapse", per_synapse_delays=True),
}


@requires_kernel
@pytest.mark.parametrize("case", [c if c == "ux-delay" else pytest.param(c, marks=pytest.mark.slow) for c in CASES])
def test_ffi_equals_jax_in_a_network(case):
    """The fused C++ handler and the pure-JAX path: same spikes, same STP state (to 1e-6)."""
    runs = {}
    for method in ("ffi", "jax"):
        net = _network(**CASES[case], delivery=method)
        runs[method] = simulate_network(net, 100.0, DT, initial_state={"v": -55.0}, key=jax.random.key(3))
    assert int(runs["jax"].n_spikes) > 50  # the network is active: the comparison means something
    for i in (0, 1):
        np.testing.assert_array_equal(runs["ffi"].spikes()[i], runs["jax"].spikes()[i])
    a, b = runs["ffi"].final_state.buffers[0]["short_term"], runs["jax"].final_state.buffers[0]["short_term"]
    np.testing.assert_array_equal(a["last"], b["last"])
    assert int(jnp.max(a["last"])) > 0  # spikes passed through the plastic projection
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_without_plasticity_change_the_network_runs_as_a_static_one():
    """U = 1, τ_rec → tiny: every spike releases everything and x recovers before the next
    one, so u·x = 1 and the run equals the static projection's."""
    static = _network(None)
    plastic = _network(UXSynapse(U=1.0, tau_rec=1e-3, tau_fac=0.0))
    a = simulate_network(static, 50.0, DT, initial_state={"v": -55.0}, key=jax.random.key(1))
    b = simulate_network(plastic, 50.0, DT, initial_state={"v": -55.0}, key=jax.random.key(1))
    assert int(a.n_spikes) > 20
    np.testing.assert_array_equal(a.spikes()[1], b.spikes()[1])


def test_chunked_streamed_and_resumed_runs_equal_uninterrupted_with_short_term_plasticity(tmp_path):
    """The STP state rides in the delivery state: chunked runs, a run continued from
    `final_state`, a stream resumed from disk (`resume_state`, no `like` needed: the saved
    state records its buffers' nesting) and a saved/loaded state all continue exactly."""
    net = _network(**CASES["ux-delay"])
    kw = dict(initial_state={"v": -55.0}, key=jax.random.key(2))
    whole = simulate_network(net, 60.0, DT, **kw)
    chunked = simulate_network(net, 60.0, DT, progress=2, **kw)  # two chunks of 300 steps
    first = simulate_network(net, 30.0, DT, **kw)  # the same 300-step loop (compiled once)
    rest = simulate_network(net, 60.0, DT, initial_state=first.final_state, key=jax.random.key(2))
    simulate_network(net, 30.0, DT, stream_to=tmp_path / "stream", **kw)
    resumed = simulate_network(net, 60.0, DT, initial_state=resume_state(tmp_path / "stream"), key=jax.random.key(2))
    save_state(tmp_path / "state.npz", first.final_state)
    loaded = load_state(tmp_path / "state.npz")
    assert jax.tree.structure(loaded.buffers) == jax.tree.structure(first.final_state.buffers)
    assert int(whole.n_spikes) > 50
    np.testing.assert_array_equal(chunked.spikes()[1], whole.spikes()[1])
    np.testing.assert_array_equal(np.concatenate([first.spikes()[1], rest.spikes()[1]]), whole.spikes()[1])
    np.testing.assert_array_equal(resumed.spikes()[1], rest.spikes()[1])
    for end in (chunked, rest, resumed):
        for got, want in zip(jax.tree.leaves(end.final_state.buffers), jax.tree.leaves(whole.final_state.buffers)):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_parameter_shapes_are_checked_against_the_connectivity():
    conn = from_lists(np.array([0, 1]), np.array([0, 0]), 1.0, n_pre=2, n_post=1)
    with pytest.raises(ValueError, match=r"TsodyksSynapse.U has shape \(3,\)"):
        Projection("A", "A", conn, "ge", short_term=TsodyksSynapse(U=jnp.full(3, 0.5)))
    assert TsodyksSynapse(U=jnp.full(2, 0.5)).check_layout(conn, "t") == (2,)
    assert TsodyksSynapse(U=jnp.full(conn.post_idx.shape, 0.5)).check_layout(conn, "t") == conn.post_idx.shape


@pytest.mark.parametrize("name", ["nest-depressing", "nest-facilitating"])
def test_the_ux_model_is_nests_in_the_limit_of_instant_release(name):
    """Both models give u_n = U + (1 − U) u_{n−1} e^{−h/τ_fac}; with τ_psc → 0 NEST's x
    recovers as the u·x model's does, so the amplitudes agree (to float32 rounding, τ_psc =
    1e-4 ms)."""
    nest = RULES[name]
    ux = UXSynapse(U=nest.U, tau_rec=nest.tau_rec, tau_fac=nest.tau_fac)
    instant = TsodyksSynapse(U=nest.U, tau_rec=nest.tau_rec, tau_fac=nest.tau_fac, tau_psc=1e-4)
    np.testing.assert_allclose(op_amplitudes(instant, SPIKE_STEPS, "jax"), op_amplitudes(ux, SPIKE_STEPS, "jax"),
                               rtol=2e-6)


@pytest.mark.parametrize("method", METHODS)
def test_amplitudes_are_differentiable_in_the_parameters(method):
    """d(Σ amplitudes of a 5-spike train)/d(U, τ_rec, τ_fac) through either path equals the
    central finite difference of the float64 recursion (to 1e-4 relative)."""
    steps = [0, 200, 400, 600, 1500]
    conn = from_lists(np.array([0]), np.array([0]), np.array([1.0]), n_pre=1, n_post=1)

    def total(params):
        rule = TsodyksSynapse(U=params[0], tau_rec=params[1], tau_fac=params[2], tau_psc=3.0)
        state, g = rule.initial_state((1,), jnp.float32), jnp.zeros(1)
        for k in steps:
            g, state = deliver_short_term(g, conn, rule, state, jnp.array([True]), jnp.int32(k), DT, method=method)
        return g[0]

    p0 = np.array([0.2, 150.0, 300.0])
    grad = np.asarray(jax.jit(jax.grad(total))(jnp.asarray(p0, jnp.float32)))

    def exact(p):
        return reference_amplitudes(TsodyksSynapse(U=p[0], tau_rec=p[1], tau_fac=p[2], tau_psc=3.0), steps).sum()

    eps = 1e-6 * p0
    fd = np.array([(exact(p0 + e) - exact(p0 - e)) / (2 * e[i]) for i, e in enumerate(np.diag(eps))])
    np.testing.assert_allclose(grad, fd, rtol=1e-4)


@pytest.mark.slow  # notebooks/09 asserts the same plateau (3 %) in the default run
def test_poisson_driven_depressing_synapses_give_the_mean_field_efficacy():
    """1000 Poisson sources at r = 20 Hz through depressing u·x synapses (U = 0.5, τ_rec =
    800 ms, τ_fac = 0) onto one current-based receptor: by Poisson arrivals seeing time
    averages, the mean resources at a spike are 1/(1 + U r τ_rec) (Tsodyks & Markram 1997),
    here in its exact per-step form, so the mean current is U/(1 + U r τ_rec) ≈ 1/18 of the
    static one (2 % tolerance: ±0.5 % sampling error over 1.5 s of 1000 sources)."""
    n_src, rate, w, tau_s = 1000, 20.0, 1.0, 5.0
    rule = UXSynapse(U=0.5, tau_rec=800.0, tau_fac=0.0)
    conn = from_lists(np.arange(n_src), np.zeros(n_src, int), w, n_pre=n_src, n_post=1)
    net = Network(nd.IAF(threshold=1e6), [CurrentSynapse("ex", tau=tau_s)], {"post": 1},
                  [Projection("P", "post", conn, "ex", short_term=rule)], sources=[PoissonGroup("P", n_src, rate)])
    res = simulate_network(net, 2000.0, DT, record=("ex",), record_every=10, solver=ExactIntegration(),
                           key=jax.random.key(5))
    t, g = np.asarray(res.times), np.asarray(res.traces["ex"][:, 0], np.float64)
    p, e_rec, e_s = rate * DT / 1000.0, np.exp(-DT / 800.0), np.exp(-DT / tau_s)
    x_mean = (1 - e_rec) / (1 - e_rec * (1 - p * 0.5))  # per-step stationary mean of x (before a spike)
    static_mean = w * n_src * p / (1 - e_s)
    assert x_mean == pytest.approx(1 / (1 + 0.5 * rate / 1000.0 * 800.0), rel=1e-3)  # the continuous limit
    plateau = static_mean * 0.5 * x_mean
    np.testing.assert_allclose(g[t > 500.0].mean(), plateau, rtol=0.02)
    assert g[(t > 5.0) & (t < 15.0)].mean() > 5 * plateau  # onset (x ≈ 1): far above the plateau


@pytest.mark.parametrize("method", METHODS)
def test_mixed_parameter_layouts_and_float_spikes(method):
    """U per synapse with τ_rec per presynaptic neuron (state per synapse) equals, synapse by
    synapse, rules with scalar parameters; float spikes (surrogate runs) equal bool ones."""
    conn = from_lists(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), np.array([1.0, 2.0, 3.0, 4.0]),
                      n_pre=2, n_post=2)
    U = np.array([[0.2, 0.6], [0.4, 0.8]])
    tau_rec = np.array([100.0, 300.0])
    rule = TsodyksSynapse(U=jnp.asarray(U), tau_rec=jnp.asarray(tau_rec), tau_fac=50.0, tau_psc=3.0)
    state = rule.initial_state(rule.check_layout(conn, "test"), jnp.float32)
    assert state["x"].shape == (2, 2)
    trains = [np.array([True, False]), np.array([True, True]), np.array([False, True]), np.array([True, True])]
    g_total, float_state = np.zeros(2), state
    for k, spikes in enumerate(trains):
        g, state = deliver_short_term(jnp.zeros(2), conn, rule, state, jnp.asarray(spikes), 300 * k, DT, method=method)
        g_f, float_state = deliver_short_term(jnp.zeros(2), conn, rule, float_state, jnp.asarray(spikes, jnp.float32),
                                              300 * k, DT, method=method)
        np.testing.assert_allclose(g_f, g, rtol=1e-6)  # float spikes take the JAX path (its exp: 1 ulp)
        g_total += np.asarray(g)
    expected = np.zeros(2)
    for i in range(2):  # each synapse on its own, scalar parameters
        steps = [300 * k for k, s in enumerate(trains) if s[i]]
        for j in range(2):
            amps = reference_amplitudes(TsodyksSynapse(U=U[i, j], tau_rec=tau_rec[i], tau_fac=50.0, tau_psc=3.0), steps)
            expected[j] += (i * 2 + j + 1.0) * amps.sum()
    np.testing.assert_allclose(g_total, expected, rtol=2e-6)
