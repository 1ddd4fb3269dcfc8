"""Input currents as functions of time: I(t) with a neuron axis (or broadcastable to one).

Every input is an `eqx.Module` with `__call__(t)`, so its arrays travel as arguments of the
compiled simulation (never as closure constants). Plain numbers, arrays and Python callables
are wrapped by `as_input`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._checks import check_finite_array, check_parameter, concrete


class AbstractInput(eqx.Module):
    """An input current I(t); `shape` is the neuron-axis shape it broadcasts to.

    Subclasses implement all three members (abstract/final pattern: no concrete member is
    overridden).
    """

    @abc.abstractmethod
    def __call__(self, t) -> Float[Array, "*neurons"]:
        """The (mean) current at time t (ms)."""

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, ...]:
        """The neuron-axis shape the current broadcasts to (() for a scalar)."""

    @property
    @abc.abstractmethod
    def noise_sigma(self) -> Float[Array, "*neurons"] | None:
        """Intensity sigma of a white-noise part sigma*xi(t) of the current (None: none).

        `__call__` returns the mean current; the noise is integrated by `simulate` as the
        diffusion of an Ito SDE (Euler-Maruyama, Diffrax's Brownian motion).
        """


class _Deterministic(AbstractInput):
    """Shared by inputs without a white-noise part."""

    @property
    def noise_sigma(self) -> None:
        return None


class Constant(_Deterministic):
    """A constant input, scalar or one value per neuron."""

    value: Float[Array, "*neurons"]

    def __init__(self, value: Float[ArrayLike, "*neurons"]):
        check_finite_array("value", value, owner="Constant")
        self.value = jnp.asarray(value, dtype=float)

    def __call__(self, t):
        return self.value

    @property
    def shape(self):
        return self.value.shape


class Step(_Deterministic):
    """`amplitude` for t_on <= t < t_off (ms), `baseline` otherwise."""

    amplitude: Float[Array, "*neurons"]
    t_on: float = 0.0
    t_off: float = float("inf")
    baseline: Float[ArrayLike, "*neurons"] = 0.0

    def __init__(self, amplitude, t_on=0.0, t_off=float("inf"), baseline=0.0):
        if not t_off > t_on:
            raise ValueError(f"Step.t_off must be > t_on, got t_on={t_on}, t_off={t_off}")
        check_finite_array("amplitude", amplitude, owner="Step")
        check_finite_array("baseline", baseline, owner="Step")
        self.amplitude = jnp.asarray(amplitude, dtype=float)
        self.t_on, self.t_off = float(t_on), float(t_off)
        self.baseline = jnp.asarray(baseline, dtype=float)

    def __call__(self, t):
        on = (t >= self.t_on) & (t < self.t_off)
        return jnp.where(on, self.amplitude, self.baseline)

    @property
    def shape(self):
        return jnp.broadcast_shapes(self.amplitude.shape, jnp.shape(self.baseline))


class Ramp(_Deterministic):
    """Linear ramp from `start` at t_start to `stop` at t_stop (ms), held outside."""

    start: Float[Array, "*neurons"]
    stop: Float[Array, "*neurons"]
    t_start: float
    t_stop: float

    def __init__(self, start, stop, t_start, t_stop):
        if not t_stop > t_start:
            raise ValueError(
                f"Ramp.t_stop must be > t_start, got t_start={t_start}, t_stop={t_stop}"
            )
        check_finite_array("start", start, owner="Ramp")
        check_finite_array("stop", stop, owner="Ramp")
        self.start = jnp.asarray(start, dtype=float)
        self.stop = jnp.asarray(stop, dtype=float)
        self.t_start, self.t_stop = float(t_start), float(t_stop)

    def __call__(self, t):
        frac = jnp.clip((t - self.t_start) / (self.t_stop - self.t_start), 0.0, 1.0)
        return self.start + frac * (self.stop - self.start)

    @property
    def shape(self):
        return jnp.broadcast_shapes(self.start.shape, self.stop.shape)


class TimeSeries(_Deterministic):
    """Samples of I at increasing times (ms), linearly interpolated; held outside the range.

    `values` has shape (times,) or (times, neurons).
    """

    times: Float[Array, " times"]
    values: Float[Array, "times *neurons"]

    def __init__(self, times, values):
        times_np, values_np = np.asarray(times, dtype=float), np.asarray(values, dtype=float)
        if times_np.ndim != 1 or times_np.size < 2:
            raise ValueError(f"TimeSeries.times must be 1-D with >= 2 samples, got {times_np.shape}")
        if values_np.shape[:1] != times_np.shape:
            raise ValueError(
                f"TimeSeries.values must have leading axis {times_np.shape[0]} (one row per "
                f"time), got shape {values_np.shape}"
            )
        check_finite_array("times", times_np, owner="TimeSeries")
        check_finite_array("values", values_np, owner="TimeSeries")
        if np.any(np.diff(times_np) <= 0):
            raise ValueError("TimeSeries.times must be strictly increasing")
        self.times, self.values = jnp.asarray(times_np), jnp.asarray(values_np)

    def __call__(self, t):
        i = jnp.clip(jnp.searchsorted(self.times, t, side="right") - 1, 0, self.times.size - 2)
        t0, t1 = self.times[i], self.times[i + 1]
        frac = jnp.clip((t - t0) / (t1 - t0), 0.0, 1.0)
        return self.values[i] + frac * (self.values[i + 1] - self.values[i])

    @property
    def shape(self):
        return self.values.shape[1:]


class Function(_Deterministic):
    """A user function of time (ms) returning the current; traced into the simulation."""

    fn: Callable = eqx.field(static=True)

    def __call__(self, t):
        return jnp.asarray(self.fn(t), dtype=float)

    @property
    def shape(self):
        return jax.eval_shape(self.fn, 0.0).shape


class Sum(AbstractInput):
    """The sum of several inputs."""

    terms: tuple[AbstractInput, ...]

    def __call__(self, t):
        return sum(term(t) for term in self.terms)

    @property
    def shape(self):
        return jnp.broadcast_shapes(*(term.shape for term in self.terms))

    @property
    def noise_sigma(self):
        sigmas = [term.noise_sigma for term in self.terms if term.noise_sigma is not None]
        if not sigmas:
            return None
        return jnp.sqrt(sum(jnp.square(s) for s in sigmas))  # independent noises add in variance


class WhiteNoise(AbstractInput):
    """A Gaussian white-noise current I(t) = mean(t) + sigma xi(t), <xi(t) xi(t')> = delta(t - t').

    `sigma` is in units of current x ms^(1/2) (scalar or one per neuron). For a LIF neuron,
    tau_m dV/dt = -(V - E_L) + R I, far below threshold, V is an Ornstein-Uhlenbeck process
    with standard deviation R sigma / sqrt(2 tau_m). `simulate` needs a `key` and Euler.

    Example: `WhiteNoise(mean=1.5, sigma=0.5)` or `WhiteNoise(Step(2.0, 10.0, 60.0), 0.3)`.
    """

    mean: AbstractInput
    sigma: Float[Array, "*neurons"]

    def __init__(self, mean=0.0, sigma: Float[ArrayLike, "*neurons"] = 1.0):
        check_parameter("WhiteNoise", "sigma", sigma, lower=0.0)
        self.mean = as_input(mean)
        self.sigma = jnp.asarray(sigma, dtype=float)

    def __call__(self, t):
        return self.mean(t)

    @property
    def shape(self):
        return jnp.broadcast_shapes(self.mean.shape, self.sigma.shape)

    @property
    def noise_sigma(self):
        return self.sigma


def as_input(value) -> AbstractInput:
    """Wrap a number, array or callable as an input module."""
    if isinstance(value, AbstractInput):
        return value
    if callable(value):
        return Function(value)
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"input must be a number, one value per neuron, a function of time or a "
            f"neurodyn.inputs module, got the string {value!r}"
        )
    if jnp.ndim(value) > 1:
        raise ValueError(
            f"input must be a scalar, one value per neuron (1-D), or a function of time; "
            f"got an array of shape {jnp.shape(value)}"
        )
    arr = concrete(value)
    if arr is not None and not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"input must be numeric, got {value!r}")
    check_finite_array("input", value)  # concrete NumPy or JAX arrays; tracers pass
    return Constant(value)
