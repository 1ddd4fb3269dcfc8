"""Connectivity builders: statistics against their exact distributions, policies, errors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurodyn.network import (
    Connectivity,
    Normal,
    Uniform,
    estimate_memory,
    fixed_in_degree,
    fixed_out_degree,
    fixed_probability,
    fixed_total_number,
    from_lists,
    one_to_one,
)


def _moments_close(x, mean, var, n, z=5.0):
    """Sample mean/variance of n nearly independent draws within z standard errors.

    SE(mean) = sqrt(var/n); SE(sample variance) ≈ var·sqrt(2/(n−1)) (normal approximation,
    good for binomials with np(1−p) ≫ 1). z = 5: a false failure has probability < 1e-6.
    """
    x = np.asarray(x, dtype=float)
    assert abs(x.mean() - mean) < z * np.sqrt(var / n), (x.mean(), mean)
    assert abs(x.var(ddof=1) - var) < z * var * np.sqrt(2 / (n - 1)), (x.var(ddof=1), var)


@pytest.mark.parametrize("allow_self", [True, False])
def test_fixed_probability_degrees_are_binomial(allow_self):
    n, p = 1000, 0.1
    conn = fixed_probability(jax.random.key(1), n, n, p, allow_self=allow_self)
    m = n if allow_self else n - 1  # candidates per neuron
    _moments_close(conn.in_degree(), m * p, m * p * (1 - p), n)
    _moments_close(conn.out_degree(), m * p, m * p * (1 - p), n)
    dense = np.asarray(conn.to_dense())
    assert dense.max() == 1.0  # no duplicates, ever
    if not allow_self:
        assert np.all(np.diag(dense) == 0)
    else:  # the diagonal is connected like any other pair: ~Binomial(n, p) entries
        assert abs(np.trace(dense) - n * p) < 5 * np.sqrt(n * p * (1 - p))


def test_fixed_probability_rectangular_and_extremes():
    conn = fixed_probability(jax.random.key(2), 300, 1000, 0.1)
    _moments_close(conn.in_degree(), 30, 300 * 0.1 * 0.9, 1000)
    _moments_close(conn.out_degree(), 100, 1000 * 0.1 * 0.9, 300)
    assert np.all(np.asarray(conn.post_idx) <= 1000)
    full = fixed_probability(jax.random.key(0), 7, 7, 1.0, allow_self=False).to_dense()
    np.testing.assert_array_equal(full, 1.0 - np.eye(7))
    np.testing.assert_array_equal(fixed_probability(jax.random.key(0), 5, 4, 1.0).to_dense(), np.ones((5, 4)))
    assert int(fixed_probability(jax.random.key(0), 5, 4, 0.0).n_synapses) == 0


def test_fixed_probability_is_reproducible_from_the_key():
    a = fixed_probability(jax.random.key(3), 300, 1000, 0.1)
    b = fixed_probability(jax.random.key(3), 300, 1000, 0.1)
    c = fixed_probability(jax.random.key(4), 300, 1000, 0.1)
    np.testing.assert_array_equal(a.post_idx, b.post_idx)
    assert not np.array_equal(a.to_dense(), c.to_dense())


@pytest.mark.parametrize("allow_self", [True, False])
def test_fixed_in_degree_exact_and_distinct(allow_self):
    n, k = 500, 20
    conn = fixed_in_degree(jax.random.key(5), n, n, k, weight=0.5, allow_self=allow_self)
    np.testing.assert_array_equal(conn.in_degree(), k)
    dense = np.asarray(conn.to_dense())
    assert dense.max() == 0.5  # distinct sources
    if not allow_self:
        assert np.all(np.diag(dense) == 0)
    # Sources uniform: out-degree ~ Binomial(n, k/m) up to the without-replacement
    # correction, which is O(k/m) = 4 % of the variance: inside the 5-SE band.
    m = n if allow_self else n - 1
    _moments_close(conn.out_degree(), k * n / m, n * (k / m) * (1 - k / m), n)


def test_fixed_out_degree_exact_and_distinct():
    conn = fixed_out_degree(jax.random.key(6), 500, 300, 15, allow_self=True)
    np.testing.assert_array_equal(conn.out_degree(), 15)
    assert float(conn.to_dense().max()) == 1.0
    _moments_close(conn.in_degree(), 500 * 15 / 300, 500 * (15 / 300) * (1 - 15 / 300), 300)
    dup = fixed_out_degree(jax.random.key(6), 10, 3, 8, allow_duplicates=True)
    np.testing.assert_array_equal(dup.out_degree(), 8)
    # k equal to every candidate: the complete graph without self connections
    full = fixed_out_degree(jax.random.key(0), 6, 6, 5, allow_self=False).to_dense()
    np.testing.assert_array_equal(full, 1.0 - np.eye(6))


def test_from_lists_round_trip_and_transpose():
    pre = np.array([0, 2, 2, 1, 0, 2])
    post = np.array([1, 0, 3, 3, 2, 1])
    w = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    conn = from_lists(pre, post, w, n_pre=3, n_post=4)
    dense = np.zeros((3, 4))
    dense[pre, post] = w
    np.testing.assert_allclose(conn.to_dense(), dense, rtol=1e-6)
    p2, q2, w2 = conn.to_lists()
    got = sorted(zip(p2.tolist(), q2.tolist(), np.round(w2.astype(float), 5).tolist()))
    assert got == sorted(zip(pre.tolist(), post.tolist(), np.round(w, 5).tolist()))
    pre_idx, w_in = conn.in_degree_table()
    back = np.zeros((3 + 1, 4))
    np.add.at(back, (np.asarray(pre_idx), np.arange(4)[:, None]), np.asarray(w_in))
    np.testing.assert_allclose(back[:3], dense, rtol=1e-6)
    # allowed duplicates are kept as two synapses whose weights add
    dup = from_lists([0, 0], [1, 1], [1.0, 2.0], n_pre=1, n_post=2)
    assert int(dup.n_synapses) == 2 and float(dup.to_dense()[0, 1]) == 3.0


@pytest.mark.no_typecheck  # checks the functions' own messages; the annotation hook would answer first
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: fixed_probability(jax.random.key(0), 10, 10, 1.5), r"p must be a probability in \[0, 1\], got p=1.5"),
        (lambda: fixed_probability(jax.random.key(0), 10, 10, -0.1), "p must be"),
        (lambda: fixed_probability(jax.random.key(0), 0, 10, 0.1), "n_pre must be an integer >= 1"),
        (lambda: fixed_probability(jax.random.key(0), 10, 12, 0.1, allow_self=False), "n_pre == n_post"),
        (lambda: fixed_in_degree(jax.random.key(0), 10, 10, 10, allow_self=False), "exceeds the 9 distinct"),
        (lambda: fixed_out_degree(jax.random.key(0), 10, 10, -1), "k \\(out-degree\\) must be"),
        (lambda: from_lists([0, 5], [1, 1], n_pre=5, n_post=2), r"pre indices must lie in \[0, 4\].*\[5\]"),
        (lambda: from_lists([0, 1], [-1, 1], n_pre=5, n_post=2), r"post indices must lie in \[0, 1\]"),
        (lambda: from_lists([0], [1], [-2.0], n_pre=2, n_post=2, allow_negative=False), "weight must be >= 0"),
        (lambda: from_lists([1], [1], n_pre=2, n_post=2, allow_self=False), "self connection 1 -> 1"),
        (lambda: from_lists([0, 0], [1, 1], n_pre=2, n_post=2, allow_duplicates=False), "duplicate synapse 0 -> 1"),
        (lambda: from_lists([0, 1], [1], n_pre=2, n_post=2), "same length"),
        (lambda: from_lists([0, 1], [1, 0], [1.0, np.nan], n_pre=2, n_post=2), "NaN"),
        # fixed_total_number
        (lambda: fixed_total_number(jax.random.key(0), 4, 4, 17, allow_duplicates=False),
         r"n=17 exceeds the 16 distinct .* allowed range is 0 <= n <= 16"),
        (lambda: fixed_total_number(jax.random.key(0), 4, 4, 13, allow_self=False, allow_duplicates=False),
         r"allowed range is 0 <= n <= 12"),
        (lambda: fixed_total_number(jax.random.key(0), 4, 4, -1), "n \\(total number of synapses\\) must be an integer >= 0"),
        (lambda: one_to_one(5, allow_self=False), "would connect nothing"),
        # delays
        (lambda: fixed_probability(jax.random.key(0), 5, 5, 0.5, delay=Normal(-1.0, 0.5, low=0.0), dt=0.1),
         r"delay: a delay distribution needs mean >= 0 ms"),
        (lambda: fixed_probability(jax.random.key(0), 5, 5, 0.5, delay=Normal(1.5, 0.75), dt=0.1),
         r"can draw negative delays; bound it below with low >= 0"),
        (lambda: fixed_probability(jax.random.key(0), 5, 5, 0.5, delay=Uniform(-1.0, 1.0), dt=0.1), "negative delays"),
        (lambda: fixed_probability(jax.random.key(0), 5, 5, 0.5, delay=1.5), r"dt must be the simulation step in ms"),
        (lambda: fixed_probability(jax.random.key(0), 5, 5, 0.5, dt=0.1), "give it together with delay"),
        (lambda: fixed_probability(jax.random.key(0), 5, 5, 0.5, delay=-0.1, dt=0.1), "delay must be a finite number of ms >= 0"),
        (lambda: fixed_probability(jax.random.key(0), 5, 5, 0.5, delay=lambda k, s, d: -jnp.ones(s, d), dt=0.1),
         "delay must hold finite delays >= 0 ms"),
        (lambda: from_lists([0, 1], [1, 0], delay=[1.0], n_pre=2, n_post=2, dt=0.1), r"delay must be a scalar or have one value per synapse \(2\)"),
        (lambda: from_lists([0, 1], [1, 0], delay=[1.0, np.inf], n_pre=2, n_post=2, dt=0.1), "finite delays >= 0"),
        (lambda: from_lists([0, 1], [1, 0], delay=[1.0, -0.2], n_pre=2, n_post=2, dt=0.1), "finite delays >= 0"),
        (lambda: fixed_probability(jax.random.key(0), 5, 5, 0.5).with_delay(np.ones((5, 2)), 0.1), r"delay must be one number or have shape \(5, "),
        (lambda: Normal(1.0, -1.0), "Normal.std must be >= 0"),
        (lambda: Normal(1.0, 0.1, low=5.0), "redrawing would never end"),
        (lambda: Normal(1.0, 0.1, bounds="reflect"), "bounds must be one of"),
        # the table itself (#17: one padding sentinel, one row per presynaptic neuron)
        (lambda: Connectivity(jnp.array([[0, -1]]), 1.0, 1, 3), r"post_idx must hold target indices in \[0, 2\] or the padding value n_post=3, got \[-1\]"),
        (lambda: Connectivity(jnp.array([[0, 4]]), 1.0, 1, 3), r"padding value n_post=3, got \[4\]"),
        (lambda: Connectivity(jnp.array([[0, 1]]), 1.0, 2, 3), "post_idx has 1 rows but n_pre=2"),
        (lambda: Connectivity(jnp.array([[0, 1]]), jnp.ones((1, 3)), 1, 3), r"weight must be a scalar or have shape \(1, 2\)"),
        (lambda: Connectivity(jnp.array([[0, 1]]), 1.0, 1, 3, jnp.ones((1, 3), jnp.int32), dt=0.1), "delay must be an integer table"),
        (lambda: Connectivity(jnp.array([[0, 1]]), 1.0, 1, 3, -jnp.ones((1, 2), jnp.int32), dt=0.1), "delay must be >= 0 steps"),
        (lambda: Connectivity(jnp.array([[0, 1]]), 1.0, 1, 3, jnp.ones((1, 2), jnp.int32)), "dt must be the simulation step"),
        (lambda: Connectivity(jnp.array([[0, 1]]), 1.0, 1, 3, jnp.full((1, 2), 5), dt=0.1, max_delay=4), "delay holds 5 steps but max_delay=4"),
    ],
)
def test_bad_input_raises_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_builds_on_device_without_python_loops_at_scale():
    # 4000 neurons, p = 0.02 (COBA): ~320 000 synapses; the table is trimmed to the
    # widest row, so padding stays small (max of 4000 Binomial(4000, 0.02) ≈ 80 + 4σ).
    conn = fixed_probability(jax.random.key(0), 4000, 4000, 0.02)
    assert 100 < conn.max_out_degree < 130
    assert abs(int(conn.n_synapses) - 320_000) < 5 * np.sqrt(320_000)
    assert conn.post_idx.dtype == jnp.int32


def test_padded_table_holds_the_same_synapses():
    conn = fixed_probability(jax.random.key(0), 50, 40, 0.2, 0.5)
    wide = conn.padded(conn.max_out_degree + 7)
    assert wide.max_out_degree == conn.max_out_degree + 7
    np.testing.assert_array_equal(wide.to_dense(), conn.to_dense())
    assert int(wide.n_synapses) == int(conn.n_synapses)
    with pytest.raises(ValueError, match=r"padded: k must be an integer >= \d+ \(the table width\)"):
        conn.padded(conn.max_out_degree - 1)


# --------------------------------------------------------------------------- fixed_total_number


def _chi2_p_value(chi2: float, df: int) -> float:
    """Upper tail of χ²(df), Wilson–Hilferty cube-root normal approximation (accurate to a
    few % in p for df >= 30, plenty for a 1e-4 threshold)."""
    z = ((chi2 / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    return 0.5 * math.erfc(z / math.sqrt(2))


def test_fixed_total_number_counts_are_exact_and_pairs_uniform():
    n_pre, n_post, n = 20, 15, 30_000
    conn = fixed_total_number(jax.random.key(11), n_pre, n_post, n)
    assert int(conn.n_synapses) == n
    counts = _pair_counts(conn)
    # iid uniform pairs: each of the 300 cells ~ n/300 = 100; χ² with 299 dof, p > 1e-4
    # (a false failure once in 10 000 runs; the seed is fixed, so the test is deterministic).
    expected = n / (n_pre * n_post)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert _chi2_p_value(chi2, n_pre * n_post - 1) > 1e-4, chi2
    # out-degrees are Multinomial(n; 1/n_pre): mean n/n_pre, variance n(1/n_pre)(1 - 1/n_pre)
    _moments_close(conn.out_degree(), n / n_pre, n / n_pre * (1 - 1 / n_pre), n_pre)
    assert counts.max() > 1  # multapses happen (≈ 100 per cell)


def _pair_counts(conn):
    pre, post, _ = conn.to_lists()
    counts = np.zeros((conn.n_pre, conn.n_post))
    np.add.at(counts, (pre, post), 1)
    return counts


@pytest.mark.parametrize("n", [10, 5])  # the permutation branch (4n >= pairs) and the redraw branch
def test_fixed_total_number_without_multapses_or_autapses_is_a_uniform_subset(n):
    runs, m = 200, 6
    inclusion = np.zeros((m, m))
    for seed in range(runs):
        conn = fixed_total_number(jax.random.key(seed), m, m, n, allow_self=False, allow_duplicates=False)
        counts = _pair_counts(conn)
        assert counts.sum() == n and counts.max() == 1 and np.trace(counts) == 0
        inclusion += counts
    # each of the 30 off-diagonal pairs is in a uniform n-subset with probability n/30
    off = inclusion[~np.eye(m, dtype=bool)]
    p = n / (m * (m - 1))
    chi2 = float(((off - runs * p) ** 2 / (runs * p * (1 - p))).sum())
    assert _chi2_p_value(chi2, off.size - 1) > 1e-4, chi2


def test_fixed_total_number_autapse_flag_with_multapses():
    conn = fixed_total_number(jax.random.key(1), 30, 30, 5000, allow_self=False)
    counts = _pair_counts(conn)
    assert counts.sum() == 5000 and np.trace(counts) == 0 and counts.max() > 1
    with_self = _pair_counts(fixed_total_number(jax.random.key(1), 30, 30, 5000))
    assert np.trace(with_self) > 0  # ≈ 5000/30 expected on the diagonal


def test_one_to_one():
    conn = one_to_one(7, 0.5)
    np.testing.assert_array_equal(conn.to_dense(), 0.5 * np.eye(7))
    drawn = one_to_one(7, Uniform(1.0, 2.0), key=jax.random.key(0), delay=0.3, dt=0.1)
    assert np.all((np.asarray(drawn.weight) >= 1.0) & (np.asarray(drawn.weight) < 2.0))
    np.testing.assert_array_equal(drawn.delay, 3)
    with pytest.raises(ValueError, match="a key is needed"):
        one_to_one(7, Uniform(1.0, 2.0))


# --------------------------------------------------------------------------- distributions


def _phi(x):
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) if math.isfinite(x) else 0.0


def _Phi(x):
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _truncated_moments(mu, sd, lo, hi):
    """Mean and variance of N(mu, sd) truncated to [lo, hi] (Johnson, Kotz & Balakrishnan 1994)."""
    a, b = (lo - mu) / sd, (hi - mu) / sd
    z = _Phi(b) - _Phi(a)
    ta = a * _phi(a) if math.isfinite(a) else 0.0
    tb = b * _phi(b) if math.isfinite(b) else 0.0
    m = (_phi(a) - _phi(b)) / z
    return mu + sd * m, sd * sd * (1 + (ta - tb) / z - m * m)


def test_pd14_weights_keep_their_sign_with_nest_moments():
    """PD14: J = 87.81 pA, relative SD 0.1, inhibitory g = −4, redrawn to keep the sign
    (Potjans & Diesmann 2014; NEST example Potjans_2014/network.py)."""
    key = jax.random.key(5)
    exc = fixed_total_number(key, 400, 300, 60_000, Normal(87.81, 8.781, low=0.0))
    inh = fixed_total_number(key, 400, 300, 60_000, Normal(-351.24, 35.124, high=0.0))
    # the weight draw does not change the synapses drawn from the same key
    np.testing.assert_array_equal(exc.post_idx, inh.post_idx)
    np.testing.assert_array_equal(exc.post_idx, fixed_total_number(key, 400, 300, 60_000, 1.0).post_idx)
    for conn, mu, sd in ((exc, 87.81, 8.781), (inh, -351.24, 35.124)):
        w = np.asarray(conn.weights_full())[np.asarray(conn.mask)]
        assert w.size == 60_000
        _moments_close(w, mu, sd**2, w.size)  # truncation at 10 SD: moments unchanged
        assert np.all(np.sign(w) == np.sign(mu))
        assert np.all(np.abs(w - mu) < 5.6 * sd)  # float32 normals reach ≈ 5.3 SD at most


@pytest.mark.parametrize("bounds", ["redraw", "clip"])
def test_truncation_redraws_or_clips(bounds):
    dist = Normal(1.0, 1.0, low=0.5, bounds=bounds)
    x = np.asarray(dist(jax.random.key(2), (200_000,)), float)
    assert x.min() >= 0.5
    at_bound = np.mean(x == 0.5)
    if bounds == "redraw":  # the truncated normal: no mass piles up at the bound
        mean, var = _truncated_moments(1.0, 1.0, 0.5, math.inf)
        _moments_close(x, mean, var, x.size)
        assert at_bound < 1e-4
    else:  # the mass below 0.5 sits on it: Φ(−0.5) = 0.3085
        p = _Phi(-0.5)
        assert abs(at_bound - p) < 5 * math.sqrt(p * (1 - p) / x.size)


def test_pd14_delays_rounded_to_steps_with_nest_redraw():
    """Delays N(1.5, 0.75) ms redrawn below 0.5·dt, then rounded to the nearest step (NEST
    3 PD14 example): the minimum is one step, and the mean of the step counts is
    Σ_k k·P(round(X/dt) = k | X >= dt/2), computed here from the normal CDF."""
    dt, mu, sd = 0.1, 1.5, 0.75
    conn = fixed_total_number(jax.random.key(7), 300, 300, 80_000, delay=Normal(mu, sd, low=0.5 * dt), dt=dt)
    steps = np.asarray(conn.delay)[np.asarray(conn.mask)].astype(float)
    assert conn.delay.dtype == jnp.uint8 and conn.max_delay == steps.max() and conn.dt == dt
    assert steps.min() == 1
    z = 1 - _Phi((0.5 * dt - mu) / sd)
    ks = np.arange(1, 120)
    p = np.array([_Phi(((k + 0.5) * dt - mu) / sd) - _Phi((max(k - 0.5, 0.5) * dt - mu) / sd) for k in ks]) / z
    mean = float((ks * p).sum())
    var = float((ks**2 * p).sum()) - mean**2
    _moments_close(steps, mean, var, steps.size)
    clipped = fixed_total_number(jax.random.key(7), 300, 300, 80_000, delay=Normal(mu, sd, low=0.5 * dt, bounds="clip"), dt=dt)
    c_steps = np.asarray(clipped.delay)[np.asarray(clipped.mask)]
    p1 = _Phi((1.5 * dt - mu) / sd)  # clipped: every draw below 1.5·dt ends on step 1
    assert abs(np.mean(c_steps == 1) - p1) < 5 * math.sqrt(p1 * (1 - p1) / c_steps.size)


def test_uniform_and_callable_distributions():
    conn = fixed_probability(
        jax.random.key(3), 500, 400, 0.2, lambda key, shape, dtype: jax.random.exponential(key, shape, dtype),
        delay=Uniform(0.5, 2.0), dt=0.1,
    )
    mask = np.asarray(conn.mask)
    w = np.asarray(conn.weights_full())[mask]
    _moments_close(w, 1.0, 1.0, w.size, z=6)  # Exp(1): mean 1, variance 1
    steps = np.asarray(conn.delay)[mask]
    assert steps.min() == 5 and steps.max() == 20  # [0.5, 2) ms rounded to steps of 0.1
    # U(5, 20) steps rounded: 6..19 have mass 1/15, 5 and 20 half that: mean 12.5
    assert abs(steps.mean() - 12.5) < 5 * math.sqrt(18.75 / steps.size)
    np.testing.assert_array_equal(np.asarray(conn.weights_full())[~mask], 0.0)


def test_with_delay_and_padded_keep_the_synapses():
    conn = fixed_probability(jax.random.key(0), 50, 40, 0.2, 0.5)
    table = np.where(np.asarray(conn.mask), 0.1 * (np.arange(conn.post_idx.size).reshape(conn.post_idx.shape) % 7), np.nan)
    delayed = conn.with_delay(table, 0.1)  # padding entries (NaN here) are ignored
    assert delayed.max_delay == 6
    np.testing.assert_array_equal(np.asarray(delayed.delay)[np.asarray(conn.mask)], (np.nan_to_num(table) * 10).round()[np.asarray(conn.mask)])
    wide = delayed.padded(conn.max_out_degree + 3, max_delay=300)
    assert wide.max_delay == 300 and wide.delay.dtype == jnp.int16
    np.testing.assert_array_equal(wide.to_dense(), conn.to_dense())
    np.testing.assert_allclose(wide.delays_ms()[:, : conn.max_out_degree], delayed.delays_ms(), atol=1e-6)


def test_estimate_memory_matches_the_built_table():
    n_pre, n_post, n = 2000, 1500, 400_000  # mean out-degree 200
    est = estimate_memory(n, n_pre, max_delay=40)
    conn = fixed_total_number(jax.random.key(0), n_pre, n_post, n, Normal(1.0, 0.1, low=0.0), delay=Normal(1.5, 0.75, low=0.05), dt=0.1)
    # K is the max of 2000 Poisson(200) counts: median ≈ 249, spread ≈ 6 (seed 0 draws 267)
    assert abs(conn.max_out_degree - est["table_width"]) <= 25
    assert est["bytes_per_entry"] == {"index": 4, "weight": 4, "delay": 1}
    built = conn.post_idx.nbytes + conn.weight.nbytes + conn.delay.nbytes
    assert built == n_pre * conn.max_out_degree * 9
    assert abs(est["table_bytes"] - built) <= n_pre * 25 * 9
    # padding (K − μ)/μ for the max of n_pre Poisson(μ): ≈ 3.5/√200 here
    assert 0.1 < est["padding"] < 0.35


def test_uniform_index_is_lemire_exact_and_rejections_are_redrawn():
    """The 32-bit multiply-shift equals the 64-bit product computed by NumPy; with
    n = 1 431 655 766 a third of the draws are rejected (2³² mod n = n − 2), and the
    redraw leaves every value in [0, n) with the uniform mean and variance."""
    from neurodyn.network import connectivity as C

    key = jax.random.key(0)
    x = np.asarray(jax.random.bits(key, (100_000,), jnp.uint32)).astype(np.uint64)
    for n in (3, 21915, 65537, 2**31 - 1):
        idx, rej = C._uniform_index(key, (100_000,), n)
        m = x * np.uint64(n)
        np.testing.assert_array_equal(idx, (m >> np.uint64(32)).astype(np.int64))
        np.testing.assert_array_equal(rej, (m & np.uint64(0xFFFFFFFF)) < (2**32 % n))
    n = 1_431_655_766
    _, rej = C._uniform_index(key, (16_000,), n)
    assert 0.3 < float(rej.mean()) < 0.37
    out = np.asarray(C._index_chunk(key, 0, n, 16_384), float) / n  # every entry redrawn until accepted
    assert out.min() >= 0 and out.max() < 1
    _moments_close(out, 0.5, 1 / 12, out.size)
