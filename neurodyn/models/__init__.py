"""Ready-made networks with their published parameters: the Brette et al. (2007) benchmarks
and the Potjans & Diesmann (2014) cortical microcircuit.

    >>> import jax, neurodyn as nd
    >>> from neurodyn.models import coba
    >>> built = coba(4000, key=jax.random.key(1), variant="driven")
    >>> result = built.simulate(1000.0)          # dt = 0.1 ms, +20 mV drive: ≈ 21.5 Hz

- `coba` (benchmark 1, Vogels & Abbott 2005; variants "brette" and "driven"),
- `cuba` (benchmark 2, Brian2's CUBA example),
- `cobahh` (benchmark 3, Brian2's COBAHH example, Traub–Miles neurons),
- `potjans_diesmann` (the PD14 microcircuit as NEST 3's `Potjans_2014` example builds it).

Each returns a `BuiltNetwork`: the `Network`, its initial state drawn from the published
distribution, the drive, dt and the reference simulator's solver. Each module's docstring
lists the published parameters and their sources.
"""

from ._built import BuiltNetwork
from .coba import coba, coba_neuron, coba_synapses
from .cobahh import cobahh, cobahh_initial_state, cobahh_network
from .cuba import cuba
from .potjans_diesmann import potjans_diesmann

__all__ = [
    "BuiltNetwork", "coba", "coba_neuron", "coba_synapses", "cobahh", "cobahh_initial_state",
    "cobahh_network", "cuba", "potjans_diesmann",
]
