"""Networks in NEST and in neurodyn: statistics and run times (`--model brunel|tsodyks|triplet|microcircuit`).

`--model brunel` (default): the Brunel (2000) delta-synapse network.

10 000 `iaf_psc_delta` neurons (8000 E / 2000 I), ε = 0.1 (C_E = 800, C_I = 200, NEST
`fixed_indegree`, autapses and multapses allowed), J = 0.1 mV, g = 5, D = 1.5 ms,
ν_ext/ν_thr = 2 (C_E Poisson inputs per neuron, as one `poisson_generator` of rate C_E·ν_ext),
τ_m = 20 ms, θ = 20 mV, V_r = 10 mV, t_ref = 2 ms, V(0) ~ U(0, θ), dt = 0.1 ms
(`neurodyn.network.brunel`). (g, η) = (5, 2) is Brunel 2000's asynchronous irregular (AI)
point (Fig. 8C, there with J = 0.2 mV, C_E = 1000); with J = 0.1 mV and C_E = 800 both
simulators give irregular firing at ≈ 43 Hz (CV ISI ≈ 0.36) on a fast population
oscillation (spectrum peak ≈ 120 Hz): between AI and synchronous irregular (fast).

For each seed, NEST and neurodyn are run alternately in the same process (NEST from the
`nest-simulator` package; run this script with the interpreter of an environment that has
it, e.g. /work/venvs/nest/bin/python with PYTHONPATH pointing at neurodyn). Both are
measured over [t_skip, t): mean rate (Hz), CV ISI (mean over neurons with ≥ 3 spikes) and
the frequency of the peak of the population-rate periodogram (1 ms bins). The two use
different random numbers (connectivity, drive, initial state), so they are compared
through the seed-to-seed spread: neurodyn's mean over seeds should lie within NEST's
mean ± 2 SD (reported as `within_spread`), and the per-seed values are compared by Welch's
t-test and the two-sample KS test (`two_sample_tests`). The spread needs several seeds with
different connectivity (NEST's `rng_seed` redraws it): the CV ISI of this network moves by
≈ 0.002 between connectivity draws (NEST seeds 1–11: 0.3544 to 0.3611), ten times the
spread of three seeds that happen to agree; with 11 seeds each, neurodyn 0.3581 ± 0.0020
vs NEST 0.3567 ± 0.0020, Welch p = 0.13. `--swap-connectivity` (or `--swap-only`) runs
each simulator on the other's connectivity too (`swap_connectivity`), which separates the
draw from the dynamics; NEST's connectivity is exported in blocks of source neurons to a
.npy file (`export_connections`; a single GetConnections of the N = 10 000 network's 10⁷
synapses grew past 20 GB, the blocked export peaks below 3 GB for the whole run).

Timing: NEST's `Simulate` wall time (network build excluded) with `--threads` threads;
neurodyn's run wall time after a compiling run (build and compile excluded), XLA on all
cores. The ratio is ours/NEST per seed, and its median.

    PYTHONPATH=. /work/venvs/nest/bin/python benchmarks/compare_nest.py --seeds 1 2 3 4 5 6 7 8 --json

`--model tsodyks`: NEST's `tsodyks_synapse` against `neurodyn.network.TsodyksSynapse`, in
the setting of NEST's tsodyks_depressing/tsodyks_facilitating examples (Tsodyks, Pawelzik &
Markram 1998, Fig. 1A/B): an `iaf_psc_exp` neuron driven by a constant current fires
regularly (≈ 20 Hz) onto a second one (threshold out of reach) through one plastic synapse,
delay 1 ms, dt = 0.1 ms, 1200 ms. Reported per parameter set: the presynaptic spike times,
the per-spike PSC amplitudes w·u·x (NEST: its `weight_recorder`; neurodyn: the jumps of the
postsynaptic current) and the membrane trace every 1 ms, with their largest differences.
`--fixture PATH` also writes NEST's numbers (the test fixture tests/data/nest_tsodyks.json):

    PYTHONPATH=. /work/venvs/nest/bin/python benchmarks/compare_nest.py --model tsodyks --json \
        --fixture tests/data/nest_tsodyks.json

`--model triplet`: NEST's `stdp_triplet_synapse` (and `stdp_synapse`, the additive pair rule)
against `neurodyn.network.TripletSTDP` (and `STDP`) on isolated synapses driven by fixed
spike trains (`parrot_neuron`s fed by `spike_generator`s; the plastic synapse goes to the
postsynaptic parrot's receptor 1, which does not make it spike, as in NEST's own STDP tests):
pairings at 1, 10, 20, 40 and 50 Hz with Δt = ±10 ms (5 pairs each; Sjöström et al. 2001's
protocol as fitted by Pfister & Gerstner 2006, Fig. 5), and pre-post-pre / post-pre-post
triplets (Froemke & Dan 2002, Wang et al. 2005 protocols, Pfister & Gerstner 2006 Fig. 6),
each repeated 5 times at 1 Hz, every protocol on its own synapse, with dendritic delays of
1 and 3 ms (NEST: the synapse's delay is dendritic); on the neurodyn side also as one
projection with per-synapse delays (1 and 3 ms in turn), compared with NEST's synapse of the
same delay. Triplet parameters: NEST 3.10's defaults
(Pfister & Gerstner 2006, Table 4, visual cortex, all-to-all, full model), with τ₋ = 33.7 ms
and τ_y = 125 ms set on the postsynaptic neuron. NEST applies a postsynaptic spike's
potentiation at the next presynaptic spike, so every presynaptic train ends with one spike
2 s after the protocol (its depression is < 1e-20 of a weight). Reported: the final weights and
their largest difference; `--fixture PATH` writes NEST's spike times and weights (the test
fixture tests/data/nest_triplet.json):

    PYTHONPATH=. /work/venvs/nest/bin/python benchmarks/compare_nest.py --model triplet --json \
        --fixture tests/data/nest_triplet.json

`--model microcircuit`: the Potjans & Diesmann (2014) microcircuit (see
next to this script: `_pd14_nest.py` for the NEST model and the statistics compared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cv_isi, emit, load_average, machine_summary  # noqa: E402

DT = 0.1
PARAMS = dict(epsilon=0.1, j=0.1, delay=1.5, tau_m=20.0, theta=20.0, v_reset=10.0, t_ref=2.0)


def statistics_of(times, senders, n: int, t_skip: float, t_ms: float) -> dict:
    """Mean rate (Hz), CV ISI and population-spectrum peak (Hz) over [t_skip, t_ms)."""
    from neurodyn.network.brunel import population_spectrum

    times, senders = np.asarray(times, float), np.asarray(senders)
    keep = (times >= t_skip) & (times < t_ms)
    t, s = times[keep], senders[keep]
    freqs, power = population_spectrum(t, t_skip, t_ms, n)
    band = freqs >= 5.0  # above the slow drift of a finite window
    return {
        "rate_hz": float(t.size / n / ((t_ms - t_skip) / 1000.0)),
        "cv_isi": cv_isi(t, s),
        "peak_hz": float(freqs[band][np.argmax(power[band])]),
    }


EXPORT_BLOCK = 500  # source neurons per GetConnections call of an export (N = 10 000: ~5e5 synapses each)
CONNECT_BLOCK = 1_000_000  # synapses per Connect call when building from explicit lists


def export_connections(nodes, path: Path, block: int = EXPORT_BLOCK) -> int:
    """Write NEST's recurrent connections among `nodes` to `path` as an int32 .npy (2, n_syn) array.

    Row 0 the presynaptic, row 1 the postsynaptic neuron (0-based, E first). Exported one
    block of `block` source neurons at a time (GetConnections + get), appended to a raw
    temporary file, then copied into the .npy and renamed into place, so peak memory is
    one block's (a single GetConnections of all 10^7 synapses of the N = 10 000 network
    grew past 20 GB). Returns the number of synapses.
    """
    import nest

    path = Path(path)
    gid0 = nodes[0].global_id
    raw = path.with_name(path.name + ".raw.tmp")
    total = 0
    with open(raw, "wb") as f:
        for a in range(0, len(nodes), block):
            conns = nest.GetConnections(source=nodes[a:a + block], target=nodes)
            if len(conns) == 0:
                continue
            src = np.asarray(conns.get("source"), np.int64) - gid0
            tgt = np.asarray(conns.get("target"), np.int64) - gid0
            np.stack([src, tgt]).astype(np.int32).T.tofile(f)  # interleaved (pre, post) pairs
            total += src.size
            del conns, src, tgt
    pairs = np.memmap(raw, np.int32, "r", shape=(total, 2)) if total else np.zeros((0, 2), np.int32)
    tmp = path.with_name(path.name + ".tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.int32, shape=(2, total))
    for a in range(0, total, CONNECT_BLOCK):
        out[:, a:a + CONNECT_BLOCK] = pairs[a:a + CONNECT_BLOCK].T
    out.flush()
    del out, pairs
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)  # atomic: a reader never sees half an export
    raw.unlink()
    return total


def run_nest(seed: int, n: int, g: float, eta: float, t_ms: float, threads: int,
             connectivity: tuple | None = None, export_to: Path | None = None) -> tuple[dict, float]:
    """NEST's run for one seed: (spikes, Simulate wall time).

    `connectivity`: (pre, post) neuron indices (0-based, E first) to build instead of
    `fixed_indegree` (weights J from E, −gJ from I), connected in blocks of
    `CONNECT_BLOCK` synapses. `export_to`: write NEST's own connectivity there
    (`export_connections`) before simulating.
    """
    import nest

    p = PARAMS
    nest.ResetKernel()
    nest.set_verbosity("M_ERROR")
    nest.SetKernelStatus({"resolution": DT, "local_num_threads": threads, "rng_seed": seed, "print_time": False})
    n_e = int(round(0.8 * n))
    c_e, c_i = int(round(p["epsilon"] * n_e)), int(round(p["epsilon"] * (n - n_e)))
    nu_thr = 1000.0 * p["theta"] / (p["j"] * c_e * p["tau_m"])
    nodes = nest.Create("iaf_psc_delta", n, params={
        "C_m": 250.0, "tau_m": p["tau_m"], "t_ref": p["t_ref"], "E_L": 0.0,
        "V_reset": p["v_reset"], "V_th": p["theta"], "I_e": 0.0,
    })
    nodes.V_m = nest.random.uniform(0.0, p["theta"])
    noise = nest.Create("poisson_generator", params={"rate": eta * nu_thr * c_e})
    rec = nest.Create("spike_recorder")
    exc = {"synapse_model": "static_synapse", "weight": p["j"], "delay": p["delay"]}
    inh = {"synapse_model": "static_synapse", "weight": -g * p["j"], "delay": p["delay"]}
    gid0 = nodes[0].global_id
    nest.Connect(noise, nodes, syn_spec=exc)
    if connectivity is None:
        nest.Connect(nodes[:n_e], nodes, {"rule": "fixed_indegree", "indegree": c_e}, exc)
        nest.Connect(nodes[n_e:], nodes, {"rule": "fixed_indegree", "indegree": c_i}, inh)
    else:
        pre_all, post_all = connectivity
        for a in range(0, len(pre_all), CONNECT_BLOCK):
            pre = np.asarray(pre_all[a:a + CONNECT_BLOCK], np.int64)
            post = np.asarray(post_all[a:a + CONNECT_BLOCK], np.int64)
            nest.Connect(pre + gid0, post + gid0, "one_to_one", {
                "synapse_model": "static_synapse", "weight": np.where(pre < n_e, p["j"], -g * p["j"]),
                "delay": np.full(pre.size, p["delay"])})
    nest.Connect(nodes, rec)
    if export_to is not None:
        export_connections(nodes, export_to)
    t0 = time.perf_counter()
    nest.Simulate(t_ms)
    wall = time.perf_counter() - t0
    ev = rec.get("events")
    spikes = {"times": ev["times"], "senders": ev["senders"] - gid0}
    return spikes, wall


def brunel_pairs(net) -> tuple[np.ndarray, np.ndarray]:
    """(pre, post) neuron indices (0-based, E first) of a `brunel_network`'s recurrent synapses."""
    pres, posts, offset = [], [], 0
    for proj in net.projections:
        pre, post, _ = proj.connectivity.to_lists()
        pres.append(pre + offset)
        posts.append(post)
        offset += proj.connectivity.n_pre
    return np.concatenate(pres), np.concatenate(posts)


def run_neurodyn(seed: int, n: int, g: float, eta: float, t_ms: float,
                 connectivity: tuple | None = None) -> tuple[dict, float]:
    """neurodyn's run for one seed: (spikes, run wall time after a compiling run).

    `connectivity`: (pre, post) neuron indices (0-based, E first) to use instead of the
    seed's `fixed_in_degree` draw (drive and V(0) still from the seed).
    """
    import jax

    from neurodyn.network import DeltaSynapse, ExactIntegration, Network, Projection, from_lists, simulate_network
    from neurodyn.network.brunel import brunel_network

    net, y0 = brunel_network(jax.random.key(seed), n, g=g, eta=eta, dt=DT, **PARAMS)
    if connectivity is not None:
        pre, post = (np.asarray(a, np.int64) for a in connectivity)
        n_e, d = int(round(0.8 * n)), net.projections[0].delay
        e = pre < n_e
        net = Network(net.neuron, [DeltaSynapse("jump")], {"E": n_e, "I": n - n_e}, [
            Projection("E", "all", from_lists(pre[e], post[e], PARAMS["j"], n_pre=n_e, n_post=n), "jump", delay=d),
            Projection("I", "all", from_lists(pre[~e] - n_e, post[~e], -g * PARAMS["j"], n_pre=n - n_e, n_post=n),
                       "jump", delay=d),
        ], drives=net.drives)
    jax.block_until_ready((net, y0))

    def sim():
        return simulate_network(net, t_ms, DT, initial_state=y0, solver=ExactIntegration(),
                                key=jax.random.key(10_000 + seed), max_spikes=int(n * t_ms / 1000 * 200))

    jax.block_until_ready(sim())  # compile (cached across seeds: same shapes)
    t0 = time.perf_counter()
    res = jax.block_until_ready(sim())
    wall = time.perf_counter() - t0
    if int(res.spikes_dropped):
        raise RuntimeError(f"spike buffer overflow: {int(res.spikes_dropped)} spikes not stored")
    times, neurons = res.spikes()
    return {"times": times, "senders": neurons}, wall


def swap_connectivity(args) -> dict:
    """Each simulator on the other's connectivity, seed by seed: separates the draw from the dynamics.

    For seed s: NEST on neurodyn's `fixed_in_degree` draw of seed s (NEST rng seed s, so its
    drive and V(0) are those of NEST's own run), and neurodyn on NEST's `fixed_indegree`
    draw of seed s (exported with GetConnections; drive and V(0) from neurodyn's seed s).
    If the CV gap follows the connectivity, the two draws differ; if it follows the
    simulator, the dynamics do.
    """
    import jax

    from neurodyn.network.brunel import brunel_network

    out = {"nest_on_neurodyn_connectivity": [], "neurodyn_on_nest_connectivity": []}
    with tempfile.TemporaryDirectory(prefix="neurodyn_swap_") as tmp:
        for seed in args.seeds:
            net, _ = brunel_network(jax.random.key(seed), args.n, g=args.g, eta=args.eta, dt=DT, **PARAMS)
            pairs = brunel_pairs(net)
            del net
            spikes, _ = run_nest(seed, args.n, args.g, args.eta, args.t_ms, args.threads, connectivity=pairs)
            out["nest_on_neurodyn_connectivity"].append(
                statistics_of(spikes["times"], spikes["senders"], args.n, args.t_skip, args.t_ms))
            del pairs, spikes
            path = Path(tmp) / f"nest_seed{seed}.npy"
            run_nest(seed, args.n, args.g, args.eta, DT, args.threads, export_to=path)
            nest_pairs = np.load(path, mmap_mode="r")
            check_in_degrees(nest_pairs, args.n)
            spikes, _ = run_neurodyn(seed, args.n, args.g, args.eta, args.t_ms, connectivity=(nest_pairs[0], nest_pairs[1]))
            out["neurodyn_on_nest_connectivity"].append(
                statistics_of(spikes["times"], spikes["senders"], args.n, args.t_skip, args.t_ms))
            del nest_pairs
            path.unlink()
    return {name: {key: summary([r[key] for r in rows]) for key in ("rate_hz", "cv_isi", "peak_hz")}
            for name, rows in out.items()}


def two_sample_tests(ours: list[float], ref: list[float]) -> dict:
    """Welch's t-test and the two-sample Kolmogorov-Smirnov test of the per-seed values.

    Each seed is one independent draw of connectivity, drive and initial state, so the
    per-seed statistics of the two simulators are two samples; p < 0.05 would say that
    their means (Welch) or distributions (KS) differ by more than the seed-to-seed spread.
    """
    if len(ours) < 2 or len(ref) < 2:
        return {}
    from scipy import stats

    welch = stats.ttest_ind(ours, ref, equal_var=False)
    ks = stats.ks_2samp(ours, ref)
    return {"welch_t": round(float(welch.statistic), 4), "welch_p": round(float(welch.pvalue), 4),
            "ks_d": round(float(ks.statistic), 4), "ks_p": round(float(ks.pvalue), 4)}


def check_in_degrees(pairs, n: int) -> None:
    """Raise unless every neuron has exactly C_E inputs from E and C_I from I (`fixed_indegree`):
    an export that lost or repeated a block would fail here."""
    n_e = int(round(0.8 * n))
    c_e, c_i = int(round(PARAMS["epsilon"] * n_e)), int(round(PARAMS["epsilon"] * (n - n_e)))
    pre, post = np.asarray(pairs[0]), np.asarray(pairs[1])
    from_e = np.bincount(post[pre < n_e], minlength=n)
    from_i = np.bincount(post[pre >= n_e], minlength=n)
    if not (np.all(from_e == c_e) and np.all(from_i == c_i)):
        raise RuntimeError(f"exported connectivity is not fixed_indegree ({c_e} from E, {c_i} from I per neuron): "
                           f"in-degrees from E {from_e.min()}..{from_e.max()}, from I {from_i.min()}..{from_i.max()}")


def summary(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            "values": [round(float(v), 5) for v in values]}


# NEST's tsodyks_depressing / tsodyks_facilitating examples (Tsodyks, Pawelzik & Markram 1998,
# Fig. 1A/B): τ_m 40/60 ms with R_in 100 MΩ / 1 GΩ (C_m = τ_m/R_in), θ = 15 mV, E_L = V_reset = 0,
# t_ref 2 ms; I_e puts the presynaptic neuron at ≈ 20 Hz (NEST's examples compute it from f = 20 Hz).
TSODYKS_SETS = {
    "depressing": {"neuron": {"C_m": 400.0, "tau_m": 40.0, "tau_syn": 3.0}, "I_e_pA": 215.0, "weight_pA": 250.0,
                   "synapse": {"U": 0.5, "tau_rec": 800.0, "tau_fac": 0.0, "tau_psc": 3.0}},
    "facilitating": {"neuron": {"C_m": 60.0, "tau_m": 60.0, "tau_syn": 1.5}, "I_e_pA": 27.3, "weight_pA": 1540.0,
                     "synapse": {"U": 0.03, "tau_rec": 130.0, "tau_fac": 530.0, "tau_psc": 1.5}},
}
TSODYKS_COMMON = {"theta": 15.0, "t_ref": 2.0, "delay": 1.0, "t_ms": 1200.0, "record_ms": 1.0}


def run_nest_tsodyks(cfg: dict) -> dict:
    """NEST: presynaptic spike times (ms), PSC amplitudes (pA, weight_recorder), post V every 1 ms."""
    import nest

    c, nrn = TSODYKS_COMMON, cfg["neuron"]
    nest.ResetKernel()
    nest.set_verbosity("M_ERROR")
    nest.SetKernelStatus({"resolution": DT, "print_time": False})
    params = {"C_m": nrn["C_m"], "tau_m": nrn["tau_m"], "E_L": 0.0, "V_m": 0.0, "V_reset": 0.0, "V_th": c["theta"],
              "t_ref": c["t_ref"], "tau_syn_ex": nrn["tau_syn"], "tau_syn_in": nrn["tau_syn"]}
    pre = nest.Create("iaf_psc_exp", params={**params, "I_e": cfg["I_e_pA"]})
    post = nest.Create("iaf_psc_exp", params={**params, "V_th": 1e6})
    wr = nest.Create("weight_recorder")
    nest.CopyModel("tsodyks_synapse", "tsodyks_recorded", {"weight_recorder": wr})
    nest.Connect(pre, post, syn_spec={"synapse_model": "tsodyks_recorded", **cfg["synapse"],
                                      "weight": cfg["weight_pA"], "delay": c["delay"]})
    sr = nest.Create("spike_recorder")
    nest.Connect(pre, sr)
    vm = nest.Create("voltmeter", params={"interval": c["record_ms"]})
    nest.Connect(vm, post)
    nest.Simulate(c["t_ms"] + c["record_ms"])
    ev = vm.get("events")
    keep = ev["times"] <= c["t_ms"]
    return {"pre_spike_ms": sr.get("events")["times"].tolist(), "psc_pA": wr.get("events")["weights"].tolist(),
            "v_times_ms": ev["times"][keep].tolist(), "v_mV": ev["V_m"][keep].tolist()}


def run_neurodyn_tsodyks(cfg: dict, dtype: str = "float32") -> dict:
    """neurodyn, the same two neurons: `IAF` + `CurrentSynapse` + `TsodyksSynapse`, `ExactIntegration`."""
    import jax

    import neurodyn as nd
    from neurodyn.network import (
        CurrentSynapse,
        ExactIntegration,
        Network,
        Projection,
        TsodyksSynapse,
        from_lists,
        simulate_network,
    )

    c, nrn = TSODYKS_COMMON, cfg["neuron"]
    iaf = nd.IAF(c_m=nrn["C_m"], tau_m=nrn["tau_m"], e_l=0.0, v_reset=0.0, threshold=np.array([c["theta"], 1e6]),
                 refractory_period=c["t_ref"], i_e=np.array([cfg["I_e_pA"], 0.0]))
    conn = from_lists(np.array([0]), np.array([0]), np.array([cfg["weight_pA"]]), n_pre=1, n_post=1)
    net = Network(iaf, [CurrentSynapse("ex", tau=nrn["tau_syn"])], {"pre": 1, "post": 1},
                  [Projection("pre", "post", conn, "ex", delay=c["delay"], short_term=TsodyksSynapse(**cfg["synapse"]))])
    with jax.enable_x64(dtype == "float64"):
        res = simulate_network(net, c["t_ms"] + DT, DT, record=("v", "ex"), solver=ExactIntegration(), dtype=dtype)
        times, _ = res.spikes()
        ex = np.asarray(res.traces["ex"][:, 1], np.float64)
        v = np.asarray(res.traces["v"][:, 1], np.float64)
        t = np.asarray(res.times, np.float64)
    jumps = ex[1:] - ex[:-1] * np.exp(-DT / nrn["tau_syn"])  # exact decay between records
    every = int(round(c["record_ms"] / DT))
    grid = np.arange(every, t.size, every)
    return {"pre_spike_ms": np.round(np.asarray(times, np.float64), 6).tolist(),
            "psc_pA": jumps[jumps > 1e-3 * cfg["weight_pA"] * cfg["synapse"]["U"]].tolist(),
            "v_times_ms": np.round(t[grid], 6).tolist(), "v_mV": v[grid].tolist()}


def compare_tsodyks(args) -> None:
    result = {"model": "tsodyks_synapse", "dt_ms": DT, **TSODYKS_COMMON, "machine": machine_summary(), "sets": {}}
    fixture = {"source": "NEST 3.10, benchmarks/compare_nest.py --model tsodyks", "dt_ms": DT, **TSODYKS_COMMON,
               "sets": {}}
    for name, cfg in TSODYKS_SETS.items():
        ref, ours = run_nest_tsodyks(cfg), run_neurodyn_tsodyks(cfg)
        n = min(len(ref["psc_pA"]), len(ours["psc_pA"]))
        m = min(len(ref["v_mV"]), len(ours["v_mV"]))
        result["sets"][name] = {
            "config": cfg, "nest": ref, "neurodyn": ours,
            "same_pre_spikes": bool(np.allclose(ref["pre_spike_ms"], ours["pre_spike_ms"], atol=1e-3)
                                    if len(ref["pre_spike_ms"]) == len(ours["pre_spike_ms"]) else False),
            "n_psc": [len(ref["psc_pA"]), len(ours["psc_pA"])],
            "max_rel_psc_diff": float(np.max(np.abs(np.array(ours["psc_pA"][:n]) / np.array(ref["psc_pA"][:n]) - 1))),
            "v_times_equal": bool(np.allclose(ref["v_times_ms"][:m], ours["v_times_ms"][:m], atol=1e-4)),
            "max_abs_v_diff_mV": float(np.max(np.abs(np.array(ours["v_mV"][:m]) - np.array(ref["v_mV"][:m])))),
        }
        fixture["sets"][name] = {"config": cfg, **ref}
    if args.fixture:
        path = Path(args.fixture)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(fixture, f)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the fixture from other users
        os.replace(tmp, path)  # atomic: a reader never sees half a fixture
    emit(result, args.json, args.out)


# `--model triplet`: the protocols (spike times in ms, before the common start TRIPLET_START)
TRIPLET_START = 100.0
TRIPLET_FLUSH = 2000.0  # the last presynaptic spike, this long after the protocol's end
TRIPLET_DELAYS = (1.0, 3.0)  # ms, dendritic
TRIPLET_W0, TRIPLET_WMAX = 1.0, 100.0
# NEST 3.10 stdp_triplet_synapse defaults = Pfister & Gerstner 2006, Table 4 (visual cortex,
# all-to-all, full model); tau_minus / tau_minus_triplet belong to the postsynaptic neuron
TRIPLET_NEST = {"Aplus": 5e-10, "Aplus_triplet": 6.2e-3, "Aminus": 7e-3, "Aminus_triplet": 2.3e-4,
                "tau_plus": 16.8, "tau_plus_triplet": 101.0}
TRIPLET_POST = {"tau_minus": 33.7, "tau_minus_triplet": 125.0}
# the additive pair rule in NEST's stdp_synapse parameters: A+ = lambda Wmax, A- = alpha lambda Wmax
PAIR_NEST = {"lambda": 1e-4, "alpha": 1.05, "mu_plus": 0.0, "mu_minus": 0.0, "tau_plus": 20.0}
PAIR_POST = {"tau_minus": 20.0}


def triplet_protocols() -> dict[str, tuple[list[float], list[float]]]:
    """{name: (pre spike times, post spike times)} in ms from 0, without the final pre spike."""
    out = {}
    for rho in (1.0, 10.0, 20.0, 40.0, 50.0):
        for lag in (10.0, -10.0):
            pre = [20.0 + m * 1000.0 / rho for m in range(5)]
            out[f"pairs_{rho:g}Hz_{lag:+g}ms"] = (pre, [t + lag for t in pre])
    for d1, d2 in ((5.0, 5.0), (10.0, 10.0)):
        starts = [20.0 + m * 1000.0 for m in range(5)]
        out[f"pre_post_pre_{d1:g}_{d2:g}"] = ([t for s in starts for t in (s, s + d1 + d2)], [s + d1 for s in starts])
        out[f"post_pre_post_{d1:g}_{d2:g}"] = ([s + d1 for s in starts], [t for s in starts for t in (s, s + d1 + d2)])
    return out


def run_nest_triplet() -> dict:
    """NEST: per rule, delay and protocol, the parrots' spike times and the final weight."""
    import nest

    protocols = triplet_protocols()
    t_end = TRIPLET_START + max(max(a + b) for a, b in protocols.values()) + TRIPLET_FLUSH
    out = {}
    for rule, model, params, post_params in (("triplet", "stdp_triplet_synapse", TRIPLET_NEST, TRIPLET_POST),
                                             ("pair", "stdp_synapse", PAIR_NEST, PAIR_POST)):
        out[rule] = {}
        for delay in TRIPLET_DELAYS:
            nest.ResetKernel()
            nest.set_verbosity("M_ERROR")
            nest.SetKernelStatus({"resolution": DT, "print_time": False})
            runs = {}
            for name, (pre_t, post_t) in protocols.items():
                pre, post = nest.Create("parrot_neuron"), nest.Create("parrot_neuron", params=post_params)
                # a generator spike at t reaches the parrot at t + 0.1 ms (one step), which repeats it
                gens = [nest.Create("spike_generator", params={"spike_times": [round(TRIPLET_START + t - DT, 1) for t in times]})
                        for times in (pre_t + [max(pre_t + post_t) + TRIPLET_FLUSH], post_t)]
                nest.Connect(gens[0], pre, syn_spec={"delay": DT})
                nest.Connect(gens[1], post, syn_spec={"delay": DT})
                nest.Connect(pre, post, syn_spec={"synapse_model": model, "receptor_type": 1, "delay": delay,
                                                  "weight": TRIPLET_W0, "Wmax": TRIPLET_WMAX, **params})
                recs = [nest.Create("spike_recorder") for _ in range(2)]
                nest.Connect(pre, recs[0])
                nest.Connect(post, recs[1])
                runs[name] = (pre, post, recs)
            nest.Simulate(t_end + 10.0)
            out[rule][f"{delay:g}"] = {
                name: {"pre_ms": recs[0].get("events")["times"].tolist(), "post_ms": recs[1].get("events")["times"].tolist(),
                       "weight": float(nest.GetConnections(pre, post).get("weight"))}
                for name, (pre, post, recs) in runs.items()
            }
    keys = ("Aplus", "Aplus_triplet", "Aminus", "Aminus_triplet", "tau_plus", "tau_plus_triplet")
    defaults = nest.GetDefaults("stdp_triplet_synapse")
    return {"t_end_ms": t_end, "nest_triplet_defaults": {k: defaults[k] for k in keys}, "rules": out}


def run_neurodyn_triplet(ref: dict, delivery: str | None = None, dtype: str = "float32") -> dict:
    """neurodyn: the same spike trains (NEST's recorded spike times), {rule: {delay: {protocol: w}}}.

    One network: P presynaptic and P postsynaptic LIF neurons made to spike at NEST's times by
    1e4 input pulses, and per rule and delay one one-to-one plastic projection (`TripletSTDP`
    or additive `STDP` with NEST's parameters, dendritic delay). Its current (weight ~1 onto
    5 ms current synapses) is far below threshold: the spike trains are the protocol's only.
    """
    import jax.numpy as jnp

    import neurodyn as nd
    from neurodyn.inputs import TimeSeries
    from neurodyn.network import STDP, Connectivity, CurrentSynapse, Network, Projection, TripletSTDP, simulate_network

    rules = ref["rules"]
    first = next(iter(next(iter(rules.values())).values()))
    names = list(first)
    p = len(names)
    steps = int(round(ref["t_end_ms"] / DT)) + 10
    pulses = np.zeros((steps + 1, 2 * p))
    for k, name in enumerate(names):  # a pulse in step s makes the neuron spike at (s + 1) dt
        for col, key in ((k, "pre_ms"), (p + k, "post_ms")):
            pulses[np.round(np.asarray(first[name][key]) / DT).astype(int) - 1, col] = 1e4
    tn, tp, pn, pp = ref["triplet_nest"], ref["triplet_post"], ref["pair_nest"], ref["pair_post"]
    w_max = ref["w_max"]
    make = {
        "triplet": lambda: TripletSTDP(a2_plus=tn["Aplus"], a3_plus=tn["Aplus_triplet"], a2_minus=tn["Aminus"],
                                       a3_minus=tn["Aminus_triplet"], tau_plus=tn["tau_plus"], tau_x=tn["tau_plus_triplet"],
                                       tau_minus=tp["tau_minus"], tau_y=tp["tau_minus_triplet"], w_max=w_max),
        "pair": lambda: STDP(a_plus=pn["lambda"] * w_max, a_minus=pn["alpha"] * pn["lambda"] * w_max,
                             tau_plus=pn["tau_plus"], tau_minus=pp["tau_minus"], mu_plus=pn["mu_plus"],
                             mu_minus=pn["mu_minus"], w_max=w_max),
    }
    conn = Connectivity(jnp.arange(p)[:, None], jnp.full((p, 1), ref["w0"]), p, p)
    keys = [(rule, delay) for rule in rules for delay in rules[rule]]
    projections = [Projection("pre", "post", conn, "ge", delay=float(delay), plasticity=make[rule]())
                   for rule, delay in keys]
    # and per rule one projection with per-synapse delays: protocol k's synapse has NEST's
    # delay mixed_delays(ref)[k] (the delays of the fixture, alternating)
    steps_k = np.round(np.asarray(mixed_delays(ref, p)) / DT).astype(np.int32)[:, None]
    mixed = Connectivity(jnp.arange(p)[:, None], jnp.full((p, 1), ref["w0"]), p, p, delay=steps_k, dt=DT)
    keys += [(rule, "mixed") for rule in rules]
    projections += [Projection("pre", "post", mixed, "ge", plasticity=make[rule]()) for rule in rules]
    net = Network(nd.LIF(refractory_period=0.0), [CurrentSynapse("ge", 5.0)], {"pre": p, "post": p}, projections,
                  delivery=delivery)
    res = simulate_network(net, steps * DT, DT, input=TimeSeries(np.arange(steps + 1) * DT, pulses), dtype=dtype,
                           max_spikes=4 * int(pulses.astype(bool).sum()) + 16)
    times, neurons = res.spikes()
    out = {"spikes_ms": [np.round(np.asarray(times)[np.asarray(neurons) == j], 4).tolist() for j in range(2 * p)]}
    for j, (rule, delay) in enumerate(keys):
        w = np.asarray(res.final_state.buffers[j].weight, np.float64)[:, 0]
        out.setdefault(rule, {})[delay] = dict(zip(names, w.tolist()))
    return out


def mixed_delays(ref: dict, p: int) -> list[float]:
    """The per-synapse delays (ms) of the mixed projections: the fixture's delays in turn."""
    delays = [float(d) for d in next(iter(ref["rules"].values()))]
    return [delays[k % len(delays)] for k in range(p)]


def compare_triplet(args) -> None:
    ref = run_nest_triplet()
    fixture = {"source": "NEST 3.10, benchmarks/compare_nest.py --model triplet", "dt_ms": DT,
               "w0": TRIPLET_W0, "w_max": TRIPLET_WMAX, "triplet_nest": TRIPLET_NEST, "triplet_post": TRIPLET_POST,
               "pair_nest": PAIR_NEST, "pair_post": PAIR_POST, **ref}
    if args.fixture:
        path = Path(args.fixture)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(fixture, f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    ours = run_neurodyn_triplet(fixture)
    ours_by_delay = {rule: {delay: ours[rule][delay] for delay in by} for rule, by in ref["rules"].items()}
    first = next(iter(next(iter(ref["rules"].values())).values()))
    nest_spikes = [r["pre_ms"] for r in first.values()] + [r["post_ms"] for r in first.values()]
    result = {"model": "stdp_triplet_synapse", "dt_ms": DT, "machine": machine_summary(),
              "same_spike_times": all(len(a) == len(b) and np.allclose(a, b, atol=1e-3)
                                      for a, b in zip(ours["spikes_ms"], nest_spikes)),
              "rules": {}}
    for rule, by_delay in ref["rules"].items():
        result["rules"][rule] = {}
        for delay, runs in by_delay.items():
            dw_nest = np.array([r["weight"] for r in runs.values()]) - TRIPLET_W0
            dw_ours = np.array([ours_by_delay[rule][delay][name] for name in runs]) - TRIPLET_W0
            result["rules"][rule][delay] = {
                "protocols": list(runs), "dw_nest": dw_nest.tolist(), "dw_neurodyn": dw_ours.tolist(),
                "max_abs_dw_diff": float(np.max(np.abs(dw_ours - dw_nest))),
                "max_rel_dw_diff": float(np.max(np.abs(dw_ours - dw_nest) / np.maximum(np.abs(dw_nest), 1e-12))),
            }
        # per-synapse delays: synapse k of the mixed projection against NEST's run with its delay
        names = list(next(iter(by_delay.values())))
        delays = mixed_delays(ref, len(names))
        dw_nest = np.array([by_delay[f"{d:g}"][name]["weight"] for name, d in zip(names, delays)]) - TRIPLET_W0
        dw_ours = np.array([ours[rule]["mixed"][name] for name in names]) - TRIPLET_W0
        result["rules"][rule]["per_synapse_delays"] = {
            "delays_ms": delays, "dw_nest": dw_nest.tolist(), "dw_neurodyn": dw_ours.tolist(),
            "max_abs_dw_diff": float(np.max(np.abs(dw_ours - dw_nest)))}
    emit(result, args.json, args.out)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--model" in argv:
        i = argv.index("--model")
        if i + 1 < len(argv) and argv[i + 1] == "microcircuit":
            from _pd14_nest import main as microcircuit_main

            return microcircuit_main(argv[:i] + argv[i + 2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("brunel", "tsodyks", "triplet", "microcircuit"), default="brunel")
    ap.add_argument("--fixture", default=None, help="--model tsodyks|triplet: write NEST's numbers to this JSON file")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--t-skip", type=float, default=200.0, help="ms discarded at the start")
    ap.add_argument("--g", type=float, default=5.0)
    ap.add_argument("--eta", type=float, default=2.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--threads", type=int, default=2, help="NEST threads")
    ap.add_argument("--swap-connectivity", action="store_true",
                    help="also run each simulator on the other's connectivity of each seed (swap_connectivity)")
    ap.add_argument("--swap-only", action="store_true", help="only the swapped-connectivity runs (no own-draw runs)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", default=None, help="also write the JSON object to this file")
    args = ap.parse_args(argv)
    if args.model == "tsodyks":
        return compare_tsodyks(args)
    if args.model == "triplet":
        return compare_triplet(args)
    if args.n < 10 or not (0 <= args.t_skip < args.t_ms) or args.threads < 1 or len(args.seeds) < 1:
        raise SystemExit("need n >= 10, 0 <= t-skip < t-ms, threads >= 1 and at least one seed")
    if args.swap_only:
        start = load_average()
        result = {"model": "brunel2000-delta", "n": args.n, "g": args.g, "eta": args.eta, "t_ms": args.t_ms,
                  "t_skip_ms": args.t_skip, "dt_ms": DT, "seeds": args.seeds, "nest_threads": args.threads,
                  "machine": machine_summary(), "swap_connectivity": swap_connectivity(args)}
        return emit({**result, "load_average": [start, load_average()]}, args.json, args.out)
    rows = {"nest": [], "neurodyn": []}
    walls = {"nest": [], "neurodyn": []}
    load = [load_average()]
    for seed in args.seeds:
        for name in ("nest", "neurodyn"):  # alternated, one seed at a time
            if name == "nest":
                spikes, wall = run_nest(seed, args.n, args.g, args.eta, args.t_ms, args.threads)
            else:
                spikes, wall = run_neurodyn(seed, args.n, args.g, args.eta, args.t_ms)
            rows[name].append(statistics_of(spikes["times"], spikes["senders"], args.n, args.t_skip, args.t_ms))
            walls[name].append(wall)
        load.append(load_average())
    result = {"model": "brunel2000-delta", "n": args.n, "g": args.g, "eta": args.eta, "t_ms": args.t_ms,
              "t_skip_ms": args.t_skip, "dt_ms": DT, "seeds": args.seeds, "nest_threads": args.threads,
              "machine": machine_summary(), "load_average": load}
    for key in ("rate_hz", "cv_isi", "peak_hz"):
        ours, ref = summary([r[key] for r in rows["neurodyn"]]), summary([r[key] for r in rows["nest"]])
        result[key] = {"neurodyn": ours, "nest": ref,
                       "within_spread": bool(abs(ours["mean"] - ref["mean"]) <= 2 * max(ref["sd"], 1e-12)),
                       **two_sample_tests(ours["values"], ref["values"])}
    if args.swap_connectivity:
        result["swap_connectivity"] = swap_connectivity(args)
    ratios = [a / b for a, b in zip(walls["neurodyn"], walls["nest"])]
    result["wall_s"] = {"neurodyn": [round(w, 3) for w in walls["neurodyn"]], "nest": [round(w, 3) for w in walls["nest"]],
                        "ratio_ours_over_nest": [round(r, 3) for r in ratios],
                        "median_ratio": round(statistics.median(ratios), 3)}
    emit(result, args.json, args.out)


if __name__ == "__main__":
    main()
