"""Writes tests/data/nest_iaf_psc_exp_psp.json: NEST's iaf_psc_exp voltage for one input spike.

Run with an interpreter that has NEST 3.10:
    /work/venvs/nest/bin/python tests/scripts/make_nest_exp_psp_reference.py
One iaf_psc_exp neuron (NEST defaults but V_th out of reach, τ_syn_ex = 2 ms), one spike of
500 pA at 1.0 ms with delay 1.0 ms: the synaptic current jumps at 2.0 ms; the voltmeter
(interval 0.1 ms) from 2.0 to 52.0 ms is the PSP at t = 0, 0.1, ... 50 ms after the jump.
"""

import json
import os
import tempfile
from pathlib import Path

import nest
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "data" / "nest_iaf_psc_exp_psp.json"
params = {"C_m": 250.0, "tau_m": 10.0, "E_L": -70.0, "V_m": -70.0, "V_th": 100.0, "V_reset": -70.0,
          "tau_syn_ex": 2.0, "tau_syn_in": 2.0, "t_ref": 2.0, "I_e": 0.0}
nest.ResetKernel()
nest.SetKernelStatus({"resolution": 0.1})
neuron = nest.Create("iaf_psc_exp", params=params)
gen = nest.Create("spike_generator", params={"spike_times": [1.0]})
nest.Connect(gen, neuron, syn_spec={"weight": 500.0, "delay": 1.0})
vm = nest.Create("voltmeter", params={"interval": 0.1})
nest.Connect(vm, neuron)
nest.Simulate(53.0)
ev = vm.get("events")
steps = np.round(ev["times"] / 0.1).astype(int)
v = ev["V_m"][(steps >= 20) & (steps <= 520)]
data = {"source": f"NEST {nest.__version__}, tests/scripts/make_nest_exp_psp_reference.py", "neuron": params,
        "weight_pA": 500.0, "dt_ms": 0.1, "v_mV": v.tolist()}
fd, tmp = tempfile.mkstemp(dir=OUT.parent, suffix=".tmp")
with os.fdopen(fd, "w") as f:
    json.dump(data, f)
os.replace(tmp, OUT)
print(f"{v.size} values, peak {v.max() + 70:.6f} mV above E_L -> {OUT}")
