"""Writes tests/data/nest_iaf_cond_alpha_psp.json: NEST's iaf_cond_alpha response to one spike.

Run with an interpreter that has NEST 3.10:
    /work/venvs/nest/bin/python tests/scripts/make_nest_cond_alpha_reference.py
One iaf_cond_alpha neuron (NEST defaults: C_m 250 pF, g_L 16.6667 nS, E_L −70 mV, E_ex 0 mV,
τ_syn_ex 0.2 ms; V_th out of reach), one excitatory spike of 20 nS (the conductance peak) at
1.0 ms with delay 1.0 ms: the conductance starts at 2.0 ms. NEST integrates this model with
GSL's adaptive RKF45 (error-controlled inside each 0.1 ms step), so the voltmeter trace
(interval 0.1 ms) from 2.0 to 32.0 ms is the continuous solution sampled on the grid.
"""

from pathlib import Path

import nest
from _nest_one_spike import one_spike_response, write_json_atomic

OUT = Path(__file__).resolve().parents[1] / "data" / "nest_iaf_cond_alpha_psp.json"
params = {"C_m": 250.0, "g_L": 16.6667, "E_L": -70.0, "V_m": -70.0, "V_th": 100.0, "V_reset": -70.0,
          "E_ex": 0.0, "E_in": -85.0, "tau_syn_ex": 0.2, "tau_syn_in": 2.0, "t_ref": 2.0, "I_e": 0.0}
ev = one_spike_response("iaf_cond_alpha", params, 20.0, ["V_m", "g_ex"], 33.0)
data = {"source": f"NEST {nest.__version__}, tests/scripts/make_nest_cond_alpha_reference.py", "neuron": params,
        "weight_nS": 20.0, "dt_ms": 0.1, "v_mV": ev["V_m"], "g_ex_nS": ev["g_ex"]}
write_json_atomic(OUT, data)
print(f"{len(ev['V_m'])} values, peak {max(ev['V_m']) + 70:.6f} mV above E_L, g_ex peak {max(ev['g_ex']):.6f} nS")
