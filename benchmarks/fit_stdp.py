"""Differentiable plasticity: recover A₊ of an STDP rule with `neurodyn.fit` from the final weights.

The Song–Miller–Abbott network (`neurodyn.models.song2000`, 100 inputs at 15 Hz, gmax = 0.1)
is trained for `--t-ms` under A₊ = 0.01 gmax, A₋ = 1.05 A₊; starting from A₊ × `--starts`
(default 0.5 and 1.5), `neurodyn.fit` (Adam, lr 0.1 on the Positive-transformed A₊)
minimises the squared relative error of the mean final weight, through a surrogate-spike run
with a steep surrogate (slope 1e4 per mV: the gradient flows through the rule with the
spike trains held fixed; at slope 1 the surrogate gradient through 10⁴ steps explodes).
Reports the recovered A₊, its error, the optimiser steps and the time.

    python benchmarks/fit_stdp.py --t-ms 1000 --json --out benchmarks/results/fit_stdp_cpu_2core.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, emit, load_average, machine_info  # noqa: E402

from neurodyn import fit as F  # noqa: E402
from neurodyn.models import song2000  # noqa: E402
from neurodyn.network import simulate_network  # noqa: E402

G_MAX = 0.1
A_TRUE = 0.01 * G_MAX
SLOPE = 1e4


def run(t_ms: float, starts, n_inputs: int = 100, steps: int = 60) -> dict:
    def built(a_plus):
        return song2000(n_inputs, key=jax.random.key(0), g_max=G_MAX, a_plus=jnp.asarray(a_plus),
                        a_minus=1.05 * A_TRUE)

    y0 = built(A_TRUE).initial_state

    def mean_w(net):
        r = simulate_network(net, t_ms, 0.1, key=jax.random.key(1), surrogate="fast_sigmoid",
                             surrogate_slope=SLOPE, check=False, initial_state=y0)
        return jnp.mean(r.final_state.buffers[0].weight)

    target = mean_w(built(A_TRUE).network)

    def loss(net):
        return ((mean_w(net) - target) / target) ** 2

    fits = []
    for s in starts:
        with Timer() as t:
            res = F.fit(built(s * A_TRUE).network, loss, params=lambda m: m.projections[0].plasticity.a_plus,
                        transforms=F.Positive(), optimizer=optax.adam(0.1), steps=steps, tol=1e-6, progress=False)
        a = float(res.params["projections[0].plasticity.a_plus"])
        fits.append({"start_over_true": s, "a_plus_fit": a, "relative_error": round(a / A_TRUE - 1, 5),
                     "steps": res.steps, "converged": res.converged, "final_loss": float(res.loss_history[-1]),
                     "wall_s": round(t.wall, 2)})
    return {"benchmark": "fit_stdp", "t_ms": t_ms, "n_inputs": n_inputs, "a_plus_true": A_TRUE,
            "target_mean_w": float(target), "fits": fits}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t-ms", type=float, default=1000.0)
    ap.add_argument("--starts", type=float, nargs="+", default=[0.5, 1.5])
    ap.add_argument("--out", default=None, help="also write the JSON object to this file")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    info = {**machine_info(), "load_average_start": load_average()}
    out = run(args.t_ms, args.starts)
    info["load_average_end"] = load_average()
    out["machine"] = info
    emit(out, args.json, args.out)


if __name__ == "__main__":
    main()
