"""Command-line entry point: `neurodyn demo`, `neurodyn microcircuit`, `neurodyn gpt ...`.

    neurodyn demo --out neurodyn_out     HH neuron, LIF population, f–I curves: PNGs + JSON
    neurodyn microcircuit --scale 1 --t-ms 1000 --out DIR
                                         the Potjans–Diesmann microcircuit: raster, rates vs
                                         NEST's published ones, CV ISI and correlation PNGs + JSON
    neurodyn gpt train|sample ...        the transformer (see `neurodyn gpt --help`)
    neurodyn compare --out DIR [--quick] associative memory side by side: table, JSON, PNGs
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

from .io._atomic import write_atomic


def demo(out: Path, quick: bool = False) -> dict:
    """Simulate an HH neuron, an LIF population and f–I curves; write PNGs and a JSON summary.

    Each file is written to a temporary name, then renamed (`neurodyn.io._atomic.write_atomic`),
    so an interrupted run leaves the previous file or the new one, never a truncated one.
    """
    import diffrax
    import jax.numpy as jnp
    import numpy as np

    import neurodyn as nd
    from neurodyn import analysis, plot

    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {}
    t_total = time.perf_counter()

    # 1. One HH neuron driven by a 10 µA/cm² step: voltage and gating variables.
    print("[1/4] Hodgkin-Huxley neuron, 10 uA/cm^2 step ...", flush=True)
    hh = nd.HodgkinHuxley()
    step = nd.inputs.Step(10.0, t_on=10.0, t_off=90.0)
    r = nd.simulate(hh, t1=100.0, dt=0.01, input=step, solver=diffrax.Tsit5(), record=("v", "m", "h", "n"))
    fig = plot.traces(r, title="Hodgkin-Huxley: 10 uA/cm^2 from t = 10 to 90 ms")
    _save(fig, out / "hh_traces.png", 0)
    times, _ = r.spikes()
    summary["hh_step"] = {
        "current_uA_cm2": 10.0,
        "spike_times_ms": [round(float(t), 3) for t in times],
        "peak_mV": float(r.traces["v"].max()),
        "rest_mV": float(hh.initial_state(1)["v"][0]),
    }

    # 2. Phase plane of (V, n) with the trajectory.
    X, Y, dX, dY = analysis.phase_plane(hh, "v", "n", (-80, 50), (0.25, 0.8), input_current=10.0)
    fig = plot.phase_plane(X, Y, dX, dY, trajectory=(r.traces["v"][:, 0], r.traces["n"][:, 0]),
                           title="HH phase plane (m, h at rest), I = 10")
    _save(fig, out / "hh_phase_plane.png", 1)

    # 3. HH f–I curve: one heterogeneous population, one compiled call.
    print("[2/4] Hodgkin-Huxley f-I curve ...", flush=True)
    n_fi = 24 if quick else 60
    currents = jnp.linspace(0.0, 40.0, n_fi)
    rates = analysis.f_i_curve(hh, currents, t1=300.0 if quick else 600.0, dt=0.02, t_start=100.0)
    fig = plot.f_i(currents, rates, xlabel="I (uA/cm^2)", title="HH f-I curve (type II onset ~6.3)")
    _save(fig, out / "hh_f_i.png", 2)
    summary["hh_f_i"] = {"currents": np.asarray(currents).round(3).tolist(), "rates_hz": np.asarray(rates).round(2).tolist()}

    # 4. LIF f–I: exact event-located spike times vs the analytic curve.
    print("[3/4] LIF f-I curve, exact spike times vs analytic ...", flush=True)
    lif = nd.LIF()
    drives = jnp.linspace(5.0, 60.0, 12 if quick else 24)
    res = nd.simulate(lif, t1=500.0, dt=0.1, input=drives, mode="exact", record=())
    exact_rates = analysis.firing_rates(res)
    analytic = np.asarray(lif.analytic_rate(drives))
    fig = plot.f_i(drives, exact_rates, analytic, xlabel="R*I (mV)", title="LIF f-I: exact mode vs analytic")
    _save(fig, out / "lif_f_i.png", 3)
    firing = analytic > 0
    summary["lif_f_i"] = {
        "drives_mV": np.asarray(drives).round(3).tolist(),
        "rates_hz": exact_rates.round(3).tolist(),
        "analytic_hz": analytic.round(3).tolist(),
        "max_rel_error": float(np.max(np.abs(exact_rates[firing] / analytic[firing] - 1))),
    }

    # 5. A heterogeneous LIF population (clock-driven): raster.
    print("[4/4] LIF population of 1000 neurons, 1 s ...", flush=True)
    n = 1000
    drive = 10.0 + 20.0 * jnp.arange(n) / (n - 1)
    pop = nd.LIF(tau_m=jnp.linspace(8.0, 12.0, n))
    res = nd.simulate(pop, t1=1000.0, dt=0.1, input=drive, record=("v",), record_neurons=[0, 500, 999],
                      record_every=10, progress=True)
    fig = plot.raster(res, title="LIF population, drive 10-30 mV, tau_m 8-12 ms")
    _save(fig, out / "lif_raster.png", 4)
    summary["lif_population"] = {
        "neurons": n,
        "t_ms": 1000.0,
        "total_spikes": int(res.n_spikes),
        "mean_rate_hz": float(res.spike_counts.mean()),
    }
    summary["wall_s"] = round(time.perf_counter() - t_total, 2)
    write_atomic(out / "summary.json", json.dumps(summary, indent=2).encode(), crash="demo_summary")
    return summary


def _png(fig, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    return buf.getvalue()


def _save(fig, path: Path, index: int) -> None:
    """Write a demo figure atomically and close it (crash point `demo_figure_mid:<index>`)."""
    import matplotlib.pyplot as plt

    try:
        write_atomic(path, _png(fig, dpi=120), crash="demo_figure", index=index)
    finally:
        plt.close(fig)


def microcircuit(out: Path, scale: float = 1.0, t_ms: float = 1000.0, *, t_skip: float = 500.0,
                 background: str = "dc", seed: int = 1, raster_neurons: int = 100, n_sample: int = 200,
                 progress: bool = True) -> dict:
    """Build and run the PD14 microcircuit; write raster.png, rates.png, cv_isi.png,
    correlations.png and summary.json (each written to a temporary name, then renamed)."""
    import jax
    import matplotlib.pyplot as plt
    import numpy as np

    from neurodyn import analysis, plot
    from neurodyn.models import potjans_diesmann
    from neurodyn.models.potjans_diesmann import POPULATIONS, PUBLISHED_RATES

    if not (isinstance(t_ms, (int, float)) and np.isfinite(t_ms) and t_ms > 0):
        raise ValueError(f"t_ms must be a finite number of ms > 0, got {t_ms!r}")
    if not (isinstance(t_skip, (int, float)) and 0 <= t_skip < t_ms):
        raise ValueError(f"t_skip must be in [0, t_ms) = [0, {t_ms}), got {t_skip!r}")
    if raster_neurons < 1 or n_sample < 2:
        raise ValueError(f"raster_neurons must be >= 1 and n_sample >= 2, got {raster_neurons}, {n_sample}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"[1/3] building the microcircuit at scale {scale} ({background} background) ...", flush=True)
    built = jax.block_until_ready(potjans_diesmann(scale, key=jax.random.key(seed), background=background))
    net = built.network
    build_s = time.perf_counter() - t0
    n_syn = sum(int(p.connectivity.n_synapses) for p in net.projections)
    print(f"      {net.n} neurons, {n_syn} synapses in {build_s:.1f} s", flush=True)
    print(f"[2/3] simulating {t_ms} ms (dt = {built.dt} ms) ...", flush=True)
    t1 = time.perf_counter()
    res = built.simulate(float(t_ms), key=jax.random.key(10_000 + seed), progress=progress,
                         max_spikes=int(net.n * 50 * t_ms / 1000) + 10_000)
    jax.block_until_ready(res.spike_counts)
    sim_s = time.perf_counter() - t1
    dropped = int(res.spikes_dropped)
    if dropped:
        print(f"WARNING: {dropped} spikes did not fit the spike buffer; statistics use the stored ones",
              file=sys.stderr)
    times, ids = res.spikes()
    stats = analysis.population_statistics(times, ids, net.populations, t_skip, float(t_ms), n_sample=n_sample)
    print("[3/3] statistics and figures ...", flush=True)
    rows = []  # raster: the first `raster_neurons` of each population
    for _, a, b in net.populations:
        rows.append(np.arange(a, min(b, a + raster_neurons)))
    colors = dict(zip(POPULATIONS, ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C9"]))
    window = (t_skip, min(float(t_ms), t_skip + 200.0))
    figures = {
        "raster.png": plot.raster(res, neurons=np.concatenate(rows), populations=net, colors=colors,
                                  t_window=window, title=f"PD14 microcircuit, scale {scale}, "
                                  f"first {raster_neurons} neurons per population"),
        "rates.png": plot.population_bars(
            POPULATIONS, [stats[p]["rates"].mean() for p in POPULATIONS], PUBLISHED_RATES,
            errors=[stats[p]["rates"].std() for p in POPULATIONS], ylabel="mean rate (Hz)",
            label=f"neurodyn, scale {scale} (± SD over neurons)", reference_label="NEST, full scale (published)",
            title=f"rates over [{t_skip:g}, {t_ms:g}) ms"),
        "cv_isi.png": plot.population_histograms({p: stats[p]["cvs"] for p in POPULATIONS}, xlabel="CV ISI",
                                                 title="ISI coefficient of variation (neurons with >= 3 spikes)"),
        "correlations.png": plot.population_histograms(
            {p: stats[p]["correlations"] for p in POPULATIONS}, xlabel="correlation coefficient",
            title=f"pairwise spike-count correlations, 2 ms bins, first {n_sample} neurons per population"),
    }
    for name, fig in figures.items():
        write_atomic(out / name, _png(fig))
        plt.close(fig)
    summary = {
        "model": "potjans_diesmann_2014", "scale": scale, "background": background, "seed": seed,
        "t_ms": float(t_ms), "t_skip_ms": float(t_skip), "dt_ms": built.dt,
        "n_neurons": net.n, "n_synapses": n_syn, "build_s": round(build_s, 2),
        "simulate_s_incl_compile": round(sim_s, 2), "n_spikes": int(res.n_spikes), "spikes_dropped": dropped,
        "populations": {
            p: {"n": int(stats[p]["rates"].size), "rate_hz": round(float(stats[p]["rates"].mean()), 4),
                "published_nest_rate_hz": PUBLISHED_RATES[k],
                "mean_cv_isi": round(float(np.mean(stats[p]["cvs"])), 4) if stats[p]["cvs"].size else None,
                "mean_correlation": (round(float(np.mean(stats[p]["correlations"])), 5)
                                     if stats[p]["correlations"].size else None)}
            for k, p in enumerate(POPULATIONS)},
        "figures": sorted(figures),
    }
    write_atomic(out / "summary.json", json.dumps(summary, indent=2).encode())
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "gpt":
        from neurodyn.transformer.cli import main as gpt_main

        return gpt_main(argv[1:]) or 0
    parser = argparse.ArgumentParser(prog="neurodyn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="simulate HH and LIF, write PNG plots and a JSON summary")
    d.add_argument("--out", type=Path, default=Path("neurodyn_out"), help="output folder")
    d.add_argument("--quick", action="store_true", help="smaller f-I curves (for CI)")
    sub.add_parser("gpt", help="train / sample the transformer (neurodyn gpt --help)")
    m = sub.add_parser("microcircuit", help="the Potjans-Diesmann (2014) microcircuit: raster, rates, CV, correlations")
    m.add_argument("--scale", type=float, default=1.0, help="fraction of the 77 169 neurons, in (0, 1]; in-degrees kept")
    m.add_argument("--t-ms", type=float, default=1000.0, help="simulated time (ms)")
    m.add_argument("--t-skip", type=float, default=500.0, help="ms discarded before the statistics")
    m.add_argument("--background", choices=("dc", "poisson"), default="dc")
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--raster-neurons", type=int, default=100, help="neurons per population in the raster")
    m.add_argument("--out", type=Path, default=Path("neurodyn_microcircuit"), help="output folder")
    c = sub.add_parser("compare", help="associative memory: every model on one task (table, JSON, PNGs)")
    c.add_argument("--out", type=Path, default=Path("neurodyn_compare"), help="output folder")
    c.add_argument("--quick", action="store_true", help="smaller sizes (N = 100, 1 trial)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--no-recall", action="store_true", help="skip training the transformer")
    args = parser.parse_args(argv)
    if args.command == "compare":
        from neurodyn.memory.compare import format_table, plot_comparison, run_comparison, write_json

        result = run_comparison("quick" if args.quick else "default", seed=args.seed,
                                recall=not args.no_recall)
        result["figures"] = [str(p) for p in plot_comparison(result, args.out)]
        write_json(result, args.out / "associative_memory.json")
        print(format_table(result))
        print(f"wrote associative_memory.json and {len(result['figures'])} figures to {args.out.resolve()}")
        return 0
    if args.command == "microcircuit":
        if not 0 < args.scale <= 1:
            parser.error(f"--scale must be in (0, 1], got {args.scale}")
        if not 0 <= args.t_skip < args.t_ms:
            parser.error(f"--t-skip must be in [0, --t-ms), got {args.t_skip} and {args.t_ms}")
        summary = microcircuit(args.out, args.scale, args.t_ms, t_skip=args.t_skip, background=args.background,
                               seed=args.seed, raster_neurons=args.raster_neurons)
        for p, r in summary["populations"].items():
            print(f"{p:5s} {r['rate_hz']:7.3f} Hz (NEST full scale: {r['published_nest_rate_hz']:.3f})  "
                  f"CV {r['mean_cv_isi']}  corr {r['mean_correlation']}")
        print(f"wrote {', '.join(summary['figures'])}, summary.json to {args.out.resolve()}")
        return 0
    if args.command == "demo":
        summary = demo(args.out, quick=args.quick)
        print(f"wrote {', '.join(sorted(p.name for p in args.out.iterdir()))} to {args.out.resolve()}")
        print(f"LIF exact f-I max relative error vs analytic: {summary['lif_f_i']['max_rel_error']:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
