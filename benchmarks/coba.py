"""COBA benchmark (Brette et al. 2007 benchmark 1; Vogels & Abbott 2005) on neurodyn.

4000 LIF neurons (80 % excitatory), conductance-based exponential synapses, dt = 0.1 ms,
the network and its published parameters are `neurodyn.models.coba`:
    τm dV/dt = −(V − EL) + ge(Ee − V) + gi(Ei − V) [+ 20 mV drive],  dge/dt = −ge/τe, ...
Variants: `brette` (p = 0.02, self-sustained, bistable) and `driven` (p = 80/N, +20 mV
drive; Brian2 2.9.0 gives 21.5 Hz at N = 4000, seed 1). Forward Euler by default, as the
Brian2 runs of these networks (method='euler'); `--solver exponential_euler` is Brian2's
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
from neurodyn.models import coba
from neurodyn.models.coba import DT
from neurodyn.network import Network, simulate_network


def build(n: int, variant: str, key) -> tuple[Network, dict, float]:
    """The COBA network (`neurodyn.models.coba`), its Brian2-example initial state and its
    drive (mV)."""
    built = coba(n, key=key, variant=variant)
    return built.network, built.initial_state, built.input


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
