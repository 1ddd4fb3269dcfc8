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
from .exact import ExactIntegration, WithJumps
from .network import (
    DCCurrent,
    Network,
    PoissonDrive,
    PoissonGroup,
    PoissonInput,
    Projection,
    random_initial_state,
    simulate_network,
)
from .synapses import (
    AbstractSynapse,
    AlphaConductanceSynapse,
    AlphaCurrentSynapse,
    ConductanceSynapse,
    CurrentSynapse,
    DeltaSynapse,
    OUCurrent,
)

__all__ += [
    "AbstractSynapse",
    "AlphaConductanceSynapse",
    "AlphaCurrentSynapse",
    "ConductanceSynapse",
    "CurrentSynapse",
    "DCCurrent",
    "DeltaSynapse",
    "ExactIntegration",
    "Network",
    "OUCurrent",
    "PoissonDrive",
    "PoissonGroup",
    "PoissonInput",
    "Projection",
    "random_initial_state",
    "simulate_network",
    "WithJumps",
]
