"""Modern continuous Hopfield network (Ramsauer et al. 2020) and its attention identity."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurodyn.attention import dot_product_attention
from neurodyn.hopfield import (
    ModernHopfield,
    attention_equivalence,
    modern_retrieval,
    separation,
    separation_threshold,
    update_reference,
)


def test_one_step_retrieval_of_4n_patterns_from_25pct_corrupted_cues():
    # d = 128, P = 4d = 512 random ±1 patterns, cues with 32 of 128 bits flipped (25 %).
    # Signal x·ξ = d/2 = 64 vs the largest cross-talk ≈ sqrt(2 d ln P) ≈ 40: a gap of ≈ 24,
    # so β = 0.5 gives softmax odds e^{12} ≫ P (Ramsauer et al. Thm. 3); β = 0.01 is the
    # metastable regime (average of many patterns), retrieval fails.
    r = modern_retrieval(jr.key(0), 128, 512, [0.01, 0.5], corruption=0.25, n_cues=256)
    assert float(r.accuracy[1]) == 1.0
    assert float(r.mean_error[1]) < 1e-2
    assert float(r.accuracy[0]) == 0.0


def test_update_equals_attention_head():
    ref, att, err = attention_equivalence(jr.key(1), dim=64, n_patterns=256, n_queries=32, beta=0.125)
    assert err < 1e-5  # float32, values O(1)
    x = jr.normal(jr.key(2), (100, 16))
    xi = jr.normal(jr.key(3), (5, 16))
    net = ModernHopfield(x, beta=0.7)
    out, weights = dot_product_attention(xi, x, x, scale=0.7)
    np.testing.assert_allclose(net.update(xi), out, atol=1e-6)
    np.testing.assert_allclose(net.attention_weights(xi), weights, atol=1e-7)
    np.testing.assert_allclose(net.update(xi[0]), update_reference(x, xi[0], 0.7), atol=1e-5)
    # β = 1/√d_k is the transformer's default scale
    out_default, _ = dot_product_attention(xi, x, x)
    np.testing.assert_allclose(ModernHopfield(x, beta=0.25).update(xi), out_default, atol=1e-6)


def test_small_beta_gives_the_mean_pattern():
    x = jr.normal(jr.key(4), (50, 8))
    xi = jr.normal(jr.key(5), (8,))
    np.testing.assert_allclose(ModernHopfield(x, beta=1e-6).update(xi), x.mean(0), atol=1e-4)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), beta=st.floats(0.05, 5.0))
def test_energy_decreases_under_the_update_and_is_bounded(seed, beta):
    # Ramsauer et al. Thm. 1 (CCCP): E(ξ_new) ≤ E(ξ); Lemma: 0 ≤ E ≤ 2M².
    k1, k2 = jr.split(jr.key(seed))
    x = jr.normal(k1, (40, 12))
    xi = 2 * jr.normal(k2, (12,))
    net = ModernHopfield(x, beta=beta)
    e0, e1 = float(net.energy(xi)), float(net.energy(net.update(xi)))
    assert e1 <= e0 + 1e-4 * (1 + abs(e0))
    m2 = float(jnp.max(jnp.sum(x**2, -1)))
    new = net.update(xi)  # after one update ξ lies in the convex hull of the patterns
    assert -1e-4 <= float(net.energy(new)) <= 2 * m2 + 1e-4


def test_separation_and_retrieval_bound():
    x = np.asarray(jr.rademacher(jr.key(6), (20, 256)), float)
    gram = x @ x.T
    expected = [gram[i, i] - max(gram[i, j] for j in range(20) if j != i) for i in range(20)]
    np.testing.assert_allclose(separation(x), expected)
    beta = 0.2
    threshold = separation_threshold(beta, 20, np.sqrt(256.0))
    assert float(separation(x).min()) > float(threshold)  # Thm. 3 applies ...
    new = ModernHopfield(x, beta=beta).retrieve(x, n_steps=1)
    np.testing.assert_allclose(new, x, atol=1e-6)  # ... and retrieval is exact in float32


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ModernHopfield(jnp.ones((3, 4)), beta=0.0), r"beta must be a finite number > 0"),
        (lambda: ModernHopfield(jnp.ones((3, 4)), beta=-2.0), r"beta must be a finite number > 0"),
        (lambda: ModernHopfield(jnp.ones(4)), r"patterns must have shape \(n_patterns, dim\)"),
        (lambda: ModernHopfield(jnp.ones((3, 4))).update(jnp.ones(5)), r"last axis of length 4"),
        (lambda: ModernHopfield(jnp.ones((3, 4))).retrieve(jnp.ones(4), n_steps=0), "n_steps must be >= 1"),
        (lambda: modern_retrieval(jr.key(0), 8, 16, [0.0]), r"betas must be .* > 0"),
    ],
)
@pytest.mark.no_typecheck  # checks the function's own message for a wrong-shape argument
def test_bad_input_raises_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
