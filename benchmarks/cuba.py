"""CUBA benchmark (Brian2's example CUBA; Brette et al. 2007 benchmark 2) on neurodyn.

4000 LIF neurons (3200 excitatory, 800 inhibitory), current-based exponential synapses,
connection probability 0.02 (self connections allowed, as Brian2's `connect(p=...)`),
dt = 0.1 ms; the network and its parameters are `neurodyn.models.cuba`:

    τm dV/dt = −(V − EL) + ge + gi,   dge/dt = −ge/τe,   dgi/dt = −gi/τi
    τm = 20, τe = 5, τi = 10 ms; EL = −49, Vth = −50, Vr = −60 mV; refractory 5 ms (V held)
    an excitatory spike adds we = 1.62 mV to ge, an inhibitory one wi = −9 mV to gi
    V(0) ~ U(Vr, Vth), ge(0) = gi(0) = 0

Brian2 writes dv/dt = (ge + gi − (v − El))/τm with ge, gi in volts: that is neurodyn's
LIF (τm dV/dt = −(V − EL) + R·I, R = 1) with I = ge + gi from two `CurrentSynapse`s
(I_syn = g, g in mV), so a weight means the same thing in both: the jump of g in mV, and
a single spike's PSP peak is the same (the analytic PSP of neurodyn/network/synapses.py).

Integration: Brian2's example uses method='exact' (the linear system solved exactly).
Here the default is `exponential_euler` (neurodyn.ExponentialEuler: each variable's own
linear equation solved exactly over the step, the others frozen at the step start; exact
for the synapses, first-order error only in how ge/gi drive V within a step); `--solver
euler` is forward Euler (the decay factor per step 1 − dt/τ instead of e^{−dt/τ}: −0.02 %
for τe = 5 ms, dt = 0.1 ms, each PSP's area the same to first order).

    python benchmarks/cuba.py --n 4000 --t-ms 1000 --seed 1 --json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, network_record, time_compiled  # noqa: E402
from coba import solver_for  # noqa: E402

from neurodyn.models import cuba
from neurodyn.models.cuba import DT, PARAMS  # noqa: F401  (PARAMS: compare_brian2.py)
from neurodyn.network import Network, simulate_network


def build(n: int, key) -> tuple[Network, dict]:
    """The CUBA network (`neurodyn.models.cuba`) and its initial state V ~ U(Vr, Vth)."""
    built = cuba(n, key=key)
    return built.network, built.initial_state


def run(n: int = 4000, t_ms: float = 1000.0, seed: int = 1, solver: str = "exponential_euler",
        repeats: int = 1) -> dict:
    """Build, compile and time one CUBA network; returns the benchmark's JSON record."""
    net, y0 = build(n, jax.random.key(seed))
    jax.block_until_ready((net, y0))
    sim = lambda: simulate_network(net, t_ms, DT, initial_state=y0, solver=solver_for(solver))
    result, times = time_compiled(sim, repeats)
    return network_record(net, result, times, n=n, t_ms=t_ms, dt_ms=DT, seed=seed, solver=solver)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--solver", choices=("euler", "exponential_euler"), default="exponential_euler")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs after the compiling one")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    emit(run(args.n, args.t_ms, args.seed, args.solver, args.repeats), args.json)


if __name__ == "__main__":
    main()
