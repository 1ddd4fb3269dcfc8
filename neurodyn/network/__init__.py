"""Networks of spiking populations: sparse connectivity, synapses, delays, delivery."""

from .connectivity import (
    Connectivity,
    estimate_memory,
    fixed_in_degree,
    fixed_out_degree,
    fixed_probability,
    fixed_total_number,
    fixed_total_number_blocks,
    from_lists,
    one_to_one,
)
from .distributions import Normal, Uniform

__all__ = [
    "Connectivity",
    "Normal",
    "Uniform",
    "estimate_memory",
    "fixed_in_degree",
    "fixed_out_degree",
    "fixed_probability",
    "fixed_total_number",
    "fixed_total_number_blocks",
    "from_lists",
    "one_to_one",
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
from .plasticity import STDP, AbstractPlasticity, PlasticState, TripletSTDP
from .short_term import AbstractShortTermPlasticity, TsodyksSynapse, UXSynapse
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
    "AbstractShortTermPlasticity",
    "AbstractPlasticity",
    "PlasticState",
    "STDP",
    "TripletSTDP",
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
    "TsodyksSynapse",
    "UXSynapse",
    "WithJumps",
]
