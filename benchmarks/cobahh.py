"""COBAHH benchmark (Brette et al. 2007 benchmark 3; Brian2 example COBAHH) on neurodyn.

4000 Traub–Miles HH neurons (80 % excitatory), conductance-based exponential synapses,
p = 0.02, no delay, dt = 0.1 ms, exponential Euler (Brian2's method); the network and its
published parameters are `neurodyn.models.cobahh`, in the units of `neurodyn.TraubMiles`
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
from _common import emit, network_record, time_compiled

from neurodyn import ExponentialEuler
from neurodyn.models import cobahh
from neurodyn.models.cobahh import (  # noqa: F401  (constants: compare_brian2.py, tests)
    DT,
    E_L,
    P_CONNECT,
    W_E,
    W_I,
    cobahh_initial_state,
    cobahh_network,
)
from neurodyn.network import Network, simulate_network

network = cobahh_network  # the names tests/test_network_cobahh.py and compare_brian2.py use
initial_state = cobahh_initial_state


def build(n: int, key, gates: str = "zero") -> tuple[Network, dict]:
    """The COBAHH network (`neurodyn.models.cobahh`) and its initial state."""
    built = cobahh(n, key=key, gates=gates)
    return built.network, built.initial_state


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
