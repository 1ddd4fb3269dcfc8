"""COBA 4k driven with per-synapse delays vs one delay, and the same network in Brian2.

The network is benchmarks/coba.py's `driven` variant (Brette et al. 2007 benchmark 1,
p = 80/N, +20 mV drive, dt = 0.1 ms, forward Euler) with delays on both projections:
- `per_synapse`: normal, mean 1.5 ms, SD 0.75 ms (relative SD 0.5), redrawn below 0.5·dt
  and rounded to the nearest step (NEST 3's Potjans_2014 example rule), stored as uint8
  steps and delivered through a ring buffer of max-delay rows (`deliver_delayed`);
- `one_delay`: every synapse 1.5 ms (`Projection(delay=1.5)`: the same shared ring per
  receptor, each spiking row added to the one row 15 steps ahead).
Brian2 2.9 (C++ standalone, single thread) runs the *same* network: neurodyn's synapses,
per-synapse delays and initial state, through `compare_brian2.Brian2Run` (binary built
once; the loop timed inside the binary, wall clock). Runs alternate ours / Brian2 and the
medians are reported; ratio = ours / Brian2 (< 1: we are faster).

`--base DIR [DIR ...]` also times the delay-free coba.py network, the one-delay and the
per-synapse-delay network with other neurodyn trees (e.g. an older commit, `git archive
fc0406d | tar -x -C DIR`) against this one, alternating subprocesses (PYTHONPATH=DIR vs
this tree): "before/after" for every path, as ratios this tree / each base.

Brian2 lives in its own venv (see compare_brian2.py):
    PYTHONPATH=. /work/venvs/brian2/bin/python benchmarks/delays.py --t-ms 2000 --repeats 3 \
        --base /tmp/fc0406d --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import jax

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import coba
from _common import Timer, emit, load_average, machine_info, rate_hz

from neurodyn.network import (
    Network,
    Normal,
    Projection,
    fixed_probability,
    simulate_network,
)

DT = coba.DT
MEAN_MS, REL_SD = 1.5, 0.5


def build(n: int, seed: int, per_synapse: bool):
    """coba.build's driven network with per-synapse normal delays or one 1.5 ms delay."""
    net, y0, drive = coba.build(n, "driven", jax.random.key(seed))
    k_e, k_i, _ = jax.random.split(jax.random.key(seed), 3)
    n_e = net.population("E").stop
    p = 80.0 / n
    if per_synapse:
        delay = dict(delay=Normal(MEAN_MS, REL_SD * MEAN_MS, low=0.5 * DT), dt=DT)
        exc = fixed_probability(k_e, n_e, n, p, 0.6, **delay)
        inh = fixed_probability(k_i, n - n_e, n, p, 6.7, **delay)
        projections = [Projection("E", "all", exc, "ge"), Projection("I", "all", inh, "gi")]
    else:
        projections = [type(q)(q.pre, q.post, q.connectivity, q.receptor, MEAN_MS) for q in net.projections]
    net = Network(net.neuron, net.synapses, {"E": n_e, "I": n - n_e}, projections)
    return net, y0, drive


def time_ours(net, y0, drive, t_ms: float):
    """The simulation as a thunk, and the seconds of its first (compiling) call."""
    sim = lambda: simulate_network(net, t_ms, DT, input=drive, initial_state=y0)
    with Timer() as t:
        jax.block_until_ready(sim())
    return sim, round(t.wall, 2)


def _once(sim, n, t_ms):
    with Timer() as t:
        res = jax.block_until_ready(sim())
    steps = round(t_ms / DT)
    return {"us_per_step": t.wall / steps * 1e6, "cpu_us_per_step": t.cpu / steps * 1e6,
            "rate_hz": rate_hz(int(res.n_spikes), n, t_ms)}


# A tree-independent timing script for --base (runs with PYTHONPATH = either tree): the
# delay-free coba.py network, the one-delay network or the per-synapse-delay network
# (built by that tree's own benchmarks/delays.py, so both trees time the same synapses).
_SUBPROCESS = r"""
import json, statistics, sys, time
sys.path.insert(0, {bench!r})
import jax, coba, neurodyn
from neurodyn.network import Network, Projection, simulate_network
n, t_ms, variant, repeats = {n}, {t_ms}, {variant!r}, {repeats}
if variant == "no_delay":
    net, y0, drive = coba.build(n, "driven", jax.random.key(1))
else:
    import delays
    net, y0, drive = delays.build(n, 1, variant == "per_synapse")
sim = lambda: simulate_network(net, t_ms, 0.1, input=drive, initial_state=y0)
jax.block_until_ready(sim())
walls, cpus = [], []
for _ in range(repeats):
    t, c = time.perf_counter(), time.process_time()
    r = jax.block_until_ready(sim())
    walls.append(time.perf_counter() - t); cpus.append(time.process_time() - c)
steps = round(t_ms / 0.1)
print(json.dumps({{"us_per_step": statistics.median(walls) / steps * 1e6, "min_us_per_step": min(walls) / steps * 1e6,
                  "cpu_us_per_step": statistics.median(cpus) / steps * 1e6, "n_spikes": int(r.n_spikes),
                  "neurodyn": neurodyn.__file__}}))
"""
VARIANTS = ("no_delay", "one_delay", "per_synapse")


def before_after(bases: list[Path], n: int, t_ms: float, repeats: int) -> dict:
    """Median µs/step of each variant with every tree in `bases` and this one, alternated.

    Each (variant, repeat) runs one subprocess per tree in turn (each a median of 3 timed
    runs after its compiling run); ratios are this tree over each base, from the medians
    over repeats of wall and of CPU time."""
    trees = {f"base{i}": Path(b).resolve() for i, b in enumerate(bases)}
    trees["this"] = HERE.parent
    out = {"trees": {k: str(v) for k, v in trees.items()}}
    for variant in VARIANTS:
        runs = {k: [] for k in trees}
        for _ in range(repeats):
            for name, tree in trees.items():
                code = _SUBPROCESS.format(bench=str(tree / "benchmarks"), n=n, t_ms=t_ms, variant=variant, repeats=3)
                env = {**os.environ, "PYTHONPATH": str(tree)}
                # cwd = the tree: `python -c` puts the working directory first on sys.path, so
                # run from another tree's root it would import that tree's neurodyn instead
                proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                                      cwd=str(tree))
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                if not Path(result["neurodyn"]).resolve().is_relative_to(tree):
                    raise RuntimeError(f"the {name} subprocess imported {result['neurodyn']}, not {tree}'s neurodyn")
                runs[name].append(result)
        med = {k: {q: statistics.median(r[q] for r in v) for q in ("us_per_step", "cpu_us_per_step")} for k, v in runs.items()}
        row = {f"{k}_us_per_step": round(m["us_per_step"], 2) for k, m in med.items()}
        row.update({f"{k}_cpu_us_per_step": round(m["cpu_us_per_step"], 2) for k, m in med.items()})
        for k in trees:
            if k != "this":
                row[f"this_over_{k}"] = round(med["this"]["us_per_step"] / med[k]["us_per_step"], 3)
                row[f"this_over_{k}_cpu"] = round(med["this"]["cpu_us_per_step"] / med[k]["cpu_us_per_step"], 3)
        row["all_cpu_us_per_step"] = {k: [round(r["cpu_us_per_step"], 2) for r in v] for k, v in runs.items()}
        row["n_spikes"] = {k: v[0]["n_spikes"] for k, v in runs.items()}
        out[variant] = row
    return out


def run(n: int, t_ms: float, seed: int, repeats: int, brian2: bool, base: list[str] | None,
        only_base: bool = False) -> dict:
    record = {"benchmark": "delays", "n": n, "t_ms": t_ms, "dt_ms": DT, "seed": seed,
              "delay": f"normal mean {MEAN_MS} ms, relative SD {REL_SD}, NEST redraw below dt/2, rounded to steps",
              "machine": machine_info(), "load_average_start": load_average()}
    if only_base:
        return {**record, "before_after": before_after(base, n, t_ms, repeats), "load_average_end": load_average()}
    nets = {k: build(n, seed, k == "per_synapse") for k in ("per_synapse", "one_delay")}
    conn = nets["per_synapse"][0].projections[0].connectivity
    record["max_delay_steps"] = conn.max_delay
    record["delay_dtype"] = str(conn.delay.dtype)
    sims = {}
    for name, (net, y0, drive) in nets.items():
        sims[name], record[f"{name}_compile_s"] = time_ours(net, y0, drive, t_ms)
    brian = None
    if brian2:
        import compare_brian2

        class _Ours:  # what compare_brian2.shared_network reads
            net, y0 = nets["per_synapse"][0], nets["per_synapse"][1]

        shared = compare_brian2.shared_network(_Ours)
        directory = Path(tempfile.mkdtemp(prefix="neurodyn_delays_brian2_"))
        brian = compare_brian2.Brian2Run("coba-driven", n, t_ms, "euler", directory, same=shared)
        record["brian2_build_s"] = round(brian.build_s, 2)
    runs = {k: [] for k in (*sims, *(("brian2",) if brian else ()))}
    for _ in range(repeats):
        for name, sim in sims.items():
            runs[name].append(_once(sim, n, t_ms))
        if brian:
            b = brian.run(seed)
            steps = round(t_ms / DT)
            runs["brian2"].append({"us_per_step": b["run_s"] / steps * 1e6, "cpu_us_per_step": b["run_cpu_s"] / steps * 1e6,
                                   "rate_hz": b["rate_hz"]})
    for name, rs in runs.items():
        record[name] = {
            "us_per_step": round(statistics.median(r["us_per_step"] for r in rs), 2),
            "cpu_us_per_step": round(statistics.median(r["cpu_us_per_step"] for r in rs), 2),
            "rate_hz": round(statistics.median(r["rate_hz"] for r in rs), 3),
            "all_us_per_step": [round(r["us_per_step"], 2) for r in rs],
        }
    record["per_synapse_over_one_delay"] = round(record["per_synapse"]["us_per_step"] / record["one_delay"]["us_per_step"], 3)
    if brian:
        record["per_synapse_over_brian2"] = round(record["per_synapse"]["us_per_step"] / record["brian2"]["us_per_step"], 3)
        record["per_synapse_over_brian2_cpu"] = round(
            record["per_synapse"]["cpu_us_per_step"] / record["brian2"]["cpu_us_per_step"], 3)
    if base:
        record["before_after"] = before_after(base, n, t_ms, repeats)
    record["load_average_end"] = load_average()
    return record


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="alternated timed runs of each (medians reported)")
    ap.add_argument("--no-brian2", action="store_true", help="skip Brian2 even if it is importable")
    ap.add_argument("--base", nargs="+", default=None, help="other neurodyn trees for the before/after timing")
    ap.add_argument("--only-base", action="store_true", help="only the before/after timing (needs --base)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--out", default=None, help="also write the JSON object to this file")
    args = ap.parse_args(argv)
    if args.n < 10 or args.t_ms <= 0 or args.repeats < 1:
        ap.error("--n must be >= 10, --t-ms > 0 and --repeats >= 1")
    if args.only_base and not args.base:
        ap.error("--only-base needs --base")
    try:
        import brian2  # noqa: F401
        have_brian2 = not args.no_brian2
    except ImportError:
        have_brian2 = False
    emit(run(args.n, args.t_ms, args.seed, args.repeats, have_brian2, args.base, args.only_base), args.json, args.out)


if __name__ == "__main__":
    main()
