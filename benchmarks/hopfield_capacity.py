"""Capacity curves of the Hopfield networks: P/N vs retrieval for Hebbian, Storkey, modern.

    python benchmarks/hopfield_capacity.py --json            # one JSON object on stdout
    python benchmarks/hopfield_capacity.py --n 500 1000 --out benchmarks/results
    python benchmarks/hopfield_capacity.py --quick --out /tmp  # N = 500 only, ~1 min

Classical: start from each stored pattern exactly and run asynchronous updates (random
order from a key, a new order each sweep) until a sweep flips nothing; a pattern is
retrieved if the final overlap is ≥ 0.95; α_c is where half of them fail, measured on
each of --trials independent networks (reported as mean ± standard error) and on the
trial-averaged curve (reference: 0.138 for Hebbian as N → ∞, Amit, Gutfreund & Sompolinsky
1985; finite networks sit above it). Modern (Ramsauer et al. 2020): one update from a
25 %-corrupted cue, dimension d = --modern-dim, loads P/d up to 16. Writes
hopfield_capacity.json and hopfield_capacity.png to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import jax
import jax.random as jr
import numpy as np


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[500, 1000], help="network sizes N")
    parser.add_argument("--trials", type=int, default=8, help="independent Hebbian networks")
    parser.add_argument("--storkey-trials", type=int, default=2, help="independent Storkey networks")
    parser.add_argument("--quick", action="store_true", help="N = 500 only, 4 Hebbian networks")
    parser.add_argument("--modern-dim", type=int, default=64)
    parser.add_argument("--modern-beta", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.trials = [500], 4

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neurodyn.hopfield import capacity_curve, hebbian, modern_capacity_curve, storkey
    from neurodyn.hopfield.plotting import plot_capacity

    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr))
    key = jr.key(args.seed)
    hebb_loads = np.round(np.arange(0.06, 0.245, 0.01), 3)
    storkey_loads = np.round(np.arange(0.10, 0.65, 0.05), 3)
    modern_loads = [0.25, 0.5, 1, 2, 4, 8, 16]
    result = {
        "benchmark": "hopfield_capacity",
        "criterion": "exact cue, final overlap >= 0.95; alpha_c = load where half fail",
        "dynamics": "asynchronous, random order per sweep, until a sweep flips nothing",
        "reference_alpha_c_hebbian": 0.138,
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "machine": platform.machine(),
        "n_trials": {"hebbian": args.trials, "storkey": args.storkey_trials},
        "classical": {},
    }
    curves = {}
    t_start = time.perf_counter()
    for n in args.n:
        for name, rule, loads, trials in (("hebbian", hebbian, hebb_loads, args.trials),
                                          ("storkey", storkey, storkey_loads, args.storkey_trials)):
            t0 = time.perf_counter()
            c = capacity_curve(jr.fold_in(key, n), n, loads, rule=rule, n_trials=trials)
            frac = np.asarray(c.fraction_retrieved.mean(-1))
            wall = time.perf_counter() - t0
            mean, sem = c.critical_load_sem
            result["classical"][f"{name}_N{n}"] = {
                "rule": name,
                "n_neurons": n,
                "loads": np.asarray(c.loads, float).round(4).tolist(),
                "fraction_retrieved": frac.astype(float).round(4).tolist(),
                "mean_overlap": np.asarray(c.mean_overlap.mean(-1), float).round(4).tolist(),
                "alpha_c": round(c.critical_load, 4),
                "alpha_c_per_network": np.round(c.critical_loads, 4).tolist(),
                "alpha_c_mean": round(mean, 4),
                "alpha_c_sem": round(sem, 4),
                "fraction_converged": round(float(c.fraction_converged.min()), 4),
                "wall_s": round(wall, 2),
            }
            curves[f"{name}, N={n}"] = c
            log(f"{name:8s} N={n:5d}: alpha_c = {c.critical_load:.4f} (trial-averaged curve), "
                f"{mean:.4f} ± {sem:.4f} over {trials} networks  ({wall:.1f} s)")
    t0 = time.perf_counter()
    acc = modern_capacity_curve(jr.fold_in(key, 1), args.modern_dim, modern_loads,
                                beta=args.modern_beta, corruption=0.25)
    result["modern"] = {
        "dim": args.modern_dim,
        "beta": args.modern_beta,
        "cue_corruption": 0.25,
        "loads": modern_loads,
        "exact_retrieval": np.asarray(acc, float).round(4).tolist(),
        "wall_s": round(time.perf_counter() - t0, 2),
    }
    log(f"modern d={args.modern_dim}: {np.asarray(acc).round(3).tolist()}")
    result["wall_s"] = round(time.perf_counter() - t_start, 2)

    os.makedirs(args.out, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    plot_capacity({k: v for k, v in curves.items() if "hebbian" in k}, axes[0])
    axes[0].set_title("Hebbian rule (exact cue)")
    plot_capacity({k: v for k, v in curves.items() if "storkey" in k}, axes[1],
                  modern=(modern_loads, np.asarray(acc),
                          f"modern, d={args.modern_dim}, β={args.modern_beta}, 25% cue noise"))
    axes[1].set_xscale("log")
    axes[1].set_title("Storkey rule and modern Hopfield")
    fig.tight_layout()
    png = os.path.join(args.out, "hopfield_capacity.png")
    fig.savefig(png, dpi=120)
    result["png"] = png
    with open(os.path.join(args.out, "hopfield_capacity.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
