"""Synapse kinds (delta, exponential with NEST's exact propagators, alpha) against analytic shapes.

References: the closed-form PSPs of a leaky membrane τ_m dV/dt = −(V − E_L) + R I(t)
(V − E_L = (R/τ_m) ∫ e^{−(t−s)/τ_m} I(s) ds), NEST's `iaf_psc_delta` update order and
refractory rule (NEST model docs: spikes arriving while refractory are discarded), and NEST
`iaf_psc_alpha`'s normalisation (peak PSC = weight at t = τ_syn).
"""

import json
import math
from pathlib import Path

import diffrax
import jax
import numpy as np
import pytest

import neurodyn as nd
from neurodyn.network import (
    AlphaConductanceSynapse,
    AlphaCurrentSynapse,
    ConductanceSynapse,
    CurrentSynapse,
    DeltaSynapse,
    ExactIntegration,
    Network,
    PoissonGroup,
    Projection,
    from_lists,
    simulate_network,
)

DT = 0.1
# NEST iaf_psc_exp defaults (C_m 250 pF, τ_m 10 ms, E_L −70 mV), threshold out of reach.
NEST = dict(c_m=250.0, tau_m=10.0, e_l=-70.0, threshold=100.0, v_reset=-70.0)
# float32 rounding of V near −70 mV: ulp(70) = 7.6e-6 mV. A slowly changing V stalls where
# its change per step is below half an ulp, so the error of any absolute-V float32 update is
# bounded by ulp(70)/2 · τ_m/dt = 3.8e-4 mV (τ_m = 10 ms, dt = 0.1 ms); in float64 the
# exact propagators give the analytic PSP to 1e-13 mV.
F32_MV = 8 * np.spacing(np.float32(70.0))
F32_STALL_MV = 0.5 * np.spacing(np.float32(70.0)) * 10.0 / 0.1 + F32_MV


def _times(n_steps):
    return DT * np.arange(n_steps)


def exp_psp(t, w, tau_s, tau_m=10.0, c_m=250.0):
    """V − E_L for a current w e^{−t/τ_s} (pA) from t = 0, float64 (τ_s ≠ τ_m)."""
    r = tau_m / c_m
    return r * w * tau_s / (tau_m - tau_s) * (np.exp(-t / tau_m) - np.exp(-t / tau_s))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("tau_s", [0.5, 2.0, 10.0])
def test_exponential_current_psp_is_nests_exact_solution_at_every_grid_point(tau_s, dtype):
    """IAF + CurrentSynapse with ExactIntegration: V(t_k) = analytic PSP to rounding.

    τ_s = τ_m = 10 ms is the degenerate case (NEST's separate formula): V − E_L = (w/C) t e^{−t/τ}.
    """
    w, n_steps = 500.0, 1000
    net = Network(nd.IAF(**NEST), [CurrentSynapse("ex", tau=tau_s)], {"A": 1})
    with jax.enable_x64(dtype == "float64"):
        res = simulate_network(net, n_steps * DT, DT, record=("v", "ex"), initial_state={"ex": w},
                               solver=ExactIntegration(), dtype=dtype)
    t = _times(n_steps)
    expected = w / 250.0 * t * np.exp(-t / 10.0) if tau_s == 10.0 else exp_psp(t, w, tau_s)
    v = np.asarray(res.traces["v"][:, 0], np.float64) + 70.0
    np.testing.assert_allclose(v, expected, rtol=0, atol=F32_STALL_MV if dtype == "float32" else 1e-11)
    rtol = 1e-4 if dtype == "float32" else 1e-12  # g_k = P11^k g_0: k roundings
    np.testing.assert_allclose(res.traces["ex"][:, 0], w * np.exp(-t / tau_s), rtol=rtol, atol=1e-30)
    assert v.max() > 0.5  # a real PSP, not a flat trace (w = 500 pA: 0.85 to 7.4 mV)


def test_exact_psp_near_zero_resting_potential_is_exact_to_relative_rounding():
    """With E_L = 0 the PSP itself is stored: relative error ≲ 1e-5 over 50 ms (float32)."""
    net = Network(nd.IAF(c_m=250.0, tau_m=10.0, e_l=0.0, threshold=100.0, v_reset=0.0),
                  [CurrentSynapse("ex", tau=2.0)], {"A": 1})
    res = simulate_network(net, 50.0, DT, record=("v",), initial_state={"ex": 100.0}, solver=ExactIntegration())
    t = _times(500)
    expected = exp_psp(t, 100.0, 2.0)
    np.testing.assert_allclose(res.traces["v"][1:, 0], expected[1:], rtol=1e-5)


def test_delta_psp_lands_at_the_end_of_the_next_step_and_decays_with_tau_m():
    """A jump w waiting at t = 0 lands at t = dt: V(t_k) = E_L + w e^{−(t_k − dt)/τ_m}, k >= 1."""
    w = 0.8
    net = Network(nd.IAF(**NEST), [DeltaSynapse("jump")], {"A": 1})
    for solver in (ExactIntegration(), None):  # exact, and Euler wrapped in WithJumps
        res = simulate_network(net, 20.0, DT, record=("v",), initial_state={"jump": w}, solver=solver)
        v = np.asarray(res.traces["v"][:, 0], np.float64) + 70.0
        t = _times(200)
        assert v[0] == 0.0
        if solver is not None:
            np.testing.assert_allclose(v[1:], w * np.exp(-(t[1:] - DT) / 10.0), atol=F32_STALL_MV)
        else:  # Euler: (1 − dt/τ)^k, first order
            np.testing.assert_allclose(v[1:], w * (1 - DT / 10.0) ** np.arange(199), atol=F32_STALL_MV)


def _spiker_and_target(delay, w=0.5, refractory=2.0):
    """Neuron 0 driven by I_e to spike; it projects with a delta synapse (delay) onto neuron 1."""
    driver = nd.IAF(**{**NEST, "threshold": -55.0}, i_e=600.0, refractory_period=refractory)
    target = nd.IAF(**NEST)
    conn = from_lists(np.array([0]), np.array([0]), w, n_pre=1, n_post=1)
    return Network({"D": driver, "T": target}, [DeltaSynapse("jump")], {"D": 1, "T": 1},
                   [Projection("D", "T", conn, "jump", delay=delay)])


@pytest.mark.parametrize("delay", [0.0, 0.5, 1.4])
def test_delta_jump_arrives_at_spike_time_plus_delay_plus_dt(delay):
    """NEST iaf_psc_delta with delay D ≙ neurodyn delay D − dt: the jump is in V at t_s + delay + dt."""
    net = _spiker_and_target(delay)
    res = simulate_network(net, 30.0, DT, record=("v",), solver=ExactIntegration())
    times, neurons = res.spikes()
    t_first = times[neurons == 0][0]
    v = np.asarray(res.traces["v"][:, 1], np.float64) + 70.0
    k = int(np.argmax(v > 0))  # first record with the jump in it
    assert res.times[k] == pytest.approx(t_first + delay + DT, abs=1e-4)
    assert v[k] == pytest.approx(0.5, abs=F32_MV)
    # NEST 3.10, the same two iaf_psc_delta neurons (driver I_e = 600 pA, E_L = V_reset = −70,
    # V_th = −55 mV, C_m = 250 pF, τ_m = 10 ms, t_ref = 2 ms; J = 0.5 mV, delay 1.5 ms, dt 0.1):
    # driver spikes at 9.9 and 21.8 ms, the target's voltmeter shows the jump first at 11.4 ms.
    np.testing.assert_allclose(times[neurons == 0][:2], [9.9, 21.8], atol=1e-4)
    if delay == 1.4:
        assert res.times[k] == pytest.approx(11.4, abs=1e-4)


def test_delta_jumps_arriving_while_refractory_are_discarded():
    """A source fires every step (rate·dt = 1) onto a neuron that spikes at t = dt and is
    refractory for t_ref = 2 ms (20 steps): V stays at V_reset for those 20 steps, then the
    jumps land again (the first one alone: V = V_reset + w), as in NEST's iaf_psc_delta."""
    w = 0.3
    conn = from_lists(np.array([0]), np.array([0]), w, n_pre=1, n_post=1)
    neuron = nd.IAF(c_m=250.0, tau_m=10.0, e_l=-70.0, threshold=-55.0, v_reset=-70.0, refractory_period=2.0)
    net = Network(neuron, [DeltaSynapse("jump")], {"A": 1},
                  [Projection("P", "A", conn, "jump")], sources=[PoissonGroup("P", 1, 1000.0 / DT)])
    res = simulate_network(net, 4.0, DT, record=("v",), initial_state={"v": -54.0}, solver=ExactIntegration(),
                           key=jax.random.key(0))
    v = np.asarray(res.traces["v"][:, 0], np.float64)
    times, _ = res.spikes()
    assert times[0] == pytest.approx(DT)  # −54 mV decays to −54.15 > V_th in step 0: spike at t = dt
    np.testing.assert_array_equal(v[2:22], -70.0)  # records at t = 0.2 ... 2.1 ms: clamped, jumps dropped
    assert v[22] == pytest.approx(-70.0 + w, abs=F32_MV)  # first step after t_ref: one jump lands
    assert v[23] == pytest.approx(-70.0 + w * math.exp(-DT / 10.0) + w, abs=F32_MV)
    # NEST 3.10, iaf_psc_delta with V_m(0) = −54 mV and a spike_generator firing at 0.1, 0.2,
    # ... 4.0 ms (weight 0.3 mV, delay 0.1 ms): voltmeter V_m at t = 0.1 ... 3.9 ms
    np.testing.assert_allclose(v[1:40], NEST_REFRACTORY_TRACE, atol=F32_MV)


NEST_REFRACTORY_TRACE = [-70.0] * 21 + [
    -69.7, -69.402985, -69.108925, -68.817792, -68.529555, -68.244186, -67.961657, -67.681939,
    -67.405004, -67.130824, -66.859373, -66.590623, -66.324547, -66.061118, -65.800311,
    -65.542098, -65.286455, -65.033356,
]


def test_a_jump_can_trigger_a_spike_in_the_step_it_lands():
    """V = V_th − 0.05 mV with a 0.1 mV jump waiting: the spike is at t = dt (NEST tests the
    threshold after adding the step's jumps); without the jump, no spike."""
    neuron = nd.IAF(c_m=250.0, tau_m=10.0, e_l=-70.0, threshold=-55.0, v_reset=-70.0, i_e=375.0)  # fixed point −55
    net = Network(neuron, [DeltaSynapse("jump")], {"A": 1})
    with_jump = simulate_network(net, 1.0, DT, initial_state={"v": -55.05, "jump": 0.1}, solver=ExactIntegration())
    without = simulate_network(net, 1.0, DT, initial_state={"v": -55.05}, solver=ExactIntegration())
    assert with_jump.spikes()[0].tolist() == pytest.approx([DT])
    assert int(without.n_spikes) == 0


def alpha_g(t, w, tau):
    return w * (t / tau) * np.exp(1.0 - t / tau)


def test_alpha_current_synapse_under_euler_follows_its_two_state_recursion():
    """Any Diffrax solver steps the same two-state ODE (dx/dt = −x/τ, dg/dt = (e x − g)/τ):
    Euler against its own recursion; the exact PSP is tested against NEST below."""
    w, tau, n_steps = 200.0, 2.0, 600
    net = Network(nd.IAF(**NEST), [AlphaCurrentSynapse("ex", tau=tau)], {"A": 1})
    res_euler = simulate_network(net, n_steps * DT, DT, record=("ex",), initial_state={"ex_rise": w})
    np.testing.assert_allclose(res_euler.traces["ex"][:, 0], euler_alpha_g(n_steps, w, tau), rtol=1e-4, atol=1e-3)


def euler_alpha_g(n_steps, w, tau):
    """Forward Euler of dx/dt = −x/τ, dg/dt = (e x − g)/τ from x = w, g = 0 (float64)."""
    x, g, out = w, 0.0, []
    for _ in range(n_steps):
        out.append(g)
        x, g = x - DT * x / tau, g + DT * (math.e * x - g) / tau
    return np.array(out)


def test_alpha_conductance_synapse_drives_towards_its_reversal_and_refuses_negative_weights():
    neuron = nd.LIF(tau_m=20.0, v_rest=-60.0, threshold=100.0, v_reset=-60.0)
    net = Network(neuron, [AlphaConductanceSynapse("ge", tau=1.0, reversal=0.0)], {"A": 1})
    res = simulate_network(net, 20.0, DT, record=("v", "ge"), initial_state={"ge_rise": 0.5})
    g = np.asarray(res.traces["ge"][:, 0])
    np.testing.assert_allclose(g, euler_alpha_g(200, 0.5, 1.0), rtol=1e-4, atol=1e-6)
    assert _times(200)[np.argmax(g)] == pytest.approx(1.0, abs=DT)  # peak at τ (Euler: within a step)
    assert float(res.traces["v"][:, 0].max()) > -60.0 + 0.5  # depolarising (E_rev = 0 > V)
    conn = from_lists(np.array([0]), np.array([0]), -1.0, n_pre=1, n_post=1)
    with pytest.raises(ValueError, match="conductance receptor 'ge'.*weights must be >= 0"):
        Network(neuron, [AlphaConductanceSynapse("ge")], {"A": 1}, [Projection("A", "A", conn, "ge")])


def test_exact_integration_and_delta_synapses_refuse_what_they_cannot_do():
    net = Network(nd.IAF(**NEST), [ConductanceSynapse("ge")], {"A": 1})
    with pytest.raises(ValueError, match="receptor 'ge' is a ConductanceSynapse.*nonlinear in V.*diffrax.Tsit5"):
        simulate_network(net, 1.0, DT, solver=ExactIntegration())
    with pytest.raises(TypeError, match="linear integrate-and-fire model"):
        nd.simulate(nd.AdEx(), 1.0, DT, solver=ExactIntegration())
    with pytest.raises(ValueError, match="DeltaSynapse 'jump': unknown target 'u'"):
        Network(nd.IAF(), [DeltaSynapse("jump", target="u")], {"A": 1})
    delta_net = Network(nd.IAF(**NEST), [DeltaSynapse("jump")], {"A": 1})
    with pytest.raises(Exception, match="jumps were not applied"):  # plain simulate, plain Euler
        nd.simulate(delta_net, 1.0, DT, initial_state={"v": -70.0, "jump": 0.5})


def test_exact_integration_of_a_bare_population_matches_the_lif_rate():
    """ExactIntegration on a bare LIF: the analytic f–I rate 83.81 Hz (Brian2 IF-curve settings)
    is met to the grid: spikes land on the first grid point past the exact crossing."""
    res = nd.simulate(nd.LIF(), 1000.0, 0.01, input=20.0, solver=ExactIntegration(), record=())
    period = 5.0 + 10.0 * math.log(2.0)  # t_ref + τ ln((20 − 0)/(20 − 10)) = 11.93 ms
    rise = math.ceil(10.0 * math.log(2.0) / 0.01) * 0.01  # first grid point past the crossing: 6.94 ms
    grid_period = 5.0 + rise
    assert int(res.n_spikes) == 1 + math.floor((1000.0 - rise) / grid_period)  # first spike from rest
    times, _ = res.spikes()
    np.testing.assert_allclose(np.diff(times), grid_period, atol=1e-3)
    assert abs(grid_period - period) < 0.01


def test_a_delta_network_reproduces_nest_spike_for_spike():
    """50 `iaf_psc_delta` neurons (40 E, 20.8 mV DC drive above θ = 20 mV, V_r = 10 mV, τ_m = 20 ms,
    t_ref = 2 ms), 8 E (+0.8 mV) and 2 I (−2 mV) inputs each, delay 1.5 ms, V(0) given: NEST 3.10
    fires 208 spikes in 200 ms (tests/data/nest_iaf_psc_delta_network.json, written by
    tests/scripts/make_nest_delta_reference.py); neurodyn with ExactIntegration and delay 1.5 − dt gives the same spikes,
    step for step, in float32 and float64. No randomness: the update order, refractory rule and
    delay convention are NEST's."""
    data = json.loads((Path(__file__).parent / "data" / "nest_iaf_psc_delta_network.json").read_text())
    n, n_e = data["n"], data["n_e"]
    pre_e, pre_i = np.array(data["pre_e"]), np.array(data["pre_i"]) - n_e
    post_e, post_i = np.repeat(np.arange(n), pre_e.shape[1]), np.repeat(np.arange(n), pre_i.shape[1])
    iaf = nd.IAF(c_m=250.0, tau_m=20.0, e_l=0.0, threshold=20.0, v_reset=10.0, refractory_period=2.0,
                 i_e=data["i_e_pA"])
    net = Network(iaf, [DeltaSynapse("jump")], {"E": n_e, "I": n - n_e}, [
        Projection("E", "all", from_lists(pre_e.ravel(), post_e, data["w_e_mV"], n_pre=n_e, n_post=n), "jump",
                   delay=data["delay_ms"] - DT),
        Projection("I", "all", from_lists(pre_i.ravel(), post_i, data["w_i_mV"], n_pre=n - n_e, n_post=n), "jump",
                   delay=data["delay_ms"] - DT),
    ])
    expected = sorted(zip(data["spike_steps"], data["spike_neurons"]))
    for dtype in ("float32", "float64"):
        with jax.enable_x64(dtype == "float64"):
            res = simulate_network(net, data["t_ms"], DT, initial_state={"v": np.array(data["v0"])},
                                   solver=ExactIntegration(), dtype=dtype)
        times, neurons = res.spikes()
        got = sorted(zip(np.round(np.asarray(times, np.float64) / DT).astype(int).tolist(), neurons.tolist()))
        assert got == expected, dtype


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exponential_current_psp_equals_nests_iaf_psc_exp_trace(dtype):
    """NEST 3.10's iaf_psc_exp voltmeter trace for one 500 pA spike (τ_syn = 2 ms;
    tests/data/nest_iaf_psc_exp_psp.json, from tests/scripts/make_nest_exp_psp_reference.py)
    equals neurodyn's IAF + CurrentSynapse + ExactIntegration at all 501 grid points: to
    1e-10 mV in float64, to float32 rounding (see F32_STALL_MV) in float32."""
    data = json.loads((Path(__file__).parent / "data" / "nest_iaf_psc_exp_psp.json").read_text())
    nest_v = np.array(data["v_mV"])
    net = Network(nd.IAF(**NEST), [CurrentSynapse("ex", tau=2.0)], {"A": 1})
    with jax.enable_x64(dtype == "float64"):
        res = simulate_network(net, 50.1, DT, record=("v",), initial_state={"ex": data["weight_pA"]},
                               solver=ExactIntegration(), dtype=dtype)
    v = np.asarray(res.traces["v"][:, 0], np.float64)
    assert nest_v.max() + 70.0 == pytest.approx(2.674924, abs=1e-6)
    np.testing.assert_allclose(v, nest_v, rtol=0, atol=1e-10 if dtype == "float64" else F32_STALL_MV)


def test_delta_jumps_with_white_noise_give_the_shot_noise_plus_ou_stationary_statistics():
    """Euler–Maruyama with delta jumps landed each step (WithJumps(Euler)): a LIF membrane
    τ dV/dt = −(V − E_L) + R(μ + σ ξ) plus Poisson jumps J at rate λ = K ν (threshold out of reach).

    Stationary mean E_L + Rμ + τ J λ (shot noise, Campbell's theorem: the mean of a filtered
    Poisson train is λ ∫ h, h(t) = J e^{−t/τ}). Variance: Campbell's λ ∫ h² = J² λ τ/2 plus the
    OU part (Rσ)²/(2τ); the Euler–Maruyama chain V_{n+1} = (1 − dt/τ) V_n + … has exactly
    [(Rσ/τ)² + J² λ] dt / (1 − (1 − dt/τ)²) = (continuous value) · 2/(2 − dt/τ), 0.5 % above
    it here, which is the reference. Samples: 4000 neurons at 4 times 3τ apart from 6τ on
    (e^{−3} correlated, start deficit e^{−12}); tolerance 4 standard errors from the samples
    (mean: 0.07 mV; variance: ≈ 4.5 %). Without the noise the variance is 42 % lower (−60
    standard errors), without the jumps the mean 10 mV lower.
    """
    tau, e_l, mu, sigma = 10.0, -70.0, 5.0, 6.0  # ms, mV, mV (R = 1), mV·ms^½
    k_in, nu, j = 100, 20.0, 0.5  # inputs, Hz, mV: λ = 2 per ms
    lam = k_in * nu / 1000.0
    neuron = nd.LIF(tau_m=tau, v_rest=e_l, threshold=1e4, v_reset=e_l)
    net = Network(neuron, [DeltaSynapse("jump")], {"A": 4000},
                  drives=[nd.network.PoissonDrive("A", "jump", k_in, nu, j)])
    mean = e_l + mu + tau * j * lam
    var = ((sigma / tau) ** 2 + j * j * lam) * DT / (1.0 - (1.0 - DT / tau) ** 2)
    assert var == pytest.approx((sigma**2 / (2 * tau) + j * j * lam * tau / 2) * 2 / (2 - DT / tau))
    res = simulate_network(net, 150.1, DT, input=nd.inputs.WhiteNoise(mu, sigma), record=("v",), record_every=300,
                           initial_state={"v": mean}, key=jax.random.key(3))  # Euler wrapped in WithJumps
    np.testing.assert_allclose(res.times[-4:], [60.0, 90.0, 120.0, 150.0], atol=1e-3)
    v = np.asarray(res.traces["v"][-4:], np.float64).ravel()
    dev2 = (v - v.mean()) ** 2
    assert abs(v.mean() - mean) < 4 * v.std() / math.sqrt(v.size)
    assert abs(dev2.mean() - var) < 4 * dev2.std() / math.sqrt(v.size)
    with pytest.raises(ValueError, match="Euler-Maruyama"):
        simulate_network(net, 1.0, DT, input=nd.inputs.WhiteNoise(mu, sigma), solver=diffrax.Heun(), key=jax.random.key(0))


def alpha_psp(t, w, tau_s, tau_m=10.0, c_m=250.0):
    """V − E_L for the current w (t/τ_s) e^{1 − t/τ_s} (pA) from t = 0, closed form, float64:
    (R/τ_m) ∫₀ᵗ e^{−(t−s)/τ_m} I(s) ds = (R w e/(τ_m τ_s)) e^{−t/τ_m} (e^{at}(at − 1) + 1)/a²,
    a = 1/τ_m − 1/τ_s (a = 0: t²/2 in place of the fraction)."""
    r, a = tau_m / c_m, 1.0 / tau_m - 1.0 / tau_s
    ramp = t * t / 2 if a == 0 else (np.exp(a * t) * (a * t - 1.0) + 1.0) / (a * a)
    return r * w * math.e / (tau_m * tau_s) * np.exp(-t / tau_m) * ramp


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_alpha_current_psp_equals_nests_iaf_psc_alpha_trace_and_the_closed_form(dtype):
    """IAF + AlphaCurrentSynapse + ExactIntegration for one 200 pA spike against NEST 3.10's
    iaf_psc_alpha voltmeter (V_m and I_syn_ex, 601 grid points; tests/data/nest_iaf_psc_alpha_psp.json
    from tests/scripts/make_nest_alpha_psp_reference.py) and the closed-form alpha PSP: to 1e-10 mV
    in float64, to float32 rounding (F32_STALL_MV) in float32. Two neurons, τ_s = 2 ms and
    τ_s = τ_m = 10 ms (the case where the textbook propagator is 0/0: NEST switches formula,
    neurodyn uses ψ's series). The PSC peaks at the weight at t = τ_s (NEST's normalisation)."""
    data = json.loads((Path(__file__).parent / "data" / "nest_iaf_psc_alpha_psp.json").read_text())
    taus = (2.0, 10.0)
    nest_v = np.stack([data["tau_syn_ms"][str(tau)]["v_mV"] for tau in taus], axis=1)
    nest_i = np.stack([data["tau_syn_ms"][str(tau)]["i_syn_pA"] for tau in taus], axis=1)
    w, n_steps = data["weight_pA"], nest_v.shape[0]
    t = _times(n_steps)
    for col, tau in enumerate(taus):  # the two references agree
        np.testing.assert_allclose(alpha_psp(t, w, tau) - 70.0, nest_v[:, col], rtol=0, atol=1e-10)
        np.testing.assert_allclose(alpha_g(t, w, tau), nest_i[:, col], rtol=1e-12, atol=1e-9)
        assert t[np.argmax(nest_i[:, col])] == pytest.approx(tau) and nest_i[:, col].max() == pytest.approx(w)
    net = Network(nd.IAF(**NEST), [AlphaCurrentSynapse("ex", tau=np.array(taus))], {"A": 2})
    with jax.enable_x64(dtype == "float64"):
        res = simulate_network(net, n_steps * DT, DT, record=("v", "ex"), initial_state={"ex_rise": w},
                               solver=ExactIntegration(), dtype=dtype)
    v = np.asarray(res.traces["v"], np.float64)
    np.testing.assert_allclose(v, nest_v, rtol=0, atol=1e-10 if dtype == "float64" else F32_STALL_MV)
    np.testing.assert_allclose(res.traces["ex"], nest_i, rtol=1e-12 if dtype == "float64" else 1e-5,
                               atol=1e-9 if dtype == "float64" else 1e-3)
    assert nest_v.max(axis=0) + 70.0 == pytest.approx([2.600024, 5.886071], abs=1e-6)  # real PSPs


@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=pytest.mark.slow)])
def test_alpha_conductance_psp_with_tsit5_matches_nests_iaf_cond_alpha(dtype):
    """No closed-form step exists for a conductance (ExactIntegration refuses it and names the
    fix); the fix it names, diffrax.Tsit5 at dt = 0.1 ms, against NEST 3.10's iaf_cond_alpha
    (GSL adaptive RKF45; tests/data/nest_iaf_cond_alpha_psp.json from
    tests/scripts/make_nest_cond_alpha_reference.py): one 20 nS spike, τ_syn = 0.2 ms,
    E_ex = 0 mV, C_m = 250 pF, g_L = 16.6667 nS. Tolerance 1e-4 mV on V (measured 2.4e-5
    float64, 5.1e-5 float32; at dt = 0.01 ms 6e-6 mV, NEST's own RKF45 error: its g_ex peaks
    at 20.000126 nS) and 2e-3 nS on g (1e-3 measured); forward Euler at this dt is 0.31 mV off."""
    data = json.loads((Path(__file__).parent / "data" / "nest_iaf_cond_alpha_psp.json").read_text())
    nest_v, nest_g = np.array(data["v_mV"]), np.array(data["g_ex_nS"])
    iaf = nd.IAF(c_m=250.0, tau_m=250.0 / 16.6667, e_l=-70.0, threshold=100.0, v_reset=-70.0)  # τ_m = C_m/g_L
    net = Network(iaf, [AlphaConductanceSynapse("ge", tau=0.2, reversal=0.0)], {"A": 1})
    with pytest.raises(ValueError, match="AlphaConductanceSynapse: a conductance makes .* diffrax.Tsit5"):
        simulate_network(net, 1.0, DT, solver=ExactIntegration())
    with jax.enable_x64(dtype == "float64"):
        res = simulate_network(net, nest_v.size * DT, DT, record=("v", "ge"),
                               initial_state={"ge_rise": data["weight_nS"]}, solver=diffrax.Tsit5(), dtype=dtype)
    np.testing.assert_allclose(res.traces["v"][:, 0], nest_v, rtol=0, atol=1e-4)
    np.testing.assert_allclose(res.traces["ge"][:, 0], nest_g, rtol=0, atol=2e-3)
    assert nest_v.max() + 70.0 == pytest.approx(2.774086, abs=1e-6)  # a real PSP
