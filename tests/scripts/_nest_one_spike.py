"""Shared by the make_nest_*_reference.py scripts: one neuron's response to one input spike
in NEST (spike at 1.0 ms, delay 1.0 ms, dt = 0.1 ms, voltmeter every step), and the atomic
write of a fixture (temp file + rename, readable by everyone)."""

import json
import os
import tempfile
from pathlib import Path

import nest
import numpy as np

DT = 0.1


def one_spike_response(model: str, params: dict, weight: float, record_from: list[str], t_ms: float) -> dict:
    """{variable: values} recorded from 2.0 ms (the spike's arrival) to 2.0 + t_ms - 1 ms, every dt."""
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": DT})
    neuron = nest.Create(model, params=params)
    gen = nest.Create("spike_generator", params={"spike_times": [1.0]})
    nest.Connect(gen, neuron, syn_spec={"weight": weight, "delay": 1.0})
    vm = nest.Create("voltmeter", params={"interval": DT, "record_from": record_from})
    nest.Connect(vm, neuron)
    nest.Simulate(t_ms)
    ev = vm.get("events")
    steps = np.round(ev["times"] / DT).astype(int)
    keep = (steps >= 20) & (steps <= int(round(t_ms / DT)) - 10)
    return {name: ev[name][keep].tolist() for name in record_from}


def write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the fixture from other users
    os.replace(tmp, path)
