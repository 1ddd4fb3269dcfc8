"""Abstract bases for neuron models.

A neuron model is a vector field over a state pytree (a dict of arrays with a neuron axis)
plus, for spiking models, a spike condition, a reset and a refractory period. Models know
nothing about time stepping: `neurodyn.simulate` integrates every model the same way.

Parameters are fields that may be Python floats (homogeneous population) or arrays with a
neuron axis (heterogeneous population); the code path is the same for both.
"""


import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PyTree

from .._checks import check_parameter, concrete

__all__ = ["AbstractNeuron", "AbstractSpikingNeuron", "State", "check_parameter", "concrete"]

State = dict[str, Float[Array, " neurons"]]


class AbstractNeuron(eqx.Module):
    """A population of neurons: one vector ODE whose state arrays have a neuron axis.

    Subclasses implement `vector_field` and `initial_state`. `state_names` lists the
    state variables in a fixed order (used for recording and error messages).
    """

    state_names: ClassVar[tuple[str, ...]]

    @abc.abstractmethod
    def vector_field(
        self, t: Float[ArrayLike, ""], state: State, input_current: Float[Array, " neurons"]
    ) -> State:
        """d(state)/dt at time t (ms) for the given input."""

    @abc.abstractmethod
    def initial_state(self, n_neurons: int) -> State:
        """The default initial state for n_neurons neurons (the resting state)."""

    @property
    def noisy_variables(self) -> tuple[str, ...]:
        """State variables driven by intrinsic white noise (see `diffusion`); none by default."""
        return ()

    def diffusion(self, t: Float[ArrayLike, ""], state: State) -> State:
        """Noise amplitudes b_k of d(state_k) = f_k dt + b_k dW_k for k in `noisy_variables`."""
        return {}

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the array-valued parameters (for population-size checks)."""
        shapes = {}
        for name, value in self.__dict__.items():
            if eqx.is_array_like(value) and not isinstance(value, bool):
                shape = jnp.shape(value)
                if shape:
                    shapes[name] = shape
        return shapes


class AbstractSpikingNeuron(AbstractNeuron):
    """A neuron that emits spikes when `spike_variable` reaches `threshold`.

    Two kinds of spike detection:
    - integrate-and-fire models (`resets = True`): a spike when v >= threshold; the state is
      then `reset` and the variables in `clamped` are held for `refractory_period` ms.
    - conductance models such as Hodgkin–Huxley (`resets = False`): a spike is an upward
      crossing of `threshold` (a detector, not a mechanism), counted once per action
      potential; `reset` is the identity.
    """

    threshold: eqx.AbstractVar[Float[ArrayLike, "*neurons"]]
    refractory_period: eqx.AbstractVar[Float[ArrayLike, "*neurons"]]

    spike_variable: ClassVar[str] = "v"
    resets: ClassVar[bool] = True
    clamped: ClassVar[tuple[str, ...]] = ("v",)

    # Whether spikes act on the state after each step through `deliver` (networks: synaptic
    # transmission, delays, Poisson sources). Static, so plain populations pay nothing.
    delivers: ClassVar[bool] = False

    # Named groups of neurons, (name, start, stop) with stop exclusive, that population
    # monitors count separately (`RateMonitor`); () means one group "all". A `Network`
    # sets this to its populations.
    populations: ClassVar[tuple[tuple[str, int, int], ...]] = ()

    @property
    def random_events(self) -> bool:
        """Whether `deliver` draws random numbers (e.g. Poisson sources): needs a key."""
        return False

    def delivery_state(self, n_neurons: int, dt: float, dtype) -> PyTree:
        """Extra state that `deliver` carries from step to step (e.g. delay ring buffers)."""
        return ()

    def deliver(
        self, state: State, buffers: PyTree, spiked: Bool[Array, " neurons"], step: Int[Array, ""], key,
        dt: float,
    ) -> tuple[State, PyTree]:
        """Apply this step's spikes (after threshold and reset) at the end of global `step`.

        `key` is a PRNG key unique to this step (None if the run has no key), so draws are
        the same whether a run is done in one call or in chunks.
        """
        return state, buffers

    def reset(self, state: State, spiked: Bool[Array, " neurons"]) -> State:
        """The state after the neurons in `spiked` fire (identity by default)."""
        return state

    def threshold_distance(self, state: State) -> Float[Array, " neurons"]:
        """spike_variable − threshold: crosses zero upwards at a spike (for root finding)."""
        return state[self.spike_variable] - self.threshold

    def spiked(self, before: State, after: State) -> Bool[Array, " neurons"]:
        """Which neurons spiked during a step from `before` to `after`."""
        above = self.threshold_distance(after) >= 0
        if self.resets:
            return above
        return above & (self.threshold_distance(before) < 0)
