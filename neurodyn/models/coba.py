"""COBA: the conductance-based LIF network of Brette et al. (2007), benchmark 1, after
Vogels & Abbott (2005), in two variants.

Equations (V in mV; ge, gi in units of the leak conductance gL, so dimensionless):

    τm dV/dt = −(V − EL) + ge (Ee − V) + gi (Ei − V) [+ I_drive]
    dge/dt = −ge/τe,   dgi/dt = −gi/τi
    a spike (V ≥ Vth) resets V to Vr and holds it for the refractory period; it adds
    we to ge (excitatory sources) or wi to gi (inhibitory sources) of its targets.

Published parameters (Brette et al. 2007, J. Comput. Neurosci. 23:349–398, Appendix B
benchmark 1; Vogels & Abbott 2005, J. Neurosci. 25:10786–10795):
    N = 4000 neurons, 3200 excitatory (80 %), 800 inhibitory; connection probability 0.02,
    no delay; dt = 0.1 ms.
    τm = 20 ms (Cm = 200 pF, gL = 10 nS), EL = −60 mV, Vth = −50 mV, Vr = −60 mV,
    refractory 5 ms.
    τe = 5 ms, τi = 10 ms, Ee = 0 mV, Ei = −80 mV; we = 6 nS = 0.6 gL, wi = 67 nS = 6.7 gL.
Initial state (Brian2's example of this network):
    V ~ N(−55, 5) mV, ge ~ N(4, 1.5)/10, gi ~ N(20, 12)/10 (units of gL).

Variants:
- "brette": the published network, self-sustained. Its activity is bistable: in Brian2
  2.9.0 one seed of three ran at 19.3 Hz, two others died out (≈ 0.35 Hz).
- "driven" (after BrainPy's E/I benchmark): connection probability 80/N (mean in-degree
  80, so the network scales with N) and a constant drive of +20 mV on the right-hand side.
  Brian2 2.9.0 (`connect(p=80/N)`, method='euler') gives 21.5 Hz at N = 4000 (seed 1, 1 s
  and 10 s); an independent JAX re-implementation of the same equations gave 21.1–22.2 Hz.
  (BrainPy's own example differs in details and reports ≈ 50.6 Hz.)

Connections follow Brian2's `Synapses.connect(p=...)`: each pair independently, self
connections allowed.
"""

from __future__ import annotations

import diffrax
import jax
from jaxtyping import PRNGKeyArray

from .._checks import check_int
from ..network import ConductanceSynapse, Network, Projection, fixed_probability, random_initial_state
from ..neurons import LIF
from ._built import BuiltNetwork

DT = 0.1  # ms, Brette et al. (2007)
N = 4000  # neurons, Brette et al. (2007)
EXCITATORY_FRACTION = 0.8  # 3200 of 4000
P_CONNECT = 0.02  # Brette et al. (2007)
IN_DEGREE_DRIVEN = 80.0  # driven variant: p = 80/N
DRIVE_MV = 20.0  # driven variant
W_E = 0.6  # we = 6 nS / gL (gL = 10 nS)
W_I = 6.7  # wi = 67 nS / gL
VARIANTS = ("brette", "driven")


def coba_neuron() -> LIF:
    """The COBA neuron: τm = 20 ms, EL = Vr = −60 mV, Vth = −50 mV, 5 ms refractory."""
    return LIF(tau_m=20.0, v_rest=-60.0, threshold=-50.0, v_reset=-60.0, refractory_period=5.0)


def coba_synapses() -> list[ConductanceSynapse]:
    """ge (τe = 5 ms, Ee = 0 mV) and gi (τi = 10 ms, Ei = −80 mV), in units of gL."""
    return [ConductanceSynapse("ge", tau=5.0, reversal=0.0), ConductanceSynapse("gi", tau=10.0, reversal=-80.0)]


def coba(n: int = N, *, key: PRNGKeyArray, variant: str = "brette") -> BuiltNetwork:
    """The COBA network of `n` neurons (80 % excitatory) and its Brian2-example initial state.

    Arguments:
        n: number of neurons (published: 4000).
        key: PRNG key; split into (excitatory connections, inhibitory connections, initial
            state), so one key gives one network.
        variant: "brette" (p = 0.02, self-sustained) or "driven" (p = 80/n, +20 mV drive).

    Returns:
        A `BuiltNetwork` with dt = 0.1 ms and forward Euler (Brian2's runs of these
        networks used method='euler'; `neurodyn.ExponentialEuler()` is the method of Brian2's
        COBA example: pass `solver=` to `.simulate`).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    n = check_int("n", n, lower=2, meaning="excitatory and inhibitory neurons")
    n_e = int(round(EXCITATORY_FRACTION * n))
    p = P_CONNECT if variant == "brette" else IN_DEGREE_DRIVEN / n
    if not p <= 1:
        raise ValueError(f"n must be >= {int(IN_DEGREE_DRIVEN)} for the driven variant (p = 80/n), got {n}")
    k_e, k_i, k_0 = jax.random.split(key, 3)
    projections = [
        Projection("E", "all", fixed_probability(k_e, n_e, n, p, W_E), "ge"),
        Projection("I", "all", fixed_probability(k_i, n - n_e, n, p, W_I), "gi"),
    ]
    net = Network(coba_neuron(), coba_synapses(), {"E": n_e, "I": n - n_e}, projections)
    y0 = random_initial_state(k_0, net, {"v": -55.0, "ge": 0.4, "gi": 2.0}, {"v": 5.0, "ge": 0.15, "gi": 1.2})
    drive = DRIVE_MV if variant == "driven" else 0.0
    return BuiltNetwork(net, y0, drive, DT, diffrax.Euler())


__all__ = ["coba", "coba_neuron", "coba_synapses"]
