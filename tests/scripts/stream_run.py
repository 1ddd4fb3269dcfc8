"""A small streamed network run for the crash tests (tests/test_io_stream.py).

    python stream_run.py DIRECTORY T1_MS [--resume]

Runs a 100-neuron COBA network (a delay, Poisson sources and Poisson input, so the state
holds a delay ring buffer and the run draws random numbers) from 0 to T1_MS in chunks of
10 ms, streamed to DIRECTORY; with --resume it continues from the stream's last committed
state. With NEURODYN_CRASH_AT set, the stream writer SIGKILLs the process at that point.
"""

import sys

import jax

import neurodyn as nd
from neurodyn.network import (
    ConductanceSynapse,
    Network,
    PoissonGroup,
    PoissonInput,
    Projection,
    fixed_probability,
    random_initial_state,
    simulate_network,
)

DT = 0.1
KW = dict(input=15.0, key=jax.random.key(7), rate_every=10, record=("v",), record_neurons=slice(0, 20),
          record_every=5)


def network(n: int = 100, delay: float = 0.5):
    k1, k2, k3, k4 = jax.random.split(jax.random.key(3), 4)
    n_e = int(0.8 * n)
    net = Network(
        nd.LIF(tau_m=20.0, v_rest=-60.0, threshold=-50.0, v_reset=-60.0, refractory_period=5.0),
        [ConductanceSynapse("ge", tau=5.0, reversal=0.0), ConductanceSynapse("gi", tau=10.0, reversal=-80.0)],
        {"E": n_e, "I": n - n_e},
        [
            Projection("E", "all", fixed_probability(k1, n_e, n, 0.1, 0.6), "ge", delay=delay),
            Projection("I", "all", fixed_probability(k2, n - n_e, n, 0.1, 6.7), "gi"),
            Projection("P", "all", fixed_probability(k4, 50, n, 0.1, 0.3), "ge"),
        ],
        sources=[PoissonGroup("P", 50, 20.0)],
        poisson_inputs=[PoissonInput("all", "ge", 100, 5.0, 0.05)],
    )
    y0 = random_initial_state(k3, net, {"v": -55.0, "ge": 0.4, "gi": 2.0}, {"v": 5.0, "ge": 0.15, "gi": 1.2})
    return net, y0


def run(directory, t1: float, resume: bool = False, **changes):
    net, y0 = network(**changes)
    state = nd.monitors.load_state(directory) if resume else y0
    return simulate_network(net, t1, DT, initial_state=state, stream_to=directory,
                            progress=max(1, round(t1 / 10.0)), **KW)


if __name__ == "__main__":
    run(sys.argv[1], float(sys.argv[2]), resume="--resume" in sys.argv)
