"""Writes tests/data/nest_iaf_psc_alpha_psp.json: NEST's iaf_psc_alpha voltage for one input spike.

Run with an interpreter that has NEST 3.10:
    /work/venvs/nest/bin/python tests/scripts/make_nest_alpha_psp_reference.py
One iaf_psc_alpha neuron (NEST defaults but V_th out of reach) per τ_syn_ex in (2, 10) ms
(10 ms = τ_m: NEST's degenerate-propagator case), one spike of 200 pA (the PSC peak) at
1.0 ms with delay 1.0 ms: the alpha current starts at 2.0 ms; the voltmeter (interval
0.1 ms) from 2.0 to 62.0 ms is the PSP at t = 0, 0.1, ... 60 ms after the spike arrives.
"""

import json
import os
import tempfile
from pathlib import Path

import nest
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "data" / "nest_iaf_psc_alpha_psp.json"
traces, params = {}, {}
for tau_syn in (2.0, 10.0):
    params = {"C_m": 250.0, "tau_m": 10.0, "E_L": -70.0, "V_m": -70.0, "V_th": 100.0, "V_reset": -70.0,
              "tau_syn_ex": tau_syn, "tau_syn_in": 2.0, "t_ref": 2.0, "I_e": 0.0}
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": 0.1})
    neuron = nest.Create("iaf_psc_alpha", params=params)
    gen = nest.Create("spike_generator", params={"spike_times": [1.0]})
    nest.Connect(gen, neuron, syn_spec={"weight": 200.0, "delay": 1.0})
    vm = nest.Create("voltmeter", params={"interval": 0.1, "record_from": ["V_m", "I_syn_ex"]})
    nest.Connect(vm, neuron)
    nest.Simulate(63.0)
    ev = vm.get("events")
    steps = np.round(ev["times"] / 0.1).astype(int)
    keep = (steps >= 20) & (steps <= 620)
    traces[str(tau_syn)] = {"v_mV": ev["V_m"][keep].tolist(), "i_syn_pA": ev["I_syn_ex"][keep].tolist()}
params.pop("tau_syn_ex")
data = {"source": f"NEST {nest.__version__}, tests/scripts/make_nest_alpha_psp_reference.py", "neuron": params,
        "weight_pA": 200.0, "dt_ms": 0.1, "tau_syn_ms": traces}
fd, tmp = tempfile.mkstemp(dir=OUT.parent, suffix=".tmp")
with os.fdopen(fd, "w") as f:
    json.dump(data, f)
os.replace(tmp, OUT)
for tau_syn, tr in traces.items():
    print(f"tau_syn {tau_syn}: {len(tr['v_mV'])} values, peak {max(tr['v_mV']) + 70:.6f} mV above E_L, "
          f"I_syn peak {max(tr['i_syn_pA']):.6f} pA")
