"""Writes tests/data/nest_iaf_cond_alpha_psp.json: NEST's iaf_cond_alpha response to one spike.

Run with an interpreter that has NEST 3.10:
    /work/venvs/nest/bin/python tests/scripts/make_nest_cond_alpha_reference.py
One iaf_cond_alpha neuron (NEST defaults: C_m 250 pF, g_L 16.6667 nS, E_L −70 mV, E_ex 0 mV,
τ_syn_ex 0.2 ms; V_th out of reach), one excitatory spike of 20 nS (the conductance peak) at
1.0 ms with delay 1.0 ms: the conductance starts at 2.0 ms. NEST integrates this model with
GSL's adaptive RKF45 (error-controlled inside each 0.1 ms step), so the voltmeter trace
(interval 0.1 ms) from 2.0 to 32.0 ms is the continuous solution sampled on the grid.
"""

import json
import os
import tempfile
from pathlib import Path

import nest
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "data" / "nest_iaf_cond_alpha_psp.json"
params = {"C_m": 250.0, "g_L": 16.6667, "E_L": -70.0, "V_m": -70.0, "V_th": 100.0, "V_reset": -70.0,
          "E_ex": 0.0, "E_in": -85.0, "tau_syn_ex": 0.2, "tau_syn_in": 2.0, "t_ref": 2.0, "I_e": 0.0}
nest.ResetKernel()
nest.SetKernelStatus({"resolution": 0.1})
neuron = nest.Create("iaf_cond_alpha", params=params)
gen = nest.Create("spike_generator", params={"spike_times": [1.0]})
nest.Connect(gen, neuron, syn_spec={"weight": 20.0, "delay": 1.0})
vm = nest.Create("voltmeter", params={"interval": 0.1, "record_from": ["V_m", "g_ex"]})
nest.Connect(vm, neuron)
nest.Simulate(33.0)
ev = vm.get("events")
steps = np.round(ev["times"] / 0.1).astype(int)
keep = (steps >= 20) & (steps <= 320)
data = {"source": f"NEST {nest.__version__}, tests/scripts/make_nest_cond_alpha_reference.py", "neuron": params,
        "weight_nS": 20.0, "dt_ms": 0.1, "v_mV": ev["V_m"][keep].tolist(), "g_ex_nS": ev["g_ex"][keep].tolist()}
fd, tmp = tempfile.mkstemp(dir=OUT.parent, suffix=".tmp")
with os.fdopen(fd, "w") as f:
    json.dump(data, f)
os.chmod(tmp, 0o644)
os.replace(tmp, OUT)
print(f"{keep.sum()} values, peak {ev['V_m'][keep].max() + 70:.6f} mV above E_L, g_ex peak {ev['g_ex'][keep].max():.6f} nS")
