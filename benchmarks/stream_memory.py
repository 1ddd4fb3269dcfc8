"""Peak memory of a streamed COBA run (simulate(..., stream_to=dir)) vs its duration.

Each duration runs in its own subprocess; its peak resident set size (ru_maxrss from
os.wait4, i.e. the kernel's high-water mark of the child alone) is compared. With the
spikes streamed to disk, memory must not grow with the simulated time: the ratio
peak(long) / peak(short) is the figure of merit (target <= 1.1; before the per-chunk spike
buffer it was 1.6 for 100 s vs 10 s at N = 4000).

The network is benchmarks/coba.py's (Brette et al. 2007 benchmark 1, driven variant),
recording spikes and a population rate (rate_every=10 steps), no traces (v of 4000 neurons
every step would put 160 MB per simulated second on disk).

    python benchmarks/stream_memory.py --n 4000 --t-ms 10000 100000 --json [--out file.json]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine_info  # noqa: E402


def child(n: int, t_ms: float, directory: str, seed: int) -> None:
    import jax
    from coba import DT, build

    from neurodyn.network import simulate_network

    net, y0, drive = build(n, "driven", jax.random.key(seed))
    result = simulate_network(net, t_ms, DT, input=drive, initial_state=y0, record=(), rate_every=10,
                              stream_to=directory)
    print(int(result.n_spikes), int(result.spikes_dropped))


def measure(n: int, t_ms: float, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="stream_memory_") as d:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", "--n", str(n), "--t-ms", str(t_ms), str(t_ms), "--dir", d,
             "--seed", str(seed)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        out, err = proc.stdout.read(), proc.stderr.read()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"the {t_ms} ms run failed:\n{err[-3000:]}")
        n_spikes, dropped = (int(x) for x in out.split())
        chunks = len(list(Path(d).glob("chunk_*.npz")))
        disk = sum(p.stat().st_size for p in Path(d).iterdir())
    return {"t_ms": t_ms, "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "wall_s": round(wall, 1),
            "n_spikes": n_spikes, "spikes_dropped": dropped, "chunks": chunks,
            "disk_mib": round(disk / 2**20, 1)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--t-ms", type=float, nargs=2, default=(10_000.0, 100_000.0), help="short and long duration")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--out", help="also write the JSON to this file")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.n, args.t_ms[0], args.dir, args.seed)
    runs = [measure(args.n, t, args.seed) for t in args.t_ms]
    emit({
        "benchmark": "stream_memory", "n": args.n, "runs": runs,
        "peak_rss_ratio": round(runs[1]["peak_rss_mib"] / runs[0]["peak_rss_mib"], 3),
        "target_ratio": 1.1, "machine": machine_info(),
    }, args.json, args.out)


if __name__ == "__main__":
    main()
