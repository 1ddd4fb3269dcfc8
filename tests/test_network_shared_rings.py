"""Shared delay rings and the grouped pure-JAX (GPU) delivery of per-synapse delays.

References: a reference delivery written here in NumPy from the definition (a spike of
step s reaches synapse k at step s + d_k), and the compiled kernel's per-projection path.
Weights are dyadic (k/8), so every sum is exact in float32 and the paths must agree bit
for bit whatever the order of the additions.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurodyn import IAF
from neurodyn.network import CurrentSynapse, Network, Projection, from_lists, simulate_network
from neurodyn.network.delivery import deliver_delayed, deliver_delayed_group, kernel_info

requires_kernel = pytest.mark.skipif(
    not kernel_info()["available"], reason=f"compiled kernel unavailable: {kernel_info()['reason']}"
)
METHODS = [pytest.param("ffi", marks=requires_kernel), "jax"]
DT = 0.1
SIZES = (30, 12, 25)  # three populations, numbered one after the other


def _projections(seed, n_syn=300, max_steps=7):
    """Every (pre, post) pair of the three populations: random synapses with delays
    0..max_steps steps and dyadic weights; also the synapse lists for the reference."""
    rng = np.random.default_rng(seed)
    starts = np.cumsum((0, *SIZES))[:-1]
    out = []
    for a, n_pre in enumerate(SIZES):
        for b, n_post in enumerate(SIZES):
            pre, post = rng.integers(0, n_pre, n_syn), rng.integers(0, n_post, n_syn)
            steps = rng.integers(0, max_steps + 1, n_syn)
            weight = rng.integers(-16, 17, n_syn) / 8.0
            conn = from_lists(pre, post, weight, n_pre=n_pre, n_post=n_post, delay=steps * DT, dt=DT)
            out.append((conn, int(starts[a]), int(starts[b]), (pre + starts[a], post + starts[b], weight, steps)))
    return out


def _reference(projs, spikes):
    """target after each step from the definition: Σ over spikes of step s - d of w."""
    n, n_steps = sum(SIZES), spikes.shape[0]
    arrivals = np.zeros((n_steps + 64, n))
    for _, _, _, (pre, post, w, d) in projs:
        for s in range(n_steps):
            fire = spikes[s, pre]
            np.add.at(arrivals, (s + d[fire], post[fire]), w[fire])
    return np.cumsum(arrivals[:n_steps], axis=0)  # target = running sum of arrivals (no decay)


def _run(step_fn, projs, spikes):
    """target after each step of `step_fn(target, ring, spikes, step)`, in one compiled scan."""
    n = sum(SIZES)
    ring = jnp.zeros((max(c.max_delay for c, *_ in projs), n))

    def body(carry, xs):
        target, ring = step_fn(*carry, *xs)
        return (target, ring), target

    steps = jnp.arange(spikes.shape[0], dtype=jnp.int32)
    _, targets = jax.jit(lambda s: jax.lax.scan(body, (jnp.zeros(n), ring), (s, steps)))(jnp.asarray(spikes))
    return np.asarray(targets)


@pytest.mark.parametrize("method", METHODS)
def test_a_shared_ring_delivers_what_the_definition_says(method):
    projs = _projections(0)
    spikes = np.random.default_rng(1).random((25, sum(SIZES))) < 0.3

    def step(target, ring, spiked, s):
        for j, (conn, pre_start, post_start, _) in enumerate(projs):
            target, ring = deliver_delayed(target, ring, conn, spiked, s, post_start, pre_start=pre_start,
                                           ring_origin=0, arrive=j == 0, method=method)
        return target, ring

    np.testing.assert_array_equal(_run(step, projs, spikes), _reference(projs, spikes))


@pytest.mark.parametrize("rows", [1, 32])
def test_grouped_delivery_equals_the_definition_and_never_drops_spikes(rows):
    """rows=1: up to ~20 spiking rows per projection and step, so the chunk loop runs
    many times (the overflow path); rows=32: one chunk."""
    projs = _projections(2)
    spikes = np.random.default_rng(3).random((25, sum(SIZES))) < 0.5
    conns, posts, pres = [p[0] for p in projs], [p[2] for p in projs], [p[1] for p in projs]

    def step(target, ring, spiked, s):
        return deliver_delayed_group(target, ring, conns, spiked, s, posts, pres, rows=rows)

    np.testing.assert_array_equal(_run(step, projs, spikes), _reference(projs, spikes))


def test_grouped_delivery_checks_its_arguments():
    projs = _projections(4)
    conns, posts, pres = [p[0] for p in projs], [p[2] for p in projs], [p[1] for p in projs]
    n = sum(SIZES)
    ring = jnp.zeros((max(c.max_delay for c in conns), n))
    spikes = jnp.zeros(n, bool)
    with pytest.raises(ValueError, match="rows must be an integer >= 1"):
        deliver_delayed_group(jnp.zeros(n), ring, conns, spikes, 0, posts, pres, rows=0)
    with pytest.raises(ValueError, match="one post_start and one pre_start per projection"):
        deliver_delayed_group(jnp.zeros(n), ring, conns, spikes, 0, posts[:-1], pres)
    with pytest.raises(ValueError, match="takes bool spikes"):
        deliver_delayed_group(jnp.zeros(n), ring, conns, spikes.astype(jnp.float32), 0, posts, pres)
    with pytest.raises(ValueError, match=r"rows >= 7"):
        deliver_delayed_group(jnp.zeros(n), ring[:3], conns, spikes, 0, posts, pres)
    with pytest.raises(ValueError, match="must cover every projection's targets"):
        deliver_delayed_group(jnp.zeros(n), ring[:, :40], conns, spikes, 0, posts, pres)
    with pytest.raises(ValueError, match=r"must\s+cover the projection's targets"):
        deliver_delayed(jnp.zeros(n), ring[:, :40], conns[-1], spikes, 0, posts[-1], pre_start=pres[-1], ring_origin=0)
    with pytest.raises(TypeError, match="arrive must be a Python bool"):
        deliver_delayed(jnp.zeros(n), ring, conns[0], spikes, 0, 0, pre_start=0, ring_origin=0, arrive=1)


def _network(delivery):
    """Three IAF populations, all-to-all projections with per-synapse delays onto two
    receptors (E and I by the source population), DC drive: a small PD14-like circuit."""
    projs = _projections(5, n_syn=200)
    names = ("A", "B", "C")
    projections = []
    for j, (conn, *_rest) in enumerate(projs):
        a, b = divmod(j, 3)
        w = jnp.abs(conn.weight) * (40.0 if a < 2 else -160.0)  # pA; still dyadic
        conn = type(conn)(conn.post_idx, w, conn.n_pre, conn.n_post, conn.delay, dt=conn.dt, max_delay=conn.max_delay)
        projections.append(Projection(names[a], names[b], conn, "ge" if a < 2 else "gi"))
    neuron = IAF(e_l=-65.0, threshold=-50.0, v_reset=-65.0, i_e=500.0)  # V_inf = -45 mV: ~60 Hz alone
    synapses = [CurrentSynapse("ge", tau=0.5), CurrentSynapse("gi", tau=0.5)]
    return Network(neuron, synapses, dict(zip(names, SIZES)), projections, delivery=delivery)


@pytest.mark.slow  # the op-level tests compare the grouped path with the kernel by default
@requires_kernel
def test_network_grouped_jax_path_gives_the_kernels_spikes():
    """The network's pure-JAX path (one scatter per ring per step) and the compiled kernel
    (one call per projection) give the same spikes, step for step."""
    y0 = {"v": jnp.linspace(-65.0, -51.0, sum(SIZES))}
    res = {d: simulate_network(_network(d), 40.0, DT, initial_state=y0, record=("ge",)) for d in ("ffi", "jax")}
    assert int(res["ffi"].n_spikes) > 50  # the circuit is active
    for a, b in zip(res["ffi"].spikes(), res["jax"].spikes()):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(res["ffi"].traces["ge"]), np.asarray(res["jax"].traces["ge"]))
    # one ring per receptor, held by each group's first projection; the others hold none
    rings = res["jax"].final_state.buffers
    assert [None if r is None else r.shape for r in rings] == [(7, 67)] + [None] * 5 + [(7, 67)] + [None] * 2
    net, y = _network("jax"), y0 | {"ge": jnp.zeros(67), "gi": jnp.zeros(67)}
    jaxpr = str(jax.make_jaxpr(lambda r, s: net.deliver(y, r, s, 0, None, DT))(rings, jnp.ones(67, bool)))
    assert jaxpr.count("name=_deliver_delayed_group") == 2 and "neurodyn_deliver" not in jaxpr  # one per receptor


@pytest.mark.parametrize("method", METHODS)
def test_gradient_through_a_shared_ring_is_the_linear_map(method):
    """Output is linear in the weights (for fixed float spikes): the JVP in direction dw is
    the delivery of dw onto zeros, into the same columns of the shared ring."""
    conn, pre_start, post_start, _ = _projections(6)[5]  # B -> C: post_start 42, ring column 42 + p
    n = sum(SIZES)
    spikes = jnp.asarray(np.random.default_rng(7).random(n) < 0.5, jnp.float32) * 0.75
    target, ring = jnp.ones(n), jnp.ones((conn.max_delay, n))
    dw = jnp.asarray(np.random.default_rng(8).integers(-8, 9, conn.weight.shape) / 8.0, jnp.float32)

    def f(w):
        c = type(conn)(conn.post_idx, w, conn.n_pre, conn.n_post, conn.delay, dt=conn.dt, max_delay=conn.max_delay)
        return deliver_delayed(target, ring, c, spikes, 3, post_start, pre_start=pre_start, ring_origin=0,
                               arrive=False, method=method)

    _, (d_target, d_ring) = jax.jvp(f, (conn.weight,), (dw,))
    c = type(conn)(conn.post_idx, dw, conn.n_pre, conn.n_post, conn.delay, dt=conn.dt, max_delay=conn.max_delay)
    e_target, e_ring = deliver_delayed(jnp.zeros(n), jnp.zeros_like(ring), c, spikes, 3, post_start,
                                       pre_start=pre_start, ring_origin=0, arrive=False, method="jax")
    np.testing.assert_array_equal(np.asarray(d_target), np.asarray(e_target))
    np.testing.assert_array_equal(np.asarray(d_ring), np.asarray(e_ring))
    assert float(jnp.abs(e_ring[:, :post_start]).sum()) == 0.0 and float(jnp.abs(e_ring).sum()) > 0


def _with_one_delays(projs):
    """`projs` with every other projection turned into a one-delay one (a connectivity
    without per-synapse delays plus one delay j % 8 steps, 0 included; projection 2 with one
    scalar weight): (conn, pre_start, post_start, one delay or None, reference lists)."""
    out = []
    for j, (conn, pre_start, post_start, (pre, post, w, d)) in enumerate(projs):
        if j % 2:
            out.append((conn, pre_start, post_start, None, (pre, post, w, d)))
            continue
        one, w = j % 8, (0.625 if j == 2 else w)
        plain = from_lists(pre - pre_start, post - post_start, w, n_pre=conn.n_pre, n_post=conn.n_post)
        out.append((plain, pre_start, post_start, one, (pre, post, np.broadcast_to(w, pre.shape), np.full_like(d, one))))
    return out


@pytest.mark.parametrize("path", [*METHODS, "group"])
def test_one_delay_projections_share_the_ring_exactly(path):
    """One-delay projections (`deliver_delayed(delay=d)`, the kernel's scalar-delay mode)
    and per-synapse-delay ones in one ring: every spike of step s reaches its synapses at
    step s + d exactly, through the kernel, the pure-JAX op and the grouped GPU path."""
    projs = _with_one_delays(_projections(9)[:5])  # A->A, A->B, A->C, B->A, B->B: compiles in a few s
    assert [p[3] for p in projs] == [0, None, 2, None, 4]
    spikes = np.random.default_rng(10).random((25, sum(SIZES))) < 0.3
    ref = [(c, a, b, lists) for c, a, b, _, lists in projs]

    def step(target, ring, spiked, s):
        if path == "group":
            return deliver_delayed_group(target, ring, [p[0] for p in projs], spiked, s, [p[2] for p in projs],
                                         [p[1] for p in projs], rows=4, delays=[p[3] for p in projs])
        for j, (conn, pre_start, post_start, one, _) in enumerate(projs):
            target, ring = deliver_delayed(target, ring, conn, spiked, s, post_start, pre_start=pre_start,
                                           ring_origin=0, arrive=j == 0, delay=one, method=path)
        return target, ring

    n = sum(SIZES)
    ring_rows = max(c.max_delay for c, *_ in _projections(9))  # 7: the one delays (<= 4) fit too
    got = _run_rows(step, ring_rows, spikes, n)
    np.testing.assert_array_equal(got, _reference(ref, spikes))


def _run_rows(step_fn, rows, spikes, n):
    def body(carry, xs):
        target, ring = step_fn(*carry, *xs)
        return (target, ring), target

    steps = jnp.arange(spikes.shape[0], dtype=jnp.int32)
    _, targets = jax.jit(lambda s: jax.lax.scan(body, (jnp.zeros(n), jnp.zeros((rows, n))), (s, steps)))(
        jnp.asarray(spikes))
    return np.asarray(targets)


def test_one_delay_arguments_are_checked():
    projs = _projections(11)
    conn, pre_start, post_start, (pre, post, w, _) = projs[4]
    plain = from_lists(pre - pre_start, post - post_start, w, n_pre=conn.n_pre, n_post=conn.n_post)
    n = sum(SIZES)
    target, ring, spikes = jnp.zeros(n), jnp.zeros((3, n)), jnp.zeros(n, bool)
    kw = dict(pre_start=pre_start, ring_origin=0)
    with pytest.raises(ValueError, match=r"delay must be an integer >= 0"):
        deliver_delayed(target, ring, plain, spikes, 0, post_start, delay=-1, **kw)
    with pytest.raises(TypeError, match=r"delay must be an integer"):
        deliver_delayed(target, ring, plain, spikes, 0, post_start, delay=1.5, **kw)
    with pytest.raises(ValueError, match="already holds per-synapse delays"):
        deliver_delayed(target, ring, conn, spikes, 0, post_start, delay=2, **kw)
    with pytest.raises(ValueError, match=r"rows >= 5"):
        deliver_delayed(target, ring, plain, spikes, 0, post_start, delay=5, **kw)
    with pytest.raises(ValueError, match=r"or one\s+delay=\.\.\. in steps"):
        deliver_delayed(target, ring, plain, spikes, 0, post_start, **kw)
    with pytest.raises(ValueError, match=r"delays\[0\] \(one delay in steps\), exactly one"):
        deliver_delayed_group(target, ring, [conn], spikes, 0, [post_start], [pre_start], delays=[2])
    with pytest.raises(ValueError, match="delays has 2 entries for 1 projections"):
        deliver_delayed_group(target, ring, [plain], spikes, 0, [post_start], [pre_start], delays=[2, 3])


@requires_kernel
def test_one_delay_network_equals_the_same_delays_given_per_synapse():
    """A network whose projections have one delay each (`Projection(delay=...)`) and the
    same network with those delays written per synapse (explicit lists) give the same
    spikes and conductances, step for step, and share one ring per receptor."""
    delays_ms = (0.3, 0.0, 0.7, 0.2, 0.5, 0.1, 0.4, 0.6, 0.3)  # one per projection, 0..7 steps
    one, lists = [], []
    for proj, d in zip(_network("ffi").projections, delays_ms):
        c = proj.connectivity
        pre, k = np.nonzero(np.asarray(c.post_idx) < c.n_post)
        post, w = np.asarray(c.post_idx)[pre, k], np.asarray(c.weight)[pre, k]
        plain = from_lists(pre, post, w, n_pre=c.n_pre, n_post=c.n_post)
        one.append(Projection(proj.pre, proj.post, plain, proj.receptor, delay=d))
        given = from_lists(pre, post, w, n_pre=c.n_pre, n_post=c.n_post, delay=np.full(pre.shape, d), dt=DT)
        lists.append(Projection(proj.pre, proj.post, given, proj.receptor))
    base = _network("ffi")
    y0 = {"v": jnp.linspace(-65.0, -51.0, sum(SIZES))}
    res = {}
    for name, projections in (("one", one), ("lists", lists)):
        net = Network(base.neuron, base.synapses, dict(zip(("A", "B", "C"), SIZES)), projections, delivery="ffi")
        res[name] = simulate_network(net, 30.0, DT, initial_state=y0, record=("ge", "gi"), unroll=1)
    assert int(res["one"].n_spikes) > 50  # the circuit is active
    for a, b in zip(res["one"].spikes(), res["lists"].spikes()):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for k in ("ge", "gi"):
        np.testing.assert_array_equal(np.asarray(res["one"].traces[k]), np.asarray(res["lists"].traces[k]))
    # ge: projections 0-5 (1 has delay 0: no ring), 7 rows; gi: 6-8, 6 rows; held by the first of each
    rings = res["one"].final_state.buffers
    assert [None if r is None else r.shape for r in rings] == [(7, 67)] + [None] * 5 + [(6, 67)] + [None] * 2
