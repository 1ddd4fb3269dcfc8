"""HH population throughput: neurodyn.simulate vs a hand-fused lax.scan forward-Euler loop.

Population of N Hodgkin–Huxley neurons with I_i = 20·i/(N−1) µA/cm², from rest, forward
Euler. Reference (REFERENCES.md): N = 100 000, 100 ms at dt = 0.01 ms gives 556 477 spikes
(Brian2 2.9.0, upward crossings of 0 mV).

    python benchmarks/hh_population.py --n 100000 --t-ms 100 --dt-ms 0.01 --json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import diffrax
import jax
import jax.numpy as jnp

import neurodyn as nd
from neurodyn.neurons.hodgkin_huxley import hh_rates

REFERENCE_SPIKES = {(100_000, 100.0, 0.01): 556_477}


def fused_baseline(n: int, n_steps: int, dt: float):
    """The fastest plain-JAX loop we know: HH forward Euler + crossing count, one scan."""
    p = nd.HodgkinHuxley()

    @jax.jit
    def run(current, y0):
        def step(carry, _):
            v, m, h, n_, count = carry
            r = hh_rates(v)
            i_ion = (
                p.g_na * m**3 * h * (v - p.e_na) + p.g_k * n_**4 * (v - p.e_k) + p.g_l * (v - p.e_l)
            )
            v_new = v + dt * (current - i_ion) / p.c_m
            m = m + dt * (r["alpha_m"] * (1 - m) - r["beta_m"] * m)
            h = h + dt * (r["alpha_h"] * (1 - h) - r["beta_h"] * h)
            n_ = n_ + dt * (r["alpha_n"] * (1 - n_) - r["beta_n"] * n_)
            count = count + ((v < 0) & (v_new >= 0)).astype(jnp.int32)
            return (v_new, m, h, n_, count), None

        init = (y0["v"], y0["m"], y0["h"], y0["n"], jnp.zeros_like(current, jnp.int32))
        out, _ = jax.lax.scan(step, init, None, length=n_steps, unroll=2)
        return out[-1]

    return run


def time_call(fn, repeats: int):
    t = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - t
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = jax.block_until_ready(fn())
        runs.append(time.perf_counter() - t)
    median = statistics.median(runs)
    return out, max(first - median, 0.0), median, runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--t-ms", type=float, default=100.0)
    parser.add_argument("--dt-ms", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    n, dt = args.n, args.dt_ms
    n_steps = round(args.t_ms / dt)
    current = 20.0 * jnp.arange(n, dtype=jnp.float32) / max(n - 1, 1)
    model = nd.HodgkinHuxley()

    def ours():
        return nd.simulate(model, t1=args.t_ms, dt=dt, input=current, record=(), solver=diffrax.Euler())

    result, compile_s, run_s, runs = time_call(ours, args.repeats)
    total = int(result.n_spikes)

    baseline = fused_baseline(n, n_steps, dt)
    y0 = model.initial_state(n)
    base_counts, base_compile_s, base_run_s, base_runs = time_call(lambda: baseline(current, y0), args.repeats)
    base_total = int(base_counts.sum())

    ref = REFERENCE_SPIKES.get((n, args.t_ms, dt))
    out = {
        "benchmark": "hh_population",
        "device": f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}",
        "machine": f"{platform.machine()}, {jax.local_device_count()} device(s)",
        "neurons": n,
        "t_ms": args.t_ms,
        "dt_ms": dt,
        "steps": n_steps,
        "solver": "diffrax.Euler",
        "repeats": args.repeats,
        "compile_s": round(compile_s, 3),
        "run_s": round(run_s, 4),
        "run_s_all": [round(r, 4) for r in runs],
        "neuron_steps_per_s": n * n_steps / run_s,
        "total_spikes": total,
        "spikes_stored": int(result.n_spikes_stored),
        "reference_spikes": ref,
        "spikes_rel_error": None if ref is None else abs(total - ref) / ref,
        "baseline": {
            "what": "hand-fused jax.lax.scan forward Euler (unroll=2), crossing count only",
            "compile_s": round(base_compile_s, 3),
            "run_s": round(base_run_s, 4),
            "run_s_all": [round(r, 4) for r in base_runs],
            "neuron_steps_per_s": n * n_steps / base_run_s,
            "total_spikes": base_total,
        },
        "throughput_ratio_vs_baseline": base_run_s / run_s,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
