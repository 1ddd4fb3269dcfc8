"""Writes tests/data/nest_iaf_psc_delta_network.json: a deterministic delta-synapse network in NEST.

Run with an interpreter that has NEST 3.10 (`pip install nest-simulator`, extra "nest"):
    /work/venvs/nest/bin/python tests/scripts/make_nest_delta_reference.py
50 iaf_psc_delta neurons (40 E), DC drive, explicit connectivity (8 E and 2 I inputs each),
delay 1.5 ms, given V(0); records every spike of 200 ms. Used by
tests/test_network_synapses.py::test_a_delta_network_reproduces_nest_spike_for_spike.
"""

import json
import os
import tempfile
from pathlib import Path

import nest
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "data" / "nest_iaf_psc_delta_network.json"

rng = np.random.default_rng(0)
n, n_e, t_ms, ce, ci = 50, 40, 200.0, 8, 2
pre_e = rng.integers(0, n_e, (n, ce))
pre_i = rng.integers(n_e, n, (n, ci))
v0 = np.round(rng.uniform(0, 20, n), 3)
i_e = 260.0  # pA: R I = 20/250 · 260 = 20.8 mV > θ
params = {"C_m": 250.0, "tau_m": 20.0, "t_ref": 2.0, "E_L": 0.0, "V_reset": 10.0, "V_th": 20.0}

nest.ResetKernel()
nest.SetKernelStatus({"resolution": 0.1})
nodes = nest.Create("iaf_psc_delta", n, params={**params, "I_e": i_e})
nodes.V_m = v0.tolist()
gid = np.array(nodes.tolist())
post_e, post_i = np.repeat(np.arange(n), ce), np.repeat(np.arange(n), ci)
for pre, post, w in ((pre_e.ravel(), post_e, 0.8), (pre_i.ravel(), post_i, -2.0)):
    nest.Connect(gid[pre], gid[post], "one_to_one", {"weight": np.full(post.size, w), "delay": np.full(post.size, 1.5)})
rec = nest.Create("spike_recorder")
nest.Connect(nodes, rec)
nest.Simulate(t_ms)
ev = rec.get("events")
spikes = sorted(zip(np.round(ev["times"] / 0.1).astype(int).tolist(), (ev["senders"] - gid[0]).tolist()))
data = {
    "source": f"NEST {nest.__version__}, resolution 0.1 ms, tests/scripts/make_nest_delta_reference.py",
    "n": n, "n_e": n_e, "t_ms": t_ms, "i_e_pA": i_e, "w_e_mV": 0.8, "w_i_mV": -2.0, "delay_ms": 1.5,
    "neuron": params, "pre_e": pre_e.tolist(), "pre_i": pre_i.tolist(), "v0": v0.tolist(),
    "spike_steps": [s for s, _ in spikes], "spike_neurons": [j for _, j in spikes],
}
fd, tmp = tempfile.mkstemp(dir=OUT.parent, suffix=".tmp")
with os.fdopen(fd, "w") as f:
    json.dump(data, f)
os.replace(tmp, OUT)
print(f"{len(spikes)} spikes -> {OUT}")
