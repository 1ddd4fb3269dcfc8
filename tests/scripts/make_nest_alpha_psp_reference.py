"""Writes tests/data/nest_iaf_psc_alpha_psp.json: NEST's iaf_psc_alpha voltage for one input spike.

Run with an interpreter that has NEST 3.10:
    /work/venvs/nest/bin/python tests/scripts/make_nest_alpha_psp_reference.py
One iaf_psc_alpha neuron (NEST defaults but V_th out of reach) per τ_syn_ex in (2, 10) ms
(10 ms = τ_m: NEST's degenerate-propagator case), one spike of 200 pA (the PSC peak) at
1.0 ms with delay 1.0 ms: the alpha current starts at 2.0 ms; the voltmeter (interval
0.1 ms) from 2.0 to 62.0 ms is the PSP at t = 0, 0.1, ... 60 ms after the spike arrives.
"""

from pathlib import Path

import nest
from _nest_one_spike import one_spike_response, write_json_atomic

OUT = Path(__file__).resolve().parents[1] / "data" / "nest_iaf_psc_alpha_psp.json"
traces, params = {}, {}
for tau_syn in (2.0, 10.0):
    params = {"C_m": 250.0, "tau_m": 10.0, "E_L": -70.0, "V_m": -70.0, "V_th": 100.0, "V_reset": -70.0,
              "tau_syn_ex": tau_syn, "tau_syn_in": 2.0, "t_ref": 2.0, "I_e": 0.0}
    ev = one_spike_response("iaf_psc_alpha", params, 200.0, ["V_m", "I_syn_ex"], 63.0)
    traces[str(tau_syn)] = {"v_mV": ev["V_m"], "i_syn_pA": ev["I_syn_ex"]}
params.pop("tau_syn_ex")
data = {"source": f"NEST {nest.__version__}, tests/scripts/make_nest_alpha_psp_reference.py", "neuron": params,
        "weight_pA": 200.0, "dt_ms": 0.1, "tau_syn_ms": traces}
write_json_atomic(OUT, data)
for tau_syn, tr in traces.items():
    print(f"tau_syn {tau_syn}: {len(tr['v_mV'])} values, peak {max(tr['v_mV']) + 70:.6f} mV above E_L, "
          f"I_syn peak {max(tr['i_syn_pA']):.6f} pA")
