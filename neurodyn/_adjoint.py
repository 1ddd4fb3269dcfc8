"""Differentiable simulation paths for fitting: `solve_trace` (one Diffrax solve with a chosen
adjoint, for long non-spiking traces) and `simulate_surrogate` (a clock-driven run whose
spike counts carry surrogate gradients).

Why `solve_trace` saves by step count, not at times. Its samples lie on the step grid
(t = k·record_every·dt). Saved with `SaveAt(ts=...)`, each sample time equals a step end
up to rounding of the accumulated t = t0 + dt + dt + …, so a sample is taken at the end of
one step or at the start of the next depending on the last bit. The forward values agree
either way, but `RecursiveCheckpointAdjoint`'s gradient did not: with HH driven at
10 µA/cm² for 5 ms (dt = 0.025 ms, every step recorded), ∂mean(V²)/∂g_na was 0.80 % off
`DirectAdjoint` and a central finite difference in float64 and 25 % off in float32, while
checkpoints = steps, samples half a step off the grid, or samples taken by step count all
agreed to 1e-13 (float64). The checkpointed loop recomputes steps from checkpoints; a
sample that falls on the other side of a step boundary in the recomputation reads its
cotangent from the wrong save slot. `SaveAt(t0=True, steps=record_every)` counts steps
instead of comparing times, so there is no boundary to fall on either side of
(diffrax ≥ 0.7; `tests/test_adjoint.py` asserts the gradient against `DirectAdjoint` and
a finite difference to 1e-6). `BacksolveAdjoint` does not support saving by steps: it
keeps `SaveAt(ts=...)`, which is harmless there (no recomputation from checkpoints).
"""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._checks import check_int, check_ms
from ._simulate import simulate
from .inputs import as_input
from .neurons.base import AbstractSpikingNeuron, InitialState, State
from .surrogate import check_surrogate


def solve_trace(
    model,
    t1: float,
    dt: float,
    *,
    input=0.0,
    n_neurons: int = 1,
    record_every: int = 1,
    solver: diffrax.AbstractSolver | None = None,
    adjoint: diffrax.AbstractAdjoint | None = None,
    variable: str = "v",
) -> Float[Array, "records neurons"]:
    """Trace of `variable` at t = k·record_every·dt (k = 0 … ⌈steps/record_every⌉ − 1) from
    one `diffrax.diffeqsolve` with fixed steps dt (ms) and a chosen adjoint.

    The same samples as `simulate(...).traces[variable]` for non-spiking use (no resets),
    with gradient memory set by `adjoint`:
    - `diffrax.RecursiveCheckpointAdjoint()` (default): binomial checkpointing, O(√steps)
      memory, the exact gradient of the discrete solve;
    - `diffrax.DirectAdjoint()`: the same gradient, more memory;
    - `diffrax.BacksolveAdjoint()`: O(1) memory in steps, the gradient of the continuous
      adjoint ODE solved backwards with the same fixed step. It is not the gradient of the
      discrete solve: through a spike (stiff) at coarse dt it is far off (HH, 10 µA/cm²,
      5 ms, ∂mean(V²)/∂g_na: measured +62 % at dt = 0.025 ms) and converges only as dt → 0
      (`tests/test_adjoint.py`, slow).

    Raises ValueError naming the argument for t1 or dt not finite and > 0, t1 not a whole
    number of steps, or record_every not an integer >= 1.
    """
    t1 = check_ms("t1", t1, positive=True)
    dt = check_ms("dt", dt, positive=True)
    n_steps = round(t1 / dt)
    if not (n_steps >= 1 and abs(n_steps * dt - t1) < 1e-6 * max(t1, 1.0)):
        raise ValueError(f"t1/dt must be a whole number of steps >= 1, got t1={t1}, dt={dt}")
    record_every = check_int("record_every", record_every, lower=1)
    if adjoint is not None and not isinstance(adjoint, diffrax.AbstractAdjoint):
        raise TypeError(f"adjoint must be a diffrax adjoint, got {adjoint!r}")
    adjoint = adjoint or diffrax.RecursiveCheckpointAdjoint()
    inp = as_input(input)
    y0 = model.initial_state(n_neurons)
    if variable not in y0:
        raise ValueError(f"variable must be one of {sorted(y0)} for {type(model).__name__}, got {variable!r}")
    n_rec = -(-n_steps // record_every)
    if isinstance(adjoint, diffrax.BacksolveAdjoint):  # it cannot save by step count
        saveat = diffrax.SaveAt(ts=jnp.arange(n_rec) * (record_every * dt))
    else:
        saveat = diffrax.SaveAt(t0=True, steps=int(record_every))
    term = diffrax.ODETerm(lambda t, y, args: args[0].vector_field(t, y, args[1](t)))
    sol = diffrax.diffeqsolve(
        term, solver or diffrax.Euler(), 0.0, t1, dt, y0, (model, inp),
        saveat=saveat, stepsize_controller=diffrax.ConstantStepSize(),
        adjoint=adjoint, max_steps=n_steps,
    )
    return sol.ys[variable][:n_rec]


class SurrogateResult(eqx.Module):
    """What `simulate_surrogate` returns: differentiable spike counts and the v trace."""

    spike_counts: Float[Array, " neurons"]
    v: Float[Array, "time neurons"]
    final_state: State


def simulate_surrogate(
    model: AbstractSpikingNeuron,
    t1: float,
    dt: float,
    *,
    input=0.0,
    n_neurons: int | None = None,
    initial_state: InitialState | None = None,
    surrogate: str = "fast_sigmoid",
    slope: float = 1.0,
    solver: diffrax.AbstractSolver | None = None,
) -> SurrogateResult:
    """Clock-driven run of a reset model whose spikes are differentiable (surrogate gradient).

    `neurodyn.simulate(..., surrogate=surrogate, surrogate_slope=slope)` (default solver
    Euler) with the result reshaped: spikes s = H(V' − V_th) through `spike`, a detached
    soft reset, the refractory clamp; counts Σ_t s, so d(count)/dθ is the surrogate
    gradient; `v` is the membrane potential after each step, shape (steps, neurons).
    """
    check_surrogate(surrogate, slope)  # under this function's argument names
    res = simulate(  # checks the model
        model, t1, dt, input=input, n_neurons=n_neurons, initial_state=initial_state,
        solver=solver or diffrax.Euler(), record=(model.spike_variable,), check=False,
        surrogate=surrogate, surrogate_slope=slope,
    )
    v = res.traces[model.spike_variable]
    v = jnp.concatenate([v[1:], res.final_state.y[model.spike_variable][None]])
    return SurrogateResult(spike_counts=res.surrogate_counts, v=v, final_state=res.final_state.y)



__all__ = ["SurrogateResult", "simulate_surrogate", "solve_trace"]
