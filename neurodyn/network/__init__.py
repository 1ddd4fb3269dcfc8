"""Networks of spiking populations: sparse connectivity, synapses, delays, delivery."""

from .connectivity import (
    Connectivity,
    fixed_in_degree,
    fixed_out_degree,
    fixed_probability,
    from_lists,
)

__all__ = [
    "Connectivity",
    "fixed_in_degree",
    "fixed_out_degree",
    "fixed_probability",
    "from_lists",
]
from .network import (
    Network,
    PoissonGroup,
    PoissonInput,
    Projection,
    random_initial_state,
    simulate_network,
)
from .synapses import AbstractSynapse, ConductanceSynapse, CurrentSynapse, OUCurrent

__all__ += [
    "AbstractSynapse",
    "ConductanceSynapse",
    "CurrentSynapse",
    "Network",
    "OUCurrent",
    "PoissonGroup",
    "PoissonInput",
    "Projection",
    "random_initial_state",
    "simulate_network",
]
