"""Fit ḡNa, ḡK, ḡL of a Hodgkin–Huxley neuron to a noisy synthetic voltage trace.

Protocol: current step 10 µA/cm² from 2 ms to 75 % of the trace, 100 ms at dt = 0.025 ms
(Euler), Gaussian noise σ = 1 mV; start from (1.5, 0.5, 1.5)× the 1952 values; L-BFGS in
the Positive-transformed space. Reports wall time and iterations until all three are
within 2 %, a vmapped multi-start, peak memory and the gradient/forward time ratio.

    python benchmarks/fit_hh.py --json           # full size
    python benchmarks/fit_hh.py --json --quick   # 20 ms trace, 2 starts (smoke test)

Prints ONE JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import optax

import neurodyn as nd
from neurodyn.fit import Positive, fit, fit_multistart, perturbed_starts, solve_trace, trace_mse

NAMES = ("g_na", "g_k", "g_l")
TRUE = {"g_na": 120.0, "g_k": 36.0, "g_l": 0.3}


def _timeit(f, *args, repeat=3):
    jax.block_until_ready(f(*args))  # compile
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - t)
    return best


def _temp_bytes(f, *args):
    """XLA's temporary buffer size for the compiled function (its working memory)."""
    try:
        return int(jax.jit(f).lower(*args).compile().memory_analysis().temp_size_in_bytes)
    except Exception:  # memory_analysis is backend-dependent
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object (default)")
    ap.add_argument("--quick", action="store_true", help="20 ms trace, 2 starts")
    ap.add_argument("--t1", type=float, default=None, help="trace length in ms (default 100)")
    ap.add_argument("--starts", type=int, default=None, help="parallel starts (default 4)")
    args = ap.parse_args(argv)
    t1 = args.t1 or (20.0 if args.quick else 100.0)
    n_starts = args.starts or (2 if args.quick else 4)
    dt = 0.025
    inp = nd.inputs.Step(10.0, 2.0, 0.75 * t1)

    def run(model):
        res = nd.simulate(model, t1, dt, input=inp, n_neurons=1, check=False)
        return res.traces["v"][:, 0]

    clean = run(nd.HodgkinHuxley())
    target = clean + jax.random.normal(jax.random.key(0), clean.shape)

    def loss_fn(m):
        return trace_mse(run(m), target)

    # ---- single fit: iterations and wall time to 2 % recovery
    start = nd.HodgkinHuxley(g_na=180.0, g_k=18.0, g_l=0.45)
    reached = {}
    t0 = time.perf_counter()

    def callback(step, values, loss):
        err = max(abs(float(values[n]) / TRUE[n] - 1) for n in NAMES)
        if err < 0.02 and "iterations" not in reached:
            reached.update(iterations=step + 1, wall_s=time.perf_counter() - t0)
        return False

    res = fit(start, loss_fn, params=NAMES, transforms={n: Positive() for n in NAMES},
              optimizer=optax.lbfgs(), steps=60, rtol=1e-7, progress=False, callback=callback)
    errors = {n: abs(float(res.params[n]) / TRUE[n] - 1) for n in NAMES}

    # ---- multi-start: n_starts guesses within ±50 %, one compiled vmapped call
    starts = perturbed_starts(nd.HodgkinHuxley(), NAMES, n_starts, 0.5, key=jax.random.key(1))
    t_ms = time.perf_counter()
    ms = fit_multistart(nd.HodgkinHuxley(), loss_fn, starts,
                        transforms={n: Positive() for n in NAMES},
                        optimizer=optax.lbfgs(), steps=25)
    jax.block_until_ready(ms.final_loss)
    t_ms = time.perf_counter() - t_ms
    ms_err = np.max(np.abs(np.stack([np.asarray(ms.params[n]) / TRUE[n] - 1 for n in NAMES])), axis=0)

    # ---- gradient / forward time, and working memory of the gradient by path
    g = jnp.array([120.0, 36.0, 0.3])

    def loss_g(g):
        return loss_fn(nd.HodgkinHuxley(g_na=g[0], g_k=g[1], g_l=g[2]))

    def loss_diffeqsolve(g, adjoint):
        m = nd.HodgkinHuxley(g_na=g[0], g_k=g[1], g_l=g[2])
        return trace_mse(solve_trace(m, t1, dt, input=inp, adjoint=adjoint)[:, 0], target)

    fwd = _timeit(jax.jit(loss_g), g)
    grad = _timeit(jax.jit(jax.grad(loss_g)), g)
    memory = {
        "forward_simulate": _temp_bytes(loss_g, g),
        "grad_simulate_clock_loop": _temp_bytes(jax.grad(loss_g), g),
        "grad_diffeqsolve_recursive_checkpoint": _temp_bytes(
            jax.grad(lambda g: loss_diffeqsolve(g, diffrax.RecursiveCheckpointAdjoint())), g),
        "grad_diffeqsolve_backsolve": _temp_bytes(
            jax.grad(lambda g: loss_diffeqsolve(g, diffrax.BacksolveAdjoint())), g),
    }

    out = {
        "benchmark": "fit_hh",
        "trace_ms": t1,
        "dt_ms": dt,
        "noise_mv": 1.0,
        "optimizer": "lbfgs (Positive transform)",
        "start": {"g_na": 180.0, "g_k": 18.0, "g_l": 0.45},
        "iterations_to_2pct": reached.get("iterations"),
        "wall_s_to_2pct_incl_compile": reached.get("wall_s"),
        "fit_iterations_total": res.steps,
        "fit_wall_s_total": res.wall_time,
        "fitted": {n: float(res.params[n]) for n in NAMES},
        "relative_errors": errors,
        "final_loss_mv2": float(res.loss_history[-1]),
        "parallel_starts": n_starts,
        "multistart_steps": 25,
        "multistart_wall_s_incl_compile": t_ms,
        "multistart_max_rel_error_per_start": ms_err.tolist(),
        "multistart_best_max_rel_error": float(ms_err[int(ms.best_index)]),
        "forward_s": fwd,
        "gradient_s": grad,
        "gradient_over_forward": grad / fwd,
        "xla_temp_bytes": memory,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "machine": platform.processor() or platform.machine(),
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
