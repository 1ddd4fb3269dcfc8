"""COBAHH network (neurodyn.models.cobahh) against an independent NumPy re-implementation.

The reference below is written from the equations of Brette et al. (2007, benchmark 3) and
Brian2's COBAHH example; it shares no code with `neurodyn`: dense 0/1 connection matrices,
float64, and Brian2's exponential Euler written out in closed form,

    x ← x∞ + (x − x∞) e^{−(α_x + β_x) dt}               for the gates x = m, h, n
    V ← V∞ + (V − V∞) e^{−G dt / C},   G = g_L + g_e + g_i + ḡ_Na m³h + ḡ_Kd n⁴,
                                       V∞ = (g_L E_L + g_e E_e + g_i E_i + ḡ_Na m³h E_Na + ḡ_Kd n⁴ E_K)/G
    g ← g e^{−dt/τ}

with Brian2's threshold semantics (a spike when V > −20 mV and the neuron is not
refractory; refractory for 3 ms after a spike; no reset), then g += w for each spike, taking
effect from the next step. Both implementations get the same NumPy connectivity and the
same NumPy normal numbers for the initial state.

Spike rules differ on purpose: the reference uses Brian2's level rule (V > −20 mV, not
refractory), neurodyn's TraubMiles counts upward crossings (3 ms refractory). They count the
same action potentials unless V stays above −20 mV for more than 3 ms; this happens for some
first action potentials, which are broad because the gates start at 0 (slow K activation):
Brian2's rule then counts a second spike (N = 4000, seed 1: neuron 404 at 0.9 and 3.9 ms;
over 1 s the level rule gives 38.69 Hz, the crossing rule 38.28 Hz in this reference).

The network shows "stable chaos": the reference's spike count over 1 s (N = 4000, seed 1)
does not change when V(0) is perturbed by 1e-6 or 1e-4 mV, so float32 JAX and float64 NumPy
agree spike for spike until the first different spike (a threshold crossing one step apart, or
the rule above), after which the trains decorrelate. So only population statistics are compared over long runs: the mean
rate within 10 %. Spread of the 1 s rate over realisations (V(0) perturbed by 0.01-2 mV,
same connectivity, seed 1): reference 37.2-38.9 Hz, neurodyn 36.5-38.1 Hz.
"""

import numpy as np
import pytest

from neurodyn import ExponentialEuler
from neurodyn.models import cobahh_initial_state, cobahh_network
from neurodyn.network import from_lists, simulate_network

DT = 0.1
C_M, G_L, G_NA, G_KD = 0.2, 0.01, 20.0, 6.0  # nF, µS
E_L, E_K, E_NA, V_T, E_E, E_I = -60.0, -90.0, 50.0, -63.0, 0.0, -80.0  # mV
P_CONNECT, W_E, W_I = 0.02, 0.006, 0.067  # connection probability; µS (6 nS, 67 nS)
TAU_E, TAU_I = 5.0, 10.0  # ms
W_E, W_I = 0.006, 0.067  # µS
V_SPIKE, T_REF = -20.0, 3.0  # mV, ms


# ----------------------------------------------------------------- independent reference


def _x_over_expm1(x, s):
    """x / (e^{x/s} − 1), with its limit s at x = 0 (elementwise, NumPy)."""
    u = x / s
    tiny = np.abs(u) < 1e-9
    return np.where(tiny, s, x / np.expm1(np.where(tiny, 1.0, u)))


def ref_rates(v):
    return {
        "m": (0.32 * _x_over_expm1(13.0 - v + V_T, 4.0), 0.28 * _x_over_expm1(v - V_T - 40.0, 5.0)),
        "h": (0.128 * np.exp((17.0 - v + V_T) / 18.0), 4.0 / (1.0 + np.exp((40.0 - v + V_T) / 5.0))),
        "n": (0.032 * _x_over_expm1(15.0 - v + V_T, 5.0), 0.5 * np.exp((10.0 - v + V_T) / 40.0)),
    }


def ref_cobahh(w_e, w_i, y0, t_ms, i_ext=0.0, dt=DT):
    """Spike (times, neurons) of the NumPy COBAHH; w_e (n_e, n), w_i (n_i, n) in µS; an
    optional constant current i_ext (nA) per neuron.

    A spike is stamped with the end of the step in which V is first seen above threshold.
    """
    n_e = w_e.shape[0]
    v, m, h, n = (np.array(y0[k], np.float64) for k in ("v", "m", "h", "n"))
    ge, gi = np.array(y0["ge"], np.float64), np.array(y0["gi"], np.float64)
    last_spike = np.full(v.shape, -np.inf)
    times, neurons = [], []
    decay_e, decay_i = np.exp(-dt / TAU_E), np.exp(-dt / TAU_I)
    for step in range(round(t_ms / dt)):
        rates = ref_rates(v)
        g_na, g_k = G_NA * m**3 * h, G_KD * n**4
        g_tot = G_L + ge + gi + g_na + g_k
        v_inf = (G_L * E_L + ge * E_E + gi * E_I + g_na * E_NA + g_k * E_K + i_ext) / g_tot
        v_new = v_inf + (v - v_inf) * np.exp(-g_tot * dt / C_M)
        gates = []
        for x, (a, b) in zip((m, h, n), (rates["m"], rates["h"], rates["n"])):
            x_inf = a / (a + b)
            gates.append(x_inf + (x - x_inf) * np.exp(-(a + b) * dt))
        m, h, n = gates
        v, ge, gi = v_new, ge * decay_e, gi * decay_i
        t = (step + 1) * dt
        spiked = (v > V_SPIKE) & (t - last_spike > T_REF - 1e-9)
        last_spike[spiked] = t
        (idx,) = np.nonzero(spiked)
        times.append(np.full(idx.size, t))
        neurons.append(idx)
        ge += w_e[spiked[:n_e]].sum(axis=0)  # row sums, not a matmul: BLAS threads
        gi += w_i[spiked[n_e:]].sum(axis=0)  # thrash on a shared 2-core machine
    return np.concatenate(times), np.concatenate(neurons)


def numpy_network(n, seed):
    """Dense E→all, I→all connectivity (p = 0.02, self connections allowed) and normals."""
    rng = np.random.default_rng(seed)
    n_e = int(round(0.8 * n))
    mask_e = rng.random((n_e, n)) < P_CONNECT
    mask_i = rng.random((n - n_e, n)) < P_CONNECT
    z = rng.standard_normal((3, n))
    return mask_e, mask_i, z


def neurodyn_network(n, mask_e, mask_i):
    pre_e, post_e = np.nonzero(mask_e)
    pre_i, post_i = np.nonzero(mask_i)
    conn_e = from_lists(pre_e, post_e, W_E, n_pre=mask_e.shape[0], n_post=n)
    conn_i = from_lists(pre_i, post_i, W_I, n_pre=mask_i.shape[0], n_post=n)
    return cobahh_network(n, conn_e, conn_i)


# ----------------------------------------------------------------- tests


def _compare(n, t_ms, seed):
    mask_e, mask_i, z = numpy_network(n, seed)
    y0 = cobahh_initial_state(z)
    ref_t, ref_i = ref_cobahh(mask_e * W_E, mask_i * W_I, {k: np.asarray(v) for k, v in y0.items()}, t_ms)
    result = simulate_network(neurodyn_network(n, mask_e, mask_i), t_ms, DT, initial_state=y0,
                              solver=ExponentialEuler())
    assert int(result.spikes_dropped) == 0
    return result, ref_t, ref_i


def test_rate_and_early_spike_trains_match_independent_numpy_reference():
    n, t_ms = 800, 200.0
    result, ref_t, ref_i = _compare(n, t_ms, seed=3)
    ours = int(result.n_spikes) / n / (t_ms / 1000.0)
    ref = ref_t.size / n / (t_ms / 1000.0)
    assert 20.0 < ref < 60.0  # the reference itself is active (37.7 Hz for this seed)
    assert ours == pytest.approx(ref, rel=0.10), (ours, ref)
    # Before chaos amplifies float32-vs-float64 rounding, the runs agree spike for spike:
    # in the first 100 ms (≈ 2500 spikes) every neuron has the same number of spikes
    # (measured: all 800 neurons for seeds 3-7, 799 for seed 2; the first differences are
    # threshold crossings one step apart, and this seed agrees to the spike for 200 ms).
    t, i = result.spikes()
    early = 100.0
    ours_counts = np.bincount(i[t <= early], minlength=n)
    ref_counts = np.bincount(ref_i[ref_t <= early + 1e-9], minlength=n)
    assert ref_counts.sum() > 1500
    assert np.mean(ours_counts == ref_counts) >= 0.99


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_full_size_rate_matches_numpy_reference(seed):
    # N = 4000, 1 s: an earlier independent NumPy version gave 36-38 Hz (2 seeds); this
    # reference measured 38.69 (seed 1) and 36.35 Hz (seed 2), neurodyn 36.53 and 36.42 Hz.
    n, t_ms = 4000, 1000.0
    result, ref_t, _ = _compare(n, t_ms, seed)
    ours = int(result.n_spikes) / n / (t_ms / 1000.0)
    ref = ref_t.size / n / (t_ms / 1000.0)
    assert 30.0 < ref < 45.0
    assert ours == pytest.approx(ref, rel=0.10), (ours, ref)
