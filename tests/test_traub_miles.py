"""Traub–Miles (COBAHH) neuron against an independent NumPy re-implementation.

The reference below is written from the equations of Brette et al. (2007, benchmark 3; Traub & Miles 1991 kinetics)
in plain Python floats, with its own exprel, bisection and RK4; it shares no code with
`neurodyn`. Units: mV, ms, nA, µS, nF (C_m = 0.2 nF, g_L = 0.01, ḡ_Na = 20, ḡ_Kd = 6 µS).
"""

import math

import diffrax
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import rate_hz

import neurodyn as nd
from neurodyn.neurons.traub_miles import traub_miles_gate_steady_states, traub_miles_rates

DT = 0.01
T1 = 160.0  # ms: covers the first three spikes at zero input (period ≈ 72 ms)

# ----------------------------------------------------------------- independent reference

VT, C_M, G_L, G_NA, G_KD, E_L, E_K, E_NA = -63.0, 0.2, 0.01, 20.0, 6.0, -60.0, -90.0, 50.0


def _x_over_expm1(x, s):
    """x / (e^{x/s} − 1), with its limit s at x = 0."""
    return s if x == 0.0 else x / math.expm1(x / s)


def ref_rates(v):
    return {
        "alpha_m": 0.32 * _x_over_expm1(13.0 - v + VT, 4.0),
        "beta_m": 0.28 * _x_over_expm1(v - VT - 40.0, 5.0),
        "alpha_h": 0.128 * math.exp((17.0 - v + VT) / 18.0),
        "beta_h": 4.0 / (1.0 + math.exp((40.0 - v + VT) / 5.0)),
        "alpha_n": 0.032 * _x_over_expm1(15.0 - v + VT, 5.0),
        "beta_n": 0.5 * math.exp((10.0 - v + VT) / 40.0),
    }


def ref_steady(v):
    r = ref_rates(v)
    return [r[f"alpha_{x}"] / (r[f"alpha_{x}"] + r[f"beta_{x}"]) for x in "mhn"]


def ref_field(y, i_ext):
    v, m, h, n = y
    r = ref_rates(v)
    i_ion = G_NA * m**3 * h * (v - E_NA) + G_KD * n**4 * (v - E_K) + G_L * (v - E_L)
    return (
        (i_ext - i_ion) / C_M,
        r["alpha_m"] * (1 - m) - r["beta_m"] * m,
        r["alpha_h"] * (1 - h) - r["beta_h"] * h,
        r["alpha_n"] * (1 - n) - r["beta_n"] * n,
    )


def ref_steady_current(v):
    m, h, n = ref_steady(v)
    return G_NA * m**3 * h * (v - E_NA) + G_KD * n**4 * (v - E_K) + G_L * (v - E_L)


def ref_lowest_equilibrium(i_ext):
    """Lowest root of I_ss(V) = i_ext: scan a 0.1 mV grid upwards, then bisect."""
    v = -120.0
    while ref_steady_current(v + 0.1) - i_ext < 0:
        v += 0.1
    a, b = v, v + 0.1
    for _ in range(60):
        mid = 0.5 * (a + b)
        a, b = (mid, b) if ref_steady_current(mid) < i_ext else (a, mid)
    return 0.5 * (a + b)


def ref_spike_times(i_ext, t1=T1, dt=DT, threshold=-20.0):
    """RK4 from V = E_L, gates at x∞(E_L); crossings of `threshold` linearly interpolated."""
    y = (E_L, *ref_steady(E_L))
    times, v_max = [], -math.inf
    for k in range(round(t1 / dt)):
        k1 = ref_field(y, i_ext)
        k2 = ref_field([a + 0.5 * dt * b for a, b in zip(y, k1)], i_ext)
        k3 = ref_field([a + 0.5 * dt * b for a, b in zip(y, k2)], i_ext)
        k4 = ref_field([a + dt * b for a, b in zip(y, k3)], i_ext)
        new = tuple(
            a + dt / 6 * (p + 2 * q + 2 * r + s) for a, p, q, r, s in zip(y, k1, k2, k3, k4)
        )
        if y[0] < threshold <= new[0]:
            times.append((k + (threshold - y[0]) / (new[0] - y[0])) * dt)
        v_max = max(v_max, new[0])
        y = new
    return np.array(times), v_max


# ----------------------------------------------------------------- rates


@pytest.mark.parametrize("v", [-80.0, -60.0, -40.0, 0.0])
def test_rates_match_the_formulas(v):
    got = traub_miles_rates(jnp.float32(v))
    for name, expected in ref_rates(v).items():
        # float32 evaluation of exp/expm1: a few ulp
        assert float(got[name]) == pytest.approx(expected, rel=1e-5), name


def test_rates_by_hand_at_rest():
    # V = −60 mV, V_T = −63: 13 − V + V_T = 10, V − V_T − 40 = −37, 15 − V + V_T = 12
    r = traub_miles_rates(-60.0)
    assert float(r["alpha_m"]) == pytest.approx(0.32 * 10 / (math.exp(2.5) - 1), rel=1e-5)
    assert float(r["beta_m"]) == pytest.approx(0.28 * -37 / (math.exp(-7.4) - 1), rel=1e-5)
    assert float(r["alpha_h"]) == pytest.approx(0.128 * math.exp(14 / 18), rel=1e-5)
    assert float(r["beta_h"]) == pytest.approx(4 / (1 + math.exp(37 / 5)), rel=1e-5)
    assert float(r["alpha_n"]) == pytest.approx(0.032 * 12 / (math.exp(2.4) - 1), rel=1e-5)
    assert float(r["beta_n"]) == pytest.approx(0.5 * math.exp(7 / 40), rel=1e-5)


@pytest.mark.parametrize(
    "name, offset, limit",
    # removable singularities at V_T + 13, V_T + 40, V_T + 15: limits 0.32·4, 0.28·5, 0.032·5
    [("alpha_m", 13.0, 1.28), ("beta_m", 40.0, 1.4), ("alpha_n", 15.0, 0.16)],
)
def test_removable_singularities_are_finite_and_continuous(name, offset, limit):
    v0 = VT + offset
    rate = lambda x: traub_miles_rates(x)[name]  # noqa: E731
    assert float(rate(jnp.float32(v0))) == pytest.approx(limit, rel=1e-6)
    # continuous: ±0.01 mV away the exact formula agrees to first order (slope ≈ limit/(2s))
    for dv in (-0.01, 0.01):
        near = float(rate(jnp.float32(v0 + dv)))
        assert near == pytest.approx(ref_rates(v0 + dv)[name], rel=1e-4)
        assert abs(near - limit) < 0.01
    g = jax.grad(rate)(jnp.float32(v0))
    g_near = jax.grad(rate)(jnp.float32(v0 + 0.1))
    assert np.isfinite(float(g))
    assert float(g) == pytest.approx(float(g_near), rel=0.05)


def test_steady_state_gates_between_zero_and_one_and_shift_with_vt():
    v = jnp.linspace(-100, 50, 301)
    for x, value in traub_miles_gate_steady_states(v).items():
        assert bool(jnp.all((value > 0) & (value < 1))), x
    # V_T only shifts the curves: x∞(v; V_T) = x∞(v − V_T − 63; −63)
    shifted = traub_miles_gate_steady_states(v, -55.0)
    base = traub_miles_gate_steady_states(v - 8.0)
    for x in "mhn":
        np.testing.assert_allclose(shifted[x], base[x], rtol=1e-5)


# ----------------------------------------------------------------- equilibria


def test_equilibria_match_the_independent_root():
    model = nd.TraubMiles()
    for i_hold in (-0.1, -0.05, 0.0):
        expected = ref_lowest_equilibrium(i_hold)
        v = model.resting_potential(1, i_hold)
        # float32 bisection of a current of order 0.1 nA: ≈ 1e-4 mV
        assert float(v[0]) == pytest.approx(expected, abs=2e-3), i_hold
    # the numbers quoted in the module docstring
    assert ref_lowest_equilibrium(-0.1) == pytest.approx(-69.99, abs=0.01)
    assert ref_lowest_equilibrium(0.0) == pytest.approx(-33.41, abs=0.01)


def test_zero_input_equilibrium_is_unstable():
    model = nd.TraubMiles()
    v = model.resting_potential(1)
    y = {"v": v, **model.gate_steady_states(v)}
    flat, unravel = jax.flatten_util.ravel_pytree(y)

    def field(z):
        return jax.flatten_util.ravel_pytree(model.vector_field(0.0, unravel(z), 0.0))[0]

    jac = jax.jit(jax.jacfwd(field))(flat)
    eig = np.linalg.eigvals(np.asarray(jac, dtype=np.float64))
    assert eig.real.max() > 1.0  # ≈ +5.9 /ms: the cell cannot rest there


# ----------------------------------------------------------------- simulations

# neuron: 0 holding current, 1 zero input, 2 and 3 drive, 4 = 2 with a 15 ms refractory period
CURRENTS = jnp.array([-0.1, 0.0, 0.5, 2.0, 0.5])  # nA
REFRACTORY = jnp.array([3.0, 3.0, 3.0, 3.0, 15.0])  # ms


@pytest.fixture(scope="module")
def ladder():
    """One heterogeneous population, one simulate call (Tsit5, dt = 0.01 ms)."""
    return nd.simulate(
        nd.TraubMiles(refractory_period=REFRACTORY), t1=T1, dt=DT, input=CURRENTS,
        solver=diffrax.Tsit5(), record=("v",), record_every=1,
    )


def test_relaxes_to_rest_under_a_holding_current(ladder):
    v = np.asarray(ladder.traces["v"][:, 0])
    assert ladder.spike_counts[0] == 0
    # leak time constant C/g_L = 20 ms: after 160 ms from −60 mV, ≈ 10·e⁻⁸ mV ≈ 3e-3 mV left
    assert v[-1] == pytest.approx(ref_lowest_equilibrium(-0.1), abs=0.01)


@pytest.mark.parametrize("index, i_ext", [(1, 0.0), (2, 0.5), (3, 2.0)])
def test_spike_times_match_independent_rk4(ladder, index, i_ext):
    expected, v_max = ref_spike_times(i_ext, t1=T1 if i_ext == 0.0 else 60.0)
    got = ladder.spike_trains()[index]
    got = got[got <= (T1 if i_ext == 0.0 else 60.0)]
    assert got.size == expected.size >= 3
    # both 4th-order at dt = 0.01 ms; float32 and linear interpolation of the crossing: ≪ 0.01 ms
    np.testing.assert_allclose(got, expected, atol=5e-3)
    assert rate_hz(got[1:]) == pytest.approx(rate_hz(expected[1:]), rel=1e-3)
    # peak well above 0 mV (≈ +48 mV)
    assert float(ladder.traces["v"][:, index].max()) == pytest.approx(v_max, abs=0.5)
    assert v_max > 40.0


def test_zero_input_fires_tonically(ladder):
    # no stable rest at these parameters: ≈ 13.85 Hz (the reference RK4 gives a 72.18 ms period)
    train = ladder.spike_trains()[1]
    assert train.size == 3
    assert rate_hz(train) == pytest.approx(13.85, rel=2e-3)


def test_one_count_per_action_potential_and_refractory_respected(ladder):
    trains = ladder.spike_trains()
    v = np.asarray(ladder.traces["v"])
    for i in (1, 2, 3):
        # each crossing of −20 mV in the trace is one spike; no ISI below the 3 ms refractory
        crossings = np.sum((v[:-1, i] < -20.0) & (v[1:, i] >= -20.0))
        assert trains[i].size == crossings
        assert np.diff(trains[i]).min() > 3.0
    # 2.0 nA: ISI ≈ 4.8 ms, so a 3 ms window never hides a spike ...
    assert np.diff(trains[3]).min() < 6.0
    # ... but a 15 ms one (neuron 4, same drive as neuron 2, ISI ≈ 12.1 ms) hides every second
    np.testing.assert_allclose(trains[4], trains[2][::2], atol=1e-6)


def test_heterogeneous_population_in_clock_mode():
    g_na = jnp.array([15.0, 20.0, 25.0, 30.0])  # µS
    common = dict(t1=30.0, dt=DT, input=0.5, record=("v",))  # default solver: Euler
    het = nd.simulate(nd.TraubMiles(g_na=g_na), **common)
    one = nd.simulate(nd.TraubMiles(g_na=25.0), n_neurons=1, **common)
    assert het.traces["v"].shape == (3000, 4)
    counts = np.asarray(het.spike_counts)
    assert np.all(counts == 3)
    # every neuron is the same computation as a homogeneous run with its own ḡ_Na
    np.testing.assert_allclose(het.traces["v"][:, 2], one.traces["v"][:, 0], atol=1e-4)
    np.testing.assert_allclose(het.spike_trains()[2], one.spike_trains()[0], atol=1e-5)
    # more Na conductance, earlier first spike and shorter ISI (Euler at dt = 0.01: 2.73 ->
    # 2.13 ms and 12.26 -> 12.07 ms from 15 to 30 µS)
    trains = het.spike_trains()
    assert np.all(np.diff([tr[0] for tr in trains]) < -0.1)
    assert np.all(np.diff([tr[-1] - tr[0] for tr in trains]) < -0.05)


# ----------------------------------------------------------------- parameter checks


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"c_m": 0.0}, r"TraubMiles\.c_m must be > 0"),
        ({"g_na": -1.0}, r"TraubMiles\.g_na must be >= 0"),
        ({"g_kd": jnp.array([6.0, -6.0])}, r"TraubMiles\.g_kd must be >= 0"),
        ({"g_l": float("nan")}, r"TraubMiles\.g_l contains NaN"),
        ({"v_t": float("nan")}, r"TraubMiles\.v_t contains NaN"),
        ({"refractory_period": -3.0}, r"TraubMiles\.refractory_period must be >= 0"),
        ({"e_k": jnp.zeros((2, 2))}, r"TraubMiles\.e_k must be a scalar or a 1-D array"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nd.TraubMiles(**kwargs)


def test_population_size_mismatch_names_the_parameter():
    with pytest.raises(ValueError, match=r"TraubMiles\.g_na"):
        nd.simulate(nd.TraubMiles(g_na=jnp.array([20.0, 25.0])), t1=1.0, dt=DT, input=jnp.zeros(3))
