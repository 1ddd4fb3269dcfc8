"""Parallel delayed delivery: the compiled kernel's targets split over threads.

The claim is bit identity: with rows sorted by target, every ring cell receives its adds
in the same order whatever the number of threads (spiking rows ascending, table order
within a row), so 1, 2 and 3 threads give the same floats. Weights here are NOT dyadic
(normal draws), so a change in the order of the additions would show. Each test also
checks, through the kernel's counter, that the threaded path really ran, and compares
with the pure-JAX path (which has no threads) and with a reference from the definition.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurodyn.network.delivery as delivery
from neurodyn import IAF
from neurodyn.network import CurrentSynapse, Network, Projection, simulate_network
from neurodyn.network._build import threaded_deliveries
from neurodyn.network.connectivity import Connectivity, fixed_total_number_blocks
from neurodyn.network.delivery import deliver_delayed, kernel_info, resolve_threads

requires_kernel = pytest.mark.skipif(
    not kernel_info()["available"], reason=f"compiled kernel unavailable: {kernel_info()['reason']}"
)
DT = 0.1


def _sorted_table(seed, n_pre, n_post, k, max_steps, pad=0):
    """A Connectivity with rows sorted by target (multapses, delays 0..max_steps steps, the
    last `pad` entries of each row padding) and normal weights."""
    rng = np.random.default_rng(seed)
    post = np.sort(rng.integers(0, n_post, (n_pre, k)), axis=1).astype(np.int32)
    if pad:
        post[:, k - pad:] = n_post
    weight = rng.normal(0.0, 1.0, (n_pre, k)).astype(np.float32)
    steps = rng.integers(0, max_steps + 1, (n_pre, k)).astype(np.uint8)
    return Connectivity(post, weight, n_pre, n_post, steps, dt=DT, max_delay=max_steps)


def _reference(conns, spikes, n_total):
    """target after each step, in float64, from the definition (spike of step s reaches
    synapse (i, j) at step s + d_ij); conns = [(conn, pre_start, post_start)]."""
    n_steps = spikes.shape[0]
    arrivals = np.zeros((n_steps + 64, n_total))
    for conn, pre_start, post_start in conns:
        post, w, d = (np.asarray(x) for x in (conn.post_idx, conn.weight, conn.delay))
        for s in range(n_steps):
            for i in np.flatnonzero(spikes[s, pre_start:pre_start + conn.n_pre]):
                ok = post[i] < conn.n_post
                np.add.at(arrivals, (s + d[i][ok].astype(int), post_start + post[i][ok]), w[i][ok])
    return np.cumsum(arrivals[:n_steps], axis=0)


def _run(conns, spikes, n_total, threads, method="ffi"):
    """Two projections onto one shared ring, stepped in one compiled scan: targets per step."""
    rows = max(c.max_delay for c, *_ in conns)

    def body(carry, xs):
        target, ring = carry
        spiked, s = xs
        for j, (conn, pre_start, post_start) in enumerate(conns):
            target, ring = deliver_delayed(target, ring, conn, spiked, s, post_start, pre_start=pre_start,
                                           ring_origin=0, arrive=j == 0, method=method, threads=threads,
                                           min_events=1)
        return (target, ring), target

    steps = jnp.arange(spikes.shape[0], dtype=jnp.int32)
    init = (jnp.zeros(n_total), jnp.zeros((rows, n_total)))
    _, targets = jax.jit(lambda sp: jax.lax.scan(body, init, (sp, steps)))(jnp.asarray(spikes))
    return np.asarray(targets)


@requires_kernel
def test_threads_give_the_single_threaded_floats_bit_for_bit():
    # a 90-neuron network: A (0-49) -> all with delays 0..6 steps, B (50-89) -> B only
    conns = [(_sorted_table(0, 50, 90, 120, 6, pad=7), 0, 0), (_sorted_table(1, 40, 40, 60, 4), 50, 50)]
    spikes = np.random.default_rng(2).random((30, 90)) < 0.3
    before = threaded_deliveries()
    one = _run(conns, spikes, 90, threads=1)
    assert threaded_deliveries() == before  # threads=1 never splits
    for threads in (2, 3):
        np.testing.assert_array_equal(_run(conns, spikes, 90, threads=threads), one)
    assert threaded_deliveries() >= before + 2 * 30  # most calls (2 projections x 30 steps) split
    np.testing.assert_allclose(one, _reference(conns, spikes, 90), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(_run(conns, spikes, 90, threads=2, method="jax"), one, rtol=1e-5, atol=1e-5)


@requires_kernel
def test_threads_under_vmap_and_with_float_spikes():
    conn = _sorted_table(3, 60, 70, 80, 5)
    spikes = (np.random.default_rng(4).random((3, 60)) < 0.5) * np.float32(0.75)
    ring = jnp.asarray(np.random.default_rng(5).normal(size=(5, 70)), jnp.float32)

    def deliver(s, threads):
        return deliver_delayed(jnp.ones(70), ring, conn, s, 2, threads=threads, min_events=1)

    before = threaded_deliveries()
    one = jax.jit(jax.vmap(lambda s: deliver(s, 1)))(jnp.asarray(spikes))
    two = jax.jit(jax.vmap(lambda s: deliver(s, 2)))(jnp.asarray(spikes))
    assert threaded_deliveries() == before + 3  # one call per network of the batch
    for a, b in zip(one, two):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@requires_kernel
def test_unsorted_rows_or_little_work_stay_on_one_thread():
    """An unsorted table cannot be split by binary search: the call runs on one thread and
    is still exact; so is a call with fewer than min_events events per thread."""
    sorted_conn = _sorted_table(6, 30, 50, 40, 3)
    rng = np.random.default_rng(7)
    perm = np.argsort(rng.random((30, 40)), axis=1)
    shuffled = Connectivity(*(np.take_along_axis(np.asarray(x), perm, 1) for x in
                              (sorted_conn.post_idx, sorted_conn.weight)), 30, 50,
                            np.take_along_axis(np.asarray(sorted_conn.delay), perm, 1), dt=DT, max_delay=3)
    spikes = jnp.asarray(rng.random(30) < 0.5)
    ring = jnp.zeros((3, 50))
    before = threaded_deliveries()
    got = deliver_delayed(jnp.zeros(50), ring, shuffled, spikes, 0, threads=2, min_events=1)
    want = deliver_delayed(jnp.zeros(50), ring, shuffled, spikes, 0, threads=1)
    few = deliver_delayed(jnp.zeros(50), ring, sorted_conn, spikes, 0, threads=2, min_events=10**6)
    assert threaded_deliveries() == before
    for a, b in zip(got, want):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(np.asarray(few[1]), np.asarray(want[1]), rtol=1e-6, atol=1e-6)


def _small_circuit():
    """A small PD14-like circuit: tables from `fixed_total_number_blocks(sort_targets=True)`,
    per-synapse delays 0..14 steps, E and I receptors, 4 projections onto "all"."""
    sizes = {"A": 40, "B": 30, "C": 35, "D": 15}
    first = np.cumsum([0, *sizes.values()])[:-1]
    n = sum(sizes.values())
    projections = []
    for s, (name, n_pre) in enumerate(sizes.items()):
        sign = 1.0 if s < 2 else -4.0
        blocks = [(300, int(first[t]), size) for t, size in enumerate(sizes.values())]
        conn = fixed_total_number_blocks(jax.random.key(s), n_pre, blocks, n, [sign * 60.0] * 4,
                                         delay=1.0 if s < 2 else 0.5, dt=DT, sort_targets=True)
        conn = Connectivity(conn.post_idx, conn.weight * np.float32(1.0 + 0.01 * s), n_pre, n,
                            np.asarray(conn.delay) + np.arange(conn.post_idx.shape[1], dtype=np.uint8) % 5,
                            dt=DT)  # spread the delays: 0..14 steps
        projections.append(Projection(name, "all", conn, "ge" if s < 2 else "gi"))
    neuron = IAF(e_l=-65.0, threshold=-50.0, v_reset=-65.0, i_e=420.0)
    synapses = [CurrentSynapse("ge", tau=0.5), CurrentSynapse("gi", tau=0.5)]
    return neuron, synapses, sizes, projections


@requires_kernel
def test_network_delivery_does_not_depend_on_its_threads(monkeypatch):
    """`Network.deliver` (the shared ring of each receptor, 4 projections) stepped with
    random spikes: the same currents and rings on 1 and 2 threads, bit for bit."""
    monkeypatch.setattr(delivery, "THREAD_MIN_EVENTS", 1)  # split even this small network's calls
    neuron, synapses, sizes, projections = _small_circuit()
    n = sum(sizes.values())
    spikes = jnp.asarray(np.random.default_rng(10).random((20, n)) < 0.2)

    def run(threads):
        net = Network(neuron, synapses, sizes, projections, delivery="ffi", delivery_threads=threads)
        rings = net.delivery_state(n, DT, jnp.float32)

        def body(carry, xs):
            y, rings = carry
            y, rings = net.deliver(y, rings, xs[0], xs[1], None, DT)
            return (jax.tree.map(lambda g: 0.9 * g, y), rings), y

        y = {"ge": jnp.zeros(n), "gi": jnp.zeros(n)}
        return jax.jit(lambda sp: jax.lax.scan(body, (y, rings), (sp, jnp.arange(20, dtype=jnp.int32))))(spikes)

    before = threaded_deliveries()
    one, two = run(1), run(2)
    assert threaded_deliveries() >= before + 20 * 4
    assert float(jnp.abs(one[1]["gi"]).sum()) > 0
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(two)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow  # three compilations of a whole run (~10 s of CPU)
@requires_kernel
def test_network_spikes_do_not_depend_on_the_delivery_threads(monkeypatch):
    """The small circuit simulated: the same spikes and currents, step for step, on 1 and
    2 threads, and in pure JAX to float rounding."""
    monkeypatch.setattr(delivery, "THREAD_MIN_EVENTS", 1)
    neuron, synapses, sizes, projections = _small_circuit()
    n = sum(sizes.values())
    y0 = {"v": jnp.linspace(-65.0, -51.0, n)}

    def run(threads, method="ffi"):
        net = Network(neuron, synapses, sizes, projections, delivery=method, delivery_threads=threads)
        return simulate_network(net, 30.0, DT, initial_state=y0, record=("ge", "gi"))

    before = threaded_deliveries()
    one, two = run(1), run(2)
    assert threaded_deliveries() > before
    assert int(one.n_spikes) > 50  # the circuit is active
    for a, b in zip(one.spikes(), two.spikes()):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for var in ("ge", "gi"):
        np.testing.assert_array_equal(np.asarray(one.traces[var]), np.asarray(two.traces[var]))
    jax_run = run(2, "jax")
    for var in ("ge", "gi"):
        np.testing.assert_allclose(np.asarray(jax_run.traces[var][:50]), np.asarray(one.traces[var][:50]),
                                   rtol=1e-4, atol=1e-3)


def test_sorted_blocks_are_the_unsorted_draw_with_each_row_sorted():
    """sort_targets=True changes only the order of each row's targets: the same targets per
    row, weights and delays in the same entries (the same law; see the docstring)."""
    blocks = [(400, 0, 30), (250, 30, 20), (0, 50, 5), (300, 55, 45)]
    kw = dict(delay=1.5, dt=DT)
    from neurodyn.network.distributions import Normal

    weights = [Normal(10.0, 1.0), 2.0, 3.0, Normal(-5.0, 0.5, high=0.0)]
    plain = fixed_total_number_blocks(jax.random.key(9), 25, blocks, 100, weights, **kw)
    tidy = fixed_total_number_blocks(jax.random.key(9), 25, blocks, 100, weights, sort_targets=True, **kw)
    post = np.asarray(tidy.post_idx)
    assert np.all(np.diff(post, axis=1) >= 0)
    np.testing.assert_array_equal(post, np.sort(np.asarray(plain.post_idx), axis=1))
    np.testing.assert_array_equal(np.asarray(tidy.weight), np.asarray(plain.weight))
    np.testing.assert_array_equal(np.asarray(tidy.delay), np.asarray(plain.delay))


def test_thread_settings_are_checked(monkeypatch):
    conn = _sorted_table(8, 5, 6, 4, 2)
    args = (jnp.zeros(6), jnp.zeros((2, 6)), conn, jnp.zeros(5, bool), 0)
    for bad, err in ((0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(err, match="threads must be an integer >= 1"):
            deliver_delayed(*args, threads=bad)
        with pytest.raises(err, match="min_events must be an integer >= 1"):
            deliver_delayed(*args, min_events=bad)
        if err is ValueError:  # (a float or bool is refused by the test suite's type hook first)
            with pytest.raises(err, match="delivery_threads must be an integer >= 1"):
                Network(IAF(), [CurrentSynapse("ge", tau=0.5)], {"A": 6}, delivery_threads=bad)
    for env in ("0", "two", "-1"):
        monkeypatch.setenv("NEURODYN_DELIVERY_THREADS", env)
        with pytest.raises(ValueError, match="NEURODYN_DELIVERY_THREADS must be an integer >= 1"):
            resolve_threads()
    monkeypatch.setenv("NEURODYN_DELIVERY_THREADS", "3")
    assert resolve_threads() == 3 and resolve_threads(1) == 1
    with pytest.raises(ValueError, match="sort_targets=True needs disjoint blocks in ascending target order"):
        fixed_total_number_blocks(jax.random.key(0), 4, [(5, 10, 10), (5, 0, 10)], 20, [1.0, 1.0], sort_targets=True)
