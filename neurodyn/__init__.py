"""neurodyn: differentiable neural dynamics in JAX.

Neurons are Equinox modules (vector field + spike/reset), integrated by Diffrax through one
`simulate` path; populations are one vector ODE with a neuron axis.
"""

from . import analysis, fit, hopfield, inputs, io, monitors, network, parallel, surrogate, transformer
from .hopfield import ClassicalHopfield, ContinuousHopfield, ModernHopfield
from .neurons import (
    AbstractNeuron,
    AbstractSpikingNeuron,
    AdEx,
    HodgkinHuxley,
    IAF,
    Izhikevich,
    LIF,
    TraubMiles,
)
from .network import Network, Projection, simulate_network
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
    "IAF",
    "Izhikevich",
    "LIF",
    "ModernHopfield",
    "Network",
    "NumericalBlowUpError",
    "Projection",
    "SimState",
    "SimulationResult",
    "TraubMiles",
    "analysis",
    "fit",
    "hopfield",
    "inputs",
    "io",
    "monitors",
    "network",
    "parallel",
    "simulate",
    "simulate_network",
    "surrogate",
    "transformer",
]
