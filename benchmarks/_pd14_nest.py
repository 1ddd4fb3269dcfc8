"""The Potjans & Diesmann (2014) microcircuit in NEST 3.10 and in neurodyn, compared the way the
field validates simulators on it (`compare_nest.py --model microcircuit`).

The NEST model is written here from the published parameters (PD14, Cereb. Cortex 24:785,
Table 5, as NEST 3's `pynest/examples/Potjans_2014` sets them up): `iaf_psc_exp` (C_m 250 pF,
τ_m 10 ms, τ_syn 0.5 ms, t_ref 2 ms, E_L = V_reset = −65 mV, V_th −50 mV), population sizes
round(N_full·scale), `fixed_total_number` with round(N_syn,full·scale) synapses per pair,
N_syn = ln(1 − C)/ln(1 − 1/(N_pre N_post)), weights `nest.math.redraw(normal(J, 0.1|J|))`
keeping the sign (J = 87.81 pA for 0.15 mV, g = −4, L4E→L2/3E × 2), delays
`redraw(normal(d, d/2), min = dt/2)` (d = 1.5 ms from E, 0.75 ms from I), V(0) ~ N(μ_p, σ_p)
("optimized"), and either DC I_e = K_ext·8 Hz·τ_syn·J or `poisson_generator`s at K_ext·8 Hz
(weight J, delay 1.5 ms). Only the published tables (sizes, probabilities, K_ext, V0) are
imported from neurodyn; every derived number is computed here again.

Statistics per population over [t_skip, t_ms) (van Albada et al. 2018, Front. Neurosci.
12:291; Dasbach et al. 2021, Front. Neurosci. 15:757790): single-neuron rates (all neurons),
ISI CVs (neurons with >= 3 spikes), pairwise Pearson correlations of spike counts in 2 ms
bins among the first `n_sample` neurons of the population. Each distribution is compared by
the Kolmogorov–Smirnov distance: neurodyn seed i vs NEST seed j (all pairs), next to NEST
seed i vs NEST seed j (i < j). "within" = the mean neurodyn-vs-NEST distance is at most the
largest NEST-vs-NEST distance. Mean rates: neurodyn's mean over seeds vs NEST's, target 10 %.

    # many seeds, scaled model, both simulators alternated in one process
    PYTHONPATH=. /work/venvs/nest/bin/python benchmarks/compare_nest.py --model microcircuit \\
        --scale 0.1 --seeds 1 2 3 4 --t-ms 2500 --json --out benchmarks/results/X.json
    # full scale: one simulator per process (NEST needs ~15 GB), then combine
    flock /work/locks/bigmem.lock ... --scale 1 --sims nest --seeds 1 --stats-out nest.npz
    flock /work/locks/bigmem.lock ... --scale 1 --sims neurodyn --seeds 1 --stats-out nd.npz
    ... --scale 1 --load nest.npz nd.npz --json --out benchmarks/results/Y.json
"""

from __future__ import annotations

import argparse
import itertools
import math
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, load_average, machine_summary  # noqa: E402

from neurodyn.analysis import ks_distance, population_statistics  # noqa: E402
from neurodyn.models.potjans_diesmann import (  # noqa: E402  (published tables only)
    CONN_PROBS,
    K_EXT,
    N_FULL,
    POPULATIONS,
    V0_MEAN,
    V0_STD,
)

DT = 0.1
STATS = ("rates", "cvs", "correlations")


# Full-scale rates the NEST example's K_scaling compensation assumes (network_params.py), spikes/s.
FULL_MEAN_RATES = (0.943, 3.026, 4.368, 5.882, 7.733, 8.664, 1.096, 7.851)


def nest_parameters(scale: float, background: str, k_scale: float = 1.0) -> dict:
    """Sizes, synapse numbers, weights, delays and DC, derived from the published tables
    (with k_scale < 1: in-degrees × k_scale, weights / √k_scale, and the DC that restores
    the mean input at the full-scale rates, as the NEST example's helpers do)."""
    n_full = np.asarray(N_FULL, float)
    prod = np.outer(n_full, n_full)
    full_syn = np.log(1.0 - CONN_PROBS) / np.log((prod - 1.0) / prod)
    tau_m, tau_s, c_m = 10.0, 0.5, 250.0
    # PSC for a 0.15 mV PSP peak of iaf_psc_exp: V(t) = J τ_s τ_m/(C (τ_m − τ_s)) (e^{−t/τ_m} − e^{−t/τ_s}),
    # maximal at t* = ln(τ_m/τ_s) τ_m τ_s/(τ_m − τ_s)
    t_peak = math.log(tau_m / tau_s) * tau_m * tau_s / (tau_m - tau_s)
    v_per_pa = tau_s * tau_m / (c_m * (tau_m - tau_s)) * (math.exp(-t_peak / tau_m) - math.exp(-t_peak / tau_s))
    j = 0.15 / v_per_pa
    w = np.tile(np.where(np.arange(8) % 2 == 0, j, -4.0 * j), (8, 1))
    w[0, 2] = 2 * j
    k_ext = np.asarray(K_EXT, float)
    dc = k_ext * 8.0 * tau_s * 1e-3 * j if background == "dc" else np.zeros(8)
    lost = 1.0 - math.sqrt(k_scale)  # fraction of the mean input the scaled weights no longer carry
    dc = dc + 1e-3 * tau_s * lost * (w * full_syn / n_full[:, None] * np.asarray(FULL_MEAN_RATES)).sum(1)
    if background == "poisson":
        dc = dc + 1e-3 * tau_s * lost * j * k_ext * 8.0
    return {
        "sizes": [int(round(n * scale)) for n in N_FULL],
        "n_syn": np.round(full_syn * scale * k_scale).astype(int),
        "weight": w / math.sqrt(k_scale), "j": j / math.sqrt(k_scale),
        "k_ext": np.round(k_ext * k_scale).astype(int),
        "delay": [1.5 if s % 2 == 0 else 0.75 for s in range(8)],
        "dc": dc.tolist(),
    }


def run_nest(scale: float, seed: int, t_ms: float, threads: int, background: str = "dc", k_scale: float = 1.0) -> tuple:
    """(spike times, 0-based neuron ids in population order, timings) of one NEST run."""
    import nest

    p = nest_parameters(scale, background, k_scale)
    nest.ResetKernel()
    nest.set_verbosity("M_ERROR")
    nest.SetKernelStatus({"resolution": DT, "local_num_threads": threads, "rng_seed": seed, "print_time": False})
    t0 = time.perf_counter()
    pops = []
    for i, n in enumerate(p["sizes"]):
        pop = nest.Create("iaf_psc_exp", n, params={
            "C_m": 250.0, "tau_m": 10.0, "tau_syn_ex": 0.5, "tau_syn_in": 0.5, "t_ref": 2.0,
            "E_L": -65.0, "V_reset": -65.0, "V_th": -50.0, "I_e": p["dc"][i],
        })
        pop.V_m = nest.random.normal(mean=V0_MEAN[i], std=V0_STD[i])
        pops.append(pop)
    rec = nest.Create("spike_recorder")
    for t, target in enumerate(pops):
        for s, source in enumerate(pops):
            if p["n_syn"][t, s] == 0:
                continue
            w = p["weight"][t, s]
            bounds = {"min": 0.0, "max": np.inf} if w > 0 else {"min": -np.inf, "max": 0.0}
            d = p["delay"][s]
            nest.Connect(source, target, {"rule": "fixed_total_number", "N": int(p["n_syn"][t, s]),
                                          "allow_autapses": True, "allow_multapses": True}, {
                "synapse_model": "static_synapse",
                "weight": nest.math.redraw(nest.random.normal(mean=w, std=abs(w) * 0.1), **bounds),
                "delay": nest.math.redraw(nest.random.normal(mean=d, std=0.5 * d), min=DT - 0.5 * DT, max=np.inf),
            })
        if background == "poisson":
            gen = nest.Create("poisson_generator", params={"rate": 8.0 * p["k_ext"][t]})
            nest.Connect(gen, target, "all_to_all", {"weight": p["j"], "delay": 1.5})
        nest.Connect(target, rec)
    nest.Prepare()
    nest.Cleanup()
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    nest.Simulate(t_ms)
    sim = time.perf_counter() - t0
    ev = rec.get("events")
    first = pops[0][0].global_id
    # node ids are consecutive across populations: id − first is the neurodyn order
    return np.asarray(ev["times"], float), np.asarray(ev["senders"]) - first, {
        "build_s": round(build, 2), "sim_s": round(sim, 2),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def run_neurodyn(scale: float, seed: int, t_ms: float, background: str = "dc", k_scale: float = 1.0) -> tuple:
    """(spike times, neuron ids, timings) of one neurodyn run of `potjans_diesmann`."""
    import jax

    from neurodyn.models import potjans_diesmann

    t0 = time.perf_counter()
    built = jax.block_until_ready(potjans_diesmann(scale, key=jax.random.key(seed), background=background,
                                                   k_scale=k_scale))
    build = time.perf_counter() - t0
    n = built.network.n
    t0 = time.perf_counter()
    res = jax.block_until_ready(built.simulate(t_ms, key=jax.random.key(10_000 + seed),
                                               max_spikes=int(n * 40 * t_ms / 1000) + 10_000))
    sim = time.perf_counter() - t0
    if int(res.spikes_dropped):
        raise RuntimeError(f"spike buffer overflow: {int(res.spikes_dropped)} spikes not stored")
    times, ids = res.spikes()
    return times, ids, {"build_s": round(build, 2), "sim_s_incl_compile": round(sim, 2),
                        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def populations(scale: float) -> list[tuple[str, int, int]]:
    sizes = [int(round(n * scale)) for n in N_FULL]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    return [(name, int(starts[i]), int(starts[i + 1])) for i, name in enumerate(POPULATIONS)]


def _summary(values) -> dict:
    v = np.asarray(values, float)
    return {"mean": round(float(v.mean()), 4), "sd": round(float(v.std(ddof=1)), 4) if v.size > 1 else 0.0,
            "values": [round(float(x), 4) for x in v]}


def compare(rows: dict[str, list[dict]]) -> dict:
    """Per population: mean rates (both, relative difference) and KS distances per statistic."""
    out = {}
    for pop in POPULATIONS:
        nest_rates = [float(r[pop]["rates"].mean()) for r in rows["nest"]]
        ours_rates = [float(r[pop]["rates"].mean()) for r in rows["neurodyn"]]
        rel = np.mean(ours_rates) / np.mean(nest_rates) - 1 if np.mean(nest_rates) > 0 else float("nan")
        rec = {"rate_hz": {"nest": _summary(nest_rates), "neurodyn": _summary(ours_rates),
                           "relative_difference": round(float(rel), 4), "within_10_percent": bool(abs(rel) <= 0.1)}}
        for stat in ("cvs", "correlations"):
            rec[f"mean_{stat[:-1]}"] = {
                sim: _summary([float(np.mean(r[pop][stat])) if r[pop][stat].size else float("nan") for r in rows[sim]])
                for sim in ("nest", "neurodyn")}
        for stat in STATS:
            ours = [ks_distance(a[pop][stat], b[pop][stat]) for a in rows["neurodyn"] for b in rows["nest"]]
            ref = [ks_distance(a[pop][stat], b[pop][stat]) for a, b in itertools.combinations(rows["nest"], 2)]
            rec[f"ks_{stat}"] = {
                "neurodyn_vs_nest": _summary(ours),
                "nest_vs_nest": _summary(ref) if ref else None,
                "within_nest_spread": bool(np.mean(ours) <= max(ref)) if ref else None,
            }
        out[pop] = rec
    return out


def _save(path: str, rows: dict, meta: dict) -> None:
    flat = {}
    for sim, runs in rows.items():
        for k, r in enumerate(runs):
            for pop, stats in r.items():
                for stat, v in stats.items():
                    flat[f"{sim}/{k}/{pop}/{stat}"] = v
    tmp = Path(path).with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **flat, _meta=np.asarray(repr(meta)))
    tmp.replace(path)


def _load(paths) -> tuple[dict, list]:
    rows: dict[str, dict[int, dict]] = {"nest": {}, "neurodyn": {}}
    metas = []
    for path in paths:
        offset = {sim: len(rows[sim]) for sim in rows}
        with np.load(path) as z:
            metas.append(str(z["_meta"]))
            for key in z.files:
                if key == "_meta":
                    continue
                sim, k, pop, stat = key.split("/")
                rows[sim].setdefault(offset[sim] + int(k), {}).setdefault(pop, {})[stat] = z[key]
    return {sim: [runs[k] for k in sorted(runs)] for sim, runs in rows.items()}, metas


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="PD14 microcircuit: neurodyn vs NEST 3.10 (statistics)")
    ap.add_argument("--scale", type=float, default=0.1, help="N_scaling")
    ap.add_argument("--k-scale", type=float, default=1.0, help="K_scaling (in-degrees; weights and DC compensate)")
    ap.add_argument("--background", choices=("dc", "poisson"), default="dc")
    ap.add_argument("--t-ms", type=float, default=2500.0)
    ap.add_argument("--t-skip", type=float, default=500.0, help="ms discarded at the start")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=2, help="NEST threads (full scale needs 4)")
    ap.add_argument("--sims", nargs="+", choices=("nest", "neurodyn"), default=["nest", "neurodyn"])
    ap.add_argument("--n-sample", type=int, default=200, help="neurons per population for correlations")
    ap.add_argument("--stats-out", default=None, help="save the per-run distributions (.npz)")
    ap.add_argument("--load", nargs="+", default=None, help="compare saved distributions instead of running")
    ap.add_argument("--fixture-out", default=None, help="write NEST's per-seed summary (test fixture JSON)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", default=None, help="also write the JSON object to this file")
    args = ap.parse_args(argv)
    if not 0 < args.scale <= 1 or not 0 < args.k_scale <= 1 or not 0 <= args.t_skip < args.t_ms:
        raise SystemExit("need 0 < scale <= 1, 0 < k-scale <= 1 and 0 <= t-skip < t-ms")
    pops = populations(args.scale)
    result = {"model": "potjans_diesmann_2014", "scale": args.scale, "k_scale": args.k_scale, "background": args.background,
              "t_ms": args.t_ms, "t_skip_ms": args.t_skip, "dt_ms": DT, "n_sample": args.n_sample,
              "correlation_bin_ms": 2.0, "machine": machine_summary(), "load_average": [load_average()]}
    if args.load:
        rows, metas = _load(args.load)
        result["loaded_from"] = metas
    else:
        rows = {"nest": [], "neurodyn": []}
        timings = {"nest": [], "neurodyn": []}
        for seed in args.seeds:
            for sim in args.sims:  # alternated, one seed at a time
                if sim == "nest":
                    times, ids, timing = run_nest(args.scale, seed, args.t_ms, args.threads, args.background,
                                                  args.k_scale)
                else:
                    times, ids, timing = run_neurodyn(args.scale, seed, args.t_ms, args.background, args.k_scale)
                rows[sim].append(population_statistics(times, ids, pops, args.t_skip, args.t_ms,
                                                       n_sample=args.n_sample))
                timings[sim].append({"seed": seed, **timing})
                print(f"[pd14] {sim} seed {seed}: " + ", ".join(
                    f"{p} {rows[sim][-1][p]['rates'].mean():.2f}" for p in POPULATIONS) + f" Hz; {timing}",
                    file=sys.stderr, flush=True)
            result["load_average"].append(load_average())
            if args.stats_out:  # after every seed: an interrupted run keeps what it measured
                _save(args.stats_out, rows, {k: result[k] for k in ("scale", "k_scale", "background", "t_ms",
                                                                    "t_skip_ms")}
                      | {"sims": args.sims, "seeds": args.seeds[: len(rows[args.sims[-1]])], "timings": timings})
        result.update(seeds=args.seeds, nest_threads=args.threads, timings=timings)
    if args.fixture_out and rows["nest"]:
        fixture = {k: result[k] for k in ("model", "scale", "k_scale", "background", "t_ms", "t_skip_ms", "dt_ms",
                                          "n_sample", "correlation_bin_ms")}
        fixture["simulator"] = "NEST 3.10 (nest-simulator from PyPI)"
        fixture["populations"] = {
            pop: {"rate_hz": [round(float(r[pop]["rates"].mean()), 4) for r in rows["nest"]],
                  "mean_cv": [round(float(np.mean(r[pop]["cvs"])), 4) for r in rows["nest"]],
                  "mean_correlation": [round(float(np.mean(r[pop]["correlations"])), 5) for r in rows["nest"]],
                  "rate_deciles": [np.round(np.quantile(r[pop]["rates"], np.linspace(0.1, 0.9, 9)), 3).tolist()
                                   for r in rows["nest"]]}
            for pop in POPULATIONS}
        import json

        tmp = Path(args.fixture_out).with_suffix(".tmp")
        tmp.write_text(json.dumps(fixture, indent=1))
        tmp.replace(args.fixture_out)
    if rows["nest"] and rows["neurodyn"]:
        result["populations"] = compare(rows)
        per = result["populations"].values()
        result["all_rates_within_10_percent"] = all(r["rate_hz"]["within_10_percent"] for r in per)
        if len(rows["nest"]) > 1:
            result["all_ks_within_nest_spread"] = all(r[f"ks_{s}"]["within_nest_spread"] for r in per for s in STATS)
    else:
        result["mean_rates_hz"] = {sim: {p: [round(float(r[p]["rates"].mean()), 4) for r in runs] for p in POPULATIONS}
                                   for sim, runs in rows.items() if runs}
    emit(result, args.json, args.out)
