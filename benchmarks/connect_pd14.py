"""Build the Potjans & Diesmann (2014) microcircuit's connectivity at full scale.

77 169 neurons in 8 populations, 64 projections, each NEST `fixed_total_number` with
autapses and multapses (N_syn = ln(1 − C) / ln(1 − 1/(N_pre·N_post)) per pair, ≈ 2.99·10⁸
in all), per-synapse weights normal with relative SD 0.1 redrawn to keep the sign
(J = 87.81 pA, g = −4, L4E → L2/3E doubled) and per-synapse delays normal (1.5 ms
excitatory, 0.75 ms inhibitory, relative SD 0.5) redrawn below 0.5·dt and rounded to
steps of dt = 0.1 ms: the model as NEST 3's Potjans_2014 example builds it (parameters
from Potjans & Diesmann 2014, Cereb. Cortex 24:785, Table 5 and the PD14 model
description).

The memory is stated before building (`estimate_memory`, summed over projections), then
every table is built and kept (as a network holds them); reported: build time, peak RSS
(getrusage), table bytes, padding overhead of the out-degree tables.

    python benchmarks/connect_pd14.py --scale 1.0 --json
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, load_average, machine_info

from neurodyn.models.potjans_diesmann import (
    CONN_PROBS,
    DELAY_E,
    DELAY_I,
    DELAY_REL_SD,
    N_FULL,
    POPULATIONS,
    PSP_E,
    W_REL_SD,
    G,
    psc_over_psp,
)
from neurodyn.network import Normal, estimate_memory, fixed_total_number

# The published tables and parameters, from the library's model (sources in its docstring).
P = CONN_PROBS  # rows = target, columns = source (Potjans & Diesmann 2014, Table 5)
J_PA = PSP_E * psc_over_psp()  # PSP 0.15 mV <-> 87.81 pA
REL_SD_W, REL_SD_D = W_REL_SD, DELAY_REL_SD
DELAY_MS = {"E": DELAY_E, "I": DELAY_I}
DT = 0.1


def n_synapses(c: float, n_pre: int, n_post: int) -> int:
    """PD14's total number for connection probability c (the expected number of distinct
    pairs hit, inverted): ln(1 − c) / ln(1 − 1/(n_pre·n_post)), rounded."""
    return 0 if c == 0 else int(round(math.log(1 - c) / math.log(1 - 1 / (n_pre * n_post))))


def projections(scale: float):
    sizes = [max(1, int(round(n * scale))) for n in N_FULL]
    for t, target in enumerate(POPULATIONS):
        for s, source in enumerate(POPULATIONS):
            n = n_synapses(P[t, s], sizes[s], sizes[t])
            if n == 0:
                continue
            kind = source[-1]
            mean_w = J_PA * (G if kind == "I" else 1.0) * (2.0 if (source, target) == ("L4E", "L23E") else 1.0)
            bound = dict(low=0.0) if mean_w > 0 else dict(high=0.0)  # NEST: redraw keeps the sign
            weight = Normal(mean_w, abs(mean_w) * REL_SD_W, **bound)
            d = DELAY_MS[kind]
            delay = Normal(d, d * REL_SD_D, low=0.5 * DT)  # NEST: min = resolution − 0.5·resolution
            yield source, target, sizes[s], sizes[t], n, weight, delay


def run(scale: float, seed: int) -> dict:
    projs = list(projections(scale))
    max_delay = 255  # uint8 delays: D < 256 steps (normal tails reach ≈ 1.5 + 5.3·0.75 ms = 55 steps)
    estimates = [estimate_memory(n, n_pre, max_delay=max_delay) for _, _, n_pre, _, n, _, _ in projs]
    total_syn = sum(p[4] for p in projs)
    table = sum(e["table_bytes"] for e in estimates)
    peak_est = table + max(e["build_peak_bytes"] - e["table_bytes"] for e in estimates)
    record = {
        "benchmark": "connect_pd14", "scale": scale, "seed": seed, "machine": machine_info(),
        "load_average_start": load_average(), "n_projections": len(projs), "n_synapses": total_syn,
        "estimate": {"table_bytes": table, "bytes_per_synapse": round(table / total_syn, 3),
                     "padding": round(sum(e["table_width"] * p[2] for e, p in zip(estimates, projs)) / total_syn - 1, 4),
                     "peak_bytes_tables_plus_one_build": peak_est},
    }
    print(f"[connect_pd14] {total_syn:.4g} synapses; tables {table / 2**30:.2f} GiB "
          f"({table / total_syn:.2f} B/synapse), build peak ≈ {peak_est / 2**30:.2f} GiB (+ the Python/JAX process)",
          file=sys.stderr)
    key = jax.random.key(seed)
    built, per_proj = [], []
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    for j, (source, target, n_pre, n_post, n, weight, delay) in enumerate(projs):
        t = time.perf_counter()
        conn = fixed_total_number(jax.random.fold_in(key, j), n_pre, n_post, n, weight, delay=delay, dt=DT)
        jax.block_until_ready(conn)
        built.append(conn)
        per_proj.append({"pair": f"{source}->{target}", "n": n, "K": conn.max_out_degree,
                         "padding": round(n_pre * conn.max_out_degree / n - 1, 4), "max_delay": conn.max_delay,
                         "s": round(time.perf_counter() - t, 2)})
    build_s = time.perf_counter() - t0
    nbytes = sum(c.post_idx.nbytes + c.weight.nbytes + c.delay.nbytes for c in built)
    entries = sum(c.post_idx.size for c in built)
    record.update({
        "build_s": round(build_s, 1),
        "synapses_per_s": round(total_syn / build_s),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "rss_before_build_bytes": rss0,
        "table_bytes": nbytes,
        "bytes_per_synapse": round(nbytes / total_syn, 3),
        "padding": round(entries / total_syn - 1, 4),
        "max_delay_steps": max(c.max_delay for c in built),
        "delay_dtypes": sorted({str(c.delay.dtype) for c in built}),
        "largest_projections": sorted(per_proj, key=lambda r: -r["n"])[:5],
        "load_average_end": load_average(),
    })
    return record


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the full-scale population sizes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--out", default=None, help="also write the JSON object to this file")
    args = ap.parse_args(argv)
    if not 0 < args.scale <= 1:
        ap.error("--scale must be in (0, 1]")
    emit(run(args.scale, args.seed), args.json, args.out)


if __name__ == "__main__":
    main()
