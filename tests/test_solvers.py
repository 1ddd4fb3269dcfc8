"""ExponentialEuler against analytic solutions, Brian2's closed-form update and RK4.

Exponential Euler advances each variable by the exact solution of its own equation
linearised at the step start, x ← x + (e^{A h} − 1)/A · f with A = ∂f/∂x. So it must be
exact (to rounding) for linear ODEs at any step, reproduce Brian2's `exponential_euler`
update of HH models (which is that formula written out for conditionally linear equations),
stay stable where forward Euler diverges, and converge with order 1.
"""

import math

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import rate_hz

import neurodyn as nd


def _steps(f, y0, dt, n_steps, args=None):
    """n_steps of ExponentialEuler on dy/dt = f(t, y, args), as simulate's loop calls it."""
    term, solver = diffrax.ODETerm(f), nd.ExponentialEuler()

    def body(_, y):
        return solver.step(term, 0.0, dt, y, args, None, False)[0]

    return jax.lax.fori_loop(0, n_steps, body, y0)


# ----------------------------------------------------------------- linear ODEs: exact


def test_exact_for_a_linear_ode_at_any_step():
    # dx/dt = −x/τ + c with one τ per element and a second leaf with its own τ:
    # x(t) = cτ + (x0 − cτ) e^{−t/τ}. Forward Euler would diverge for dt > 2τ (τ = 0.5).
    tau = jnp.array([0.5, 3.0, 20.0])
    c, t1 = 2.0, 30.0

    def f(t, y, args):
        return {"x": -y["x"] / tau + c, "g": -y["g"] / 5.0}

    y0 = {"x": jnp.array([0.0, 1.0, 7.0]), "g": jnp.array([1.0, -2.0])}
    solve = jax.jit(lambda dt, n: _steps(f, y0, dt, n))  # one compilation for every dt
    exact_x = c * tau + (y0["x"] - c * tau) * jnp.exp(-t1 / tau)
    exact_g = y0["g"] * jnp.exp(-t1 / 5.0)
    for dt in (0.05, 1.0, 7.5, 30.0):
        y = solve(dt, round(t1 / dt))
        # float32: each of up to 600 steps rounds to ~1e-7 relative
        np.testing.assert_allclose(y["x"], exact_x, rtol=1e-5, atol=1e-5, err_msg=str(dt))
        np.testing.assert_allclose(y["g"], exact_g, rtol=1e-5, atol=1e-6, err_msg=str(dt))


def test_zero_rate_limit_is_finite_with_the_right_gradient():
    # dx/dt = −k x + c at k = 0: x(T) = x0 + cT, and d x(T)/dk = −x0 T − cT²/2 (the limit of
    # the exact solution), with no 0/0 NaN from the branch that is not taken. The update is
    # exact for constant k, so its k-derivative is the exact one too.
    x0, c, t1, dt = 1.5, 0.25, 2.0, 0.5

    def final(k):
        return _steps(lambda t, x, k: -k * x + c, jnp.asarray(x0), dt, 4, args=k)

    assert float(final(0.0)) == pytest.approx(x0 + c * t1, rel=1e-6)
    assert float(jax.grad(final)(0.0)) == pytest.approx(-x0 * t1 - c * t1**2 / 2, rel=1e-5)


def test_diffeqsolve_with_dense_output():
    # The Diffrax interface: diffeqsolve accepts it (term structure, interpolation) and the
    # dense output is linear between the (exact) step end points.
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, x, a: -x / 2.0), nd.ExponentialEuler(), 0.0, 2.0, 0.5,
        jnp.asarray(1.0), saveat=diffrax.SaveAt(t1=True, dense=True),
    )
    np.testing.assert_allclose(sol.ys[-1], math.exp(-1.0), rtol=1e-6)
    np.testing.assert_allclose(sol.evaluate(0.75), 0.5 * (math.exp(-0.25) + math.exp(-0.5)), rtol=1e-6)


# ----------------------------------------------------------------- HH: Brian2's update


def test_one_step_equals_brian2s_closed_form_for_traub_miles():
    # Brian2's exponential_euler for conditionally linear equations, written out:
    #   x ← x∞ + (x − x∞) e^{−(α+β) h},  V ← V∞ + (V − V∞) e^{−G h / C}
    # with G the total conductance and V∞ the conductance-weighted reversal potentials.
    model = nd.TraubMiles()
    rng = np.random.default_rng(0)
    n, h, i_ext = 256, 0.1, 0.3
    with jax.enable_x64(True):
        y = {
            "v": jnp.asarray(rng.uniform(-90.0, 40.0, n)),
            **{x: jnp.asarray(rng.uniform(0.0, 1.0, n)) for x in "mhn"},
        }
        term = diffrax.ODETerm(lambda t, y, args: model.vector_field(t, y, i_ext))
        y1 = jax.jit(lambda y: nd.ExponentialEuler().step(term, 0.0, h, y, None, None, False)[0])(y)
        r = model.rates(y["v"])
        g_na = model.g_na * y["m"] ** 3 * y["h"]
        g_k = model.g_kd * y["n"] ** 4
        g = g_na + g_k + model.g_l
        v_inf = (g_na * model.e_na + g_k * model.e_k + model.g_l * model.e_l + i_ext) / g
        expected = {"v": v_inf + (y["v"] - v_inf) * jnp.exp(-g * h / model.c_m)}
        for x in "mhn":
            a, b = r[f"alpha_{x}"], r[f"beta_{x}"]
            x_inf = a / (a + b)
            expected[x] = x_inf + (y[x] - x_inf) * jnp.exp(-(a + b) * h)
        for k in expected:
            np.testing.assert_allclose(y1[k], expected[k], rtol=1e-12, atol=1e-12, err_msg=k)


def _ref_hh_exponential_euler(i_ext, t_ms, dt):
    """Independent NumPy float64 exponential Euler of HH (Hodgkin & Huxley 1952, modern
    convention; rates as in Dayan & Abbott): each variable's linear equation solved exactly
    over the step with the others frozen at the step start. Returns the end times of the
    steps in which V crosses 0 mV upwards (the step that holds each spike)."""
    c_m, g_na, g_k, g_l, e_na, e_k, e_l = 1.0, 120.0, 36.0, 0.3, 50.0, -77.0, -54.387

    def rates(v):
        def x_over_expm1(x, s):  # x / (1 − e^{−x/s}), limit s at x = 0
            return s if abs(x) < 1e-9 else x / -math.expm1(-x / s)

        return {
            "m": (0.1 * x_over_expm1(v + 40.0, 10.0), 4.0 * math.exp(-(v + 65.0) / 18.0)),
            "h": (0.07 * math.exp(-(v + 65.0) / 20.0), 1.0 / (1.0 + math.exp(-(v + 35.0) / 10.0))),
            "n": (0.01 * x_over_expm1(v + 55.0, 10.0), 0.125 * math.exp(-(v + 65.0) / 80.0)),
        }

    v = -64.99584  # rest (m, h, n at their steady states there)
    x = {k: a / (a + b) for k, (a, b) in rates(v).items()}
    times = []
    for step in range(round(t_ms / dt)):
        r = rates(v)
        gna, gk = g_na * x["m"] ** 3 * x["h"], g_k * x["n"] ** 4
        g = gna + gk + g_l
        v_inf = (gna * e_na + gk * e_k + g_l * e_l + i_ext) / g
        v_new = v_inf + (v - v_inf) * math.exp(-g * dt / c_m)
        for k, (a, b) in r.items():
            x[k] = a / (a + b) + (x[k] - a / (a + b)) * math.exp(-(a + b) * dt)
        if v <= 0.0 < v_new:
            times.append((step + 1) * dt)
        v = v_new
    return np.array(times)


def _ref_traub_miles_exponential_euler(i_ext, t_ms, dt):
    """The independent NumPy COBAHH reference of test_network_cobahh.py (Brian2's closed-form
    exponential Euler), one unconnected neuron with a constant current (nA)."""
    from test_network_cobahh import ref_cobahh

    y0 = {k: np.asarray(v) for k, v in nd.TraubMiles().initial_state(1).items()}
    y0.update(ge=np.zeros(1), gi=np.zeros(1))
    times, _ = ref_cobahh(np.zeros((1, 1)), np.zeros((0, 1)), y0, t_ms, i_ext=i_ext, dt=dt)
    return times


@pytest.mark.parametrize(
    "model, current, reference",
    [(nd.TraubMiles(), 0.5, _ref_traub_miles_exponential_euler),
     (nd.HodgkinHuxley(), 10.0, _ref_hh_exponential_euler)],
    ids=["traub_miles", "hodgkin_huxley"],
)
def test_stable_at_dt_where_forward_euler_blows_up(model, current, reference):
    # dt = 0.1 ms: forward Euler turns NaN within a few ms (TraubMiles: 6 ms at 0.5 nA);
    # exponential Euler stays finite, and its spikes are those of an independent float64
    # exponential Euler at the same step: every spike in the same step for 200 ms
    # (neurodyn interpolates the crossing inside the step; the references stamp its end).
    with pytest.raises(nd.NumericalBlowUpError):
        nd.simulate(model, 100.0, 0.1, input=current, solver=diffrax.Euler(), record=())
    result = nd.simulate(model, 200.0, 0.1, input=current, solver=nd.ExponentialEuler(), record=("v",))
    assert bool(jnp.all(jnp.isfinite(result.traces["v"])))
    ours = result.spikes()[0]
    ref = reference(current, 200.0, 0.1)
    assert ours.size == ref.size >= 10
    assert np.all((ours > ref - 0.1 - 1e-4) & (ours <= ref + 1e-4)), np.c_[ours, ref]


# ----------------------------------------------------------------- order of convergence


def _rk4_step(term, h, y):
    def f(y):
        return term.vf(0.0, y, None)

    def add(y, k, c):
        return jax.tree.map(lambda a, b: a + c * b, y, k)

    k1 = f(y)
    k2 = f(add(y, k1, h / 2))
    k3 = f(add(y, k2, h / 2))
    k4 = f(add(y, k3, h))
    return jax.tree.map(lambda a, b, c, d, e: a + h / 6 * (b + 2 * c + 2 * d + e), y, k1, k2, k3, k4)


@jax.jit
def _integrate(model, y0, current, h, n_steps, reference):
    """n_steps of RK4 (reference=True) or exponential Euler; h and n_steps are traced."""
    term = diffrax.ODETerm(lambda t, y, args: model.vector_field(t, y, current))
    solver = nd.ExponentialEuler()

    def body(_, y):
        return jax.lax.cond(
            reference,
            lambda y: _rk4_step(term, h, y),
            lambda y: solver.step(term, 0.0, h, y, None, None, False)[0],
            y,
        )

    return jax.lax.fori_loop(0, n_steps, body, y0)


@pytest.mark.parametrize(
    "model, current, t1",
    [(nd.TraubMiles(), 0.5, 60.0), (nd.HodgkinHuxley(), 10.0, 25.0)],
    ids=["traub_miles", "hodgkin_huxley"],
)
def test_first_order_convergence_against_rk4(model, current, t1):
    # The state at t1 (between spikes, after 4-5 action potentials for TraubMiles, 2 for
    # HH) against RK4 at h = 0.0005 ms (error ~1e-10); halving h must halve the error.
    # Measured: V errors 8.4, 4.2, 2.1 mV (TraubMiles), 1.36, 0.67, 0.33 mV (HH).
    with jax.enable_x64(True):
        y0 = model.initial_state(1)
        ref = _integrate(model, y0, current, 0.0005, round(t1 / 0.0005), True)
        errors = []
        for h in (0.05, 0.025, 0.0125):
            y = _integrate(model, y0, current, h, round(t1 / h), False)
            errors.append(float(jnp.abs(y["v"] - ref["v"])[0]))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 0.9) & (orders < 1.1)), (errors, orders)


# ----------------------------------------------------------------- through simulate


DRIVES = [10.5, 12.0, 15.0, 20.0, 30.0, 50.0]  # mV of R·I; rheobase is 10 mV


def test_lif_f_i_curve_through_simulate():
    # The LIF is linear, so exponential Euler integrates it exactly between resets: the
    # clock-mode intervals are exactly t_ref + dt·ceil(T/dt), T = τ ln(I/(I − 10)) (see
    # test_lif.py), i.e. the rate lies in [analytic·(1 − dt/(ISI − dt)), analytic].
    # Forward Euler at dt = 0.1 is off the grid formula by its own O(dt) error.
    dt, model = 0.1, nd.LIF()
    with jax.enable_x64(True):
        result = nd.simulate(model, t1=1000.0, dt=dt, input=jnp.array(DRIVES),
                             solver=nd.ExponentialEuler(), record=(), dtype=jnp.float64)
    for drive, train in zip(DRIVES, result.spike_trains()):
        steps = 10.0 * math.log(drive / (drive - 10.0)) / dt
        isi_grid = 5.0 + dt * math.ceil(steps)
        measured = rate_hz(train)
        assert measured == pytest.approx(1000.0 / isi_grid, rel=1e-9), drive
        analytic = float(model.analytic_rate(drive))
        assert analytic * (1 - dt / (isi_grid - dt)) <= measured <= analytic


def test_noisy_runs_ask_for_euler_maruyama():
    # Exponential Euler is an ODE solver (term_structure = ODETerm); simulate says so.
    with pytest.raises(ValueError, match="Euler-Maruyama"):
        nd.simulate(nd.LIF(), 10.0, 0.1, input=nd.inputs.WhiteNoise(20.0, 1.0),
                    solver=nd.ExponentialEuler(), key=jax.random.key(0))
