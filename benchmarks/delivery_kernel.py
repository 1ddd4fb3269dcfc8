"""Spike delivery on the CPU: the C++ FFI kernel against the pure-JAX path.

The workload is the driven COBA network (neurodyn.models.coba): N = 4000 LIF neurons
(3200 E, 800 I), connection probability 80/N (mean out-degree 80), dt = 0.1 ms, +20 mV
drive, conductances in units of gL (we = 0.6, wi = 6.7): about 20 Hz, i.e. ≈ 8 spikes per
step. Measured, each in one run so the noisy shared machine treats them alike
(interleaved repeats, medians):

- `delivery_us_per_call`: one `deliver` call, from a fori_loop whose step only delivers a
  pre-drawn ≈ 20 Hz spike pattern to g_e and g_i (minus the same loop without delivery).
- `step_us`: µs per simulated step of the full network (Euler LIF/COBA update,
  threshold, reset, refractory clamp, then delivery) in a fori_loop; `none` is the
  elementwise update alone, the floor.
- `batch`: 16 independent networks (own connectivity and initial state) under `jax.vmap`
  in one call; `throughput_ratio` = 16 × single-network µs/step ÷ batch µs/step.
  `ffi` is `deliver`'s one-call batching; `ffi_shared` the same with one connectivity
  shared by the batch (only initial states differ; the tables are not copied);
  `ffi_sequential` the kernel with `vmap_method="sequential"` (16 calls per step);
  `none` the batched elementwise update alone.
- `brainevent` (if installed, an optional comparison): its event-driven fixed-connection-
  number matvec `binary_fcnmv` (numba CPU kernel) on the same table, same loop.

    python benchmarks/delivery_kernel.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from neurodyn.network import fixed_probability
from neurodyn.network._build import FFI_TARGET  # noqa: E402
from neurodyn.network.delivery import deliver, kernel_info

DT = 0.1  # ms
TAU_M, TAU_E, TAU_I = 20.0, 5.0, 10.0
V_REST, V_TH, V_RESET, E_E, E_I = -60.0, -50.0, -60.0, 0.0, -80.0
REFRACTORY_STEPS = 50  # 5 ms
DRIVE = 20.0  # mV


def build(key, n: int):
    """E and I projections onto all neurons, and the Brian2-example initial state."""
    n_e = int(round(0.8 * n))
    p = 80.0 / n
    k_e, k_i, k_v, k_ge, k_gi = jax.random.split(key, 5)
    conns = (fixed_probability(k_e, n_e, n, p, 0.6), fixed_probability(k_i, n - n_e, n, p, 6.7))
    state = dict(
        v=-55.0 + 5.0 * jax.random.normal(k_v, (n,)),
        ge=0.4 + 0.15 * jax.random.normal(k_ge, (n,)),
        gi=2.0 + 1.2 * jax.random.normal(k_gi, (n,)),
        refr=jnp.zeros((n,), jnp.int32),
        count=jnp.zeros((n,), jnp.int32),
    )
    return conns, state, n_e


def raw_ffi(target, conn, spiked, pre_start, vmap_method):
    """The kernel called directly with a given vmap_method (for the batching comparison)."""
    return jax.ffi.ffi_call(
        FFI_TARGET, jax.ShapeDtypeStruct(target.shape, target.dtype),
        vmap_method=vmap_method, input_output_aliases={0: 0},
    )(target, conn.post_idx, conn.weight, spiked, post_start=np.int64(0), n_post=np.int64(conn.n_post),
      pre_start=np.int64(pre_start))


def delivery_fn(method: str):
    """d(target, conn, spiked, pre_start): deliver the spikes of `spiked[pre_start:][:n_pre]`."""
    if method == "none":
        return lambda target, conn, spiked, pre_start: target
    if method == "ffi_sequential":
        return lambda target, conn, spiked, pre_start: raw_ffi(target, conn, spiked, pre_start, "sequential")
    if method == "ffi_sliced":  # the population's spikes sliced out first, as spiked[pre]
        return lambda target, conn, spiked, pre_start: deliver(
            target, conn, spiked[pre_start : pre_start + conn.n_pre], 0, method="ffi"
        )
    if method == "brainevent":
        return brainevent_deliver
    return lambda target, conn, spiked, pre_start: deliver(target, conn, spiked, 0, pre_start=pre_start, method=method)


class BrainEventConn(eqx.Module):
    """The same out-degree table for brainevent's fixed-connection-number event matvec."""

    weight: jax.Array  # (1,): homogeneous
    indices: jax.Array  # (n_pre, K); padding = n_post, a spare output row dropped after
    n_pre: int = eqx.field(static=True)
    n_post: int = eqx.field(static=True)


def to_brainevent(conn) -> BrainEventConn:
    return BrainEventConn(jnp.reshape(conn.weight, (1,)), conn.post_idx, conn.n_pre, conn.n_post)


def brainevent_deliver(target, conn: BrainEventConn, spiked, pre_start):
    import brainevent

    s = spiked[pre_start : pre_start + conn.n_pre]
    out = brainevent.binary_fcnmv(conn.weight, conn.indices, s, shape=(conn.n_pre, conn.n_post + 1), transpose=True)
    return target + out[: conn.n_post]


def step_fn(deliver_e, deliver_i, n_e):
    def step(i, carry):
        conns, s = carry
        conn_e, conn_i = conns
        v, ge, gi, refr = s["v"], s["ge"], s["gi"], s["refr"]
        dv = (-(v - V_REST) + ge * (E_E - v) + gi * (E_I - v) + DRIVE) / TAU_M
        refractory = refr > 0
        v_new = jnp.where(refractory, v, v + DT * dv)
        ge = ge - DT * ge / TAU_E
        gi = gi - DT * gi / TAU_I
        spiked = (v_new > V_TH) & ~refractory
        v_new = jnp.where(spiked, V_RESET, v_new)
        refr = jnp.where(spiked, REFRACTORY_STEPS, jnp.maximum(refr - 1, 0))
        ge = deliver_e(ge, conn_e, spiked, 0)
        gi = deliver_i(gi, conn_i, spiked, n_e)
        return conns, dict(v=v_new, ge=ge, gi=gi, refr=refr, count=s["count"] + spiked)

    return step


def make_sim(method: str, n_e: int, n_steps: int, batch: str | None = None):
    """batch: None (one network), "independent" (conns and states batched), "shared"."""
    d = delivery_fn(method)
    step = step_fn(d, d, n_e)

    def run(conns, state):
        return jax.lax.fori_loop(0, n_steps, step, (conns, state))[1]

    if batch is None:
        return jax.jit(run)
    return jax.jit(jax.vmap(run, in_axes=(0 if batch == "independent" else None, 0)))


def make_delivery_loop(method: str, n_e: int, n_steps: int):
    d = delivery_fn(method)

    def run(conns, bank, ge, gi):
        def body(i, carry):
            ge, gi = carry
            spiked = bank[i % bank.shape[0]]
            return d(ge, conns[0], spiked, 0), d(gi, conns[1], spiked, n_e)

        return jax.lax.fori_loop(0, n_steps, body, (ge, gi))

    return jax.jit(run)


def timed(fn, *args) -> float:
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--steps", type=int, default=10_000, help="simulated steps per timing (10 000 = 1 s)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batch-steps", type=int, default=2_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    info = kernel_info()
    methods = ["none", "jax"] + (["ffi", "ffi_sliced"] if info["available"] else [])
    brainevent_version = None
    try:
        import brainevent

        brainevent_version = brainevent.__version__
    except Exception:
        pass

    conns, state, n_e = build(jax.random.key(args.seed), args.n)
    conn_args = {m: conns for m in methods}
    if brainevent_version:
        try:
            conn_args["brainevent"] = tuple(to_brainevent(c) for c in conns)
            methods.append("brainevent")
        except Exception as e:  # an API change: report it, keep the rest
            brainevent_version = f"{brainevent_version} (failed: {type(e).__name__}: {e})"

    # --- delivery alone: a bank of pre-drawn ≈ 20 Hz spike patterns
    rate_hz = 20.0
    bank = jax.random.bernoulli(jax.random.key(args.seed + 1), rate_hz * DT * 1e-3, (64, args.n))
    deliv_methods = [m for m in methods]
    loops = {m: make_delivery_loop(m, n_e, args.steps) for m in deliv_methods}
    for m in deliv_methods:  # compile
        timed(loops[m], conn_args[m], bank, state["ge"], state["gi"])
    deliv_times = {m: [] for m in deliv_methods}
    for _ in range(args.repeats):
        for m in deliv_methods:
            deliv_times[m].append(timed(loops[m], conn_args[m], bank, state["ge"], state["gi"]))
    deliv_med = {m: statistics.median(v) / args.steps * 1e6 for m, v in deliv_times.items()}
    delivery_us_per_call = {m: (deliv_med[m] - deliv_med["none"]) / 2 for m in deliv_methods if m != "none"}

    # --- the full network step
    sims = {m: make_sim(m, n_e, args.steps) for m in methods}
    finals = {}
    for m in methods:
        timed(sims[m], conn_args[m], state)
        finals[m] = sims[m](conn_args[m], state)
    step_times = {m: [] for m in methods}
    for _ in range(args.repeats):
        for m in methods:
            step_times[m].append(timed(sims[m], conn_args[m], state))
    step_us = {m: statistics.median(v) / args.steps * 1e6 for m, v in step_times.items()}
    sim_s = args.steps * DT * 1e-3
    rates = {m: float(jnp.sum(finals[m]["count"])) / args.n / sim_s for m in methods}

    # --- a batch of independent networks under vmap
    keys = jax.random.split(jax.random.key(args.seed + 100), args.batch)
    b_conns, b_state, _ = _build_batch(keys, args.n)
    # (name, delivery method, batching, connectivity argument)
    batch_runs = [("none", "none", "independent", b_conns), ("jax", "jax", "independent", b_conns)]
    if info["available"]:
        batch_runs += [
            ("ffi", "ffi", "independent", b_conns),
            ("ffi_shared", "ffi", "shared", conns),
            ("ffi_sequential", "ffi_sequential", "independent", b_conns),
        ]
    single_for_batch = {m: make_sim(m, n_e, args.batch_steps) for m in ("none", "jax", "ffi") if m in methods}
    b_sims = {name: (make_sim(m, n_e, args.batch_steps, batching), c) for name, m, batching, c in batch_runs}
    for f, c in b_sims.values():
        timed(f, c, b_state)
    for m in single_for_batch:
        timed(single_for_batch[m], conns, state)
    b_times = {m: [] for m in b_sims}
    s_times = {m: [] for m in single_for_batch}
    for _ in range(max(3, args.repeats // 2)):
        for name, (f, c) in b_sims.items():
            b_times[name].append(timed(f, c, b_state))
        for m in single_for_batch:
            s_times[m].append(timed(single_for_batch[m], conns, state))
    b_us = {m: statistics.median(v) / args.batch_steps * 1e6 for m, v in b_times.items()}
    s_us = {m: statistics.median(v) / args.batch_steps * 1e6 for m, v in s_times.items()}
    ratio = {name: args.batch * s_us[m.split("_")[0]] / b_us[name] for name, m, _, _ in batch_runs}
    f, c = b_sims["ffi" if info["available"] else "jax"]
    b_rate = float(jnp.sum(f(c, b_state)["count"])) / args.n / args.batch / (args.batch_steps * DT * 1e-3)

    # --- batch size: the batch's state (5 arrays of B x N) leaves the 512 KiB L2 past B ~ 6
    by_size = {}
    best = "ffi" if info["available"] else "jax"
    for size in (2, 4, 8):
        sub_c = jax.tree.map(lambda x, size=size: x[:size], b_conns)
        sub_s = jax.tree.map(lambda x, size=size: x[:size], b_state)
        f = make_sim(best, n_e, args.batch_steps, "independent")
        timed(f, sub_c, sub_s)
        t = statistics.median(timed(f, sub_c, sub_s) for _ in range(3)) / args.batch_steps * 1e6
        by_size[size] = dict(step_us_per_batch=t, throughput_ratio=size * s_us[best] / t)
    by_size[args.batch] = dict(step_us_per_batch=b_us[best], throughput_ratio=ratio[best])

    return dict(
        benchmark="delivery_kernel",
        workload="COBA driven (neurodyn.models.coba): LIF/COBA Euler step + delivery to ge, gi; float32",
        n=args.n, n_e=n_e, p=80.0 / args.n, dt_ms=DT, steps=args.steps, repeats=args.repeats,
        synapses=int(conns[0].n_synapses + conns[1].n_synapses),
        table_width=[conns[0].max_out_degree, conns[1].max_out_degree],
        rate_hz=rates, spikes_per_step=rates.get("ffi", rates["jax"]) * args.n * DT * 1e-3,
        delivery_us_per_call=delivery_us_per_call,
        delivery_loop_us_per_step=deliv_med,
        step_us=step_us,
        speedup_ffi_vs_jax=step_us["jax"] / step_us["ffi"] if "ffi" in step_us else None,
        batch=dict(
            size=args.batch, steps=args.batch_steps, step_us_per_batch=b_us,
            single_step_us=s_us, throughput_ratio=ratio, rate_hz=b_rate,
            by_size={"method": best, **by_size},
        ),
        reference_us_per_step=dict(brian2_cpp_standalone="9.4 and 17.6 (benchmarks/results/README.md, other days)"),
        kernel=info, brainevent=brainevent_version,
        jax=jax.__version__, platform=platform.platform(), cpu_count=os.cpu_count(),
        loadavg=list(os.getloadavg()),
    )


def _build_batch(keys, n: int):
    """Independent networks, stacked along a leading axis (tables padded to one width)."""
    nets = [build(k, n) for k in keys]
    widths = [max(net[0][j].max_out_degree for net in nets) for j in range(2)]

    def pad(c, w):
        idx = jnp.pad(c.post_idx, ((0, 0), (0, w - c.max_out_degree)), constant_values=c.n_post)
        return type(c)(idx, c.weight, c.n_pre, c.n_post)

    conns = tuple(
        jax.tree.map(lambda *xs: jnp.stack(xs), *[pad(net[0][j], widths[j]) for net in nets]) for j in range(2)
    )
    state = jax.tree.map(lambda *xs: jnp.stack(xs), *[net[1] for net in nets])
    return conns, state, nets[0][2]


if __name__ == "__main__":
    result = main()
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
