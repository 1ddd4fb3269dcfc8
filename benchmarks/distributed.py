"""The Potjans–Diesmann microcircuit split over 2 processes × 1 core vs 1 process × 2 cores.

Same model (`neurodyn.models.potjans_diesmann(scale, background="dc")`, key 1), same run
(t = 0 … `--t-ms`, dt = 0.1 ms, `ExactIntegration`), in fresh child processes, the two
configurations alternated `--repeats` times:

- "1x2": one process (`simulate_network`), pinned to cores 0 and 1 (`taskset -c 0,1`),
  XLA's default threading; run time = the second of two identical calls (the first compiles).
- "2x1": two processes joined by `jax.distributed` on localhost (Gloo), each pinned to its
  own core (`taskset -c RANK`) with XLA_FLAGS="--xla_cpu_multi_thread_eigen=false
  intra_op_parallelism_threads=1"; each draws only the synapses onto its block
  (`potjans_diesmann(targets=...)`: only the target tiles that meet the block), blocks
  balanced by synapses (`process_blocks(balance=--balance)`, default "synapses"; "neurons"
  for equal neuron counts), and `simulate_distributed` exchanges the spikes every step
  (d_min = 1 step); run time = the compiled run's wall time (the slower process; compile apart).

Reported per configuration and repeat: build (draw + partition) wall seconds (the slower
process, and each process's draw and partition apart), compile and run seconds, RTF = run /
simulated time, peak resident memory and synapses of each process (`ru_maxrss`), the spike count, and whether the two configurations gave the same spikes
(a hash of every (step, neuron) pair). Ratios are medians over repeats, with the load
average at the start and end (the machine is shared). "exchange_alone": the collective by
itself (2 000 all_gathers of one step's bit-packed flags of a block, same pinning and
flags), and its share of the 2x1 run (one exchange per step: d_min = 1 step).

    PYTHONPATH=. python benchmarks/distributed.py --scale 0.1 --t-ms 200 --repeats 2 --json \\
        --out benchmarks/results/distributed_cpu_2core.json --lock /work/locks/bigmem.lock
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _common import emit, load_average, machine_info  # noqa: E402

SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def _spike_hash(times, ids, dt: float) -> str:
    import numpy as np

    steps = np.round(np.asarray(times) / dt).astype(np.int64)
    order = np.lexsort((np.asarray(ids), steps))
    pairs = np.stack([steps[order], np.asarray(ids, np.int64)[order]])
    return hashlib.sha256(pairs.tobytes()).hexdigest()[:16]


def exchange_child(args) -> None:
    """The exchange alone: `--steps` all_gathers of one step's bit-packed spike flags of a
    block (n/2 neurons) in a jitted loop over the 2-process mesh; prints µs per exchange."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding, PartitionSpec

    jax.distributed.initialize(coordinator_address=f"localhost:{args.port}", num_processes=2, process_id=args.rank)
    from neurodyn.distributed import process_mesh
    from neurodyn.models.potjans_diesmann import population_sizes
    from neurodyn.network.partition import AXIS

    n_block = -(-sum(population_sizes(args.scale)) // 2)
    mesh = process_mesh()
    flags = jax.make_array_from_process_local_data(NamedSharding(mesh, PartitionSpec(AXIS)),
                                                   np.zeros((1, n_block), bool))

    def loop(x):
        def body(i, acc):
            got = jax.lax.all_gather(jnp.packbits(x[0].at[i % n_block].set(True)), AXIS)
            return acc + got[:, 0].astype(jnp.int32).sum()
        return jax.lax.fori_loop(0, args.steps, body, jnp.zeros((), jnp.int32))[None]

    f = jax.jit(jax.shard_map(loop, mesh=mesh, in_specs=PartitionSpec(AXIS), out_specs=PartitionSpec(AXIS),
                              check_vma=False)).lower(flags).compile()
    jax.block_until_ready(f(flags))
    t0 = time.perf_counter()
    jax.block_until_ready(f(flags))
    us = (time.perf_counter() - t0) / args.steps * 1e6
    if args.rank == 0:
        print(json.dumps({"us_per_exchange": us, "bytes_per_process": -(-n_block // 8), "steps": args.steps}))


def child(args) -> None:
    """One process of one configuration; prints one JSON line (rank 0 / the single one)."""
    import jax

    if args.child == "exchange":
        exchange_child(args)
        return
    if args.child == "dist":
        jax.distributed.initialize(coordinator_address=f"localhost:{args.port}", num_processes=2,
                                   process_id=args.rank)
    from neurodyn.models import potjans_diesmann

    rec = {}
    t0 = time.perf_counter()
    if args.child == "single":
        built = potjans_diesmann(args.scale, key=jax.random.key(1))
        jax.block_until_ready(built.network)
        rec["build_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        jax.block_until_ready(built.simulate(args.t_ms, max_spikes=args.max_spikes).n_spikes)
        t2 = time.perf_counter()
        result = jax.block_until_ready(built.simulate(args.t_ms, max_spikes=args.max_spikes))
        rec["run_s"] = time.perf_counter() - t2
        rec["compile_s"] = max(0.0, (t2 - t1) - rec["run_s"])
        times, ids = result.spikes()
        rec["peak_rss_gb"] = [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6]
        rec["synapses_per_process"] = [int(sum(int(p.connectivity.n_synapses) for p in built.network.projections))]
    else:
        from jax.experimental import multihost_utils

        from neurodyn.distributed import all_spikes, simulate_distributed
        from neurodyn.models.potjans_diesmann import process_blocks
        from neurodyn.network.partition import partition

        blocks = process_blocks(args.scale, 2, balance=args.balance)
        built = potjans_diesmann(args.scale, key=jax.random.key(1), targets=blocks[args.rank])
        jax.block_until_ready(built.network)
        drawn = time.perf_counter()
        part, y0 = partition(built.network, args.rank, 2, dt=built.dt, initial_state=built.initial_state,
                             blocks=blocks)
        solver = built.solver
        del built  # the partition holds its own (re-indexed) tables
        jax.block_until_ready(part)
        rec["build_s"] = time.perf_counter() - t0
        rec["blocks"] = [list(b) for b in blocks]
        draw_s, partition_s = drawn - t0, rec["build_s"] - (drawn - t0)
        timings = {}
        result = simulate_distributed(part, args.t_ms, initial_state=y0, solver=solver, max_spikes=args.max_spikes,
                                      timings=timings)
        rec.update(timings)
        times, ids = all_spikes(result, part)
        mine = [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                float(sum(int(t.n_synapses) for t in part.tables)), rec["build_s"], rec["run_s"], draw_s, partition_s]
        every = multihost_utils.process_allgather(np.array(mine))
        rec["peak_rss_gb"] = [float(x) for x in every[:, 0]]
        # counts as integers: the float gather above is float32 (jax_enable_x64 off), 16 apart at 1.5e8
        counts = multihost_utils.process_allgather(np.array([sum(int(t.n_synapses) for t in part.tables)], np.int32))
        rec["synapses_per_process"] = [int(x) for x in np.asarray(counts).ravel()]
        rec["build_s"] = float(every[:, 2].max())
        rec["run_s"] = float(every[:, 3].max())  # the slower process sets the pace
        rec["build_s_per_process"] = [float(x) for x in every[:, 2]]
        rec["draw_s_per_process"] = [float(x) for x in every[:, 4]]
        rec["partition_s_per_process"] = [float(x) for x in every[:, 5]]
        if args.rank != 0:
            return
    rec["n_spikes"] = int(len(times))
    rec["spike_hash"] = _spike_hash(times, ids, 0.1)
    print(json.dumps(rec), flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _launch(config: str, args) -> dict:
    base = [sys.executable, str(Path(__file__).resolve()), "--scale", str(args.scale), "--t-ms", str(args.t_ms),
            "--max-spikes", str(args.max_spikes), "--balance", args.balance]
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    pin = shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) >= 2
    if config == "1x2":
        cmd = (["taskset", "-c", "0,1"] if pin else []) + base + ["--child", "single"]
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    else:
        port = _free_port()
        env = dict(env, XLA_FLAGS=f"{env.get('XLA_FLAGS', '')} {SINGLE_THREAD}".strip())
        kind = "exchange" if config == "exchange" else "dist"
        procs = [subprocess.Popen((["taskset", "-c", str(r)] if pin else []) + base
                                  + ["--child", kind, "--rank", str(r), "--port", str(port), "--steps", "2000"],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for r in range(2)]
    outs = [p.communicate() for p in procs]
    for p, (_, err) in zip(procs, outs):
        if p.returncode:
            raise RuntimeError(f"{config} child failed:\n{err[-3000:]}")
    return json.loads(outs[0][0].strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--t-ms", type=float, default=200.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-spikes", type=int, default=2_000_000)
    ap.add_argument("--balance", choices=("synapses", "neurons"), default="synapses",
                    help="2x1 blocks: the same number of synapses (default) or of neurons per process")
    ap.add_argument("--lock", default=None, help="hold this file lock (flock) around every child run")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", choices=("single", "dist", "exchange"), help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=2000, help=argparse.SUPPRESS)
    ap.add_argument("--rank", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    lock = None
    if args.lock:
        import fcntl

        lock = open(args.lock, "a")  # noqa: SIM115 (held for the whole run)
        fcntl.flock(lock, fcntl.LOCK_EX)
    load_start = load_average()
    runs = {"1x2": [], "2x1": []}
    for rep in range(args.repeats):
        order = ("2x1", "1x2") if rep % 2 else ("1x2", "2x1")  # alternated
        for config in order:
            runs[config].append(_launch(config, args))
    exchange = _launch("exchange", args)  # the all_gather alone, same load, same pinning
    med = {c: {k: statistics.median(r[k] for r in rs) for k in ("build_s", "compile_s", "run_s")}
           for c, rs in runs.items()}
    t_s = args.t_ms / 1000.0
    result = {
        "benchmark": "distributed", "model": "potjans_diesmann", "background": "dc", "scale": args.scale,
        "t_ms": args.t_ms, "dt_ms": 0.1, "repeats": args.repeats, "balance": args.balance,
        "configs": {"1x2": "1 process, taskset -c 0,1, XLA default threads",
                    "2x1": f"2 processes (jax.distributed, Gloo), taskset -c RANK, XLA_FLAGS={SINGLE_THREAD!r}, "
                           f"each drawing only the synapses onto its block, blocks balanced by {args.balance}"},
        "runs": runs,
        "median": {c: {**m, "rtf": m["run_s"] / t_s} for c, m in med.items()},
        "run_ratio_2x1_over_1x2": med["2x1"]["run_s"] / med["1x2"]["run_s"],
        "exchange_alone": exchange,
        "exchange_share_of_2x1_run": exchange["us_per_exchange"] * 1e-6 * round(args.t_ms / 0.1)
        / med["2x1"]["run_s"],
        "same_spikes": len({r["spike_hash"] for rs in runs.values() for r in rs}) == 1,
        "load_average_start": load_start, "load_average_end": load_average(),
        "machine": machine_info(),
    }
    emit(result, args.json, args.out)


if __name__ == "__main__":
    main()
