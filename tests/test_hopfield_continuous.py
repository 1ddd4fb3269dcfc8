"""Continuous-time graded-response Hopfield network (Hopfield 1984) through `simulate`."""

import diffrax
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import neurodyn
from neurodyn.hopfield import (
    ClassicalHopfield,
    ContinuousHopfield,
    flip_bits,
    overlap,
    random_patterns,
    run,
)


def test_retrieval_and_energy_descent_through_simulate():
    n, p = 100, 5
    pats = random_patterns(jr.key(0), p, n)
    net = ContinuousHopfield.from_patterns(pats, gain=4.0, tau=10.0)
    cue = flip_bits(jr.key(1), pats[0], 0.2)
    res = neurodyn.simulate(
        net, t1=100.0, dt=0.1, solver=diffrax.Tsit5(), record=("u",), record_every=5,
        initial_state={"u": 0.1 * cue},
    )
    assert res.traces["u"].shape == (res.times.shape[0], n)
    u_end = res.final_state.y["u"]
    assert float(overlap(pats[0], jnp.sign(u_end))) == 1.0
    assert float(overlap(pats[0], net.output(res.final_state.y))) > 0.99
    e = np.asarray(net.energy({"u": res.traces["u"]}))
    # Lyapunov: non-increasing up to float32 rounding of |E| ≈ 30.
    assert np.all(np.diff(e) <= 1e-5 * np.abs(e).max())
    assert e[-1] < e[0] - 10


def test_energy_derivative_matches_hopfield_1984_identity():
    # dE/dt along the flow = −τ Σ g'(u) (du/dt)², g' = λ sech²(λu): checks the energy
    # formula against the vector field with autodiff (independent of the integrator).
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 20)) / 5
    w = jnp.asarray((a + a.T) / 2)
    net = ContinuousHopfield(weights=w, bias=jnp.asarray(rng.normal(size=20)) * 0.1,
                             tau=jnp.asarray(rng.uniform(5, 15, 20)), gain=2.0)
    u = jnp.asarray(rng.normal(size=20))
    current = jnp.asarray(rng.normal(size=20)) * 0.2
    du = net.vector_field(0.0, {"u": u}, current)["u"]
    _, de_dt = jax.jvp(lambda x: net.energy({"u": x}, current), (u,), (du,))
    gprime = net.gain / jnp.cosh(net.gain * u) ** 2
    expected = -jnp.sum(net.tau * gprime * du**2)
    np.testing.assert_allclose(de_dt, expected, rtol=1e-4)
    assert float(de_dt) < 0


def test_high_gain_fixed_point_matches_binary_network():
    pats = random_patterns(jr.key(2), 3, 64)
    cue = flip_bits(jr.key(3), pats[1], 0.15)
    binary = run(ClassicalHopfield.from_patterns(pats), cue, jr.key(4))
    net = ContinuousHopfield.from_patterns(pats, gain=50.0, tau=1.0)
    res = neurodyn.simulate(net, t1=20.0, dt=0.05, solver=diffrax.Tsit5(), record=("u",),
                            record_every=400, initial_state={"u": 0.01 * cue})
    np.testing.assert_array_equal(jnp.sign(res.final_state.y["u"]), binary.state)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(weights=jnp.array([[0.0, 1.0], [0.5, 0.0]])), "symmetric"),
        (dict(weights=jnp.zeros((2, 3))), "square"),
        (dict(weights=jnp.zeros((2, 2)), tau=0.0), r"tau must be finite and > 0"),
        (dict(weights=jnp.zeros((2, 2)), gain=-1.0), r"gain must be finite and > 0"),
        (dict(weights=jnp.zeros((2, 2)), bias=jnp.zeros(3)), r"bias must be a scalar or have shape \(2,\)"),
    ],
)
@pytest.mark.no_typecheck  # checks the function's own message for a wrong-shape argument
def test_bad_parameters_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContinuousHopfield(**kwargs)


def test_population_size_mismatch_is_caught():
    net = ContinuousHopfield(weights=jnp.zeros((4, 4)))
    with pytest.raises(ValueError, match="n_neurons must equal the size of weights"):
        net.initial_state(5)
    with pytest.raises(ValueError, match="5 values but the population has 4"):
        neurodyn.simulate(net, t1=1.0, dt=0.1, record=("u",), input=jnp.zeros(5))
