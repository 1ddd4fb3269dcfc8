"""Several neuron models in one Network, and NEST-style external drive (Poisson, DC)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurodyn as nd
from neurodyn.network import (
    CurrentSynapse,
    DCCurrent,
    DeltaSynapse,
    Network,
    PoissonDrive,
    PoissonGroup,
    PoissonInput,
    Projection,
    from_lists,
    simulate_network,
)

DT = 0.1
ADEX = nd.AdEx()  # Brette & Gerstner 2005 defaults: V_peak −40.4 mV, b = 80.5 pA, no refractory period
LIF_I = nd.LIF(tau_m=10.0, v_rest=0.0, threshold=10.0, v_reset=0.0, refractory_period=2.0)
N_E, N_I = 3, 2
# E → all (receptor "ie", τ 5 ms) and I → all ("ii", τ 10 ms); weights in each target's input
# units (AdEx: pA, LIF with R = 1: mV), so the E and I rows differ.
PRE_E, POST_E, W_E = np.array([0, 0, 1, 2, 2]), np.array([1, 3, 4, 0, 3]), np.array([150.0, 4.0, 5.0, 120.0, 3.0])
PRE_I, POST_I, W_I = np.array([0, 1, 1]), np.array([0, 2, 3]), np.array([-200.0, -150.0, -6.0])
DC_E, DC_I = 1200.0, 15.0  # pA (AdEx rheobase ≈ 470 pA) and mV (LIF threshold 10)


def two_model_network():
    return Network(
        {"E": ADEX, "I": LIF_I},
        [CurrentSynapse("ie", tau=5.0), CurrentSynapse("ii", tau=10.0)],
        {"E": N_E, "I": N_I},
        [
            Projection("E", "all", from_lists(PRE_E, POST_E, W_E, n_pre=N_E, n_post=N_E + N_I), "ie"),
            Projection("I", "all", from_lists(PRE_I, POST_I, W_I, n_pre=N_I, n_post=N_E + N_I), "ii"),
        ],
        drives=[DCCurrent("E", DC_E), DCCurrent("I", DC_I)],
    )


def hand_loop(n_steps):
    """The same network written out: forward Euler, clamp, threshold, reset, delivery (float64)."""
    n = N_E + N_I
    v = np.array([ADEX.e_l] * N_E + [0.0] * N_I)
    w = np.zeros(n)
    ie, ii = np.zeros(n), np.zeros(n)
    refr = np.full(n, -np.inf)
    t_ref = np.array([0.0] * N_E + [2.0] * N_I)
    thr = np.array([ADEX.threshold] * N_E + [10.0] * N_I)
    spikes = []
    e, i = slice(0, N_E), slice(N_E, n)
    for step in range(n_steps):
        t = step * DT
        current = ie + ii + np.array([DC_E] * N_E + [DC_I] * N_I)
        dv, dw = np.zeros(n), np.zeros(n)
        expo = np.minimum((v[e] - ADEX.v_t) / ADEX.delta_t, 30.0)
        dv[e] = (-ADEX.g_l * (v[e] - ADEX.e_l) + ADEX.g_l * ADEX.delta_t * np.exp(expo) - w[e] + current[e]) / ADEX.c_m
        dw[e] = (ADEX.a * (v[e] - ADEX.e_l) - w[e]) / ADEX.tau_w
        dv[i] = (-(v[i] - 0.0) + current[i]) / 10.0
        v_new, w_new = v + DT * dv, w + DT * dw
        ie, ii = ie - DT * ie / 5.0, ii - DT * ii / 10.0
        refractory = t < refr - 0.5 * DT
        v_new = np.where(refractory, v, v_new)
        fired = (v_new >= thr) & ~refractory
        v_new[e] = np.where(fired[e], ADEX.v_reset, v_new[e])
        w_new[e] = np.where(fired[e], w_new[e] + ADEX.b, w_new[e])
        v_new[i] = np.where(fired[i], 0.0, v_new[i])
        np.add.at(ie, POST_E, W_E * fired[e][PRE_E])
        np.add.at(ii, POST_I, W_I * fired[i][PRE_I])
        refr = np.where(fired, t + DT + t_ref, refr)
        spikes += [(round((step + 1) * DT, 6), j) for j in np.flatnonzero(fired)]
        v, w = v_new, w_new
    return v, w, sorted(spikes)


def test_two_model_network_equals_the_hand_written_loop():
    """AdEx E + LIF I, coupled both ways, DC per population: same spikes and state (float64)."""
    n_steps = 400
    with jax.enable_x64(True):
        res = simulate_network(two_model_network(), n_steps * DT, DT, dtype="float64", rate_every=100)
    v, w, spikes = hand_loop(n_steps)
    times, neurons = res.spikes()
    got = sorted((round(float(t), 6), int(j)) for t, j in zip(times, neurons))
    assert len(spikes) > 10 and {j for _, j in spikes} == set(range(N_E + N_I))  # every neuron fires
    assert got == spikes
    np.testing.assert_allclose(res.final_state.y["v"], v, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(res.final_state.y["w"][:N_E], w[:N_E], rtol=1e-10)
    np.testing.assert_array_equal(res.final_state.y["w"][N_E:], 0.0)  # LIF neurons have no w
    # the rate monitor's groups are the populations
    assert [g[0] for g in res.rate_groups] == ["E", "I"]
    counts = np.asarray(res.rate_counts).sum(0)
    assert counts.tolist() == [sum(j < N_E for _, j in spikes), sum(j >= N_E for _, j in spikes)]


def test_uncoupled_two_model_network_equals_two_separate_populations():
    """No projections: each population's trace equals `simulate` of its model alone.

    Same spikes; voltages equal to float32 rounding (XLA orders the arithmetic of a sliced
    population slightly differently: 1-ulp differences)."""
    net = Network({"E": ADEX, "I": LIF_I}, [], {"E": N_E, "I": N_I},
                  drives=[DCCurrent("E", DC_E), DCCurrent("I", DC_I)])
    res = simulate_network(net, 30.0, DT, record=("v",))
    alone_e = nd.simulate(ADEX, 30.0, DT, input=DC_E, n_neurons=N_E)
    alone_i = nd.simulate(LIF_I, 30.0, DT, input=DC_I, n_neurons=N_I)
    np.testing.assert_allclose(res.traces["v"][:, :N_E], alone_e.traces["v"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(res.traces["v"][:, N_E:], alone_i.traces["v"], rtol=1e-5, atol=1e-5)
    assert int(res.n_spikes) > 5
    np.testing.assert_array_equal(res.spike_counts, np.concatenate([alone_e.spike_counts, alone_i.spike_counts]))


def test_one_model_per_population_is_validated():
    with pytest.raises(ValueError, match=r"one model per population \['E', 'I'\]; missing \['I'\]"):
        Network({"E": ADEX}, [], {"E": 2, "I": 2})
    with pytest.raises(ValueError, match=r"LIF.tau_m has shape \(3,\); its population has 2 neurons"):
        Network({"E": ADEX, "I": nd.LIF(tau_m=jnp.ones(3))}, [], {"E": 2, "I": 2})
    with pytest.raises(TypeError, match="spiking neuron model"):
        Network({"E": ADEX, "I": "LIF"}, [], {"E": 2, "I": 2})


# ----------------------------------------------------------------------------- NEST drive


SILENT = dict(tau_m=10.0, v_rest=0.0, threshold=1e9, v_reset=0.0)


def test_poisson_drive_counts_are_poisson_with_mean_and_variance_k_nu_dt():
    """K_ext = 800 inputs at 25 Hz (Brunel 2000's ν_ext = 2 ν_thr): one step's counts have
    mean = variance = K ν dt = 2 (Poisson; the binomial PoissonInput's variance would be
    smaller by 1 − ν dt, and a Gaussian would give non-integers), and over 1000 steps the
    sums have mean = variance = 2000."""
    n, k_ext, nu, w = 2000, 800, 25.0, 0.1
    net = Network(nd.LIF(**SILENT), [CurrentSynapse("count", tau=1e12)], {"A": n},
                  drives=[PoissonDrive("A", "count", k_ext, nu, w)])
    one = simulate_network(net, DT, DT, key=jax.random.key(3))
    c1 = np.asarray(one.final_state.y["count"], np.float64) / w
    lam = k_ext * nu * DT / 1000.0
    np.testing.assert_allclose(c1, np.round(c1), atol=1e-4)  # whole counts
    assert c1.mean() == pytest.approx(lam, abs=4 * np.sqrt(lam / n))
    assert c1.var() == pytest.approx(lam, rel=0.15)
    assert np.mean(c1 == 0) == pytest.approx(np.exp(-lam), abs=0.03)  # P(0) = e^{−λ} = 0.135
    res = simulate_network(net, 100.0, DT, key=jax.random.key(4))
    counts = np.asarray(res.final_state.y["count"], np.float64) / w
    mean = 1000 * lam
    assert counts.mean() == pytest.approx(mean, abs=4 * np.sqrt(mean / n))
    assert counts.var() == pytest.approx(mean, rel=0.15)


def test_poisson_drive_has_no_rate_limit_and_its_delay_silences_the_first_steps():
    """K ν dt = 50 per step is fine (counts > 1); with delay 1 ms nothing arrives before t = 1 ms."""
    n = 500
    net = Network(nd.LIF(**SILENT), [CurrentSynapse("count", tau=1e12)], {"A": n},
                  drives=[PoissonDrive("A", "count", 1000, 500.0, 1.0, delay=1.0)])
    res = simulate_network(net, 2.0, DT, record=("count",), key=jax.random.key(5))
    c = np.asarray(res.traces["count"])
    np.testing.assert_array_equal(c[:11], 0.0)  # records at t = 0 ... 1.0 ms: draws of steps 0..9 withheld
    final = np.asarray(res.final_state.y["count"], np.float64)
    assert final.mean() == pytest.approx(10 * 50.0, abs=4 * np.sqrt(500.0 / n))  # the 10 steps from t = 1 ms


def test_poisson_drive_onto_a_delta_synapse_fires_an_iaf_population():
    """Brunel's external drive alone (J = 0.1 mV, K ν = 20 kHz, θ − V_r = 10 mV... ) makes V
    fluctuate around μ = J K ν τ_m; check the free membrane mean μ = 0.1·800·25e-3·20 = 40 mV
    above E_L with the threshold out of reach."""
    iaf = nd.IAF(c_m=250.0, tau_m=20.0, e_l=0.0, threshold=1e6, v_reset=10.0, refractory_period=2.0)
    net = Network(iaf, [DeltaSynapse("jump")], {"A": 400}, drives=[PoissonDrive("A", "jump", 800, 25.0, 0.1)])
    res = simulate_network(net, 200.0, DT, record=("v",), record_every=10, key=jax.random.key(6),
                           solver=nd.network.ExactIntegration())
    v = np.asarray(res.traces["v"][100:])  # after 5 τ_m
    assert v.mean() == pytest.approx(40.0, rel=0.02)
    # σ² = J² K ν τ_m / 2 (diffusion limit, Brunel 2000): σ = sqrt(0.01·20 000e-3·20/2) = 1.41 mV
    assert v.std() == pytest.approx(np.sqrt(0.01 * 20.0 * 20.0 / 2), rel=0.1)


def test_drives_and_sources_are_validated():
    lif = nd.LIF(**SILENT)
    syn = [CurrentSynapse("ge")]
    with pytest.raises(ValueError, match=r"PoissonGroup 'P': rate·dt must be <= 1.*rate = 20000 Hz and dt = 0.1 ms"):
        net = Network(lif, syn, {"A": 2}, [Projection("P", "A", from_lists([0], [0], 1.0, n_pre=1, n_post=2), "ge")],
                      sources=[PoissonGroup("P", 1, 20000.0)])
        simulate_network(net, 1.0, DT, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"PoissonGroup 'P': rate·dt must be <= 1"):  # plain simulate too
        nd.simulate(net, 1.0, DT, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"PoissonInput onto 'A': rate·dt must be <= 1"):
        net = Network(lif, syn, {"A": 2}, poisson_inputs=[PoissonInput("A", "ge", 5, 2e4, 1.0)])
        simulate_network(net, 1.0, DT, key=jax.random.key(0))
    with pytest.raises(ValueError, match="PoissonDrive: unknown receptor 'gx'"):
        Network(lif, syn, {"A": 2}, drives=[PoissonDrive("A", "gx", 5, 1.0, 1.0)])
    with pytest.raises(ValueError, match="PoissonDrive: unknown target population 'B'"):
        Network(lif, syn, {"A": 2}, drives=[PoissonDrive("B", "ge", 5, 1.0, 1.0)])
    with pytest.raises(ValueError, match="PoissonDrive.weight must be finite"):
        PoissonDrive("A", "ge", 5, 1.0, float("inf"))
    with pytest.raises(ValueError, match="PoissonDrive.rate contains NaN"):
        PoissonDrive("A", "ge", 5, float("nan"), 1.0)
    with pytest.raises(ValueError, match="PoissonDrive.n_inputs must be an integer >= 1"):
        PoissonDrive("A", "ge", 0, 1.0, 1.0)
    with pytest.raises(ValueError, match="PoissonDrive.delay 0.15 ms is not a whole number of steps"):
        net = Network(lif, syn, {"A": 2}, drives=[PoissonDrive("A", "ge", 5, 1.0, 1.0, delay=0.15)])
        simulate_network(net, 1.0, DT, key=jax.random.key(0))
    with pytest.raises(ValueError, match="PoissonDrive onto a conductance receptor.weight must be >= 0"):
        Network(lif, [nd.network.ConductanceSynapse("ge")], {"A": 2}, drives=[PoissonDrive("A", "ge", 5, 1.0, -1.0)])
    with pytest.raises(ValueError, match="DCCurrent.amplitude must be finite"):
        DCCurrent("A", float("inf"))
    with pytest.raises(ValueError, match=r"DCCurrent.amplitude onto 'A' must be a scalar or have 2 values"):
        Network(lif, syn, {"A": 2}, drives=[DCCurrent("A", np.ones(3))])
    with pytest.raises(ValueError, match="Projection A->A: unknown receptor 'gi'"):
        Network(lif, syn, {"A": 2}, [Projection("A", "A", from_lists([0], [1], 1.0, n_pre=2, n_post=2), "gi")])
    with pytest.raises(ValueError, match="Projection A->B: unknown population 'B'"):
        Network(lif, syn, {"A": 2}, [Projection("A", "B", from_lists([0], [1], 1.0, n_pre=2, n_post=2), "ge")])


def test_exact_integration_of_two_iaf_populations_with_their_own_parameters():
    """Populations of IAF and LIF with different τ_m, E_L: ExactIntegration per population
    equals each model integrated alone (exact propagators, same input)."""
    iaf = nd.IAF(c_m=200.0, tau_m=15.0, e_l=-65.0, threshold=-50.0, v_reset=-65.0, i_e=300.0)
    lif = nd.LIF(tau_m=8.0, v_rest=0.0, threshold=10.0, v_reset=0.0, refractory_period=1.0)
    net = Network({"A": iaf, "B": lif}, [], {"A": 2, "B": 3}, drives=[DCCurrent("B", 14.0)])
    solver = nd.network.ExactIntegration()
    res = simulate_network(net, 50.0, DT, record=("v",), solver=solver)
    alone_a = nd.simulate(iaf, 50.0, DT, n_neurons=2, solver=solver)
    alone_b = nd.simulate(lif, 50.0, DT, input=14.0, n_neurons=3, solver=solver)
    np.testing.assert_allclose(res.traces["v"][:, :2], alone_a.traces["v"], rtol=1e-6, atol=2e-5)
    np.testing.assert_allclose(res.traces["v"][:, 2:], alone_b.traces["v"], rtol=1e-6, atol=2e-5)
    assert int(alone_a.n_spikes) > 0 and int(alone_b.n_spikes) > 0
    np.testing.assert_array_equal(res.spike_counts, np.concatenate([alone_a.spike_counts, alone_b.spike_counts]))


def test_resumed_brunel_run_equals_the_uninterrupted_one():
    """Delta synapses, delayed projections and a delayed PoissonDrive: 2 × 15 ms (continuing
    from final_state) gives the same spikes and state as one 30 ms run."""
    from neurodyn.network.brunel import brunel_network

    net, y0 = brunel_network(jax.random.key(3), 400, epsilon=0.2, j=0.2, g=5.0, eta=2.0)
    kw = dict(solver=nd.network.ExactIntegration(), key=jax.random.key(4))
    whole = simulate_network(net, 30.0, DT, initial_state=y0, **kw)
    first = simulate_network(net, 15.0, DT, initial_state=y0, **kw)
    second = simulate_network(net, 30.0, DT, initial_state=first.final_state, **kw)
    t1, i1 = first.spikes()
    t2, i2 = second.spikes()
    tw, iw = whole.spikes()
    assert tw.size > 100
    np.testing.assert_allclose(np.concatenate([t1, t2]), tw, atol=1e-4)
    np.testing.assert_array_equal(np.concatenate([i1, i2]), iw)
    np.testing.assert_array_equal(second.final_state.y["v"], whole.final_state.y["v"])
