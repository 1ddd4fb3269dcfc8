"""COBAHH: the conductance-based Hodgkin–Huxley network of Brette et al. (2007),
benchmark 3, as in Brian2's COBAHH example, in the units of `neurodyn.TraubMiles`
(mV, ms, nA, µS, nF):

    C dV/dt = −I_Na − I_Kd − g_L(V − E_L) + g_e(E_e − V) + g_i(E_i − V)
    dg_e/dt = −g_e/τ_e (5 ms, E_e = 0 mV),  dg_i/dt = −g_i/τ_i (10 ms, E_i = −80 mV)
    a spike (upward crossing of −20 mV, 3 ms refractory) adds w_e = 0.006 µS (6 nS) or
    w_i = 0.067 µS (67 nS) to the targets' g.

Published parameters (Brette et al. 2007, J. Comput. Neurosci. 23:349–398, benchmark 3;
Traub & Miles 1991 channel kinetics): area 20 000 µm², Cm = 1 µF/cm² (200 pF),
gL = 0.05 mS/cm² (10 nS), ḡNa = 100 mS/cm² (20 µS), ḡKd = 30 mS/cm² (6 µS), EL = −60,
EK = −90, ENa = 50 mV, VT = −63 mV (the `TraubMiles` defaults); N = 4000 (80 % E),
p = 0.02, no delay, dt = 0.1 ms, exponential Euler (Brian2's method).

Initial state (Brian2's COBAHH example): V = EL + 5·N(0,1) − 5 mV, g_e = (1.5·N(0,1) + 4)·10 nS,
g_i = (12·N(0,1) + 20)·10 nS, and the gates m = h = n = 0 (Brian2 leaves them at their
default 0; `gates="steady"` starts them at x∞(V) instead).

Rate: 36–38 Hz in an independent NumPy re-implementation (2 seeds; not a published figure;
`tests/test_network_cobahh.py` holds that implementation).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._checks import check_int
from ..network import ConductanceSynapse, Connectivity, Network, Projection, fixed_probability
from ..neurons import TraubMiles
from ..neurons.traub_miles import traub_miles_gate_steady_states
from ..solvers import ExponentialEuler
from ._built import BuiltNetwork

DT = 0.1  # ms
N = 4000
P_CONNECT = 0.02
W_E = 0.006  # µS (6 nS)
W_I = 0.067  # µS (67 nS)
E_L = -60.0  # mV (TraubMiles default)
GATES = ("zero", "steady")


def cobahh_network(n: int, conn_e: Connectivity, conn_i: Connectivity) -> Network:
    """The COBAHH network on given E → all and I → all connectivity (weights in µS)."""
    n_e = conn_e.n_pre
    synapses = [ConductanceSynapse("ge", tau=5.0, reversal=0.0), ConductanceSynapse("gi", tau=10.0, reversal=-80.0)]
    projections = [Projection("E", "all", conn_e, "ge"), Projection("I", "all", conn_i, "gi")]
    return Network(TraubMiles(), synapses, {"E": n_e, "I": n - n_e}, projections)


def cobahh_initial_state(
    z: Float[np.ndarray, "3 neurons"] | Float[Array, "3 neurons"], gates: str = "zero"
) -> dict[str, Float[ArrayLike, " neurons"]]:
    """Brian2's initial state from standard normals z of shape (3, n) (for V, g_e, g_i)."""
    if gates not in GATES:
        raise ValueError(f"gates must be one of {GATES}, got {gates!r}")
    v = E_L + 5.0 * z[0] - 5.0
    y = {"v": v, "ge": (1.5 * z[1] + 4.0) * 0.01, "gi": (12.0 * z[2] + 20.0) * 0.01}  # 10 nS = 0.01 µS
    if gates == "zero":
        y.update(m=jnp.zeros_like(v), h=jnp.zeros_like(v), n=jnp.zeros_like(v))
    else:
        y.update(traub_miles_gate_steady_states(v))
    return y


def cobahh(n: int = N, *, key: PRNGKeyArray, gates: str = "zero") -> BuiltNetwork:
    """The COBAHH network with fixed-probability connectivity (p = 0.02, self connections
    allowed as Brian2's `connect(p=0.02)`) and its initial state.

    `key` is split into (excitatory connections, inhibitory connections, initial state).
    Returns a `BuiltNetwork` with dt = 0.1 ms and `ExponentialEuler()`.
    """
    n = check_int("n", n, lower=2, meaning="excitatory and inhibitory neurons")
    if gates not in GATES:
        raise ValueError(f"gates must be one of {GATES}, got {gates!r}")
    n_e = int(round(0.8 * n))
    k_e, k_i, k_0 = jax.random.split(key, 3)
    conn_e = fixed_probability(k_e, n_e, n, P_CONNECT, W_E)
    conn_i = fixed_probability(k_i, n - n_e, n, P_CONNECT, W_I)
    y0 = cobahh_initial_state(jax.random.normal(k_0, (3, n)), gates)
    return BuiltNetwork(cobahh_network(n, conn_e, conn_i), y0, 0.0, DT, ExponentialEuler())


__all__ = ["cobahh", "cobahh_initial_state", "cobahh_network"]
