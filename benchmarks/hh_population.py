"""HH population throughput: neurodyn.simulate vs a hand-fused lax.scan loop and Brian2.

Population of N Hodgkin–Huxley neurons with I_i = 20·i/(N−1) µA/cm², from rest, forward
Euler. Reference (Brian2 2.9.0, docs/references.md): N = 100 000, 100 ms at dt = 0.01 ms gives 556 477 spikes
(Brian2 2.9.0, upward crossings of 0 mV). Issue #3's target: at least 10× Brian2's
throughput (neuron-steps per second).

Three runs of the same population, timed in the same process, alternating, medians over
`--repeats`:
    ours      `neurodyn.simulate(..., solver=diffrax.Euler(), record=())`: the general
              path (spike buffer, per-block compaction, blow-up check).
    baseline  the fastest plain-JAX loop we know: the same equations fused by hand into one
              `lax.scan` that only counts crossings.
    brian2    (`--brian2`) Brian2 C++ standalone, single thread, `method="euler"`, the same
              equations (HH 1952 as in neurodyn/neurons/hodgkin_huxley.py, float64), initial
              state and input; spikes are upward crossings of 0 mV (threshold and refractory
              both `v > 0*mV`: a neuron fires once per excursion above 0 mV). The binary is
              built once (`build_s`, excluded) and run `--repeats` times; its simulation time
              is read inside the binary (CLOCK_MONOTONIC and CLOCK_PROCESS_CPUTIME_ID around
              the run, as in compare_brian2.py); Brian2's own `_last_run_time` is recorded too.

`--breakdown` adds short runs (`--breakdown-steps`) of variants that show where the step
time goes: the fused loop with unroll 1, with `exprel_ratio_one_exp` for α_m and α_n, and
with every rate frozen at a constant (no transcendental: the loop's memory/arithmetic
floor); ours with unroll 1 and 2; and the CPU ns per element of exp, expm1, exprel_ratio.

Wall time and process CPU time are both reported (the machine is shared: under load, wall
time includes waiting for a core); ours may use every core, Brian2 uses one. Brian2 needs
its own virtual environment (see compare_brian2.py):

    /work/venvs/brian2/bin/python benchmarks/hh_population.py --brian2 --breakdown \\
        --repeats 5 --json --out benchmarks/results/hh_population_cpu_2core.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, emit, load_average, machine_info  # noqa: E402

# Lines that time Brian2's run() inside the generated binary (wall and process CPU time).
from compare_brian2 import _TIC, _TIMING_FILE, _TOC  # noqa: E402

import neurodyn as nd  # noqa: E402
from neurodyn.neurons.hodgkin_huxley import hh_rates  # noqa: E402

REFERENCE_SPIKES = {(100_000, 100.0, 0.01): 556_477}
TARGET_RATIO = 10.0  # issue #3: at least 10x Brian2's throughput


def input_current(n: int) -> jax.Array:
    """I_i = 20·i/(N−1) µA/cm² (float32)."""
    return 20.0 * jnp.arange(n, dtype=jnp.float32) / max(n - 1, 1)


def fused_baseline(n: int, n_steps: int, dt: float, rates=hh_rates, unroll: int = 2):
    """The fastest plain-JAX loop we know: HH forward Euler + crossing count, one scan.

    `rates` replaces `hh_rates` in the breakdown (`--breakdown`).
    """
    p = nd.HodgkinHuxley()

    @jax.jit
    def run(current, y0):
        def step(carry, _):
            v, m, h, n_, count = carry
            r = rates(v)
            i_ion = (
                p.g_na * m**3 * h * (v - p.e_na) + p.g_k * n_**4 * (v - p.e_k) + p.g_l * (v - p.e_l)
            )
            v_new = v + dt * (current - i_ion) / p.c_m
            m = m + dt * (r["alpha_m"] * (1 - m) - r["beta_m"] * m)
            h = h + dt * (r["alpha_h"] * (1 - h) - r["beta_h"] * h)
            n_ = n_ + dt * (r["alpha_n"] * (1 - n_) - r["beta_n"] * n_)
            count = count + ((v < 0) & (v_new >= 0)).astype(jnp.int32)
            return (v_new, m, h, n_, count), None

        init = (y0["v"], y0["m"], y0["h"], y0["n"], jnp.zeros_like(current, jnp.int32))
        out, _ = jax.lax.scan(step, init, None, length=n_steps, unroll=unroll)
        return out[-1]

    return run


# ----------------------------------------------------------------------------- breakdown


def exprel_ratio_one_exp(x, y, threshold: float = 0.2):
    """x / (exp(x/y) − 1) from one `exp` (a candidate for neurodyn.neurons.rates.exprel_ratio).

    XLA's CPU `expm1` costs about 2.5 `exp`s. For |u| = |x/y| ≥ 0.2, exp(u) − 1 loses at most
    ~1 ulp / 0.2 of relative accuracy; below, the Taylor series of u/(eᵘ − 1) to u⁴ is used
    (next term u⁶/30240 < 3e-9). Max relative error over V in [−120, 80] mV in float32:
    4.0e-7, the same as `exprel_ratio`'s (expm1-based). Same double-where for the gradient.
    """
    u = jnp.asarray(x) / y
    small = jnp.abs(u) < threshold
    safe_u = jnp.where(small, 1.0, u)
    exact = y * safe_u / (jnp.exp(safe_u) - 1.0)
    u2 = u * u
    series = y * (1.0 - u / 2.0 + u2 / 12.0 - u2 * u2 / 720.0)
    return jnp.where(small, series, exact)


def hh_rates_one_exp(v):
    """`hh_rates` with `exprel_ratio_one_exp` for α_m and α_n (4 exp + 2 exp, no expm1)."""
    return {
        **hh_rates(v),
        "alpha_m": 0.1 * exprel_ratio_one_exp(-(v + 40.0), 10.0),
        "alpha_n": 0.01 * exprel_ratio_one_exp(-(v + 55.0), 10.0),
    }


def hh_rates_constant(v):
    """Rates frozen at constants: the step without any transcendental (the loop's floor)."""
    one = jnp.ones_like(v)
    return {k: c * one for k, c in (("alpha_m", 0.1), ("beta_m", 4.0), ("alpha_h", 0.07),
                                    ("beta_h", 0.5), ("alpha_n", 0.01), ("beta_n", 0.125))}


def elementwise_costs(size: int = 1_000_000, reps: int = 50, repeats: int = 5) -> dict:
    """CPU nanoseconds per float32 element of the rate functions' building blocks (median)."""
    from neurodyn.neurons.rates import exprel_ratio

    x = jnp.linspace(-5.0, 5.0, size, dtype=jnp.float32)
    fns = {
        "multiply_add": lambda u: u * 1.0001 + 1e-4,
        "divide": lambda u: 1.0 / (u + 7.0),
        "exp": jnp.exp,
        "expm1": jnp.expm1,
        "exprel_ratio (expm1, series |u|<1e-3)": lambda u: exprel_ratio(u, 10.0),
        "exprel_ratio_one_exp (exp, series |u|<0.2)": lambda u: exprel_ratio_one_exp(u, 10.0),
    }
    out = {}
    for name, f in fns.items():
        g = jax.jit(lambda x, f=f: jax.lax.fori_loop(0, reps, lambda i, y: f(y * 1e-3 + x), x))
        jax.block_until_ready(g(x))
        cpus = []
        for _ in range(repeats):
            with Timer() as t:
                jax.block_until_ready(g(x))
            cpus.append(t.cpu)
        out[name] = round(statistics.median(cpus) / (reps * size) * 1e9, 3)
    return out


def breakdown(n: int, dt: float, n_steps: int, repeats: int, current, y0, model) -> dict:
    """Where the step time goes: variants of the fused loop and of ours, short runs, alternated."""
    variants = {
        "baseline": fused_baseline(n, n_steps, dt),
        "baseline_unroll1": fused_baseline(n, n_steps, dt, unroll=1),
        "baseline_exprel_one_exp": fused_baseline(n, n_steps, dt, rates=hh_rates_one_exp),
        "baseline_no_transcendentals": fused_baseline(n, n_steps, dt, rates=hh_rates_constant),
    }
    calls = {k: (lambda f=f: f(current, y0)) for k, f in variants.items()}
    t1 = n_steps * dt
    for unroll in (2, 1):
        calls[f"ours_unroll{unroll}"] = lambda u=unroll: nd.simulate(
            model, t1=t1, dt=dt, input=current, record=(), solver=diffrax.Euler(), unroll=u
        )
    for f in calls.values():
        jax.block_until_ready(f())
    runs = {k: [] for k in calls}
    for _ in range(repeats):
        for k, f in calls.items():
            runs[k].append(_timed(f)[1])
    total = n * n_steps
    out = {}
    for k, r in runs.items():
        cpu = statistics.median(x["run_cpu_s"] for x in r)
        wall = statistics.median(x["run_s"] for x in r)
        out[k] = {"run_s": round(wall, 4), "run_cpu_s": round(cpu, 4),
                  "M_neuron_steps_per_s": round(total / wall / 1e6, 1),
                  "cpu_ns_per_neuron_step": round(cpu / total * 1e9, 3)}
    return {"steps": n_steps, "repeats": repeats, "variants": out,
            "elementwise_cpu_ns_per_element": elementwise_costs(), "load_average": load_average()}


class Brian2Population:
    """The same HH population in Brian2 C++ standalone, built once; `run()` executes it."""

    def __init__(self, n: int, t_ms: float, dt: float, y0: dict, directory: Path):
        import brian2 as b2

        self.b2, self.directory = b2, directory
        b2.set_device("cpp_standalone", directory=str(directory), build_on_run=False)
        b2.device.reinit()
        b2.device.activate(directory=str(directory), build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0  # single thread (Brian2's default)
        b2.defaultclock.dt = dt * b2.ms
        p = nd.HodgkinHuxley()
        ms, mV, cm2 = b2.ms, b2.mV, b2.cm**2
        # As neurodyn/neurons/hodgkin_huxley.py; x/(1 - exp(-x/10)) = 10/exprel(-x/10).
        eqs = """
        dv/dt = (I - g_na * m**3 * h * (v - e_na) - g_k * n**4 * (v - e_k) - g_l * (v - e_l)) / c_m : volt
        dm/dt = alpha_m * (1 - m) - beta_m * m : 1
        dh/dt = alpha_h * (1 - h) - beta_h * h : 1
        dn/dt = alpha_n * (1 - n) - beta_n * n : 1
        alpha_m = 1.0 / exprel(-(v + 40*mV) / (10*mV)) / ms : Hz
        beta_m = 4.0 * exp(-(v + 65*mV) / (18*mV)) / ms : Hz
        alpha_h = 0.07 * exp(-(v + 65*mV) / (20*mV)) / ms : Hz
        beta_h = 1.0 / (1 + exp(-(v + 35*mV) / (10*mV))) / ms : Hz
        alpha_n = 0.1 / exprel(-(v + 55*mV) / (10*mV)) / ms : Hz
        beta_n = 0.125 * exp(-(v + 65*mV) / (80*mV)) / ms : Hz
        I : amp/meter**2 (constant)
        """
        ns = dict(
            c_m=p.c_m * b2.ufarad / cm2, g_na=p.g_na * b2.msiemens / cm2,
            g_k=p.g_k * b2.msiemens / cm2, g_l=p.g_l * b2.msiemens / cm2,
            e_na=p.e_na * mV, e_k=p.e_k * mV, e_l=p.e_l * mV,
        )
        group = b2.NeuronGroup(n, eqs, threshold="v > 0*mV", refractory="v > 0*mV",
                               method="euler", namespace=ns)
        group.I = np.asarray(input_current(n), np.float64) * b2.uamp / cm2
        group.v = np.asarray(y0["v"], np.float64) * mV
        for x in "mhn":
            setattr(group, x, np.asarray(y0[x], np.float64))
        self.monitor = b2.SpikeMonitor(group, record=False)  # counts only, like ours' counts
        net = b2.Network(group, self.monitor)
        b2.device.insert_code("main", _TIC)
        net.run(t_ms * ms, namespace={})
        b2.device.insert_code("main", _TOC)
        with Timer() as t:
            b2.device.build(directory=str(directory), compile=True, run=False, with_output=False)
        self.build_s = t.wall

    def run(self) -> dict:
        b2 = self.b2
        b2.device.run(directory=str(self.directory), with_output=False, run_args=None)
        wall, cpu = (float(x) for x in (Path(b2.device.results_dir) / _TIMING_FILE).read_text().split())
        return {
            "run_s": wall, "run_cpu_s": cpu,
            "last_run_time_s": float(b2.device._last_run_time),
            "binary_wall_s": float(b2.device.timers["run_binary"]),
            "total_spikes": int(np.sum(self.monitor.count)),
        }


def _median_record(runs: list[dict], n_steps_total: int) -> dict:
    out = dict(runs[-1])
    for k in ("run_s", "run_cpu_s", "last_run_time_s", "binary_wall_s"):
        if k in out:
            out[k] = round(statistics.median(r[k] for r in runs), 4)
    out["run_s_all"] = [round(r["run_s"], 4) for r in runs]
    out["run_cpu_s_all"] = [round(r["run_cpu_s"], 4) for r in runs]
    out["neuron_steps_per_s"] = n_steps_total / out["run_s"]
    out["M_neuron_steps_per_s"] = round(n_steps_total / out["run_s"] / 1e6, 2)
    out["M_neuron_steps_per_cpu_s"] = round(n_steps_total / out["run_cpu_s"] / 1e6, 2)
    return out


def _timed(fn) -> tuple[object, dict]:
    with Timer() as t:
        out = jax.block_until_ready(fn())
    return out, {"run_s": t.wall, "run_cpu_s": t.cpu}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--t-ms", type=float, default=100.0)
    parser.add_argument("--dt-ms", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--brian2", action="store_true", help="also run Brian2 C++ standalone (its venv)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time variants (unroll, exprel via exp, no transcendentals) on short runs")
    parser.add_argument("--breakdown-steps", type=int, default=1000)
    parser.add_argument("--workdir", default=None, help="Brian2 build directory (default: a temp dir)")
    parser.add_argument("--out", default=None, help="also write the JSON object to this file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    n, dt = args.n, args.dt_ms
    n_steps = round(args.t_ms / dt)
    total = n * n_steps
    current = input_current(n)
    model = nd.HodgkinHuxley()
    y0 = model.initial_state(n)
    info = {**machine_info(), "load_average_start": load_average()}

    brian = None
    if args.brian2:
        import brian2

        info["brian2"] = brian2.__version__
        workdir = Path(args.workdir or tempfile.mkdtemp(prefix="neurodyn_hh_brian2_"))
        brian = Brian2Population(n, args.t_ms, dt, y0, workdir / "hh_population")

    def ours():
        return nd.simulate(model, t1=args.t_ms, dt=dt, input=current, record=(), solver=diffrax.Euler())

    baseline = fused_baseline(n, n_steps, dt)

    def base():
        return baseline(current, y0)

    with Timer() as t:
        jax.block_until_ready(ours())
    ours_first = t.wall
    with Timer() as t:
        jax.block_until_ready(base())
    base_first = t.wall

    runs = {"ours": [], "baseline": [], "brian2": []}
    loads = []
    for _ in range(args.repeats):
        if brian is not None:
            runs["brian2"].append(brian.run())
        result, r = _timed(ours)
        runs["ours"].append({**r, "total_spikes": int(result.n_spikes), "spikes_stored": int(result.n_spikes_stored)})
        counts, r = _timed(base)
        runs["baseline"].append({**r, "total_spikes": int(counts.sum())})
        loads.append(load_average()[0] if load_average() else None)
        print(f"[hh_population] repeat {len(loads)}: " + ", ".join(
            f"{k} {v[-1]['run_s']:.2f} s" for k, v in runs.items() if v) + f", load {loads[-1]}",
            file=sys.stderr, flush=True)

    ref = REFERENCE_SPIKES.get((n, args.t_ms, dt))
    o = _median_record(runs["ours"], total)
    o["compile_s"] = round(max(ours_first - o["run_s"], 0.0), 3)
    o["what"] = "neurodyn.simulate(HodgkinHuxley(), solver=diffrax.Euler(), record=()), float32"
    o["spikes_rel_error"] = None if ref is None else abs(o["total_spikes"] - ref) / ref
    b = _median_record(runs["baseline"], total)
    b["compile_s"] = round(max(base_first - b["run_s"], 0.0), 3)
    b["what"] = "hand-fused jax.lax.scan forward Euler (unroll=2), crossing count only, float32"
    out = {
        "benchmark": "hh_population",
        "machine": info,
        "neurons": n, "t_ms": args.t_ms, "dt_ms": dt, "steps": n_steps, "neuron_steps": total,
        "solver": "forward Euler", "repeats": args.repeats, "load_1min_per_repeat": loads,
        "reference_spikes": ref,
        "ours": o,
        "baseline": b,
        "ours_vs_baseline_throughput": round(b["run_s"] / o["run_s"], 3),
        "ours_vs_baseline_cpu_throughput": round(b["run_cpu_s"] / o["run_cpu_s"], 3),
    }
    if brian is not None:
        br = _median_record(runs["brian2"], total)
        br["build_s"] = round(brian.build_s, 3)
        br["what"] = "Brian2 C++ standalone, single thread, method='euler', float64"
        out["brian2"] = br
        out["ours_vs_brian2_throughput"] = round(br["run_s"] / o["run_s"], 3)
        # Paired by repeat (each Brian2 run is followed by ours): load changes between repeats.
        out["ours_vs_brian2_throughput_per_repeat"] = [
            round(b_["run_s"] / o_["run_s"], 3) for b_, o_ in zip(runs["brian2"], runs["ours"])
        ]
        out["ours_vs_brian2_cpu_throughput_per_repeat"] = [
            round(b_["run_cpu_s"] / o_["run_cpu_s"], 3) for b_, o_ in zip(runs["brian2"], runs["ours"])
        ]
        out["ours_vs_brian2_cpu_throughput"] = round(br["run_cpu_s"] / o["run_cpu_s"], 3)
        out["baseline_vs_brian2_throughput"] = round(br["run_s"] / b["run_s"], 3)
        out["target_ratio"] = TARGET_RATIO
        out["within_target"] = out["ours_vs_brian2_throughput"] >= TARGET_RATIO
    if args.breakdown:
        out["breakdown"] = breakdown(n, dt, args.breakdown_steps, args.repeats, current, y0, model)
    info["load_average_end"] = load_average()
    emit(out, args.json, args.out)
    return out


if __name__ == "__main__":
    main()
