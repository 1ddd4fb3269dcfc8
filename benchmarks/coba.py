"""COBA benchmark (Brette et al. 2007 benchmark 1; Vogels & Abbott 2005) on neurodyn.

4000 LIF neurons (80 % excitatory), conductance-based exponential synapses, dt = 0.1 ms,
parameters from ../shared/REFERENCES.md (COBA section):
    τm dV/dt = −(V − EL) + ge(Ee − V) + gi(Ei − V) [+ 20 mV drive],  dge/dt = −ge/τe, ...
Variants: `brette` (p = 0.02, self-sustained, bistable) and `driven` (p = 80/N, +20 mV
drive; Brian2 2.9.0 gives 21.5 Hz at N = 4000, seed 1). Euler, as Brian2's method='euler'.

    python benchmarks/coba.py --variant driven --n 4000 --t-ms 1000 --seed 1 --json
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

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


def cv_isi(times: np.ndarray, neurons: np.ndarray, min_spikes: int = 3) -> float:
    """Mean over neurons with >= min_spikes spikes of std(ISI)/mean(ISI)."""
    order = np.lexsort((times, neurons))
    t, i = times[order], neurons[order]
    isi = np.diff(t)
    same = i[1:] == i[:-1]
    isi, owner = isi[same], i[1:][same]
    if owner.size == 0:
        return float("nan")
    count = np.bincount(owner)
    s1 = np.bincount(owner, isi)
    s2 = np.bincount(owner, isi * isi)
    ok = count >= min_spikes - 1
    mean = s1[ok] / count[ok]
    var = np.maximum(s2[ok] / count[ok] - mean**2, 0.0)
    return float(np.mean(np.sqrt(var) / mean)) if ok.any() else float("nan")


def run(n: int, t_ms: float, seed: int, variant: str) -> dict:
    net, y0, drive = build(n, variant, jax.random.key(seed))
    jax.block_until_ready((net, y0))
    kwargs = dict(input=drive, initial_state=y0)
    t = time.perf_counter()
    result = simulate_network(net, t_ms, DT, **kwargs)
    jax.block_until_ready(result)
    first = time.perf_counter() - t
    t = time.perf_counter()
    result = simulate_network(net, t_ms, DT, **kwargs)
    jax.block_until_ready(result)
    run_s = time.perf_counter() - t
    times, neurons = result.spikes()
    steps = round(t_ms / DT)
    return {
        "n": n, "t_ms": t_ms, "dt_ms": DT, "seed": seed, "variant": variant,
        "compile_s": round(max(first - run_s, 0.0), 3), "run_s": round(run_s, 4),
        "us_per_step": round(run_s / steps * 1e6, 2),
        "n_spikes": int(result.n_spikes), "spikes_dropped": int(result.spikes_dropped),
        "rate_hz": round(int(result.n_spikes) / n / (t_ms / 1000.0), 3),
        "cv_isi": round(cv_isi(times, neurons), 4),
        "n_synapses": int(sum(int(p.connectivity.n_synapses) for p in net.projections)),
        "backend": jax.default_backend(),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variant", choices=("brette", "driven"), default="driven")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    out = run(args.n, args.t_ms, args.seed, args.variant)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>15}: {v}")


if __name__ == "__main__":
    main()
