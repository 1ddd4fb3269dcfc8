"""COBA benchmark (Brette et al. 2007 benchmark 1; Vogels & Abbott 2005) on neurodyn.

4000 LIF neurons (80 % excitatory), conductance-based exponential synapses, dt = 0.1 ms,
parameters from ../shared/REFERENCES.md (COBA section):
    τm dV/dt = −(V − EL) + ge(Ee − V) + gi(Ei − V) [+ 20 mV drive],  dge/dt = −ge/τe, ...
Variants: `brette` (p = 0.02, self-sustained, bistable) and `driven` (p = 80/N, +20 mV
drive; Brian2 2.9.0 gives 21.5 Hz at N = 4000, seed 1). Forward Euler by default, as the
Brian2 runs in REFERENCES.md (method='euler'); `--solver exponential_euler` is Brian2's
COBA example's method (neurodyn.ExponentialEuler).

    python benchmarks/coba.py --variant driven --n 4000 --t-ms 1000 --seed 1 --json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import diffrax
import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, network_record, time_compiled  # noqa: E402

import neurodyn
from neurodyn import LIF
from neurodyn.network import (
    ConductanceSynapse,
    Network,
    Projection,
    fixed_probability,
    random_initial_state,
    simulate_network,
)

DT = 0.1  # ms


def build(n: int, variant: str, key) -> tuple[Network, dict, float]:
    """The COBA network, its Brian2-example initial state and its drive (mV)."""
    n_e = int(round(0.8 * n))
    p = 0.02 if variant == "brette" else 80.0 / n
    k_e, k_i, k_0 = jax.random.split(key, 3)
    neuron = LIF(tau_m=20.0, v_rest=-60.0, threshold=-50.0, v_reset=-60.0, refractory_period=5.0)
    synapses = [ConductanceSynapse("ge", tau=5.0, reversal=0.0), ConductanceSynapse("gi", tau=10.0, reversal=-80.0)]
    # Brian2: Ce = Synapses(Pe, P); Ce.connect(p=p) — self connections allowed.
    projections = [
        Projection("E", "all", fixed_probability(k_e, n_e, n, p, 0.6), "ge"),  # we = 6 nS / gL
        Projection("I", "all", fixed_probability(k_i, n - n_e, n, p, 6.7), "gi"),  # wi = 67 nS / gL
    ]
    net = Network(neuron, synapses, {"E": n_e, "I": n - n_e}, projections)
    # V ~ N(−55, 5) mV, ge ~ N(4, 1.5)/10, gi ~ N(20, 12)/10 (units of gL)
    y0 = random_initial_state(k_0, net, {"v": -55.0, "ge": 0.4, "gi": 2.0}, {"v": 5.0, "ge": 0.15, "gi": 1.2})
    drive = 20.0 if variant == "driven" else 0.0
    return net, y0, drive


def solver_for(name: str):
    """The Diffrax solver called `name` ("euler" or "exponential_euler")."""
    if name == "euler":
        return diffrax.Euler()
    if name == "exponential_euler":
        if not hasattr(neurodyn, "ExponentialEuler"):
            raise ValueError("this neurodyn has no ExponentialEuler solver; use --solver euler")
        return neurodyn.ExponentialEuler()
    raise ValueError(f"solver must be 'euler' or 'exponential_euler', got {name!r}")


def run(n: int, t_ms: float, seed: int, variant: str, solver: str = "euler", repeats: int = 1) -> dict:
    """Build, compile and time one network; returns the benchmark's JSON record."""
    net, y0, drive = build(n, variant, jax.random.key(seed))
    jax.block_until_ready((net, y0))
    steps = round(t_ms / DT)
    sim = lambda: simulate_network(net, t_ms, DT, input=drive, initial_state=y0, solver=solver_for(solver))
    result, times = time_compiled(sim, repeats)
    return network_record(net, result, times, n=n, t_ms=t_ms, dt_ms=DT, seed=seed, variant=variant, solver=solver)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variant", choices=("brette", "driven"), default="driven")
    ap.add_argument("--solver", choices=("euler", "exponential_euler"), default="euler")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs after the compiling one")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    emit(run(args.n, args.t_ms, args.seed, args.variant, args.solver, args.repeats), args.json)


if __name__ == "__main__":
    main()
