"""The associative-memory harness: classical, dense/modern and attention-head memories.

Published facts reproduced (each test names its source and tolerance):
- classical Hebbian capacity → 0.138 N (Amit, Gutfreund & Sompolinsky 1985), with the
  finite-size values measured by tests/test_hopfield_capacity.py under the same criterion
  (exact cues, asynchronous T = 0 dynamics, m ≥ 0.95, α_c where half fail):
  N = 250 0.186, 500 0.170, 1000 0.160, 2000 0.155;
- dense associative memory with F(x) = x³ stores P > N (capacity ∝ N^{n−1}, Krotov &
  Hopfield 2016), the classical n = 2 network does not;
- the exponential modern Hopfield network retrieves P ≫ N patterns in one update at large
  β and ends in metastable averages at small β (Ramsauer et al. 2020);
- one attention head with K = V = patterns, Q = cue is that update (to float rounding);
- on images (8×8 digits) Euclidean and Manhattan similarity retrieve better than dot
  product (Millidge et al. 2022).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from neurodyn.hopfield import ModernHopfield
from neurodyn.memory import (
    AttentionMemory,
    ClassicalMemory,
    DenseAssociativeMemory,
    UniversalHopfield,
    basin,
    binarise_cue,
    capacity_curve,
    cost,
    flip,
    mask,
    mask_half,
    modern_hopfield,
    overlap,
    random_pattern_sets,
    random_patterns,
    robustness,
    spurious_rate,
)

# ----------------------------------------------------------------------------- patterns


def test_corruptions_change_exactly_the_stated_number_of_components():
    x = random_patterns(jr.key(0), 6, 100)
    assert np.all(np.sum(flip(jr.key(1), x, 0.23) != x, -1) == 23)
    assert np.all(np.sum(mask(jr.key(2), x, 0.4) == 0, -1) == 40)
    half = mask_half(None, x)
    assert np.all(half[:, 50:] == 0) and np.all(half[:, :50] == x[:, :50])
    coin = binarise_cue(jr.key(3), jnp.zeros((4000,)))
    assert set(np.unique(coin).tolist()) == {-1.0, 1.0} and abs(float(coin.mean())) < 0.05
    assert np.all(binarise_cue(jr.key(3), 0.3 * x) == x)


def test_overlap_is_the_amit_overlap_for_spins_and_a_cosine_otherwise():
    x = random_patterns(jr.key(0), 1, 200)[0]
    y = flip(jr.key(1), x, 0.1)
    assert float(overlap(x, y)) == pytest.approx(0.8)  # 1 − 2·0.1
    assert float(overlap(x, 3.0 * x)) == pytest.approx(1.0)
    assert float(overlap(x, jnp.zeros_like(x))) == 0.0


def test_bad_arguments_name_the_argument_and_range():
    x = random_patterns(jr.key(0), 4, 16)
    with pytest.raises(ValueError, match="fraction must lie in"):
        flip(jr.key(0), x, 1.5)
    with pytest.raises(ValueError, match="flip levels must be in"):
        robustness(modern_hopfield(), jr.key(0), x, "flip", [0.1, 2.0])
    with pytest.raises(ValueError, match="corruption kind must be one of"):
        robustness(modern_hopfield(), jr.key(0), x, "blur", [0.1])
    with pytest.raises(ValueError, match=r"n_patterns must be .* in \[1, 4\]"):
        capacity_curve(modern_hopfield(), jr.key(0), x, [2, 8])
    with pytest.raises(ValueError, match="patterns must be finite"):
        robustness(modern_hopfield(), jr.key(0), x.at[0, 0].set(jnp.nan), "flip", [0.1])
    with pytest.raises(ValueError, match="beta must be a finite number > 0"):
        UniversalHopfield(beta=0.0)
    with pytest.raises(ValueError, match="similarity must be one of"):
        UniversalHopfield(similarity="cosine")
    with pytest.raises(ValueError, match="rule must be one of"):
        ClassicalMemory(rule="oja")
    with pytest.raises(ValueError, match="degree must be an integer >= 2"):
        DenseAssociativeMemory(degree=1)
    with pytest.raises(TypeError, match="AbstractMemory"):
        capacity_curve(ModernHopfield(x), jr.key(0), x, [2])


# ----------------------------------------------------------------------------- classical


def test_classical_hebbian_capacity_at_n250_matches_the_finite_size_value():
    # 0.1863 ± 0.0030 over 16 networks (tests/test_hopfield_capacity.py); network-to-network
    # sd ≈ 0.008 at this size, so 4 networks: ± 0.015 is > 3 standard errors.
    n = 250
    counts = np.arange(36, 57, 3)  # α = 0.144 … 0.216
    sets = random_pattern_sets(jr.key(0), 4, counts.max(), n)
    curve = capacity_curve(ClassicalMemory(), jr.key(1), sets, counts)
    assert curve.critical_load == pytest.approx(0.186, abs=0.015)
    assert curve.fraction_converged.min() == 1.0
    assert curve.mean_steps[0].mean() < 4  # exact cues of a lightly loaded net settle fast


@pytest.mark.slow
def test_classical_hebbian_capacity_finite_size_trend_toward_0138():
    # measured with neurodyn.hopfield.capacity_curve: N=500 0.1696 ± 0.0008, 1000 0.1600 ± 0.0006
    values = {}
    for n, trials in ((500, 6), (1000, 4)):
        counts = np.rint(np.arange(0.13, 0.20, 0.005) * n).astype(int)
        sets = random_pattern_sets(jr.key(n), trials, counts.max(), n)
        values[n] = capacity_curve(ClassicalMemory(), jr.key(n + 1), sets, counts).critical_load
    assert values[500] == pytest.approx(0.170, abs=0.008)
    assert values[1000] == pytest.approx(0.160, abs=0.006)
    assert 0.138 < values[1000] < values[500]


@pytest.mark.slow
def test_storkey_stores_more_than_hebbian_and_sync_has_the_same_fixed_points():
    n = 100
    counts = [30]
    sets = random_pattern_sets(jr.key(0), 1, 30, n)
    hebb = capacity_curve(ClassicalMemory("hebbian"), jr.key(1), sets, counts)
    stork = capacity_curve(ClassicalMemory("storkey"), jr.key(1), sets, counts)
    # α = 0.3 is far beyond Hebbian capacity, within Storkey's (≈ N/√(2 ln N) patterns)
    assert hebb.fraction_retrieved[-1].mean() < 0.3
    assert stork.fraction_retrieved[-1].mean() > 0.8
    # from exact cues at low load both dynamics stay put: a stored pattern is a fixed point
    sync = capacity_curve(ClassicalMemory(synchronous=True), jr.key(1), sets, [5])
    assert sync.fraction_retrieved.min() == 1.0 and sync.mean_steps.max() == 1.0


def test_classical_basin_and_spurious_states():
    n = 160
    x = random_patterns(jr.key(0), 8, n)  # α = 0.05
    curve = robustness(ClassicalMemory(), jr.key(1), x, "flip", [0.0, 0.1, 0.2, 0.3, 0.45])
    f = curve.fraction_retrieved.mean(-1)
    # at α = 0.05 the basins are wide: 30 % flipped bits still retrieve, 45 % do not
    assert f[:4].min() >= 0.9 and f[-1] < 0.5
    assert basin(curve) == 0.3
    # random starts at α = 0.05 end in mixtures / spin-glass states a good part of the time
    # (Amit et al. 1985: 3-mixtures are stable below α ≈ 0.03, spurious minima abound)
    rate = spurious_rate(ClassicalMemory(), jr.key(2), x, n_starts=64)
    assert 0.05 < rate < 0.95


# ----------------------------------------------------------------------------- dense / modern


def test_dense_polynomial_memory_stores_more_patterns_than_neurons():
    n, p = 64, 96  # P = 1.5 N; Krotov & Hopfield n = 3: K_max ≈ N²/(6 ln N) ≈ 164
    sets = random_pattern_sets(jr.key(0), 1, p, n)
    dense = capacity_curve(DenseAssociativeMemory(3), jr.key(1), sets, [p], corruption=("flip", 0.1))
    classical = capacity_curve(DenseAssociativeMemory(2), jr.key(1), sets, [p], corruption=("flip", 0.1))
    assert dense.fraction_retrieved.mean() >= 0.95
    assert classical.fraction_retrieved.mean() < 0.05  # n = 2: α = 1.5 ≫ 0.138


def test_modern_hopfield_retrieves_many_more_patterns_than_dimensions_in_one_update():
    n, p = 64, 1024  # P = 16 N
    sets = random_pattern_sets(jr.key(0), 1, p, n)
    sharp = capacity_curve(modern_hopfield(beta=16.0), jr.key(1), sets, [p], corruption=("flip", 0.2))
    assert sharp.fraction_retrieved.mean() >= 0.98
    assert sharp.mean_steps.max() == 1.0
    # small β: the fixed point is a metastable average of many patterns (Ramsauer et al.)
    soft = capacity_curve(modern_hopfield(beta=1.0), jr.key(1), sets, [p], corruption=("flip", 0.2))
    assert soft.fraction_retrieved.mean() == 0.0
    assert spurious_rate(modern_hopfield(beta=1.0), jr.key(2), sets[0, :64], n_starts=32) == 1.0


def test_attention_head_is_the_modern_hopfield_update_to_float_rounding():
    n, p, beta = 32, 50, 6.0
    x = jr.normal(jr.key(0), (p + 14, n))  # 14 padding rows
    keep = jnp.arange(p + 14) < p
    q = jr.normal(jr.key(1), (8, n))
    head, uhn = AttentionMemory(beta, n_steps=3), modern_hopfield(beta, n_steps=3)
    a = jax.vmap(lambda c: head.retrieve(head.store(x, keep), c, jr.key(0)).trajectory)(q)
    b = jax.vmap(lambda c: uhn.retrieve(uhn.store(x, keep), c, jr.key(0)).trajectory)(q)
    np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)
    # and neurodyn.hopfield's ModernHopfield (Ramsauer et al. eq. 3 with β' = β/N), unpadded
    ref = ModernHopfield(x[:p], beta=beta / n).update(q)
    np.testing.assert_allclose(a[:, 0], ref, rtol=0, atol=2e-6)


def test_beta_is_a_traced_leaf_one_compile_per_sweep_vmap_and_traced_check():
    x = jr.normal(jr.key(0), (24, 16))
    keep = jnp.ones(24, bool)
    cue = x[0] + 0.3 * jr.normal(jr.key(1), (16,))
    traces = []

    @eqx.filter_jit
    def run(model):
        traces.append(1)  # runs once per trace
        return model.retrieve(model.store(x, keep), cue, jr.key(0)).output

    betas = (0.5, 8.0, 64.0)
    for make in (modern_hopfield, AttentionMemory):
        traces.clear()
        loop = [run(make(b)) for b in betas]
        assert len(traces) == 1, make  # a sweep over β re-uses one compiled program
        batched = jax.vmap(lambda b, make=make: run(make(b)))(jnp.asarray(betas))
        np.testing.assert_allclose(batched, jnp.stack(loop), rtol=0, atol=1e-6)
    # reference: z = X softmax(β X q / N) (Ramsauer et al. 2020 with β' = β/N), by hand
    w = np.exp(64.0 * np.asarray(x @ cue) / 16 - np.max(64.0 * np.asarray(x @ cue) / 16))
    np.testing.assert_allclose(loop[-1], (w / w.sum()) @ np.asarray(x), rtol=0, atol=1e-5)
    # β is differentiable: d‖z‖²/dβ matches a central difference (h = 1e-2: float32 rounding
    # of ~1e-7 over 2h stays < 1e-4, the O(h²) truncation is smaller still)
    loss = eqx.filter_jit(lambda m: jnp.sum(run(m) ** 2))
    fd = (loss(modern_hopfield(3.01)) - loss(modern_hopfield(2.99))) / 0.02
    grad = eqx.filter_jit(eqx.filter_grad(loss))(modern_hopfield(3.0)).beta
    assert float(grad) == pytest.approx(float(fd), rel=1e-3, abs=1e-4)
    # concrete β keeps its value in the repr and label; a bad traced β fails at run time
    assert repr(modern_hopfield(2.5)) == "UniversalHopfield(beta=np.float32(2.5))"
    assert repr(AttentionMemory()) == "AttentionMemory()" and AttentionMemory(2.5).label == "attention head β=2.5"
    for make in (modern_hopfield, AttentionMemory):
        with pytest.raises(Exception, match=r"beta must be a finite number > 0"):
            jax.block_until_ready(jax.vmap(lambda b, make=make: run(make(b)))(jnp.asarray([1.0, -1.0])))
    with pytest.raises(TypeError, match=r"UniversalHopfield.beta must be a number, got '8'"):
        UniversalHopfield(beta="8")  # never reinterpreted as 8.0
    with pytest.raises(ValueError, match=r"AttentionMemory.beta must be a finite number > 0, got nan"):
        AttentionMemory(beta=float("nan"))


def test_uhn_max_separation_is_nearest_neighbour_and_identity_is_the_hebbian_field():
    x = random_patterns(jr.key(0), 20, 64)
    cue = flip(jr.key(1), x[3], 0.2)
    nearest = UniversalHopfield("euclidean", "max")
    out = nearest.retrieve(nearest.store(x, jnp.ones(20, bool)), cue, jr.key(0)).output
    np.testing.assert_array_equal(out, x[3])
    ident = UniversalHopfield("dot", "identity")
    z = ident.retrieve(ident.store(x, jnp.ones(20, bool)), cue, jr.key(0)).output
    hebb = x.T @ (x @ cue)
    np.testing.assert_allclose(z / jnp.abs(z).max(), hebb / jnp.abs(hebb).max(), atol=1e-5)


def test_on_digits_euclidean_and_manhattan_beat_dot_product():
    pytest.importorskip("sklearn")
    from neurodyn.memory import digits

    x, _ = digits(n_patterns=200)
    frac = {}
    for sim in ("dot", "euclidean", "manhattan"):
        curve = robustness(UniversalHopfield(sim, "softmax", beta=100.0), jr.key(2), x, "gaussian", [0.2])
        frac[sim] = float(curve.fraction_retrieved.mean())
    # dot product is pulled toward bright (large-norm) images; distances are not
    assert frac["euclidean"] >= 0.95 and frac["manhattan"] >= 0.95
    assert frac["dot"] < frac["euclidean"] - 0.2


def test_cost_reports_steps_operations_and_memory():
    x = random_patterns(jr.key(0), 16, 64)
    c = cost(modern_hopfield(16.0), jr.key(1), x, repeats=1)
    assert c["steps"] == 1.0 and c["operations"] == 4 * 16 * 64
    assert c["memory_bytes"] == 4 * 16 * 64 and c["wall_s_per_retrieval"] > 0
    assert np.isnan(c["time_ms"]) and c["fraction_retrieved"] == 1.0
    assert ClassicalMemory().memory_bytes(16, 64) == 4 * 64 * 64
