"""Spike delivery: the C++ kernel and the pure-JAX path against a dense reference.

Reference: out = target + s @ W placed at post_start, with W = conn.to_dense() computed in
NumPy float64. Tolerances: the implementations add the same terms in different orders,
so float32 results agree to a few ulp of the largest partial sum (rtol 1e-6 on values of
order 10) and float64 ones to 1e-12.
"""

import shutil
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from neurodyn.network import Connectivity, from_lists
from neurodyn.network import _build as build_module
from neurodyn.network import delivery as delivery_module
from neurodyn.network.delivery import deliver, kernel_info

N_PRE, N_POST, N_TOTAL = 37, 29, 45

requires_kernel = pytest.mark.skipif(
    not kernel_info()["available"], reason=f"compiled kernel unavailable: {kernel_info()['reason']}"
)
METHODS = [pytest.param("ffi", marks=requires_kernel), "jax"]


def random_conn(seed: int, per_synapse: bool, dtype=jnp.float32) -> Connectivity:
    """Random rows of unequal length (so trailing padding), duplicates, and padding in the
    middle of some rows (the layout allows it; the kernel must not stop at the first pad)."""
    rng = np.random.default_rng(seed)
    n_syn = 300
    pre = rng.integers(0, N_PRE, n_syn)
    post = rng.integers(0, N_POST, n_syn)
    weight = rng.normal(0.0, 1.0, n_syn) if per_synapse else 0.7
    conn = from_lists(pre, post, weight, n_pre=N_PRE, n_post=N_POST)
    holes = rng.random(conn.post_idx.shape) < 0.1
    post_idx = jnp.where(holes, N_POST, conn.post_idx)  # padding is the one sentinel n_post
    return Connectivity(post_idx, jnp.asarray(conn.weight, dtype), N_PRE, N_POST)


def dense_reference(target, conn, spikes, post_start):
    w = np.asarray(conn.to_dense(), np.float64)
    out = np.asarray(target, np.float64).copy()
    out[post_start : post_start + conn.n_post] += np.asarray(spikes, np.float64) @ w
    return out


def spike_pattern(kind: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "none":
        return np.zeros(N_PRE, bool)
    if kind == "all":
        return np.ones(N_PRE, bool)
    return rng.random(N_PRE) < 0.3


def tolerance(dtype):
    return dict(rtol=1e-6, atol=1e-5) if dtype == jnp.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("per_synapse", [False, True])
@pytest.mark.parametrize(("dtype", "post_start"), [(jnp.float32, 0), (jnp.float64, N_TOTAL - N_POST)])
def test_matches_dense_reference(method, per_synapse, dtype, post_start):
    with jax.enable_x64(dtype == jnp.float64):
        conn = random_conn(1, per_synapse, dtype)
        target = jnp.asarray(np.random.default_rng(2).normal(size=N_TOTAL), dtype)
        f = jax.jit(lambda t, c, s: deliver(t, c, s, post_start, method=method))
        for spikes in ("none", "all", "random"):
            s = spike_pattern(spikes)
            out = f(target, conn, s)
            assert out.dtype == dtype and out.shape == (N_TOTAL,)
            np.testing.assert_allclose(out, dense_reference(target, conn, s, post_start), **tolerance(dtype))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("per_synapse", [False, True])
def test_float_spikes_scale_rows(method, per_synapse):
    """Float spikes (as the surrogate-gradient code passes them): row i scaled by s_i."""
    conn = random_conn(3, per_synapse)
    s = np.where(spike_pattern("random", 4), np.random.default_rng(5).uniform(0.5, 2.0, N_PRE), 0.0)
    s[0] = -1.5  # linear in s, negative values included
    target = jnp.zeros(N_TOTAL)
    out = deliver(target, conn, jnp.asarray(s, jnp.float32), 4, method=method)
    np.testing.assert_allclose(out, dense_reference(target, conn, s, 4), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_pre_start_reads_a_slice_of_the_spikes(method):
    conn = random_conn(6, True)
    full = np.random.default_rng(7).random(N_PRE + 11) < 0.4
    target = jnp.ones(N_TOTAL)
    out = deliver(target, conn, full, 5, pre_start=11, method=method)
    np.testing.assert_allclose(out, deliver(target, conn, full[11:], 5, method="jax"), rtol=1e-6, atol=1e-6)


@requires_kernel
def test_ffi_matches_jax_on_a_coba_sized_projection():
    """The benchmark's E projection size (3200 -> 4000, out-degree ≈ 80 in a table of
    width 110) at ≈ 20 Hz (8 spikes), both paths."""
    rng = np.random.default_rng(0)
    post_idx = np.where(rng.random((3200, 110)) < 0.73, rng.integers(0, 4000, (3200, 110)), 4000)
    conn = Connectivity(jnp.asarray(post_idx, jnp.int32), jnp.asarray(0.6), 3200, 4000)
    s = np.zeros(3200, bool)
    s[rng.choice(3200, 8, replace=False)] = True
    g = jnp.asarray(rng.random(4000), jnp.float32)
    a = deliver(g, conn, s, method="ffi")
    b = deliver(g, conn, s, method="jax")
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- transformations


@pytest.mark.parametrize("method", METHODS)
def test_vmap_equals_loop(method):
    """Batches over spikes, targets, weights and whole connectivity tables, and a nested
    vmap: each equals the unbatched call (one kernel call loops over the batch)."""
    conn = random_conn(8, True)
    rng = np.random.default_rng(9)
    spikes = rng.random((4, N_PRE)) < 0.3
    targets = jnp.asarray(rng.normal(size=(4, N_TOTAL)), jnp.float32)
    d = jax.jit(lambda t, c, s: deliver(t, c, s, 3, method=method))
    loop = lambda ts, cs, ss: jnp.stack([d(t, c, s) for t, c, s in zip(ts, cs, ss)])  # noqa: E731

    # spikes batched only (target broadcast to the batch inside)
    out = jax.jit(jax.vmap(d, in_axes=(None, None, 0)))(targets[0], conn, spikes)
    np.testing.assert_allclose(out, loop([targets[0]] * 4, [conn] * 4, spikes), rtol=1e-6, atol=1e-6)
    # weights batched (same synapses, per-network weights)
    weights = jnp.stack([conn.weight * (k + 1) for k in range(4)])
    out = jax.jit(jax.vmap(lambda t, w, s: d(t, conn.with_weight(w), s)))(targets, weights, spikes)
    expected = loop(targets, [conn.with_weight(w) for w in weights], spikes)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    # whole tables batched (independent networks)
    conns = [random_conn(10 + k, True) for k in range(4)]
    width = max(c.max_out_degree for c in conns)
    conns = [Connectivity(jnp.pad(c.post_idx, ((0, 0), (0, width - c.max_out_degree)), constant_values=N_POST),
                          jnp.pad(c.weight, ((0, 0), (0, width - c.max_out_degree))), N_PRE, N_POST) for c in conns]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *conns)
    out = jax.jit(jax.vmap(d))(targets, stacked, spikes)
    np.testing.assert_allclose(out, loop(targets, conns, spikes), rtol=1e-6, atol=1e-6)
    # nested: (2 targets) x (4 spike vectors)
    out = jax.jit(jax.vmap(lambda t: jax.vmap(lambda s: d(t, conn, s))(spikes)))(targets[:2])
    for a in range(2):
        np.testing.assert_allclose(out[a], loop([targets[a]] * 4, [conn] * 4, spikes), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_inside_scan_with_connectivity_as_argument(method):
    """A delivery loop in lax.scan (tables passed in, not closed over) == step by step."""
    conn = random_conn(11, False)
    spikes = np.random.default_rng(12).random((20, N_PRE)) < 0.2

    @jax.jit
    def run(conn, spikes):
        def body(g, s):
            g = deliver(0.9 * g, conn, s, 2, method=method)
            return g, g[0]

        return jax.lax.scan(body, jnp.zeros(N_TOTAL), spikes)

    g, _ = run(conn, spikes)
    expected = np.zeros(N_TOTAL)
    for s in spikes:
        expected = dense_reference(0.9 * expected, conn, s, 2)
    np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("per_synapse", [False, True])
def test_gradients_match_the_dense_formula(method, per_synapse):
    """Reverse and forward mode through deliver, w.r.t. target, weight and float spikes,
    equal those of the dense formula target + s @ W (float64: they agree to rounding)."""
    with jax.enable_x64(True):
        conn = random_conn(13, per_synapse, jnp.float64)
        rng = np.random.default_rng(14)
        target = jnp.asarray(rng.normal(size=N_TOTAL))
        s = jnp.asarray(np.where(rng.random(N_PRE) < 0.4, rng.uniform(0.5, 1.5, N_PRE), 0.0))

        def loss(target, weight, s):
            return jnp.sum(jnp.sin(deliver(target, conn.with_weight(weight), s, 6, method=method)))

        def loss_dense(target, weight, s):
            w = conn.with_weight(weight).to_dense()
            return jnp.sum(jnp.sin(target.at[6 : 6 + N_POST].add(s @ w)))

        primals = (target, conn.weight, s)
        grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(*primals)
        expected = jax.jit(jax.grad(loss_dense, argnums=(0, 1, 2)))(*primals)
        for g, e in zip(grads, expected):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)
        tangents = tuple(jnp.asarray(rng.normal(size=jnp.shape(x))) for x in primals)
        _, jvp = jax.jit(lambda p, t: jax.jvp(loss, p, t))(primals, tangents)
        _, jvp_dense = jax.jit(lambda p, t: jax.jvp(loss_dense, p, t))(primals, tangents)
        np.testing.assert_allclose(jvp, jvp_dense, rtol=1e-10)


def test_gradient_matches_finite_differences():
    """An independent check of the custom JVP rule: central differences, float64."""
    with jax.enable_x64(True):
        conn = random_conn(22, True, jnp.float64)
        rng = np.random.default_rng(23)
        s = jnp.asarray(np.where(rng.random(N_PRE) < 0.4, rng.uniform(0.5, 1.5, N_PRE), 0.0))

        @jax.jit
        def loss(target, weight, s):
            return jnp.sum(jnp.sin(deliver(target, conn.with_weight(weight), s, 6)))

        check_grads(loss, (jnp.asarray(rng.normal(size=N_TOTAL)), conn.weight, s), order=1, modes=("rev",))


@pytest.mark.parametrize("method", METHODS)
def test_gradient_through_a_scan_under_vmap(method):
    """grad of a batched scan loop (as in fitting a batch of networks): ffi == jax path."""
    conn = random_conn(15, True)
    spikes = jnp.asarray(np.random.default_rng(16).random((3, 5, N_PRE)) < 0.3, jnp.float32)

    def loss(weight, spikes, method):
        def body(g, s):
            return deliver(0.8 * g, conn.with_weight(weight), s, 0, method=method), None

        g, _ = jax.lax.scan(body, jnp.zeros(N_TOTAL), spikes)
        return jnp.sum(g**2)

    batched = lambda w, m: jnp.sum(jax.vmap(lambda s: loss(w, s, m))(spikes))  # noqa: E731
    g = jax.jit(jax.grad(batched), static_argnums=1)(conn.weight, method)
    g_ref = jax.jit(jax.grad(batched), static_argnums=1)(conn.weight, "jax")
    np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-5)


def test_bool_spikes_have_no_gradient_but_target_and_weight_do():
    conn = random_conn(17, False)
    s = spike_pattern("random", 18)
    g_t, g_w = jax.jit(jax.grad(lambda t, w: jnp.sum(deliver(t, conn.with_weight(w), s) ** 2), argnums=(0, 1)))(
        jnp.ones(N_TOTAL), conn.weight
    )
    out = deliver(jnp.ones(N_TOTAL), conn, s)
    np.testing.assert_allclose(g_t, 2 * out, rtol=1e-6)
    # d/dw sum(out^2) = sum_j 2 out_j * (number of synapses from spiking neurons onto j)
    counts = dense_reference(np.zeros(N_TOTAL), conn.with_weight(1.0), s, 0)
    np.testing.assert_allclose(g_w, np.sum(2 * np.asarray(out) * counts), rtol=1e-5)


# --------------------------------------------------------------------------- choice, fallback, build


def lowered_text(method_env, monkeypatch, method=None):
    if method_env is None:
        monkeypatch.delenv("NEURODYN_DELIVERY", raising=False)
    else:
        monkeypatch.setenv("NEURODYN_DELIVERY", method_env)
    conn = random_conn(19, False)
    f = jax.jit(lambda t, c, s: deliver(t, c, s, method=method))
    return f.lower(jnp.zeros(N_TOTAL), conn, spike_pattern("random")).as_text()


@requires_kernel
def test_env_var_forces_the_implementation(monkeypatch):
    assert "neurodyn_deliver" in lowered_text("ffi", monkeypatch)
    assert "neurodyn_deliver" in lowered_text(None, monkeypatch)  # auto on CPU: the kernel
    assert "neurodyn_deliver" not in lowered_text("jax", monkeypatch)
    assert "neurodyn_deliver" in lowered_text("jax", monkeypatch, method="ffi")  # argument wins
    with pytest.raises(ValueError, match="NEURODYN_DELIVERY"):
        lowered_text("cuda", monkeypatch)


@requires_kernel
def test_gpu_lowering_uses_the_pure_jax_path():
    """One traced function serves every device: lowered for CUDA (no GPU needed to
    lower) it holds no call to the CPU kernel, only the pure-JAX loop."""
    from jax import export

    conn = random_conn(24, False)
    f = jax.jit(lambda t, c, s: deliver(t, c, s, method="ffi"))
    args = (jnp.zeros(N_TOTAL), conn, spike_pattern("random"))
    allow = [export.DisabledSafetyCheck.custom_call("neurodyn_deliver")]
    cuda = export.export(f, platforms=["cuda"], disabled_checks=allow)(*args).mlir_module()
    cpu = export.export(f, platforms=["cpu"], disabled_checks=allow)(*args).mlir_module()
    assert "neurodyn_deliver" not in cuda and "stablehlo.while" in cuda
    assert "neurodyn_deliver" in cpu and "stablehlo.while" not in cpu


def test_fallback_warns_once_and_forced_ffi_raises(monkeypatch):
    """With the kernel unavailable, auto falls back to pure JAX with one warning that says
    why; forcing ffi raises with the same reason."""
    monkeypatch.delenv("NEURODYN_DELIVERY", raising=False)
    monkeypatch.setattr(build_module, "_info", {"available": False, "reason": "no C++ compiler found", "path": None})
    monkeypatch.setattr(delivery_module, "_warned", False)
    conn = random_conn(20, True)
    s = spike_pattern("random")
    with pytest.warns(RuntimeWarning, match="not available.*no C\\+\\+ compiler found"):
        out = deliver(jnp.zeros(N_TOTAL), conn, s)
    np.testing.assert_allclose(out, dense_reference(np.zeros(N_TOTAL), conn, s, 0), rtol=1e-6, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        deliver(jnp.zeros(N_TOTAL), conn, s)  # second call: silent
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler found"):
        deliver(jnp.zeros(N_TOTAL), conn, s, method="ffi")


def test_build_reports_missing_or_failing_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURODYN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    path, reason = build_module._build()
    assert path is None and "no C++ compiler" in reason
    monkeypatch.setenv("CXX", "false")  # a "compiler" that always fails
    path, reason = build_module._build()
    assert path is None and "build failed" in reason
    assert not list(tmp_path.glob("*.so"))  # nothing half-written left in the cache


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None, reason="no C++ compiler")
def test_kernel_builds_where_a_compiler_exists():
    """CI has g++: the fallback must not hide a broken build."""
    info = kernel_info()
    assert info["available"], info["reason"]


def test_bad_arguments_raise_clear_errors():
    conn = random_conn(21, False)
    s = spike_pattern("random")
    with pytest.raises(ValueError, match="spiked must have shape"):
        deliver(jnp.zeros(N_TOTAL), conn, s[:-1])
    with pytest.raises(ValueError, match="post_start=20"):
        deliver(jnp.zeros(N_TOTAL), conn, s, 20)
    with pytest.raises(ValueError, match="target must be a 1-D float"):
        deliver(jnp.zeros((2, N_TOTAL)), conn, s)
    with pytest.raises(ValueError, match="pre_start=5"):
        deliver(jnp.zeros(N_TOTAL), conn, s, pre_start=5)
    with pytest.raises(ValueError, match="method must be one of"):
        deliver(jnp.zeros(N_TOTAL), conn, s, method="numba")
