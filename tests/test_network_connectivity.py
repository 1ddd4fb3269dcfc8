"""Connectivity builders: statistics against their exact distributions, policies, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurodyn.network import (
    fixed_in_degree,
    fixed_out_degree,
    fixed_probability,
    from_lists,
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
    with pytest.raises(ValueError, match="k must be an integer >= the table width"):
        conn.padded(conn.max_out_degree - 1)
