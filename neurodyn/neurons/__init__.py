"""Neuron models: vector fields, spike conditions, resets and their default parameters."""

from .adex import AdEx
from .base import (
    AbstractConductanceNeuron,
    AbstractIntegrateAndFire,
    AbstractNeuron,
    AbstractPopulation,
    AbstractSpikingNeuron,
    AbstractSpikingPopulation,
    State,
    check_parameter,
    field_shapes,
)
from .hodgkin_huxley import HodgkinHuxley, gate_steady_states, hh_rates
from .iaf import IAF
from .izhikevich import Izhikevich
from .lif import LIF
from .traub_miles import TraubMiles, traub_miles_gate_steady_states, traub_miles_rates

__all__ = [
    "AbstractConductanceNeuron",
    "AbstractIntegrateAndFire",
    "AbstractNeuron",
    "AbstractPopulation",
    "AbstractSpikingNeuron",
    "AbstractSpikingPopulation",
    "AdEx",
    "HodgkinHuxley",
    "IAF",
    "Izhikevich",
    "LIF",
    "State",
    "TraubMiles",
    "check_parameter",
    "field_shapes",
    "gate_steady_states",
    "hh_rates",
    "traub_miles_gate_steady_states",
    "traub_miles_rates",
]
