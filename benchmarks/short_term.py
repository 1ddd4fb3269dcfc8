"""Cost of short-term plasticity: the COBA network with Tsodyks–Markram E→all synapses.

The driven COBA network (`neurodyn.models.coba`, variant "driven": N = 4000, p = 80/N,
+20 mV drive, dt = 0.1 ms) as built ("static"); with a `UXSynapse(U=1, tau_rec=1e-3 ms)` on
its excitatory projection ("plastic": u·x = 1 at every spike, so the run fires exactly the
same spikes as the static one and the difference is the cost of the plasticity alone); and
with a depressing `TsodyksSynapse` (NEST defaults U = 0.5, τ_rec = 800 ms, τ_fac = 0,
τ_psc = 5 ms = τ_e: "depressing", the effect: the rate falls). Each with the compiled
delivery ("ffi": the fused C++ handler of `_kernels/stp.cc` for the plastic projection)
and the pure-JAX path ("jax"; the depressing run with ffi only). The runs are timed
alternately, `--repeats` times each after a compiling run, and the median is reported
(µs per step), with the plastic/static ratios and the load average.

    python benchmarks/short_term.py --n 4000 --t-ms 1000 --repeats 3 --json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, load_average, machine_summary  # noqa: E402

from neurodyn.models import coba
from neurodyn.models.coba import DT
from neurodyn.network import Network, TsodyksSynapse, UXSynapse, simulate_network


def variants(n: int, seed: int) -> dict:
    """{name: (network, initial state, drive, solver)} for static/plastic × ffi/jax."""
    built = coba(n, key=jax.random.key(seed), variant="driven")
    base = built.network
    rules = {"plastic": UXSynapse(U=1.0, tau_rec=1e-3, tau_fac=0.0),
             "depressing": TsodyksSynapse(U=0.5, tau_rec=800.0, tau_fac=0.0, tau_psc=5.0)}
    projections = {"static": base.projections}
    for name, rule in rules.items():
        projections[name] = tuple(
            type(p)(p.pre, p.post, p.connectivity, p.receptor, p.delay, rule if p.receptor == "ge" else None)
            for p in base.projections
        )
    out = {}
    for method in ("ffi", "jax"):
        for name, projs in projections.items():
            if name == "depressing" and method == "jax":
                continue
            net = Network(base.neuron, base.synapses, {p[0]: p[2] - p[1] for p in base.populations}, projs,
                          base.sources, base.poisson_inputs, base.drives, delivery=method)
            out[f"{name}-{method}"] = (net, built.initial_state, built.input, built.solver)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", default=None, help="also write the JSON object to this file")
    args = ap.parse_args(argv)
    if args.n < 10 or args.t_ms <= 0 or args.repeats < 1:
        raise SystemExit("need n >= 10, t-ms > 0 and repeats >= 1")
    runs = variants(args.n, args.seed)
    sims = {name: (lambda net=net, y0=y0, drive=drive, solver=solver: simulate_network(
                net, args.t_ms, DT, input=drive, initial_state=y0, solver=solver))
            for name, (net, y0, drive, solver) in runs.items()}
    spikes = {}
    for name, sim in sims.items():  # compile
        spikes[name] = int(jax.block_until_ready(sim()).n_spikes)
    load = [load_average()]
    walls = {name: [] for name in sims}
    for _ in range(args.repeats):  # alternated
        for name, sim in sims.items():
            t0 = time.perf_counter()
            jax.block_until_ready(sim())
            walls[name].append(time.perf_counter() - t0)
    load.append(load_average())
    steps = round(args.t_ms / DT)
    us = {name: round(statistics.median(w) / steps * 1e6, 2) for name, w in walls.items()}
    result = {
        "model": "coba-driven, short-term plasticity on E", "n": args.n, "t_ms": args.t_ms, "dt_ms": DT, "seed": args.seed,
        "repeats": args.repeats, "us_per_step": us, "n_spikes": spikes,
        "rate_hz": {k: round(v / args.n / (args.t_ms / 1000.0), 3) for k, v in spikes.items()},
        "plastic_over_static": {m: round(us[f"plastic-{m}"] / us[f"static-{m}"], 3) for m in ("ffi", "jax")},
        "machine": machine_summary(), "load_average": load,
    }
    emit(result, args.json, args.out)


if __name__ == "__main__":
    main()
