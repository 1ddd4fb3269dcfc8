"""The Potjans & Diesmann (2014) microcircuit at full scale: neurodyn vs NEST 3.10, same run.

The benchmarking recipe of the field (NEST's Potjans_2014 example, Kurth et al. 2022,
Golosio et al. 2023): full scale (77 169 `iaf_psc_exp` neurons, ≈ 2.99·10⁸ synapses), DC
background, dt = 0.1 ms, 0.5 s of warm-up then 1 s simulated and timed. Each simulator runs
in its own child process (so each one's peak resident memory is its own: the child's
`getrusage(RUSAGE_SELF).ru_maxrss`, read as its last act) and reports
- build time: network creation + connection (neurodyn: drawing every table on the device,
  waited for; NEST: `Create` + `Connect`),
- simulation time of the timed second, the real-time factor RTF = wall / simulated time,
- peak resident memory, the spike count and the synaptic events per second
  (Σ over spikes of the spiking neuron's out-degree, / wall time),
- the process CPU time of the build and of the timed second (all threads: NEST's 4 too),
  and the CPU-time ratios: on a machine shared with other jobs the wall time measures the
  scheduler, the CPU time the work.
NEST needs ≈ 15 GB and, under load, half an hour: `--no-ours` runs it alone, and
`--nest-from FILE` puts that earlier record next to a new run of ours (marked
`from_earlier_run`, with its load averages; the ratios are then across two runs).

The machine's memory bandwidth is measured in the same run (a NumPy stream copy of 256 MB,
best of 5; bytes read + written per second), and the delivery's traffic is set against it:
each synaptic event reads its table entry (4 B target index + 4 B weight + 1 B delay) and
reads and writes one ring-buffer float (2 × 4 B), 17 B in all; events/s × 17 B / bandwidth
says how close delivery is to the memory limit (the ring writes are random, so the true
limit is the latency of random access, lower than the streaming bandwidth).

The model is `neurodyn.models.potjans_diesmann(scale, background="dc")` where that exists;
otherwise a stand-in with the same populations, synapse numbers, weights, delays,
neurons, DC drive and initial potentials built here (`standin`; parameters in
`connect_pd14.py`). NEST builds the same model (`nest_child`) with its own random numbers.

NEST 3.10 refuses more than 134 M connections per virtual process, so full scale needs
≥ 4 threads (`--nest-threads`, default 4) even on 2 cores. Every full-scale child runs
under `flock /work/locks/bigmem.lock`-style locking when `--lock FILE` is given.

    PYTHONPATH=. python benchmarks/microcircuit.py --scale 1 --json --out benchmarks/results/microcircuit_cpu_2core.json \\
        --nest-python /work/venvs/nest/bin/python --lock /work/locks/bigmem.lock
    PYTHONPATH=. python benchmarks/microcircuit.py --device gpu --scale 1 --no-nest --json   # the pure-JAX delivery on a GPU

`--threads T` caps the compiled delivery's threads (`potjans_diesmann(delivery_threads=T)`;
default: `$NEURODYN_DELIVERY_THREADS`, else 1); the JSON records it as `delivery_threads`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import emit, load_average, machine_info  # noqa: E402
from connect_pd14 import DELAY_MS, DT, J_PA, N_FULL, POPULATIONS, REL_SD_D, REL_SD_W, projections  # noqa: E402

T_WARM_MS, T_SIM_MS = 500.0, 1000.0
# External in-degrees K_ext and background rate (Potjans & Diesmann 2014, Table 5; NEST example).
K_EXT = (1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100)
BG_RATE_HZ = 8.0
TAU_SYN_MS = 0.5
# "optimized" initial membrane potentials (NEST Potjans_2014 example, network_params.py), mV.
V0_MEAN = (-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43)
V0_SD = (5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48)
NEURON = dict(C_m=250.0, tau_m=10.0, t_ref=2.0, E_L=-65.0, V_reset=-65.0, V_th=-50.0)
BYTES_PER_EVENT = 17  # 4 index + 4 weight + 1 delay read, one ring float read + written


def sizes(scale: float) -> list[int]:
    return [max(1, int(round(n * scale))) for n in N_FULL]


def dc_pa(i: int) -> float:
    """DC equivalent of K_ext Poisson inputs at 8 Hz through τ_syn: K ν J τ_syn (pA)."""
    return K_EXT[i] * BG_RATE_HZ * J_PA * TAU_SYN_MS * 1e-3


# --------------------------------------------------------------------------- neurodyn


def standin(scale: float, key, delivery: str | None = None, threads: int | None = None):
    """(network, initial state, solver): the PD14 microcircuit, DC drive, built here."""
    import jax
    import jax.numpy as jnp

    from neurodyn.network import CurrentSynapse, ExactIntegration, Network, Projection, fixed_total_number
    from neurodyn.neurons.iaf import IAF

    n = sizes(scale)
    i_e = np.concatenate([np.full(k, dc_pa(i), np.float32) for i, k in enumerate(n)])
    neuron = IAF(c_m=NEURON["C_m"], tau_m=NEURON["tau_m"], e_l=NEURON["E_L"], threshold=NEURON["V_th"],
                 v_reset=NEURON["V_reset"], refractory_period=NEURON["t_ref"], i_e=jnp.asarray(i_e))
    synapses = [CurrentSynapse(name="ge", tau=TAU_SYN_MS), CurrentSynapse(name="gi", tau=TAU_SYN_MS)]
    projs = []
    for j, (source, target, n_pre, n_post, n_syn, weight, delay) in enumerate(projections(scale)):
        conn = fixed_total_number(jax.random.fold_in(key, j), n_pre, n_post, n_syn, weight, delay=delay, dt=DT)
        projs.append(Projection(source, target, conn, "ge" if source.endswith("E") else "gi"))
    net = Network(neuron, synapses, dict(zip(POPULATIONS, n)), projs, delivery=delivery, delivery_threads=threads)
    k_v = jax.random.fold_in(key, 10_000)
    mean = np.concatenate([np.full(k, m, np.float32) for k, m in zip(n, V0_MEAN)])
    sd = np.concatenate([np.full(k, s, np.float32) for k, s in zip(n, V0_SD)])
    y0 = net.initial_state()
    y0["v"] = jnp.asarray(mean) + jnp.asarray(sd) * jax.random.normal(k_v, (sum(n),))
    return net, y0, ExactIntegration()


def build_ours(scale: float, seed: int, delivery: str | None = None, threads: int | None = None):
    """(network, initial state, solver, which): the library model if present, else the stand-in."""
    import jax

    key = jax.random.key(seed)
    try:
        from neurodyn.models import potjans_diesmann
    except ImportError:
        return (*standin(scale, key, delivery, threads), "standin (benchmarks/microcircuit.py)")
    built = potjans_diesmann(scale, key=key, background="dc", delivery=delivery, delivery_threads=threads)
    return built.network, built.initial_state, built.solver, "neurodyn.models.potjans_diesmann"


def ours_child(scale: float, seed: int, device: str, delivery: str | None, chunks: int,
               threads: int | None = None) -> dict:
    """Build, warm up (compiling) and time one second; this process's numbers."""
    import jax

    if device == "gpu" and jax.default_backend() != "gpu":
        raise SystemExit(f"--device gpu: JAX sees no GPU here (backend {jax.default_backend()})")
    from neurodyn.network import simulate_network

    try:  # the tables' bytes, stated before building
        estimate = importlib.import_module("neurodyn.models.potjans_diesmann").memory_estimate(scale)
    except (ImportError, AttributeError):
        estimate = None
    t0, c0 = time.perf_counter(), time.process_time()
    net, y0, solver, which = build_ours(scale, seed, delivery, threads)
    jax.block_until_ready((net, y0))
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    n = net.n
    n_syn = int(sum(int(p.connectivity.n_synapses) for p in net.projections))
    out_degree = np.zeros(n, np.int64)
    for p in net.projections:
        start = net.population(p.pre).start
        out_degree[start:start + p.connectivity.n_pre] += np.asarray(p.connectivity.out_degree())
    # The warm-up and the two halves of the timed second are runs of 500 ms each (same
    # static shapes: the warm-up compiles, the timed halves reuse it), in chunks (progress).
    kw = dict(solver=solver, progress=max(1, chunks // 2), max_spikes=int(n * 60 * (T_WARM_MS / 1000) + 1000))
    t = time.perf_counter()
    state = simulate_network(net, T_WARM_MS, DT, initial_state=y0, **kw).final_state
    jax.block_until_ready(state)
    warm_s = time.perf_counter() - t
    spike_i, n_spikes, dropped = [], 0, 0
    t, c = time.perf_counter(), time.process_time()
    for half in (1, 2):
        res = simulate_network(net, T_WARM_MS * (1 + half), DT, initial_state=state, **kw)
        state = res.final_state
        jax.block_until_ready(state)
        spike_i.append(np.asarray(res.spikes()[1]))
        n_spikes += int(res.n_spikes)
        dropped += int(res.spikes_dropped)
    sim_s, sim_cpu = time.perf_counter() - t, time.process_time() - c
    spike_i = np.concatenate(spike_i)
    events = int(out_degree[spike_i].sum())
    rates = [round(float(np.sum((spike_i >= net.population(p).start) & (spike_i < net.population(p).stop)))
                   / (net.population(p).stop - net.population(p).start) / (T_SIM_MS / 1000), 3) for p in POPULATIONS]
    return {
        "simulator": "neurodyn", "model": which, "delivery": net.delivery, "backend": jax.default_backend(),
        "delivery_threads": net.delivery_threads,
        "device": str(jax.devices()[0].device_kind), "n_neurons": n, "n_synapses": n_syn,
        "build_s": round(build_s, 2), "build_cpu_s": round(build_cpu, 2), "warmup_incl_compile_s": round(warm_s, 2),
        "sim_s": round(sim_s, 2), "sim_cpu_s": round(sim_cpu, 2), "rtf": round(sim_s / (T_SIM_MS / 1000), 3),
        "rtf_cpu": round(sim_cpu / (T_SIM_MS / 1000), 3),
        "n_spikes": n_spikes, "spikes_dropped": dropped, "rates_hz": rates,
        "synaptic_events": events, "events_per_s": round(events / sim_s),
        "memory_estimate_before_build": estimate,
        "table_bytes": int(sum(x.nbytes for p in net.projections for x in (p.connectivity.post_idx,
                                                                        p.connectivity.weight, p.connectivity.delay))),
    }


# --------------------------------------------------------------------------- NEST


def nest_model(scale: float) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """(sizes, synapse numbers [target, source], mean weights [target, source] in pA, DC per
    population in pA): `neurodyn.models.potjans_diesmann`'s where it exists (scale < 1
    keeps the in-degrees, as the NEST example does), else the stand-in's."""
    try:  # the module (neurodyn.models.potjans_diesmann is also the name of the function)
        pd = importlib.import_module("neurodyn.models.potjans_diesmann")
    except ImportError:
        n = sizes(scale)
        n_syn, w = np.zeros((8, 8), np.int64), np.zeros((8, 8))
        index = {p: i for i, p in enumerate(POPULATIONS)}
        for source, target, _, _, k, weight, _ in projections(scale):
            n_syn[index[target], index[source]], w[index[target], index[source]] = k, weight.mean
        return n, n_syn, w, np.array([dc_pa(i) for i in range(8)])
    return list(pd.population_sizes(scale)), pd.synapse_numbers(scale), pd.weight_means()[0], pd.dc_amplitudes("dc")


def nest_child(scale: float, seed: int, threads: int) -> dict:
    """The same model in NEST 3 (as its Potjans_2014 example builds it, DC background)."""
    import nest

    nest.ResetKernel()
    nest.set_verbosity("M_ERROR")
    nest.SetKernelStatus({"resolution": DT, "local_num_threads": threads, "rng_seed": seed, "print_time": False})
    n, n_syn, w_mean, dc = nest_model(scale)
    t0, c0 = time.perf_counter(), time.process_time()
    pops = []
    for i, k in enumerate(n):
        pop = nest.Create("iaf_psc_exp", k, params={
            **NEURON, "tau_syn_ex": TAU_SYN_MS, "tau_syn_in": TAU_SYN_MS, "I_e": float(dc[i]),
            "V_m": nest.random.normal(mean=V0_MEAN[i], std=V0_SD[i])})
        pops.append(pop)
    recorder = nest.Create("spike_recorder")
    for pop in pops:
        nest.Connect(pop, recorder)
    t_create = time.perf_counter() - t0
    for t, s in zip(*np.nonzero(n_syn)):
        kind = POPULATIONS[s][-1]
        w = float(w_mean[t, s])
        d = DELAY_MS[kind]
        syn = {"synapse_model": "static_synapse",
               "weight": nest.math.redraw(nest.random.normal(mean=w, std=abs(w) * REL_SD_W),
                                          min=0.0 if w > 0 else -np.inf, max=np.inf if w > 0 else 0.0),
               "delay": nest.math.redraw(nest.random.normal(mean=d, std=d * REL_SD_D), min=DT - 0.5 * DT, max=np.inf)}
        nest.Connect(pops[s], pops[t], {"rule": "fixed_total_number", "N": int(n_syn[t, s])}, syn)
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    t = time.perf_counter()
    nest.Simulate(T_WARM_MS)
    warm_s = time.perf_counter() - t
    recorder.n_events = 0
    t, c = time.perf_counter(), time.process_time()
    nest.Simulate(T_SIM_MS)
    sim_s, sim_cpu = time.perf_counter() - t, time.process_time() - c
    ev = recorder.get("events")
    senders = np.asarray(ev["senders"])
    first = [pop[0].global_id for pop in pops]
    rates = [round(float(np.sum((senders >= f) & (senders < f + k))) / k / (T_SIM_MS / 1000), 3) for f, k in zip(first, n)]
    n_conn = nest.GetKernelStatus("num_connections") - sum(n)  # minus the recorder's
    # events: each population's spikes × its mean out-degree (its synapse total / its size)
    out_total = n_syn.sum(axis=0)
    counts = [float(np.sum((senders >= f) & (senders < f + k))) for f, k in zip(first, n)]
    events = int(sum(c * o / k for c, o, k in zip(counts, out_total, n)))
    return {
        "simulator": f"NEST {nest.__version__}", "threads": threads, "n_neurons": int(sum(n)),
        "n_synapses": int(n_conn), "create_s": round(t_create, 2), "build_s": round(build_s, 2),
        "build_cpu_s": round(build_cpu, 2), "warmup_s": round(warm_s, 2), "sim_s": round(sim_s, 2),
        "sim_cpu_s": round(sim_cpu, 2), "rtf": round(sim_s / (T_SIM_MS / 1000), 3),
        "rtf_cpu": round(sim_cpu / (T_SIM_MS / 1000), 3),
        "n_spikes": int(senders.size), "rates_hz": rates,
        "synaptic_events": events, "events_per_s": round(events / sim_s),
    }


# --------------------------------------------------------------------------- parent


def stream_bandwidth(mb: int = 256, repeats: int = 5) -> float:
    """Bytes per second of a NumPy copy (read + write), best of `repeats`."""
    a = np.ones(mb * 2**20 // 8)
    b = np.empty_like(a)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    return 2 * a.nbytes / best


def run_child(argv: list[str], python: str, lock: str | None, env: dict | None = None) -> dict:
    """Run this script as a child (under `flock LOCK` if given): its JSON, with its peak RSS."""
    cmd = [python, str(Path(__file__).resolve()), *argv]
    if lock:
        cmd = ["flock", lock, *cmd]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["peak_rss_bytes"] = out.pop("self_peak_rss_bytes")  # the child's own getrusage, read last
    out["child_wall_s"] = round(wall, 1)
    return out


def parent(args) -> dict:
    record = {"benchmark": "microcircuit", "scale": args.scale, "seed": args.seed, "dt_ms": DT,
              "t_warmup_ms": T_WARM_MS, "t_sim_ms": T_SIM_MS, "background": "dc", "machine": machine_info(),
              "load_average_start": load_average()}
    bw = stream_bandwidth()
    record["stream_copy_bytes_per_s"] = round(bw)
    child = ["--scale", str(args.scale), "--seed", str(args.seed), "--device", args.device, "--chunks", str(args.chunks)]
    if args.delivery:
        child += ["--delivery", args.delivery]
    if args.threads is not None:
        child += ["--threads", str(args.threads)]
    ours = None
    if not args.no_ours:
        ours = run_child(["--child", "ours", *child], sys.executable, args.lock)
        ours["bytes_per_s_at_17B_per_event"] = round(ours["events_per_s"] * BYTES_PER_EVENT)
        ours["fraction_of_stream_bandwidth"] = round(ours["events_per_s"] * BYTES_PER_EVENT / bw, 4)
        # per second of CPU time: what the delivery reaches when it has a core to itself
        ours["events_per_cpu_s"] = round(ours["synaptic_events"] / ours["sim_cpu_s"])
        ours["fraction_of_stream_bandwidth_per_cpu_s"] = round(ours["events_per_cpu_s"] * BYTES_PER_EVENT / bw, 4)
        record["neurodyn"] = ours
        if args.out and not args.no_nest:  # ours so far, in case the (much longer) NEST run is cut off
            Path(args.out).with_suffix(".partial.json").write_text(json.dumps(record, indent=2) + "\n")
    nest = None
    if args.nest_from:
        # NEST's record from an earlier run of this script (not the same run: its load is in it)
        earlier = json.loads(Path(args.nest_from).read_text())
        if "nest" not in earlier or earlier.get("scale") != args.scale:
            raise SystemExit(f"--nest-from {args.nest_from}: no NEST record at scale {args.scale} in it")
        nest = {**earlier["nest"], "from_earlier_run": str(args.nest_from),
                "earlier_run_load_average": [earlier.get("load_average_start"), earlier.get("load_average_end")]}
    elif not args.no_nest:
        # OMP_WAIT_POLICY=PASSIVE: NEST's OpenMP threads sleep at barriers instead of
        # spinning, which on a shared 2-core machine with 4 threads is what keeps it usable.
        nest = run_child(["--child", "nest", "--nest-threads", str(args.nest_threads), *child],
                         args.nest_python, args.lock, env={"OMP_WAIT_POLICY": "PASSIVE"})
    if nest is not None:
        record["nest"] = nest
    if nest is not None and ours is not None:
        record["rtf_nest_over_ours"] = round(nest["rtf"] / ours["rtf"], 2)
        record["build_nest_over_ours"] = round(nest["build_s"] / ours["build_s"], 2)
        record["peak_rss_ours_over_nest"] = round(ours["peak_rss_bytes"] / nest["peak_rss_bytes"], 3)
        if "rtf_cpu" in nest:
            record["rtf_cpu_nest_over_ours"] = round(nest["rtf_cpu"] / ours["rtf_cpu"], 2)
            record["build_cpu_nest_over_ours"] = round(nest["build_cpu_s"] / ours["build_cpu_s"], 2)
    record["load_average_end"] = load_average()
    return record


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the full-scale population sizes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="where neurodyn runs")
    ap.add_argument("--delivery", choices=("ffi", "jax"), default=None, help="force a delivery path")
    ap.add_argument("--threads", type=int, default=None,
                    help="most threads of the compiled delivery (default: $NEURODYN_DELIVERY_THREADS, else 1)")
    ap.add_argument("--chunks", type=int, default=10, help="chunks of the timed second (progress bar)")
    ap.add_argument("--no-nest", action="store_true", help="skip NEST")
    ap.add_argument("--no-ours", action="store_true", help="skip neurodyn (NEST alone)")
    ap.add_argument("--nest-from", default=None,
                    help="take NEST's record from this earlier --json output instead of running NEST (marked as such)")
    ap.add_argument("--nest-python", default="/work/venvs/nest/bin/python", help="an interpreter with PyNEST")
    ap.add_argument("--nest-threads", type=int, default=4, help="NEST threads (full scale needs >= 4)")
    ap.add_argument("--lock", default=None, help="run every child under `flock LOCK` (big-memory runs)")
    ap.add_argument("--child", choices=("ours", "nest"), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--out", default=None, help="also write the JSON object to this file")
    args = ap.parse_args(argv)
    if not 0 < args.scale <= 1:
        ap.error("--scale must be in (0, 1]")
    if args.child:
        if args.child == "ours":
            out = ours_child(args.scale, args.seed, args.device, args.delivery, args.chunks, args.threads)
        else:
            out = nest_child(args.scale, args.seed, args.nest_threads)
        out["self_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps(out))
        return
    emit(parent(args), args.json, args.out)


if __name__ == "__main__":
    main()
