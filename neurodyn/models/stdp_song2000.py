"""STDP onto one neuron: Song, Miller & Abbott (2000), as in Brian2's STDP example.

N Poisson inputs at F Hz drive one conductance-based LIF neuron through excitatory synapses
with additive pair-based STDP (`neurodyn.network.STDP`, all-to-all, hard bounds [0, gmax]).
Depression slightly dominates (A₋/A₊ = 1.05), so the competition between inputs drives the
weights to a bimodal distribution (most near 0 or gmax) and the output rate down (Song,
Miller & Abbott 2000, Nat Neurosci 3:919, Fig. 2).

Equations and parameters (Brian2 2.9 example `synapses/STDP.py`, after Song et al. 2000 and
Song & Abbott 2001):

    τm dv/dt = ge (Ee − v) + El − v,   dge/dt = −ge/τe;   v > vt: v ← vr
    N = 1000, F = 15 Hz, τm = 10 ms, Ee = 0 mV, vt = −54 mV, vr = −60 mV, El = −74 mV,
    τe = 5 ms; gmax = 0.01, A₊ = 0.01 gmax (dApre), A₋ = 1.05 A₊ (−dApost), τ₊ = τ₋ = 20 ms;
    w ~ U(0, gmax) initially; dt = 0.1 ms, forward Euler.

The neuron starts at El (Brian2's example leaves v at 0 mV, one spike at the first step).
"""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp
from jaxtyping import ArrayLike, Float, PRNGKeyArray

from ..network import STDP, ConductanceSynapse, Connectivity, Network, PoissonGroup, Projection
from ..neurons import LIF
from ._built import BuiltNetwork

DT = 0.1  # ms
N_INPUTS = 1000
RATE_HZ = 15.0
G_MAX = 0.01
A_PLUS = 0.01 * G_MAX  # dApre
A_MINUS = 1.05 * A_PLUS  # −dApost (τpre = τpost)
TAU = 20.0  # ms, τpre = τpost


def song2000(n_inputs: int = N_INPUTS, *, key: PRNGKeyArray, rate: float = RATE_HZ,
             a_plus: Float[ArrayLike, ""] = A_PLUS, a_minus: Float[ArrayLike, ""] = A_MINUS,
             g_max: float = G_MAX) -> BuiltNetwork:
    """The Song–Miller–Abbott network: `n_inputs` Poisson sources → one LIF neuron ("out").

    Arguments:
        n_inputs: number of Poisson inputs (published example: 1000).
        key: PRNG key of the initial weights w ~ U(0, g_max) (the spikes draw from the key
            given to `simulate`).
        rate: input rate in Hz (15); a_plus, a_minus, g_max: the STDP rule (defaults above).

    Returns:
        A `BuiltNetwork`; the projection "in->out" is plastic: read its weights with
        `built.network.plastic_weights(result.final_state)["in->out"]` (shape (n_inputs, 1)).
    """
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
        raise ValueError(f"n_inputs must be an integer >= 1, got {n_inputs!r}")
    w0 = jax.random.uniform(key, (n_inputs, 1), maxval=g_max)
    conn = Connectivity(jnp.zeros((n_inputs, 1), jnp.int32), w0, n_inputs, 1)
    rule = STDP(a_plus=a_plus, a_minus=a_minus, tau_plus=TAU, tau_minus=TAU, w_max=g_max)
    net = Network(
        LIF(tau_m=10.0, v_rest=-74.0, threshold=-54.0, v_reset=-60.0, refractory_period=0.0),
        [ConductanceSynapse("ge", tau=5.0, reversal=0.0)],
        {"out": 1},
        [Projection("in", "out", conn, "ge", plasticity=rule)],
        sources=[PoissonGroup("in", n_inputs, rate)],
    )
    return BuiltNetwork(net, net.initial_state(), 0.0, DT, diffrax.Euler())


__all__ = ["song2000"]
