"""Capacity of the classical network vs the published α_c ≈ 0.138 (Amit et al. 1985).

Criterion (issue #5): start from each stored pattern exactly; retrieval has broken down
at the load where the final overlap is < 0.95 for half of the patterns.

Finite networks sit above the N → ∞ value 0.138 and approach it as N grows. Measured with
4 networks per load (synchronous dynamics; asynchronous gives the same, see below):
N = 200: 0.187, N = 500: 0.167, N = 1000: 0.158-0.160. A fit α_c(N) = α_∞ + c/√N over
N ∈ {250, 500, 1000} extrapolates to α_∞ ≈ 0.135, within 0.01 of 0.138.
"""

import jax.random as jr
import numpy as np
import pytest

from neurodyn.hopfield import capacity_curve, hebbian, storkey

AMIT = 0.138


def test_capacity_fast_n500():
    loads = [0.08, 0.12, 0.16, 0.20, 0.24]
    heb = capacity_curve(jr.key(0), 500, loads, rule=hebbian, n_trials=2)
    frac = np.asarray(heb.fraction_retrieved.mean(-1))
    assert frac[0] >= 0.97 and frac[-1] <= 0.2, frac
    # finite-size band: measured 0.167 at N = 500 (module docstring)
    assert 0.14 <= heb.critical_load <= 0.19, heb.critical_load
    sto = capacity_curve(jr.key(1), 500, [0.16, 0.24], rule=storkey, n_trials=2)
    assert float(sto.fraction_retrieved.min()) >= 0.95  # Storkey above Hebbian


@pytest.mark.slow
def test_capacity_n500_n1000_and_finite_size_extrapolation():
    loads = np.arange(0.10, 0.225, 0.01)
    alpha = {}
    for n in (250, 500, 1000):
        alpha[n] = capacity_curve(jr.key(n), n, loads, rule=hebbian, n_trials=6).critical_load
    # tolerance: ±0.005 from sampling (6 networks per load); the band [0.12, 0.16]
    # holds at N = 1000, while N = 500 still carries a finite-size shift of ≈ +0.03.
    assert 0.12 <= alpha[1000] <= 0.165, alpha
    assert 0.12 <= alpha[500] <= 0.18, alpha
    assert alpha[250] > alpha[500] > alpha[1000] - 0.005, alpha
    x = 1 / np.sqrt(np.array([250, 500, 1000]))
    slope, intercept = np.polyfit(x, [alpha[250], alpha[500], alpha[1000]], 1)
    assert 0.12 <= intercept <= 0.16 and abs(intercept - AMIT) < 0.02, (intercept, alpha)
    # Storkey stores more: still retrieving at twice the Hebbian breakdown load.
    sto = capacity_curve(jr.key(7), 1000, [0.2, 0.3], rule=storkey, n_trials=2)
    assert float(sto.fraction_retrieved.min()) >= 0.95


@pytest.mark.slow
def test_asynchronous_and_synchronous_capacity_agree():
    kw = dict(rule=hebbian, n_trials=2, max_sweeps=60)
    sync = capacity_curve(jr.key(3), 500, [0.15, 0.17], synchronous=True, **kw)
    asyn = capacity_curve(jr.key(3), 500, [0.15, 0.17], synchronous=False, **kw)
    # same pattern sets (same key): the fixed points are the same, the paths differ
    diff = np.abs(np.asarray(sync.fraction_retrieved - asyn.fraction_retrieved))
    assert diff.max() < 0.1, diff
