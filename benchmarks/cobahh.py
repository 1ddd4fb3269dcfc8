"""COBAHH benchmark (Brette et al. 2007 benchmark 3; Brian2 example COBAHH) on neurodyn.

4000 Traub–Miles HH neurons (80 % excitatory), conductance-based exponential synapses,
p = 0.02, no delay, dt = 0.1 ms, exponential Euler (Brian2's method), parameters from
../shared/REFERENCES.md (COBAHH section), in the units of `neurodyn.TraubMiles`
(mV, ms, nA, µS, nF):

    C dV/dt = −I_Na − I_Kd − g_L(V − E_L) + g_e(E_e − V) + g_i(E_i − V)
    dg_e/dt = −g_e/τ_e (5 ms, E_e = 0 mV),  dg_i/dt = −g_i/τ_i (10 ms, E_i = −80 mV)
    a spike (upward crossing of −20 mV, 3 ms refractory) adds w_e = 0.006 µS (6 nS) or
    w_i = 0.067 µS (67 nS) to the targets' g.

Initial state as in Brian2's example: V = E_L + 5·N(0,1) − 5 mV, g_e = (1.5·N(0,1) + 4)·10 nS,
g_i = (12·N(0,1) + 20)·10 nS, and the gates m = h = n = 0 (Brian2 leaves them at their
default 0; `--gates steady` starts them at x∞(V) instead).

    python benchmarks/cobahh.py --n 4000 --t-ms 1000 --seed 1 --json
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from _common import emit, network_record, time_compiled

from neurodyn import ExponentialEuler, TraubMiles
from neurodyn.network import (
    ConductanceSynapse,
    Connectivity,
    Network,
    Projection,
    fixed_probability,
    simulate_network,
)
from neurodyn.neurons.traub_miles import traub_miles_gate_steady_states

DT = 0.1  # ms
P_CONNECT = 0.02
W_E = 0.006  # µS (6 nS)
W_I = 0.067  # µS (67 nS)
E_L = -60.0  # mV (TraubMiles default)


def network(n: int, conn_e: Connectivity, conn_i: Connectivity) -> Network:
    """The COBAHH network on given E → all and I → all connectivity (weights in µS)."""
    n_e = conn_e.n_pre
    synapses = [ConductanceSynapse("ge", tau=5.0, reversal=0.0), ConductanceSynapse("gi", tau=10.0, reversal=-80.0)]
    projections = [Projection("E", "all", conn_e, "ge"), Projection("I", "all", conn_i, "gi")]
    return Network(TraubMiles(), synapses, {"E": n_e, "I": n - n_e}, projections)


def initial_state(z: np.ndarray | jax.Array, gates: str = "zero") -> dict:
    """Brian2's initial state from standard normals z of shape (3, n) (for V, g_e, g_i)."""
    v = E_L + 5.0 * z[0] - 5.0
    y = {"v": v, "ge": (1.5 * z[1] + 4.0) * 0.01, "gi": (12.0 * z[2] + 20.0) * 0.01}  # 10 nS = 0.01 µS
    if gates == "zero":
        y.update(m=jnp.zeros_like(v), h=jnp.zeros_like(v), n=jnp.zeros_like(v))
    elif gates == "steady":
        y.update(traub_miles_gate_steady_states(v))
    else:
        raise ValueError(f"gates must be 'zero' or 'steady', got {gates!r}")
    return y


def build(n: int, key, gates: str = "zero") -> tuple[Network, dict]:
    """The COBAHH network with fixed-probability connectivity and its initial state."""
    n_e = int(round(0.8 * n))
    k_e, k_i, k_0 = jax.random.split(key, 3)
    # Brian2: Ce = Synapses(Pe, P); Ce.connect(p=0.02), self connections allowed.
    conn_e = fixed_probability(k_e, n_e, n, P_CONNECT, W_E)
    conn_i = fixed_probability(k_i, n - n_e, n, P_CONNECT, W_I)
    return network(n, conn_e, conn_i), initial_state(jax.random.normal(k_0, (3, n)), gates)


def simulate_cobahh(net: Network, y0: dict, t_ms: float, **kwargs):
    """Exponential Euler at dt = 0.1 ms, as Brian2's example."""
    return simulate_network(net, t_ms, DT, initial_state=y0, solver=ExponentialEuler(), **kwargs)


def run(n: int, t_ms: float, seed: int, gates: str = "zero", repeats: int = 1) -> dict:
    net, y0 = build(n, jax.random.key(seed), gates)
    jax.block_until_ready((net, y0))
    result, times = time_compiled(lambda: simulate_cobahh(net, y0, t_ms), repeats)
    return network_record(net, result, times, n=n, t_ms=t_ms, dt_ms=DT, seed=seed, gates=gates)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gates", choices=("zero", "steady"), default="zero")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs after the compiling one")
    args = ap.parse_args(argv)
    emit(run(args.n, args.t_ms, args.seed, args.gates, args.repeats), args.json)


if __name__ == "__main__":
    main()
