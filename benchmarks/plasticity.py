"""COBA 4k with plastic E→E synapses (additive STDP): µs per step, static vs plastic, and Brian2.

The driven COBA network (`neurodyn.models.coba`, variant "driven": 4000 LIF neurons, p = 80/N,
+20 mV drive, dt = 0.1 ms) with its excitatory projection split into E→E (plastic: additive
all-to-all STDP, `neurodyn.network.STDP`, A₊ = 0.001 w_max, A₋ = 1.05 A₊, τ± = 20 ms,
w_max = 2 we, no delay) and E→I (static), and I→all static. The static counterpart is the same
network with E→E not plastic. The same plastic network runs in Brian2 C++ standalone
(single thread; E→E `Synapses` with Brian2's STDP-example `on_pre`/`on_post` code).

Timing: neurodyn compiles once per network (excluded, reported as compile_s); the static
and plastic runs and Brian2's binary alternate `--repeats` times; medians of wall time are
reported, with the load average (the machine is shared), and the ratios of the fastest
runs (`*_min`: the least disturbed ones on a loaded machine); process CPU time (`*_cpu`, all
threads) is reported next to wall time, as it does not count the time spent waiting for a core. Brian2's time is measured inside
its binary around `run()` (as in compare_brian2.py), its build excluded.

    /work/venvs/brian2/bin/python benchmarks/plasticity.py --t-ms 10000 --repeats 3 --json \\
        --out benchmarks/results/plasticity_cpu_2core.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, emit, load_average, machine_info, rate_hz  # noqa: E402

from neurodyn.models import coba  # noqa: E402
from neurodyn.models.coba import DT, W_E, W_I  # noqa: E402
from neurodyn.network import STDP, Connectivity, Network, Projection, fixed_probability, simulate_network  # noqa: E402

W_MAX = 2 * W_E
A_PLUS = 0.001 * W_MAX
A_MINUS = 1.05 * A_PLUS


def build(n: int, seed: int, plastic: bool):
    """(network, initial state, drive) of the split COBA network (see the module docstring)."""
    base = coba(n, key=jax.random.key(seed), variant="driven")
    n_e = base.network.population("E").stop
    p = 80.0 / n
    k_ee, k_ei, k_i = jax.random.split(jax.random.key(seed + 100), 3)
    ee = fixed_probability(k_ee, n_e, n_e, p, W_E)
    ee = Connectivity(ee.post_idx, jnp.where(ee.post_idx < n_e, W_E, 0.0), n_e, n_e)
    rule = STDP(a_plus=A_PLUS, a_minus=A_MINUS, tau_plus=20.0, tau_minus=20.0, w_max=W_MAX) if plastic else None
    projections = [
        Projection("E", "E", ee, "ge", plasticity=rule),
        Projection("E", "I", fixed_probability(k_ei, n_e, n - n_e, p, W_E), "ge"),
        Projection("I", "all", fixed_probability(k_i, n - n_e, n, p, W_I), "gi"),
    ]
    net = Network(base.network.neuron, base.network.synapses, {"E": n_e, "I": n - n_e}, projections)
    return net, base.initial_state, base.input


class Ours:
    """One compiled neurodyn network; `run()` times one simulation."""

    def __init__(self, n, t_ms, seed, plastic):
        self.net, self.y0, self.drive = build(n, seed, plastic)
        self.n, self.t_ms, self.plastic = n, t_ms, plastic
        with Timer() as t:
            self.result = self._sim()
        self.first_s = t.wall

    def _sim(self):
        return jax.block_until_ready(simulate_network(self.net, self.t_ms, DT, input=self.drive,
                                                      initial_state=self.y0, max_spikes=1))

    def run(self) -> tuple[float, float]:
        with Timer() as t:
            self.result = self._sim()
        return t.wall, t.cpu

    def record(self, walls, cpus) -> dict:
        steps = round(self.t_ms / DT)
        out = {
            "run_s": round(statistics.median(walls), 4), "run_s_all": [round(w, 4) for w in walls],
            "us_per_step": round(1e6 * statistics.median(walls) / steps, 3),
            "run_cpu_s": round(statistics.median(cpus), 4), "run_cpu_s_all": [round(c, 4) for c in cpus],
            "cpu_us_per_step": round(1e6 * statistics.median(cpus) / steps, 3),
            "compile_s": round(max(self.first_s - statistics.median(walls), 0.0), 3),
            "n_spikes": int(self.result.n_spikes),
            "rate_hz": round(rate_hz(int(self.result.n_spikes), self.n, self.t_ms), 3),
        }
        if self.plastic:
            w = np.asarray(self.net.plastic_weights(self.result.final_state)["E->E"])
            valid = np.asarray(self.net.projections[0].connectivity.post_idx) < self.net.population("E").stop
            out["final_mean_w_ee"] = round(float(w[valid].mean()), 5)
        return out


def brian2_plastic(n: int, t_ms: float, directory: Path):
    """The plastic network in Brian2 C++ standalone, built once: (run() -> record, build_s)."""
    import brian2 as b2
    from compare_brian2 import _SEED, _SEED_VARIABLE, _TIC, _TIMING_FILE, _TOC

    b2.set_device("cpp_standalone", directory=str(directory), build_on_run=False)
    b2.device.reinit()
    b2.device.activate(directory=str(directory), build_on_run=False)
    b2.defaultclock.dt = DT * b2.ms
    b2.device.insert_code("main", _SEED)
    ms, mV = b2.ms, b2.mV
    n_e = int(round(0.8 * n))
    eqs = """
    dv/dt = (-(v - El) + ge * (Ee - v) + gi * (Ei - v) + drive) / taum : volt (unless refractory)
    dge/dt = -ge / taue : 1
    dgi/dt = -gi / taui : 1
    """
    ns = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, El=-60 * mV, Vt=-50 * mV, Vr=-60 * mV, Ee=0 * mV,
              Ei=-80 * mV, drive=20 * mV, we=W_E, wi=W_I, taupre=20 * ms, taupost=20 * ms, wmax=W_MAX,
              dApre=A_PLUS, dApost=-A_MINUS)
    group = b2.NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * ms, method="euler",
                           namespace=ns)
    group.v = "-55*mV + 5*mV * randn()"
    group.ge = "(4 + 1.5 * randn()) / 10"
    group.gi = "(20 + 12 * randn()) / 10"
    p = 80.0 / n
    ee = b2.Synapses(group[:n_e], group[:n_e],
                     "w : 1\ndApre/dt = -Apre / taupre : 1 (event-driven)\ndApost/dt = -Apost / taupost : 1 (event-driven)",
                     on_pre="ge_post += w\nApre += dApre\nw = clip(w + Apost, 0, wmax)",
                     on_post="Apost += dApost\nw = clip(w + Apre, 0, wmax)", namespace=ns)
    ei = b2.Synapses(group[:n_e], group[n_e:], on_pre="ge += we", namespace=ns)
    ci = b2.Synapses(group[n_e:], group, on_pre="gi += wi", namespace=ns)
    for syn in (ee, ei, ci):
        syn.connect(p=p)
    ee.w = W_E
    mon = b2.SpikeMonitor(group)
    net = b2.Network(group, ee, ei, ci, mon)
    b2.device.insert_code("main", _TIC)
    net.run(t_ms * ms)
    b2.device.insert_code("main", _TOC)
    with Timer() as t:
        b2.device.build(directory=str(directory), compile=True, run=False, with_output=False)

    def run(seed: int) -> tuple[float, float, dict]:
        os.environ[_SEED_VARIABLE] = str(int(seed))
        try:
            b2.device.run(directory=str(directory), with_output=False, run_args=None)
        finally:
            del os.environ[_SEED_VARIABLE]
        wall, cpu = (float(x) for x in (Path(b2.device.results_dir) / _TIMING_FILE).read_text().split())
        n_spikes = int(np.asarray(mon.i).size)
        return wall, cpu, {"n_spikes": n_spikes, "rate_hz": round(rate_hz(n_spikes, n, t_ms), 3),
                      "final_mean_w_ee": round(float(np.mean(ee.w[:])), 5)}

    return run, t.wall


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--t-ms", type=float, default=10000.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-brian2", action="store_true", help="time neurodyn only")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--out", default=None, help="also write the JSON object to this file")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    info = {**machine_info(), "load_average_start": load_average()}
    static, plastic = Ours(args.n, args.t_ms, args.seed, False), Ours(args.n, args.t_ms, args.seed, True)
    brian = None
    if not args.no_brian2:
        import brian2

        info["brian2"] = brian2.__version__
        brian, build_s = brian2_plastic(args.n, args.t_ms, Path(args.workdir or tempfile.mkdtemp(prefix="nd_b2_")))
    walls = {"static": [], "plastic": [], "brian2": []}
    cpus = {"static": [], "plastic": [], "brian2": []}
    b2_record = None
    for _ in range(args.repeats):  # alternated
        for name, ours in (("static", static), ("plastic", plastic)):
            w, c = ours.run()
            walls[name].append(w)
            cpus[name].append(c)
        if brian is not None:
            w, c, b2_record = brian(args.seed)
            walls["brian2"].append(w)
            cpus["brian2"].append(c)
    steps = round(args.t_ms / DT)
    out = {"benchmark": "plasticity", "n": args.n, "t_ms": args.t_ms, "dt_ms": DT, "seed": args.seed,
           "rule": {"a_plus": A_PLUS, "a_minus": A_MINUS, "tau_ms": 20.0, "w_max": W_MAX},
           "static": static.record(walls["static"], cpus["static"]),
           "plastic": plastic.record(walls["plastic"], cpus["plastic"])}
    out["plastic_over_static"] = round(out["plastic"]["run_s"] / out["static"]["run_s"], 3)
    # CPU time: what a run costs on the shared machine, without the time spent waiting for a core
    out["plastic_over_static_cpu"] = round(out["plastic"]["run_cpu_s"] / out["static"]["run_cpu_s"], 3)
    # on a shared machine the fastest of the alternated runs is the least disturbed one
    out["plastic_over_static_min"] = round(min(walls["plastic"]) / min(walls["static"]), 3)
    if brian is not None:
        med, med_cpu = statistics.median(walls["brian2"]), statistics.median(cpus["brian2"])
        out["brian2_plastic"] = {"run_s": round(med, 4), "run_s_all": [round(w, 4) for w in walls["brian2"]],
                                 "us_per_step": round(1e6 * med / steps, 3), "run_cpu_s": round(med_cpu, 4),
                                 "run_cpu_s_all": [round(c, 4) for c in cpus["brian2"]],
                                 "cpu_us_per_step": round(1e6 * med_cpu / steps, 3), "build_s": round(build_s, 3),
                                 **b2_record}
        out["plastic_over_brian2_cpu"] = round(out["plastic"]["run_cpu_s"] / med_cpu, 3)
        out["plastic_over_brian2"] = round(out["plastic"]["run_s"] / med, 3)
        out["plastic_over_brian2_min"] = round(min(walls["plastic"]) / min(walls["brian2"]), 3)
    info["load_average_end"] = load_average()
    out["machine"] = info
    emit(out, args.json, args.out)


if __name__ == "__main__":
    main()
