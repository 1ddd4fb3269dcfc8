"""Capacity of the classical network vs the published α_c ≈ 0.138 (Amit et al. 1985).

Criterion (issue #5): store P = αN random ±1 patterns, start from each stored pattern
exactly, run asynchronous zero-temperature dynamics (one neuron at a time, a new random
order from the key each sweep) until a sweep flips nothing (limit 200 sweeps, never reached
here); retrieval has broken down at the load where the final overlap m = ξ·s/N is < 0.95
for half of the patterns. Each network is loaded up with its own pattern sequence, its
breakdown load is where its fraction retrieved crosses 1/2 (linear interpolation on a
ΔP = 1 or 2 grid, Δα = 0.002), and α_c is the mean ± standard error over networks:

    N = 250:  0.1863 ± 0.0030   (16 networks)
    N = 500:  0.1696 ± 0.0008   (32 networks, two batches of 16: 0.1714 ± 0.0011 and
                                 0.1678 ± 0.0010; sd between networks 0.0045)
    N = 1000: 0.1600 ± 0.0006   (16 networks; trial-averaged curve 0.1603)
    N = 2000: 0.1545 ± 0.0005   (8 networks; trial-averaged curve 0.1544)

An independent plain-NumPy implementation of the same dynamics (`numpy_fractions_retrieved`
below) gives the same fractions: N = 500, 6 networks: 0.76 retrieved at α = 0.15, 0.49 at
0.17, 0.35 at 0.18; `test_capacity_fast_n500` compares the two at three loads.

Why N = 500 lies above the issue's band [0.12, 0.16]: α_c = 0.138 (retrieval overlap
0.967 there) is the N → ∞ limit; in finite networks the breakdown is spread over a wide
range of loads (at N = 500, 7 % of the patterns already fail at α = 0.13 and 14 % still
hold at α = 0.20) and its midpoint sits above 0.138, moving down toward it as N grows —
the finite-size effect met when simulations are compared with the replica theory (e.g.
Amit, Gutfreund & Sompolinsky 1987, Ann. Phys. 173:30). The measured shift at N = 500 is
+0.032, so the band holds from N = 1000 on, where the measured value sits on its upper
edge (two further independent 8-network runs: 0.1595 ± 0.0010, 0.1597 ± 0.0006). A
weighted fit α_∞ + c/√N to the four values extrapolates to α_∞ = 0.139 (residuals
≤ 0.004); the four points do not pin the exponent (N^(-1/3) gives 0.128, 1/N 0.150), so
this is a consistency check, not a published law.

The previous version used synchronous updates, an independent pattern set per load and
trial (4 per load), float weights (ties h = 0 decided by rounding) and a strict "< 1/2"
crossing; it measured 0.167–0.170 at N = 500 and 0.158–0.160 at N = 1000. None of those
choices moves N = 500 into the band: on the first batch of 16 networks, synchronous
updates give 0.1709 ± 0.0010 (asynchronous 0.1714 ± 0.0011), but about a fifth of their
runs end in 2-cycles rather than fixed points, which is why the measurement is
asynchronous.
"""

import jax.random as jr
import numpy as np
import pytest

from neurodyn.hopfield import capacity_curve, critical_load, hebbian, storkey

AMIT = 0.138
# mean ± standard error over 32 / 16 networks, grid Δα = 0.002 (module docstring)
MEASURED = {500: (0.1696, 0.0008), 1000: (0.1600, 0.0006)}


def numpy_fractions_retrieved(rng, n, loads, n_networks, min_overlap=0.95, max_sweeps=200):
    """The capacity criterion written out in plain NumPy, sharing no code with neurodyn:
    (networks, loads) fraction of the first P = αN patterns of each network retrieved.

    Hebbian W = ξᵀξ/N with zero diagonal; each stored pattern as the cue; asynchronous T = 0
    updates (s_i ← sign(h_i), ties to +1) in a new random order each sweep until a sweep
    flips nothing; retrieved if the overlap ξ·s/N ≥ min_overlap. The networks run side by
    side (one update order per sweep for all of them)."""
    p_max = int(round(max(loads) * n))
    xi = rng.choice(np.array([-1.0, 1.0]), size=(n_networks, p_max, n))
    out = np.zeros((n_networks, len(loads)))
    for j, alpha in enumerate(loads):
        p = int(round(alpha * n))
        x = xi[:, :p]
        w = np.einsum("kpi,kpj->kij", x, x) / n
        w[:, np.arange(n), np.arange(n)] = 0.0
        wt = np.ascontiguousarray(np.swapaxes(w, 1, 2))  # wt[k, i] = column i of w[k]
        s = x.copy()
        for _ in range(max_sweeps):
            flipped = False
            for i in rng.permutation(n):
                h = np.matmul(s, wt[:, i, :, None])[..., 0]  # local fields (networks, P)
                new = np.where(h >= 0.0, 1.0, -1.0)
                if (new != s[:, :, i]).any():
                    s[:, :, i] = new
                    flipped = True
            if not flipped:
                break
        out[:, j] = np.mean(np.sum(s * x, axis=2) / n >= min_overlap, axis=1)
    return out


def test_critical_load_interpolates_the_first_crossing_of_one_half():
    loads = [0.10, 0.12, 0.14, 0.16]
    assert critical_load(loads, [1.0, 0.7, 0.4, 0.1]) == pytest.approx(0.12 + 0.02 * 2 / 3)
    # "half the patterns fail" is reached at a load with fraction exactly 1/2
    assert critical_load(loads, [1.0, 0.5, 0.5, 0.1]) == pytest.approx(0.12)
    assert critical_load(loads, [0.4, 0.3, 0.2, 0.1]) == 0.10  # below 1/2 from the start
    assert np.isnan(critical_load(loads, [1.0, 0.9, 0.8, 0.6]))  # never reaches 1/2


def test_capacity_fast_n500():
    # 6 networks, Δα = 0.004 around the crossing (≈ 10 s on a quiet 2-core CPU).
    loads = np.round(np.concatenate([[0.12], np.arange(0.152, 0.1925, 0.004), [0.22]]), 3)
    heb = capacity_curve(jr.key(0), 500, loads, rule=hebbian, n_trials=6)
    frac = np.asarray(heb.fraction_retrieved.mean(-1))
    assert frac[0] >= 0.9 and frac[-1] <= 0.1, frac
    assert float(heb.fraction_converged.min()) == 1.0
    mean, sem = heb.critical_load_sem  # measured here: 0.1682 ± 0.0033
    # The independent NumPy implementation (4 other networks) at three loads of the grid:
    # the fractions retrieved agree within 3 standard errors of the difference (networks
    # differ by ≈ 0.08 in their fraction at a load; measured NumPy 0.79, 0.53, 0.25).
    check = [0.152, 0.168, 0.188]
    ours = np.asarray(heb.fraction_retrieved)[[list(loads).index(a) for a in check]]  # (loads, networks)
    ref = numpy_fractions_retrieved(np.random.default_rng(0), 500, check, 4).T
    diff = ours.mean(1) - ref.mean(1)
    se = np.sqrt(ours.var(1, ddof=1) / ours.shape[1] + ref.var(1, ddof=1) / ref.shape[1])
    assert np.all(np.abs(diff) < 3 * np.maximum(se, 0.02)), (ours.mean(1), ref.mean(1), se)
    # Above the band [0.12, 0.16] at this N by 2 standard errors (finite size: see
    # the module docstring), and above the N → ∞ value.
    assert mean - 2 * sem > 0.16 > AMIT, (mean, sem)
    # Storkey stores more: all patterns still retrieved at 1.4 × the Hebbian breakdown load.
    sto = capacity_curve(jr.key(1), 500, [0.24], rule=storkey, n_trials=2)
    assert float(sto.fraction_retrieved.min()) >= 0.95


def test_capacity_warns_when_the_sweep_limit_is_reached():
    with pytest.warns(UserWarning, match="did not reach a fixed point within max_sweeps = 1"):
        c = capacity_curve(jr.key(2), 100, [0.3], n_trials=1, max_sweeps=1)
    assert float(c.fraction_converged[0, 0]) < 1.0


def test_capacity_checks_its_arguments():
    with pytest.raises(ValueError, match="n_trials must be >= 1"):
        capacity_curve(jr.key(0), 100, [0.1], n_trials=0)
    with pytest.raises(ValueError, match=r"round\(load·N\) >= 1"):
        capacity_curve(jr.key(0), 100, [0.001])
    with pytest.raises(ValueError, match="max_sweeps must be >= 1"):
        capacity_curve(jr.key(0), 100, [0.1], max_sweeps=0)
    with pytest.raises(ValueError, match="rule must be"):
        capacity_curve(jr.key(0), 100, [0.1], rule=lambda p: p)


@pytest.mark.slow
def test_capacity_band_at_n1000_and_finite_size_trend():
    # 8 networks per N on a Δα = 0.004 grid around the crossing (≈ 2.5 min on 2 cores).
    # Measured here: N = 250 0.1823 ± 0.0033, 500 0.1677 ± 0.0014, 1000 0.1595 ± 0.0010;
    # fit intercept 0.1378.
    windows = {250: (0.15, 0.23), 500: (0.148, 0.196), 1000: (0.144, 0.176)}
    est = {}
    for n, (lo, hi) in windows.items():
        loads = np.round(np.arange(lo, hi + 1e-9, 0.004), 3)
        c = capacity_curve(jr.key(n), n, loads, rule=hebbian, n_trials=8)
        assert float(c.fraction_converged.min()) == 1.0
        assert np.all(np.isfinite(c.critical_loads)), c.critical_loads
        est[n] = c.critical_load_sem
    (a250, s250), (a500, s500), (a1000, s1000) = est[250], est[500], est[1000]
    # Issue band at N = 1000. The 16-network value 0.1600 ± 0.0006 sits on its upper edge,
    # so 8 networks land on either side of 0.16 by chance: assert it within 2 standard
    # errors (measured here: s1000), and agreement with the 16-network value.
    assert 0.12 <= a1000 and a1000 - 2 * s1000 <= 0.16, est
    assert abs(a1000 - MEASURED[1000][0]) < 3 * np.hypot(s1000, MEASURED[1000][1]), est
    assert abs(a500 - MEASURED[500][0]) < 3 * np.hypot(s500, MEASURED[500][1]), est
    # Finite-size trend: the breakdown load falls with N, from above toward 0.138; the
    # N = 500 value is above N = 1000 by much more than the sampling error.
    assert a500 - a1000 > 3 * np.hypot(s500, s1000), est
    assert a250 > a500 > a1000 > AMIT, est
    x = 1 / np.sqrt([250, 500, 1000])
    slope, intercept = np.polyfit(x, [a250, a500, a1000], 1, w=1 / np.array([s250, s500, s1000]))
    assert slope > 0 and abs(intercept - AMIT) < 0.015, (intercept, est)
    # Storkey stores more: still retrieving at twice the Hebbian breakdown load.
    sto = capacity_curve(jr.key(7), 1000, [0.2, 0.3], rule=storkey, n_trials=2)
    assert float(sto.fraction_retrieved.min()) >= 0.95


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:capacity_curve.*2-cycles")
def test_asynchronous_and_synchronous_capacity_agree():
    kw = dict(rule=hebbian, n_trials=4, max_sweeps=60)
    sync = capacity_curve(jr.key(3), 500, [0.15, 0.17], synchronous=True, **kw)
    asyn = capacity_curve(jr.key(3), 500, [0.15, 0.17], synchronous=False, **kw)
    # Same pattern sets (same key), same fixed points; the paths from unstable cues differ
    # and synchronous runs can end in 2-cycles, so only the fractions are compared.
    diff = np.abs(np.asarray(sync.fraction_retrieved - asyn.fraction_retrieved))
    assert diff.max() < 0.1, diff
