"""STDP (neurodyn.network.plasticity): the window of every rule against its analytic curve,
delays, pairing schemes, bounds, event-driven cost, ffi == jax == dense, weights as state.

References: the pair window Δw = A₊ f₊(w) e^{−Δt/τ₊} (Δt >= 0), −A₋ f₋(w) e^{Δt/τ₋}
(Δt < 0) of Song, Miller & Abbott 2000 with the weight dependence of Gütig et al. 2003
(f₊ = (1 − w/w_max)^μ₊, f₋ = (w/w_max)^μ₋, NEST `stdp_synapse`); nearest-spike pairing
(Morrison et al. 2008, NEST `stdp_nn_symm_synapse`); the triplet rule of Pfister & Gerstner
2006 (their Eq. 3 with A₃₋ = 0, the minimal model). Delays: NEST puts the whole delay on the
dendrite (Δt at the synapse = t_post − t_pre + d), Brian2 on the axon (t_post − t_pre − d).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurodyn as nd
from neurodyn.inputs import TimeSeries
from neurodyn.network import (
    STDP,
    ConductanceSynapse,
    Connectivity,
    CurrentSynapse,
    Network,
    PoissonGroup,
    Projection,
    TripletSTDP,
    fixed_probability,
    random_initial_state,
    simulate_network,
)
from neurodyn.network.delivery import kernel_info
from neurodyn.network.plasticity import delay_offsets, delayed_plastic_step, plastic_step, reverse_index

DT = 0.1
W0 = 0.5
# one pair per Δt: pre at step PRE_AT, post PRE_AT + Δ steps later (Δ from -500 to +500)
SHIFTS = np.arange(-20, 21) * 25
PRE_AT = 700
# three-spike patterns (steps): pre-pre-post, post-post-pre, pre-post-post
TRIPLES = [((100, 150), (200,)), ((200,), (100, 150)), ((100,), (150, 200))]
N_STEPS = 1500
D = 5  # the delayed projections' delay in steps

RULES = {
    "additive": STDP(a_plus=0.01, a_minus=0.0105, tau_plus=20.0, tau_minus=20.0),
    "multiplicative": STDP(a_plus=0.01, a_minus=0.012, tau_plus=16.8, tau_minus=33.7, mu_plus=1.0, mu_minus=1.0),
    "gutig": STDP(a_plus=0.01, a_minus=0.012, tau_plus=20.0, tau_minus=20.0, w_max=2.0, mu_plus=0.4, mu_minus=0.4),
    "nearest": STDP(a_plus=0.01, a_minus=0.0105, pairing="nearest"),
    "triplet": TripletSTDP(a2_plus=0.005, a3_plus=0.0062, a2_minus=0.007, a3_minus=0.0),
    "dendritic": STDP(a_plus=0.01, a_minus=0.0105),
    "axonal": STDP(a_plus=0.01, a_minus=0.0105, delay="axonal"),
}
DELAYED = {"dendritic": D * DT, "axonal": D * DT}
# per-synapse (dendritic) delays: pair k's synapse has PER_SYNAPSE_STEPS[k % 4] steps
PER_SYNAPSE_STEPS = np.array([0, 3, 6, 9])
PER_SYNAPSE = {"additive": RULES["additive"], "gutig": RULES["gutig"], "triplet": RULES["triplet"]}


def _spike_pulses():
    """(steps + 1, 2n) input: a 1e4 pulse in the step a neuron must spike at its end."""
    n = len(SHIFTS) + len(TRIPLES)
    pulses = np.zeros((N_STEPS + 1, 2 * n))
    for k, s in enumerate(SHIFTS):
        pulses[PRE_AT, k] = pulses[PRE_AT + s, n + k] = 1e4
    for k, (pre, post) in enumerate(TRIPLES, start=len(SHIFTS)):
        pulses[list(pre), k] = 1e4
        pulses[list(post), n + k] = 1e4
    return n, pulses


def _window_network(method):
    n, pulses = _spike_pulses()
    projections = [
        Projection("pre", "post", Connectivity(jnp.arange(n)[:, None], jnp.full((n, 1), W0), n, n), "ge", delay=DELAYED.get(name), plasticity=rule)
        for name, rule in RULES.items()
    ]
    delays = PER_SYNAPSE_STEPS[np.arange(n) % PER_SYNAPSE_STEPS.size][:, None]
    conn = Connectivity(jnp.arange(n)[:, None], jnp.full((n, 1), W0), n, n, delay=jnp.asarray(delays, jnp.int32), dt=DT)
    projections += [Projection("pre", "post", conn, "ge", plasticity=rule) for rule in PER_SYNAPSE.values()]
    net = Network(nd.LIF(refractory_period=0.0), [CurrentSynapse("ge", 5.0)], {"pre": n, "post": n},
                  projections, delivery=method)
    return net, TimeSeries(np.arange(N_STEPS + 1) * DT, pulses)


@pytest.fixture(scope="module")
def window_runs():
    out = {}
    for method in ("jax", "ffi") if kernel_info()["available"] else ("jax",):
        net, inp = _window_network(method)
        res = simulate_network(net, N_STEPS * DT, DT, input=inp)
        out[method] = (net, res)
    return out


def _pair_expected(rule, dt_syn, w0=W0):
    """The analytic pair window (float64), Δt at the synapse in ms."""
    if isinstance(rule, TripletSTDP):
        return np.where(dt_syn >= 0, rule.a2_plus * np.exp(-dt_syn / rule.tau_plus),
                        -rule.a2_minus * np.exp(dt_syn / rule.tau_minus))
    f_plus = (1 - w0 / rule.w_max) ** rule.mu_plus
    f_minus = (w0 / rule.w_max) ** rule.mu_minus
    return np.where(dt_syn >= 0, rule.a_plus * f_plus * np.exp(-dt_syn / rule.tau_plus),
                    -rule.a_minus * f_minus * np.exp(dt_syn / rule.tau_minus))


def test_spikes_are_where_the_protocol_puts_them(window_runs):
    net, res = window_runs["jax"]
    n = len(SHIFTS) + len(TRIPLES)
    counts = np.asarray(res.spike_counts)
    np.testing.assert_array_equal(counts[:len(SHIFTS)], 1)
    np.testing.assert_array_equal(counts[n:n + len(SHIFTS)], 1)
    times, neurons = res.spikes()
    t_pre = times[neurons == 0][0]
    t_post = {k: times[neurons == n + k][0] for k in range(len(SHIFTS))}
    for k, s in enumerate(SHIFTS):  # each neuron spikes at the end of its pulse's step
        assert t_post[k] - t_pre == pytest.approx(s * DT, abs=1e-3)


@pytest.mark.parametrize("name", list(RULES))
def test_pair_window_matches_the_analytic_curve(window_runs, name):
    """Δw(Δt) for isolated pairs vs the analytic window; the delays shift it by ±d.

    Tolerance: the traces decay by one float32 multiplication per step (up to 500 steps:
    ≈ 500 ulp relative, 3e-5) and Δw is read from a float32 weight near 0.5 (ulp 6e-8).
    """
    i = list(RULES).index(name)
    rule = RULES[name]
    shift = {"dendritic": D * DT, "axonal": -D * DT}.get(name, 0.0)
    dt_syn = SHIFTS * DT + shift
    expected = _pair_expected(rule, dt_syn)
    for method, (_net, res) in window_runs.items():
        w = np.asarray(res.final_state.buffers[i].weight)[:len(SHIFTS), 0]
        np.testing.assert_allclose(w - W0, expected, rtol=5e-5, atol=1.5e-7, err_msg=f"{name} {method}")
    assert np.abs(expected).max() > 4e-3  # the window is not flat: the comparison means something


@pytest.mark.parametrize("name", list(PER_SYNAPSE))
def test_per_synapse_delays_shift_each_synapses_window(window_runs, name):
    """With per-synapse delays (NEST: each synapse's delay is dendritic) the window of the
    synapse with delay d_k is the analytic one at Δt + d_k (delays 0, 0.3, 0.6, 0.9 ms in
    turn); tolerance as for one delay."""
    i = len(RULES) + list(PER_SYNAPSE).index(name)
    d_ms = PER_SYNAPSE_STEPS[np.arange(len(SHIFTS)) % PER_SYNAPSE_STEPS.size] * DT
    expected = _pair_expected(PER_SYNAPSE[name], SHIFTS * DT + d_ms)
    for method, (_net, res) in window_runs.items():
        w = np.asarray(res.final_state.buffers[i].weight)[:len(SHIFTS), 0]
        np.testing.assert_allclose(w - W0, expected, rtol=5e-5, atol=1.5e-7, err_msg=f"{name} {method}")
    # the shift is there: without it (d = 0) the depressed side would be 1.5-4.4 % off
    unshifted = _pair_expected(PER_SYNAPSE[name], SHIFTS * DT)
    assert np.abs((w - W0) / unshifted - 1).max() > 0.01


def test_axonal_per_synapse_delays_are_refused():
    conn = Connectivity(jnp.arange(3)[:, None], jnp.full((3, 1), W0), 3, 3, delay=jnp.ones((3, 1), jnp.int32), dt=DT)
    with pytest.raises(ValueError, match="delay='axonal'.*per-synapse delays is not supported"):
        Network(nd.LIF(), [CurrentSynapse("ge", 5.0)], {"pre": 3, "post": 3},
                [Projection("pre", "post", conn, "ge", plasticity=STDP(delay="axonal"))])


def test_delays_shift_the_window_as_documented(window_runs):
    """NEST (dendritic): the potentiation peak moves to Δt = −d; Brian2 (axonal): to +d."""
    net, res = window_runs["jax"]
    w = {name: np.asarray(res.final_state.buffers[i].weight)[:len(SHIFTS), 0] - W0 for i, name in enumerate(RULES)}
    dt = SHIFTS * DT
    # the sign flips between Δt = −d and the next sample below it (samples 2.5 ms apart, d = 0.5 ms)
    assert np.all(w["dendritic"][dt >= -D * DT] > 0) and np.all(w["dendritic"][dt < -D * DT] < 0)
    assert np.all(w["axonal"][dt >= D * DT] > 0) and np.all(w["axonal"][dt < D * DT] < 0)
    assert w["axonal"][dt == 0][0] < 0 < w["additive"][dt == 0][0]  # Δt = 0: + without delay, − axonal


def test_nearest_and_all_to_all_differ_as_analytic_for_three_spikes(window_runs):
    """pre-pre-post: all-to-all pairs the post spike with both pre spikes, nearest with the last.
    post-post-pre: likewise for depression. pre-post-post in the triplet rule: the second post
    spike potentiates by r₁ (A₂₊ + A₃₊ o₂), o₂ = e^{−Δ/τ_y} from the first."""
    net, res = window_runs["jax"]
    names = list(RULES)
    k0 = len(SHIFTS)
    w = {name: np.asarray(res.final_state.buffers[names.index(name)].weight)[k0:, 0] - W0 for name in names}
    add, tri = RULES["additive"], RULES["triplet"]
    e_p = lambda ms: np.exp(-ms / add.tau_plus)  # noqa: E731
    expected_all = [add.a_plus * (e_p(10.0) + e_p(5.0)), -add.a_minus * (e_p(10.0) + e_p(5.0))]
    expected_nearest = [add.a_plus * e_p(5.0), -add.a_minus * e_p(5.0)]
    np.testing.assert_allclose(w["additive"][:2], expected_all, rtol=1e-5)
    np.testing.assert_allclose(w["nearest"][:2], expected_nearest, rtol=1e-5)
    assert abs(w["additive"][0] - w["nearest"][0]) > 3e-3
    r1 = lambda ms: np.exp(-ms / tri.tau_plus)  # noqa: E731
    expected_tri = tri.a2_plus * r1(5.0) + r1(10.0) * (tri.a2_plus + tri.a3_plus * np.exp(-5.0 / tri.tau_y))
    assert w["triplet"][2] == pytest.approx(expected_tri, rel=1e-5)
    pair_only = tri.a2_plus * (r1(5.0) + r1(10.0))
    assert w["triplet"][2] - pair_only > 2.5e-3  # the triplet term is there


@pytest.mark.skipif(not kernel_info()["available"], reason="no C++ compiler")
def test_ffi_equals_jax_in_the_window_runs(window_runs):
    (_, a), (_, b) = window_runs["jax"], window_runs["ffi"]
    for x, y in zip(jax.tree.leaves(a.final_state), jax.tree.leaves(b.final_state), strict=True):
        np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------------------- the step op


def _random_step_inputs(seed, n_pre=60, n_post=50, k=12, n_tr=1, p_pre=0.3, p_post=0.3):
    rng = np.random.default_rng(seed)
    post_idx = np.stack([rng.choice(n_post + 1, k, replace=False) for _ in range(n_pre)]).astype(np.int32)
    post_idx = np.where(post_idx == n_post, n_post, post_idx)  # some padding
    weight = np.where(post_idx < n_post, rng.uniform(0, 1, post_idx.shape), 0).astype(np.float32)
    pre_tr = rng.uniform(0, 2, (n_pre, n_tr)).astype(np.float32)
    post_tr = rng.uniform(0, 2, (n_post, n_tr)).astype(np.float32)
    pre_s = rng.random(n_pre) < p_pre
    post_s = rng.random(n_post) < p_post
    return post_idx, weight, pre_tr, post_tr, pre_s, post_s


STEP_RULES = [
    STDP(),
    STDP(mu_plus=1.0, mu_minus=1.0, w_max=1.0, pairing="nearest"),
    STDP(mu_plus=0.3, mu_minus=0.7, w_max=1.2),
    TripletSTDP(a2_plus=0.005, a3_minus=0.001),
]


@pytest.mark.parametrize("rule", [
    STEP_RULES[0], pytest.param(STEP_RULES[1], marks=pytest.mark.slow), pytest.param(STEP_RULES[2], marks=pytest.mark.slow),
    STEP_RULES[3],
], ids=["additive", "mult-nearest", "gutig", "triplet"])
def test_event_ffi_and_dense_paths_agree(rule):
    """One step of every path from the same random state: the same numbers to 1 ulp.

    The kernel computes w ± A·(trace·f) as one fused multiply-add (std::fma), as XLA's CPU
    compiler does where it contracts the expression; whether XLA contracts depends on how it
    fuses the program around it (the trace decay-and-bump x·e^{−dt/τ} + 1 likewise), so a
    weight or trace may differ by one rounding (1 ulp) between differently compiled programs."""
    post_idx, w, x, y, pre_s, post_s = _random_step_inputs(1, n_tr=rule.n_traces)
    rev = reverse_index(post_idx, 50)
    coef = rule.coefficients(DT, jnp.float32)
    g = jnp.zeros(70, jnp.float32)
    nearest = rule.pairing == "nearest"
    args = (coef, g, jnp.asarray(w), jnp.asarray(x), jnp.asarray(y), jnp.asarray(post_idx), jnp.asarray(rev))

    @functools.partial(jax.jit, static_argnums=0)
    def step(method, coef, g, *rest):
        return plastic_step(method, nearest, coef, g, 10, *rest)

    event = step("jax", *args, jnp.asarray(pre_s), jnp.asarray(post_s))
    dense = step("jax", *args, jnp.asarray(pre_s, jnp.float32), jnp.asarray(post_s, jnp.float32))
    changed = np.asarray(event[1]) != w
    assert changed.sum() > 100  # both depression and potentiation happened
    others = [dense]
    if kernel_info()["available"]:
        others.append(step("ffi", *args, jnp.asarray(pre_s), jnp.asarray(post_s)))
    for other in others:
        for a, b in zip(event, other):
            np.testing.assert_array_max_ulp(np.asarray(a), np.asarray(b), maxulp=1)


@pytest.mark.parametrize("rule", [STEP_RULES[0], STEP_RULES[3]], ids=["additive", "triplet"])
def test_delayed_event_ffi_and_dense_paths_agree(rule):
    """Per-synapse delays: one step from a random state with random spike and trace
    histories, event (JAX, C++) and dense (surrogate) paths, to 1 ulp (see above)."""
    post_idx, w, x, y, pre_s, post_s = _random_step_inputs(4, n_tr=rule.n_traces)
    rng = np.random.default_rng(5)
    rows = 4
    delay = rng.integers(0, rows, post_idx.shape).astype(np.int32)
    rev = reverse_index(post_idx, 50, delay)
    offsets = delay_offsets(rev, delay, rows - 1)
    hist = rng.uniform(0, 2, (rows, 50, rule.n_traces)).astype(np.float32)
    spikes = (rng.random((rows, 50)) < 0.3).astype(np.float32)
    coef = rule.coefficients(DT, jnp.float32)
    args = [jnp.asarray(a) for a in (w, x, y, hist, spikes, post_idx, delay, rev, offsets)]

    @functools.partial(jax.jit, static_argnums=0)
    def step(method, coef, pre, post, *rest):
        return delayed_plastic_step(method, False, coef, *rest, pre, post, jnp.int32(6))

    event = step("jax", coef, jnp.asarray(pre_s), jnp.asarray(post_s), *args)
    dense = step("jax", coef, jnp.asarray(pre_s, jnp.float32), jnp.asarray(post_s, jnp.float32), *args)
    assert (np.asarray(event[0]) != w).sum() > 100
    others = [dense]
    if kernel_info()["available"]:
        others.append(step("ffi", coef, jnp.asarray(pre_s), jnp.asarray(post_s), *args))
    for other in others:
        for a, b in zip(event, other, strict=True):
            np.testing.assert_array_max_ulp(np.asarray(a), np.asarray(b), maxulp=1)


@pytest.mark.parametrize("method", ["jax", "ffi"])
def test_updates_touch_only_the_rows_and_columns_that_spiked(method):
    """Event-driven cost: a pre spike changes its out-row only, a post spike its in-column
    only (found through the reverse index); nothing else is read-modified-written."""
    if method == "ffi" and not kernel_info()["available"]:
        pytest.skip("no C++ compiler")
    post_idx, w, x, y, _, _ = _random_step_inputs(2)
    rev = reverse_index(post_idx, 50)
    rule = STDP(a_plus=0.05, a_minus=0.05)
    pre_s, post_s = np.zeros(60, bool), np.zeros(50, bool)
    pre_s[7] = True
    post_s[3] = True
    out = plastic_step(method, False, rule.coefficients(DT, jnp.float32), jnp.zeros(50, jnp.float32), 0,
                       jnp.asarray(w), jnp.asarray(x), jnp.asarray(y), jnp.asarray(post_idx), jnp.asarray(rev),
                       jnp.asarray(pre_s), jnp.asarray(post_s))
    changed = np.asarray(out[1]) != w
    allowed = np.zeros_like(changed)
    allowed[7] = post_idx[7] < 50
    allowed |= post_idx == 3
    assert changed.any()
    assert not (changed & ~allowed).any()
    # the reverse index lists exactly the synapses onto each post neuron
    flat = np.sort(rev[3][rev[3] < post_idx.size])
    np.testing.assert_array_equal(flat, np.flatnonzero(post_idx.ravel() == 3))


def test_hard_bounds_hold_exactly():
    """Additive potentiation every step saturates at w_max, depression at 0, never beyond."""
    post_idx, w, x, y, _, _ = _random_step_inputs(3)
    rev = reverse_index(post_idx, 50)
    rule = STDP(a_plus=0.05, a_minus=0.05, w_max=0.8)
    w, x, y = np.minimum(w, 0.8), np.ones_like(x), np.ones_like(y)
    step = jax.jit(lambda w, x, y, pre, post: plastic_step("jax", False, rule.coefficients(DT, jnp.float32),
                                                           jnp.zeros(50, jnp.float32), 0, w, x, y,
                                                           jnp.asarray(post_idx), jnp.asarray(rev), pre, post)[1:])
    up = (jnp.asarray(w), jnp.asarray(x), jnp.asarray(y))
    down = up
    for _ in range(40):
        up = step(*up, jnp.zeros(60, bool), jnp.ones(50, bool))
        down = step(*down, jnp.ones(60, bool), jnp.zeros(50, bool))
    valid = post_idx < 50
    assert np.all(np.asarray(up[0])[valid] == np.float32(0.8))
    assert np.all(np.asarray(down[0])[valid] == 0.0)


# --------------------------------------------------------------------------- weights as state


def _recurrent(method="jax", rule=None, delay=0.5):
    k1, k2, k3, k4, k5 = jax.random.split(jax.random.key(11), 5)
    n, n_e = 100, 80
    exc = fixed_probability(k1, n_e, n_e, 0.1, 0.6)
    exc = Connectivity(exc.post_idx, jnp.where(exc.post_idx < n_e, 0.6, 0.0), n_e, n_e)
    src = fixed_probability(k4, 50, n, 0.1, 0.3)
    src = Connectivity(src.post_idx, jnp.where(src.post_idx < n, 0.3, 0.0), 50, n)
    net = Network(
        nd.LIF(tau_m=20.0, v_rest=-60.0, threshold=-50.0, v_reset=-60.0, refractory_period=5.0),
        [ConductanceSynapse("ge", tau=5.0, reversal=0.0), ConductanceSynapse("gi", tau=10.0, reversal=-80.0)],
        {"E": n_e, "I": n - n_e},
        [
            Projection("E", "E", exc, "ge", delay=delay, plasticity=rule or STDP(a_plus=0.02, a_minus=0.021, w_max=1.2)),
            Projection("E", "I", fixed_probability(k5, n_e, n - n_e, 0.1, 0.6), "ge"),
            Projection("I", "all", fixed_probability(k2, n - n_e, n, 0.1, 6.7), "gi"),
            Projection("P", "all", src, "ge", plasticity=TripletSTDP(a2_plus=0.01, a3_minus=0.002, w_max=0.6,
                                                                   delay="axonal")),
        ],
        sources=[PoissonGroup("P", 50, 20.0)],
        delivery=method,
    )
    y0 = random_initial_state(k3, net, {"v": -55.0, "ge": 0.4, "gi": 2.0}, {"v": 5.0, "ge": 0.15, "gi": 1.2})
    return net, y0


KW = dict(input=15.0, key=jax.random.key(7))


@pytest.fixture(scope="module")
def recurrent_run():
    """The network run 40 ms in one call, and its first 20 ms (both compiled once here)."""
    net, y0 = _recurrent()
    full = simulate_network(net, 40.0, DT, initial_state=y0, **KW)
    first = simulate_network(net, 20.0, DT, initial_state=y0, **KW)
    return net, y0, full, first


def _assert_same_state(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_plastic_weights_change_and_are_returned_in_the_connectivity_layout(recurrent_run):
    net, _, res, _ = recurrent_run
    assert int(res.n_spikes) > 150
    w = net.plastic_weights(res.final_state)
    assert set(w) == {"E->E", "P->all"}
    start = net.projections[0].connectivity.weight
    assert w["E->E"].shape == start.shape
    changed = np.asarray(w["E->E"] != start)
    assert changed.sum() > 50
    assert not changed[np.asarray(net.projections[0].connectivity.post_idx) >= 80].any()  # padding stays 0
    assert float(jnp.max(w["P->all"])) <= 0.6 and float(jnp.min(w["P->all"])) >= 0.0


def test_chunked_and_continued_runs_equal_the_uninterrupted_one(recurrent_run):
    net, y0, full, first = recurrent_run
    _assert_same_state(full.final_state, simulate_network(net, 40.0, DT, initial_state=y0, progress=2, **KW).final_state)
    _assert_same_state(full.final_state, simulate_network(net, 40.0, DT, initial_state=first.final_state, **KW).final_state)


@pytest.mark.slow
def test_streamed_and_resumed_from_disk_equal_the_uninterrupted_one(recurrent_run, tmp_path):
    """The plastic state survives a stream on disk: load_state gives the flat leaves back,
    the run restores the PlasticState structure from the network."""
    net, y0, full, _ = recurrent_run
    d = tmp_path / "s"
    simulate_network(net, 20.0, DT, initial_state=y0, stream_to=d, progress=1, **KW)
    resumed = simulate_network(net, 40.0, DT, initial_state=nd.monitors.load_state(d), stream_to=d, progress=2, **KW)
    _assert_same_state(full.final_state, resumed.final_state)


def test_weight_monitor_records_plastic_weights_from_the_state(recurrent_run):
    net, y0, _, first = recurrent_run
    syn = np.array([0, 5, 17, 40, 41])
    mon = nd.monitors.WeightMonitor(projection="E->E", synapses=syn, every=100)
    res = simulate_network(net, 40.0, DT, initial_state=y0, monitors=[mon], **KW)
    rec = np.asarray(res.weights["weights"])
    assert rec.shape == (4, 5)
    np.testing.assert_array_equal(rec[0], np.ravel(net.projections[0].connectivity.weight)[syn])
    # the record of step 200 is the state at its start: the weights after the first 20 ms
    np.testing.assert_array_equal(rec[2], np.ravel(net.plastic_weights(first.final_state)["E->E"])[syn])
    assert not np.array_equal(rec[2], rec[0])
    np.testing.assert_allclose(np.asarray(res.weight_times["weights"]), [0.0, 10.0, 20.0, 30.0], atol=1e-4)


@pytest.mark.slow
@pytest.mark.skipif(not kernel_info()["available"], reason="no C++ compiler")
def test_ffi_equals_jax_in_a_recurrent_network(recurrent_run):
    """Dendritic delay + additive rule on E->E, axonal delay + triplet rule from a Poisson source:
    the same spikes, and weights and traces to float32 rounding (XLA may contract a·b + c into
    one fused multiply-add where the kernel rounds twice, or the reverse: ≤ 1 ulp per update)."""
    _, _, a, _ = recurrent_run
    net, y0 = _recurrent("ffi")
    b = simulate_network(net, 40.0, DT, initial_state=y0, **KW)
    np.testing.assert_array_equal(a.spike_times, b.spike_times)
    np.testing.assert_array_equal(a.spike_neurons, b.spike_neurons)
    for x, y in zip(jax.tree.leaves(a.final_state), jax.tree.leaves(b.final_state), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_killed_streamed_plastic_run_resumes_to_the_uninterrupted_result(tmp_path):
    """tests/test_io_stream.py's crash protocol with plastic weights: SIGKILL the streamed run
    after chunk 2 is on disk (before the manifest says so), resume from disk, compare."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from neurodyn.io import load_state
    from neurodyn.io._atomic import CRASH_ENV

    scripts = Path(__file__).parent / "scripts"
    sys.path.insert(0, str(scripts))
    import stream_run_plastic

    ref = stream_run_plastic.run(tmp_path / "reference", 40.0)
    d = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1]), JAX_PLATFORMS="cpu")
    env[CRASH_ENV] = "chunk_after_rename:2"
    proc = subprocess.run([sys.executable, str(scripts / "stream_run_plastic.py"), str(d), "40.0"], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert float(load_state(d).t) == pytest.approx(20.0, abs=1e-4)  # chunks 0 and 1 committed
    resumed = stream_run_plastic.run(d, 40.0, resume=True)
    _assert_same_state(ref.final_state, resumed.final_state)
    w0 = np.asarray(stream_run_plastic.network()[0].projections[0].connectivity.weight)
    assert (np.asarray(resumed.final_state.buffers[0].weight) != w0).sum() > 50  # the weights did move


# --------------------------------------------------------------------------- STDP with short-term plasticity

@pytest.mark.slow  # 9 projections to compile: ~35 s CPU
def test_stdp_with_short_term_plasticity_delivers_the_product_of_the_two_factors():
    """A projection with both `plasticity` and `short_term` transmits w·u·x per spike: w the
    plastic weight at the spike (as the STDP-only projection has it, whose weights it
    follows exactly: release does not enter the STDP rule) and u·x the release (as the
    STP-only projection with a static weight delivers it, tested against NEST's
    tsodyks_synapse in test_short_term.py). Reference: the product of the two separately
    validated factors, on every arrival of a 50 Hz presynaptic train paired with post spikes
    5 ms before and after, with no delay, one dendritic delay and per-synapse delays. The
    receptors integrate without decay (τ = 1e9 ms), so each jump is one delivery."""
    from neurodyn.network import TsodyksSynapse

    n_steps, w0 = 4000, 0.05
    pulses = np.zeros((n_steps + 1, 2))
    pre = 100 + 200 * np.arange(18)  # 50 Hz
    pulses[pre, 0] = 1e4
    pulses[np.concatenate([pre[::2] + 50, pre[1::2] - 50]), 1] = 1e4  # post 5 ms after / before
    stp = TsodyksSynapse(U=0.5, tau_rec=800.0, tau_fac=0.0, tau_psc=3.0)
    rule = STDP(a_plus=0.005, a_minus=0.00525, w_max=0.1)
    one = jnp.zeros((1, 1), jnp.int32)
    variants = {"none": (None, None), "dendritic": (0.5, None), "per-synapse": (None, one + 3)}
    projections, synapses = [], []
    for name, (delay, table) in variants.items():
        conn = Connectivity(one, jnp.full((1, 1), w0), 1, 1, delay=table, dt=None if table is None else DT)
        for kind, kw in (("a", dict(plasticity=rule, short_term=stp)), ("b", dict(plasticity=rule)),
                         ("c", dict(short_term=stp))):
            synapses.append(CurrentSynapse(f"{kind}_{name}", 1e9))
            projections.append(Projection("pre", "post", conn, f"{kind}_{name}", delay=delay, **kw))
    net = Network(nd.LIF(refractory_period=0.0), synapses, {"pre": 1, "post": 1}, projections)
    res = simulate_network(net, n_steps * DT, DT, input=TimeSeries(np.arange(n_steps + 1) * DT, pulses),
                           record=tuple(s.name for s in synapses))
    np.testing.assert_array_equal(res.spike_counts, [pre.size, pre.size])
    for j, name in enumerate(variants):
        a, b, c = (np.diff(np.asarray(res.traces[f"{k}_{name}"][:, 1], np.float64)) for k in "abc")
        arrivals = np.flatnonzero(c > 0)
        assert arrivals.size == pre.size
        ux = c[arrivals] / w0
        assert ux[-1] < 0.2 * ux[0]  # depression acted
        np.testing.assert_allclose(a[arrivals], b[arrivals] * ux, rtol=2e-5, err_msg=name)
        assert np.ptp(b[arrivals]) > 0.2 * w0  # and so did STDP
        wa, wb = (np.asarray(res.final_state.buffers[3 * j + k].weight) for k in (0, 1))
        np.testing.assert_array_equal(wa, wb)


# --------------------------------------------------------------------------- vmap and gradients

@pytest.mark.parametrize("method", [pytest.param("jax", marks=pytest.mark.slow), "ffi"])
def test_plastic_steps_under_vmap_equal_one_call_per_member(method):
    """A batch of plastic projections (jax.vmap; the C++ handlers run once per member,
    vmap_method="sequential") gives each member's own step, bit for bit; with and without
    per-synapse delays."""
    if method == "ffi" and not kernel_info()["available"]:
        pytest.skip("no C++ compiler")
    rule = TripletSTDP(a2_plus=0.005, a3_minus=0.001)
    coef = rule.coefficients(DT, jnp.float32)
    members = [_random_step_inputs(10 + b, n_tr=2) for b in range(3)]
    post_idx = members[0][0]
    rev = jnp.asarray(reverse_index(post_idx, 50))
    batch = [jnp.stack([jnp.asarray(m[i]) for m in members]) for i in range(1, 6)]  # w, x, y, pre, post

    def one(w, x, y, pre, post):
        return plastic_step(method, False, coef, jnp.zeros(50, jnp.float32), 0, w, x, y, jnp.asarray(post_idx), rev,
                            pre, post)

    batched = jax.jit(jax.vmap(one))(*batch)
    for b in range(3):
        for a, c in zip(jax.tree.leaves(batched), jax.tree.leaves(jax.jit(one)(*(x[b] for x in batch))), strict=True):
            np.testing.assert_array_equal(a[b], c)
    rng = np.random.default_rng(3)
    delay = rng.integers(0, 3, post_idx.shape).astype(np.int32)
    rev_d = reverse_index(post_idx, 50, delay)
    tables = [jnp.asarray(a) for a in (post_idx, delay, rev_d, delay_offsets(rev_d, delay, 2))]
    hist = jnp.asarray(rng.uniform(0, 2, (3, 3, 50, 2)), jnp.float32)
    spk = jnp.asarray(rng.random((3, 3, 50)) < 0.3, jnp.float32)

    def one_delayed(w, x, y, pre, post, hist, spk):
        return delayed_plastic_step(method, False, coef, w, x, y, hist, spk, *tables, pre, post, jnp.int32(4))

    batched = jax.jit(jax.vmap(one_delayed))(*batch, hist, spk)
    for b in range(3):
        single = jax.jit(one_delayed)(*(x[b] for x in batch), hist[b], spk[b])
        for a, c in zip(jax.tree.leaves(batched), jax.tree.leaves(single), strict=True):
            np.testing.assert_array_equal(a[b], c)


def test_differentiating_a_plastic_run_with_0_1_spikes_says_to_use_surrogate_spikes():
    """The event path (C++ kernel or while_loops) has no derivative: jax.grad (and so
    neurodyn.fit) through it says what to do instead of JAX's "FFI call cannot be differentiated"."""
    method = "ffi" if kernel_info()["available"] else "jax"
    post_idx, w, x, y, pre_s, post_s = _random_step_inputs(6)
    rev = jnp.asarray(reverse_index(post_idx, 50))

    def mean_w(a_plus):
        coef = STDP(a_plus=a_plus).coefficients(DT, jnp.float32)
        out = plastic_step(method, False, coef, jnp.zeros(50, jnp.float32), 0, jnp.asarray(w), jnp.asarray(x),
                           jnp.asarray(y), jnp.asarray(post_idx), rev, jnp.asarray(pre_s), jnp.asarray(post_s))
        return out[1].mean()

    with pytest.raises(ValueError, match="cannot be differentiated with 0/1 spikes.*surrogate"):
        jax.grad(mean_w)(0.01)
    assert float(mean_w(0.01)) != float(np.mean(w))  # the forward run is unaffected
