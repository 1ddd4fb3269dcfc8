"""Per-synapse delays: exact arrival steps, both delivery paths, chunked/resumed runs, vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurodyn import LIF, SimState
from neurodyn.network import (
    ConductanceSynapse,
    CurrentSynapse,
    Network,
    Normal,
    Projection,
    fixed_probability,
    from_lists,
    random_initial_state,
    simulate_network,
)
from neurodyn.network.delivery import deliver_delayed, kernel_info

requires_kernel = pytest.mark.skipif(
    not kernel_info()["available"], reason=f"compiled kernel unavailable: {kernel_info()['reason']}"
)
METHODS = [pytest.param("ffi", marks=requires_kernel), "jax"]
DT = 0.1


def _random_projection(seed, n_pre=40, n_post=30, n_syn=500, max_steps=6, per_synapse=True):
    """Random synapses (duplicates included) with delays 0..max_steps steps and dyadic
    weights (k/8: every sum is exact in float32, so both paths must agree bit for bit)."""
    rng = np.random.default_rng(seed)
    pre, post = rng.integers(0, n_pre, n_syn), rng.integers(0, n_post, n_syn)
    steps = rng.integers(0, max_steps + 1, n_syn)
    steps[:2] = (0, max_steps)  # both ends of the range present
    weight = rng.integers(-16, 17, n_syn) / 8.0 if per_synapse else 0.625
    conn = from_lists(pre, post, weight, n_pre=n_pre, n_post=n_post, delay=steps * DT, dt=DT)
    return conn, pre, post, np.broadcast_to(weight, pre.shape), steps


def _reference(pre, post, weight, steps, spikes, n_post):
    """Brute force: spike of i at step s adds w_k to target post_k in the delivery of step s + d_k."""
    n_steps = spikes.shape[0]
    out = np.zeros((n_steps, n_post))
    for s in range(n_steps):
        scale = spikes[s, pre].astype(float)
        for k in np.nonzero(scale)[0]:
            if s + steps[k] < n_steps:
                out[s + steps[k], post[k]] += scale[k] * weight[k]
    return out


def _run(conn, spikes, method, post_start=0, n_total=None):
    n_total = conn.n_post if n_total is None else n_total
    step_fn = jax.jit(lambda t, r, c, s, k: deliver_delayed(t, r, c, s, k, post_start, method=method))
    ring = jnp.zeros((max(1, conn.max_delay), conn.n_post), jnp.float32)
    out = []
    for s in range(spikes.shape[0]):
        target, ring = step_fn(jnp.zeros(n_total, jnp.float32), ring, conn, jnp.asarray(spikes[s]), s)
        out.append(np.asarray(target))
    return np.array(out)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("per_synapse", [True, False])
def test_each_spike_arrives_at_its_own_delay(method, per_synapse):
    conn, pre, post, weight, steps = _random_projection(0, per_synapse=per_synapse)
    assert conn.max_delay == 6 and conn.delay.dtype == jnp.uint8
    rng = np.random.default_rng(1)
    spikes = rng.random((25, conn.n_pre)) < 0.15
    spikes[3] = True  # all at once, and none at all
    spikes[4] = False
    got = _run(conn, spikes, method, post_start=5, n_total=conn.n_post + 9)
    expected = _reference(pre, post, weight, steps, spikes, conn.n_post)
    np.testing.assert_array_equal(got[:, 5 : 5 + conn.n_post], expected)  # dyadic: exact
    assert np.all(got[:, :5] == 0) and np.all(got[:, 5 + conn.n_post :] == 0)


@pytest.mark.parametrize("method", METHODS)
def test_float_spikes_scale_and_long_delays_use_int16(method):
    rng = np.random.default_rng(2)
    n_syn = 200
    pre, post = rng.integers(0, 10, n_syn), rng.integers(0, 12, n_syn)
    steps = rng.choice([0, 1, 299, 300], n_syn)  # D = 300 >= 256: int16 delays
    conn = from_lists(pre, post, rng.integers(1, 9, n_syn) / 4.0, n_pre=10, n_post=12, delay=steps * DT, dt=DT)
    assert conn.max_delay == 300 and conn.delay.dtype == jnp.int16
    spikes = np.zeros((320, 10), np.float32)
    spikes[[0, 5, 17]] = rng.integers(0, 3, (3, 10)) / 2.0  # 0, 0.5 or 1
    got = _run(conn, spikes, method)
    # Reference from the table itself (the lists are reordered by pre inside the table).
    mask = np.asarray(conn.mask)
    t_pre = np.broadcast_to(np.arange(10)[:, None], mask.shape)[mask]
    t_post = np.asarray(conn.post_idx)[mask]
    t_w = np.asarray(conn.weights_full())[mask]
    t_d = np.asarray(conn.delay)[mask].astype(int)
    np.testing.assert_array_equal(np.sort(t_d), np.sort(steps))
    np.testing.assert_array_equal(got, _reference(t_pre, t_post, t_w, t_d, spikes, 12))


@requires_kernel
def test_ffi_and_jax_agree_on_a_large_projection():
    from neurodyn.network import fixed_total_number

    conn = fixed_total_number(
        jax.random.key(0), 800, 1000, 80_000, Normal(0.5, 0.05, low=0.0), delay=Normal(1.5, 0.75, low=0.5 * DT), dt=DT
    )
    spikes = np.random.default_rng(3).random((40, 800)) < 0.02
    a, b = _run(conn, spikes, "ffi"), _run(conn, spikes, "jax")
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)  # summation order may differ
    assert a.sum() > 0


@pytest.mark.parametrize("method", METHODS)
def test_vmap_over_weights_rings_and_spikes_equals_a_loop(method):
    conn, *_ = _random_projection(4)
    rng = np.random.default_rng(5)
    scales = jnp.asarray([0.5, 1.0, 2.0])
    spikes = jnp.asarray(rng.random((3, conn.n_pre)) < 0.3)
    rings = jnp.asarray(rng.integers(0, 4, (3, conn.max_delay, conn.n_post)), jnp.float32)

    def one(scale, ring, s):
        return deliver_delayed(jnp.zeros(conn.n_post), ring, conn.with_weight(conn.weight * scale), s, 7, method=method)

    t_b, r_b = jax.jit(jax.vmap(one))(scales, rings, spikes)
    for j in range(3):
        t, r = one(scales[j], rings[j], spikes[j])
        np.testing.assert_array_equal(t_b[j], t)
        np.testing.assert_array_equal(r_b[j], r)
    # the ring unbatched, the spikes batched: the kernel broadcasts the ring
    t_b, r_b = jax.jit(jax.vmap(lambda s: deliver_delayed(jnp.zeros(conn.n_post), rings[0], conn, s, 3, method=method)))(spikes)
    np.testing.assert_array_equal(t_b[1], deliver_delayed(jnp.zeros(conn.n_post), rings[0], conn, spikes[1], 3, method=method)[0])


@pytest.mark.parametrize("method", METHODS)
def test_gradient_is_the_linear_map(method):
    """d(target after 4 steps)/d(weight) against finite differences (delivery is linear in w)."""
    conn, *_ = _random_projection(6, n_syn=60)
    spikes = jnp.asarray(np.random.default_rng(7).random((4, conn.n_pre)) < 0.4, jnp.float32)

    def loss(w):
        c = conn.with_weight(w)
        target, ring = jnp.zeros(conn.n_post), jnp.zeros((conn.max_delay, conn.n_post))
        total = 0.0
        for s in range(4):
            target, ring = deliver_delayed(target, ring, c, spikes[s], s, method=method)
            total = total + jnp.sum(target * jnp.arange(conn.n_post)) + jnp.sum(ring**2)
        return total

    w0 = conn.weight
    g = jax.grad(loss)(w0)
    direction = jnp.asarray(np.random.default_rng(8).normal(size=w0.shape), jnp.float32) * conn.mask
    eps = 1e-2
    fd = (loss(w0 + eps * direction) - loss(w0 - eps * direction)) / (2 * eps)
    assert float(jnp.sum(g * direction)) == pytest.approx(float(fd), rel=1e-3)


# --------------------------------------------------------------------------- networks

QUIET = dict(tau_m=20.0, v_rest=0.0, threshold=10.0, v_reset=0.0, refractory_period=1e6)


def test_network_arrival_steps_from_explicit_lists(monkeypatch):
    """Three sources fire at the end of step 0; synapses with delays 0, 0.1, 0.25 (rounds
    to 0.3, halves up), 0.7 ms onto two targets with a non-decaying current: g is a
    staircase whose jumps sit at step 1 + d/dt exactly, in both delivery paths."""
    pre = np.array([0, 1, 2, 0, 2])
    post = np.array([0, 0, 1, 1, 0])
    delay = np.array([0.0, 0.1, 0.25, 0.7, 0.7])
    weight = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    conn = from_lists(pre, post, weight, n_pre=3, n_post=2, delay=delay, dt=DT)
    np.testing.assert_array_equal(np.sort(np.asarray(conn.delay)[np.asarray(conn.mask)]), [0, 1, 3, 7, 7])
    net = Network(LIF(**QUIET), [CurrentSynapse("ge", tau=1e12)], {"src": 3, "tgt": 2}, [Projection("src", "tgt", conn, "ge")])
    y0 = {"v": jnp.array([20.0, 20.0, 20.0, 0.0, 0.0])}
    traces = {}
    for method in ("jax", "ffi") if kernel_info()["available"] else ("jax",):
        monkeypatch.setenv("NEURODYN_DELIVERY", method)
        res = simulate_network(net, 1.5, DT, initial_state=y0, record=("ge",), unroll=1)
        traces[method] = np.asarray(res.traces["ge"])[:, 3:]
        assert res.final_state.buffers[0].shape == (7, 2)  # D = 7 rows, never a history
    g = traces["jax"]
    expected = np.zeros_like(g)
    for k in range(5):
        expected[1 + int(np.floor(delay[k] / DT + 0.5)) :, post[k]] += weight[k]
    np.testing.assert_allclose(g, expected, rtol=1e-6)
    if "ffi" in traces:
        np.testing.assert_array_equal(traces["ffi"], traces["jax"])


def _coba_with_delays(n=200):
    k1, k2, k3 = jax.random.split(jax.random.key(3), 3)
    n_e = int(0.8 * n)
    exc = fixed_probability(k1, n_e, n, 0.1, 0.6, delay=Normal(1.5, 0.75, low=0.5 * DT), dt=DT)
    inh = fixed_probability(k2, n - n_e, n, 0.1, 6.7, delay=Normal(0.75, 0.375, low=0.5 * DT), dt=DT)
    net = Network(
        LIF(tau_m=20.0, v_rest=-60.0, threshold=-50.0, v_reset=-60.0, refractory_period=5.0),
        [ConductanceSynapse("ge", 5.0, 0.0), ConductanceSynapse("gi", 10.0, -80.0)],
        {"E": n_e, "I": n - n_e},
        [Projection("E", "all", exc, "ge"), Projection("I", "all", inh, "gi")],
    )
    y0 = random_initial_state(k3, net, {"v": -55.0, "ge": 0.4, "gi": 2.0}, {"v": 5.0, "ge": 0.15, "gi": 1.2})
    return net, y0


def test_chunked_and_resumed_runs_equal_uninterrupted_with_heterogeneous_delays():
    net, y0 = _coba_with_delays()
    assert net.projections[0].connectivity.max_delay > 30  # a deep ring, so chunks cut through it
    whole = simulate_network(net, 40.0, DT, input=20.0, initial_state=y0, unroll=1)
    chunked = simulate_network(net, 40.0, DT, input=20.0, initial_state=y0, unroll=1, progress=4)
    a = simulate_network(net, 17.3, DT, input=20.0, initial_state=y0, unroll=1)
    assert isinstance(a.final_state, SimState)
    b = simulate_network(net, 40.0, DT, input=20.0, initial_state=a.final_state, unroll=1)
    assert int(whole.n_spikes) > 100  # the network is active, so the test means something
    np.testing.assert_array_equal(chunked.spikes()[1], whole.spikes()[1])
    np.testing.assert_allclose(chunked.spikes()[0], whole.spikes()[0], atol=1e-4)
    np.testing.assert_array_equal(np.concatenate([a.spikes()[1], b.spikes()[1]]), whole.spikes()[1])
    for k in whole.final_state.y:
        np.testing.assert_allclose(b.final_state.y[k], whole.final_state.y[k], rtol=1e-5, atol=1e-5)
    for rb, rw in zip(b.final_state.buffers, whole.final_state.buffers):
        np.testing.assert_allclose(rb, rw, atol=1e-5)


def test_network_errors_for_delays():
    conn = from_lists([0], [0], 1.0, n_pre=1, n_post=1, delay=0.3, dt=DT)
    with pytest.raises(ValueError, match="already holds per-synapse delays"):
        Projection("A", "A", conn, "ge", delay=0.5)
    net = Network(LIF(), [CurrentSynapse("ge")], {"A": 1}, [Projection("A", "A", conn, "ge")])
    with pytest.raises(ValueError, match=r"rounded to steps of dt = 0.1 ms but the simulation runs with dt = 0.05"):
        simulate_network(net, 1.0, 0.05)
    with pytest.raises(ValueError, match="Projection.delay must be a finite number"):
        Projection("A", "A", from_lists([0], [0], 1.0, n_pre=1, n_post=1), "ge", delay=float("nan"))
