"""neurodyn: differentiable neural dynamics in JAX.

Neurons are Equinox modules (vector field + spike/reset), integrated by Diffrax through one
`simulate` path; populations are one vector ODE with a neuron axis.
"""

from . import hopfield, inputs
from .hopfield import ClassicalHopfield, ContinuousHopfield, ModernHopfield
from .neurons import (
    AbstractNeuron,
    AbstractSpikingNeuron,
    AdEx,
    HodgkinHuxley,
    Izhikevich,
    LIF,
    TraubMiles,
)
from .simulate import NumericalBlowUpError, SimState, SimulationResult, simulate
from .solvers import ExponentialEuler

__version__ = "0.1.0"

__all__ = [
    "AbstractNeuron",
    "AbstractSpikingNeuron",
    "AdEx",
    "ClassicalHopfield",
    "ContinuousHopfield",
    "ExponentialEuler",
    "HodgkinHuxley",
    "Izhikevich",
    "LIF",
    "ModernHopfield",
    "NumericalBlowUpError",
    "SimState",
    "SimulationResult",
    "TraubMiles",
    "hopfield",
    "inputs",
    "simulate",
]
