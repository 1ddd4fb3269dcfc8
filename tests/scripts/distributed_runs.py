"""One process of a distributed run (tests/test_distributed.py starts `size` of them).

    python distributed_runs.py RANK SIZE PORT CASES OUT

Every process joins `jax.distributed` on localhost:PORT, builds its part of each case and
runs it with `simulate_distributed`; rank 0 also runs each case whole in one process (the
reference) and writes {case: {"single": [steps, ids], "distributed": [steps, ids], ...}}
to OUT (JSON). CASES is a comma-separated subset of `ei`, `silent`, `microcircuit`.
"""

import json
import os
import sys

import jax

if __name__ == "__main__":  # before anything touches a device
    RANK, SIZE, PORT = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    CASES, OUT = sys.argv[4].split(","), sys.argv[5]
    jax.distributed.initialize(coordinator_address=f"localhost:{PORT}", num_processes=SIZE, process_id=RANK)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.experimental import multihost_utils  # noqa: E402

from neurodyn.distributed import all_spikes, simulate_distributed  # noqa: E402
from neurodyn.models import potjans_diesmann  # noqa: E402
from neurodyn.models.potjans_diesmann import process_blocks  # noqa: E402
from neurodyn.network import (  # noqa: E402
    CurrentSynapse,
    DCCurrent,
    ExactIntegration,
    Network,
    Normal,
    Projection,
    fixed_total_number,
    simulate_network,
)
from neurodyn.network.partition import partition  # noqa: E402
from neurodyn.neurons import IAF  # noqa: E402

DT = 0.1
PD14_NEURON = dict(c_m=250.0, tau_m=10.0, e_l=-65.0, threshold=-50.0, v_reset=-65.0, refractory_period=2.0)


def ei():
    """400 E + 100 I IAF neurons (thresholds per neuron), fixed_total_number, per-synapse
    delays down to one step (d_min = 1)."""
    k = jax.random.split(jax.random.key(3), 5)
    delay_e, delay_i = Normal(1.5, 0.75, low=0.05), Normal(0.8, 0.4, low=0.05)  # PD14's shape, ms
    ee = fixed_total_number(k[0], 400, 400, 8000, Normal(80.0, 8.0, low=0.0), delay=delay_e, dt=DT)
    ie = fixed_total_number(k[1], 100, 400, 4000, Normal(-320.0, 32.0, high=0.0), delay=delay_i, dt=DT)
    ei_ = fixed_total_number(k[2], 400, 100, 2000, 80.0, delay=delay_e, dt=DT)
    ii = fixed_total_number(k[3], 100, 100, 1000, -320.0, delay=delay_i, dt=DT)
    # one threshold per neuron (−50 ± 1 mV): each block must take its own slice of them
    threshold = -50.0 + jax.random.uniform(jax.random.key(11), (500,), minval=-1.0, maxval=1.0)
    net = Network(IAF(**{**PD14_NEURON, "threshold": threshold}), [CurrentSynapse("i_syn", tau=0.5)],
                  {"E": 400, "I": 100},
                  [Projection("E", "E", ee, "i_syn"), Projection("I", "E", ie, "i_syn"),
                   Projection("E", "I", ei_, "i_syn"), Projection("I", "I", ii, "i_syn")],
                  drives=[DCCurrent("E", 380.0), DCCurrent("I", 370.0)])
    v0 = -65.0 + 10.0 * jax.random.uniform(k[4], (500,))
    return net, {"v": v0}, 150.0


def silent(delivery=None):
    """A (driven) and B (below threshold until A's input arrives): rank 1 = B is silent for
    the first ~20 ms that A fires. A→A and B→A per-synapse delays >= 1 ms, A→B one fixed
    delay of 20 ms: d_min = 10 steps."""
    k = jax.random.split(jax.random.key(5), 4)
    aa = fixed_total_number(k[0], 200, 200, 2000, Normal(60.0, 6.0, low=0.0), delay=Normal(2.0, 0.5, low=1.0), dt=DT)
    ab = fixed_total_number(k[1], 200, 200, 4000, Normal(200.0, 20.0, low=0.0))
    ba = fixed_total_number(k[2], 200, 200, 2000, -150.0, delay=Normal(1.5, 0.3, low=1.0), dt=DT)
    net = Network(IAF(**PD14_NEURON), [CurrentSynapse("i_syn", tau=0.5)], {"A": 200, "B": 200},
                  [Projection("A", "A", aa, "i_syn"), Projection("A", "B", ab, "i_syn", delay=20.0),
                   Projection("B", "A", ba, "i_syn")],
                  drives=[DCCurrent("A", 400.0), DCCurrent("B", 300.0)], delivery=delivery)
    v0 = jnp.concatenate([-65.0 + 5.0 * jax.random.uniform(k[3], (200,)), jnp.full((200,), -65.0)])
    return net, {"v": v0}, 150.0


def steps_ids(times, ids):
    return [np.round(np.asarray(times) / DT).astype(int).tolist(), np.asarray(ids).astype(int).tolist()]


def main():
    out = {}
    for case in CASES:
        if case == "microcircuit":
            scale = float(os.environ.get("PD14_SCALE", "0.02"))
            t1 = float(os.environ.get("PD14_T_MS", "300"))
            blocks = process_blocks(scale, SIZE, balance=os.environ.get("PD14_BALANCE", "synapses"))
            # each process draws only the synapses onto its block
            built = potjans_diesmann(scale, key=jax.random.key(1), targets=blocks[RANK])
            net, y0, solver = built.network, built.initial_state, built.solver
            whole = potjans_diesmann(scale, key=jax.random.key(1)) if RANK == 0 else None
        else:
            net, y0, t1 = {"ei": ei, "silent": silent}[case]()
            solver, whole, blocks = ExactIntegration(), None, None
        part, y_block = partition(net, RANK, SIZE, dt=DT, initial_state=y0, blocks=blocks)
        result = simulate_distributed(part, t1, initial_state=y_block, solver=solver, max_spikes=400_000)
        times, ids = all_spikes(result, part)
        mine = np.array([sum(int(t.n_synapses) for t in part.tables)])
        synapses_per_rank = np.asarray(multihost_utils.process_allgather(mine)).ravel() if SIZE > 1 else mine
        if RANK == 0:
            ref_net = net if whole is None else whole.network
            ref = simulate_network(ref_net, t1, DT, initial_state=y0 if whole is None else whole.initial_state,
                                   solver=solver, max_spikes=400_000)
            out[case] = {
                "single": steps_ids(*ref.spikes()), "distributed": steps_ids(times, ids),
                "min_delay": part.min_delay, "blocks": [list(b) for b in part.blocks], "n": ref_net.n,
                "synapses_block": int(sum(int(t.n_synapses) for t in part.tables)),
                "synapses_blocks": [int(x) for x in synapses_per_rank],
                "synapses_whole": int(sum(int(p.connectivity.n_synapses) for p in ref_net.projections)),
                "dropped": [int(ref.spikes_dropped), int(result.spikes_dropped)],
            }
    if RANK == 0:
        tmp = OUT + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f)
        os.replace(tmp, OUT)


if __name__ == "__main__":
    main()
