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

`--op P`: the delivery op alone instead: 3200 presynaptic → 4000 neurons (80 targets each),
each presynaptic neuron spiking with probability P per step, 20 000 steps in one
`fori_loop`: `deliver` (static) vs `deliver_short_term` (u·x ≡ 1), same method, alternated.
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


def op_benchmark(p: float, method: str, repeats: int) -> dict:
    """µs per step of the static and the plastic delivery op alone (see the module docstring)."""
    import jax.numpy as jnp

    from neurodyn.network import fixed_probability
    from neurodyn.network.delivery import deliver
    from neurodyn.network.short_term import deliver_short_term

    n, n_pre, steps = 4000, 3200, 20_000
    conn = fixed_probability(jax.random.key(0), n_pre, n, 80 / n, weight=0.6)
    spikes = jax.random.uniform(jax.random.key(1), (2000, n)) < p
    rule = UXSynapse(U=1.0, tau_rec=1e-3, tau_fac=0.0)

    @jax.jit
    def static(conn, spikes):
        body = lambda i, g: deliver(g * 0.98, conn, spikes[i % 2000], 0, pre_start=0, method=method)
        return jax.lax.fori_loop(0, steps, body, jnp.zeros(n), unroll=2)

    @jax.jit
    def plastic(conn, spikes, state):
        def body(i, carry):
            g, state = carry
            return deliver_short_term(g * 0.98, conn, rule, state, spikes[i % 2000], i, DT, 0, pre_start=0,
                                      method=method)
        return jax.lax.fori_loop(0, steps, body, (jnp.zeros(n), state), unroll=2)

    state = rule.initial_state((n_pre,), jnp.float32)
    runs = {"static": lambda: static(conn, spikes), "plastic": lambda: plastic(conn, spikes, state)}
    walls = {k: [] for k in runs}
    for fn in runs.values():
        jax.block_until_ready(fn())
    for _ in range(repeats):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            walls[k].append(time.perf_counter() - t0)
    us = {k: round(statistics.median(w) / steps * 1e6, 2) for k, w in walls.items()}
    return {"op": "deliver vs deliver_short_term", "method": method, "spike_probability": p,
            "spiking_rows_per_step": round(p * n_pre, 2), "us_per_step": us,
            "plastic_over_static": round(us["plastic"] / us["static"], 3)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--op", type=float, default=None, metavar="P",
                    help="time the delivery op alone, spike probability P per step")
    ap.add_argument("--method", choices=("ffi", "jax"), default="ffi", help="--op: the delivery method")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", default=None, help="also write the JSON object to this file")
    args = ap.parse_args(argv)
    if args.n < 10 or args.t_ms <= 0 or args.repeats < 1:
        raise SystemExit("need n >= 10, t-ms > 0 and repeats >= 1")
    if args.op is not None:
        load = [load_average()]
        result = op_benchmark(args.op, args.method, args.repeats)
        load.append(load_average())
        return emit({**result, "repeats": args.repeats, "machine": machine_summary(), "load_average": load},
                    args.json, args.out)
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
