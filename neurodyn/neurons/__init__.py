"""Neuron models: vector fields, spike conditions, resets and their default parameters."""

from .adex import AdEx
from .base import AbstractNeuron, AbstractSpikingNeuron, State, check_parameter
from .hodgkin_huxley import HodgkinHuxley, gate_steady_states, hh_rates
from .izhikevich import Izhikevich
from .lif import LIF

__all__ = [
    "AbstractNeuron",
    "AbstractSpikingNeuron",
    "AdEx",
    "HodgkinHuxley",
    "Izhikevich",
    "LIF",
    "State",
    "check_parameter",
    "gate_steady_states",
    "hh_rates",
]
