"""Classical binary Hopfield network: learning rules, dynamics, energy, errors."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurodyn.hopfield import (
    ClassicalHopfield,
    asynchronous_sweep,
    closest_pattern,
    energy_trace,
    flip_bits,
    hebbian,
    overlap,
    random_patterns,
    run,
    storkey,
    synchronous_step,
)


def _storkey_numpy(patterns):
    """Storkey (1997) written literally, one weight at a time (independent reference)."""
    p, n = patterns.shape
    w = np.zeros((n, n))
    for xi in patterns:
        h = np.array([[sum(w[i, k] * xi[k] for k in range(n) if k not in (i, j))
                       for j in range(n)] for i in range(n)])
        new = w.copy()
        for i in range(n):
            for j in range(n):
                if i != j:
                    new[i, j] = w[i, j] + (xi[i] * xi[j] - xi[i] * h[j, i] - h[i, j] * xi[j]) / n
        w = new
    return w


def test_hebbian_matches_formula():
    pats = np.asarray(random_patterns(jr.key(0), 7, 30))
    ref = sum(np.outer(x, x) for x in pats) / 30
    np.fill_diagonal(ref, 0)
    np.testing.assert_allclose(hebbian(pats), ref, atol=1e-6)


def test_storkey_matches_literal_rule():
    pats = np.asarray(random_patterns(jr.key(1), 4, 9))
    w = np.asarray(storkey(pats))
    np.testing.assert_allclose(w, _storkey_numpy(pats.astype(float)), atol=1e-5)
    assert np.allclose(w, w.T) and np.all(np.diag(w) == 0)


@settings(max_examples=25, deadline=None)
@given(
    n=st.sampled_from([5, 16, 40]),
    seed=st.integers(0, 2**31 - 1),
    with_threshold=st.booleans(),
)
def test_energy_never_increases_under_asynchronous_updates(n, seed, with_threshold):
    # Any symmetric zero-diagonal W (not only learned ones) and any threshold.
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    w = (a + a.T) / 2
    np.fill_diagonal(w, 0)
    theta = rng.normal(size=n) if with_threshold else None
    net = ClassicalHopfield(w, theta)
    s0 = rng.choice([-1.0, 1.0], size=n)
    e = np.asarray(energy_trace(net, s0, jr.key(seed), n_sweeps=3))
    # float32 rounding of a sum of n² terms of size ~|w|: allow 1e-5 relative.
    tol = 1e-5 * (np.abs(w).sum() + 1)
    assert np.all(np.diff(e) <= tol), np.diff(e).max()


def test_low_load_patterns_are_fixed_points_and_10pct_cues_are_retrieved():
    n, p = 200, 10  # α = 0.05, far below 0.138
    pats = random_patterns(jr.key(2), p, n)
    for rule in (hebbian, storkey):
        net = ClassicalHopfield.from_patterns(pats, rule)
        # every stored pattern is a fixed point of both dynamics
        np.testing.assert_array_equal(synchronous_step(net, pats), pats)
        # retrieval from 10 % corrupted cues: all return to their pattern exactly
        cues = flip_bits(jr.key(4), jnp.repeat(pats, 5, axis=0), 0.10)
        out = run(net, cues, jr.key(5))
        idx, m = closest_pattern(pats, out.state)
        np.testing.assert_array_equal(idx, np.repeat(np.arange(p), 5))
        assert float(m.min()) == 1.0, rule.__name__
        assert bool(out.converged.all())


def test_run_energy_per_sweep_is_non_increasing_and_padded():
    pats = random_patterns(jr.key(6), 12, 100)
    net = ClassicalHopfield.from_patterns(pats)
    out = run(net, flip_bits(jr.key(7), pats[0], 0.3), jr.key(8), max_sweeps=20)
    e = np.asarray(out.energy)
    k = int(out.n_sweeps)
    assert np.all(np.isfinite(e[: k + 1])) and np.all(np.isnan(e[k + 1 :]))
    assert np.all(np.diff(e[: k + 1]) <= 1e-4)
    np.testing.assert_allclose(e[k], net.energy(out.state), rtol=1e-6)


def test_synchronous_two_cycle_is_reported_as_not_converged():
    # w12 = w21 = −1 and s = (+1, +1): synchronous updates flip both forever.
    net = ClassicalHopfield(jnp.array([[0.0, -1.0], [-1.0, 0.0]]))
    sync = run(net, jnp.array([1.0, 1.0]), jr.key(0), max_sweeps=10, synchronous=True)
    assert not bool(sync.converged) and int(sync.n_sweeps) == 10
    asyn = run(net, jnp.array([1.0, 1.0]), jr.key(0), max_sweeps=10)
    assert bool(asyn.converged)
    assert float(asyn.state[0] * asyn.state[1]) == -1.0  # a ground state of E = s1 s2


def test_glauber_single_neuron_statistics():
    # P(s_i = +1) = 1/(1 + exp(−2 h_i / T)) (Glauber 1963); 20 000 independent draws.
    w = jnp.array([[0.0, 0.3, -0.2], [0.3, 0.0, 0.5], [-0.2, 0.5, 0.0]])
    net = ClassicalHopfield(w, jnp.array([0.1, 0.0, -0.1]))
    s = jnp.array([1.0, -1.0, 1.0])
    t = 0.7
    keys = jr.split(jr.key(9), 20_000)
    draws = jax.vmap(lambda k: synchronous_step(net, s, k, t))(keys)
    p_up = np.asarray((draws > 0).mean(0))
    expected = np.asarray(jax.nn.sigmoid(2 * net.local_field(s) / t))
    sigma = np.sqrt(expected * (1 - expected) / 20_000)
    assert np.all(np.abs(p_up - expected) < 5 * sigma)


def test_temperature_melts_the_memory():
    pats = random_patterns(jr.key(10), 5, 200)
    net = ClassicalHopfield.from_patterns(pats)
    cold = run(net, pats[0], jr.key(11), max_sweeps=10, temperature=0.1)
    hot = run(net, pats[0], jr.key(11), max_sweeps=10, temperature=10.0)
    assert int(cold.n_sweeps) == 10  # at T > 0 it runs every sweep
    # mean-field theory: m = tanh(m/T) has m ≈ 1 at T = 0.1 and only m = 0 for T > 1
    assert float(overlap(pats[0], cold.state)) > 0.95
    assert abs(float(overlap(pats[0], hot.state))) < 0.3


def test_asynchronous_sweep_updates_in_a_key_dependent_order():
    pats = random_patterns(jr.key(12), 30, 60)  # α = 0.5: many unstable bits
    net = ClassicalHopfield.from_patterns(pats)
    a = asynchronous_sweep(net, pats[0], jr.key(0))
    b = asynchronous_sweep(net, pats[0], jr.key(0))
    c = asynchronous_sweep(net, pats[0], jr.key(1))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("case", ["hebbian_counts", "storkey", "random_with_threshold"])
def test_event_driven_asynchronous_run_equals_run(case):
    # The capacity experiment skips the neurons whose update would change nothing; with
    # the same keys it must end where `run(..., synchronous=False)` ends, after the same
    # number of sweeps. α = 0.17 at N = 150: many cues drift for dozens of sweeps.
    from neurodyn.hopfield.classical import _run_async_zero_temperature

    n, p = 150, 26
    pats = random_patterns(jr.key(20), p, n)
    if case == "hebbian_counts":  # integer weights: every field is exact in float32
        net = ClassicalHopfield((pats.T @ pats) * (1 - jnp.eye(n)))
    elif case == "storkey":
        net = ClassicalHopfield.from_patterns(pats, storkey)
    else:
        a = np.random.default_rng(0).normal(size=(n, n))
        w = (a + a.T) / 2
        np.fill_diagonal(w, 0)
        net = ClassicalHopfield(w, np.random.default_rng(1).normal(size=n))
    cues = jnp.concatenate([pats, flip_bits(jr.key(21), pats, 0.3)])
    ref = run(net, cues, jr.key(22), max_sweeps=100)
    keys = jr.split(jr.key(22), cues.shape[0])  # the per-cue keys `run` uses
    fast = jax.jit(jax.vmap(lambda c, k: _run_async_zero_temperature(net, c, k, 100)))(cues, keys)
    assert int(ref.n_sweeps.max()) > 3  # the comparison covers multi-sweep runs
    np.testing.assert_array_equal(fast.state, ref.state)
    np.testing.assert_array_equal(fast.n_sweeps, ref.n_sweeps)
    np.testing.assert_array_equal(fast.converged, ref.converged)
    # energies: the fast loop updates fields incrementally, so float32 rounding differs
    np.testing.assert_allclose(fast.energy, ref.energy, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: hebbian(jnp.array([[1.0, 0.0, -1.0]])), r"only -1 and \+1"),
        (lambda: storkey(jnp.array([[1.0, 2.0, -1.0]])), r"only -1 and \+1"),
        (lambda: hebbian(jnp.ones(5)), r"patterns must have shape \(n_patterns, n_neurons\)"),
        (lambda: ClassicalHopfield(jnp.zeros((3, 4))), "must be square"),
        (lambda: ClassicalHopfield(jnp.array([[0.0, 1.0], [2.0, 0.0]])), "symmetric"),
        (lambda: ClassicalHopfield(jnp.eye(3)), "zero diagonal"),
        (lambda: ClassicalHopfield(jnp.zeros((3, 3)), jnp.zeros(4)), r"threshold .* shape \(3,\)"),
        (lambda: ClassicalHopfield(jnp.full((2, 2), jnp.nan)), "finite"),
    ],
)
@pytest.mark.no_typecheck  # checks the function's own message for a wrong-shape argument
def test_bad_construction_raises_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.no_typecheck  # checks the function's own message for a wrong-shape argument
def test_bad_run_arguments_raise_clear_errors():
    net = ClassicalHopfield.from_patterns(jnp.ones((1, 4)))
    with pytest.raises(ValueError, match=r"last axis of length 4"):
        run(net, jnp.ones(5), jr.key(0))
    with pytest.raises(ValueError, match=r"only -1 and \+1"):
        run(net, jnp.array([1.0, 0.5, 1.0, 1.0]), jr.key(0))
    with pytest.raises(ValueError, match="max_sweeps must be >= 1"):
        run(net, jnp.ones(4), jr.key(0), max_sweeps=0)
    with pytest.raises(ValueError, match=r"temperature must be a finite number >= 0"):
        run(net, jnp.ones(4), jr.key(0), temperature=-1.0)
    with pytest.raises(ValueError, match=r"last axis of length 4"):
        overlap(jnp.ones((2, 4)), jnp.ones(3))
