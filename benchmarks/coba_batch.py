"""Batches of COBA networks in one compiled call (jax.vmap): networks per second.

Each member of the batch is an independent COBA driven network (`coba.py`'s build, p = 80/N,
+20 mV) drawn with its own seed: its own connectivity (tables padded to a common width so
they stack), its own initial state. The batch runs as one `jax.vmap` of
`simulate_network` inside one `jax.jit`; the single network is the same call without vmap,
timed in the same run. Reported: run time of each (compile excluded, median of repeats),
networks/s, and the throughput ratio batch/single (networks/s of the batch over networks/s
of one network; the issue's target for B = 16 is >= 4).

With `--devices K` (K > 1) the script restarts itself with K host CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=K) and also times the batch split over
them with `neurodyn.parallel.vmap_sharded` (one `jax.shard_map` program per device, B/K
networks each, all vmapped at once or `batch_size=2` at a time), and with `shard_batch` +
`jit(vmap)` (XLA's automatic partitioning, which gathers the batch around the delivery
kernel's custom call at every step). Members' spike counts must equal the one-device
batch's.

    python benchmarks/coba_batch.py --n 4000 --t-ms 1000 --batch 16 --json
    python benchmarks/coba_batch.py --n 4000 --t-ms 1000 --batch 16 --devices 2 --json
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine_info, rate_hz, time_compiled  # noqa: E402
from coba import DT, build  # noqa: E402

from neurodyn.network import simulate_network  # noqa: E402
from neurodyn.network.delivery import kernel_info  # noqa: E402
from neurodyn.parallel import shard_batch, vmap_sharded  # noqa: E402


def stack_networks(n: int, seeds) -> tuple:
    """(batched network, batched initial state, drive) for the given seeds."""
    built = [build(n, "driven", jax.random.key(s)) for s in seeds]
    nets, y0s, drive = [b[0] for b in built], [b[1] for b in built], built[0][2]
    widths = [max(p.connectivity.max_out_degree for p in net.projections) for net in nets]
    k = max(widths)

    def pad(net):
        projs = tuple(
            type(p)(p.pre, p.post, p.connectivity.padded(k), p.receptor, p.delay) for p in net.projections
        )
        return type(net)(net.neuron, net.synapses, {name: b - a for name, a, b in net.populations}, projs)

    nets = [pad(net) for net in nets]
    stack = lambda *xs: np.stack([np.asarray(x) for x in xs])  # scalars too: vmap maps every leaf
    return jax.tree.map(stack, *nets), jax.tree.map(stack, *y0s), drive


def run(n: int, t_ms: float, batch: int, repeats: int = 3, devices: int = 1) -> dict:
    steps = round(t_ms / DT)
    net1, y01, drive = build(n, "driven", jax.random.key(1))

    def one(net, y0):
        return simulate_network(net, t_ms, DT, input=drive, initial_state=y0).spike_counts

    single, batched = jax.jit(one), jax.jit(jax.vmap(one))

    nets, y0s, _ = stack_networks(n, range(1, batch + 1))
    counts1, t1 = time_compiled(lambda: single(net1, y01), repeats)
    counts_b, tb = time_compiled(lambda: batched(nets, y0s), repeats)
    rates = [rate_hz(int(c.sum()), n, t_ms) for c in np.asarray(counts_b)]
    per_s_single = 1.0 / t1["run_s"]
    per_s_batch = batch / tb["run_s"]
    sharded = {}
    if devices > 1:
        per_device = jax.jit(vmap_sharded(one, jax.devices()[:devices]))
        counts_s, ts = time_compiled(lambda: per_device(nets, y0s), repeats)
        few = jax.jit(vmap_sharded(one, jax.devices()[:devices], batch_size=2))
        counts_f, tf = time_compiled(lambda: few(nets, y0s), repeats)
        placed = shard_batch((nets, y0s), jax.devices()[:devices])
        counts_g, tg = time_compiled(lambda: batched(*placed), repeats)
        for name, t, counts in (("vmap_sharded", ts, counts_s), ("vmap_sharded_batch_size_2", tf, counts_f),
                                ("shard_batch_gspmd", tg, counts_g)):
            sharded[name] = {
                **t, "us_per_step": round(t["run_s"] / steps * 1e6, 2),
                "networks_per_s": round(batch / t["run_s"], 3),
                "throughput_ratio": round(batch / t["run_s"] / per_s_single, 2),
                "same_counts_as_one_device": bool(np.array_equal(np.asarray(counts), np.asarray(counts_b))),
            }
    return {
        "n": n, "t_ms": t_ms, "dt_ms": DT, "batch": batch, "repeats": repeats,
        "delivery": "ffi" if kernel_info()["available"] else "jax",
        "single": {**t1, "us_per_step": round(t1["run_s"] / steps * 1e6, 2),
                   "rate_hz": round(rate_hz(int(np.asarray(counts1).sum()), n, t_ms), 3)},
        "batched": {**tb, "us_per_step": round(tb["run_s"] / steps * 1e6, 2)},
        "networks_per_s_single": round(per_s_single, 3),
        "networks_per_s_batch": round(per_s_batch, 3),
        "throughput_ratio": round(per_s_batch / per_s_single, 2),
        "devices": devices,
        **({"sharded": sharded} if sharded else {}),
        "rate_hz_members": [round(r, 2) for r in rates],
        "backend": jax.default_backend(),
        "machine": machine_info(),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--devices", type=int, default=1,
                    help="also split the batch over this many host CPU devices (one per core)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    if args.devices < 1:
        ap.error(f"--devices must be >= 1, got {args.devices}")
    if args.devices > 1 and len(jax.devices()) < args.devices:
        if argv is not None or os.environ.get("_NEURODYN_COBA_BATCH_RESTARTED"):
            raise SystemExit(f"--devices {args.devices}: JAX has {len(jax.devices())} device(s); "
                             f"start with XLA_FLAGS=--xla_force_host_platform_device_count={args.devices}")
        flag = f"--xla_force_host_platform_device_count={args.devices}"
        env = dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip(),
                   _NEURODYN_COBA_BATCH_RESTARTED="1")
        os.execve(sys.executable, [sys.executable, *sys.argv], env)  # XLA reads the flag at start
    emit(run(args.n, args.t_ms, args.batch, args.repeats, args.devices), args.json)


if __name__ == "__main__":
    main()
