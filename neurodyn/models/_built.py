"""`BuiltNetwork`: a ready-made network with its initial state, drive, step and solver."""

from __future__ import annotations

import diffrax
import equinox as eqx
from jaxtyping import Array, Float

from ..network import Network, simulate_network


class BuiltNetwork(eqx.Module):
    """A network as published: what to simulate and how.

    Attributes:
        network: the `Network` (neurons, receptors, projections).
        initial_state: {variable: (neurons,)} array, drawn from the published distribution.
        input: the constant drive added to the membrane equation (mV for the LIF models,
            whose τm dV/dt takes an R·I term with R = 1; 0 when the model has none).
        dt: the published integration step (ms).
        solver: the Diffrax solver the reference simulator uses.
    """

    network: Network
    initial_state: dict[str, Float[Array, " neurons"]]
    input: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    solver: diffrax.AbstractSolver

    def simulate(self, t1: float, **kwargs):
        """`simulate_network(network, t1, dt, input=, initial_state=, solver=)`; keyword
        arguments (monitors, `max_spikes`, `solver=` …) pass through and take precedence."""
        kw = dict(input=self.input, initial_state=self.initial_state, solver=self.solver) | kwargs
        return simulate_network(self.network, t1, self.dt, **kw)
