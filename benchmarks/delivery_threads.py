"""Threaded vs single-threaded delayed delivery, per call, against the work of the call.

The compiled kernel (`neurodyn.network.delivery.deliver_delayed`) splits a call's targets
over threads when the call has at least `THREAD_MIN_EVENTS` synaptic events per thread.
This measures where that pays: a ring like the full-scale Potjans–Diesmann microcircuit's
(77 169 targets × 55 delay rows, float32, ≈ 17 MB), rows of 4 000 synapses sorted by target,
uniform targets and delays, and s spiking rows per call (s × 4 000 events), stepped in one
compiled `fori_loop` of 400 calls. For each s, 1 thread and 2 threads (min_events=1, so the
split is forced) alternate; medians of the repeats, wall and process CPU time per call,
and the ratio wall(1 thread) / wall(2 threads) (> 1: the threads pay).

    PYTHONPATH=. python benchmarks/delivery_threads.py --spiking 1 2 4 8 --json
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, emit, load_average, machine_info  # noqa: E402

from neurodyn.network.connectivity import Connectivity  # noqa: E402
from neurodyn.network.delivery import deliver_delayed  # noqa: E402

N_PRE, N_POST, K, ROWS, STEPS = 2000, 77169, 4000, 55, 400


def table(seed: int) -> Connectivity:
    rng = np.random.default_rng(seed)
    post = np.sort(rng.integers(0, N_POST, (N_PRE, K)), axis=1).astype(np.int32)
    weight = rng.normal(size=(N_PRE, K)).astype(np.float32)
    delay = rng.integers(1, ROWS + 1, (N_PRE, K)).astype(np.uint8)
    return Connectivity(post, weight, N_PRE, N_POST, delay, dt=0.1, max_delay=ROWS)


def timer(conn: Connectivity, spikes, threads: int):
    """A function timing one compiled loop of STEPS calls: (wall s, CPU s)."""

    @jax.jit
    def run(target, ring, conn, spikes):
        def body(s, carry):
            return deliver_delayed(*carry, conn, spikes[s], s, method="ffi", threads=threads, min_events=1)

        return jax.lax.fori_loop(0, STEPS, body, (target, ring))

    args = (jnp.zeros(N_POST), jnp.zeros((ROWS, N_POST)), conn, spikes)
    jax.block_until_ready(run(*args))

    def once():
        with Timer() as t:
            jax.block_until_ready(run(*args))
        return t.wall, t.cpu

    return once


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spiking", type=int, nargs="+", default=[1, 2, 4, 8], help="spiking rows per call")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--out", default=None, help="also write the JSON object to this file")
    args = ap.parse_args(argv)
    conn = table(0)
    rng = np.random.default_rng(1)
    out = {"benchmark": "delivery_threads", "machine": machine_info(), "load_average_start": load_average(),
           "n_post": N_POST, "ring_rows": ROWS, "row_synapses": K, "calls_per_loop": STEPS, "results": []}
    for s in args.spiking:
        spikes = np.zeros((STEPS, N_PRE), bool)
        for step in range(STEPS):
            spikes[step, rng.choice(N_PRE, s, replace=False)] = True
        spikes = jnp.asarray(spikes)
        runs = {t: timer(conn, spikes, t) for t in (1, 2)}
        times = {1: [], 2: []}
        for _ in range(args.repeats):
            for t in (1, 2):
                times[t].append(runs[t]())
        med = {t: (statistics.median(w for w, _ in times[t]) / STEPS * 1e6,
                   statistics.median(c for _, c in times[t]) / STEPS * 1e6) for t in (1, 2)}
        out["results"].append({"events_per_call": s * K, "wall_us_1": round(med[1][0], 1),
                               "cpu_us_1": round(med[1][1], 1), "wall_us_2": round(med[2][0], 1),
                               "cpu_us_2": round(med[2][1], 1), "speedup_2": round(med[1][0] / med[2][0], 3)})
        if not args.json:
            print(out["results"][-1], flush=True)
    out["load_average_end"] = load_average()
    emit(out, args.json, args.out)


if __name__ == "__main__":
    main()
