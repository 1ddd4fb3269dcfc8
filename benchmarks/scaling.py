"""Run time vs network size: the COBA driven network (p = 80/N, +20 mV) from 4 000 to 400 000.

Mean in-degree 80 at every N (COBA driven variant, neurodyn.models.coba), so
the work per simulated step grows linearly in N: the per-step time is what scales, and the
simulated time `--t-ms` (default 10 s, as the issue's GPU target) may be shortened on a
slow machine without changing that. Each run is split into `--chunks` equal chunks that
continue from each other's final state (as `simulate(progress=True)` does, with the same
tqdm bar on stderr); the first chunk also compiles, so

    compile_s = first chunk − median(other chunks),   run_s = all chunks − compile_s.

Writes a JSON table (n, n_synapses, build_s, compile_s, run_s, us_per_step, rate_hz,
n_spikes, t_ms) and a log–log plot of run time vs N:

    python benchmarks/scaling.py --ns 4000 40000 400000 --t-ms 1000 --json \\
        --out benchmarks/results/scaling_cpu_2core.json --plot benchmarks/results/scaling_cpu_2core.png
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import coba  # noqa: E402
from _common import Timer, emit, load_average, machine_info, rate_hz  # noqa: E402

from neurodyn.network import simulate_network  # noqa: E402

DT = coba.DT
NS = (4_000, 8_000, 20_000, 40_000, 100_000, 200_000, 400_000)


def run(n: int, t_ms: float, seed: int = 1, chunks: int = 10, progress: bool = True,
        solver: str = "euler") -> dict:
    """One COBA driven network of n neurons, t_ms simulated in `chunks` timed chunks."""
    n_steps = round(t_ms / DT)
    if chunks < 2 or n_steps % chunks:
        raise ValueError(f"chunks must be >= 2 and divide the {n_steps} steps, got {chunks}")
    with Timer() as build:
        net, y0, drive = coba.build(n, "driven", jax.random.key(seed))
        jax.block_until_ready((net, y0))
    chunk_ms = t_ms / chunks
    # Room for 5x the expected ~22 Hz; overflow would be counted in spikes_dropped.
    max_spikes = int(n * chunk_ms / 1000.0 * 110) + 1024
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, unit="step", desc=f"COBA driven N={n}", file=sys.stderr)
    state, walls, cpus, n_spikes, dropped = y0, [], [], 0, 0
    t0 = 0.0
    for _ in range(chunks):
        with Timer() as t:
            result = simulate_network(net, t0 + chunk_ms, DT, input=drive, initial_state=state,
                                      solver=coba.solver_for(solver), max_spikes=max_spikes)
            jax.block_until_ready(result)
        walls.append(t.wall)
        cpus.append(t.cpu)
        state, t0 = result.final_state, t0 + chunk_ms
        n_spikes += int(result.n_spikes)
        dropped += int(result.spikes_dropped)
        if bar is not None:
            bar.update(n_steps // chunks)
    if bar is not None:
        bar.close()
    typical = statistics.median(walls[1:])
    compile_s = max(walls[0] - typical, 0.0)
    run_s = sum(walls) - compile_s
    run_cpu_s = sum(cpus[1:]) * chunks / (chunks - 1)
    return {
        "n": n, "t_ms": t_ms, "dt_ms": DT, "seed": seed, "chunks": chunks,
        "n_synapses": int(sum(int(p.connectivity.n_synapses) for p in net.projections)),
        "build_s": round(build.wall, 3), "compile_s": round(compile_s, 3),
        "run_s": round(run_s, 4), "run_cpu_s": round(run_cpu_s, 4),
        "us_per_step": round(run_s / n_steps * 1e6, 2),
        "chunk_s_min": round(min(walls[1:]), 4), "chunk_s_median": round(typical, 4),
        "n_spikes": n_spikes, "spikes_dropped": dropped,
        "rate_hz": round(rate_hz(n_spikes, n, t_ms), 3),
        "load_1min": load_average()[0] if load_average() else None,
    }


def plot(rows: list[dict], path: str | Path, title: str) -> None:
    """Log–log run time per simulated second vs N, with a line ∝ N through the first point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [r["n"] for r in rows]
    per_s = [r["run_s"] / (r["t_ms"] / 1000.0) for r in rows]
    cpu_per_s = [r["run_cpu_s"] / (r["t_ms"] / 1000.0) for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    ax.loglog(ns, per_s, "o-", label="neurodyn wall time (compile excluded)")
    ax.loglog(ns, cpu_per_s, "s--", ms=4, label="neurodyn process CPU time")
    ax.loglog(ns, [per_s[0] * n / ns[0] for n in ns], "k:", label="∝ N")
    ax.set_xlabel("neurons N (in-degree 80)")
    ax.set_ylabel("seconds per simulated second")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ns", type=int, nargs="+", default=list(NS))
    ap.add_argument("--t-ms", type=float, default=10_000.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunks", type=int, default=10)
    ap.add_argument("--solver", choices=("euler", "exponential_euler"), default="euler")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--out", default=None, help="write the JSON table here")
    ap.add_argument("--plot", default=None, help="write the PNG plot here")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    info = machine_info()
    rows = []
    for n in args.ns:
        rows.append(run(n, args.t_ms, args.seed, args.chunks, not args.no_progress, args.solver))
        print(f"[scaling] N={n}: {rows[-1]['us_per_step']} us/step, {rows[-1]['rate_hz']} Hz",
              file=sys.stderr, flush=True)
    info["load_average_end"] = load_average()
    out = {"benchmark": "scaling", "model": "coba-driven (p = 80/N, +20 mV)", "t_ms": args.t_ms,
           "dt_ms": DT, "solver": args.solver, "machine": info, "rows": rows}
    if args.plot:
        plot(rows, args.plot, f"COBA driven, {args.t_ms / 1000:g} s simulated, dt {DT} ms, "
             f"{info['backend']} ({info['cpu_count']} cores)")
    emit(out, args.json, args.out)


if __name__ == "__main__":
    main()
