"""neurodyn: differentiable neural dynamics in JAX.

Neurons are Equinox modules (vector field + spike/reset), integrated by Diffrax through one
`simulate` path; populations are one vector ODE with a neuron axis.

This module is the public API. Implementation modules are private (`neurodyn._clock`,
`neurodyn._simulate`, ...); the subpackages below are public namespaces.
"""

from . import (
    analysis,
    fit,
    hopfield,
    inputs,
    io,
    models,
    monitors,
    network,
    parallel,
    plot,
    surrogate,
    transformer,
)
from ._adjoint import solve_trace
from ._simulate import simulate
from ._state import NumericalBlowUpError, SimState, SimulationResult
from .hopfield import ClassicalHopfield, ContinuousHopfield, ModernHopfield
from .monitors import (
    AbstractMonitor,
    RateMonitor,
    SpikeMonitor,
    StateMonitor,
    WeightMonitor,
    load_state,
    load_stream,
    save_state,
)
from .network import Network, Projection, simulate_network
from .neurons import (
    IAF,
    LIF,
    AbstractNeuron,
    AbstractSpikingNeuron,
    AdEx,
    HodgkinHuxley,
    Izhikevich,
    TraubMiles,
)
from .solvers import ExponentialEuler

__version__ = "0.1.0"

__all__ = [
    "AbstractMonitor",
    "AbstractNeuron",
    "AbstractSpikingNeuron",
    "AdEx",
    "ClassicalHopfield",
    "ContinuousHopfield",
    "ExponentialEuler",
    "HodgkinHuxley",
    "IAF",
    "Izhikevich",
    "LIF",
    "ModernHopfield",
    "Network",
    "NumericalBlowUpError",
    "Projection",
    "RateMonitor",
    "SimState",
    "SimulationResult",
    "SpikeMonitor",
    "StateMonitor",
    "TraubMiles",
    "WeightMonitor",
    "analysis",
    "fit",
    "hopfield",
    "inputs",
    "io",
    "load_state",
    "load_stream",
    "models",
    "monitors",
    "network",
    "parallel",
    "plot",
    "save_state",
    "simulate",
    "simulate_network",
    "solve_trace",
    "surrogate",
    "transformer",
]
