"""LIF against its analytic f–I curve.

r(I) = 1 / (t_ref + τ_m ln((R I + E_L − V_r)/(R I + E_L − V_th)))   (docs/references.md)

Exact mode locates each threshold crossing on the dense output, so it must match r(I) to
0.1 %. Clock-driven mode detects the crossing at the first grid point after it and
releases the clamp at t_spike + t_ref (a grid point), so each interval is
    ISI_clock = t_ref + dt · ceil(T / dt),   T = τ_m ln(...)
i.e. the rate is biased low by at most dt/ISI relative (83.3 Hz at dt = 0.1).
"""

import math

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import rate_hz

import neurodyn as nd

DRIVES = [10.5, 12.0, 15.0, 20.0, 30.0, 50.0]  # mV of R·I; rheobase is 10 mV


def test_reference_case_83_81_hz():
    assert float(nd.LIF().analytic_rate(20.0)) == pytest.approx(83.81, abs=0.005)


def test_exact_mode_matches_analytic_f_i_curve_population():
    """One population (one vector ODE) with a different drive per neuron."""
    model = nd.LIF()
    result = nd.simulate(model, t1=1000.0, dt=0.1, input=jnp.array(DRIVES), mode="exact", record=())
    expected = np.asarray(model.analytic_rate(jnp.array(DRIVES)))
    for i, train in enumerate(result.spike_trains()):
        assert rate_hz(train) == pytest.approx(expected[i], rel=1e-3), DRIVES[i]


def test_exact_mode_unaffected_by_a_neuron_stuck_at_rheobase():
    """Regression: a neuron driven exactly at rheobase creeps up to v = θ in float32 and
    held the population's event function flat, which delayed other neurons' spikes."""
    model = nd.LIF()
    drives = jnp.array([10.0, 15.0, 20.0, 30.0])
    result = nd.simulate(model, t1=500.0, dt=0.1, input=drives, mode="exact", record=())
    trains = result.spike_trains()
    assert trains[0].size == 0
    expected = np.asarray(model.analytic_rate(drives))
    for i in (1, 2, 3):
        assert rate_hz(trains[i]) == pytest.approx(expected[i], rel=1e-4)


def test_exact_mode_f_i_curve_is_one_vmapped_call():
    model = nd.LIF()
    drives = jnp.linspace(11.0, 60.0, 64)

    @jax.jit
    def first_isi(drive):
        r = nd.simulate(model, t1=100.0, dt=0.1, input=drive, mode="exact", record=(), max_spikes=32)
        return r.spike_times[1] - r.spike_times[0]

    isi = jax.vmap(first_isi)(drives)
    np.testing.assert_allclose(1000.0 / np.asarray(isi), model.analytic_rate(drives), rtol=1e-3)


@pytest.mark.parametrize("dt", [0.1, 0.01])
def test_clock_mode_matches_the_grid_formula(dt):
    # float64: near rheobase v creeps up by ~5e-4 mV a step, and float32 round-off (1e-6
    # per step) accumulated over 3000 steps moves the crossing by a few grid points.
    model = nd.LIF()
    with jax.enable_x64(True):
        result = nd.simulate(model, t1=1000.0, dt=dt, input=jnp.array(DRIVES),
                             solver=diffrax.Tsit5(), record=(), dtype=jnp.float64)
    for i, train in enumerate(result.spike_trains()):
        drive = DRIVES[i]
        t_int = 10.0 * math.log(drive / (drive - 10.0))
        steps = t_int / dt
        if abs(steps - round(steps)) < 1e-3:  # ceil is ill-conditioned on a grid point
            continue
        isi_grid = 5.0 + dt * math.ceil(steps)
        measured = rate_hz(train)
        assert measured == pytest.approx(1000.0 / isi_grid, rel=1e-4), drive
        analytic = float(model.analytic_rate(drive))
        assert analytic * (1 - dt / (isi_grid - dt)) <= measured <= analytic


def test_brian2_grid_numbers():
    # spike times on a 0.1 ms grid give 83.3 Hz, on a 0.01 ms grid 83.7 Hz,
    # quoted to 0.1 Hz; the grid formula gives 1000/12.0 = 83.33 and 1000/11.94 = 83.75.
    for dt, expected in [(0.1, 83.3), (0.01, 83.7)]:
        r = nd.simulate(nd.LIF(), t1=1000.0, dt=dt, input=20.0, solver=diffrax.Tsit5(), record=())
        assert rate_hz(r.spikes()[0]) == pytest.approx(expected, abs=0.06)


@pytest.mark.parametrize("mode", ["clock", "exact"])
def test_refractory_period_is_respected(mode):
    model = nd.LIF(refractory_period=3.0)
    result = nd.simulate(model, t1=200.0, dt=0.1, input=200.0, mode=mode, record=("v",))
    times, _ = result.spikes()
    assert np.min(np.diff(times)) >= 3.0 - 1e-4
    # during the refractory period the potential is clamped at v_reset
    t = np.asarray(result.times)
    v = np.asarray(result.traces["v"][:, 0])
    for ts in times[:-1]:
        inside = (t > ts + 0.05) & (t < ts + 3.0 - 0.05)
        assert np.all(v[inside] == pytest.approx(0.0, abs=1e-6))


def test_below_rheobase_no_spikes():
    r = nd.simulate(nd.LIF(), t1=500.0, dt=0.1, input=9.9, mode="exact", record=())
    assert int(r.n_spikes) == 0
    assert float(nd.LIF().analytic_rate(9.9)) == 0.0


def test_membrane_resistance_scales_the_drive():
    # R and I as arrays: both runs share one compiled program (Python floats are static)
    a = nd.simulate(nd.LIF(resistance=jnp.asarray(2.0)), t1=300.0, dt=0.1, input=jnp.asarray(10.0),
                    mode="exact", record=())
    b = nd.simulate(nd.LIF(resistance=jnp.asarray(1.0)), t1=300.0, dt=0.1, input=jnp.asarray(20.0),
                    mode="exact", record=())
    assert a.spikes()[0].size > 10  # R·I = 20 mV, twice the threshold: regular firing
    np.testing.assert_allclose(a.spikes()[0], b.spikes()[0], rtol=1e-6)


def test_invalid_parameters():
    with pytest.raises(ValueError, match="tau_m"):
        nd.LIF(tau_m=0.0)
    with pytest.raises(ValueError, match="threshold"):
        nd.LIF(threshold=-1.0, v_reset=0.0)
    with pytest.raises(ValueError, match="refractory_period"):
        nd.LIF(refractory_period=-1.0)
