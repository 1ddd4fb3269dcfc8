"""CUBA: the current-based LIF network of Brette et al. (2007), benchmark 2, as in Brian2's
CUBA example.

Equations (V, ge, gi in mV):

    τm dV/dt = −(V − EL) + ge + gi,   dge/dt = −ge/τe,   dgi/dt = −gi/τi
    a spike (V > Vth) resets V to Vr and holds it for 5 ms; it adds we to ge (excitatory
    sources) or wi to gi (inhibitory sources) of its targets.

Parameters (Brian2 example CUBA; Brette et al. 2007, J. Comput. Neurosci. 23:349–398,
benchmark 2): N = 4000 (3200 E, 800 I), τm = 20 ms, τe = 5 ms, τi = 10 ms, Vth = −50 mV,
Vr = −60 mV, EL = −49 mV, refractory 5 ms, we = 1.62 mV, wi = −9 mV, p = 0.02 (self
connections allowed), dt = 0.1 ms, V(0) ~ U(Vr, Vth), ge(0) = gi(0) = 0.

Brian2 writes dv/dt = (ge + gi − (v − El))/τm with ge, gi in volts: that is neurodyn's LIF
(τm dV/dt = −(V − EL) + R·I, R = 1) with I = ge + gi from two `CurrentSynapse`s, so a weight
means the same thing in both (the jump of g in mV). Brian2 integrates the linear system
exactly (method='exact'); the default here is `ExponentialEuler` (each variable's own
linear equation solved exactly over the step, the others frozen at the step start).
"""

from __future__ import annotations

import jax
from jaxtyping import PRNGKeyArray

from .._checks import check_int
from ..network import CurrentSynapse, Network, Projection, fixed_probability
from ..neurons import LIF
from ..solvers import ExponentialEuler
from ._built import BuiltNetwork

DT = 0.1  # ms
N = 4000
# ms, mV: Brian2 example CUBA
PARAMS = dict(tau_m=20.0, tau_e=5.0, tau_i=10.0, v_rest=-49.0, threshold=-50.0, v_reset=-60.0,
              refractory=5.0, w_e=1.62, w_i=-9.0, p=0.02)


def cuba(n: int = N, *, key: PRNGKeyArray) -> BuiltNetwork:
    """The CUBA network of `n` neurons (80 % excitatory) and its initial state V ~ U(Vr, Vth).

    `key` is split into (excitatory connections, inhibitory connections, initial state).
    Returns a `BuiltNetwork` with dt = 0.1 ms and `ExponentialEuler()`.
    """
    n = check_int("n", n, lower=2, meaning="excitatory and inhibitory neurons")
    P = PARAMS
    n_e = int(round(0.8 * n))
    k_e, k_i, k_0 = jax.random.split(key, 3)
    neuron = LIF(tau_m=P["tau_m"], v_rest=P["v_rest"], threshold=P["threshold"],
                 v_reset=P["v_reset"], refractory_period=P["refractory"])
    synapses = [CurrentSynapse("ge", tau=P["tau_e"]), CurrentSynapse("gi", tau=P["tau_i"])]
    projections = [
        Projection("E", "all", fixed_probability(k_e, n_e, n, P["p"], P["w_e"]), "ge"),
        Projection("I", "all", fixed_probability(k_i, n - n_e, n, P["p"], P["w_i"]), "gi"),
    ]
    net = Network(neuron, synapses, {"E": n_e, "I": n - n_e}, projections)
    v0 = jax.random.uniform(k_0, (n,), minval=P["v_reset"], maxval=P["threshold"])
    return BuiltNetwork(net, {"v": v0}, 0.0, DT, ExponentialEuler())


__all__ = ["cuba"]
