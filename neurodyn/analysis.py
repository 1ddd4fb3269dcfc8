"""Analysis of simulation results: rates, f–I curves, ISI statistics, phase planes."""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .neurons.base import AbstractNeuron, AbstractSpikingNeuron
from ._simulate import simulate
from ._state import SimulationResult


def firing_rates(result: SimulationResult, t_start: float | None = None) -> np.ndarray:
    """Rate (Hz) of each neuron from its mean inter-spike interval after `t_start` (ms).

    Neurons with fewer than two spikes in the window get 0.
    """
    rates = []
    for train in result.spike_trains():
        if t_start is not None:
            train = train[train >= t_start]
        rates.append(1000.0 * (train.size - 1) / (train[-1] - train[0]) if train.size >= 2 else 0.0)
    return np.asarray(rates)


def isi_cv(result: SimulationResult) -> np.ndarray:
    """Coefficient of variation of the inter-spike intervals per neuron (NaN if < 3 spikes)."""
    cvs = []
    for train in result.spike_trains():
        isi = np.diff(train)
        cvs.append(isi.std() / isi.mean() if isi.size >= 2 else np.nan)
    return np.asarray(cvs)


def population_rate(result: SimulationResult, t0: float, t1: float, bin_ms: float = 1.0):
    """(bin centres in ms, population rate in Hz per neuron) from the stored spikes."""
    times, _ = result.spikes()
    edges = np.arange(t0, t1 + bin_ms / 2, bin_ms)
    counts, _ = np.histogram(times, edges)
    n = result.spike_counts.shape[-1]
    return (edges[:-1] + edges[1:]) / 2, counts / (n * bin_ms / 1000.0)


def f_i_curve(
    model: AbstractSpikingNeuron,
    currents: Float[ArrayLike, " currents"],
    *,
    t1: float = 1000.0,
    dt: float = 0.01,
    t_start: float = 200.0,
    solver: diffrax.AbstractSolver | None = None,
    mode: str = "clock",
) -> Float[Array, " currents"]:
    """Steady firing rate (Hz) for each constant current, in one compiled call.

    The currents are one heterogeneous population (one vector ODE); the rate is the number of
    spikes after `t_start` divided by the window (counts, so it is robust for few spikes).
    """
    currents = jnp.asarray(currents)
    result = simulate(model, t1=t1, dt=dt, input=currents, solver=solver, mode=mode, record=())
    times, neurons = result.spikes()
    late = neurons[times >= t_start]
    counts = np.bincount(late, minlength=currents.shape[0])
    return jnp.asarray(counts * 1000.0 / (t1 - t_start))


def phase_plane(
    model: AbstractNeuron,
    x_name: str,
    y_name: str,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    *,
    clamp: dict | None = None,
    input_current: float = 0.0,
    resolution: int = 25,
):
    """The vector field of two state variables on a grid, the others fixed.

    Variables not plotted are taken from `clamp`, or from the model's resting state.
    Returns (X, Y, dX, dY) arrays of shape (resolution, resolution).
    """
    rest = {k: float(v[0]) for k, v in model.initial_state(1).items()}
    rest.update(clamp or {})
    xs = jnp.linspace(*x_range, resolution)
    ys = jnp.linspace(*y_range, resolution)
    X, Y = jnp.meshgrid(xs, ys)
    state = {k: jnp.full(X.size, v) for k, v in rest.items()}
    state[x_name], state[y_name] = X.ravel(), Y.ravel()
    d = jax.jit(model.vector_field)(0.0, state, input_current)
    return X, Y, d[x_name].reshape(X.shape), d[y_name].reshape(X.shape)
