"""Abstract bases for neuron models, in Equinox's abstract/final pattern.

A neuron model is a vector field over a state pytree (a dict of arrays with a neuron axis)
plus, for spiking models, a spike condition, a reset and a refractory period. Models know
nothing about time stepping: `neurodyn.simulate` integrates every model the same way.

Parameters are fields that may be Python floats (homogeneous population) or arrays with a
neuron axis (heterogeneous population); the code path is the same for both.

Every class here is abstract; every model is final (it is instantiated, never subclassed),
and only abstract methods and attributes are implemented by a subclass, never a concrete one
overridden (https://docs.kidger.site/equinox/pattern/). Two kinds of class:

- interfaces, all abstract, that `simulate` and the monitors program against:
  `AbstractNeuron` and `AbstractSpikingNeuron` (`neurodyn.network.Network` implements the
  latter for coupled populations);
- partial implementations that a model file builds on: `AbstractPopulation` (one
  population, parameters as fields, no intrinsic noise), `AbstractSpikingPopulation` (adds
  threshold detection, nothing delivered) and its two kinds, `AbstractIntegrateAndFire`
  (reset and clamp) and `AbstractConductanceNeuron` (upward crossings, no reset).

    >>> class Leak(AbstractPopulation):            # τ dv/dt = −v + I, τ = 1 ms
    ...     state_names: ClassVar[tuple[str, ...]] = ("v",)
    ...     def vector_field(self, t, state, input_current):
    ...         return {"v": -state["v"] + input_current}
    ...     def initial_state(self, n_neurons):
    ...         return {"v": jnp.zeros(n_neurons)}

Equinox 0.13 no longer checks the pattern (its `strict=True` is a no-op kept for
compatibility); tests/test_neurons.py checks it for every class in the package instead.
"""

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PyTree

from .._checks import check_parameter, concrete

__all__ = [
    "AbstractConductanceNeuron",
    "AbstractIntegrateAndFire",
    "AbstractNeuron",
    "AbstractPopulation",
    "AbstractSpikingNeuron",
    "AbstractSpikingPopulation",
    "InitialState",
    "State",
    "check_parameter",
    "concrete",
    "field_shapes",
]

State = dict[str, Float[Array, " neurons"]]
# A state as a user gives it (initial_state=): each variable a scalar or one value per neuron.
InitialState = dict[str, Float[ArrayLike, "*neurons"]]

# (name, start, stop), stop exclusive: a named group of neurons.
Populations = tuple[tuple[str, int, int], ...]


# --------------------------------------------------------------------------- interfaces


class AbstractNeuron(eqx.Module):
    """A population of neurons: one vector ODE whose state arrays have a neuron axis.

    Attributes:
        state_names: the state variables in a fixed order (recording, error messages).
        noisy_variables: the variables driven by intrinsic white noise (see `diffusion`).
        populations: named groups of neurons, (name, start, stop) with stop exclusive, that
            population monitors count separately (`RateMonitor`); () means one group "all".
    """

    state_names: eqx.AbstractVar[tuple[str, ...]]
    noisy_variables: eqx.AbstractVar[tuple[str, ...]]
    populations: eqx.AbstractVar[Populations]

    @abc.abstractmethod
    def vector_field(
        self, t: Float[ArrayLike, ""], state: State, input_current: Float[ArrayLike, "*neurons"]
    ) -> State:
        """d(state)/dt at time t (ms) for the given input."""

    @abc.abstractmethod
    def initial_state(self, n_neurons: int) -> State:
        """The default initial state for n_neurons neurons (the resting state)."""

    @abc.abstractmethod
    def diffusion(self, t: Float[ArrayLike, ""], state: State) -> State:
        """Noise amplitudes b_k of d(state_k) = f_k dt + b_k dW_k for k in `noisy_variables`."""

    @abc.abstractmethod
    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the parameters that have a neuron axis (for population-size checks)."""


class AbstractSpikingNeuron(AbstractNeuron):
    """A neuron that emits spikes when `spike_variable` reaches `threshold`.

    Two kinds of spike detection:
    - integrate-and-fire models (`resets = True`): a spike when v >= threshold; the state is
      then `reset` and the variables in `clamped` are held for `refractory_period` ms.
    - conductance models such as Hodgkin–Huxley (`resets = False`): a spike is an upward
      crossing of `threshold` (a detector, not a mechanism), counted once per action
      potential; `reset` is the identity.

    Attributes:
        delivers: whether spikes act on the state after each step through `deliver`
            (networks: synaptic transmission, delays, Poisson sources). Static, so plain
            populations pay nothing.
        random_events: whether `deliver` draws random numbers (Poisson sources): the run
            then needs a key.
    """

    threshold: eqx.AbstractVar[Float[ArrayLike, "*neurons"]]
    refractory_period: eqx.AbstractVar[Float[ArrayLike, "*neurons"]]
    spike_variable: eqx.AbstractVar[str]
    resets: eqx.AbstractVar[bool]
    clamped: eqx.AbstractVar[tuple[str, ...]]
    delivers: eqx.AbstractVar[bool]
    random_events: eqx.AbstractVar[bool]

    @abc.abstractmethod
    def reset(self, state: State, spiked: Bool[Array, " neurons"]) -> State:
        """The state after the neurons in `spiked` fire."""

    @abc.abstractmethod
    def threshold_distance(self, state: State) -> Float[Array, " neurons"]:
        """spike_variable − threshold: crosses zero upwards at a spike (for root finding)."""

    @abc.abstractmethod
    def spiked(self, before: State, after: State) -> Bool[Array, " neurons"]:
        """Which neurons spiked during a step from `before` to `after`."""

    @abc.abstractmethod
    def delivery_state(self, n_neurons: int, dt: float, dtype) -> PyTree:
        """Extra state that `deliver` carries from step to step (e.g. delay ring buffers)."""

    @abc.abstractmethod
    def deliver(
        self, state: State, buffers: PyTree, spiked: Bool[Array, " neurons"], step: Int[Array, ""], key,
        dt: float,
    ) -> tuple[State, PyTree]:
        """Apply this step's spikes (after threshold and reset) at the end of global `step`.

        `key` is a PRNG key unique to this step (None if the run has no key), so draws are
        the same whether a run is done in one call or in chunks.
        """


# --------------------------------------------------------------------------- partial implementations


def field_shapes(model: eqx.Module) -> dict[str, tuple[int, ...]]:
    """Shapes of a model's array-valued fields (scalars, bools and static fields left out)."""
    shapes = {}
    for name, value in model.__dict__.items():
        if eqx.is_array_like(value) and not isinstance(value, bool):
            shape = jnp.shape(value)
            if shape:
                shapes[name] = shape
    return shapes


class AbstractPopulation(AbstractNeuron):
    """One population whose parameters are its fields (scalar or one value per neuron).

    No intrinsic noise (noise enters through the input, `neurodyn.inputs`) and one group of
    neurons. A subclass provides `state_names`, `vector_field` and `initial_state`.
    """

    noisy_variables: ClassVar[tuple[str, ...]] = ()
    populations: ClassVar[Populations] = ()

    def diffusion(self, t: Float[ArrayLike, ""], state: State) -> State:
        return {}

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        return field_shapes(self)


class AbstractSpikingPopulation(AbstractSpikingNeuron, AbstractPopulation):
    """A population of spiking neurons whose spikes act on nothing (no `deliver`).

    A spike is `spike_variable` ("v") at or above `threshold` after a step (`resets`), or
    an upward crossing of it during the step (no reset).
    """

    spike_variable: ClassVar[str] = "v"
    delivers: ClassVar[bool] = False
    random_events: ClassVar[bool] = False

    def threshold_distance(self, state: State) -> Float[Array, " neurons"]:
        return state[self.spike_variable] - self.threshold

    def spiked(self, before: State, after: State) -> Bool[Array, " neurons"]:
        above = self.threshold_distance(after) >= 0
        if self.resets:
            return above
        return above & (self.threshold_distance(before) < 0)

    def delivery_state(self, n_neurons: int, dt: float, dtype) -> PyTree:
        return ()

    def deliver(
        self, state: State, buffers: PyTree, spiked: Bool[Array, " neurons"], step: Int[Array, ""], key,
        dt: float,
    ) -> tuple[State, PyTree]:
        return state, buffers


class AbstractIntegrateAndFire(AbstractSpikingPopulation):
    """A spike at v >= threshold, then `reset`; v is held for `refractory_period` ms.

    A subclass provides `reset` (e.g. v ← V_reset, and adaptation jumps).
    """

    resets: ClassVar[bool] = True
    clamped: ClassVar[tuple[str, ...]] = ("v",)


class AbstractConductanceNeuron(AbstractSpikingPopulation):
    """A spike is an upward crossing of `threshold` (a detector only): no reset, no clamp.

    The action potential is the vector field's own (Hodgkin–Huxley type); the refractory
    period only stops a second count of the same crossing.
    """

    resets: ClassVar[bool] = False
    clamped: ClassVar[tuple[str, ...]] = ()

    def reset(self, state: State, spiked: Bool[Array, " neurons"]) -> State:
        return state
