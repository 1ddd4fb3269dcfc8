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
